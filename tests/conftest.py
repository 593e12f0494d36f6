"""Shared test helpers: run the CLI in-process (CliRunner) or as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from gradcli.cli import app

# A user's shell settings must not change what the tests see: the terminal width and colour
# variables Rich and Click read, and gradcli's own switches, are cleared for this run (and so for
# every process the tests start).
_SHELL_SETTINGS = (
    "COLUMNS",
    "LINES",
    "FORCE_COLOR",
    "CLICOLOR_FORCE",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "GRADCLI_MAX_MEMORY",
    "GRADCLI_MAX_WORK",
    "GRADCLI_NO_SANDBOX",
    "GRADCLI_DEBUG",
)
for _name in _SHELL_SETTINGS:
    os.environ.pop(_name, None)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


def invoke(*args: str, input_text: str | None = None) -> Run:
    """Run ``gradcli ARGS`` in-process; stdout and stderr kept apart."""
    result = CliRunner().invoke(app, list(args), input=input_text, prog_name="gradcli")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(int(result.exit_code), result.stdout, result.stderr)


def run_process(*args: str, env: dict | None = None) -> Run:
    """Run ``python -m gradcli ARGS`` as a separate process, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "gradcli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_bad_input(run: Run, *fragments: str) -> None:
    """Exit 2, nothing on stdout, exactly one ``Error:`` line naming the fragments."""
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def cli():
    return invoke
