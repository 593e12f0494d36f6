"""Table rendering of `gradcli optim` results (registered on import)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from gradcli.render.fit import Column, FitTable
from gradcli.render.perceptron_table import history_epochs
from gradcli.render.solution_table import answer_lines
from gradcli.render.table import (
    ELLIPSIS,
    VECTOR_LIMIT,
    as_renderable,
    expected_cell,
    number,
    pick,
    tick,
)
from gradcli.results import flatten
from gradcli.results.optim import OptimRunResult, OptimStepResult, QuantityRow

ABSENT = "—"


def _options_text(options: dict) -> str:
    from gradcli.ops.optimizers import show_value

    return ", ".join(f"{key}={show_value(value)}" for key, value in options.items())


def _labels(shape_source: list) -> list[str]:
    """Entry labels: ``0, 1, …`` for a vector, ``0,1`` (row, column) for a matrix."""
    if shape_source and isinstance(shape_source[0], list):
        return [f"{r},{c}" for r, row in enumerate(shape_source) for c, _ in enumerate(row)]
    return [str(i) for i in range(len(shape_source))]


def _flat(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, (int, float)):
        return [value]
    return flatten(value)  # type: ignore[arg-type]


def _cell(value: object, precision: int) -> str:
    if value is None:
        return ABSENT
    if isinstance(value, int):
        return f"{value:,}"
    return number(value, precision)  # type: ignore[arg-type]


# ---------------------------------------------------------------- one step


def _inputs(result: OptimStepResult, precision: int) -> FitTable:
    """w, ∇ and each tensor state entry before the step, one row per entry."""
    labels = _labels(result.param)
    columns = [Column("i", key=True), Column("w"), Column("∇ (grad)")]
    sources: list[list] = [_flat(result.param), _flat(result.grad)]
    symbols = {row.key: row.symbol for row in result.quantities}
    for name, value in result.state.items():
        if name == "step":
            continue
        columns.append(Column(f"{name} {symbols.get(name, '')} before".replace("  ", " ")))
        sources.append(_flat(value) if value is not None else [None] * len(labels))
    rows = []
    for i in pick(len(labels), VECTOR_LIMIT):
        if i is None:
            rows.append([ELLIPSIS] * len(columns))
            continue
        rows.append([labels[i], *(_cell(source[i], precision) for source in sources)])
    return FitTable(columns, rows, title=Text("before the step"), header_style="bold")


def _shown_rows(result: OptimStepResult) -> list[QuantityRow]:
    """The compared quantities, plus intermediates with --steps or an answer for them."""
    answered = set(result.answer.parts) if result.answer is not None else set()
    return [
        row for row in result.quantities if row.compared or result.show_steps or row.key in answered
    ]


def _quantities(result: OptimStepResult, precision: int) -> FitTable:
    labels = _labels(result.param)
    parts = result.answer.parts if result.answer is not None else {}
    expected = any(row.key in parts for row in _shown_rows(result))
    headers = ["by hand", f"torch.optim.{result.torch_class}", "|diff|", ""]
    columns = [Column("quantity", justify="left", key=True), Column("i", key=True)]
    columns += [Column(h) for h in headers] + ([Column("expected")] if expected else [])
    rows: list[list] = []
    for row in _shown_rows(result):
        hand = _flat(row.by_hand)
        theirs = _flat(row.torch_optim)
        diffs = flatten(row.check.abs_diff) if row.check is not None else []
        oks = flatten(row.check.ok) if row.check is not None else []
        part = parts.get(row.key)
        written = flatten(part.written) if part is not None else []
        marks = flatten(part.ok) if part is not None else []
        scalar = isinstance(row.by_hand, (int, float))
        names = labels if len(hand) == len(labels) and not scalar else [""] * len(hand)
        title = f"{row.key} ({row.symbol})" if row.symbol != row.key else row.key
        for n, i in enumerate(pick(len(hand), VECTOR_LIMIT)):
            if i is None:
                rows.append(["", ELLIPSIS, *[ELLIPSIS] * (len(columns) - 2)])
                continue
            cells: list = [title if n == 0 else "", names[i], _cell(hand[i], precision)]
            if theirs:
                cells += [_cell(theirs[i], precision), f"{diffs[i]:.1e}", tick(oks[i])]
            else:
                cells += ["", "", ""]
            if expected:
                fits = part is not None and len(written) == len(hand)
                cells.append(expected_cell(written[i], marks[i], precision) if fits else "")
            rows.append(cells)
    return FitTable(columns, rows, title=Text("the step"), header_style="bold")


def _formulas(result: OptimStepResult) -> list[Text]:
    lines = [Text("the update (in this order):", style="bold")]
    for row in result.quantities:
        line = f"  {row.formula}"
        if result.show_steps and row.detail:
            line += f"   [{row.detail}]"
        lines.append(Text(line))
    return lines


def _step_verdict(result: OptimStepResult) -> Text:
    tol = f"(atol {result.atol:g}, rtol {result.rtol:g})"
    diff = f"max |diff| {result.max_abs_diff:.1e}"
    compared = "the new parameter and state" if result.state else "the new parameter"
    if result.agree:
        return Text(
            f"✓ by hand and torch.optim agree on {compared}: {diff} within tolerance {tol}",
            style="bold green",
        )
    return Text(f"✗ by hand and torch.optim DISAGREE: {diff} {tol}", style="bold red")


@as_renderable.register
def _(result: OptimStepResult, precision: int) -> RenderableType:
    form = " (CS231n's form)" if result.convention == "cs231n" else ""
    title = Text(
        f"{result.name}: one step by hand vs torch.optim.{result.torch_class}{form}", style="bold"
    )
    parts: list[RenderableType] = [title, Text(f"options: {_options_text(result.options)}")]
    step = result.state.get("step")
    if step is not None:
        given = "given" if "step" in result.state_given else "a fresh optimizer"
        parts.append(
            Text(f"step count before: t = {step:,} ({given}); this step is t = {step + 1:,}")
        )
    parts.append(_inputs(result, precision))
    parts += _formulas(result)
    parts.append(_quantities(result, precision))
    parts += [Text(note, style="yellow") for note in result.notes]
    parts.append(_step_verdict(result))
    parts += answer_lines(result.answer)
    return Group(*parts)


# ---------------------------------------------------------------- a minimisation


def _run_rows(result: OptimRunResult, precision: int) -> FitTable:
    columns = [Column("step k", key=True), *(Column(v) for v in result.variables)]
    columns += [Column("f"), Column("‖∇f‖"), Column("|diff|")]
    rows: list[list] = []
    previous = None
    for k in history_epochs(result.steps_taken):
        if previous is not None and k != previous + 1:
            rows.append([ELLIPSIS] * len(columns))
        rows.append(
            [
                f"{k:,}",
                *(number(v, precision) for v in result.params[k]),
                number(result.f[k], precision),
                number(result.grad_norm(k), precision),
                f"{result.diffs[k]:.1e}",
            ]
        )
        previous = k
    caption = Text(
        f"point after k steps by hand; |diff| against torch.optim there; --json has all "
        f"{result.steps_taken + 1:,}"
    )
    return FitTable(columns, rows, caption=caption, header_style="bold")


def _run_verdict(result: OptimRunResult) -> Text:
    tol = f"(atol {result.atol:g}, rtol {result.rtol:g})"
    diff = f"max |diff| {result.max_abs_diff:.1e}"
    if result.agree:
        return Text(
            f"✓ by hand and torch.optim agree at every step: {diff} within tolerance {tol}",
            style="bold green",
        )
    first = result.first_disagreement
    where = f" from step {first:,}" if first is not None else ""
    return Text(
        f"✗ by hand and torch.optim DISAGREE{where}: {diff} (step {result.worst_step:,}) {tol}",
        style="bold red",
    )


def _point_text(result: OptimRunResult, k: int, precision: int) -> str:
    return ", ".join(
        f"{name} = {number(value, precision)}"
        for name, value in zip(result.variables, result.params[k], strict=True)
    )


def _plots(result: OptimRunResult) -> list[RenderableType]:
    from gradcli.render.plot import CurvePlot, Figure, Mark, Series

    assert result.plot is not None
    width, height = result.plot
    steps = list(range(len(result.f)))
    values = result.f
    log = all(v > 0 for v in values) and max(values) > 100 * min(values)
    plots: list[RenderableType] = [
        CurvePlot(
            Figure(
                series=(Series(f"f after k steps ({result.expression})", steps, values),),
                title=f"f against the step k{' (log scale)' if log else ''}",
                log_y=log,
                x_integer=True,
            ),
            width,
            height,
        )
    ]
    contours = result.contours
    if contours is not None:
        nan = float("nan")
        xs: list[float] = []
        ys: list[float] = []
        for curve in contours.curves:
            xs += [x for x, _ in curve] + [nan]
            ys += [y for _, y in curve] + [nan]
        path_x = [p[0] for p in result.params]
        path_y = [p[1] for p in result.params]
        levels = ", ".join(f"{level:.3g}" for level in contours.levels)
        x_name, y_name = result.variables
        figure = Figure(
            series=(
                Series(f"the path ({x_name}, {y_name}) by hand", path_x, path_y),
                Series(f"contours f = {levels}", xs, ys),
            ),
            marks=(Mark(path_x[0], path_y[0], 0), Mark(path_x[-1], path_y[-1], 0)),
            title=f"the path on the ({x_name}, {y_name}) plane ({x_name} across, {y_name} up)",
            notes=(("mark", "the start and the end"),),
            x_range=contours.x_range,
            y_range=contours.y_range,
        )
        plots.append(CurvePlot(figure, width, height))
    return plots


@as_renderable.register
def _(result: OptimRunResult, precision: int) -> RenderableType:
    start = _point_text(result, 0, precision)
    title = Text(
        f"{result.name} minimising f = {result.expression} from {start}: "
        f"{result.steps_taken:,} step{'s' if result.steps_taken != 1 else ''} by hand vs "
        f"torch.optim.{result.torch_class}",
        style="bold",
    )
    parts: list[RenderableType] = [title, Text(f"options: {_options_text(result.options)}")]
    if result.plot is not None:
        parts += _plots(result)
    parts.append(_run_rows(result, precision))
    last = result.steps_taken
    parts.append(
        Text(
            f"after {last:,} steps: {_point_text(result, last, precision)}, "
            f"f = {number(result.f[last], precision)}"
        )
    )
    parts += [Text(note, style="yellow") for note in result.notes]
    parts.append(_run_verdict(result))
    parts += answer_lines(result.answer)
    return Group(*parts)
