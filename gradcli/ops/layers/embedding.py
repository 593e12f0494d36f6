"""embedding (F.embedding): a lookup table; ∂L/∂W is the scatter-add of G's rows into
the rows looked up (repeated indices accumulate), and the indices get no gradient.

With ``padding_idx`` = p the row W[p] gets no gradient at all: torch leaves it out of the
scatter-add although the forward still reads it (the padding token's vector stays as it
is). That is a rule, not a derivative: finite differences see the true derivative there,
so they are left out of the verdict on that row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gradcli._torch import F, torch
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
    STEP_LINES,
    Layer,
    LayerInput,
    LayerParam,
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
    padding_row(params, w[0])  # checks padding_idx against the table
    return (*idx, w[1])


def padding_row(params: Params, rows: int) -> int | None:
    """The row padding_idx names, negative values counted from the end as torch
    normalises them (−1 → rows − 1); None without one. InputError when out of range."""
    index = params["padding_idx"]
    if index is None:
        return None
    if not -rows <= index < rows:
        raise InputError(
            f"embedding: --param padding_idx={index} is out of range: weight has {rows} rows, "
            f"so padding_idx runs from {-rows} to {rows - 1} (negative counts from the end)"
        )
    return index % rows


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
    return F.embedding(t["indices"], t["weight"], p["padding_idx"])


def _scatter(w: Tensor, idx: Tensor, g: Tensor) -> Tensor:
    """Row r sums the rows of G at every position holding index r."""
    return torch.zeros_like(w).index_add_(0, idx.reshape(-1), g.reshape(-1, w.shape[1]))


def _embedding_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    """Scatter-add, then the padding row (if any) set to 0."""
    w, idx = t["weight"], t["indices"]
    dw = _scatter(w, idx, g)
    row = padding_row(p, w.shape[0])
    if row is not None:
        dw[row] = 0.0
    return {"weight": dw}


def _embedding_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    idx = t["indices"].reshape(-1).tolist()
    positions: dict[int, list[int]] = {}
    for position, row in enumerate(idx):
        positions.setdefault(row, []).append(position)
    shape = tuple(t["indices"].shape)
    padding = padding_row(p, t["weight"].shape[0])
    lines = []
    for row in sorted(positions):
        where = [_index_text(pos, shape) for pos in positions[row]]
        written = " + ".join(f"G[{w}]" for w in where[:6]) + (" + …" if len(where) > 6 else "")
        if row == padding:
            lines.append(
                f"∂L/∂W[{row}] = 0: the padding row (padding_idx) gets no gradient, though it "
                f"is looked up ({written} is dropped)"
            )
            continue
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


def _embedding_untrusted(t: Tensors, p: Params, name: str) -> Tensor | None:
    """The padding row, when it is looked up: torch's 0 there is a rule, and finite
    differences (the true derivative, the scatter-add) differ from it by design."""
    w = t["weight"]
    row = padding_row(p, w.shape[0])
    mask = torch.zeros_like(w, dtype=torch.bool)
    if row is not None and bool((t["indices"] == row).any()):
        mask[row] = True
    return mask


def _embedding_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    if name != "weight" or p["padding_idx"] is None:
        return []
    return [
        (
            "∂L/∂W with the padding row's gradient kept (padding_idx ignored)",
            _scatter(t["weight"], t["indices"], g),
        )
    ]


def _embedding_notes(params: Params, shapes: Shapes) -> list[str]:
    index = params["padding_idx"]
    if index is None:
        return []
    row = padding_row(params, shapes["weight"][0])
    which = f"padding_idx = {index} is row {row} (counted from the end, as torch normalises it)"
    return [
        f"{which if index < 0 else f'padding_idx = {index}'}: ∂L/∂W[{row}] is 0 by torch's "
        "rule, wherever the row is looked up"
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
    params=(
        LayerParam(
            "padding_idx",
            "int",
            None,
            "a row that gets no gradient (negative: from the end)",
            minimum=None,
        ),
    ),
    forward_formula="y[…] = W[indices[…]]",
    backward_formulas={
        "weight": "∂L/∂W[r] = Σ G[…] over the positions with indices[…] = r "
        "(scatter-add: repeated indices accumulate), 0 for r = padding_idx; indices get no "
        "gradient",
    },
    output_shape=_embedding_shape,
    default_shape=lambda name, shapes, params: None,
    forward=_embedding_forward,
    backward=_embedding_backward,
    steps=_embedding_steps,
    output_dims=lambda shapes: (*("n", "t", "s")[: len(shapes["indices"])], "d"),
    check_values=_embedding_values,
    untrusted=_embedding_untrusted,
    slips=_embedding_slips,
    notes=_embedding_notes,
    kinks_text="the padding_idx row: torch sets its gradient to 0 by rule, while finite "
    "differences measure the true derivative",
)
