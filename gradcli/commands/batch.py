"""``gradcli batch [FILE|-]``: many commands, one process, JSON Lines out."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import sys
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, TextIO

import typer

from gradcli.errors import ExitCode, InputError, suggest

NOT_IN_BATCH = {"--help", "--list", "--version", "--install-completion", "--show-completion"}
QUIET_FLAGS = {"--quiet", "-q"}  # batch output is JSON Lines by definition


def batch(
    file: Annotated[
        str,
        typer.Argument(
            help="File with one command per line, as typed after 'gradcli' ('-' = stdin).",
            show_default=True,
        ),
    ] = "-",
) -> int:
    """Run many commands in one process; print one JSON object per line (JSON Lines)."""
    with _open(file) as lines:
        return run_batch(lines, sys.stdout)


@contextlib.contextmanager
def _open(file: str) -> Iterator[TextIO]:
    if file == "-":
        yield sys.stdin
        return
    try:
        handle = open(file, encoding="utf-8")  # noqa: SIM115  (closed below)
    except OSError as error:
        raise InputError(f"cannot read '{file}': {error.strerror}") from None
    with handle:
        yield handle


def run_batch(lines: Iterable[str], out: TextIO) -> int:
    """Run each line; write its JSON object (or ``{"line": n, "error": …}``); worst exit code."""
    from gradcli.cli import app

    commands = typer.main.get_command(app).commands
    worst = ExitCode.OK
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        code, record = _run_line(commands, number, text)
        out.write(record + "\n")
        out.flush()
        worst = max(worst, code)
    return worst


def _run_line(commands: dict[str, Any], number: int, text: str) -> tuple[int, str]:
    """Exit code and output line for one batch line."""
    from gradcli.cli import guarded

    try:
        name, args = _arguments(text)
        if name not in commands or name == "batch":
            raise InputError(
                "'batch' cannot run inside batch"
                if name == "batch"
                else f"no such command '{name}'{suggest(name, commands)}"
            )
    except InputError as error:
        return ExitCode.BAD_INPUT, _error(number, str(error))
    command = commands[name]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = guarded(
            lambda: command.main(args, prog_name=f"gradcli {name}", standalone_mode=False)
        )
    if code == ExitCode.BAD_INPUT or not stdout.getvalue().strip():
        message = stderr.getvalue().strip().removeprefix("Error: ") or "no output"
        return ExitCode.BAD_INPUT, _error(number, message)
    return code, stdout.getvalue().strip()


def _arguments(text: str) -> tuple[str, list[str]]:
    """The command name and its arguments (always with --json) from one line."""
    try:
        args = shlex.split(text, comments=True)
    except ValueError as error:
        raise InputError(f"cannot split the line: {error}") from None
    if args and args[0] == "gradcli":
        args = args[1:]
    if not args:
        raise InputError("no command")
    refused = NOT_IN_BATCH & set(args)
    if refused:
        raise InputError(f"{sorted(refused)[0]} prints no JSON, so it has no place in batch")
    return args[0], [arg for arg in args[1:] if arg not in QUIET_FLAGS] + ["--json"]


def _error(number: int, message: str) -> str:
    return json.dumps({"line": number, "error": message}, ensure_ascii=False)
