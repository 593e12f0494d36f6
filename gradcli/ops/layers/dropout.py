"""dropout in training mode, its mask drawn from ``--seed`` and shown:
y = x·m/(1 − p), ∂L/∂x = G·m/(1 − p)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradcli._torch import torch
from gradcli.ops.layers.base import (
    Layer,
    LayerInput,
    LayerParam,
    Params,
    Shape,
    Shapes,
    Step,
    Tensors,
    _need_rank,
)

if TYPE_CHECKING:
    from torch import Tensor


def _dropout_shape(shapes: Shapes, params: Params) -> Shape:
    x = shapes["x"]
    _need_rank("dropout", "x", x, (1, 2, 3, 4), "any shape")
    return tuple(x)


def _dropout_state(shapes: Shapes, params: Params, generator) -> dict[str, Tensor]:
    """The mask, drawn as torch's dropout draws it (none when p = 0, as torch)."""
    x = shapes["x"]
    if params["p"] == 0:
        return {"mask": torch.ones(x)}
    return {"mask": torch.empty(x).bernoulli_(1 - params["p"], generator=generator)}


def _dropout_state_text(params: Params, shape: Shape) -> str:
    if params["p"] == 0:
        return "mask = ones (p = 0 draws nothing, as torch)"
    keep = 1 - params["p"]
    return f"mask = torch.empty({', '.join(map(str, shape))}).bernoulli_({keep:g})"


def _dropout_forward(t: Tensors, p: Params) -> Tensor:
    """torch's F.dropout with the mask made explicit: x · (m / (1 − p))."""
    return t["x"] * (t["mask"] / (1 - p["p"]))


def _dropout_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    return {"x": g * t["mask"] / (1 - p["p"])}


def _dropout_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    names = _generic_dims(t["x"].dim())
    kept = int(t["mask"].sum())
    return [
        Step(
            "mask m (1 = kept, 0 = dropped)",
            f"{kept} of {t['mask'].numel()} kept; each kept with probability 1 − p = "
            f"{1 - p['p']:g}",
            t["mask"],
            names,
        ),
        Step("scale 1/(1 − p)", f"= {1 / (1 - p['p']):.6g}", lines=()),
        Step("G = ∂L/∂y (upstream)", "", g, names),
        Step("∂L/∂x = G·m/(1 − p)", "", g * t["mask"] / (1 - p["p"]), names, key="x"),
    ]


def _dropout_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    return [("∂L/∂x = G·m, without the 1/(1 − p) scaling", g * t["mask"])]


def _elementwise_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    return [{"x": i, "mask": i, "y": i} for i in range(len(shapes["x"]))]


def _generic_dims(rank: int) -> tuple[str, ...]:
    return ("i", "j", "k", "l")[-rank:] if rank <= 2 else ("n", "c", "h", "w")[-rank:]


DROPOUT = Layer(
    name="dropout",
    summary="dropout, training mode, with the mask drawn from --seed and shown",
    inputs=(LayerInput("x", "any", "input", _generic_dims),),
    params=(
        LayerParam(
            "p",
            "float",
            0.5,
            "probability of dropping an entry",
            check=lambda v: 0 <= v < 1,
            requirement="in [0, 1)",
        ),
    ),
    forward_formula="y = x·m/(1 − p), m ~ Bernoulli(1 − p) per entry",
    backward_formulas={"x": "∂L/∂x = G·m/(1 − p)"},
    output_shape=_dropout_shape,
    broadcast_inputs=("x",),
    default_shape=lambda name, shapes, params: None,
    forward=_dropout_forward,
    backward=_dropout_backward,
    steps=_dropout_steps,
    output_dims=lambda shapes: _generic_dims(len(shapes["x"])),
    groups=_elementwise_groups,
    draw_state=_dropout_state,
    state_text=_dropout_state_text,
    slips=_dropout_slips,
)
