"""How each command presents itself: a one-line summary, its usage line and examples.

Every command is registered once through :func:`register`, which gives it the shared help
conventions: ``-h`` as well as ``--help``, a summary that fits ``gradcli --help`` uncut, a
usage line that shows required arguments as required (``NAME X...``), and 2–4 examples at
the end of its ``--help`` (the tests run every one of them).

Commands load on demand (:data:`gradcli.cli.COMMAND_LOADERS`): ``gradcli activation --list``
imports the activation command alone.
"""

from __future__ import annotations

import inspect
import re
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

    _direct: DirectSpec | None = None

    def direct_call(self, args: list[str]) -> Callable[[], Any] | None:
        """The command's own function called with ``args`` parsed here, without Click — for
        ``batch``, whose lines are many and small. The parsing is the plain part of Click's
        (options, flags, repeated options, positional numbers, ``--name=value``); anything
        else — an unknown option, a missing value, ``--``, short options run together, a
        value an option's parser refuses, a required argument missing — returns None, and
        the line goes through Click, which parses or reports it exactly as it always does."""
        if self._direct is None:
            self._direct = DirectSpec.of(self)
        spec = self._direct
        if not spec.usable:
            return None
        kwargs = spec.parse(args)
        if kwargs is None:
            return None
        ctx = LineContext(self)
        if spec.takes_ctx:
            kwargs[spec.takes_ctx] = ctx
        info = COMMANDS[self.name or ""]
        function = info.function

        def call() -> Any:
            if spec.expect:
                _note_expect_followers(ctx, args, info)
            return function(**kwargs)

        return call


class LineContext:
    """What a command's checks read from Click's context (its parameters, its name, and
    the numbers typed after ``--expect``), for a line parsed without Click."""

    def __init__(self, command: Any) -> None:
        self.command = command
        self.meta: dict[str, Any] = {}


_NUMBER_LIKE = re.compile(r"^-[\d.][\d.eE+,-]*$")


@dataclass
class DirectSpec:
    """How ``direct_call`` reads a command's line: its options by name, its arguments in
    order, and the function's defaults for what the line leaves out."""

    usable: bool
    options: dict[str, tuple[str, str, Any]]  # "--pred" → (name, "flag"|"value"|"many", parse)
    arguments: list[tuple[str, int]]  # (name, nargs) in order
    defaults: dict[str, Any]
    numeric_args: bool
    takes_ctx: str | None
    expect: bool

    @staticmethod
    def of(command: GradcliCommand) -> DirectSpec:
        info = COMMANDS.get(command.name or "")
        unusable = DirectSpec(False, {}, [], {}, False, None, False)
        if info is None or type(command) is not GradcliCommand:
            return unusable  # a command with its own parsing (expr) keeps Click's
        signature = inspect.signature(info.function)
        defaults = {}
        takes_ctx = None
        for name, parameter in signature.parameters.items():
            if name == "ctx":
                takes_ctx = name
            elif parameter.default is inspect.Parameter.empty:
                defaults[name] = _REQUIRED
            else:
                defaults[name] = parameter.default
        options: dict[str, tuple[str, str, Any]] = {}
        arguments: list[tuple[str, int]] = []
        for param in command.params:
            if param.callback is not None or param.is_eager or param.envvar:
                return unusable
            if getattr(param, "secondary_opts", None) or param.name not in defaults:
                return unusable
            if param.param_type_name == "argument":
                if param.nargs not in (1, -1) or not _is_text(param):
                    return unusable
                arguments.append((param.name, param.nargs))
                continue
            kind = "flag" if param.is_flag else "many" if param.multiple else "value"
            if kind != "flag" and param.nargs != 1:
                return unusable
            parse = getattr(param.type, "func", None)
            if kind != "flag" and parse is None and not _is_text(param):
                return unusable
            for opt in param.opts:
                options[opt] = (param.name, kind, parse)
        variadic = [i for i, (_, nargs) in enumerate(arguments) if nargs == -1]
        if variadic and variadic[0] != len(arguments) - 1:
            return unusable  # Click would hand the last tokens to the arguments after it
        return DirectSpec(
            True,
            options,
            arguments,
            defaults,
            info.numeric_args,
            takes_ctx,
            any(opt == "--expect" for opt in options),
        )

    def parse(self, args: list[str]) -> dict[str, Any] | None:
        """The function's keyword arguments for ``args``, or None when Click must parse."""
        given: dict[str, Any] = {}
        positional: list[str] = []
        tokens = iter(args)
        for token in tokens:
            if token.startswith("-") and token != "-":
                name, sep, attached = token.partition("=")
                found = self.options.get(name) if name.startswith("--") or not sep else None
                if found is None:
                    if token in self.options:
                        found, sep = self.options[token], ""
                    elif self.numeric_args and _NUMBER_LIKE.match(token):
                        positional.append(token)
                        continue
                    else:
                        return None  # unknown, "--", "-T2", "-qT 2": Click's to read
                param, kind, parse = found
                if kind == "flag":
                    if sep:
                        return None
                    given[param] = True
                    continue
                value = attached if sep else next(tokens, None)
                if value is None:
                    return None
                if parse is not None:
                    try:
                        value = parse(value)
                    except Exception:
                        return None  # Click words the refusal
                if kind == "many":
                    given.setdefault(param, []).append(value)
                else:
                    given[param] = value
            else:
                positional.append(token)
        if not self._place(positional, given):
            return None
        kwargs = {**self.defaults, **given}
        if any(value is _REQUIRED for value in kwargs.values()):
            return None
        return kwargs

    def _place(self, positional: list[str], given: dict[str, Any]) -> bool:
        """Positional tokens to the arguments as Click does: one each in order, the rest to
        the variadic one (always the last here); False when there are too many."""
        index = 0
        for name, nargs in self.arguments:
            if nargs == 1:
                if index < len(positional):
                    given[name] = positional[index]
                    index += 1
            else:
                given[name] = positional[index:] or None
                index = len(positional)
        return index == len(positional)


def _is_text(param: Any) -> bool:
    return type(param.type).__name__ == "StringParamType"


_REQUIRED = object()
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
