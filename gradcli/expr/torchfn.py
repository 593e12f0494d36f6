"""The parsed tree as a torch function: what autograd and the finite differences see.

Every node becomes the torch op a user would write (``torch.sin``, ``torch.pow``…), and every
activation is the registry's torch forward with torch's default parameters, so autograd
reports exactly what torch would, kinks included.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gradcli._torch import load
from gradcli.expr.functions import reciprocal_forms
from gradcli.expr.language import (
    CONSTANTS,
    FUNCTIONS,
    Call,
    Const,
    Neg,
    Node,
    Num,
    Power,
    Product,
    Sum,
    Var,
    walk,
)
from gradcli.ops.activations import ACTIVATIONS

torch = load("torch")
Tensor = Any


def gamma(x: Tensor) -> Tensor:
    """Γ(x) = ±exp(lgamma(x)) on the whole real line (torch has lgamma, not Γ): the sign is −
    where x < 0 and ⌊x⌋ is odd."""
    return _gamma_sign(x) * torch.exp(torch.lgamma(x))


def beta(a: Tensor, b: Tensor) -> Tensor:
    """B(a, b) = Γ(a)Γ(b)/Γ(a + b), from lgamma (no overflow of Γ itself) and Γ's signs."""
    magnitude = torch.exp(torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b))
    return _gamma_sign(a) * _gamma_sign(b) * _gamma_sign(a + b) * magnitude


def _gamma_sign(x: Tensor) -> Tensor:
    odd = torch.remainder(torch.floor(x), 2) != 0
    return torch.where((x < 0) & odd, -torch.ones_like(x), torch.ones_like(x))


def _reduce(combine: Callable[[Tensor, Tensor], Tensor]) -> Callable[..., Tensor]:
    def apply(*values: Tensor) -> Tensor:
        result = values[0]
        for value in values[1:]:
            result = combine(result, value)
        return result

    return apply


def _logsumexp(*values: Tensor) -> Tensor:
    return torch.logsumexp(torch.stack(torch.broadcast_tensors(*values)), dim=0)


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

# torch's form of every function of the language that has one (the SymPy-only functions
# of gradcli.expr.functions have none)
MATHS: dict[str, Callable[..., Tensor]] = {
    **reciprocal_forms(torch),
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "atan2": torch.atan2,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "asinh": torch.asinh,
    "acosh": torch.acosh,
    "atanh": torch.atanh,
    "exp": torch.exp,
    "expm1": torch.expm1,
    "log": lambda x, base=None: torch.log(x) if base is None else torch.log(x) / torch.log(base),
    "log2": torch.log2,
    "log10": torch.log10,
    "log1p": torch.log1p,
    "logsumexp": _logsumexp,
    "sqrt": torch.sqrt,
    "cbrt": real_cbrt,
    "abs": torch.abs,
    "sign": torch.sign,
    "min": _reduce(torch.minimum),
    "max": _reduce(torch.maximum),
    "sinc": lambda x: torch.sinc(x / math.pi),
    "erf": torch.erf,
    "erfc": torch.erfc,
    "erfinv": torch.erfinv,
    "gamma": gamma,
    "lgamma": torch.lgamma,
    "digamma": torch.digamma,
    "polygamma": lambda n, x: torch.special.polygamma(int(n), x),
    "beta": beta,
}


def has_torch_form(tree: Node) -> bool:
    """Whether every function of the tree has a torch form (else autograd cannot run)."""
    return all(FUNCTIONS[node.name].has_torch_form for node in walk(tree) if isinstance(node, Call))


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
            if node.name == "polygamma":  # the order stays a Python int
                order = int(node.args[0].value) if isinstance(node.args[0], Num) else None
                if order is None:
                    order = int(float(self.node(node.args[0], x)))
                return torch.special.polygamma(order, self.node(node.args[1], x))
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
