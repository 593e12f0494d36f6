"""docs/check.md stays true: its console examples re-run to the same output, and its
diagnoses table is the registry (gradcli.results.check.DIAGNOSES), row for row."""

from __future__ import annotations

import re
from pathlib import Path

from gradcli.results.check import DIAGNOSES

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "check.md"


def test_the_page_shows_its_console_examples():
    # tests/test_readme.py re-runs every console block of every page
    text = PAGE.read_text(encoding="utf-8")
    assert text.count("```console") == 6
    for shown in ("--kwarg bn_param=", "uses_helper.py", "os._exit(0)", "--timeout 1"):
        assert shown in text, shown


def diagnoses_table() -> str:
    rows = ["| code | means | example |", "|---|---|---|"]
    rows += [f"| `{code}` | {means} | {example} |" for code, (means, example) in DIAGNOSES.items()]
    return "\n".join(rows)


def test_diagnoses_table_is_the_registry():
    assert diagnoses_table() in PAGE.read_text(encoding="utf-8")


def test_example_count_is_right():
    count = len(list((ROOT / "examples").glob("*.py")))
    assert f"`examples/` holds {count} small files" in PAGE.read_text(encoding="utf-8")


def test_every_exit_code_and_the_trust_statement_are_documented():
    text = PAGE.read_text(encoding="utf-8")
    assert "with your permissions" in text
    for code in ("0", "1", "2", "130"):
        assert re.search(rf"^\| {code} \|", text, re.M), code
