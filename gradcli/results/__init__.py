"""Plain result objects returned by the core and read by the renderers.

Only Python numbers and lists live here: no tensors, no terminal code. Each
result knows its JSON object (the documented, stable schema) and its CSV rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gradcli.expect import AnswerCheck
from gradcli.results.grid import Grid
from gradcli.settings import Tolerance

Nested = list  # a list of floats/bools, or a list of such lists (a matrix)


@dataclass(frozen=True)
class GradientCheck:
    """Analytic, autograd and numeric gradients of one quantity, and their verdict.

    ``trusted`` marks where the finite-difference estimate counted in the verdict
    (computed, finite, accurate enough, not next to a kink); ``numeric`` is None where an
    entry was not computed (a sampled check) and ``numeric_error_max`` is the largest error
    estimate among the entries that counted; ``abs_diff`` is, per entry, the largest difference
    the verdict looked at (float32: shown to two digits); ``ok`` is that entry's own verdict.
    ``defined`` (None = everywhere) marks entries where the derivative exists; the others are
    shown but not judged. ``notes`` say what was sampled or left out.
    """

    analytic: Grid
    autograd: Grid
    numeric: Grid | None
    trusted: Grid | None
    abs_diff: Grid
    ok: Grid
    max_abs_diff: float
    agree: bool
    tolerance: Tolerance
    numeric_error_max: float | None = None  # largest error estimate among counted entries
    numeric_sampled: bool = False
    numeric_checked: int | None = None
    defined: Grid | None = None
    notes: tuple[str, ...] = ()

    def json_fields(self) -> dict[str, Any]:
        """The gradient fields shared by every command's JSON object."""
        return {
            "analytic": self.analytic,
            "autograd": self.autograd,
            "numeric": self.numeric,
            "numeric_trusted": self.trusted,
            "numeric_error_max": self.numeric_error_max,
            "numeric_sampled": self.numeric_sampled,
            "numeric_checked": self.numeric_checked,
            "max_abs_diff": self.max_abs_diff,
            "agree": self.agree,
            "atol": self.tolerance.atol,
            "rtol": self.tolerance.rtol,
        }


def answer_json(answer: AnswerCheck | None) -> dict[str, Any]:
    """The ``check`` field: the user's --expect answer checked, or null."""
    return {"check": None if answer is None else answer.to_json()}


def solution_fields(result: Any) -> dict[str, Any]:
    """The ``solution`` list and ``marks`` counts every command's JSON carries (see
    :func:`gradcli.marking.solution_json`)."""
    from gradcli.marking import solution_json

    return solution_json(result.solution, result.marks)


def main_answer(result: Any) -> AnswerCheck | None:
    """The check of the command's main quantity (the bare --expect), if it was given: the
    answer shown beside the gradient in tables and CSV."""
    marks = getattr(result, "marks", None)
    if marks is None or marks.main is None:
        return None
    mark = marks.get(marks.main)
    return None if mark is None else mark.check


@dataclass(frozen=True)
class ColumnBlocks:
    """CSV rows given a block at a time as columns (lists of equal length, one per header
    cell), so that a renderer can format a whole column in one pass."""

    blocks: Iterable[list[list[Any]]]

    def __iter__(self) -> Iterator[list[list[Any]]]:
        return iter(self.blocks)


class NoColumns:
    """Stands for "no extra CSV cells" at every row index, without a list per row."""

    def __getitem__(self, index: int) -> list[Any]:
        return []


def answer_columns(answer: AnswerCheck | None, count: int) -> tuple[list[str], Any]:
    """CSV columns ``expected, expected_ok`` (flattened like the rows), or none."""
    if answer is None:
        return [], NoColumns()
    values = flatten(answer.expected)
    oks = flatten(answer.ok)
    return ["expected", "expected_ok"], [[v, ok] for v, ok in zip(values, oks, strict=True)]


def flatten(values: list | Grid) -> list:
    """Row-major entries of a matrix (or grid); a vector as it is."""
    if isinstance(values, Grid):
        return values.flat()
    if values and isinstance(values[0], list):
        return [v for row in values for v in row]
    return list(values)


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (which JSON cannot carry) by None, recursively; a list of
    finite numbers is returned as it is, checked at C speed."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Grid):
        value = value.tolist()
    if isinstance(value, list):
        try:
            if all(map(math.isfinite, value)):
                return value
        except TypeError:  # None, strings or nested lists inside
            pass
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    return value


SOLUTION_CSV_HEADER = ["key", "symbol", "index", "value", "expected", "expected_ok", "status"]


def solution_rows(
    result: Any, shown: Iterable[str] | None = None
) -> tuple[list[str], Iterator[list[Any]]] | None:
    """CSV of the worked solution — one row per entry of every quantity, with the user's value
    and the quantity's status where one was given — when the user asked for it (``--steps``)
    or gave an answer the command's own rows cannot show (a key other than the main one, or
    than ``shown``); else None (the command's gradient rows)."""
    solution, marks = getattr(result, "solution", None), getattr(result, "marks", None)
    carried = set(shown) if shown is not None else {getattr(marks, "main", None)}
    keyed = marks is not None and any(m.key not in carried for m in marks)
    if solution is None or not (getattr(result, "show_steps", False) or keyed):
        return None
    return SOLUTION_CSV_HEADER, _solution_row_iter(solution, marks)


def _solution_row_iter(solution: Any, marks: Any) -> Iterator[list[Any]]:
    from gradcli.solution import flat_values

    for quantity in solution:
        given = marks.get(quantity.key) if marks is not None else None
        values = flat_values(quantity.value)
        expected = oks = None
        if given is not None:
            expected, oks = flatten(given.check.expected), flatten(given.check.ok)
            if len(expected) != len(values) or len(oks) != len(values):
                expected = oks = None  # another shape (a transposed matrix): no entry matches
        shape = quantity.shape
        for k, value in enumerate(values):
            yield [
                quantity.key,
                quantity.symbol,
                _index_text(k, shape),
                value,
                None if expected is None else expected[k],
                None if oks is None else oks[k],
                "" if given is None else given.status,
            ]


def _index_text(position: int, shape: tuple[int, ...]) -> str:
    """Flat entry ``position`` of a tensor of ``shape`` as ``i`` or ``i,j,…`` (blank for a
    number)."""
    index = []
    for size in reversed(shape):
        position, rest = divmod(position, size)
        index.append(str(rest))
    return ",".join(reversed(index))
