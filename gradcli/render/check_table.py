"""Table rendering of `gradcli check` results (registered on import)."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradcli.render.fit import Column, FitTable
from gradcli.render.table import NOT_COMPUTED, UNTRUSTED, as_renderable, number
from gradcli.results.check import CheckResult, GradientBlock, flatten_all

MAP_ROWS = 24  # a ✓/✗ map for ≤ 2-D inputs up to this many rows…
MAP_COLUMNS = 20  # …and columns (a vector longer than MAP_COLUMNS is folded into rows of
ROW_WRAP = 10  # ROW_WRAP, up to MAP_ROWS of them)
OK, BAD = "✓", "✗"


def _shape(shape: list[int]) -> str:
    return "×".join(str(n) for n in shape) if shape else "scalar"


def _index(index: list[int]) -> str:
    return "[" + ",".join(str(i) for i in index) + "]"


def _mark(value: bool | None, computed: bool = True) -> Text:
    """✓ or ✗ for a judged entry; the common marks for one left out of the verdict: ~ where
    its finite difference is not trusted, — where none was computed (a sampled check)."""
    if value is None:
        return Text(UNTRUSTED if computed else NOT_COMPUTED, style="dim")
    return Text(OK, style="green") if value else Text(BAD, style="bold red")


def _computed(block: GradientBlock) -> list[bool]:
    """Per input entry: whether a finite difference was computed for it (any probe)."""
    if block.numeric is None:
        return [False] * block.size
    values = flatten_all(block.numeric)
    size = max(block.size, 1)
    return [
        any(values[p * size + e] is not None for p in range(len(values) // size))
        for e in range(size)
    ]


def _header(result: CheckResult) -> list[RenderableType]:
    pair = f" with backward {result.backward}" if result.backward else ""
    form = ", NumPy" if result.numpy else ""
    title = Text(f"check {result.target}{pair}", style="bold")
    convention = f", {result.convention} convention" if result.convention == "cs231n" else ""
    kind = Text(
        f"{result.kind}{form}{convention}, {result.dtype}, order {result.order}", style="dim"
    )
    inputs = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    for column in ("input", "shape", "dtype", "from", "gradient"):
        inputs.add_column(column, overflow="fold")
    for info in result.inputs:
        origin = "values" if info.spec and not _is_drawn(info.spec) else "random"
        if info.spec.strip().lower().startswith("int"):
            origin = "integers"
        inputs.add_row(
            info.name,
            _shape(info.shape),
            info.dtype,
            f"{origin} ({_short(info.spec)})",
            "checked" if info.requires_grad else "none",
        )
    out = Text(f"output: {_shape(result.output_shape)}")
    if len(result.outputs) > 1:
        each = ", ".join(f"{o['name']} {_shape(o['shape'])}" for o in result.outputs)
        out = Text(f"outputs: {each} (one upstream each; {_shape(result.output_shape)} joined)")
    parts: list[RenderableType] = [title, kind, inputs]
    if result.kwargs:
        given = ", ".join(f"{k}={json.dumps(v)}" for k, v in result.kwargs.items())
        parts.append(Text(f"--kwarg {_short(given, 72)}"))
    return [*parts, out]


def _short(text: str, limit: int = 24) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _is_drawn(spec: str) -> bool:
    if spec.strip().lower() == "scalar":
        return True
    return all(part.strip().isdigit() for part in spec.lower().replace("×", "x").split("x"))


def _block_heading(block: GradientBlock, atol: float, rtol: float) -> Text:
    what = f"∂/∂{block.input}" if block.order == 1 else f"second order ∂(backward)/∂{block.input}"
    head = f"{what}  ({_shape(block.shape)})"
    if not block.compared:
        return Text(f"{head}: ✗ not compared: {block.problem}", style="bold red")
    diff = f"max |diff| {block.max_abs_diff:.1e}"
    checked = block.checked_count
    unchecked = f", {block.size - checked} not checked" if checked < block.size else ""
    if block.mismatch_count:
        return Text(
            f"{head}: ✗ {block.mismatch_count} of {block.size} entries wrong{unchecked}, {diff}",
            style="bold red",
        )
    if block.problem:
        return Text(f"{head}: ✗ {block.problem}", style="bold red")
    if not checked:
        return Text(f"{head}: no entry could be judged", style="bold yellow")
    entries = "entry" if checked == 1 else "entries"
    return Text(f"{head}: ✓ {checked} {entries} right{unchecked}, {diff}", style="bold green")


def _map(block: GradientBlock) -> RenderableType | None:
    """A grid of ✓/✗ marks in the input's shape (≤ 2-D and small enough), else None."""
    shape = block.shape
    marks = flatten_all(block.entry_ok) if shape else [block.entry_ok]
    if len(shape) > 2:
        return None
    computed = _computed(block)
    if len(shape) <= 1:
        n = len(marks)
        if n > MAP_ROWS * ROW_WRAP:
            return None
        width = n if n <= MAP_COLUMNS else ROW_WRAP
        rows = [marks[i : i + width] for i in range(0, n, width)]
        done = [computed[i : i + width] for i in range(0, n, width)]
        labels = [
            f"{block.input}[{i * width}:]" if n > width else block.input for i in range(len(rows))
        ]
        columns = list(range(width))
    else:
        r, c = shape
        if r > MAP_ROWS or c > MAP_COLUMNS:
            return None
        rows = [marks[i * c : (i + 1) * c] for i in range(r)]
        done = [computed[i * c : (i + 1) * c] for i in range(r)]
        labels = [f"i={i}" for i in range(r)]
        columns = list(range(c))
    grid = Table(box=None, padding=(0, 0, 0, 1), show_header=True, header_style="dim")
    grid.add_column("")
    for j in columns:
        grid.add_column(f"j={j}" if len(shape) == 2 else str(j), justify="center")
    for label, row, row_done in zip(labels, rows, done, strict=True):
        grid.add_row(
            Text(label, style="dim"),
            *[_mark(m, d) for m, d in zip(row, row_done, strict=True)],
            *[""] * (len(columns) - len(row)),
        )
    return grid


def _entry(block: GradientBlock, probe: str, index: list[int]) -> str:
    """``∂out[0, 1]/∂W[2, 0]`` (one Jacobian entry) or ``W[2, 0], dout = v1`` (a projection)."""
    where = f"{block.input}{_index(index) if index else ''}"
    if probe.startswith("v") and probe[1:].isdigit():
        return f"{where}, dout = {probe}"
    return f"∂{probe}/∂{where}"


def _details(block: GradientBlock, precision: int) -> list[RenderableType]:
    """The first wrong entries with both values."""
    if not block.details:
        return []
    columns = [
        Column("wrong entry", justify="left", key=True),
        Column(f"{block.input} there"),
        Column("yours"),
        Column("numeric"),
    ]
    rows = [
        [
            _entry(block, d.probe, d.index),
            number(d.value, precision),
            number(d.analytic, precision),
            number(d.numeric, precision),
        ]
        for d in block.details
    ]
    table = FitTable(columns, rows, header_style="bold")
    more = block.mismatch_count - len(block.details)
    if more <= 0:
        return [table]
    rest = f"… and {more} more wrong entr{'y' if more == 1 else 'ies'} (--json lists them)"
    return [table, Text(rest, style="dim")]


def _verdict(result: CheckResult) -> Text:
    tol = f"(atol {result.atol:g}, rtol {result.rtol:g})"
    blocks = [*result.gradients, *result.second_order]
    if result.agree:
        worst = max((b.max_abs_diff for b in blocks), default=0.0)
        return Text(
            f"✓ your gradients are right: every checked entry agrees, max |diff| {worst:.1e} {tol}",
            style="bold green",
        )
    wrong = [b for b in blocks if b.mismatch_count or not b.compared or b.problem]
    parts = [
        f"∂/∂{b.input}{' (2nd order)' if b.order == 2 else ''}"
        + (f" {b.mismatch_count}/{b.size} wrong" if b.mismatch_count else "")
        for b in wrong
    ]
    codes = sorted({d.code for d in result.diagnoses})
    if not parts and not codes:
        return Text(
            "✗ not verified: no finite difference could be trusted (see the notes)",
            style="bold yellow",
        )
    if not parts:
        return Text(
            f"✗ your code has a defect ({', '.join(codes)}), though the gradient values agree",
            style="bold red",
        )
    return Text(f"✗ your gradients are WRONG: {'; '.join(parts)} {tol}", style="bold red")


@as_renderable.register
def _(result: CheckResult, precision: int) -> RenderableType:
    parts: list[RenderableType] = _header(result)
    for block in [*result.gradients, *result.second_order]:
        parts.append(Text(""))
        parts.append(_block_heading(block, result.atol, result.rtol))
        grid = _map(block) if block.compared else None
        if grid is not None:
            parts.append(grid)
        parts += _details(block, precision)
    parts.append(Text(""))
    if result.diagnoses:
        parts.append(Text("diagnosis:", style="bold"))
        for d in result.diagnoses:
            parts.append(Text(f"• {d.code}: {d.message}"))
    for note in result.notes:
        parts.append(Text(note, style="yellow"))
    parts.append(_verdict(result))
    return Group(*parts)
