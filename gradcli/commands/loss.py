"""``gradcli loss NAME --pred ... --target ...``"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gradcli.commands.options import (
    Common,
    ExpectOpt,
    ParamOpt,
    choose,
    computing_command,
)
from gradcli.errors import ExitCode, InputError
from gradcli.expect import check_shape, parse_expected
from gradcli.limits import require_entries
from gradcli.losses import LOSS_LIST, Reduction, get_loss
from gradcli.params import describe_all
from gradcli.parsing import parse_tensor

LOSS_COPIES = 40  # float64 copies of pred a loss command holds at once (tensors, grids, lists)

REDUCTIONS_TEXT = (
    "--reduction: mean (torch's default; divides by all n elements, by the N rows for "
    "cross_entropy and nll), sum, or half-sum E = ½Σ(y − t)² (mse only)."
)
ARRAY_HELP = "a vector 1,2,3, a matrix 1,2;3,4 (rows = samples) or a JSON nested list"


def list_losses() -> None:
    """Every loss with its formula, gradient, inputs and parameters (no torch)."""
    from gradcli.render.table import write_listing

    formulas = [
        (loss.name, loss.formula, loss.gradient_formula, describe_all(loss.params))
        for loss in LOSS_LIST
    ]
    columns = ("name", "ℓ (per element)", "∂ℓ/∂y (before reduction)", "parameters")
    write_listing("Losses", columns, formulas, sys.stdout)
    inputs = [(loss.name, loss.pred_is, loss.target_is) for loss in LOSS_LIST]
    write_listing(
        "What --pred and --target hold", ("name", "--pred", "--target"), inputs, sys.stdout
    )
    print(REDUCTIONS_TEXT)


@computing_command
def loss(
    name: Annotated[
        str | None, typer.Argument(help="Loss name; see --list.", show_default=False)
    ] = None,
    pred: Annotated[
        str | None,
        typer.Option(
            "--pred",
            metavar="VALUES|MATRIX",
            help=f"Predictions (the gradient is ∂L/∂pred): {ARRAY_HELP}.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="VALUES|MATRIX",
            help=f"Targets: {ARRAY_HELP}; class indices (one per row) for cross_entropy/nll.",
        ),
    ] = None,
    reduction: Annotated[
        str,
        typer.Option(
            "--reduction",
            metavar="mean|sum|half-sum",
            help="mean (torch's default), sum, or half-sum E = ½Σ(y − t)² (mse only).",
        ),
    ] = "mean",
    param: ParamOpt = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List every loss with its formulas.")
    ] = False,
    expect: ExpectOpt = None,
    *,
    common: Common,
) -> int:
    """A loss and ∂L/∂pred: analytic formula vs autograd vs finite differences."""
    if list_:
        list_losses()
        return ExitCode.OK
    if name is None:
        raise InputError("no loss name given; run 'gradcli loss --list' to see them")
    chosen = get_loss(name)
    if pred is None:
        raise InputError(f"--pred is required: {ARRAY_HELP}")
    if target is None:
        raise InputError(f"--target is required: {ARRAY_HELP}")
    reduced = choose(Reduction, reduction, "reduction")
    chosen.check_reduction(reduced)
    pred_values = parse_tensor(pred, "--pred", max_dims=2)
    target_values = parse_tensor(target, "--target", max_dims=2)
    params = chosen.resolve_params(param or [])
    chosen.prepare_target(pred_values, target_values, params)  # every check before torch loads
    require_entries(
        pred_values.shape, f"--pred with {len(pred_values.values):,} values", LOSS_COPIES
    )
    expected = parse_expected(expect) if expect is not None else None
    if expected is not None:
        check_shape(expected, pred_values.shape, "∂L/∂pred")

    from gradcli.core.loss import loss_gradients

    result = loss_gradients(
        chosen, pred_values, target_values, reduced, params, common.settings, expected
    )
    return common.output.show(result)
