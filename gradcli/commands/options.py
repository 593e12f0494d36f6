"""Options every computing command shares, declared once."""

from __future__ import annotations

import functools
import inspect
import itertools
import re
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer

from gradcli.errors import ExitCode, InputError, no_such_option, shown, unknown
from gradcli.expect import Expected, check_shape, with_min_digits
from gradcli.parsing import parse_number, parse_values, split_numbers
from gradcli.render import OutputFormat, render
from gradcli.settings import Dtype, Settings, tolerance_for

# Values are positional and may be negative, so computing commands pass unknown
# "options" such as -1 or -1e-3 through as arguments.
NUMERIC_ARGS = {"ignore_unknown_options": True}

E = TypeVar("E", bound=Enum)


def completer(names: Iterable[str], lists: bool = False) -> Callable[[str], list[str]]:
    """Shell completion for a choice (case-insensitive); ``lists``: comma lists (NAME,NAME)."""
    choices = sorted(names)

    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",") if lists else ("", "", incomplete)
        prefix = f"{done}," if done else ""
        return [prefix + c for c in choices if c.startswith(last.strip().lower())]

    return complete


def choice_list(values: Iterable[str]) -> str:
    return "|".join(values)


FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="table|json|csv",
        help="Output format.",
        autocompletion=completer(f.value for f in OutputFormat),
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")]
DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype",
        metavar="float64|float32",
        help="Compute in float64 (exact comparisons) or float32 (torch's default, its rounding).",
        autocompletion=completer(d.value for d in Dtype),
    ),
]


def number(text: str | float) -> float:
    """Parse an option's value as a finite number, naming the token when it is not one."""
    try:
        return parse_number(str(text))
    except InputError as error:
        raise typer.BadParameter(str(error)) from None


def non_negative(text: str | float) -> float:
    value = number(text)
    if value < 0:
        raise typer.BadParameter(f"'{text}' must be ≥ 0")
    return value


SEED_MAX = (
    2**63 - 1
)  # torch.manual_seed takes any 64-bit seed; this range means the same everywhere


def seed_value(text: str | int) -> int:
    """A seed: a whole number from 0 to 2**63 − 1."""
    raw = str(text).strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= SEED_MAX):
        raise typer.BadParameter(f"{shown(raw)} is not a whole number from 0 to 2**63 − 1")
    return int(raw)


SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed",
        parser=seed_value,
        metavar="S",
        help="Seed for random inputs (torch.manual_seed), 0 … 2**63 − 1.",
    ),
]


def digit_count(text: str | int) -> int:
    """``--precision`` and ``--min-digits``: a whole number from 1 to 17 (float64 holds
    about 17 significant digits)."""
    raw = str(text).strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 2 and 1 <= int(raw) <= 17):
        raise typer.BadParameter(f"{shown(raw)} is not a whole number from 1 to 17")
    return int(raw)


AtolOpt = Annotated[
    float | None,
    typer.Option(
        "--atol",
        parser=non_negative,
        metavar="FLOAT",
        help="Absolute tolerance [default: 1e-6 float64, 1e-4 float32].",
    ),
]
RtolOpt = Annotated[
    float | None,
    typer.Option(
        "--rtol",
        parser=non_negative,
        metavar="FLOAT",
        help="Relative tolerance [default: 1e-5 float64, 1e-3 float32].",
    ),
]
NoNumericOpt = Annotated[
    bool, typer.Option("--no-numeric", help="Skip the finite-difference column.")
]
PrecisionOpt = Annotated[
    int,
    typer.Option(
        "--precision", parser=digit_count, metavar="1-17", help="Significant digits in tables."
    ),
]
EXPECT_RULE = (
    "whole numbers and fractions such as 2/3 are exact, decimals are checked to the digits "
    "you wrote (rounded; truncated too from 2 digits on)"
)


def expect_option(main: str | None, keys: str) -> Any:
    """``--expect`` (repeatable): ``VALUES`` for the command's ``main`` quantity, ``KEY=VALUES``
    for any quantity of the worked solution (``keys`` names them), ``@FILE`` for a sheet."""
    bare = f"VALUES answers {main}; " if main else ""
    return Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            metavar="[KEY=]VALUES|@FILE" if main else "KEY=VALUES|@FILE",
            help=f"Your answer, repeatable: {bare}KEY=VALUES any quantity of the worked "
            f"solution ({keys}; see --steps); @FILE a sheet of KEY=VALUES lines. Each answer "
            f"is one comma-separated list (rows ;-separated): {EXPECT_RULE}; exit 1 unless "
            "every quantity is right.",
            show_default=False,
        ),
    ]


SolutionStepsOpt = Annotated[
    bool,
    typer.Option(
        "--steps",
        help="Show the worked solution: every quantity with its key (for --expect KEY=…), "
        "formula and value.",
    ),
]


MinDigitsOpt = Annotated[
    int | None,
    typer.Option(
        "--min-digits",
        parser=digit_count,
        metavar="N",
        help="With --expect: an entry written with fewer than N significant digits is wrong "
        "(whole numbers, fractions and zeros are exact, so exempt).",
        show_default=False,
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing; only the exit code tells.")
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", metavar="KEY=VALUE", help="Set a parameter (repeatable)."),
]


@dataclass(frozen=True)
class Output:
    """Where the parsed output options lead."""

    format: OutputFormat
    precision: int
    quiet: bool = False

    def show(self, result: Any) -> int:
        """Render ``result`` (unless quiet) and return the command's exit code."""
        if not self.quiet:
            render(result, self.format, self.precision)
        return exit_code(result)


def exit_code(result: Any) -> int:
    """0 when the gradients agree and every quantity the user gave is right, else 1."""
    marks = getattr(result, "marks", None)
    answer = getattr(result, "answer", None)
    good = result.agree and (marks is None or marks.passed) and (answer is None or answer.passed)
    return ExitCode.OK if good else ExitCode.DISAGREE


@dataclass(frozen=True)
class Common:
    """The options every computing command shares, parsed."""

    settings: Settings
    output: Output


# name, Typer annotation, default: appended to every computing command by `computing_command`
COMMON_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("fmt", FormatOpt, "table"),
    ("json_", JsonOpt, False),
    ("dtype", DtypeOpt, "float64"),
    ("atol", AtolOpt, None),
    ("rtol", RtolOpt, None),
    ("no_numeric", NoNumericOpt, False),
    ("precision", PrecisionOpt, 6),
    ("quiet", QuietOpt, False),
)


TEXT_FORMATS = (OutputFormat.table, OutputFormat.json, OutputFormat.csv)


def computing_command(
    func: Callable[..., int] | None = None, *, formats: tuple[OutputFormat, ...] = TEXT_FORMATS
) -> Any:
    """Give a command the shared options; it receives them parsed, as ``common: Common``.

    Typer reads a command's options from its signature, so the wrapper's signature is
    the command's own (less ``common``) followed by the shared options. ``formats`` are the
    output formats the command offers (``@computing_command(formats=(…, OutputFormat.latex))``).
    """
    if func is None:
        return functools.partial(computing_command, formats=formats)
    hints = typing.get_type_hints(func, include_extras=True)  # resolve string annotations
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(func).parameters.values()
        if p.name != "common"
    ]
    options = [(n, _format_option(formats) if n == "fmt" else h, d) for n, h, d in COMMON_OPTIONS]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint)
        for name, hint, default in options
    ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> int:
        values = {name: kwargs.pop(name) for name, _, _ in COMMON_OPTIONS}
        output = output_from(
            values["fmt"], values["json_"], values["precision"], values["quiet"], formats
        )
        settings = settings_from(
            values["dtype"], values["atol"], values["rtol"], values["no_numeric"]
        )
        return func(**kwargs, common=Common(settings, output))

    command.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in own},
        **{name: hint for name, hint, _ in options},
    }
    return command


def _format_option(formats: tuple[OutputFormat, ...]) -> Any:
    names = [f.value for f in formats]
    return Annotated[
        str,
        typer.Option(
            "--format",
            metavar="|".join(names),
            help="Output format.",
            autocompletion=completer(names),
        ),
    ]


def settings_from(dtype: str, atol: float | None, rtol: float | None, no_numeric: bool) -> Settings:
    """The core's Settings from the shared options."""
    chosen = choose(Dtype, dtype, "dtype")
    return Settings(chosen, tolerance_for(chosen, atol, rtol), numeric=not no_numeric)


def output_from(
    fmt: str,
    json_flag: bool,
    precision: int,
    quiet: bool = False,
    formats: tuple[OutputFormat, ...] = TEXT_FORMATS,
) -> Output:
    """``--json`` wins over ``--format``; ``formats`` are the ones the command offers."""
    chosen = OutputFormat.json if json_flag else choose(OutputFormat, fmt, "format", formats)
    return Output(chosen, precision, quiet)


def choose(enum: type[E], value: str, what: str, allowed: tuple[E, ...] | None = None) -> E:
    """The member of a string enum called ``value`` (case-insensitive, among ``allowed`` when
    given), else an InputError listing the choices."""
    members = tuple(enum) if allowed is None else allowed
    try:
        member = enum(value.strip().lower())
    except ValueError:
        member = None
    if member is None or member not in members:
        raise unknown(what, value, [m.value for m in members])
    return member


def positional_numbers(ctx: typer.Context, tokens: list[str] | None, what: str) -> list[float]:
    """Numbers from positional tokens; a stray ``--option`` is reported as unknown."""
    for token in tokens or []:
        reject_stray_option(ctx, token)
    return parse_values(tokens or [], what)


def reject_stray_option(ctx: typer.Context, token: str) -> None:
    """Commands that take negative numbers as arguments let unknown options through as
    arguments: one that is not a number is reported as the unknown option it is."""
    if token.startswith("-") and not _looks_numeric(token):
        raise InputError(no_such_option(token, _option_names(ctx), ctx.command.name))


def _looks_numeric(token: str) -> bool:
    try:
        [float(piece) for piece in split_numbers(token)]
    except ValueError:
        return False
    return True


def _option_names(ctx: typer.Context) -> list[str]:
    return [opt for param in ctx.command.params for opt in getattr(param, "opts", [])]


class Stray:
    """What a command's context tells its checks: the option names (an unknown ``--x``
    among the numbers is reported as the unknown option it is) and the numbers typed after
    ``--expect``'s value. Without a context (``import gradcli``, numbers already parsed)
    there is neither."""

    def __init__(self, ctx: typer.Context | None = None) -> None:
        self.ctx = ctx

    def reject(self, token: str) -> None:
        if self.ctx is not None:
            reject_stray_option(self.ctx, token)

    def numbers(self, tokens: Sequence[str] | Sequence[float], what: str) -> list[float]:
        """Numbers from the command line's tokens, or the numbers themselves."""
        if tokens and not isinstance(tokens[0], str):
            return [float(value) for value in tokens]
        for token in tokens:
            self.reject(token)  # type: ignore[arg-type]
        return parse_values(tokens or [], what)  # type: ignore[arg-type]

    def check_answer_shape(
        self,
        expected: Expected,
        shape: Sequence[int],
        what: str,
        read_as: str,
        also: Sequence[tuple[int, ...]] = (),
    ) -> None:
        if self.ctx is None:
            check_shape(expected, shape, what, also)
        else:
            check_answer_shape(self.ctx, expected, shape, what, read_as, also)


# ---------------------------------------------------------------- --expect


def answers(parsed: dict[str, Expected], min_digits: int | None) -> dict[str, Expected]:
    """Several ``--expect KEY=…`` answers, each checked with ``--min-digits`` (for the commands
    not on the worked solution yet: optim; the others parse with :mod:`gradcli.answers`)."""
    if min_digits is not None and not parsed:
        raise InputError(
            f"--min-digits {min_digits} sets how many digits an --expect answer needs: "
            "add your answer with --expect"
        )
    return {key: with_min_digits(value, min_digits) for key, value in parsed.items()}


EXPECT_FOLLOWERS = "gradcli.expect_followers"  # ctx.meta key: numbers typed after --expect's value
_ANSWER_PIECE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:/\d+)?", re.ASCII)


def expect_followers(args: Sequence[str]) -> tuple[str, list[str]] | None:
    """``--expect``'s value and the numbers typed right after it, if any: the shell split an
    answer written with spaces (``--expect 0.9151 0.1295``)."""
    for i, token in enumerate(args):
        if token == "--":
            return None
        if token == "--expect" and i + 1 < len(args):
            value, start = args[i + 1], i + 2
        elif token.startswith("--expect="):
            value, start = token.removeprefix("--expect="), i + 1
        else:
            continue
        followers = list(itertools.takewhile(_answer_like, args[start:]))
        if followers:
            return value, followers
    return None


def _answer_like(token: str) -> bool:
    pieces = split_numbers(token)
    return bool(pieces) and all(_ANSWER_PIECE.fullmatch(piece) for piece in pieces)


def split_answer_error(value: str, followers: list[str], read_as: str | None = None) -> InputError:
    """``--expect takes one comma-separated list: --expect 0.9151,0.1295``."""
    joined = ",".join(piece for token in [value, *followers] for piece in split_numbers(token))
    if "=" in value:
        key, _, rest = value.partition("=")
        joined = f"{key}=" + ",".join(
            piece for token in [rest, *followers] for piece in split_numbers(token)
        )
    message = f"--expect takes one comma-separated list: --expect {joined}"
    if read_as:
        one = len(followers) == 1
        taken = f"another {read_as}" if one else f"more {read_as}s"
        message += f" ({', '.join(followers)} after it {'was' if one else 'were'} taken as {taken})"
    return InputError(message)


def check_answer_shape(
    ctx: typer.Context,
    expected: Expected,
    shape: Sequence[int],
    what: str,
    read_as: str,
    also: Sequence[tuple[int, ...]] = (),
) -> None:
    """:func:`check_shape`, blaming numbers typed after ``--expect``'s value (taken by the
    command as more ``read_as``, e.g. "x value") when there are any."""
    try:
        check_shape(expected, shape, what, also)
    except InputError:
        followers = ctx.meta.get(EXPECT_FOLLOWERS)
        if followers:
            raise split_answer_error(*followers, read_as=read_as) from None
        raise
