"""The parsed tree as a torch function: what autograd and the finite differences see.

Every node becomes the torch op a user would write (``torch.sin``, ``torch.pow``…), and every
activation is the registry's torch forward with torch's default parameters, so autograd
reports exactly what torch would, kinks included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gradcli._torch import load
from gradcli.expr.language import CONSTANTS, Call, Const, Neg, Node, Num, Power, Product, Sum, Var
from gradcli.ops.activations import ACTIVATIONS

torch = load("torch")
Tensor = Any


def gamma(x: Tensor) -> Tensor:
    """Γ(x) = ±exp(lgamma(x)) on the whole real line (torch has lgamma, not Γ): the sign is −
    where x < 0 and ⌊x⌋ is odd."""
    odd = torch.remainder(torch.floor(x), 2) != 0
    sign = torch.where((x < 0) & odd, -torch.ones_like(x), torch.ones_like(x))
    return sign * torch.exp(torch.lgamma(x))


def real_cbrt(x: Tensor) -> Tensor:
    """The real cube root, negative x too."""
    return torch.sign(x) * torch.abs(x) ** (1 / 3)


def defaults(name: str) -> dict[str, Any]:
    """torch's default parameters of a registry activation."""
    return {param.name: param.default for param in ACTIVATIONS[name].params}


def activation_forwards() -> dict[str, Callable[[Tensor], Tensor]]:
    """Every registry activation as torch computes it, with torch's default parameters."""
    return {name: _forward(name) for name in ACTIVATIONS}


def _forward(name: str) -> Callable[[Tensor], Tensor]:
    activation, params = ACTIVATIONS[name], defaults(name)
    return lambda u: activation.forward(u, params)


def _hardsigmoid_twice_differentiable(x: Tensor) -> Tensor:
    """F.hardsigmoid has no second derivative in torch; this has the same value and first
    derivative (1/6 strictly inside (−3, 3), 0 elsewhere, also at ±3) and a second one (0)."""
    inside = (x > -3) & (x < 3)
    return torch.where(
        inside, x / 6 + 0.5, torch.where(x >= 3, torch.ones_like(x), torch.zeros_like(x))
    )


# stand-ins for the Hessian, where torch cannot differentiate an activation twice
SECOND_ORDER_STAND_INS: dict[str, Callable[[Tensor], Tensor]] = {
    "hardsigmoid": _hardsigmoid_twice_differentiable,
}

MATHS: dict[str, Callable[..., Tensor]] = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "asinh": torch.asinh,
    "acosh": torch.acosh,
    "atanh": torch.atanh,
    "exp": torch.exp,
    "log": lambda x, base=None: torch.log(x) if base is None else torch.log(x) / torch.log(base),
    "log2": torch.log2,
    "log10": torch.log10,
    "sqrt": torch.sqrt,
    "cbrt": real_cbrt,
    "abs": torch.abs,
    "sign": torch.sign,
    "erf": torch.erf,
    "erfc": torch.erfc,
    "gamma": gamma,
    "min": torch.minimum,
    "max": torch.maximum,
}


class TorchFunction:
    """``f(x)`` for a tensor ``x`` whose last dimension holds the variables in order.

    Variables not in ``variables`` keep their values from ``fixed``. Batched: ``x`` of shape
    (..., n) gives f of shape (...).
    """

    def __init__(
        self,
        tree: Node,
        variables: Sequence[str],
        fixed: Mapping[str, float],
        second_order: bool = False,
    ) -> None:
        self.tree = tree
        self.index = {name: i for i, name in enumerate(variables)}
        self.fixed = dict(fixed)
        self.functions: dict[str, Callable[..., Tensor]] = {**activation_forwards(), **MATHS}
        if second_order:
            self.functions.update(SECOND_ORDER_STAND_INS)

    def __call__(self, x: Tensor) -> Tensor:
        value = self.node(self.tree, x)
        return value.expand(x.shape[:-1]) if value.shape != x.shape[:-1] else value

    def node(self, node: Node, x: Tensor) -> Tensor:
        if isinstance(node, Num):
            return torch.tensor(float(node.value), dtype=x.dtype)
        if isinstance(node, Const):
            return torch.tensor(CONSTANTS[node.name], dtype=x.dtype)
        if isinstance(node, Var):
            if node.name in self.index:
                return x[..., self.index[node.name]]
            return torch.tensor(self.fixed[node.name], dtype=x.dtype)
        if isinstance(node, Neg):
            return -self.node(node.operand, x)
        if isinstance(node, Sum):
            total = self.node(node.terms[0], x)
            for term in node.terms[1:]:
                total = total + self.node(term, x)
            return total
        if isinstance(node, Product):
            return self.product(node, x)
        if isinstance(node, Power):
            exponent = self.node(node.exponent, x)
            if isinstance(node.base, Const) and node.base.name == "e":
                return torch.exp(exponent)
            return torch.pow(self.node(node.base, x), exponent)
        if isinstance(node, Call):
            return self.functions[node.name](*[self.node(arg, x) for arg in node.args])
        raise TypeError(f"no torch form for {node!r}")

    def product(self, node: Product, x: Tensor) -> Tensor:
        value = self.node(node.factors[0], x)
        for factor in node.factors[1:]:
            value = value * self.node(factor, x)
        for divisor in node.divisors:
            value = value / self.node(divisor, x)
        return value


def stacked(functions: Sequence[TorchFunction]) -> Callable[[Tensor], Tensor]:
    """Several functions as one: x of shape (..., n) → values of shape (..., m)."""

    def f(x: Tensor) -> Tensor:
        return torch.stack([function(x) for function in functions], dim=-1)

    return f
