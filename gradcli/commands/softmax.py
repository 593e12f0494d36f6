"""``gradcli softmax-jacobian A...``"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated

import typer

from gradcli.answers import Outline, parse_answers
from gradcli.commands.options import (
    Common,
    MinDigitsOpt,
    SolutionStepsOpt,
    Stray,
    computing_command,
    expect_option,
    number,
)
from gradcli.commands.pictures import for_people
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import InputError
from gradcli.limits import require_memory
from gradcli.ops.softmax import JACOBIAN_BYTES_PER_ENTRY, check_temperature
from gradcli.results.softmax import SoftmaxJacobianResult
from gradcli.settings import Settings

HEATMAP_LIMIT = 60  # logits: a 60×60 map is 120–180 columns wide, split into blocks below that


@computing_command
def softmax_jacobian(
    ctx: typer.Context,
    a: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="A...",
            help="Logits a_0 … a_(n−1) (negative numbers work).",
            show_default=False,
        ),
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
    expect: expect_option("the Jacobian", "p = softmax(a/T), jacobian") = None,
    min_digits: MinDigitsOpt = None,
    steps: SolutionStepsOpt = False,
    heatmap: Annotated[
        bool,
        typer.Option(
            "--heatmap",
            help=f"Draw the Jacobian as coloured blocks, up to {HEATMAP_LIMIT} logits (for"
            " people: not with --json).",
        ),
    ] = False,
    *,
    common: Common,
) -> int:
    """p = softmax(a/T) and its Jacobian ∂p_i/∂a_j = p_i(δ_ij − p_j)/T, formula vs autograd."""
    if heatmap:
        for_people("--heatmap", common.output)
    result = softmax_result(
        a or [], temperature, expect or [], min_digits, common.settings, heatmap, steps,
        Stray(ctx),
    )  # fmt: skip
    return common.output.show(result)


def softmax_result(
    a: Sequence[str] | Sequence[float],
    temperature: float,
    expect: list[str],
    min_digits: int | None,
    settings: Settings,
    heatmap: bool = False,
    steps: bool = False,
    stray: Stray | None = None,
) -> SoftmaxJacobianResult:
    """The check behind ``gradcli softmax-jacobian`` and ``gradcli.softmax_jacobian``: the
    logits as the command line's tokens or as numbers; every check before torch loads."""
    stray = stray or Stray()
    if not a:
        raise InputError("no logits given: write them after the command, e.g. "
                         "'gradcli softmax-jacobian 1 2 3'")  # fmt: skip
    values = stray.numbers(a, "logits")
    check_temperature(temperature)
    n = len(values)
    if heatmap and n > HEATMAP_LIMIT:
        raise InputError(
            f"--heatmap draws one cell per entry, up to {HEATMAP_LIMIT}×{HEATMAP_LIMIT}; "
            f"{n:,} logits make {n:,}×{n:,}: drop --heatmap (the table is summarized) or "
            "use --json for every entry"
        )
    require_memory(n * n * JACOBIAN_BYTES_PER_ENTRY, f"the {n:,}×{n:,} softmax Jacobian")
    expected = {}  # no --expect: nothing to parse, no outline to build
    if expect or min_digits is not None:
        expected = parse_answers(
            expect,
            softmax_outline(n),
            min_digits,
            lambda answer, shape, key: stray.check_answer_shape(
                answer, shape, QUANTITY_NAMES[key], "logit", also=[(n,)] if key != "p" else []
            ),
        )

    from gradcli.core.softmax import softmax_jacobian as compute

    result = compute(values, temperature, settings, expected, steps)
    return dataclasses.replace(result, heatmap=heatmap)


QUANTITY_NAMES = {"p": "p", "jacobian": "the Jacobian"}


def softmax_outline(n: int) -> Outline:
    """p, then the n×n Jacobian (the bare --expect; a vector of its diagonal is a slip)."""
    return Outline(
        {"p": (n,), "jacobian": (n, n)},
        main="jacobian",
        command="softmax-jacobian",
        also={"jacobian": [(n,)]},
    )


INFO = CommandInfo(
    name="softmax-jacobian",
    function=softmax_jacobian,
    summary="softmax(a/T) and its Jacobian p_i(δ_ij − p_j)/T",
    usage="A...",
    examples=(
        Example("softmax-jacobian 1 2 3"),
        Example("softmax-jacobian 1 2 3 -T 2 --json"),
        Example('softmax-jacobian 0 0 --expect "1/4,-1/4;-1/4,1/4"'),
        Example("softmax-jacobian 1 2 3 4 5 6 7 8 9 10 --heatmap"),
    ),
    numeric_args=True,
    number_arguments=True,
)
