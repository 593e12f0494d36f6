"""Marking a worked solution as a teaching assistant does (torch-free).

:func:`mark` walks a :class:`~gradcli.solution.Solution` in computation order. Each quantity
the student gave gets one status:

- ``right`` — it matches the true value (the digits rule of :mod:`gradcli.expect`);
- ``carried forward`` — it does not, but it matches the value recomputed from the student's
  own values of the quantities it depends on (an error made earlier, carried forward
  correctly);
- ``wrong`` — neither.

"The student's own values" are, for every quantity, the value the student gave, else the
value that follows from their earlier answers through the quantity's ``compute`` (else the
true one): a weight gradient computed from a wrong δ the student wrote down is carried
forward even when the δ sum in between was not written. The first wrong quantity in
computation order is the first mistake; only an all-right sheet passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gradcli.errors import InputError
from gradcli.expect import AnswerCheck, AnswerSet, Expected, Slip, as_grid, check_answer
from gradcli.settings import Tolerance
from gradcli.solution import Quantity, Solution, Value, answer_view, nest, shape_of

RIGHT, WRONG, CARRIED = "right", "wrong", "carried forward"
SHOWN_ENTRIES = 4  # entries of a value written out in the first-mistake sentence


@dataclass(frozen=True)
class Mark:
    """One given quantity: its status, its check against the truth, and the value that
    follows from the student's own earlier answers (None when none of them feeds it)."""

    quantity: Quantity
    status: str
    check: AnswerCheck  # against the true value: entries, digits, rule, summary, slip
    recomputed: Value | None = None
    sources: tuple[str, ...] = ()  # the given quantities it depends on, directly or not

    @property
    def key(self) -> str:
        return self.quantity.key


@dataclass(frozen=True)
class Marks:
    """Every given quantity's mark, in computation order."""

    marks: tuple[Mark, ...]
    main: str | None = None  # the key a bare --expect checks

    def __iter__(self):
        return iter(self.marks)

    def __len__(self) -> int:
        return len(self.marks)

    def get(self, key: str) -> Mark | None:
        return next((m for m in self.marks if m.key == key), None)

    def count(self, status: str) -> int:
        return sum(m.status == status for m in self.marks)

    @property
    def passed(self) -> bool:
        return all(m.status == RIGHT for m in self.marks)

    @property
    def first_mistake(self) -> Mark | None:
        return next((m for m in self.marks if m.status == WRONG), None)

    def following(self, key: str) -> list[Mark]:
        """The carried-forward marks that follow from the given quantity ``key``."""
        return [m for m in self.marks if m.status == CARRIED and key in m.sources]

    @property
    def parts(self) -> dict[str, AnswerCheck]:
        return {m.key: m.check for m in self.marks}

    @property
    def answer(self) -> AnswerCheck | AnswerSet | None:
        """The answer as the ``check`` of JSON reports it: the main quantity's check alone
        when only it was given (the bare --expect), else every given quantity's."""
        if not self.marks:
            return None
        if self.main is not None and [m.key for m in self.marks] == [self.main]:
            return self.marks[0].check
        return AnswerSet(self.parts)

    def counts_text(self) -> str:
        """``5 right, 2 carried forward, 1 wrong``."""
        parts = [
            f"{self.count(status)} {status}"
            for status in (RIGHT, CARRIED, WRONG)
            if self.count(status) or status == RIGHT
        ]
        return ", ".join(parts)

    def headline(self, precision: int = 6) -> str:
        """The first mistake and what follows from it, or that all is right."""
        given = len(self.marks)
        if self.passed:
            what = "the 1 quantity" if given == 1 else f"all {given} quantities"
            return f"✓ {what} you gave {'is' if given == 1 else 'are'} right"
        first = self.first_mistake
        if first is None:
            carried = [m.key for m in self.marks if m.status == CARRIED]
            return (
                f"no mistake of your own: {_listed(carried)} follow"
                f"{'s' if len(carried) == 1 else ''} from your earlier answers as you wrote "
                "them (carried forward), not from the true values: were those rounded?"
            )
        quantity = first.quantity
        text = (
            f"first mistake: {first.key} — you wrote {_written(first.check)}; it is "
            f"{_values_text(quantity.value, precision)}"
        )
        if quantity.formula:
            text += f" ({quantity.formula})"
        if first.check.hint:
            text += f": {first.check.hint}"
        followers = [m.key for m in self.following(first.key)]
        if followers:
            verb = "follows" if len(followers) == 1 else "follow"
            text += f"; {_listed(followers)} {verb} from it (carried forward)"
        return text

    def to_json(self) -> dict[str, Any]:
        first = self.first_mistake
        return {
            "right": self.count(RIGHT),
            "wrong": self.count(WRONG),
            "carried_forward": self.count(CARRIED),
            "first_mistake": None if first is None else first.key,
        }


def mark(solution: Solution, answers: Mapping[str, Expected], tolerance: Tolerance) -> Marks:
    """Mark each answer (by key) against ``solution``, in computation order.

    ``tolerance`` is the verdict's: exact answers (whole numbers, fractions) match within it.
    """
    unknown = [key for key in answers if key not in solution]
    if unknown:
        raise KeyError(unknown[0])
    own: dict[str, Value] = {}  # the student's value, or what follows from their answers
    sources: dict[str, frozenset[str]] = {}  # the given quantities each value rests on
    marks = []
    for quantity in solution:
        key = quantity.key
        upstream = frozenset().union(
            *(sources.get(d, frozenset()) | ({d} if d in answers else set())
              for d in quantity.depends_on)
        )  # fmt: skip
        recomputed = None
        if any(d in own for d in quantity.depends_on):
            values = {d: own.get(d, solution[d].value) for d in quantity.depends_on}
            recomputed = quantity.recompute(values)
        if recomputed is not None:
            own[key] = recomputed
            sources[key] = upstream
        answer = answers.get(key)
        if answer is None:
            continue
        mark_ = _mark_one(quantity, answer, recomputed, tolerance, upstream)
        marks.append(mark_)
        student = _as_value(answer, quantity.value)
        if student is not None:
            own[key] = student
            sources[key] = frozenset()
    return Marks(tuple(marks), solution.main)


def _mark_one(
    quantity: Quantity,
    answer: Expected,
    recomputed: Value | None,
    tolerance: Tolerance,
    upstream: frozenset[str],
) -> Mark:
    def check(slips: Iterable[Slip] = ()) -> AnswerCheck:
        return check_answer(
            answer,
            answer_view(quantity.value),
            quantity.key,
            tolerance=tolerance,
            slips=slips,
            noun=quantity.name,
            labels=quantity.labels,
            name=quantity.locator or quantity.key,
            kinks=quantity.kinks,
        )

    slips = quantity.slips
    try:
        result = check()
    except InputError:  # an answer of another shape: an error, unless a slip has that shape
        if slips is None:
            raise
        result, slips = check(slips()), None
    if not result.passed and slips is not None:  # slips cost: only for a wrong answer
        result = check(slips())
    status = RIGHT if result.passed else WRONG
    if status == WRONG and recomputed is not None:
        carried = check_answer(
            answer, answer_view(recomputed), quantity.key, tolerance=tolerance, noun=quantity.name
        )
        if carried.passed:
            status = CARRIED
    return Mark(quantity, status, result, recomputed, tuple(sorted(upstream)))


def _as_value(answer: Expected, truth: Value) -> Value | None:
    """The student's answer shaped like the true value, or None when it cannot be (another
    shape: a transposed matrix is marked, but not carried into later quantities)."""
    shape = shape_of(truth)
    grid = as_grid(answer.entries)
    flat = [entry.value for row in grid for entry in row]
    if len(flat) != math.prod(shape):
        return None
    view = answer_view(truth)
    matrix = bool(view) and isinstance(view[0], list)
    if matrix and answer.is_matrix and (len(grid), len(grid[0])) != (len(view), len(view[0])):
        return None  # the transpose of a matrix: the same count, another layout
    return nest(flat, shape)


def _listed(keys: list[str]) -> str:
    if len(keys) <= 1:
        return "".join(keys)
    return f"{', '.join(keys[:-1])} and {keys[-1]}"


def _written(check: AnswerCheck) -> str:
    flat = [v for row in as_grid(check.written) for v in row]
    return _joined([str(v) for v in flat])


def _values_text(value: Value, precision: int) -> str:
    flat = [v for row in as_grid(answer_view(value)) for v in row]
    return _joined([f"{v + 0.0:.{precision}g}" if v is not None else "—" for v in flat])


def _joined(texts: list[str]) -> str:
    if len(texts) > SHOWN_ENTRIES:
        return f"{', '.join(texts[:SHOWN_ENTRIES])}, … ({len(texts)} entries)"
    return ", ".join(texts)


def solution_json(solution: Solution | None, marks: Marks | None) -> dict[str, Any]:
    """The ``solution`` list and the ``marks`` counts of every command's JSON: each quantity
    with the student's answer, its status and digits where one was given (null otherwise)."""
    entries = []
    for quantity in solution or ():
        given = marks.get(quantity.key) if marks is not None else None
        entries.append(
            {
                "key": quantity.key,
                "symbol": quantity.symbol,
                "formula": quantity.formula,
                "shape": list(quantity.shape),
                "value": quantity.value,
                "depends_on": list(quantity.depends_on),
                "expected": None if given is None else given.check.expected,
                "status": None if given is None else given.status,
                "digits": None if given is None else given.check.digits,
            }
        )
    counts = (marks or Marks(())).to_json()
    return {"solution": entries, "marks": counts}
