"""linear (F.linear): y = x Wᵀ + b; ∂L/∂x = G W, ∂L/∂W = Gᵀ x, ∂L/∂b = Σ_n G[n]."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradcli._torch import F
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
    _BIAS_HELP,
    STEP_LINES,
    Layer,
    LayerInput,
    Params,
    Shape,
    Shapes,
    Step,
    Tensors,
    _names,
    _need_rank,
    _need_vector,
    _prod,
    _sum_text,
    dims_text,
)

if TYPE_CHECKING:
    from torch import Tensor


def _linear_shape(shapes: Shapes, params: Params) -> Shape:
    x, w, b = shapes["x"], shapes["weight"], shapes.get("bias")
    _need_rank("linear", "x", x, (1, 2, 3, 4), "…×in")
    _need_rank("linear", "weight", w, (2,), "out×in")
    if w[1] != x[-1]:
        raise InputError(
            f"linear: --weight has {w[1]} input columns but --x has {x[-1]} features "
            f"(x is {dims_text(x)}, weight is {dims_text(w)}; weight is out×in like "
            "nn.Linear.weight)"
        )
    _need_vector("linear", "bias", b, w[0], f"weight is {dims_text(w)} ({w[0]} outputs)")
    return (*x[:-1], w[0])


def _linear_default(name: str, shapes: Shapes, params: Params) -> Shape | None:
    if name == "bias" and shapes.get("weight"):
        return (shapes["weight"][0],)
    return None


def _linear_forward(t: Tensors, p: Params) -> Tensor:
    return F.linear(t["x"], t["weight"], t.get("bias"))


def _linear_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x, w = t["x"], t["weight"]
    g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])  # rows = samples
    grads = {"x": g @ w, "weight": g2.T @ x2}
    if t.get("bias") is not None:
        grads["bias"] = g2.sum(dim=0)
    return grads


def _linear_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x, w = t["x"], t["weight"]
    x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    steps = [
        Step(
            "y = x Wᵀ + b",
            "",
            F.linear(x, w, t.get("bias")),
            _linear_out_dims(x.dim()),
            key="y",
        ),
        Step("G = ∂L/∂y (upstream)", "", g, _linear_out_dims(x.dim())),
    ]
    out, fan_in = w.shape
    if out * fan_in <= STEP_LINES:
        lines = []
        for o in range(out):
            for i in range(fan_in):
                terms = [(float(g2[n, o]), float(x2[n, i])) for n in range(x2.shape[0])]
                lines.append(f"∂L/∂W[{o},{i}] = Σ_n G[n,{o}]·x[n,{i}] = {_sum_text(terms)}")
        steps.append(Step("∂L/∂W = Gᵀ x, entry by entry", lines=tuple(lines)))
    return steps


def _linear_out_dims(rank: int) -> tuple[str, ...]:
    return (*("n", "t", "s")[: rank - 1], "o") if rank > 1 else ("o",)


LINEAR = Layer(
    name="linear",
    summary="fully connected: y = x Wᵀ + b (F.linear)",
    inputs=(
        LayerInput(
            "x",
            "…×in",
            "input, rows = samples",
            _names(("i",), ("n", "i"), ("n", "t", "i"), ("n", "t", "s", "i")),
        ),
        LayerInput(
            "weight",
            "out×in",
            "weights, nn.Linear layout (a vector: one row)",
            _names(("o", "i")),
            symbol="W",
        ),
        LayerInput(
            "bias",
            "out",
            _BIAS_HELP,
            _names(("o",)),
            none_allowed=True,
            symbol="b",
            init="fan_in_uniform",
            init_owner="nn.Linear",
        ),
    ),
    params=(),
    forward_formula="y = x Wᵀ + b",
    backward_formulas={
        "x": "∂L/∂x = G W",
        "weight": "∂L/∂W = Gᵀ x (summed over the samples)",
        "bias": "∂L/∂b = Σ_n G[n]",
    },
    output_shape=_linear_shape,
    default_shape=_linear_default,
    forward=_linear_forward,
    backward=_linear_backward,
    steps=_linear_steps,
    output_dims=lambda shapes: _linear_out_dims(len(shapes["x"])),
    groups=lambda shapes, params: (
        [{"weight": 0, "bias": 0, "y": -1}]
        + [{"x": i, "y": i} for i in range(len(shapes["x"]) - 1)]
    ),
    multiply_adds=lambda shapes, params, out: _prod(out) * shapes["weight"][1],
    reshape=lambda name, shape: (1, *shape) if name == "weight" and len(shape) == 1 else shape,
    broadcast_inputs=("x",),
)
