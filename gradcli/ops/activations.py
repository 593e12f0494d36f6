"""The activation registry: every activation defined once.

Each record holds torch's forward (whose backward is what autograd reports), the
analytic derivative written from its closed-form formula (never via autograd),
the formulas as text, torch's default parameters and the points where the
function is not differentiable. The CLI, ``--list``, the README table and the
tests all iterate over :data:`ACTIVATIONS`.

Importing this module does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gradcli._torch import F, torch
from gradcli.errors import InputError, unknown
from gradcli.params import Param, ParamValues, resolve

if TYPE_CHECKING:
    from torch import Tensor

Fn = Callable[["Tensor", ParamValues], "Tensor"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_COEF = 0.044715


def _positive(value: float) -> bool:
    return value > 0


def _nonzero(value: float) -> bool:
    return value != 0


@dataclass(frozen=True)
class Activation:
    """One activation function and everything gradcli knows about it."""

    name: str
    formula: str
    derivative_formula: str
    forward: Fn
    derivative: Fn
    params: tuple[Param, ...] = ()
    kinks: Callable[[ParamValues], tuple[float, ...]] = lambda p: ()
    convention: str = ""  # what the analytic side uses at the kinks (torch's choice)
    validate: Callable[[ParamValues], str | None] = lambda p: None
    variants: tuple[tuple[str, str, str, str], ...] = ()  # (param, value, formula, derivative)
    # f' written in terms of the output o = f(x), as in σ' = σ(1 − σ), with that formula's text
    via_output: tuple[str, Callable[[Tensor], Tensor]] | None = None

    def formulas(self, params: ParamValues) -> tuple[str, str]:
        """The formula and derivative formula that apply with these parameters."""
        for key, value, formula, derivative in self.variants:
            if params.get(key) == value:
                return formula, derivative
        return self.formula, self.derivative_formula

    def resolve_params(self, items: list[str]) -> ParamValues:
        """torch's defaults overridden by ``--param KEY=VALUE`` items."""
        values = resolve(self.params, items, self.name)
        problem = self.validate(values)
        if problem:
            raise InputError(f"{self.name}: {problem}")
        return values


def _step(condition: Tensor, like: Tensor) -> Tensor:
    return condition.to(like.dtype)


def _sigmoid_prime(x: Tensor, p: ParamValues) -> Tensor:
    return _sigmoid_slope(torch.sigmoid(x))


def _sigmoid_slope(o: Tensor) -> Tensor:
    """σ(1 − σ) from σ = o, as (−o + 1)·o: the same bits as o * (1 - o) without the
    scalar-first subtraction (Tensor.__rsub__ costs µs per call in a training loop)."""
    return (-o).add_(1).mul_(o)


def _tanh_slope(o: Tensor) -> Tensor:
    """1 − o² from tanh = o, as −(o·o) + 1 (the same bits, as above)."""
    return (o * o).neg_().add_(1)


def _gelu_prime(x: Tensor, p: ParamValues) -> Tensor:
    if p["approximate"] == "tanh":
        k = math.sqrt(2 / math.pi)
        u = torch.tanh(k * (x + GELU_TANH_COEF * x**3))
        return 0.5 * (1 + u) + 0.5 * x * (1 - u**2) * k * (1 + 3 * GELU_TANH_COEF * x**2)
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    return cdf + x * pdf


def _softplus_prime(x: Tensor, p: ParamValues) -> Tensor:
    bx = p["beta"] * x
    return torch.where(bx > p["threshold"], torch.ones_like(x), torch.sigmoid(bx))


def _mish_prime(x: Tensor, p: ParamValues) -> Tensor:
    t = torch.tanh(F.softplus(x))
    return t + x * torch.sigmoid(x) * (1 - t**2)


def _hardswish_prime(x: Tensor, p: ParamValues) -> Tensor:
    middle = x / 3 + 0.5
    return torch.where(x <= -3, torch.zeros_like(x), torch.where(x < 3, middle, torch.ones_like(x)))


def _hardtanh_order(p: ParamValues) -> str | None:
    if p["max_val"] < p["min_val"]:
        return f"max_val ({p['max_val']:g}) must not be less than min_val ({p['min_val']:g})"
    return None


ACTIVATION_LIST: tuple[Activation, ...] = (
    Activation(
        "sigmoid",
        "σ(x) = 1 / (1 + e^(−x))",
        "σ'(x) = σ(x)(1 − σ(x))",
        forward=lambda x, p: torch.sigmoid(x),
        derivative=_sigmoid_prime,
        via_output=("o(1 − o)", _sigmoid_slope),
    ),
    Activation(
        "tanh",
        "tanh(x) = (eˣ − e^(−x)) / (eˣ + e^(−x)) = 2σ(2x) − 1",
        "tanh'(x) = 1 − tanh²(x)",
        forward=lambda x, p: torch.tanh(x),
        derivative=lambda x, p: 1 - torch.tanh(x) ** 2,
        via_output=("1 − o²", _tanh_slope),
    ),
    Activation(
        "relu",
        "relu(x) = max(0, x)",
        "relu'(x) = 1 if x > 0 else 0",
        forward=lambda x, p: F.relu(x),
        derivative=lambda x, p: _step(x > 0, x),
        kinks=lambda p: (0.0,),
        convention="relu'(0) = 0",
    ),
    Activation(
        "leaky_relu",
        "f(x) = x if x > 0 else negative_slope·x",
        "f'(x) = 1 if x > 0 else negative_slope",
        forward=lambda x, p: F.leaky_relu(x, p["negative_slope"]),
        derivative=lambda x, p: torch.where(
            x > 0, torch.ones_like(x), torch.full_like(x, p["negative_slope"])
        ),
        params=(Param("negative_slope", 0.01),),
        kinks=lambda p: () if p["negative_slope"] == 1 else (0.0,),
        convention="f'(0) = negative_slope",
    ),
    Activation(
        "elu",
        "f(x) = x if x > 0 else α(eˣ − 1)",
        "f'(x) = 1 if x > 0 else α·eˣ",
        forward=lambda x, p: F.elu(x, p["alpha"]),
        derivative=lambda x, p: torch.where(x > 0, torch.ones_like(x), p["alpha"] * torch.exp(x)),
        params=(Param("alpha", 1.0),),
        kinks=lambda p: () if p["alpha"] == 1 else (0.0,),
        convention="f'(0) = α",
    ),
    Activation(
        "selu",
        "f(x) = λx if x > 0 else λα(eˣ − 1)   (λ ≈ 1.0507, α ≈ 1.6733)",
        "f'(x) = λ if x > 0 else λα·eˣ",
        forward=lambda x, p: F.selu(x),
        derivative=lambda x, p: torch.where(
            x > 0, torch.full_like(x, SELU_SCALE), SELU_SCALE * SELU_ALPHA * torch.exp(x)
        ),
        kinks=lambda p: (0.0,),
        convention="f'(0) = λα",
    ),
    Activation(
        "celu",
        "f(x) = max(0, x) + min(0, α(e^(x/α) − 1))",
        "f'(x) = 1 if x > 0 else e^(x/α)",
        forward=lambda x, p: F.celu(x, p["alpha"]),
        derivative=lambda x, p: torch.where(x > 0, torch.ones_like(x), torch.exp(x / p["alpha"])),
        params=(Param("alpha", 1.0, check=_nonzero, requirement="non-zero"),),
    ),
    Activation(
        "gelu",
        "f(x) = x·Φ(x)   (Φ: standard normal CDF)",
        "f'(x) = Φ(x) + x·φ(x)   (φ: standard normal density)",
        forward=lambda x, p: F.gelu(x, approximate=p["approximate"]),
        derivative=_gelu_prime,
        params=(Param("approximate", "none", choices=("none", "tanh")),),
        variants=(
            (
                "approximate",
                "tanh",
                "f(x) = ½x(1 + u),  u = tanh(√(2/π)(x + 0.044715x³))",
                "f'(x) = ½(1 + u) + ½x(1 − u²)·√(2/π)(1 + 0.134145x²)",
            ),
        ),
    ),
    Activation(
        "softplus",
        "f(x) = ln(1 + e^(βx)) / β, or x where βx > threshold",
        "f'(x) = σ(βx), or 1 where βx > threshold",
        forward=lambda x, p: F.softplus(x, p["beta"], p["threshold"]),
        derivative=_softplus_prime,
        params=(
            Param("beta", 1.0, check=_positive, requirement="> 0"),
            Param("threshold", 20.0),
        ),
        kinks=lambda p: (p["threshold"] / p["beta"],),
        convention="torch switches to f(x) = x where βx > threshold",
    ),
    Activation(
        "silu",
        "silu(x) = x·σ(x)",
        "silu'(x) = σ(x)(1 + x(1 − σ(x)))",
        forward=lambda x, p: F.silu(x),
        derivative=lambda x, p: torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x))),
    ),
    Activation(
        "mish",
        "mish(x) = x·tanh(softplus(x))",
        "mish'(x) = tanh(softplus(x)) + x·σ(x)(1 − tanh²(softplus(x)))",
        forward=lambda x, p: F.mish(x),
        derivative=_mish_prime,
    ),
    Activation(
        "softsign",
        "f(x) = x / (1 + |x|)",
        "f'(x) = 1 / (1 + |x|)²",
        forward=lambda x, p: F.softsign(x),
        derivative=lambda x, p: 1 / (1 + torch.abs(x)) ** 2,
    ),
    Activation(
        "hardtanh",
        "f(x) = clamp(x, min_val, max_val)",
        "f'(x) = 1 if min_val < x < max_val else 0",
        forward=lambda x, p: F.hardtanh(x, p["min_val"], p["max_val"]),
        derivative=lambda x, p: _step((x > p["min_val"]) & (x < p["max_val"]), x),
        params=(Param("min_val", -1.0), Param("max_val", 1.0)),
        kinks=lambda p: (p["min_val"], p["max_val"]),
        convention="f' = 0 at min_val and at max_val",
        validate=_hardtanh_order,
    ),
    Activation(
        "hardsigmoid",
        "f(x) = clamp(x/6 + 1/2, 0, 1)",
        "f'(x) = 1/6 if −3 < x < 3 else 0",
        forward=lambda x, p: F.hardsigmoid(x),
        derivative=lambda x, p: _step((x > -3) & (x < 3), x) / 6,
        kinks=lambda p: (-3.0, 3.0),
        convention="f'(±3) = 0",
    ),
    Activation(
        "hardswish",
        "f(x) = x·clamp(x + 3, 0, 6) / 6",
        "f'(x) = 0 if x ≤ −3; x/3 + 1/2 if −3 < x < 3; 1 if x ≥ 3",
        forward=lambda x, p: F.hardswish(x),
        derivative=_hardswish_prime,
        kinks=lambda p: (-3.0, 3.0),
        convention="f'(−3) = 0 and f'(3) = 1",
    ),
    Activation(
        "relu6",
        "f(x) = min(max(0, x), 6)",
        "f'(x) = 1 if 0 < x < 6 else 0",
        forward=lambda x, p: F.relu6(x),
        derivative=lambda x, p: _step((x > 0) & (x < 6), x),
        kinks=lambda p: (0.0, 6.0),
        convention="f'(0) = f'(6) = 0",
    ),
    Activation(
        "logsigmoid",
        "f(x) = ln σ(x) = −softplus(−x)",
        "f'(x) = 1 − σ(x) = σ(−x)",
        forward=lambda x, p: F.logsigmoid(x),
        derivative=lambda x, p: torch.sigmoid(-x),
    ),
    Activation(
        "identity",
        "f(x) = x",
        "f'(x) = 1",
        forward=lambda x, p: x * 1,
        derivative=lambda x, p: torch.ones_like(x),
    ),
)

ACTIVATIONS: dict[str, Activation] = {act.name: act for act in ACTIVATION_LIST}


PLOT_SPAN = (-6.0, 6.0)  # where every activation's shape shows at its default parameters
PLOT_REACH = 1e6  # kinks and x values beyond this do not widen the default plot range


def plot_range(kinks: Sequence[float], points: Sequence[float] = ()) -> tuple[float, float]:
    """The default x range of ``--plot``: −6 … 6, widened to every kink and every x given
    (within ±PLOT_REACH) with a margin of max(1, 10 %) beyond it, to whole numbers —
    softplus's threshold at x = 20 gives −6 … 22, relu6's kink at 6 gives −6 … 7."""
    low, high = PLOT_SPAN
    for x in [*kinks, *points]:
        if abs(x) <= PLOT_REACH:
            margin = max(1.0, 0.1 * abs(x))
            low, high = min(low, x - margin), max(high, x + margin)
    return float(math.floor(low)), float(math.ceil(high))


def get_activation(name: str) -> Activation:
    """The registry entry called ``name``, or an InputError suggesting the closest."""
    try:
        return ACTIVATIONS[name.strip().lower()]
    except KeyError:
        raise unknown("activation", name, ACTIVATIONS) from None
