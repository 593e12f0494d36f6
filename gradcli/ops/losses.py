"""The loss registry: every loss defined once.

Each record holds the torch.nn.functional forward (whose backward is what
autograd reports) and the analytic gradient ∂L/∂pred written from the closed
form, for each reduction, plus what --pred and --target hold, the reductions
that make sense, input checks and notes. Importing this module does not import
torch.

Reductions: ``mean`` divides by n (all elements) or, for cross_entropy and nll,
by N (samples = rows of pred), exactly as torch does; ``sum`` adds; ``half-sum``
(E = ½Σ(y − t)²) exists only for mse: every other loss rejects it with an
InputError, because halving a sum of non-squared terms is no textbook convention.
kl_div's ``mean`` is torch's ``reduction='mean'`` (divide by every element), not
``'batchmean'``.
"""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from gradcli._torch import F, torch
from gradcli.errors import InputError, unknown
from gradcli.params import Param, ParamValues, resolve
from gradcli.parsing import TensorData

if TYPE_CHECKING:
    from torch import Tensor


class Reduction(str, Enum):
    """How per-element losses become one number."""

    mean = "mean"
    sum = "sum"
    half_sum = "half-sum"  # E = ½Σ(y − t)², the textbook convention of hand-derived backprop


class TargetKind(str, Enum):
    """What --target holds."""

    values = "values"  # same shape as pred
    classes = "classes"  # one class index per sample (row) of pred
    classes_or_probabilities = "classes-or-probabilities"  # indices, or a matrix of pred's shape


LossFn = Callable[["Tensor", "Tensor", Reduction, ParamValues], "Tensor"]
Functional = Callable[["Tensor", "Tensor", ParamValues, str], "Tensor"]
Prepare = Callable[[TensorData, TensorData, ParamValues, str], TensorData]
Untrusted = Callable[["Tensor", "Tensor", ParamValues], "Tensor | None"]

PROBABILITY_SUM_TOLERANCE = 1e-6  # |Σ_row t − 1| allowed for probability targets
BCE_LOG_FLOOR = -100.0  # torch clamps log(y) and log(1 − y) at −100
# torch's backward divides by max(y(1 − y), ε) with ε the float32 constant 1e-12f
BCE_GRAD_EPSILON = struct.unpack("f", struct.pack("f", 1e-12))[0]
BCE_TRUST_MARGIN = 1e-3  # finite differences closer than this to 0 or 1 are not trusted


def _no_untrusted(y: Tensor, t: Tensor, p: ParamValues) -> Tensor | None:
    return None


@dataclass(frozen=True)
class Link:
    """The squashing a loss applies to its input before the log (softmax, sigmoid): the
    probabilities p a student writes down on the way, and how p maps back to an input with
    the same loss (log p, logit p) — so that the loss and its gradient can be recomputed from
    a student's p by the loss's own code."""

    symbol: str  # p = softmax(z)
    forward: Callable[[Tensor], Tensor]  # z → p
    inverse: Callable[[Tensor], Tensor]  # p → a z with forward(z) = p


def _logit(p: Tensor) -> Tensor:
    return torch.log(p) - torch.log1p(-p)


SOFTMAX_LINK = Link("p = softmax(z) by rows", lambda z: stable_softmax(z), lambda p: torch.log(p))
SIGMOID_LINK = Link("p = σ(z)", lambda z: torch.sigmoid(z), _logit)


@dataclass(frozen=True)
class Loss:
    """One loss function and everything gradcli knows about it."""

    name: str
    formula: str  # the per-element (or per-sample) loss
    gradient_formula: str  # ∂ℓ/∂y per element, before reduction
    functional: Functional  # torch.nn.functional's loss with reduction= "mean", "sum" or "none"
    gradient: LossFn  # analytic ∂L/∂pred, same shape as pred
    params: tuple[Param, ...] = ()
    pred_is: str = "predictions"
    target_is: str = "values"
    target_kind: TargetKind = TargetKind.values
    reductions: tuple[Reduction, ...] = (Reduction.mean, Reduction.sum)
    mean_over: str = "n = all elements"  # what torch's `mean` divides by
    gradient_rhs: str = ""  # right-hand side of gradient_formula, for reduced captions
    grouped: bool = False  # gradient_rhs needs brackets before "/n"
    prepare: Prepare | None = None  # validate (InputError) and return the target to use
    untrusted: Untrusted = _no_untrusted  # entries where finite differences mislead
    fd_input: Callable[[Tensor], Tensor] | None = None  # makes stencils safe (bce: clamp)
    notes: tuple[str, ...] = ()  # always shown (conventions, clamping)
    link: Link | None = None  # the softmax or sigmoid inside the loss, when there is one

    @property
    def can_distrust(self) -> bool:
        """Whether some inputs make this loss's finite differences untrustworthy."""
        return self.untrusted is not _no_untrusted

    def forward(self, y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
        """The scalar loss, reduced by torch itself (half-sum: ½ of torch's sum)."""
        self.check_reduction(reduction)
        if reduction is Reduction.half_sum:
            return 0.5 * self.functional(y, t, p, "sum")
        return self.functional(y, t, p, reduction.value)

    def terms(self, y: Tensor, t: Tensor, p: ParamValues) -> Tensor:
        """The unreduced losses (reduction="none"): one per element of y, or one per sample
        (row) for class targets; inputs made safe for finite-difference stencils."""
        return self.functional(y if self.fd_input is None else self.fd_input(y), t, p, "none")

    def reduction_scale(self, reduction: Reduction, pred_shape: tuple[int, ...]) -> float:
        """L = scale · Σ terms under this reduction."""
        self.check_reduction(reduction)
        return _reduce_scale(reduction, self.divisor(pred_shape))

    def resolve_params(self, items: list[str]) -> ParamValues:
        """torch's defaults overridden by ``--param KEY=VALUE`` items."""
        return resolve(self.params, items, self.name)

    def check_reduction(self, reduction: Reduction) -> None:
        """InputError when this loss has no such reduction (half-sum outside mse)."""
        if reduction not in self.reductions:
            raise InputError(_reduction_error(self.name, reduction, self.reductions))

    def prepare_target(
        self, pred: TensorData, target: TensorData, params: ParamValues
    ) -> TensorData:
        """Check pred and target (InputError naming the bad value; no torch needed) and return
        the target as ``forward`` takes it (class indices as whole numbers)."""
        if self.prepare is None:
            return _same_shape(pred, target, self.name)
        return self.prepare(pred, target, params, self.name)

    def takes_class_indices(self, pred: TensorData, target: TensorData) -> bool:
        """Whether ``target`` (already prepared) holds class indices rather than values."""
        return self.target_kind is not TargetKind.values and target.shape != pred.shape

    def divisor(self, pred_shape: tuple[int, ...]) -> int:
        """What ``mean`` divides by for a pred of this shape."""
        if self.target_kind is TargetKind.values:
            return math.prod(pred_shape)
        return pred_shape[0] if len(pred_shape) == 2 else 1

    def reduced_gradient_formula(self, reduction: Reduction) -> str:
        """∂L/∂y after the reduction, e.g. ``∂L/∂y = 2(y − t)/n`` for mse with mean."""
        lhs, _, formula_rhs = self.gradient_formula.partition("=")
        rhs = self.gradient_rhs or formula_rhs.strip()
        lhs = lhs.strip().replace("ℓ", "L")
        if reduction is Reduction.sum:
            return f"{lhs} = {rhs}"
        if reduction is Reduction.half_sum:
            return "∂E/∂y = (y − t)   (E = ½Σ(y − t)²)"
        letter = "N" if self.target_kind is not TargetKind.values else "n"
        return f"{lhs} = [{rhs}] / {letter}" if self.grouped else f"{lhs} = {rhs}/{letter}"

    def reduced_formula(self, reduction: Reduction) -> str:
        """L as a function of the per-element ℓ."""
        if reduction is Reduction.half_sum:
            return "E = ½Σ(y − t)²"
        if reduction is Reduction.sum:
            return "L = Σ ℓ"
        letter = "N" if self.target_kind is not TargetKind.values else "n"
        return f"L = (1/{letter})·Σ ℓ   ({self.mean_over})"


def _reduction_error(name: str, reduction: Reduction, allowed: tuple[Reduction, ...]) -> str:
    choices = ", ".join(r.value for r in allowed)
    if reduction is Reduction.half_sum:
        return (
            f"reduction 'half-sum' (E = ½Σ(y − t)²) is only defined for the squared error mse, "
            f"not for {name}; use one of: {choices}"
        )
    return f"reduction '{reduction.value}' is not available for {name}; use one of: {choices}"


def _torch_reduction(name: str, reduction: Reduction) -> str:
    """torch's reduction string; half-sum is an InputError outside mse."""
    if reduction is Reduction.half_sum:
        raise InputError(_reduction_error(name, reduction, (Reduction.mean, Reduction.sum)))
    return reduction.value


def _reduce_scale(reduction: Reduction, count: int) -> float:
    """Factor that turns Σ-gradients into this reduction's gradients."""
    return {Reduction.mean: 1 / count, Reduction.sum: 1.0, Reduction.half_sum: 0.5}[reduction]


def _scale(name: str, reduction: Reduction, count: int) -> float:
    _torch_reduction(name, reduction)
    return _reduce_scale(reduction, count)


def _samples(y: Tensor) -> int:
    """N: rows of a matrix, 1 for a vector (one unbatched sample)."""
    return samples_of(tuple(y.shape))


# ---------------------------------------------------------------- shape and value checks


def describe_shape(shape: tuple[int, ...]) -> str:
    """``3 values`` for a vector, ``2×3`` for a matrix."""
    if len(shape) == 1:
        return f"{shape[0]} value{'s' if shape[0] != 1 else ''}"
    if len(shape) == 0:
        return "1 value"
    return "×".join(str(size) for size in shape) + " matrix"


def _same_shape(y: TensorData, t: TensorData, name: str) -> TensorData:
    if t.shape != y.shape:
        raise InputError(
            f"{name}: --target ({describe_shape(t.shape)}) and --pred "
            f"({describe_shape(y.shape)}) must have the same shape"
        )
    return t


def _check_unit_interval(data: TensorData, option: str, name: str, hint: str = "") -> None:
    bad = next((v for v in data.values if not 0 <= v <= 1), None)
    if bad is not None:
        raise InputError(f"{name}: {option} value {bad:g} is outside [0, 1]{hint}")


def _row_sums(data: TensorData, exponentiate: bool = False) -> list[float]:
    width = data.shape[-1]
    values = [_exp(v) for v in data.values] if exponentiate else data.values
    return [math.fsum(values[i : i + width]) for i in range(0, len(values), width)]


def _exp(value: float) -> float:
    return math.exp(value) if value < 709 else math.inf


def _check_rows_sum_to_one(
    data: TensorData, option: str, name: str, exponentiate: bool = False
) -> None:
    sums = _row_sums(data, exponentiate)
    index = next(
        (i for i, total in enumerate(sums) if not abs(total - 1) <= PROBABILITY_SUM_TOLERANCE), None
    )
    if index is not None:
        where = f"row {index} of {option}" if data.dims == 2 else option
        raise InputError(
            f"{name}: {where} sums to {sums[index]:.10g}, not 1; probability targets "
            f"must sum to 1 per row (within {PROBABILITY_SUM_TOLERANCE:g})"
        )


def samples_of(shape: tuple[int, ...]) -> int:
    """N: rows of a matrix, 1 for a vector (one unbatched sample)."""
    return shape[0] if len(shape) == 2 else 1


def _class_indices(y: TensorData, t: TensorData, name: str) -> TensorData:
    """One integer class index per sample of y, of shape y.shape[:-1]."""
    samples = samples_of(y.shape)
    if y.shape[-1] < 2:
        raise InputError(
            f"{name}: --pred has {y.shape[-1]} logit per sample; classification needs at least "
            "2 classes (one score per class, one row per sample)"
        )
    if len(t.values) != samples or t.dims > 2:
        rows = f"{samples} row{'s' if samples != 1 else ''}" if y.dims == 2 else "1 sample"
        raise InputError(
            f"{name}: --target has {describe_shape(t.shape)} but --pred has {rows}; "
            f"give one class index per row of --pred"
            + (
                f", or probabilities of --pred's shape (a {describe_shape(y.shape)})"
                if name == "cross_entropy"
                else ""
            )
        )
    fractional = next((v for v in t.values if v != math.floor(v)), None)
    if fractional is not None:
        raise InputError(f"{name}: --target value {fractional:g} is not an integer class index")
    classes = y.shape[-1]
    outside = next((v for v in t.values if not 0 <= v < classes), None)
    if outside is not None:
        raise InputError(
            f"{name}: class index {outside:g} in --target is out of range "
            f"for {classes} classes (0…{classes - 1})"
        )
    return TensorData([int(v) for v in t.values], y.shape[:-1] or (1,))


def holds_probabilities(y: TensorData, t: TensorData) -> bool:
    """cross_entropy: a target of pred's shape holds probabilities, otherwise indices."""
    return t.shape == y.shape and y.shape[-1] > 1


def is_probability_target(y: Tensor, t: Tensor) -> bool:
    """The same decision on tensors: class indices arrive as integers."""
    return tuple(t.shape) == tuple(y.shape) and t.dtype.is_floating_point


def _prepare_classes(y: TensorData, t: TensorData, p: ParamValues, name: str) -> TensorData:
    if t.shape == y.shape and y.shape[-1] != 1:
        raise InputError(
            f"{name} takes class indices (one integer per row of --pred), not a matrix of "
            f"--pred's shape; for probability targets use cross_entropy or kl_div"
        )
    return _class_indices(y, t, name)


def _prepare_cross_entropy(y: TensorData, t: TensorData, p: ParamValues, name: str) -> TensorData:
    if holds_probabilities(y, t):
        _check_unit_interval(t, "--target", name)
        _check_rows_sum_to_one(t, "--target", name)
        return t
    return _class_indices(y, t, name)


def _prepare_bce(y: TensorData, t: TensorData, p: ParamValues, name: str) -> TensorData:
    _same_shape(y, t, name)
    _check_unit_interval(
        y, "--pred", name, " (bce takes probabilities; for logits use bce_with_logits)"
    )
    _check_unit_interval(t, "--target", name)
    return t


def _prepare_unit_target(y: TensorData, t: TensorData, p: ParamValues, name: str) -> TensorData:
    _same_shape(y, t, name)
    _check_unit_interval(t, "--target", name)
    return t


def _prepare_kl_div(y: TensorData, t: TensorData, p: ParamValues, name: str) -> TensorData:
    _same_shape(y, t, name)
    if p["log_target"] == "true":
        _check_rows_sum_to_one(t, "exp(--target)", name, exponentiate=True)
    else:
        _check_unit_interval(t, "--target", name)
        _check_rows_sum_to_one(t, "--target", name)
    return t


# ---------------------------------------------------------------- the losses


def _mse(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    return F.mse_loss(y, t, reduction=how)


def _mse_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    # (y − t)·(2·scale): the bits of 2·(y − t)·scale (both factors are exact doublings), in
    # two tensor operations instead of three
    return (y - t).mul_(2 * _reduce_scale(reduction, y.numel()))


def _l1(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    return F.l1_loss(y, t, reduction=how)


def _l1_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    return torch.sign(y - t) * _scale("l1", reduction, y.numel())  # sign(0) = 0, as torch


def _near(d: Tensor, point: float, y: Tensor) -> Tensor:
    """Entries whose finite-difference stencil (±h, in float64) touches ``d = point``."""
    h = 1e-6 * torch.clamp(y.double().abs(), min=1.0)
    return (d.double() - point).abs() <= 2 * h


def _l1_untrusted(y: Tensor, t: Tensor, p: ParamValues) -> Tensor:
    return _near(y - t, 0.0, y)


def _huber(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    return F.huber_loss(y, t, reduction=how, delta=p["delta"])


def _huber_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    d, delta = y - t, p["delta"]
    grad = torch.where(d.abs() <= delta, d, delta * torch.sign(d))
    return grad * _scale("huber", reduction, y.numel())


def _smooth_l1(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    return F.smooth_l1_loss(y, t, reduction=how, beta=p["beta"])


def _smooth_l1_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    d, beta = y - t, p["beta"]
    # beta = 0: torch falls back to l1_loss
    grad = torch.sign(d) if beta == 0 else torch.where(d.abs() < beta, d / beta, torch.sign(d))
    return grad * _scale("smooth_l1", reduction, y.numel())


def _smooth_l1_untrusted(y: Tensor, t: Tensor, p: ParamValues) -> Tensor | None:
    return _near(y - t, 0.0, y) if p["beta"] == 0 else None


def _bce(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    return F.binary_cross_entropy(y, t, reduction=how)


def _unit_interval(y: Tensor) -> Tensor:
    """y clamped into [0, 1], so bce's stencils at the edges can be evaluated."""
    return torch.clamp(y, 0.0, 1.0)


def _bce_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    # −t/y + (1 − t)/(1 − y) = (y − t)/(y(1 − y)); torch floors the denominator at 1e-12
    denominator = torch.clamp(y * (1 - y), min=BCE_GRAD_EPSILON)
    return (y - t) / denominator * _scale("bce", reduction, y.numel())


def _bce_untrusted(y: Tensor, t: Tensor, p: ParamValues) -> Tensor:
    y64 = y.double()
    return torch.minimum(y64, 1 - y64) < BCE_TRUST_MARGIN


def _bce_logits(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    return F.binary_cross_entropy_with_logits(y, t, reduction=how)


def _bce_logits_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    sigma = torch.sigmoid(y)  # 1/(1 + e^(−z)), computed without overflow
    return (sigma - t) * _scale("bce_with_logits", reduction, y.numel())


def stable_softmax(z: Tensor) -> Tensor:
    """softmax along the last dimension, shifted by the max so exp never overflows."""
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def target_distribution(y: Tensor, t: Tensor, smoothing: float = 0.0) -> Tensor:
    """q: one-hot rows for class indices (or the given probabilities), label-smoothed
    as torch does: q = (1 − ε)·q + ε/C."""
    classes = y.shape[-1]
    probabilities = is_probability_target(y, t)
    q = t.to(y.dtype) if probabilities else F.one_hot(t.long(), classes).to(y.dtype)
    return q * (1 - smoothing) + smoothing / classes if smoothing else q


def _ce(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    target = t.to(y.dtype) if is_probability_target(y, t) else t.long()
    return F.cross_entropy(y, target, reduction=how, label_smoothing=p["label_smoothing"])


def _ce_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    q = target_distribution(y, t, p["label_smoothing"])
    # ∂/∂z of −Σ_c q_c(z_c − log Σ_k e^(z_k)) = softmax(z)·Σ_c q_c − q = softmax(z) − q
    grad = stable_softmax(y) * q.sum(dim=-1, keepdim=True) - q
    return grad * _scale("cross_entropy", reduction, _samples(y))


def _nll(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    return F.nll_loss(y, t.long(), reduction=how)


def _nll_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    # 0 − q, not −q: entries off the target class are +0, not −0
    return (0.0 - target_distribution(y, t.long())) * _scale("nll", reduction, _samples(y))


def _kl(y: Tensor, t: Tensor, p: ParamValues, how: str) -> Tensor:
    with warnings.catch_warnings():  # torch warns that 'mean' is not 'batchmean'
        warnings.simplefilter("ignore", UserWarning)
        return F.kl_div(y, t.to(y.dtype), reduction=how, log_target=p["log_target"] == "true")


def _kl_gradient(y: Tensor, t: Tensor, reduction: Reduction, p: ParamValues) -> Tensor:
    # ℓ = t(log t − x): ∂ℓ/∂x = −t  (−e^t when the target is given as log-probabilities)
    target = torch.exp(t.to(y.dtype)) if p["log_target"] == "true" else t.to(y.dtype)
    return (0.0 - target) * _scale("kl_div", reduction, y.numel())  # +0 where t = 0


def _non_negative(value: float) -> bool:
    return value >= 0


def _positive(value: float) -> bool:
    return value > 0


def _fraction(value: float) -> bool:
    return 0 <= value <= 1


LOSS_LIST: tuple[Loss, ...] = (
    Loss(
        "mse",
        "ℓ = (y − t)²",
        "∂ℓ/∂y = 2(y − t)",
        functional=_mse,
        gradient=_mse_gradient,
        reductions=(Reduction.mean, Reduction.sum, Reduction.half_sum),
        notes=(
            "Conventions: mean → ∂L/∂y = 2(y − t)/n, sum → 2(y − t), half-sum "
            "(E = ½Σ(y − t)²) → (y − t); an answer off by 2 or by n is a different convention.",
        ),
    ),
    Loss(
        "l1",
        "ℓ = |y − t|",
        "∂ℓ/∂y = sign(y − t)   (0 at y = t, torch's convention)",
        functional=_l1,
        gradient=_l1_gradient,
        gradient_rhs="sign(y − t)",
        untrusted=_l1_untrusted,
    ),
    Loss(
        "huber",
        "ℓ = ½(y − t)² if |y − t| ≤ δ, else δ(|y − t| − ½δ)",
        "∂ℓ/∂y = (y − t) if |y − t| ≤ δ, else δ·sign(y − t)",
        functional=_huber,
        gradient=_huber_gradient,
        params=(Param("delta", 1.0, check=_positive, requirement="> 0"),),
        grouped=True,
    ),
    Loss(
        "smooth_l1",
        "ℓ = ½(y − t)²/β if |y − t| < β, else |y − t| − ½β   (β = 0: |y − t|)",
        "∂ℓ/∂y = (y − t)/β if |y − t| < β, else sign(y − t)",
        functional=_smooth_l1,
        gradient=_smooth_l1_gradient,
        params=(Param("beta", 1.0, check=_non_negative, requirement=">= 0"),),
        grouped=True,
        untrusted=_smooth_l1_untrusted,
    ),
    Loss(
        "bce",
        "ℓ = −(t·log y + (1 − t)·log(1 − y))   (each log clamped at −100, as torch)",
        "∂ℓ/∂y = (y − t) / (y(1 − y))",
        functional=_bce,
        gradient=_bce_gradient,
        pred_is="probabilities in [0, 1]",
        target_is="values in [0, 1]",
        prepare=_prepare_bce,
        untrusted=_bce_untrusted,
        fd_input=_unit_interval,
        grouped=True,
        gradient_rhs="(y − t) / max(y(1 − y), 1e-12)",  # torch's floor, see BCE_GRAD_EPSILON
    ),
    Loss(
        "bce_with_logits",
        "ℓ = −(t·log σ(z) + (1 − t)·log(1 − σ(z)))",
        "∂ℓ/∂z = σ(z) − t",
        functional=_bce_logits,
        gradient=_bce_logits_gradient,
        pred_is="logits",
        target_is="values in [0, 1]",
        prepare=_prepare_unit_target,
        gradient_rhs="(σ(z) − t)",
        link=SIGMOID_LINK,
    ),
    Loss(
        "cross_entropy",
        "ℓ = −Σ_c q_c·log softmax(z)_c,  q = onehot(t) or the given probabilities, "
        "smoothed: q = (1 − ε)q + ε/C",
        "∂ℓ/∂z = softmax(z) − q",
        functional=_ce,
        gradient=_ce_gradient,
        params=(Param("label_smoothing", 0.0, check=_fraction, requirement="in [0, 1]"),),
        pred_is="logits, one row per sample",
        target_is="class indices (one per row), or probabilities of --pred's shape",
        target_kind=TargetKind.classes_or_probabilities,
        mean_over="N = samples, the rows of --pred",
        prepare=_prepare_cross_entropy,
        gradient_rhs="(softmax(z) − q)",
        link=SOFTMAX_LINK,
    ),
    Loss(
        "nll",
        "ℓ = −x_t   (x = log-probabilities, t = class index)",
        "∂ℓ/∂x = −onehot(t)",
        functional=_nll,
        gradient=_nll_gradient,
        pred_is="log-probabilities, one row per sample",
        target_is="class indices (one per row)",
        target_kind=TargetKind.classes,
        mean_over="N = samples, the rows of --pred",
        prepare=_prepare_classes,
        gradient_rhs="−onehot(t)",
    ),
    Loss(
        "kl_div",
        "ℓ = t·(log t − x)   (x = log-probabilities; 0 where t = 0)",
        "∂ℓ/∂x = −t",
        functional=_kl,
        gradient=_kl_gradient,
        params=(Param("log_target", "false", choices=("false", "true")),),
        pred_is="log-probabilities",
        target_is="probabilities of --pred's shape (log-probabilities if log_target=true)",
        mean_over="n = all elements: torch's reduction='mean', not 'batchmean' (= sum/rows)",
        prepare=_prepare_kl_div,
        gradient_rhs="−t",
    ),
)

LOSSES: dict[str, Loss] = {loss.name: loss for loss in LOSS_LIST}


def markdown_table() -> str:
    """Markdown table of every registered loss (README.md's generated:losses section)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| name | --pred | --target | ℓ (per element) | ∂ℓ/∂y (analytic side, before reduction) "
        "| reductions | parameters (torch defaults) |",
        "|---|---|---|---|---|---|---|",
    ]
    for loss in LOSS_LIST:
        cells = (
            loss.name,
            loss.pred_is,
            loss.target_is,
            loss.formula,
            loss.gradient_formula,
            ", ".join(r.value for r in loss.reductions),
            ", ".join(p.describe() for p in loss.params) or "—",
        )
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def get_loss(name: str) -> Loss:
    """The registry entry called ``name``, or an InputError suggesting the closest."""
    try:
        return LOSSES[name.strip().lower()]
    except KeyError:
        raise unknown("loss", name, LOSSES) from None
