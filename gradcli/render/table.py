"""Rich tables for humans. Numbers arrive as plain floats; styling only."""

from __future__ import annotations

from functools import singledispatch
from typing import Any, TextIO

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradcli.expect import AnswerCheck, AnswerSet
from gradcli.render.fit import Column, FitTable
from gradcli.render.heatmap import HeatLegend, HeatMap, heat_scale, heat_style
from gradcli.render.numbers import number
from gradcli.render.plain import ascii_renderable
from gradcli.render.solution_table import marks_lines, steps_section
from gradcli.results import GradientCheck, flatten, main_answer
from gradcli.results.activation import ActivationResult
from gradcli.results.curve import PlotOnly
from gradcli.results.softmax import SoftmaxJacobianResult
from gradcli.streams import can_encode

MATRIX_LIMIT = 8  # larger matrices show their first and last EDGE rows and columns
VECTOR_LIMIT = 20
EDGE = 3
ELLIPSIS = "…"


def console_for(out: TextIO) -> Console:
    """A console on ``out``; Rich drops colour when it is not a terminal or NO_COLOR is set.
    Never Jupyter's display (Rich would send the table there instead of to ``out``, inside
    a notebook's kernel: ``str(result)`` would be empty)."""
    return Console(file=out, highlight=False, force_jupyter=False)


def print_renderable(renderable: RenderableType, out: TextIO) -> None:
    """Print on ``out``, with ASCII stand-ins when its encoding cannot hold the symbols."""
    if not can_encode(getattr(out, "encoding", None)):
        renderable = ascii_renderable(renderable)
    console_for(out).print(renderable)


def write_table(result: Any, out: TextIO, precision: int) -> None:
    print_renderable(as_renderable(result, precision), out)


NOT_COMPUTED = "—"  # a numeric entry left out of a sampled check
# An entry left out of the verdict (its finite difference is not trusted: a kink, overflow,
# rounding, a function finer than the step): the same mark in every command's tables.
UNTRUSTED = "~"


def numeric_cell(value: float | None, trusted: bool, precision: int) -> str | Text:
    """A finite-difference value; dimmed and marked ``~`` where it is not trusted, a dash
    where it was not computed (sampled check)."""
    if value is None:
        return Text(NOT_COMPUTED, style="dim")
    shown = number(value, precision)
    return shown if trusted else Text(f"{shown} {UNTRUSTED}", style="dim")


def tick(ok: bool) -> Text:
    return Text("✓", style="green") if ok else Text("✗", style="bold red")


def verdict(check: GradientCheck, what: str) -> Text:
    """One line: agree or not, with the largest difference and the tolerance."""
    tol = f"(atol {check.tolerance.atol:g}, rtol {check.tolerance.rtol:g})"
    diff = f"max |diff| {check.max_abs_diff:.1e}"
    if check.agree:
        return Text(f"✓ {what} agree: {diff} within tolerance {tol}", style="bold green")
    entries = _flatten(check.ok)
    bad = sum(not ok for ok in entries)
    return Text(
        f"✗ {what} DISAGREE in {bad} of {len(entries)} entries: {diff} {tol}", style="bold red"
    )


def expected_cell(value: str | float, ok: bool, precision: int) -> Text:
    """The user's value as typed (trailing zeros kept) with its ✓/✗."""
    shown = value if isinstance(value, str) else number(value, precision)
    return Text.assemble(shown + " ", tick(ok))


def answer_column(answer: AnswerCheck | None, count: int) -> list | None:
    """Cells of an "expected" column aligned with ``count`` flat entries, or None."""
    if answer is None:
        return None
    values, oks = flatten(answer.written), flatten(answer.ok)
    if len(values) != count or len(oks) != count:
        return None
    return list(zip(values, oks, strict=True))


def answer_matrices(answer: AnswerCheck | AnswerSet | None, precision: int) -> list[Table]:
    """The user's matrices with a ✓/✗ per entry."""
    if answer is None:
        return []
    parts = answer.parts.items() if isinstance(answer, AnswerSet) else [("", answer)]
    tables = []
    for key, part in parts:
        values, oks = part.written, part.ok
        if not (values and isinstance(values[0], list)):
            values, oks = [values], [oks]
        if len(oks) != len(values) or len(oks[0]) != len(values[0]):
            continue
        title = f"your answer{f' for {key}' if key else ''}"
        tables.append(matrix_table(title, values, precision, False, oks, _answer_labels(key)))
    return tables


def _answer_labels(key: str) -> tuple[str, str]:
    """Row and column labels of an answer's matrix, as the tables of that quantity have them:
    perceptron's layerN.weight and layerN.new_weight are W (rows k = nodes, columns j =
    inputs), its per-sample quantities (z, output, δ…) samples s × nodes k, a bias one row of
    nodes k; otherwise (i, j)."""
    if not key:
        return ("i", "j")
    if key.endswith("weight"):
        return ("k", "j")
    if key.rpartition(".")[2] in ("z", "output", "output_grad", "fprime", "delta"):
        return ("s", "k")
    return ("", "k")


def _flatten(values: list) -> list:
    return (
        [item for row in values for item in row]
        if values and isinstance(values[0], list)
        else values
    )


def summary_caption(n: int, limit: int = VECTOR_LIMIT) -> str | None:
    """Under a long table: only its first and last rows are shown."""
    if n > limit:
        return f"{n} rows, summarized: first and last {EDGE}; --json has all"
    return None


def pick(n: int, limit: int) -> list[int | None]:
    """Indices to show for ``n`` entries: all, or the edges with None for an ellipsis."""
    if n <= limit:
        return list(range(n))
    return [*range(EDGE), None, *range(n - EDGE, n)]


@singledispatch
def as_renderable(result: Any, precision: int) -> RenderableType:
    raise TypeError(f"no table renderer for {type(result).__name__}")


@as_renderable.register
def _(result: ActivationResult, precision: int) -> RenderableType:
    check = result.check
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    title = Text(
        f"{result.name}{f' ({params})' if params else ''}:  {result.formula}", style="bold"
    )
    expected = answer_column(main_answer(result), len(result.x))
    has_numeric = check.numeric is not None
    headers = ["f(x)", "f'(x) analytic", "autograd"]
    headers += ["numeric"] if has_numeric else []
    headers += ["|diff|", ""] + (["expected"] if expected else [])
    columns = [Column("x", key=True), *(Column(header) for header in headers)]
    rows = []
    for i in pick(len(result.x), VECTOR_LIMIT):
        if i is None:
            rows.append([ELLIPSIS] * len(columns))
            continue
        cells: list[str | Text] = [
            number(result.x[i], precision),
            number(result.value[i], precision),
            number(check.analytic[i], precision),
            number(check.autograd[i], precision),
        ]
        if has_numeric:
            cells.append(numeric_cell(check.numeric[i], check.trusted[i], precision))
        cells += [f"{check.abs_diff[i]:.1e}", tick(check.ok[i])]
        cells += [expected_cell(*expected[i], precision)] if expected else []
        rows.append(cells)
    table = FitTable(columns, rows, caption=summary_caption(len(result.x)))
    caption = Text(f"derivative used: {result.derivative_formula}  ({result.dtype})")
    notes = [Text(note, style="yellow") for note in result.notes]
    plot = []
    if result.curve is not None:
        from gradcli.render.plot import curve_renderable

        plot.append(curve_renderable(result.curve))
    return Group(
        *plot,
        title,
        table,
        caption,
        *steps_section(result, precision),
        *notes,
        verdict(check, "derivatives"),
        *marks_lines(result, precision),
    )


@as_renderable.register
def _(result: PlotOnly, precision: int) -> RenderableType:
    from gradcli.render.plot import curve_renderable

    return curve_renderable(result.curve)


def matrix_table(
    title: str,
    matrix: Any,
    precision: int,
    heat: bool = True,
    marks: Any = None,
    labels: tuple[str, str] = ("i", "j"),
    trusted: Any = None,
) -> FitTable:
    """A matrix (a Grid or nested lists) with row/column indices named by ``labels``,
    summarized beyond MATRIX_LIMIT; split into column blocks when it does not fit; numeric
    entries that ``trusted`` marks False are flagged ``~``. With ``heat``, cells are coloured
    by sign and by |value| relative to the largest shown, with a legend under the table —
    when the console has colour; otherwise the text is the same as without."""
    row_label, col_label = labels
    cols = pick(len(matrix[0]), MATRIX_LIMIT)
    columns = [Column("", key=True)]
    columns += [Column(ELLIPSIS if j is None else f"{col_label}={j}") for j in cols]
    shown_rows = [(i, None if i is None else matrix[i]) for i in pick(len(matrix), MATRIX_LIMIT)]
    scale = 0.0
    if heat and marks is None:
        scale = heat_scale(
            row[j] for _, row in shown_rows if row is not None for j in cols if j is not None
        )
    rows = []
    for i, values in shown_rows:
        if i is None:
            rows.append([ELLIPSIS] * len(columns))
            continue
        oks = None if marks is None else marks[i]
        trust = None if trusted is None else trusted[i]
        cells: list[str | Text] = [f"{row_label}={i}" if row_label else ""]
        for j in cols:
            if j is None:
                cells.append(ELLIPSIS)
            elif values[j] is None:
                cells.append(Text(NOT_COMPUTED, style="dim"))
            elif oks is not None:
                cells.append(expected_cell(values[j], oks[j], precision))
            elif trust is not None and not trust[j]:
                cells.append(numeric_cell(values[j], False, precision))
            else:
                style = heat_style(values[j], scale) if scale else None
                cells.append(Text(number(values[j], precision), style=style or ""))
        rows.append(cells)
    legend = HeatLegend(scale) if scale else None
    return FitTable(columns, rows, title=Text(title), header_style="bold", legend=legend)


@as_renderable.register
def _(result: SoftmaxJacobianResult, precision: int) -> RenderableType:
    check = result.check
    title = Text(f"p = softmax(a / T), T = {result.temperature:g}", style="bold")
    rows = [
        [ELLIPSIS] * 3
        if i is None
        else [
            str(i),
            number(result.input[i], precision),
            number(result.probabilities[i], precision),
        ]
        for i in pick(len(result.input), VECTOR_LIMIT)
    ]
    columns = [Column("i", key=True), Column("a_i"), Column("p_i")]
    probs = FitTable(columns, rows, caption=summary_caption(len(result.input)))
    n = len(result.input)
    heading = f"Jacobian {result.formula}   ({n}×{n}, {result.dtype})"
    if result.heatmap:
        return Group(
            title,
            probs,
            Text(heading, style="bold"),
            HeatMap(check.analytic, "∂p_i/∂a_j (the formula)"),
            Text(
                "autograd and finite differences are compared entry by entry (verdict below);"
                " --json has every entry"
            ),
            *[Text(note, style="yellow") for note in result.notes],
            *steps_section(result, precision),
            verdict(check, "Jacobians"),
            *marks_lines(result, precision),
        )
    if n > MATRIX_LIMIT:
        heading += f": summarized, first and last {EDGE} rows/columns; --json has every entry"
    tables = [
        matrix_table("analytic (the formula)", check.analytic, precision, True),
        matrix_table("autograd (grad of each p_i)", check.autograd, precision, True),
    ]
    if check.numeric is not None:
        tables.append(
            matrix_table(
                "numeric (finite differences)",
                check.numeric,
                precision,
                True,
                trusted=check.trusted,
            )
        )
    matrices = Columns([*tables, *answer_matrices(main_answer(result), precision)], padding=(0, 2))
    notes = [Text(note, style="yellow") for note in result.notes]
    return Group(
        title,
        probs,
        Text(heading, style="bold"),
        matrices,
        *steps_section(result, precision),
        *notes,
        verdict(check, "Jacobians"),
        *marks_lines(result, precision),
    )
