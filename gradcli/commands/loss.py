"""``gradcli loss NAME --pred ... --target ...``"""

from __future__ import annotations

from typing import Annotated

import typer

from gradcli.answers import Outline, parse_answers
from gradcli.commands.options import (
    Common,
    MinDigitsOpt,
    ParamOpt,
    SolutionStepsOpt,
    choose,
    completer,
    computing_command,
    expect_option,
)
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import InputError
from gradcli.limits import max_entries, require_entries
from gradcli.ops.losses import LOSS_LIST, LOSSES, Loss, Reduction, get_loss
from gradcli.params import describe_all
from gradcli.parsing import TensorData, tensor_arg
from gradcli.results.listing import Listing, ListingTable
from gradcli.results.loss import LossResult
from gradcli.settings import Settings

# float64 copies of pred a loss command holds at once (tensors, grids, lists, the CSV text):
# measured 122 for mse/huber/bce_with_logits with --format csv at 500k entries (116 at 1M;
# JSON 77, table 86), rounded up so that the bound refuses what would not fit
LOSS_COPIES = 160

REDUCTIONS_TEXT = (
    "--reduction: mean (torch's default; divides by all n elements, by the N rows for "
    "cross_entropy and nll), sum, or half-sum E = ½Σ(y − t)² (mse only)."
)
ARRAY_HELP = "a vector 1,2,3, a matrix 1,2;3,4 (rows = samples) or a JSON nested list"


def loss_listing() -> Listing:
    """Every loss with its formula, gradient, inputs and parameters (no torch)."""
    formulas = [
        (loss.name, loss.formula, loss.gradient_formula, describe_all(loss.params))
        for loss in LOSS_LIST
    ]
    columns = ("name", "ℓ (per element)", "∂ℓ/∂y (before reduction)", "parameters")
    inputs = [(loss.name, loss.pred_is, loss.target_is) for loss in LOSS_LIST]
    entries = [
        {
            "name": loss.name,
            "formula": loss.formula,
            "gradient_formula": loss.gradient_formula,
            "params": {param.name: param.default for param in loss.params},
            "pred": loss.pred_is,
            "target": loss.target_is,
            "reductions": [reduction.value for reduction in loss.reductions],
            "mean_over": loss.mean_over,
        }
        for loss in LOSS_LIST
    ]
    tables = [
        ListingTable("Losses", columns, formulas),
        ListingTable("What --pred and --target hold", ("name", "--pred", "--target"), inputs),
    ]
    return Listing("loss", entries, tables, [REDUCTIONS_TEXT])


@computing_command
def loss(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help=f"Loss (any case): {', '.join(LOSSES)}; formulas in --list.",
            show_default=False,
            autocompletion=completer(LOSSES),
        ),
    ] = None,
    pred: Annotated[
        str | None,
        typer.Option(
            "--pred",
            metavar="VALUES|MATRIX",
            help=f"Predictions (the gradient is ∂L/∂pred): {ARRAY_HELP}, @FILE or - (stdin).",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="VALUES|MATRIX",
            help=f"Targets: {ARRAY_HELP}, @FILE or -; class indices (one per row) for "
            "cross_entropy/nll.",
        ),
    ] = None,
    reduction: Annotated[
        str,
        typer.Option(
            "--reduction",
            metavar="mean|sum|half-sum",
            help="mean (torch's default), sum, or half-sum E = ½Σ(y − t)² (mse only).",
            autocompletion=completer(r.value for r in Reduction),
        ),
    ] = "mean",
    param: ParamOpt = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List every loss with its formulas.")
    ] = False,
    expect: expect_option(
        "∂L/∂pred",
        "loss = L, grad = ∂L/∂pred, p = softmax or σ of pred for cross_entropy and bce_with_logits",
    ) = None,
    min_digits: MinDigitsOpt = None,
    steps: SolutionStepsOpt = False,
    *,
    common: Common,
) -> int:
    """A loss and ∂L/∂pred: analytic formula vs autograd vs finite differences."""
    if list_:
        return common.output.show(loss_listing())
    result = loss_result(
        name, pred, target, reduction, param or [], expect or [], min_digits, common.settings,
        steps,
    )  # fmt: skip
    return common.output.show(result)


def loss_result(
    name: str | None,
    pred: str | TensorData | None,
    target: str | TensorData | None,
    reduction: str,
    param: list[str],
    expect: list[str],
    min_digits: int | None,
    settings: Settings,
    steps: bool = False,
) -> LossResult:
    """The check behind ``gradcli loss`` and ``gradcli.loss``: ``pred`` and ``target`` as
    the options' text or already parsed; every check made before torch loads."""
    if name is None:
        raise InputError("no loss name given; run 'gradcli loss --list' to see them")
    chosen = get_loss(name)
    if pred is None:
        raise InputError(f"--pred is required: {ARRAY_HELP}")
    if target is None:
        raise InputError(f"--target is required: {ARRAY_HELP}")
    reduced = choose(Reduction, reduction, "reduction")
    chosen.check_reduction(reduced)
    bound = max_entries(LOSS_COPIES)  # require_entries' bound below, applied while reading
    pred_values = tensor_arg(pred, "--pred", max_dims=2, max_entries=bound)
    target_values = tensor_arg(target, "--target", max_dims=2, max_entries=bound)
    params = chosen.resolve_params(param)
    chosen.prepare_target(pred_values, target_values, params)  # every check before torch loads
    require_entries(
        pred_values.shape, f"--pred with {len(pred_values.values):,} values", LOSS_COPIES
    )
    expected = {}  # no --expect: nothing to parse, no outline to build
    if expect or min_digits is not None:
        expected = parse_answers(expect, loss_outline(chosen, pred_values.shape), min_digits)

    from gradcli.core.loss import loss_gradients

    return loss_gradients(
        chosen, pred_values, target_values, reduced, params, settings, expected, steps
    )


def loss_outline(chosen: Loss, shape: tuple[int, ...]) -> Outline:
    """The worked solution's quantities: p (for a loss with softmax or σ inside), the loss L,
    then ∂L/∂pred (the bare --expect)."""
    shapes: dict[str, tuple[int, ...] | None] = {"p": tuple(shape)} if chosen.link else {}
    shapes |= {"loss": (), "grad": tuple(shape)}
    return Outline(shapes, main="grad", command=f"loss {chosen.name}")


INFO = CommandInfo(
    name="loss",
    function=loss,
    summary="a loss and ∂L/∂pred, three ways",
    usage="NAME --pred VALUES --target VALUES",
    examples=(
        Example("loss mse --pred 1,2,3 --target 0,2,5"),
        Example('loss cross_entropy --pred "2,1,0.1;0.5,2.5,0.3" --target 0,1'),
        Example("loss mse --pred 1,2,3 --target 0,2,5 --reduction half-sum --expect 1,0,-2"),
        Example(
            "loss cross_entropy --pred 2,1,0.1 --target 0 --expect p=0.659,0.242,0.099 "
            "--expect loss=0.417 --steps"
        ),
    ),
)
