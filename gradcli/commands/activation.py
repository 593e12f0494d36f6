"""``gradcli activation NAME X...``"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gradcli.activations import ACTIVATION_LIST, get_activation
from gradcli.commands.options import (
    Common,
    ExpectOpt,
    ParamOpt,
    computing_command,
    positional_numbers,
)
from gradcli.errors import ExitCode, InputError
from gradcli.expect import parse_expected
from gradcli.params import describe_all


def list_activations() -> None:
    """Every activation with its formula, derivative and parameters (no torch)."""
    from gradcli.render.table import write_listing

    rows = []
    for act in ACTIVATION_LIST:
        rows.append((act.name, act.formula, act.derivative_formula, describe_all(act.params)))
        rows += [
            (f"{act.name} ({key}={value})", formula, derivative, "")
            for key, value, formula, derivative in act.variants
        ]
    write_listing("Activations", ("name", "f(x)", "f'(x)", "parameters"), rows, sys.stdout)


@computing_command
def activation(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="Activation name; see --list.", show_default=False)
    ] = None,
    x: Annotated[
        list[str] | None,
        typer.Argument(help="Points x (negative and 1e-3 style numbers work).", show_default=False),
    ] = None,
    param: ParamOpt = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List every activation with its formulas.")
    ] = False,
    expect: ExpectOpt = None,
    *,
    common: Common,
) -> int:
    """f(x) and f'(x) of an activation: analytic formula vs autograd vs finite differences."""
    if list_:
        list_activations()
        return ExitCode.OK
    if name is None:
        raise InputError("no activation name given; run 'gradcli activation --list' to see them")
    act = get_activation(name)
    values = positional_numbers(ctx, x, "x values")
    params = act.resolve_params(param or [])
    expected = parse_expected(expect) if expect is not None else None

    from gradcli.core.activation import activation_gradients

    result = activation_gradients(act, values, params, common.settings, expected)
    return common.output.show(result)
