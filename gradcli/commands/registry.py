"""How each command presents itself: a one-line summary, its usage line and examples.

Every command is registered once through :func:`register`, which gives it the shared help
conventions: ``-h`` as well as ``--help``, a summary that fits ``gradcli --help`` uncut, a
usage line that shows required arguments as required (``NAME X...``), and 2–4 examples at
the end of its ``--help`` (the tests run every one of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
SUMMARY_LIMIT = 60  # characters: `gradcli --help` lists commands beside their name in 80 columns


@dataclass(frozen=True)
class Example:
    """A command line (after ``gradcli``) shown in ``--help``, and the exit code it gives."""

    args: str
    code: int = 0


@dataclass(frozen=True)
class CommandInfo:
    name: str
    function: Callable[..., Any]
    summary: str  # one line for `gradcli --help`
    usage: str  # the arguments as the usage line shows them, e.g. "NAME X..."
    examples: tuple[Example, ...]
    numeric_args: bool = False  # positional numbers may be negative: pass "-1" through
    command_class: type[GradcliCommand] | None = None  # a subclass, for a command's own parsing


COMMANDS: dict[str, CommandInfo] = {}


class GradcliCommand(TyperCommand):
    """A command whose usage line comes from its CommandInfo (required arguments shown), and
    whose option parser is built once: it depends only on the command's parameters and its
    settings, and ``batch`` would otherwise rebuild it for every line."""

    _parser: Any = None

    def make_parser(self, ctx: Any) -> Any:
        if self._parser is None:
            self._parser = super().make_parser(ctx)
        self._parser.ctx = ctx  # errors name the current context
        return self._parser

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        info = COMMANDS.get(self.name or "")
        if info is None or not info.usage:
            return super().collect_usage_pieces(ctx)
        return [self.options_metavar or "[OPTIONS]", info.usage]


def examples_epilog(examples: tuple[Example, ...]) -> str:
    """The examples as an epilog Click prints verbatim (``\\b`` keeps the lines as they are)."""
    lines = "\n".join(f"  gradcli {example.args}" for example in examples)
    return f"Examples:\n\n\b\n{lines}"


def register(app: typer.Typer, info: CommandInfo) -> None:
    """Add a command to the app with the shared help conventions."""
    if len(info.summary) > SUMMARY_LIMIT:
        raise ValueError(f"the summary of {info.name} is longer than {SUMMARY_LIMIT} characters")
    settings = dict(HELP_OPTIONS)
    if info.numeric_args:
        settings["ignore_unknown_options"] = True
    COMMANDS[info.name] = info
    app.command(
        info.name,
        cls=info.command_class or GradcliCommand,
        short_help=info.summary,
        epilog=examples_epilog(info.examples),
        context_settings=settings,
    )(info.function)
