"""The loss registry: every loss defined once.

Each record holds the torch.nn.functional forward (whose backward is what
autograd reports) and the analytic gradient ∂L/∂pred written from the closed
form, for each reduction. Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from gradcli._torch import F
from gradcli.errors import unknown
from gradcli.params import Param, ParamValues

if TYPE_CHECKING:
    from torch import Tensor


class Reduction(str, Enum):
    """How per-element losses become one number."""

    mean = "mean"
    sum = "sum"
    half_sum = "half-sum"  # E = ½Σ(y − t)², the textbook convention of hand-derived backprop


LossFn = Callable[["Tensor", "Tensor", Reduction, ParamValues], "Tensor"]


@dataclass(frozen=True)
class Loss:
    """One loss function and everything gradcli knows about it."""

    name: str
    formula: str  # the per-element (or per-sample) loss
    gradient_formula: str  # ∂ℓ/∂y per element, before reduction
    forward: LossFn  # scalar loss through torch.nn.functional
    gradient: LossFn  # analytic ∂L/∂pred, same shape as pred
    params: tuple[Param, ...] = ()


def _reduce_scale(reduction: Reduction, count: int) -> float:
    """Factor that turns Σ-gradients into this reduction's gradients."""
    return {Reduction.mean: 1 / count, Reduction.sum: 1.0, Reduction.half_sum: 0.5}[reduction]


def _mse_forward(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    if reduction is Reduction.half_sum:
        return 0.5 * F.mse_loss(y, t, reduction="sum")
    return F.mse_loss(y, t, reduction=reduction.value)


def _mse_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    return 2 * (y - t) * _reduce_scale(reduction, y.numel())


LOSS_LIST: tuple[Loss, ...] = (
    Loss(
        "mse",
        "ℓ = (y − t)²",
        "∂ℓ/∂y = 2(y − t)",
        forward=_mse_forward,
        gradient=_mse_gradient,
    ),
)

LOSSES: dict[str, Loss] = {loss.name: loss for loss in LOSS_LIST}


def get_loss(name: str) -> Loss:
    """The registry entry called ``name``, or an InputError suggesting the closest."""
    try:
        return LOSSES[name]
    except KeyError:
        raise unknown("loss", name, LOSSES) from None
