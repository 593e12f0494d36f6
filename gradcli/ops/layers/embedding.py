"""embedding (F.embedding): a lookup table; ∂L/∂W is the scatter-add of G's rows into
the rows looked up (repeated indices accumulate), and the indices get no gradient."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gradcli._torch import F, torch
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
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
    dims_text,
)

if TYPE_CHECKING:
    from torch import Tensor


def _embedding_shape(shapes: Shapes, params: Params) -> Shape:
    idx, w = shapes["indices"], shapes["weight"]
    _need_rank("embedding", "indices", idx, (1, 2, 3), "…, integers")
    _need_rank("embedding", "weight", w, (2,), "num×dim")
    return (*idx, w[1])


def _embedding_values(shapes: Shapes, values: Mapping[str, Sequence[float]]) -> None:
    rows = shapes["weight"][0]
    for i, value in enumerate(values.get("indices", ())):
        where = f"--indices{_index(i, shapes['indices'])} = {value:g}"
        if value != int(value):
            raise InputError(f"embedding: {where} is not an integer")
        if not 0 <= value < rows:
            raise InputError(
                f"embedding: {where} is out of range: weight is {dims_text(shapes['weight'])}, "
                f"so indices run from 0 to {rows - 1}"
            )


def _index(flat: int, shape: Shape) -> str:
    """``[1]`` or ``[0][2]``: flat entry ``flat`` of a tensor of ``shape``, row-major."""
    parts = []
    for size in reversed(shape):
        flat, rest = divmod(flat, size)
        parts.append(f"[{rest}]")
    return "".join(reversed(parts))


def _embedding_forward(t: Tensors, p: Params) -> Tensor:
    return F.embedding(t["indices"], t["weight"])


def _embedding_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    """Scatter-add: row r of ∂L/∂W sums the rows of G at every position holding index r."""
    w, idx = t["weight"], t["indices"]
    dw = torch.zeros_like(w).index_add_(0, idx.reshape(-1), g.reshape(-1, w.shape[1]))
    return {"weight": dw}


def _embedding_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    idx = t["indices"].reshape(-1).tolist()
    positions: dict[int, list[int]] = {}
    for position, row in enumerate(idx):
        positions.setdefault(row, []).append(position)
    shape = tuple(t["indices"].shape)
    lines = []
    for row in sorted(positions):
        where = [_index_text(pos, shape) for pos in positions[row]]
        written = " + ".join(f"G[{w}]" for w in where[:6]) + (" + …" if len(where) > 6 else "")
        lines.append(
            f"∂L/∂W[{row}] = {written}" + ("  (repeated: accumulates)" if len(where) > 1 else "")
        )
    unused = t["weight"].shape[0] - len(positions)
    if unused:
        lines.append(f"the other {unused} row(s) of W are never looked up: their gradient is 0")
    return [
        Step("G = ∂L/∂y (upstream)", "", g, (*("n", "t", "s")[: len(shape)], "d")),
        Step(
            "scatter-add of G's rows into the looked-up rows of W",
            lines=tuple(lines[: 2 * STEP_LINES]),
        ),
    ]


def _index_text(position: int, shape: Shape) -> str:
    index = []
    for size in reversed(shape):
        index.append(position % size)
        position //= size
    return ",".join(str(i) for i in reversed(index))


EMBEDDING = Layer(
    name="embedding",
    summary="lookup table: y[…] = W[indices[…]] (F.embedding)",
    inputs=(
        LayerInput(
            "indices",
            "… (integers)",
            "row numbers into W",
            _names(("n",), ("n", "t"), ("n", "t", "s")),
            kind="index",
        ),
        LayerInput("weight", "num×dim", "the table", _names(("r", "d")), symbol="W"),
    ),
    params=(),
    forward_formula="y[…] = W[indices[…]]",
    backward_formulas={
        "weight": "∂L/∂W[r] = Σ G[…] over the positions with indices[…] = r "
        "(scatter-add: repeated indices accumulate); indices get no gradient",
    },
    output_shape=_embedding_shape,
    default_shape=lambda name, shapes, params: None,
    forward=_embedding_forward,
    backward=_embedding_backward,
    steps=_embedding_steps,
    output_dims=lambda shapes: (*("n", "t", "s")[: len(shapes["indices"])], "d"),
    check_values=_embedding_values,
)
