"""``--expect``: check the user's own answer against the computed gradient (torch-free).

The rule, the same for every command and every entry:

* n = the significant digits the user wrote, trailing zeros included (``0.2350`` has 4);
* an entry matches when the user's number is the true value **rounded** to n significant
  digits (|answer − truth| ≤ ½ unit of the n-th significant digit at the truth's magnitude;
  ties pass) or **truncated** to n significant digits (same sign, |answer| ≤ |truth| <
  |answer| + 1 unit);
* a written zero (``0``, ``0.0``, ``-0``) has no significant digits: it matches only a true
  value within the verdict's absolute tolerance of zero;
* a fraction (``2/3``, ``-1/4``) is exact: it matches within the verdict's tolerance
  (atol + rtol·|truth|), the accuracy of the computed result itself.

Answers are exact decimals (``decimal``/``fractions``, never floats). When an answer is off,
common slips — a factor of 2 or ½, a transposed matrix, a wrong sign, or a command-specific
one (another reduction, σ' applied to the activated value…) — are tried with the same rule
and named.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from gradcli.errors import InputError, shown
from gradcli.parsing import parse_number, split_numbers
from gradcli.settings import Tolerance

RULE = "rounded or truncated to the significant digits written"
Grid = list[list[Any]]  # every quantity is handled as a matrix; vectors are one row
_FRACTION = re.compile(r"([+-]?\d+)/(\d+)", re.ASCII)
MAX_EXPONENT = 330  # beyond float64's range either way
MAX_DIGITS = 40  # more significant digits than float64 could ever confirm


@dataclass(frozen=True)
class Entry:
    """One number of the user's answer, exactly as written."""

    text: str
    exact: Fraction
    digits: int | None  # significant digits written; None for a zero or a fraction
    kind: str  # "digits", "zero" or "fraction"

    @property
    def value(self) -> float:
        return float(self.exact)

    def matches(self, truth: float, tolerance: Tolerance, strict: bool = False) -> bool:
        """Whether this entry is ``truth`` under the rule (see the module docstring).

        ``strict`` (for naming slips): rounded only, and a one-digit entry must be exact.
        """
        if not math.isfinite(truth):
            return False
        true = Fraction(truth)
        if self.kind == "zero":
            return abs(true) <= Fraction(tolerance.atol)
        if self.kind == "fraction":
            return abs(self.exact - true) <= Fraction(tolerance.atol) + Fraction(
                tolerance.rtol
            ) * abs(true)
        if true == 0:
            return False
        unit = digit_unit(truth, self.digits or 1)
        if strict:
            exact = abs(self.exact - true) <= Fraction(tolerance.rtol) * abs(true)
            return exact if self.digits == 1 else 2 * abs(self.exact - true) <= unit
        if 2 * abs(self.exact - true) <= unit:  # rounded (ties pass)
            return True
        same_sign = (self.exact > 0) == (true > 0)
        return same_sign and abs(self.exact) <= abs(true) < abs(self.exact) + unit  # truncated


def digit_unit(truth: float, digits: int) -> Fraction:
    """One unit of the ``digits``-th significant digit at ``truth``'s magnitude."""
    return Fraction(10) ** (Decimal(truth).adjusted() - digits + 1)


def rounded_text(truth: float, digits: int) -> str:
    """``truth`` rounded to ``digits`` significant digits, trailing zeros kept."""
    if not math.isfinite(truth) or truth == 0:
        return f"{truth:g}"
    places = digits - 1 - Decimal(truth).adjusted()
    quantum = Decimal(1).scaleb(-places)
    value = Decimal(truth).quantize(quantum) if places < 60 else Decimal(truth)
    text = f"{value:f}" if -6 <= value.adjusted() < 16 else f"{value:e}"
    return text


@dataclass(frozen=True)
class Expected:
    """The user's answer: a vector or a matrix of :class:`Entry`."""

    entries: list

    @property
    def is_matrix(self) -> bool:
        return bool(self.entries) and isinstance(self.entries[0], list)

    @property
    def values(self) -> list:
        return _map_nested(self.entries, lambda e: e.value)

    @property
    def written(self) -> list:
        return _map_nested(self.entries, lambda e: e.text)


def _map_nested(items: list, fn) -> list:
    if items and isinstance(items[0], list):
        return [[fn(item) for item in row] for row in items]
    return [fn(item) for item in items]


def parse_entry(token: str, what: str = "--expect") -> Entry:
    """One answer entry: a decimal number (its digits counted) or a fraction ``p/q``."""
    text = token.strip()
    fraction = _FRACTION.fullmatch(text)
    if fraction:
        numerator, denominator = int(fraction[1]), int(fraction[2])
        if denominator == 0:
            raise InputError(f"{what}: {shown(token)} divides by zero")
        if len(fraction[1]) + len(fraction[2]) > 2 * MAX_DIGITS:
            raise InputError(f"{what}: {shown(token)} has too many digits")
        return Entry(text, Fraction(numerator, denominator), None, "fraction")
    parse_number(text, what)  # the same number syntax as everywhere: ASCII, finite
    number = Decimal(text)
    if number.is_zero():
        if abs(number.as_tuple().exponent) > MAX_EXPONENT:  # type: ignore[arg-type]
            raise InputError(
                f"{what}: {shown(token)} writes an exponent beyond float64's range "
                f"(at most ±{MAX_EXPONENT}, even for zero)"
            )
        return Entry(text, Fraction(0), None, "zero")
    if abs(number.adjusted()) > MAX_EXPONENT:
        raise InputError(f"{what}: {shown(token)} is out of float64's range")
    digits = len(number.as_tuple().digits)  # leading zeros are never stored; trailing ones are
    if digits > MAX_DIGITS:
        raise InputError(
            f"{what}: {shown(token)} has {digits} significant digits; float64 holds about 17"
        )
    return Entry(text, Fraction(number), digits, "digits")


def parse_expected(text: str, what: str = "--expect") -> Expected:
    """A vector (``0.1,0.2``), matrix (``0.1,0.2;0.3,0.4``) or JSON list, keeping the digits."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            tokens = json.loads(stripped, parse_float=str, parse_int=str, parse_constant=str)
        except (json.JSONDecodeError, RecursionError):
            raise InputError(f"{what} {shown(text)} is not a valid JSON list") from None
    elif ";" in stripped:
        tokens = [split_numbers(row) for row in stripped.split(";") if row.strip()]
    else:
        tokens = split_numbers(stripped)
    if not tokens:
        raise InputError(f"{what} is empty: write your answer, e.g. {what} 0.25,0.2350")
    return Expected(_entries(tokens, what))


def _entries(tokens: Any, what: str) -> list:
    if not isinstance(tokens, list):
        raise InputError(f"{what}: {shown(tokens)} is not a list")
    if tokens and all(isinstance(t, list) for t in tokens):
        widths = {len(row) for row in tokens}
        if len(widths) > 1 or 0 in widths:
            raise InputError(f"{what} is ragged: its rows have {sorted(widths)} values")
        return [[_one(t, what) for t in row] for row in tokens]
    return [_one(t, what) for t in tokens]


def _one(token: Any, what: str) -> Entry:
    if not isinstance(token, str):
        raise InputError(f"{what}: {shown(json.dumps(token))} is not a number")
    return parse_entry(token, what)


# ---------------------------------------------------------------- shapes


def as_grid(values: list) -> Grid:
    """A matrix view of a vector or matrix."""
    return values if values and isinstance(values[0], list) else [values]


def shape_of(values: list) -> tuple[int, ...]:
    return (
        (len(values), len(values[0])) if values and isinstance(values[0], list) else (len(values),)
    )


def transpose(grid: Grid) -> Grid:
    return [list(col) for col in zip(*grid, strict=True)]


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(n) for n in shape)


def check_shape(
    expected: Expected, shape: Sequence[int], what: str, also: Sequence[tuple[int, ...]] = ()
) -> None:
    """InputError, before any computing, when the answer cannot be of the result's ``shape``:
    the same shape, a vector written as a row or a column, the transpose (checked later and
    failed with a hint) and the ``also`` shapes (a slip of another shape) are accepted."""
    want, got = tuple(shape), shape_of(expected.entries)
    vector_like = (len(want) == 1 or 1 in want) and (len(got) == 1 or 1 in got)
    if (
        got == want
        or (vector_like and math.prod(got) == math.prod(want))
        or (len(want) == 2 and got == (want[1], want[0]))
        or got in also
    ):
        return
    raise InputError(
        f"--expect for {what} has shape {_shape_text(got)} but the answer has shape "
        f"{_shape_text(want)}"
    )


def _reshape_like(expected: Expected, truth: list, what: str) -> Grid | None:
    """The user's entries as a grid of the truth's shape (a vector may be written as a row
    or a column), or None when the shapes differ."""
    want, got = shape_of(truth), shape_of(expected.entries)
    if want == got:
        return as_grid(expected.entries)
    grid = as_grid(truth)
    if len(grid) == 1 or len(grid[0]) == 1:
        flat = [e for row in as_grid(expected.entries) for e in row]
        if len(flat) == len(grid) * len(grid[0]):
            width = len(grid[0])
            return [flat[i : i + width] for i in range(0, len(flat), width)]
    return None


# ---------------------------------------------------------------- slips


@dataclass(frozen=True)
class Slip:
    """A common mistake and the values it would produce (any shape: an answer of that shape
    that matches these values is named by ``description``)."""

    description: str
    values: list


def generic_slips(truth: list) -> list[Slip]:
    """Slips that apply to any answer: factor 2 or ½, sign, transposition."""
    grid = as_grid(truth)
    slips = [
        Slip("twice the gradient (a factor of 2: mean vs sum vs half-sum?)", _scale(truth, 2)),
        Slip("half the gradient (a factor of ½: half-sum vs sum?)", _scale(truth, 0.5)),
        Slip("the gradient with the wrong sign", _scale(truth, -1)),
    ]
    if len(grid) > 1 and len(grid) == len(grid[0]) and grid != transpose(grid):
        slips.append(Slip("the transposed matrix (rows and columns swapped)", transpose(grid)))
    return slips


def _scale(values: list, factor: float) -> list:
    if values and isinstance(values[0], list):
        return [[v * factor for v in row] for row in values]
    return [v * factor for v in values]


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class AnswerCheck:
    """How the user's answer compares with the computed one."""

    expected: list  # the user's values (floats), as shaped by the user
    written: list  # the same entries as the user typed them
    digits: list  # significant digits per entry (None for a zero or a fraction)
    ok: list  # per entry
    passed: bool
    worst_abs_diff: float
    hint: str | None
    summary: str
    checked_to: str  # "checked to 2 significant digits (rounded or truncated)"
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "expected": self.expected,
            "written": self.written,
            "digits": self.digits,
            "ok": self.ok,
            "rule": RULE,
            "checked_to": self.checked_to,
            "worst_abs_diff": self.worst_abs_diff,
            "hint": self.hint,
            "summary": self.summary,
            "warnings": self.warnings,
        }


def check_answer(
    expected: Expected,
    truth: list,
    what: str,
    *,
    tolerance: Tolerance,
    slips: Iterable[Slip] = (),
    noun: str = "the gradient",
    labels: Sequence[str] = (),
) -> AnswerCheck:
    """Compare the user's answer with ``truth`` entry by entry; name the likely slip.

    ``tolerance`` is the verdict's (for written zeros and fractions); ``labels`` name the
    entries of a vector answer (e.g. ``x = 0.5``) in the summary.
    """
    slips = list(slips)
    grid = _reshape_like(expected, truth, what)
    if grid is None:
        return _other_shape(expected, truth, what, tolerance, slips, noun)
    true_grid = as_grid(truth)
    ok = [
        [e.matches(t, tolerance) for e, t in zip(erow, trow, strict=True)]
        for erow, trow in zip(grid, true_grid, strict=True)
    ]
    diffs = [
        [_difference(e, t) for e, t in zip(erow, trow, strict=True)]
        for erow, trow in zip(grid, true_grid, strict=True)
    ]
    passed = all(all(row) for row in ok)
    hint = None if passed else _find_slip(grid, slips, truth, tolerance)
    vector = not (expected.is_matrix or len(true_grid) > 1)
    checked_to = _checked_to(expected)
    return AnswerCheck(
        expected=expected.values,
        written=expected.written,
        digits=_map_nested(expected.entries, lambda e: e.digits),
        ok=ok[0] if vector else ok,
        passed=passed,
        worst_abs_diff=max(d for row in diffs for d in row),
        hint=hint,
        summary=_summary(grid, true_grid, ok, diffs, noun, hint, labels, checked_to),
        checked_to=checked_to,
        warnings=_warnings(expected),
    )


def _difference(entry: Entry, truth: float) -> float:
    return abs(entry.value - truth) if math.isfinite(truth) else math.inf


def _other_shape(
    expected: Expected,
    truth: list,
    what: str,
    tolerance: Tolerance,
    slips: list[Slip],
    noun: str,
) -> AnswerCheck:
    """An answer of another shape: a transposed matrix or a slip of that shape fails (exit 1)
    with its hint; any other shape is an input error."""
    want, got = shape_of(truth), shape_of(expected.entries)
    hint = None
    if len(want) == 2 and got == (want[1], want[0]):
        flipped = Expected(transpose(expected.entries))
        inner = check_answer(flipped, truth, what, tolerance=tolerance, noun=noun)
        hint = (
            f"you wrote the matrix transposed ({want[1]}×{want[0]}); gradcli uses torch's "
            f"layout, {want[0]}×{want[1]} (out×in, row k = node k)"
        )
        if inner.passed:
            hint += ", and transposed back your answer matches"
    else:
        for slip in slips:
            if shape_of(slip.values) == got and _all_match(
                as_grid(expected.entries), as_grid(slip.values), tolerance
            ):
                hint = f"your answer matches {slip.description}"
                break
    if hint is None:
        raise InputError(
            f"--expect for {what} has shape {_shape_text(got)} but the answer has shape "
            f"{_shape_text(want)}"
        )
    rows = [[False] * len(row) for row in as_grid(expected.entries)]
    return AnswerCheck(
        expected=expected.values,
        written=expected.written,
        digits=_map_nested(expected.entries, lambda e: e.digits),
        ok=rows if expected.is_matrix else rows[0],
        passed=False,
        worst_abs_diff=math.inf,
        hint=hint,
        summary=f"✗ {what}: {hint}",
        checked_to=_checked_to(expected),
        warnings=[],
    )


def _all_match(grid: Grid, candidate: Grid, tolerance: Tolerance) -> bool:
    """Every entry matches the candidate strictly (slips are named on firm evidence only)."""
    return all(
        e.matches(c, tolerance, strict=True)
        for erow, crow in zip(grid, candidate, strict=True)
        for e, c in zip(erow, crow, strict=True)
    )


def _find_slip(grid: Grid, slips: list[Slip], truth: list, tolerance: Tolerance) -> str | None:
    """The first slip (command-specific ones first) whose values explain every entry."""
    for slip in [*slips, *generic_slips(truth)]:
        candidate = as_grid(slip.values)
        if shape_of(candidate) == shape_of(grid) and _all_match(grid, candidate, tolerance):
            return f"your answer matches {slip.description}"
    return None


def _checked_to(expected: Expected) -> str:
    """``checked to 2 significant digits (rounded or truncated)``, or a range, plus the
    other kinds of entry."""
    entries = [e for row in as_grid(expected.entries) for e in row]
    digits = sorted({e.digits for e in entries if e.digits is not None})
    parts = []
    if digits:
        span = f"{digits[0]}" if len(digits) == 1 else f"{digits[0]}–{digits[-1]}"
        plural = "" if digits == [1] else "s"
        parts.append(f"checked to {span} significant digit{plural} (rounded or truncated)")
    if any(e.kind == "zero" for e in entries):
        parts.append("zeros within atol of 0")
    if any(e.kind == "fraction" for e in entries):
        parts.append("fractions within the verdict's tolerance")
    return "; ".join(parts)


def _warnings(expected: Expected) -> list[str]:
    """A warning for answers written with a single significant digit (a loose check)."""
    loose = [e for row in as_grid(expected.entries) for e in row if e.digits == 1]
    if not loose:
        return []
    names = ", ".join(e.text for e in loose[:3]) + (" …" if len(loose) > 3 else "")
    first = loose[0]
    unit = Fraction(10) ** Decimal(first.text).adjusted()
    low, high = first.exact - unit / 2, first.exact + unit
    if first.exact < 0:
        low, high = first.exact - unit, first.exact + unit / 2
    return [
        f"{names} {'has' if len(loose) == 1 else 'have'} only 1 significant digit, a loose "
        f"check: {first.text} accepts anything from {float(low):g} up to {float(high):g}; write "
        "more digits to check more"
    ]


def _summary(grid, truth, ok, diffs, noun, hint, labels, checked_to) -> str:
    flat = [(i, j) for i, row in enumerate(ok) for j, _ in enumerate(row)]
    good = sum(ok[i][j] for i, j in flat)
    if good == len(flat):
        count = "the 1 entry" if len(flat) == 1 else f"all {len(flat)} entries"
        return f"✓ your answer matches {noun} in {count}, {checked_to}"
    i, j = max((p for p in flat if not ok[p[0]][p[1]]), key=lambda p: diffs[p[0]][p[1]])
    where = f"({i}, {j})" if len(truth) > 1 else f"{j}"
    if len(truth) == 1 and j < len(labels):
        where += f" ({labels[j]})"
    entry, true = grid[i][j], truth[i][j]
    if len(flat) == 1:
        text = f"✗ your answer does not match: you wrote {entry.text} but {noun} is {true:.6g}"
    else:
        text = (
            f"✗ {good} of {len(flat)} entries of your answer match; entry {where}: you wrote "
            f"{entry.text} but {noun} is {true:.6g}"
        )
    if entry.digits is not None and math.isfinite(true) and true != 0:
        text += f" ({rounded_text(true, entry.digits)} to {entry.digits} significant digit"
        text += f"{'s' if entry.digits != 1 else ''})"
    elif entry.kind == "zero":
        text += " (a written zero matches only values within atol of 0)"
    return text + (f" — {hint}" if hint else "")


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
            "rule": RULE,
            "worst_abs_diff": max(part.worst_abs_diff for part in self.parts.values()),
            "hint": next((part.hint for part in failed if part.hint), None),
            "parts": {key: part.to_json() for key, part in self.parts.items()},
        }
