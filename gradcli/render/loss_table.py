"""Table renderer for `gradcli loss` (registered with as_renderable on import)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from gradcli.params import show_values
from gradcli.render.fit import Column, FitTable
from gradcli.render.table import (
    ELLIPSIS,
    VECTOR_LIMIT,
    answer_column,
    as_renderable,
    expected_cell,
    marks_lines,
    number,
    numeric_cell,
    pick,
    steps_section,
    summary_caption,
    tick,
    verdict,
)
from gradcli.results import flatten, main_answer
from gradcli.results.loss import LossResult


def _title(result: LossResult, precision: int) -> Text:
    params = show_values(result.params)
    name = f"{result.name} ({params})" if params else result.name
    return Text(
        f"{name}, reduction={result.reduction}:  L = {number(result.loss, precision)}",
        style="bold",
    )


def _caption(result: LossResult) -> list[Text]:
    divisor = ""
    if result.reduction == "mean":
        divisor = f", {result.divisor_symbol} = {result.divisor}"
    return [
        Text(f"loss: {result.formula};  {result.loss_formula}"),
        Text(f"gradient used: {result.gradient_formula}{divisor}  ({result.dtype})"),
    ]


def _element_table(result: LossResult, precision: int) -> FitTable:
    check = result.check
    width = result.shape[1]
    index_header = "r,c" if result.is_matrix else "i"  # row, column of --pred
    target_header = "target q" if result.target_kind == "class indices" else "target"
    pred, target = flatten(result.pred), flatten(result.target_elements)
    expected = answer_column(main_answer(result), len(pred))
    has_numeric = check.numeric is not None
    headers = ["pred", target_header, "analytic", "autograd"]
    headers += ["numeric"] if has_numeric else []
    headers += ["|diff|", ""] + (["expected"] if expected else [])
    columns = [Column(index_header, key=True), *(Column(header) for header in headers)]
    analytic, autograd = flatten(check.analytic), flatten(check.autograd)
    diffs, oks = flatten(check.abs_diff), flatten(check.ok)
    numeric = flatten(check.numeric) if has_numeric else []
    trusted = flatten(check.trusted) if check.trusted is not None else [True] * len(pred)
    rows = []
    for k in pick(len(pred), VECTOR_LIMIT):
        if k is None:
            rows.append([ELLIPSIS] * len(columns))
            continue
        cells: list[str | Text] = [
            f"{k // width},{k % width}" if result.is_matrix else str(k),
            number(pred[k], precision),
            number(target[k], precision),
            number(analytic[k], precision),
            number(autograd[k], precision),
        ]
        if has_numeric:
            cells.append(numeric_cell(numeric[k], trusted[k], precision))
        cells += [f"{diffs[k]:.1e}", tick(oks[k])]
        cells += [expected_cell(*expected[k], precision)] if expected else []
        rows.append(cells)
    title = Text("∂L/∂pred per element", style="bold")
    return FitTable(
        columns, rows, title=title, title_justify="left", caption=summary_caption(len(pred))
    )


@as_renderable.register
def _(result: LossResult, precision: int) -> RenderableType:
    notes = [Text(note, style="yellow") for note in result.notes]
    return Group(
        _title(result, precision),
        _element_table(result, precision),
        *_caption(result),
        *steps_section(result, precision),
        *notes,
        verdict(result.check, "gradients"),
        *marks_lines(result, precision),
    )
