"""The gradcli application: the commands joined, each run through
:func:`gradcli.commands.guard.guarded`, which maps every exception to an exit code."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gradcli import __version__
from gradcli.commands.guard import fail, guarded
from gradcli.commands.registry import COMMANDS, HELP_OPTIONS, CommandInfo, register
from gradcli.completion import HELP as COMPLETION_HELP
from gradcli.completion import completion_request, run_completion
from gradcli.errors import InputError, shown, suggest
from gradcli.limits import check_limits
from gradcli.parsing import release_stdin
from gradcli.streams import SafeStream, safe_streams

COMMAND_LOADERS: dict[str, Callable[[], ModuleType]] = {  # in `gradcli --help`'s order
    "activation": lambda: importlib.import_module("gradcli.commands.activation"),
    "softmax-jacobian": lambda: importlib.import_module("gradcli.commands.softmax"),
    "loss": lambda: importlib.import_module("gradcli.commands.loss"),
    "perceptron": lambda: importlib.import_module("gradcli.commands.perceptron"),
    "optim": lambda: importlib.import_module("gradcli.commands.optim"),
    "layer": lambda: importlib.import_module("gradcli.commands.layer"),
    "expr": lambda: importlib.import_module("gradcli.commands.expr"),
    "check": lambda: importlib.import_module("gradcli.commands.check"),
    "batch": lambda: importlib.import_module("gradcli.commands.batch"),
}


def command_info(name: str) -> CommandInfo:
    """The CommandInfo of ``name``, its module imported on first use (and only it)."""
    if name not in COMMANDS:
        info = COMMAND_LOADERS[name]().INFO
        if info.name != name:
            raise ValueError(f"the module of {name!r} defines {info.name!r}")
        COMMANDS[name] = info
    return COMMANDS[name]


def all_commands() -> dict[str, CommandInfo]:
    """Every command's CommandInfo, in ``gradcli --help``'s order (every module loaded)."""
    return {name: command_info(name) for name in COMMAND_LOADERS}


_BUILT: dict[str, Any] = {}


def click_command(name: str) -> Any:
    """The Click command of ``name``, built once (its option parser is cached with it)."""
    if name not in _BUILT:
        single = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)
        register(single, command_info(name))
        _BUILT[name] = typer.main.get_command_from_info(
            single.registered_commands[0],
            pretty_exceptions_short=single.pretty_exceptions_short,
            rich_markup_mode=single.rich_markup_mode,
        )
    return _BUILT[name]


class LazyCommands(MutableMapping):
    """The application's commands by name, each built when first looked up: listing the names
    loads nothing; ``commands[name]`` (or ``.items()``, as ``batch`` asks) loads what it
    returns. So ``gradcli activation --list`` imports the activation command alone — not the
    layer registry, ``check``'s machinery or ``expr``'s parser."""

    def __init__(self) -> None:
        self.added: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self.added:
            return self.added[name]
        if name not in COMMAND_LOADERS:
            raise KeyError(name)
        return click_command(name)

    def __setitem__(self, name: str, command: Any) -> None:
        self.added[name] = command

    def __delitem__(self, name: str) -> None:
        del self.added[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMAND_LOADERS
        yield from (name for name in self.added if name not in COMMAND_LOADERS)

    def __len__(self) -> int:
        return len(set(COMMAND_LOADERS) | set(self.added))


class GradcliGroup(TyperGroup):
    """Runs the program and owns the mapping from exceptions and stream failures to exit codes.
    Its commands load on demand (:class:`LazyCommands`): a command imports only its own
    module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands()

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names, without loading the commands

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
        request = completion_request(sys.argv[1:] if args is None else args)
        if request is not None:  # before Click, whose flags would ignore the shell's name
            return run_completion(*request, prog_name=prog_name or "gradcli")
        return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:  # Typer's completion options, with the shell name they take here
            param.help = COMPLETION_HELP.get(param.name or "", param.help)
        return params


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


def main(argv: list[str] | None = None) -> None:
    """Run gradcli on ``argv`` (default: the process arguments) and exit."""
    app(args=argv, prog_name="gradcli")
