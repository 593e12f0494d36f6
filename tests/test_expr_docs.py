"""docs/expr.md: every console block is the real output of its commands (COLUMNS=80, NO_COLOR=1).

Until `python -m gradcli.docs` covers docs/, this test runs the same machinery on this page.
"""

from __future__ import annotations

from pathlib import Path

from gradcli.docs import refresh

PAGE = Path(__file__).resolve().parent.parent / "docs" / "expr.md"


def test_expr_page_console_blocks_are_current():
    text = PAGE.read_text(encoding="utf-8")
    assert text.count("```console") >= 6
    assert refresh(text) == text, "re-run the commands of docs/expr.md (gradcli.docs.refresh)"
