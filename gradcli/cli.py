"""The gradcli application: the commands joined, each run through
:func:`gradcli.commands.guard.guarded`, which maps every exception to an exit code."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gradcli import __version__
from gradcli.commands import (
    activation,
    batch,
    check,
    expr,
    layer,
    loss,
    optim,
    perceptron,
    softmax,
)
from gradcli.commands.guard import fail, guarded
from gradcli.commands.registry import HELP_OPTIONS, register
from gradcli.errors import InputError, shown, suggest
from gradcli.limits import check_limits
from gradcli.parsing import release_stdin
from gradcli.streams import SafeStream, safe_streams


class GradcliGroup(TyperGroup):
    """Runs the program and owns the mapping from exceptions and stream failures to exit codes."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise InputError(
                f"no such command {shown(name)}{suggest(name, self.list_commands(ctx))}"
            )
        return super().resolve_command(ctx, args)

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        release_stdin()
        with safe_streams() as (out, _err):
            code = guarded(lambda: self._checked_main(args, prog_name, complete_var, **extra))
            code = _stream_problems(out, code)
        if standalone_mode:
            sys.exit(code)
        return code

    def _main_shell_completion(
        self, ctx_args: Any, prog_name: str, complete_var: Any = None
    ) -> None:
        """Shell completion; a malformed completion environment completes nothing."""
        try:
            super()._main_shell_completion(ctx_args, prog_name, complete_var)
        except (ValueError, KeyError, IndexError):
            sys.exit(1)

    def _checked_main(self, args: Any, prog_name: Any, complete_var: Any, **extra: Any) -> Any:
        check_limits()  # a bad GRADCLI_MAX_MEMORY / GRADCLI_MAX_WORK is reported up front
        return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)


def _stream_problems(out: SafeStream, code: int) -> int:
    """Exit code 2 and one error line when the output could not be written."""
    out.flush()
    if out.failure:
        return fail(f"cannot write the output: {out.failure}")
    if out.wrote_to_closed:
        return fail("standard output is closed; nothing could be written")
    return code


ABOUT = (
    "Gradients three ways: the analytic formula, torch autograd and finite differences, side "
    "by side, with a verdict and an exit code (0 agree, 1 disagree or a wrong answer, 2 bad "
    "input). Check your own answer with --expect on any command; run 'gradcli COMMAND -h' "
    "for its options and examples."
)

app = typer.Typer(
    cls=GradcliGroup,
    help=ABOUT,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)


def _show_version(value: bool) -> None:
    if value:
        print(f"gradcli {__version__}")
        print(torch_build())
        raise typer.Exit()


def torch_build() -> str:
    """``torch 2.13.0+cpu (CPU build)`` — read from torch's files, without importing it."""
    from importlib import metadata, util

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch: not installed"
    spec = util.find_spec("torch")
    cuda = None
    for folder in spec.submodule_search_locations or [] if spec else []:
        text = Path(folder, "version.py").read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^cuda(?::[^=]*)?\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        cuda = match.group(1) if match else None
    return f"torch {version} ({f'CUDA {cuda} build' if cuda else 'CPU build'})"


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Show gradcli's version and torch's (CPU or CUDA build).",
        ),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())


for command in (activation, softmax, loss, perceptron, optim, layer, expr, check, batch):
    register(app, command.INFO)


def main(argv: list[str] | None = None) -> None:
    """Run gradcli on ``argv`` (default: the process arguments) and exit."""
    app(args=argv, prog_name="gradcli")
