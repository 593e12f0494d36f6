"""Table rendering of `gradcli layer` results (registered on import).

Tensors of any rank are shown as labelled 2-D slices (``∂L/∂x[n=0, c=1]``, rows h,
columns w) through ``matrix_table``; each gradient also gets a comparison table, one row
per entry (analytic, autograd, numeric, |diff|, ✓), summarized when long. Numbers are
never cut: long tables drop rows, never digits.
"""

from __future__ import annotations

import itertools
from typing import Any

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradcli.marking import RIGHT
from gradcli.render.fit import Column, FitTable
from gradcli.render.solution_table import marks_lines
from gradcli.render.table import (
    EDGE,
    ELLIPSIS,
    MATRIX_LIMIT,
    VECTOR_LIMIT,
    as_renderable,
    matrix_table,
    number,
    numeric_cell,
    pick,
    tick,
)
from gradcli.results.layer import (
    LayerGradient,
    LayerListing,
    LayerResult,
    LayerStep,
    TensorInfo,
    flat,
    indices,
)

SHOW_VALUES = 36  # inputs, y and G up to this many entries are printed; larger ones summarized
SLICE_LIMIT = 6  # slices of a 3-D/4-D tensor shown (first and last EDGE beyond it)
WORST = 3  # failing entries added to a summarized comparison table


def _shape(shape: list[int]) -> str:
    return "×".join(str(n) for n in shape) if shape else "scalar"


def _columns(items: list[RenderableType]) -> Columns:
    return Columns(items, padding=(0, 2))


# ---------------------------------------------------------------- tensors as 2-D slices


def _slices(value: Any, shape: list[int]) -> list[tuple[tuple[int, ...], list[list[float]]]]:
    """(leading index, matrix) for every 2-D slice, summarized beyond SLICE_LIMIT."""
    if len(shape) == 1:
        return [((), [value])]
    if len(shape) == 2:
        return [((), value)]
    lead = shape[:-2]
    count = 1
    for n in lead:
        count *= n
    chosen = pick(count, SLICE_LIMIT)
    all_lead = indices(lead)
    out = []
    for k in chosen:
        if k is None:
            continue
        index = all_lead[k]
        node = value
        for i in index:
            node = node[i]
        out.append((index, node))
    return out


def tensor_tables(
    title: str, value: Any, shape: list[int], dim_names: list[str], precision: int, signs: bool
) -> list[RenderableType]:
    """A tensor as matrix tables (one per 2-D slice), titled with the slice's index."""
    names = (
        list(dim_names) if len(dim_names) == len(shape) else [f"d{i}" for i in range(len(shape))]
    )
    if not shape:
        return [Text(f"{title} = {number(value, precision)}")]
    labels = (names[-2], names[-1]) if len(shape) >= 2 else ("", names[-1])
    tables: list[RenderableType] = []
    slices = _slices(value, shape)
    for index, matrix in slices:
        where = ", ".join(f"{n}={i}" for n, i in zip(names, index, strict=False))
        name = f"{title}[{where}]" if where else title
        tables.append(matrix_table(name, matrix, precision, signs, labels=labels))
    total = 1
    for n in shape[:-2]:
        total *= n
    if len(shape) > 2 and total > len(slices):
        tables.append(
            Text(f"… {total - len(slices)} more {names[-2]}×{names[-1]} slices; --json has all")
        )
    return tables


def _tensor_section(info: TensorInfo, title: str, precision: int) -> list[RenderableType]:
    size = 1
    for n in info.shape:
        size *= n
    source = {
        "drawn": "drawn from --seed",
        "given": "given",
        "state": "drawn from --seed",
        "default": "torch's initial value",
    }.get(info.source, "")
    heading = f"{title}  ({_shape(info.shape)}{', ' + source if source else ''})"
    if info.value is None:
        return [Text(f"{title}: none")]
    if size > SHOW_VALUES:
        return [Text(f"{heading}: {size:,} entries, not printed; --json has them")]
    return [Text(heading, style="bold"), _columns(
        tensor_tables(title, info.value, info.shape, info.dim_names, precision, False)
    )]  # fmt: skip


# ---------------------------------------------------------------- one gradient


def _rows_to_show(
    count: int, numeric: list | None, oks: list, diffs: list, sampled: bool
) -> list[int | None]:
    """Entry numbers for the comparison table: all, or first/last, some numerically checked
    ones and the worst failures, with None where rows are left out."""
    if count <= VECTOR_LIMIT:
        return list(range(count))
    chosen = set(range(EDGE)) | set(range(count - EDGE, count))
    if sampled and numeric is not None:
        checked = (k for k, v in enumerate(numeric) if v is not None and k not in chosen)
        chosen |= set(itertools.islice(checked, EDGE))
    bad = [k for k, ok in enumerate(oks) if not ok]
    chosen |= set(sorted(bad, key=lambda k: -diffs[k])[:WORST])
    rows: list[int | None] = []
    previous = -1
    for k in sorted(chosen):
        if k != previous + 1:
            rows.append(None)
        rows.append(k)
        previous = k
    return rows


def _index(position: int, shape: list[int]) -> str:
    """``2,0,1`` for entry ``position`` of a row-major tensor of ``shape``."""
    index = []
    for size in reversed(shape):
        position, rest = divmod(position, size)
        index.append(rest)
    return ",".join(str(i) for i in reversed(index))


def comparison_table(grad: LayerGradient, precision: int) -> FitTable:
    """One row per entry: index, analytic, autograd, numeric, |diff|, ✓ (split into column
    blocks, the index repeated, when the terminal is too narrow)."""
    check = grad.check
    analytic, autograd = flat(check.analytic), flat(check.autograd)
    numeric = flat(check.numeric) if check.numeric is not None else None
    trusted = flat(check.trusted) if check.trusted is not None else None
    diffs, oks = flat(check.abs_diff), flat(check.ok)
    headers = ["analytic", "autograd"] + (["numeric"] if numeric is not None else [])
    columns = [Column(",".join(grad.dim_names) or "i", key=True)]
    columns += [Column(header) for header in [*headers, "|diff|"]] + [Column("", "center")]
    rows: list[list[str | Text]] = []
    shown = _rows_to_show(len(analytic), numeric, oks, diffs, grad.numeric_sampled)
    for k in shown:
        if k is None:
            rows.append([ELLIPSIS] * len(columns))
            continue
        cells: list[str | Text] = [
            _index(k, grad.shape),
            number(analytic[k], precision),
            number(autograd[k], precision),
        ]
        if numeric is not None:
            cells.append(numeric_cell(numeric[k], bool(trusted and trusted[k]), precision))
        cells += [f"{diffs[k]:.1e}", tick(oks[k])]
        rows.append(cells)
    caption = None
    if len(analytic) > VECTOR_LIMIT:
        caption = f"{len(analytic):,} entries, {len(shown) - shown.count(None)} shown"
    return FitTable(columns, rows, caption=caption, header_style="bold")


def _sides(result: LayerResult) -> str:
    return "analytic, autograd and numeric" if result.numeric else "analytic and autograd"


def gradient_verdict(grad: LayerGradient, numeric: bool) -> Text:
    check = grad.check
    tol = f"(atol {check.tolerance.atol:g}, rtol {check.tolerance.rtol:g})"
    diff = f"max |diff| {check.max_abs_diff:.1e}"
    if check.agree:
        who = "all three agree" if numeric else "analytic and autograd agree"
        return Text(f"✓ ∂L/∂{grad.name}: {who}, {diff} {tol}", style="bold green")
    bad = sum(not ok for ok in flat(check.ok))
    return Text(
        f"✗ ∂L/∂{grad.name}: DISAGREE in {bad} of {grad.numeric_total} entries, {diff} {tol}",
        style="bold red",
    )


def _gradient_section(result: LayerResult, grad: LayerGradient, precision: int) -> list:
    names = " × ".join(grad.dim_names)
    parts: list[RenderableType] = [
        Text(
            f"∂L/∂{grad.name}{f' = ∂L/∂{grad.symbol}' if grad.symbol != grad.name else ''}"
            f"   ({_shape(grad.shape)}: {names})",
            style="bold underline",
        ),
        Text(f"  {grad.formula}"),
    ]
    if len(grad.shape) >= 2:
        parts.append(
            _columns(
                tensor_tables(
                    f"∂L/∂{grad.name} analytic",
                    grad.check.analytic,
                    grad.shape,
                    grad.dim_names,
                    precision,
                    True,
                )
            )
        )
    parts.append(comparison_table(grad, precision))
    parts += [Text(note, style="yellow") for note in grad.notes]
    parts.append(gradient_verdict(grad, result.numeric))
    return parts


# ---------------------------------------------------------------- steps


def _step_section(step: LayerStep, precision: int) -> list[RenderableType]:
    heading = Text(f"[{step.key}] " if step.key else "", style="dim")
    heading.append(step.label, style="bold")
    if step.formula:
        heading.append(f"   {step.formula}", style="")
    parts: list[RenderableType] = [heading]
    if step.value is not None and step.shape is not None:
        if len(step.shape) == 0:
            parts.append(Text(f"  = {number(step.value, precision)}"))
        elif len(step.shape) == 1:
            parts.append(_vector(step.value, step.dim_names, precision))
        else:
            parts.append(
                _columns(
                    tensor_tables(
                        step.symbol or step.label.split(" ")[0],
                        step.value,
                        step.shape,
                        step.dim_names,
                        precision,
                        False,
                    )
                )
            )
    parts += [Text(f"  {line}") for line in step.lines]
    return parts


def _vector(values: Any, dim_names: list[str], precision: int) -> FitTable:
    """A short vector as one row (index → value), summarized beyond the limit."""
    name = dim_names[0] if dim_names else "i"
    chosen = pick(len(values), MATRIX_LIMIT)
    columns = [Column(ELLIPSIS if k is None else f"{name}={k}") for k in chosen]
    row = [ELLIPSIS if k is None else number(values[k], precision) for k in chosen]
    return FitTable(columns, [row], header_style="bold")


# ---------------------------------------------------------------- the whole result


def _header(result: LayerResult) -> list[RenderableType]:
    params = ", ".join(f"{k}={_param(v)}" for k, v in result.params.items())
    upstream = {
        "random": "drawn (standard normal, --seed)",
        "ones": "all ones",
        "given": "from --upstream",
    }[result.upstream_kind]
    finals = "".join(
        f" + Σ {info.name} ⊙ {info.name[-1]}_n" for info in result.final_upstreams
    )  # G_h → + Σ G_h ⊙ h_n
    return [
        Text(f"{result.name}: {result.summary}", style="bold"),
        Text(f"  {result.forward_formula}"),
        Text(f"  parameters: {params or 'none'};  {result.dtype}"),
        Text(
            f"  L = Σ G ⊙ y{finals} with G = ∂L/∂y {upstream};  y is {_shape(result.output.shape)}"
        ),
    ]


def _answer_tables(result: LayerResult, precision: int) -> list[RenderableType]:
    """The user's answers with a ✓/✗ per entry, laid out and labelled like the gradient."""
    tables: list[RenderableType] = []
    by_name = {grad.name: grad for grad in result.grads}
    marks = result.marks
    for item in marks if marks is not None else []:
        key, part = item.key, item.check
        if item.key not in by_name or (len(marks) > 1 and item.status == RIGHT):
            continue  # y and the steps' quantities: the mark sheet shows them
        values, oks = part.expected, part.ok
        if not (values and isinstance(values[0], list)):
            values, oks = [values], [oks]
        if len(oks) != len(values) or len(oks[0]) != len(values[0]):
            continue  # a transposed answer: the summary line says what happened
        names = by_name[key].dim_names
        if len(names) == 2:
            labels = (names[0], names[1])
        elif len(names) > 2:
            labels = ("row", names[-1])
        else:
            labels = ("", names[-1] if names else "i")
        tables.append(
            matrix_table(f"your answer for ∂L/∂{key}", values, precision, False, oks, labels)
        )
    return tables


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _overall(result: LayerResult) -> Text:
    names = ", ".join(f"∂L/∂{grad.name}" for grad in result.grads)
    diff = f"max |diff| {result.max_abs_diff:.1e}"
    tol = f"(atol {result.atol:g}, rtol {result.rtol:g})"
    sampled = "; numeric sampled" if result.numeric and result.numeric_sampled else ""
    if result.agree:
        return Text(
            f"✓ {_sides(result)} agree on {names}: {diff} {tol}{sampled}",
            style="bold green",
        )
    return Text(f"✗ gradients DISAGREE: {diff} {tol}{sampled}", style="bold red")


@as_renderable.register
def _(result: LayerResult, precision: int) -> RenderableType:
    parts: list[RenderableType] = _header(result)
    values = [(info, info.name) for info in result.inputs if info.source != "none"]
    values += [(info, info.name) for info in result.state]
    values += [(result.output, "y"), *((info, info.name) for info in result.final_states)]
    values += [(result.upstream, "G"), *((info, info.name) for info in result.final_upstreams)]
    for info, title in values:
        parts += _tensor_section(info, title, precision)
    for grad in result.grads:
        parts += _gradient_section(result, grad, precision)
    if result.steps is not None:
        parts.append(Text("Worked backward pass (the hand derivation)", style="bold underline"))
        for step in result.steps:
            parts += _step_section(step, precision)

    parts += [Text(note, style="yellow") for note in result.notes]
    parts.append(_overall(result))
    if result.marks is not None:
        tables = _answer_tables(result, precision)
        parts += [_columns(tables)] if tables else []
        parts += marks_lines(result, precision)
    return Group(*parts)


@as_renderable.register
def _(result: LayerListing, precision: int) -> RenderableType:
    """``layer --list``: one block per layer (inputs, parameters, forward, backward)."""
    parts: list[RenderableType] = [
        Text("Layers: L = Σ G ⊙ y, G = --upstream (random by default); every backward is "
             "written from its closed form", style="bold")
    ]  # fmt: skip
    for name, summary, lines in result.blocks:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for label, text in lines:
            grid.add_row(Text(f"  {label}"), Text(text))  # Text: brackets stay brackets
        parts += [Text(""), Text(f"{name} — {summary}", style="bold"), grid]
    return Group(*parts)
