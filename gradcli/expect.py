"""``--expect``: check the user's own answer against the computed gradient (torch-free).

The default tolerance of each entry follows the digits the user wrote: half a unit
in the last written place (``0.0822`` → ±0.00005, ``0.25`` → ±0.005, ``2`` → ±0.5).
An explicit ``--atol``/``--rtol`` replaces it. When the answer is off, common slips —
a factor of 2 or ½, a transposed matrix, a wrong sign, or a command-specific one
(another reduction, σ' applied to the activated value…) — are tried and named.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from gradcli.errors import InputError
from gradcli.parsing import parse_number, split_numbers
from gradcli.settings import Tolerance

Grid = list[list[float]]  # every quantity is handled as a matrix; vectors are one row


@dataclass(frozen=True)
class Expected:
    """The user's answer: values and the half-unit tolerance each was written with."""

    values: list  # as written: a vector or a matrix
    half_units: list  # same shape

    @property
    def is_matrix(self) -> bool:
        return bool(self.values) and isinstance(self.values[0], list)


@dataclass(frozen=True)
class Slip:
    """A common mistake and the values it would produce."""

    description: str
    values: list  # same shape as the true answer


@dataclass(frozen=True)
class AnswerCheck:
    """How the user's answer compares with the computed one."""

    expected: list
    ok: list  # per entry
    passed: bool
    worst_abs_diff: float
    tolerance: str  # e.g. "digits written (±half a unit in the last place)" or "atol 1e-6, rtol 0"
    hint: str | None
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "expected": self.expected,
            "ok": self.ok,
            "worst_abs_diff": self.worst_abs_diff,
            "tolerance": self.tolerance,
            "hint": self.hint,
            "summary": self.summary,
        }


def half_unit(token: str) -> float:
    """Half a unit in the last written place of a number token."""
    try:
        exponent = Decimal(token.strip()).as_tuple().exponent
    except InvalidOperation:
        raise InputError(f"--expect: '{token}' is not a number") from None
    return 0.5 * 10.0 ** int(exponent)


def parse_expected(text: str, what: str = "--expect") -> Expected:
    """A vector (``0.1,0.2``), matrix (``0.1,0.2;0.3,0.4``) or JSON list, keeping the digits."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            tokens = json.loads(stripped, parse_float=str, parse_int=str)
        except json.JSONDecodeError:
            raise InputError(f"{what} '{text}' is not a valid JSON list") from None
    elif ";" in stripped:
        tokens = [split_numbers(row) for row in stripped.split(";") if row.strip()]
    else:
        tokens = split_numbers(stripped)
    if not tokens:
        raise InputError(f"{what} is empty")
    return Expected(_map(tokens, _number, what), _map(tokens, half_unit, what))


def _number(token: str) -> float:
    return parse_number(token)


def _map(tokens: Any, fn, what: str) -> list:
    if not isinstance(tokens, list):
        raise InputError(f"{what}: {tokens!r} is not a list")
    if tokens and all(isinstance(t, list) for t in tokens):
        widths = {len(row) for row in tokens}
        if len(widths) > 1 or 0 in widths:
            raise InputError(f"{what} is ragged: its rows have {sorted(widths)} values")
        return [[_one(t, fn, what) for t in row] for row in tokens]
    return [_one(t, fn, what) for t in tokens]


def _one(token: Any, fn, what: str) -> float:
    if not isinstance(token, str):
        raise InputError(f"{what}: {json.dumps(token)} is not a number")
    try:
        return fn(token)
    except InputError as error:
        raise InputError(f"{what}: {error}") from None


def as_grid(values: list) -> Grid:
    """A matrix view of a vector or matrix."""
    return values if values and isinstance(values[0], list) else [values]


def shape_of(values: list) -> tuple[int, ...]:
    return (
        (len(values), len(values[0])) if values and isinstance(values[0], list) else (len(values),)
    )


def transpose(grid: Grid) -> Grid:
    return [list(col) for col in zip(*grid, strict=True)]


def generic_slips(truth: list) -> list[Slip]:
    """Slips that apply to any answer: factor 2 or ½, sign, transposition."""
    grid = as_grid(truth)
    scaled = [
        Slip("twice the gradient (a factor of 2: mean vs sum vs half-sum?)", _scale(truth, 2)),
        Slip("half the gradient (a factor of ½: half-sum vs sum?)", _scale(truth, 0.5)),
        Slip("the gradient with the wrong sign", _scale(truth, -1)),
    ]
    if len(grid) > 1 and len(grid) == len(grid[0]) and grid != transpose(grid):
        scaled.append(Slip("the transposed matrix (rows and columns swapped)", transpose(grid)))
    return scaled


def _scale(values: list, factor: float) -> list:
    if values and isinstance(values[0], list):
        return [[v * factor for v in row] for row in values]
    return [v * factor for v in values]


def _reshape_like(expected: Expected, truth: list, what: str) -> tuple[Grid, Grid]:
    """The user's values and tolerances as grids of the truth's shape."""
    want, got = shape_of(truth), shape_of(expected.values)
    if want == got:
        return as_grid(expected.values), as_grid(expected.half_units)
    grid = as_grid(truth)
    if len(grid) == 1 or len(grid[0]) == 1:  # a vector written as a row, or a column
        flat_values = [v for row in as_grid(expected.values) for v in row]
        flat_units = [v for row in as_grid(expected.half_units) for v in row]
        if len(flat_values) == len(grid) * len(grid[0]):
            width = len(grid[0])
            rows = range(0, len(flat_values), width)
            return (
                [flat_values[i : i + width] for i in rows],
                [flat_units[i : i + width] for i in rows],
            )
    raise InputError(
        f"--expect for {what} has shape {_shape_text(got)} but the answer has shape "
        f"{_shape_text(want)}"
    )


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(n) for n in shape)


def check_answer(
    expected: Expected,
    truth: list,
    what: str,
    tolerance: Tolerance | None = None,
    slips: Iterable[Slip] = (),
    noun: str = "the gradient",
    labels: Sequence[str] = (),
) -> AnswerCheck:
    """Compare the user's answer with ``truth`` entry by entry; name the likely slip.

    ``labels`` name the entries of a vector answer (e.g. ``x = 0.5``) in the summary.
    """
    if _is_transposed_shape(expected, truth):
        return _transposed(expected, truth, what, tolerance, noun)
    values, units = _reshape_like(expected, truth, what)
    true_grid = as_grid(truth)
    bounds = [
        [
            (tolerance.bound(t) if tolerance else u * (1 + 1e-9))
            for t, u in zip(trow, urow, strict=True)
        ]
        for trow, urow in zip(true_grid, units, strict=True)
    ]
    diffs = [
        [abs(v - t) for v, t in zip(vr, tr, strict=True)]
        for vr, tr in zip(values, true_grid, strict=True)
    ]
    ok = [
        [d <= b for d, b in zip(dr, br, strict=True)] for dr, br in zip(diffs, bounds, strict=True)
    ]
    flat_ok = [o for row in ok for o in row]
    worst = max(d for row in diffs for d in row)
    passed = all(flat_ok)
    hint = None if passed else _find_slip(values, bounds, slips, truth)
    return AnswerCheck(
        expected=expected.values,
        ok=ok if expected.is_matrix or len(true_grid) > 1 else ok[0],
        passed=passed,
        worst_abs_diff=worst,
        tolerance=(
            f"atol {tolerance.atol:g}, rtol {tolerance.rtol:g}"
            if tolerance
            else "half a unit in the last digit you wrote"
        ),
        hint=hint,
        summary=_summary(values, true_grid, diffs, ok, noun, hint, labels),
    )


def _is_transposed_shape(expected: Expected, truth: list) -> bool:
    want, got = shape_of(truth), shape_of(expected.values)
    return len(want) == 2 and want[0] != want[1] and got == (want[1], want[0])


def _transposed(
    expected: Expected, truth: list, what: str, tolerance: Tolerance | None, noun: str
) -> AnswerCheck:
    """An answer of the transposed shape: fail it, and say whether the transpose matches."""
    flipped = Expected(transpose(expected.values), transpose(expected.half_units))
    inner = check_answer(flipped, truth, what, tolerance, (), noun)
    rows, cols = shape_of(truth)
    hint = (
        f"you wrote the matrix transposed ({cols}×{rows}); gradcli uses torch's layout, "
        f"{rows}×{cols} (out×in, row k = node k)"
    )
    if inner.passed:
        hint += ", and transposed back your answer matches"
    return AnswerCheck(
        expected=expected.values,
        ok=[[False] * rows for _ in range(cols)],
        passed=False,
        worst_abs_diff=inner.worst_abs_diff,
        tolerance=inner.tolerance,
        hint=hint,
        summary=f"✗ {what}: {hint}",
    )


@dataclass(frozen=True)
class AnswerSet:
    """Several named answers (perceptron: ``layer1.weight``, ``layer2.bias``…)."""

    parts: dict[str, AnswerCheck]

    @property
    def passed(self) -> bool:
        return all(part.passed for part in self.parts.values())

    def to_json(self) -> dict[str, Any]:
        failed = [part for part in self.parts.values() if not part.passed]
        return {
            "passed": self.passed,
            "expected": {key: part.expected for key, part in self.parts.items()},
            "worst_abs_diff": max(part.worst_abs_diff for part in self.parts.values()),
            "tolerance": next(iter(self.parts.values())).tolerance,
            "hint": next((part.hint for part in failed if part.hint), None),
            "parts": {key: part.to_json() for key, part in self.parts.items()},
        }


def _find_slip(values: Grid, bounds: Grid, slips: Iterable[Slip], truth: list) -> str | None:
    for slip in [*slips, *generic_slips(truth)]:
        candidate = as_grid(slip.values)
        if all(
            abs(v - c) <= b
            for vr, cr, br in zip(values, candidate, bounds, strict=True)
            for v, c, b in zip(vr, cr, br, strict=True)
        ):
            return f"your answer matches {slip.description}"
    return None


def _summary(values, truth, diffs, ok, noun, hint, labels) -> str:
    flat = [(i, j) for i, row in enumerate(ok) for j, _ in enumerate(row)]
    good = sum(ok[i][j] for i, j in flat)
    if good == len(flat):
        return f"✓ your answer matches {noun} in all {len(flat)} entries"
    i, j = max((p for p in flat if not ok[p[0]][p[1]]), key=lambda p: diffs[p[0]][p[1]])
    where = f"({i}, {j})" if len(truth) > 1 else f"{j}"
    if len(truth) == 1 and j < len(labels):
        where += f" ({labels[j]})"
    text = (
        f"✗ {good} of {len(flat)} entries of your answer match; entry {where}: you wrote "
        f"{values[i][j]:g} but {noun} is {truth[i][j]:.6g}"
    )
    return text + (f" — {hint}" if hint else "")
