"""``gradcli softmax-jacobian A...``"""

from __future__ import annotations

from typing import Annotated

import typer

from gradcli.commands.options import (
    AtolOpt,
    DtypeOpt,
    ExpectOpt,
    FormatOpt,
    JsonOpt,
    NoNumericOpt,
    PrecisionOpt,
    QuietOpt,
    RtolOpt,
    number,
    output_from,
    positional_numbers,
    settings_from,
)
from gradcli.expect import parse_expected


def softmax_jacobian(
    ctx: typer.Context,
    a: Annotated[
        list[str] | None,
        typer.Argument(help="Logits a_0 … a_(n−1) (negative numbers work).", show_default=False),
    ] = None,
    temperature: Annotated[
        float,
        typer.Option(
            "--temperature",
            "-T",
            parser=number,
            metavar="T",
            help="Temperature T in softmax(a / T).",
        ),
    ] = 1.0,
    fmt: FormatOpt = "table",
    json_: JsonOpt = False,
    dtype: DtypeOpt = "float64",
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    no_numeric: NoNumericOpt = False,
    precision: PrecisionOpt = 6,
    expect: ExpectOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """p = softmax(a/T) and its Jacobian ∂p_i/∂a_j = p_i(δ_ij − p_j)/T, formula vs autograd."""
    values = positional_numbers(ctx, a, "logits")
    settings = settings_from(dtype, atol, rtol, no_numeric)
    expected = parse_expected(expect) if expect is not None else None
    out = output_from(fmt, json_, precision, quiet)

    from gradcli.core.softmax import softmax_jacobian as compute

    result = compute(values, temperature, settings, expected)
    return out.show(result)
