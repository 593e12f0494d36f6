"""README.md must match the program: generated tables and every console example."""

from __future__ import annotations

import re

import pytest

from gradcli.docs import README, ROOT, pages, refresh


@pytest.mark.parametrize("page", pages(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_page_is_up_to_date(page, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples name files relative to the repository
    current = page.read_text(encoding="utf-8")
    assert refresh(current) == current, "run: python -m gradcli.docs"


def test_quick_start_has_exactly_two_commands():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].endswith("gradcli softmax-jacobian 1 2 3")
    assert "'.[test]'" in commands[1] and commands[1].endswith("python -m pytest")
