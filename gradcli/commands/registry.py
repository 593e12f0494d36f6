"""How each command presents itself: a one-line summary, its usage line and examples.

Every command is registered once through :func:`register`, which gives it the shared help
conventions: ``-h`` as well as ``--help``, a summary that fits ``gradcli --help`` uncut, a
usage line that shows required arguments as required (``NAME X...``), and 2–4 examples at
the end of its ``--help`` (the tests run every one of them).

Commands load on demand (:data:`gradcli.cli.COMMAND_LOADERS`): ``gradcli activation --list``
imports the activation command alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
from typer._click import core as click_core
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
    number_arguments: bool = False  # its positional arguments are numbers (x values, logits)
    command_class: type[GradcliCommand] | None = None  # a subclass, for a command's own parsing


COMMANDS: dict[str, CommandInfo] = {}  # the commands loaded so far (gradcli.cli loads them)


class GradcliCommand(TyperCommand):
    """A command whose usage line comes from its CommandInfo (required arguments shown), and
    whose option parser is built once: it depends only on the command's parameters and its
    settings, and ``batch`` would otherwise rebuild it for every line."""

    _parser: Any = None
    _defaults: dict[str, Any] | None = None

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        info = COMMANDS.get(self.name or "")
        if info is None or not info.usage:
            return super().collect_usage_pieces(ctx)
        return [self.options_metavar or "[OPTIONS]", info.usage]

    def make_parser(self, ctx: Any) -> Any:
        if self._parser is None:
            self._parser = super().make_parser(ctx)
        self._parser.ctx = ctx  # errors name the current context
        return self._parser

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Click's ``Command.parse_args``, with each absent option's processed default
        remembered: an option missing from the line always processes to the same value, and
        ``batch`` would otherwise run every default through Click's machinery for every line."""
        if self._defaults is None:
            self._defaults = {}
        if any("--expect" in getattr(param, "opts", ()) for param in self.params):
            _note_expect_followers(ctx, args, COMMANDS.get(self.name or ""))
        parser = self.make_parser(ctx)
        opts, args, param_order = parser.parse_args(args=args)
        for param in click_core.iter_params_for_processing(param_order, self.get_params(ctx)):
            known = self._defaults.get(param.name, _UNKNOWN) if param.name not in opts else _UNKNOWN
            if known is not _UNKNOWN:
                ctx.set_parameter_source(param.name, click_core.ParameterSource.DEFAULT)
                ctx.params[param.name] = known
                continue
            value, args = param.handle_parse_result(ctx, opts, args)
            if _default_is_constant(param, ctx, value):
                self._defaults[param.name] = value
        if args and not ctx.allow_extra_args and not ctx.resilient_parsing:
            extra = " ".join(click_core._escape_control_characters(str(arg)) for arg in args)
            ctx.fail(f"Got unexpected extra argument(s) ({extra})")
        ctx.args = args
        ctx._opt_prefixes.update(parser._opt_prefixes)
        return args


_UNKNOWN = object()


def _note_expect_followers(ctx: Any, args: list[str], info: CommandInfo | None) -> None:
    """Numbers typed after ``--expect``'s value: an error here where the command takes no
    numbers as arguments; else kept for the command, which blames them if the shapes differ."""
    from gradcli.commands.options import EXPECT_FOLLOWERS, expect_followers, split_answer_error

    followers = expect_followers(args)
    if followers is None:
        return
    if info is None or not info.number_arguments:
        raise split_answer_error(*followers)
    ctx.meta[EXPECT_FOLLOWERS] = followers


def _default_is_constant(param: Any, ctx: Any, value: Any) -> bool:
    """An option that took its default, with no environment variable, callback or eagerness
    to make it vary, and an immutable value: the same on every line."""
    return (
        getattr(param, "param_type_name", "") == "option"
        and ctx.get_parameter_source(param.name) is click_core.ParameterSource.DEFAULT
        and not param.envvar
        and param.callback is None
        and not param.is_eager
        and param.expose_value
        and isinstance(value, (type(None), bool, int, float, str, tuple))
    )


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
