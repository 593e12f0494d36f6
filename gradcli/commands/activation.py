"""``gradcli activation NAME X...``"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from gradcli.answers import Outline, parse_answers
from gradcli.commands.options import (
    Common,
    MinDigitsOpt,
    ParamOpt,
    SolutionStepsOpt,
    Stray,
    completer,
    computing_command,
    expect_option,
)
from gradcli.commands.pictures import (
    HeightOpt,
    PlotOpt,
    PlotRequest,
    RangeOpt,
    WidthOpt,
    plot_request,
)
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import InputError
from gradcli.ops.activations import ACTIVATION_LIST, ACTIVATIONS, get_activation
from gradcli.params import describe_all
from gradcli.results.activation import ActivationResult
from gradcli.results.curve import PlotOnly
from gradcli.results.listing import Listing, ListingTable
from gradcli.settings import Settings


def activation_listing() -> Listing:
    """Every activation with its formula, derivative and parameters (no torch)."""
    rows = []
    entries = []
    for act in ACTIVATION_LIST:
        rows.append((act.name, act.formula, act.derivative_formula, describe_all(act.params)))
        rows += [
            (f"{act.name} ({key}={value})", formula, derivative, "")
            for key, value, formula, derivative in act.variants
        ]
        entries.append(
            {
                "name": act.name,
                "formula": act.formula,
                "derivative_formula": act.derivative_formula,
                "params": {param.name: param.default for param in act.params},
                "kinks_at_defaults": list(act.kinks(act.resolve_params([]))),
                "convention": act.convention or None,
                "variants": [
                    {"param": key, "value": value, "formula": formula, "derivative": derivative}
                    for key, value, formula, derivative in act.variants
                ],
            }
        )
    table = ListingTable("Activations", ("name", "f(x)", "f'(x)", "parameters"), rows)
    return Listing("activation", entries, [table])


@computing_command
def activation(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help=f"Activation (any case): {', '.join(ACTIVATIONS)}; formulas in --list.",
            show_default=False,
            autocompletion=completer(ACTIVATIONS),
        ),
    ] = None,
    x: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="X...",
            help="Points x (negative and 1e-3 style numbers work).",
            show_default=False,
        ),
    ] = None,
    param: ParamOpt = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List every activation with its formulas.")
    ] = False,
    expect: expect_option("f'(x)", "f = f(x), grad = f'(x)") = None,
    min_digits: MinDigitsOpt = None,
    steps: SolutionStepsOpt = False,
    plot: PlotOpt = False,
    x_range: RangeOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    *,
    common: Common,
) -> int:
    """f(x) and f'(x) of an activation: analytic formula vs autograd vs finite differences."""
    if list_:
        return common.output.show(activation_listing())
    request = plot_request(plot, x_range, width, height, common.output)
    result = activation_result(
        name, x or [], param or [], expect or [], min_digits, common.settings, steps, request,
        Stray(ctx),
    )  # fmt: skip
    return common.output.show(result)


def activation_result(
    name: str | None,
    x: Sequence[str] | Sequence[float],
    param: list[str],
    expect: list[str],
    min_digits: int | None,
    settings: Settings,
    steps: bool = False,
    request: PlotRequest | None = None,
    stray: Stray | None = None,
) -> ActivationResult | PlotOnly:
    """The check behind ``gradcli activation`` and ``gradcli.activation``: ``x`` as the
    command line's tokens or as numbers, every check made before torch loads."""
    stray = stray or Stray()
    if name is None:
        raise InputError("no activation name given; run 'gradcli activation --list' to see them")
    stray.reject(name)
    act = get_activation(name)
    if not x and request is None:
        raise InputError(
            f"no x values given: write them after the name, e.g. 'gradcli activation "
            f"{act.name} 0.5 -1 2', or draw it with --plot"
        )
    values = stray.numbers(x, "x values") if x else []
    params = act.resolve_params(param)
    if (expect or steps) and not values:
        flag = "--expect checks f'(x)" if expect else "--steps works"
        raise InputError(f"{flag} at the x values: give them after the name")
    expected = {}  # no --expect: nothing to parse, no outline to build
    if expect or min_digits is not None:
        expected = parse_answers(
            expect,
            activation_outline(len(values)),
            min_digits,
            lambda answer, shape, key: stray.check_answer_shape(
                answer, shape, QUANTITY_NAMES[key], "x value"
            ),
        )

    from gradcli.core.activation import activation_curve, activation_gradients

    curve = None
    if request is not None:
        size = (request.width, request.height)
        curve = activation_curve(act, params, values, settings, request.x_range, size)
        if not values:
            return PlotOnly(curve, "activation")
    return activation_gradients(act, values, params, settings, expected, steps, curve)


QUANTITY_NAMES = {"f": "f(x)", "grad": "f'(x)"}


def activation_outline(points: int) -> Outline:
    """The quantities of the worked solution at ``points`` x values: f(x), then f'(x) (the
    bare --expect)."""
    return Outline({"f": (points,), "grad": (points,)}, main="grad", command="activation")


INFO = CommandInfo(
    name="activation",
    function=activation,
    summary="f(x) and f'(x) of an activation, three ways",
    usage="NAME X...",
    examples=(
        Example("activation sigmoid 0 0.5 -2"),
        Example("activation sigmoid 0.5 --expect 0.2350"),
        Example("activation sigmoid 0.5 --expect f=0.6225 --expect grad=0.235 --steps"),
        Example("activation tanh --plot --range -4,4"),
    ),
    numeric_args=True,
    number_arguments=True,
)
