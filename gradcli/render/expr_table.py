"""Table and LaTeX renderers for `gradcli expr` (registered on import).

Formulas arrive pretty-printed by the core in Unicode and in ASCII; the table picks ASCII
when NO_COLOR is set or the output cannot encode the Unicode drawing characters, and the
one-line form when the pretty one is wider than the terminal.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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


def precise_text(text: str | None, precision: int) -> str:
    """A precise value's decimal text to ``precision`` significant digits (it may lie far
    outside float64's range: 4.09343e-391)."""
    if text is None:
        return ""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    as_float = float(value)
    if (as_float != 0 and abs(as_float) != float("inf")) or value == 0:
        return number(as_float + 0.0, precision)
    mantissa, _, exponent = f"{value:.{max(precision - 1, 0)}e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent):+03d}"


def _value_text(result: ExprResult, k: int, precision: int) -> str:
    """f at the point; where the dtype's value is off, the precise one with it."""
    precise = result.precise
    value = number(result.value[k], precision)
    if precise is None or not precise.value_off[k]:
        return value
    return f"{precise_text(precise.value_text[k], precision)} (precise; {result.dtype}: {value})"


def _values(result: ExprResult, precision: int) -> Either:
    def line(labels: list[str]) -> Text:
        names = [label.split("(")[0] for label in labels]
        values = ", ".join(
            f"{name} = {_value_text(result, k, precision)}" for k, name in enumerate(names)
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
        precise = result.precise if result.precise is not None and result.precise.shown else None
        precise_texts = flatten(precise.derivative_text) if precise else []
        flagged = flatten(result.flagged) if result.flagged else [False] * count
        torch_entries = _torch_entries(result)
        headers = ["symbolic", "autograd"] + (["numeric"] if has_numeric else [])
        headers += ["precise"] if precise else []
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
                _float_cell(analytic[k], precision, flagged[k])
                if exists
                else Text("does not exist", style="yellow"),
                _float_cell(autograd[k], precision, flagged[k])
                if torch_entries[k]
                else Text("no torch form", style="dim"),
            ]
            if has_numeric:
                cells.append(numeric_cell(numeric[k], trusted[k], precision))
            if precise:
                cells.append(precise_text(precise_texts[k], precision) if exists else "")
            if not exists:
                cells += ["", Text("—", style="dim")]
            else:
                mark = Text("!", style="bold yellow") if flagged[k] else tick(oks[k])
                cells += [f"{diffs[k]:.1e}", mark]
            cells += [expected_cell(*expected[k], precision)] if expected else []
            rows.append(cells)
        yield FitTable(columns, rows, caption=summary_caption(count))


def _torch_entries(result: ExprResult) -> list[bool]:
    """Per flat entry: whether its row has a torch form (an autograd value)."""
    available = result.autograd_available or [True]
    if not result.is_matrix or result.kind == "hessian":
        return [available[0]] * len(result.entries())
    return [available[i] for i, _ in result.entries()]


def _float_cell(value: float | None, precision: int, off: bool) -> str | Text:
    """A float column's value; in yellow where it is off from the precise value."""
    shown = "nan" if value is None else number(value, precision)
    return Text(shown, style="yellow") if off else shown


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
    flagged = sum(bool(f) for f in flatten(result.flagged)) if result.flagged else 0
    if check.agree and flagged:
        lost = [d for d in flatten(result.precise.digits_lost) if d] if result.precise else []
        worst = f", up to {max(lost)} digits lost" if lost else ""
        return Text(
            f"! the derivatives are settled by the precise values (confirmed at high "
            f"precision); {result.dtype} is off in {flagged} of {len(oks)} entries (marked !"
            f"{worst})",
            style="bold yellow",
        )
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
        *[Text(f"({reading})", style="dim") for reading in result.readings],
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


def _latex_values(result: ExprResult) -> list:
    """The derivative's values for LaTeX: the precise ones where known (float64's may be
    off or overflow), shaped like the check's columns."""
    analytic = result.check.analytic
    precise = result.precise
    if precise is None:
        return (
            [latex_number(v) for v in analytic]
            if not result.is_matrix
            else [[latex_number(v) for v in row] for row in analytic]
        )

    def one(value: float | None, text: str | None) -> str:
        if text is None:
            return latex_number(value)
        shown = precise_text(text, LATEX_DIGITS)
        if "e" in shown:
            mantissa, exponent = shown.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return shown

    if not result.is_matrix:
        return [one(v, t) for v, t in zip(analytic, precise.derivative_text, strict=True)]
    return [
        [one(v, t) for v, t in zip(row, texts, strict=True)]
        for row, texts in zip(analytic, precise.derivative_text, strict=True)
    ]


@as_latex.register
def _(result: ExprResult) -> str:
    lines = [rf"{f.label_latex} &= {f.latex}" for f in result.functions]
    point = ", ".join(latex_number(v) for v in result.at.values())
    values = _latex_values(result)
    if result.kind == "gradient":
        lines += [rf"{f.label_latex} &= {f.latex}" for f in result.derivatives]
        joined = r",\ ".join(values)
        lines.append(rf"\nabla f\left({point}\right) &= \left({joined}\right)")
    else:
        symbol = "J" if result.kind == "jacobian" else "H"
        lines.append(
            rf"{symbol} &= " + _matrix([[f.latex for f in row] for row in result.derivatives])
        )
        lines.append(rf"{symbol}\left({point}\right) &= " + _matrix(values))
    text = "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"
    if result.steps is not None:
        from gradcli.render.steps import steps_latex

        at = ", ".join(f"{name} = {latex_number(v)}" for name, v in result.at.items())
        text += steps_latex(result.steps, latex_number, at)
    return text
