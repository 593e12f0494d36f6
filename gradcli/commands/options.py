"""Options every computing command shares, declared once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from gradcli.errors import InputError, suggest
from gradcli.parsing import parse_values, split_numbers
from gradcli.render import OutputFormat
from gradcli.settings import Dtype, Settings, tolerance_for

# Values are positional and may be negative, so computing commands pass unknown
# "options" such as -1 or -1e-3 through as arguments.
NUMERIC_ARGS = {"ignore_unknown_options": True}

FormatOpt = Annotated[
    OutputFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")]
DtypeOpt = Annotated[
    Dtype,
    typer.Option(
        "--dtype",
        help="Compute in float64 (exact comparisons) or float32 (torch's default, its rounding).",
        case_sensitive=False,
    ),
]
AtolOpt = Annotated[
    float | None,
    typer.Option("--atol", min=0, help="Absolute tolerance [default: 1e-6 float64, 1e-4 float32]."),
]
RtolOpt = Annotated[
    float | None,
    typer.Option("--rtol", min=0, help="Relative tolerance [default: 1e-5 float64, 1e-3 float32]."),
]
NoNumericOpt = Annotated[
    bool, typer.Option("--no-numeric", help="Skip the finite-difference column.")
]
PrecisionOpt = Annotated[
    int, typer.Option("--precision", min=1, max=17, help="Significant digits in tables.")
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


def settings_from(
    dtype: Dtype, atol: float | None, rtol: float | None, no_numeric: bool
) -> Settings:
    """The core's Settings from the shared options."""
    return Settings(dtype=dtype, tolerance=tolerance_for(dtype, atol, rtol), numeric=not no_numeric)


def output_from(fmt: OutputFormat, json_flag: bool, precision: int) -> Output:
    """``--json`` wins over ``--format``."""
    return Output(OutputFormat.json if json_flag else fmt, precision)


def positional_numbers(ctx: typer.Context, tokens: list[str] | None, what: str) -> list[float]:
    """Numbers from positional tokens; a stray ``--option`` is reported as unknown."""
    for token in tokens or []:
        if token.startswith("-") and not _looks_numeric(token):
            raise InputError(f"unknown option '{token}'{suggest(token, _option_names(ctx))}")
    return parse_values(tokens or [], what)


def _looks_numeric(token: str) -> bool:
    try:
        [float(piece) for piece in split_numbers(token)]
    except ValueError:
        return False
    return True


def _option_names(ctx: typer.Context) -> list[str]:
    return [opt for param in ctx.command.params for opt in getattr(param, "opts", [])]
