"""Table and LaTeX renderers for `gradcli expr` (registered on import).

Formulas arrive pretty-printed by the core in Unicode and in ASCII; the table picks ASCII
when NO_COLOR is set or the output cannot encode the Unicode drawing characters, and the
one-line form when the pretty one is wider than the terminal.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from gradcli.render.fit import Column, FitTable
from gradcli.render.latex import as_latex
from gradcli.render.plain import wants_ascii
from gradcli.render.table import (
    ELLIPSIS,
    MATRIX_LIMIT,
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
)
from gradcli.results import flatten, main_answer
from gradcli.results.expr import ExprResult, Formula


class FormulaLines:
    """Pretty-printed equations, in the form that suits the console they are printed on."""

    def __init__(self, formulas: list[Formula | None], style: str = "") -> None:
        self.formulas = formulas
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        ascii_only = wants_ascii(console)
        for formula in self.formulas:
            if formula is None:
                yield Text(ELLIPSIS)
                continue
            block = formula.ascii if ascii_only else formula.unicode
            if max(len(line) for line in block.splitlines()) > options.max_width:
                label = formula.label_ascii if ascii_only else formula.label
                yield Text(f"{label} = {formula.text}", style=self.style)
            else:
                yield Text(block, style=self.style, no_wrap=True)


def _point(result: ExprResult, precision: int) -> str:
    parts = []
    for name, value in result.at.items():
        written = result.at_written.get(name, "")
        shown = number(value, precision)
        parts.append(
            f"{name} = {written} = {shown}" if _differs(written, value) else f"{name} = {shown}"
        )
    return ", ".join(parts)


def _differs(written: str, value: float) -> bool:
    try:
        return float(written) != value
    except ValueError:
        return True


class Either:
    """One of two texts: the Unicode one, or the ASCII one where formulas are ASCII."""

    def __init__(self, unicode: Text, ascii: Text) -> None:
        self.unicode, self.ascii = unicode, ascii

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.ascii if wants_ascii(console) else self.unicode


def _values(result: ExprResult, precision: int) -> Either:
    def line(labels: list[str]) -> Text:
        names = [label.split("(")[0] for label in labels]
        values = ", ".join(
            f"{name} = {number(v, precision)}" for name, v in zip(names, result.value, strict=True)
        )
        return Text(f"at {_point(result, precision)}:  {values}")

    return Either(
        line([f.label for f in result.functions]), line([f.label_ascii for f in result.functions])
    )


class EntryTable:
    """Symbolic, autograd and numeric values side by side, one row per derivative entry, its
    labels in the console's form (∂f/∂x, or df/dx in ASCII); a FitTable never cuts a number."""

    def __init__(self, result: ExprResult, precision: int) -> None:
        self.result, self.precision = result, precision

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        result, precision = self.result, self.precision
        check = result.check
        count = len(result.entries())
        formulas = flatten(result.derivatives)
        defined = flatten(result.defined)
        analytic, autograd = flatten(check.analytic), flatten(check.autograd)
        diffs, oks = flatten(check.abs_diff), flatten(check.ok)
        has_numeric = check.numeric is not None
        numeric = flatten(check.numeric) if has_numeric else []
        trusted = flatten(check.trusted) if check.trusted is not None else [True] * count
        expected = answer_column(main_answer(result), count)
        headers = ["symbolic", "autograd"] + (["numeric"] if has_numeric else [])
        headers += ["|diff|", ""] + (["expected"] if expected else [])
        columns = [Column("", justify="left", key=True), *(Column(h) for h in headers)]
        ascii_only = wants_ascii(console)
        rows: list[list[str | Text]] = []
        for k in pick(count, VECTOR_LIMIT):
            if k is None:
                rows.append([ELLIPSIS] * len(columns))
                continue
            exists = defined[k]
            label = formulas[k].label_ascii if ascii_only else formulas[k].label
            cells: list[str | Text] = [
                label,
                number(analytic[k], precision)
                if exists
                else Text("does not exist", style="yellow"),
                number(autograd[k], precision),
            ]
            if has_numeric:
                cells.append(numeric_cell(numeric[k], trusted[k], precision))
            cells += [f"{diffs[k]:.1e}", tick(oks[k])] if exists else ["", Text("—", style="dim")]
            cells += [expected_cell(*expected[k], precision)] if expected else []
            rows.append(cells)
        yield FitTable(columns, rows, caption=summary_caption(count))


class SymbolicMatrix:
    """The Jacobian or Hessian at the point as a matrix of symbolic values: rows are the
    expressions (or variables), columns the variables; split into blocks when wide."""

    def __init__(self, result: ExprResult, precision: int) -> None:
        self.result, self.precision = result, precision

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        result = self.result
        ascii_only = wants_ascii(console)
        what = "Jacobian" if result.kind == "jacobian" else "Hessian"
        if result.kind == "jacobian":
            labels = [
                (f.label_ascii if ascii_only else f.label).split("(")[0] for f in result.functions
            ]
        else:
            labels = list(result.variables)
        if len(labels) > MATRIX_LIMIT or len(result.variables) > MATRIX_LIMIT:
            return  # the entry table above has every value (and --json)
        rows = [
            [label, *(number(v, self.precision) if v is not None else Text("DNE", style="dim")
                      for v in row)]
            for label, row in zip(labels, result.check.analytic, strict=True)
        ]  # fmt: skip
        columns = [Column("", justify="left", key=True), *map(Column, result.variables)]
        yield Text(f"{what} at the point (symbolic)", style="bold")
        yield FitTable(columns, rows)


def _verdict(result: ExprResult) -> Text:
    check = result.check
    tol = f"(atol {check.tolerance.atol:g}, rtol {check.tolerance.rtol:g})"
    diff = f"max |diff| {check.max_abs_diff:.1e}"
    oks = [ok for ok in flatten(check.ok) if ok is not None]
    missing = len(flatten(result.defined)) - len(oks)
    entries = "the 1 entry that exists" if len(oks) == 1 else f"the {len(oks)} entries that exist"
    scope = f" on {entries} ({missing} {'does' if missing == 1 else 'do'} not)" if missing else ""
    if not oks:
        return Text("no derivative entry exists at this point; nothing to compare", style="bold")
    if check.agree:
        return Text(
            f"✓ derivatives agree{scope}: {diff} within tolerance {tol}", style="bold green"
        )
    bad = sum(not ok for ok in oks)
    return Text(
        f"✗ derivatives DISAGREE in {bad} of {len(oks)} entries{' that exist' if missing else ''}:"
        f" {diff} {tol}",
        style="bold red",
    )


@as_renderable.register
def _(result: ExprResult, precision: int) -> RenderableType:
    formulas = flatten(result.derivatives)
    shown: list[Formula | None] = [
        None if k is None else formulas[k] for k in pick(len(formulas), VECTOR_LIMIT)
    ]
    what = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian"}[result.kind]
    size = "×".join(
        str(n)
        for n in (
            [len(formulas)]
            if not result.is_matrix
            else [len(result.defined), len(result.defined[0])]
        )
    )
    plot = []
    if result.curve is not None:
        from gradcli.render.plot import curve_renderable

        plot.append(curve_renderable(result.curve))
    derivatives: list[RenderableType] = [FormulaLines(shown)]
    if result.steps is not None:
        from gradcli.render.steps import StepsView

        derivatives = [StepsView(result.steps, _point(result, precision), precision)]
    if result.graph is not None:
        from gradcli.render.graph import GraphSection

        derivatives += [Text(""), GraphSection(result.graph, precision)]
    return Group(
        *plot,
        FormulaLines(result.functions, style="bold"),
        _values(result, precision),
        Text(""),
        *derivatives,
        Text(""),
        Text(f"{what} ({size}, {result.dtype})", style="bold"),
        EntryTable(result, precision),
        *([SymbolicMatrix(result, precision)] if result.is_matrix else []),
        *[
            Either(Text(note, style="yellow"), Text(plain, style="yellow"))
            for note, plain in zip(result.notes, result.notes_ascii, strict=True)
        ],
        *steps_section(result, precision),
        _verdict(result),
        *marks_lines(result, precision),
    )


# --- LaTeX ---------------------------------------------------------------------------------

LATEX_DIGITS = 6


def latex_number(value: float | None) -> str:
    """A number as LaTeX: 1.5, -0.416147, 2.5 \\times 10^{-7}; None → does not exist."""
    if value is None:
        return r"\text{does not exist}"
    text = f"{value + 0.0:.{LATEX_DIGITS}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def _matrix(rows: list[list[str]]) -> str:
    body = r" \\ ".join(" & ".join(row) for row in rows)
    return rf"\begin{{pmatrix}} {body} \end{{pmatrix}}"


@as_latex.register
def _(result: ExprResult) -> str:
    lines = [rf"{f.label_latex} &= {f.latex}" for f in result.functions]
    point = ", ".join(latex_number(v) for v in result.at.values())
    analytic = result.check.analytic
    if result.kind == "gradient":
        lines += [rf"{f.label_latex} &= {f.latex}" for f in result.derivatives]
        values = r",\ ".join(latex_number(v) for v in analytic)
        lines.append(rf"\nabla f\left({point}\right) &= \left({values}\right)")
    else:
        symbol = "J" if result.kind == "jacobian" else "H"
        lines.append(
            rf"{symbol} &= " + _matrix([[f.latex for f in row] for row in result.derivatives])
        )
        numbers = [[latex_number(v) for v in row] for row in analytic]
        lines.append(rf"{symbol}\left({point}\right) &= " + _matrix(numbers))
    text = "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"
    if result.steps is not None:
        from gradcli.render.steps import steps_latex

        at = ", ".join(f"{name} = {latex_number(v)}" for name, v in result.at.items())
        text += steps_latex(result.steps, latex_number, at)
    return text
