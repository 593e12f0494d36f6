"""``gradcli batch [FILE|-]``: many commands, one process, JSON Lines out."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO, TextIO

import typer

from gradcli.commands.guard import guarded
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import ExitCode, InputError, shown, suggest
from gradcli.parsing import claim_stdin
from gradcli.streams import json_ascii

NOT_IN_BATCH = {"--help", "-h", "--list", "--version", "--install-completion", "--show-completion"}
QUIET_FLAGS = {"--quiet", "-q"}  # batch output is JSON Lines by definition
MAX_LINE = 1_000_000  # bytes of one line
MAX_SKIP = 16_000_000  # bytes read past a too-long line looking for its end, before giving up
BOM = b"\xef\xbb\xbf"


def batch(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            help="File with one command per line, as typed after 'gradcli' ('-' = stdin).",
            show_default=True,
        ),
    ] = "-",
) -> int:
    """Run many commands in one process; print one JSON object per line (JSON Lines)."""
    with _open(file) as handle:
        return run_batch(handle, sys.stdout, ctx.find_root().command.commands)


@contextlib.contextmanager
def _open(file: str) -> Iterator[BinaryIO]:
    if file == "-":
        claim_stdin("batch")
        if sys.stdin is None:
            raise InputError("batch: standard input is closed; give a FILE or pipe the commands in")
        yield getattr(sys.stdin, "buffer", None) or _TextAsBytes(sys.stdin)
        return
    try:
        handle = open(file, "rb")  # noqa: SIM115  (closed below)
    except OSError as error:
        raise InputError(f"batch: cannot read {shown(file)}: {error.strerror}") from None
    with handle:
        yield handle


class _TextAsBytes:
    """A text stream without a byte buffer (a replaced ``sys.stdin``), read as UTF-8 a line
    at a time like a binary file: never read whole."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def readline(self, size: int = -1) -> bytes:
        return self.stream.readline(size).encode("utf-8", "surrogateescape")


def read_lines(handle: BinaryIO) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, error) for each line, reading at most MAX_LINE bytes per line.

    A line that is not UTF-8 or too long yields an error instead of text; a file that holds
    NUL bytes is not text at all, and reading stops with an InputError.
    """
    number = 0
    while True:
        raw = handle.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if b"\0" in raw:
            raise InputError(f"batch: line {number} holds NUL bytes: this is not a text file")
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            _skip_rest(handle, number)
            yield number, None, f"the line is longer than {MAX_LINE:,} bytes"
            continue
        try:
            yield number, raw.decode("utf-8"), None
        except UnicodeDecodeError as error:
            yield number, None, f"the line is not UTF-8 text (byte {error.start + 1})"


def _skip_rest(handle: BinaryIO, number: int) -> None:
    """Read past the end of a too-long line, within MAX_SKIP bytes."""
    skipped = 0
    while skipped < MAX_SKIP:
        chunk = handle.readline(MAX_LINE)
        if not chunk or chunk.endswith(b"\n"):
            return
        if b"\0" in chunk:
            raise InputError(f"batch: line {number} holds NUL bytes: this is not a text file")
        skipped += len(chunk)
    raise InputError(f"batch: line {number} goes on for more than {MAX_SKIP:,} bytes; stopping")


def run_batch(handle: BinaryIO, out: TextIO, commands: dict[str, Any]) -> int:
    """Run each line; write its JSON object (or ``{"line": n, "error": …}``); worst exit code.

    ``commands`` are the application's commands by name (batch is handed them by the running
    app, so it never imports the app). Ctrl-C stops the whole batch at once (exit 130).
    """
    from gradcli import sandbox
    from gradcli._torch import torch_threads

    # every line is small work: one torch thread (measured with benchmarks/bench_batch.py:
    # two threads made a 1,000-line batch 1.4–2.2× slower on this 2-core machine); torch stays
    # loaded here, so that each check line's child process starts with it
    with torch_threads(1), sandbox.torch_in_parent():
        return _run_lines(handle, out, commands)


def _run_lines(handle: BinaryIO, out: TextIO, commands: dict[str, Any]) -> int:
    worst = ExitCode.OK
    for number, text, problem in read_lines(handle):
        if problem is not None:
            code, record = ExitCode.BAD_INPUT, _error(number, problem)
        else:
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            code, record = _run_line(commands, number, stripped)
        if code == ExitCode.INTERRUPTED:
            return ExitCode.INTERRUPTED
        out.write(record + "\n")
        out.flush()
        worst = max(worst, code)
    return worst


def _run_line(commands: dict[str, Any], number: int, text: str) -> tuple[int, str]:
    """Exit code and output line for one batch line."""
    try:
        name, args = _arguments(text)
        if name not in commands or name == "batch":
            raise InputError(
                "'batch' cannot run inside batch"
                if name == "batch"
                else f"no such command {shown(name)}{suggest(name, commands)}"
            )
    except InputError as error:
        return ExitCode.BAD_INPUT, _error(number, str(error))
    command = commands[name]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = guarded(lambda: _invoke(command, name, args))
    if code in (ExitCode.OK, ExitCode.DISAGREE) and stdout.getvalue().strip():
        return code, stdout.getvalue().strip()
    if code == ExitCode.INTERRUPTED:
        return code, ""
    return max(code, ExitCode.BAD_INPUT), _error(number, _message(stderr.getvalue(), code))


def _message(stderr: str, code: int) -> str:
    """The line's ``Error:`` message (the last one: the user's code may have printed before)."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    if errors:
        return errors[-1].removeprefix("Error: ")
    return "\n".join(lines) or f"exit code {code}"


def _invoke(command: Any, name: str, args: list[str]) -> Any:
    """Run one line's command: its function called with the line's options directly (the
    path ``import gradcli`` takes), or — for a line only Click reads right, or reports — the
    command through Click, as on the command line."""
    direct = getattr(command, "direct_call", None)
    call = direct(args) if direct is not None else None
    if call is None:
        return command.main(args, prog_name=f"gradcli {name}", standalone_mode=False)
    return call()


def _arguments(text: str) -> tuple[str, list[str]]:
    """The command name and its arguments (always with --json) from one line."""
    args = split_line(text)
    if args and args[0] == "gradcli":
        args = args[1:]
    if not args:
        raise InputError("no command")
    refused = NOT_IN_BATCH & set(args)
    if refused:
        raise InputError(f"{sorted(refused)[0]} prints no JSON, so it has no place in batch")
    return args[0], [arg for arg in args[1:] if arg not in QUIET_FLAGS] + ["--json"]


_SHELL_TOKEN = re.compile(
    r"""(?P<space>\s+)|'(?P<single>[^']*)'|"(?P<double>(?:[^"\\]|\\.)*)"|\\(?P<escaped>.?)"""
    r"""|(?P<word>[^\s'"\\]+)|(?P<open>['"])""",
    re.DOTALL,
)
_DOUBLE_QUOTE_ESCAPE = re.compile(r'\\([$`"\\\n])')


def split_line(text: str) -> list[str]:
    """Split a line as a POSIX shell would (quotes, backslashes, ``#`` comments), in linear
    time — ``shlex.split`` is quadratic in a token's length."""
    tokens: list[str] = []
    current: list[str] = []
    in_token = False
    for match in _SHELL_TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "space":
            if in_token:
                tokens.append("".join(current))
                current, in_token = [], False
            continue
        if kind == "open":
            raise InputError(f"cannot split the line: no closing quotation ({match.group()})")
        if kind == "word" and not in_token and match.group().startswith("#"):
            break  # a comment
        piece = match.group(kind)
        if kind == "double":
            piece = _DOUBLE_QUOTE_ESCAPE.sub(r"\1", piece)
        current.append(piece)
        in_token = True
    if in_token:
        tokens.append("".join(current))
    return tokens


def _error(number: int, message: str) -> str:
    return json.dumps({"line": number, "error": message}, ensure_ascii=json_ascii())


INFO = CommandInfo(
    name="batch",
    function=batch,
    summary="many commands from a file or stdin, JSON Lines out",
    usage="[FILE|-]",
    examples=(
        Example("batch commands.txt"),
        Example("batch - < commands.txt"),
    ),
)
