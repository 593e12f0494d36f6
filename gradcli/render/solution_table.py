"""The worked solution and its marks as Rich text (the same for every command).

- :func:`solution_section`: ``--steps`` for the commands whose solution is a short list —
  one row per quantity: key, symbol, value, formula;
- :func:`marks_section`: the marking of several given quantities — the first mistake, then a
  mark sheet (quantity, status, yours, true) in computation order and the counts; one given
  quantity keeps its one-line verdict (:func:`answer_lines`, which every renderer shares).
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from gradcli.expect import AnswerCheck, AnswerSet, as_grid
from gradcli.marking import CARRIED, RIGHT, Marks
from gradcli.render.numbers import number
from gradcli.solution import Solution, answer_view, flat_values

VALUES_SHOWN = 4  # entries of a quantity written out in one cell
STATUS = {RIGHT: ("✓ right", "green"), CARRIED: ("→ carried forward", "yellow")}
WRONG_STATUS = ("✗ wrong", "bold red")


def values_text(value: Any, precision: int, limit: int = VALUES_SHOWN) -> str:
    """A quantity's value on one line: rows separated by ``;``, summarized past ``limit``."""
    rows = as_grid(answer_view(value))
    flat = [entry for row in rows for entry in row]
    if len(flat) <= limit:
        return "; ".join(", ".join(_cell(v, precision) for v in row) for row in rows)
    shown = ", ".join(_cell(v, precision) for v in flat[:limit])
    return f"{shown}, … ({len(flat)} entries)"


def _cell(value: Any, precision: int) -> str:
    if isinstance(value, str):
        return value
    return "—" if value is None else number(value, precision)


def answer_lines(answer: AnswerCheck | AnswerSet | None) -> list[Text]:
    """The one-line verdict on the user's answer (one per part for several answers)."""
    if answer is None:
        return []
    parts = answer.parts.items() if isinstance(answer, AnswerSet) else [("", answer)]
    lines = []
    for key, part in parts:
        lines.append(
            Text(
                f"{key}: {part.summary}" if key else part.summary,
                style="bold green" if part.passed else "bold red",
            )
        )
        lines += [Text(f"note: {warning}", style="yellow") for warning in part.warnings]
    return lines


def steps_section(result: Any, precision: int) -> list[RenderableType]:
    """The worked solution's list, with --steps."""
    if not getattr(result, "show_steps", False):
        return []
    return solution_section(result.solution, precision)


def marks_lines(result: Any, precision: int) -> list[RenderableType]:
    """The marking of the user's answers (one line for one quantity, else a mark sheet)."""
    return marks_section(getattr(result, "marks", None), precision)


def solution_section(solution: Solution | None, precision: int) -> list[RenderableType]:
    """Every quantity of the worked solution: its key (for --expect KEY=…), symbol, value and
    formula, in computation order (long values summarized, formulas wrapped)."""
    if solution is None or not len(solution):
        return []
    table = Table(header_style="bold")
    table.add_column("key", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("formula", overflow="fold")
    for quantity in solution:
        table.add_row(
            quantity.key,
            quantity.symbol,
            values_text(quantity.value, precision),
            Text(quantity.formula),
        )
    title = Text("Worked solution (check any line with --expect KEY=VALUES)", style="bold")
    return [title, table]


def marks_section(marks: Marks | None, precision: int) -> list[RenderableType]:
    """The verdict on the student's answers: one line for one quantity (as ever); for
    several, the first mistake, the mark sheet, the counts and each wrong one's details."""
    if marks is None or not len(marks):
        return []
    if len(marks) == 1:
        return answer_lines(marks.answer)
    headline = Text(marks.headline(precision), style="bold green" if marks.passed else "bold red")
    sheet = Table(header_style="bold", title_justify="left")
    sheet.add_column("quantity", no_wrap=True)
    sheet.add_column("status", no_wrap=True)
    sheet.add_column("yours", overflow="fold")
    sheet.add_column("true", overflow="fold")
    for item in marks:
        label, style = STATUS.get(item.status, WRONG_STATUS)
        digits = max([precision, *(d for d in flat_values(item.check.digits) if d)])
        sheet.add_row(
            item.key,
            Text(label, style=style),
            values_text(item.check.written, precision),
            values_text(item.quantity.value, digits),
        )
    counts = Text(marks.counts_text(), style="bold")
    details: list[RenderableType] = []
    for item in marks:
        if item.status != RIGHT:
            text = f"{item.key}: {item.check.summary}"
            if item.status == CARRIED:
                sources = ", ".join(item.sources)
                text += (
                    f" — but it follows from your {sources} as you wrote "
                    f"{'it' if len(item.sources) == 1 else 'them'} (carried forward: "
                    f"{values_text(item.recomputed, precision)})"
                )
            details.append(Text(text, style="yellow" if item.status == CARRIED else "red"))
        details += [Text(f"note: {note}", style="yellow") for note in item.check.warnings]
    return [headline, sheet, counts, *details]
