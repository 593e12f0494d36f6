"""``--expect``: check the user's own answer against the computed gradient (torch-free).

The rule, the same for every command and every entry, decided by how the entry is written:

* **exact** — a whole number without a decimal point or exponent (``2``, ``-1``, ``150``), a
  fraction (``2/3``) or a zero (``0``, ``0.0``): it matches only within the verdict's tolerance
  (atol + rtol·|truth|), the accuracy of the computed result itself;
* **rounded** — a decimal with one significant digit (``0.2``, ``-3e-4``) must be the true value
  correctly rounded to one digit: a whole number of units of that digit at the truth's
  magnitude, and |answer − truth| ≤ ½ unit (a tie passes either way);
* **rounded or truncated** — from two significant digits on (``0.23``, ``0.2350``: trailing
  zeros count) the true value truncated also matches (whole units, same sign, |answer| ≤
  |truth| < |answer| + 1 unit).

With ``--min-digits N`` a decimal with fewer than N significant digits is wrong whatever its
value (exact forms are exempt). At a kink — a point where the one-sided derivatives differ —
an answer equal to either one-sided derivative, or between them, matches too, with a note
naming torch's convention.

Answers are exact decimals (``decimal``/``fractions``, never floats). When an answer is off,
common slips — a factor of 2 or ½, a transposed matrix, a wrong sign, or a command-specific
one (another reduction, σ' applied to the activated value…) — are tried with the same rule
and named.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from gradcli.errors import InputError, shown
from gradcli.parsing import parse_number, split_numbers
from gradcli.settings import Tolerance

EXACT, ROUNDED, TRUNCATED = "exact", "rounded", "truncated"  # the rule that matched an entry
Grid = list[list[Any]]  # every quantity is handled as a matrix; vectors are one row
_FRACTION = re.compile(r"([+-]?\d+)/(\d+)", re.ASCII)
_WHOLE = re.compile(r"[+-]?\d+", re.ASCII)
MAX_EXPONENT = 330  # beyond float64's range either way
MAX_DIGITS = 40  # more significant digits than float64 could ever confirm
MIN_DIGITS_LIMIT = 17  # --min-digits above float64's ~17 digits could never be met
NOTE_LIMIT = 3  # kink notes shown (the rest counted)


@dataclass(frozen=True)
class Entry:
    """One number of the user's answer, exactly as written."""

    text: str
    exact: Fraction
    digits: int | None  # significant digits of a decimal; None for an exact form
    kind: str  # "decimal", "whole", "zero" or "fraction"

    @property
    def value(self) -> float:
        return float(self.exact)

    @property
    def is_exact_form(self) -> bool:
        return self.kind != "decimal"

    def match(self, truth: float, tolerance: Tolerance, strict: bool = False) -> str | None:
        """The rule by which this entry is ``truth`` (exact, rounded, truncated), or None.

        ``strict`` (for naming slips): rounded only, and a one-digit decimal must be exact.
        """
        if not math.isfinite(truth):
            return None
        true = Fraction(truth)
        if self.is_exact_form:
            bound = Fraction(tolerance.atol) + Fraction(tolerance.rtol) * abs(true)
            return EXACT if abs(self.exact - true) <= bound else None
        if true == 0:
            return None
        digits = self.digits or 1
        unit = digit_unit(truth, digits)
        if strict and digits == 1:
            close = abs(self.exact - true) <= Fraction(tolerance.rtol) * abs(true)
            return ROUNDED if close else None
        if (self.exact / unit).denominator != 1:  # not a value the truth rounds to at all
            return None
        if 2 * abs(self.exact - true) <= unit:  # rounded (ties pass)
            return ROUNDED
        if strict or digits < 2:
            return None
        same_sign = (self.exact > 0) == (true > 0)
        truncated = same_sign and abs(self.exact) <= abs(true) < abs(self.exact) + unit
        return TRUNCATED if truncated else None

    def matches(self, truth: float, tolerance: Tolerance, strict: bool = False) -> bool:
        return self.match(truth, tolerance, strict) is not None


def digit_unit(truth: float, digits: int) -> Fraction:
    """One unit of the ``digits``-th significant digit at ``truth``'s magnitude."""
    return Fraction(10) ** (Decimal(truth).adjusted() - digits + 1)


def rounded_text(truth: float, digits: int) -> str:
    """``truth`` rounded to ``digits`` significant digits, trailing zeros kept."""
    if not math.isfinite(truth) or truth == 0:
        return f"{truth + 0.0:g}"
    places = digits - 1 - Decimal(truth).adjusted()
    quantum = Decimal(1).scaleb(-places)
    value = Decimal(truth).quantize(quantum) if places < 60 else Decimal(truth)
    text = f"{value:f}" if -6 <= value.adjusted() < 16 else f"{value:e}"
    return text


@dataclass(frozen=True)
class Expected:
    """The user's answer: a vector or a matrix of :class:`Entry`, and ``--min-digits``."""

    entries: list
    min_digits: int | None = None

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
    """One answer entry: a decimal (its digits counted), a whole number, a zero or ``p/q``.

    Digits are counted before any conversion: Python refuses to turn more than 4,300 digits
    into an integer, and no answer needs more than :data:`MAX_DIGITS`."""
    text = token.strip()
    fraction = _FRACTION.fullmatch(text)
    if fraction:
        if len(fraction[1].lstrip("+-")) + len(fraction[2]) > 2 * MAX_DIGITS:
            raise InputError(
                f"{what}: {shown(token)} has too many digits (at most {2 * MAX_DIGITS} in all)"
            )
        numerator, denominator = int(fraction[1]), int(fraction[2])
        if denominator == 0:
            raise InputError(f"{what}: {shown(token)} divides by zero")
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
    if _WHOLE.fullmatch(text):
        return Entry(text, Fraction(number), None, "whole")
    return Entry(text, Fraction(number), digits, "decimal")


def parse_expected(text: str, what: str = "--expect", min_digits: int | None = None) -> Expected:
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
    return Expected(_entries(tokens, what), min_digits)


def with_min_digits(expected: Expected, min_digits: int | None) -> Expected:
    """The same answer, checked with ``--min-digits``."""
    return replace(expected, min_digits=min_digits)


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


# ---------------------------------------------------------------- kinks


@dataclass(frozen=True)
class Kink:
    """An entry at a kink: its one-sided derivatives and the value torch reports there."""

    left: float  # the left-hand derivative (the limit from below)
    right: float  # the right-hand derivative
    torch: float  # torch's convention: the computed value

    @property
    def low(self) -> float:
        return min(self.left, self.right)

    @property
    def high(self) -> float:
        return max(self.left, self.right)

    def range_text(self) -> str:
        return (
            f"any value from {_g(self.low)} to {_g(self.high)} matches (the left-hand "
            f"derivative is {_g(self.left)}, the right-hand {_g(self.right)}; torch uses "
            f"{_g(self.torch)})"
        )


# Given the flat (row-major) indices of entries that did not match, the kinks among them.
KinkFinder = Callable[[list[int]], Mapping[int, Kink]]


def is_kink(left: float, right: float, tolerance: Tolerance) -> bool:
    """Whether one-sided derivatives differ by more than the verdict's tolerance."""
    if not (math.isfinite(left) and math.isfinite(right)):
        return False
    return abs(left - right) > tolerance.bound(max(abs(left), abs(right)))


def _g(value: float) -> str:
    return f"{value + 0.0:.6g}"


def _kink_match(entry: Entry, kink: Kink, tolerance: Tolerance) -> tuple[str, str] | None:
    """(rule, side) when ``entry`` is a one-sided derivative or lies between them."""
    for side, value in (("left-hand", kink.left), ("right-hand", kink.right)):
        rule = entry.match(value, tolerance)
        if rule is not None:
            return rule, side
    if Fraction(kink.low) <= entry.exact <= Fraction(kink.high):
        return EXACT, "between"
    return None


def _kink_note(entry: Entry, side: str, kink: Kink, where: str) -> str:
    if side == "between":
        said = (
            f"{entry.text} lies between the one-sided derivatives {_g(kink.low)} and "
            f"{_g(kink.high)}"
        )
    else:
        said = f"{entry.text} is the {side} derivative"
    return f"at {where}, a kink, {said}; torch uses {_g(kink.torch)}"


# ---------------------------------------------------------------- slips


@dataclass(frozen=True)
class Slip:
    """A common mistake and the values it would produce (any shape: an answer of that shape
    that matches these values is named by ``description``)."""

    description: str
    values: list


def generic_slips(truth: list, noun: str = "the gradient") -> list[Slip]:
    """Slips that apply to any answer: factor 2 or ½, sign, transposition — worded for the
    quantity (``noun``); the reductions are named as the likely cause for derivatives only."""
    grid = as_grid(truth)
    derivative = any(mark in noun for mark in ("∂", "gradient", "'", "δ", "∇"))
    twice = " (a factor of 2: mean vs sum vs half-sum?)" if derivative else " (a factor of 2)"
    half = " (a factor of ½: half-sum vs sum?)" if derivative else " (a factor of ½)"
    slips = [
        Slip(f"twice {noun}{twice}", _scale(truth, 2)),
        Slip(f"half {noun}{half}", _scale(truth, 0.5)),
        Slip(f"{noun} with the wrong sign", _scale(truth, -1)),
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
    digits: list  # significant digits per entry (None for an exact form)
    rules: list  # per entry: the rule that matched (exact, rounded, truncated), None if off
    ok: list  # per entry
    passed: bool
    worst_abs_diff: float
    hint: str | None
    summary: str
    checked_to: str  # "checked to 2 significant digits (rounded or truncated)"
    warnings: list[str] = field(default_factory=list)
    min_digits: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "expected": self.expected,
            "written": self.written,
            "digits": self.digits,
            "rule": self.rules,
            "ok": self.ok,
            "min_digits": self.min_digits,
            "checked_to": self.checked_to,
            "worst_abs_diff": self.worst_abs_diff,
            "hint": self.hint,
            "summary": self.summary,
            "warnings": self.warnings,
        }


@dataclass
class _Judged:
    """One entry of the answer against its truth."""

    entry: Entry
    truth: float
    rule: str | None = None
    short: bool = False  # fewer digits than --min-digits
    kink: Kink | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.rule is not None and not self.short

    @property
    def diff(self) -> float:
        return abs(self.entry.value - self.truth) if math.isfinite(self.truth) else math.inf


def check_answer(
    expected: Expected,
    truth: list,
    what: str,
    *,
    tolerance: Tolerance,
    slips: Iterable[Slip] = (),
    noun: str = "the gradient",
    labels: Sequence[str] = (),
    name: str | None = None,
    kinks: KinkFinder | None = None,
) -> AnswerCheck:
    """Compare the user's answer with ``truth`` entry by entry; name the likely slip.

    ``tolerance`` is the verdict's (for exact forms); ``labels`` name the entries of a vector
    answer (e.g. ``x[1] = 0.5``) in the summary, else entries are written ``name[i]`` or
    ``name[i][j]`` (``name`` defaults to ``what``); ``kinks`` finds the entries that sit on a
    kink among those that did not match.
    """
    slips = list(slips)
    grid = _reshape_like(expected, truth, what)
    if grid is None:
        return _other_shape(expected, truth, what, tolerance, slips, noun)
    true_grid = as_grid(truth)
    judged = [
        [_judge(e, t, tolerance, expected.min_digits) for e, t in zip(erow, trow, strict=True)]
        for erow, trow in zip(grid, true_grid, strict=True)
    ]
    vector = not (expected.is_matrix or len(true_grid) > 1)
    where = _locator(labels, name or what, vector, len(true_grid[0]))
    notes = _apply_kinks(judged, kinks, tolerance, where) if kinks is not None else []
    ok = [[j.ok for j in row] for row in judged]
    passed = all(all(row) for row in ok)
    hint = None if passed else _find_slip(grid, slips, truth, tolerance, noun)
    checked_to = _checked_to(expected)
    return AnswerCheck(
        expected=expected.values,
        written=expected.written,
        digits=_map_nested(expected.entries, lambda e: e.digits),
        rules=_shaped([[j.rule if j.ok else None for j in row] for row in judged], expected),
        ok=ok[0] if vector else ok,
        passed=passed,
        worst_abs_diff=max(j.diff for row in judged for j in row),
        hint=hint,
        summary=_summary(judged, noun, hint, where, checked_to, expected.min_digits),
        checked_to=checked_to,
        warnings=_capped(notes),
        min_digits=expected.min_digits,
    )


def _judge(entry: Entry, truth: float, tolerance: Tolerance, min_digits: int | None) -> _Judged:
    short = min_digits is not None and entry.digits is not None and entry.digits < min_digits
    return _Judged(entry, truth, entry.match(truth, tolerance), short)


def _shaped(rows: Grid, expected: Expected) -> list:
    """Per-entry values laid out as the user wrote the answer (a vector or a matrix)."""
    flat = [v for row in rows for v in row]
    if not expected.is_matrix:
        return flat
    width = len(expected.entries[0])
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def _locator(labels: Sequence[str], name: str, vector: bool, width: int) -> Callable[[int], str]:
    """How a message names flat entry k: its label, ``name[k]`` or ``name[i][j]``."""

    def where(k: int) -> str:
        if vector:
            return labels[k] if k < len(labels) else f"{name}[{k}]"
        return f"{name}[{k // width}][{k % width}]"

    return where


def _apply_kinks(
    judged: list[list[_Judged]], find: KinkFinder, tolerance: Tolerance, where
) -> list[str]:
    """Entries that did not match but sit on a kink: either one-sided derivative, or a value
    between them, matches; a note names what was written and torch's convention."""
    flat = [j for row in judged for j in row]
    missed = [k for k, j in enumerate(flat) if j.rule is None and math.isfinite(j.truth)]
    if not missed:
        return []
    notes = []
    for k, kink in sorted(find(missed).items()):
        item = flat[k]
        item.kink = kink
        matched = _kink_match(item.entry, kink, tolerance)
        if matched is not None:
            item.rule = matched[0]
            notes.append(_kink_note(item.entry, matched[1], kink, where(k)))
    return notes


def _capped(notes: list[str]) -> list[str]:
    if len(notes) <= NOTE_LIMIT:
        return notes
    return [*notes[:NOTE_LIMIT], f"… and {len(notes) - NOTE_LIMIT} more entries at kinks"]


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
        flipped = Expected(transpose(expected.entries), expected.min_digits)
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
        rules=_map_nested(expected.entries, lambda e: None),
        ok=rows if expected.is_matrix else rows[0],
        passed=False,
        worst_abs_diff=math.inf,
        hint=hint,
        summary=f"✗ {what}: {hint}",
        checked_to=_checked_to(expected),
        warnings=[],
        min_digits=expected.min_digits,
    )


def _all_match(grid: Grid, candidate: Grid, tolerance: Tolerance) -> bool:
    """Every entry matches the candidate strictly (slips are named on firm evidence only)."""
    return all(
        e.matches(c, tolerance, strict=True)
        for erow, crow in zip(grid, candidate, strict=True)
        for e, c in zip(erow, crow, strict=True)
    )


def _find_slip(
    grid: Grid, slips: list[Slip], truth: list, tolerance: Tolerance, noun: str = "the gradient"
) -> str | None:
    """The first slip (command-specific ones first) whose values explain every entry."""
    for slip in [*slips, *generic_slips(truth, noun)]:
        candidate = as_grid(slip.values)
        if shape_of(candidate) == shape_of(grid) and _all_match(grid, candidate, tolerance):
            return f"your answer matches {slip.description}"
    return None


_EXACT_NAMES = {"whole": "whole numbers", "fraction": "fractions", "zero": "zeros"}


def _checked_to(expected: Expected) -> str:
    """What the entries were checked to: ``checked to 2 significant digits (rounded or
    truncated)``, ``whole numbers exact (within the verdict's tolerance)``…"""
    entries = [e for row in as_grid(expected.entries) for e in row]
    digits = sorted({e.digits for e in entries if e.digits is not None})
    parts = []
    if digits:
        span = f"{digits[0]}" if len(digits) == 1 else f"{digits[0]}–{digits[-1]}"
        plural = "" if digits == [1] else "s"
        if digits[-1] == 1:
            how = "rounded"
        elif digits[0] == 1:
            how = "rounded; truncated too from 2 digits on"
        else:
            how = "rounded or truncated"
        parts.append(f"checked to {span} significant digit{plural} ({how})")
    kinds = [name for kind, name in _EXACT_NAMES.items() if any(e.kind == kind for e in entries)]
    if kinds:
        listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
        parts.append(f"{listed} exact (within the verdict's tolerance)")
    return "; ".join(parts)


def _summary(judged, noun, hint, where, checked_to, min_digits) -> str:
    flat = [j for row in judged for j in row]
    good = sum(j.ok for j in flat)
    if good == len(flat):
        count = "the 1 entry" if len(flat) == 1 else f"all {len(flat)} entries"
        return f"✓ your answer matches {noun} in {count}, {checked_to}"
    wrong = [k for k, j in enumerate(flat) if j.rule is None]
    k = (
        max(wrong, key=lambda i: flat[i].diff)
        if wrong
        else next(i for i, j in enumerate(flat) if j.short)
    )
    item = flat[k]
    head = (
        "✗ your answer does not match"
        if len(flat) == 1
        else f"✗ {good} of {len(flat)} entries of your answer match; "
        f"{'the largest miss ' if len(wrong) > 1 else ''}at {where(k)}"
    )
    if item.rule is not None:  # right, but written with too few digits
        return (
            f"{head}: you wrote {item.entry.text}: give at least {min_digits} significant "
            f"digits (--min-digits {min_digits})"
        )
    text = f"{head}: you wrote {item.entry.text} but {noun} is {_g(item.truth)}"
    text += _why(item)
    if item.kink is not None:
        text += f"; at {where(k)}, a kink, {item.kink.range_text()}"
    short = sum(j.short and j.rule is not None for j in flat)
    if short:
        text += (
            f"; {short} other entr{'y matches but gives' if short == 1 else 'ies match but give'}"
            f" fewer than {min_digits} significant digits (--min-digits {min_digits})"
        )
    return text + (f" — {hint}" if hint else "")


def _why(item: _Judged) -> str:
    """What the rule expected of the entry as written."""
    entry, true = item.entry, item.truth
    if not math.isfinite(true):
        return ""
    if entry.kind == "decimal" and true != 0:
        digits = entry.digits or 1
        text = f" ({rounded_text(true, digits)} to {digits} significant digit"
        text += "s)" if digits != 1 else "; a one-digit answer must be correctly rounded)"
        return text
    if entry.kind == "whole":
        if entry.exact in (Fraction(round(true)), Fraction(int(true))):
            closer = rounded_text(true, len(entry.text.lstrip("+-")) + 1)
            return f" (a whole number is exact: write {closer} to give an approximation)"
        return " (a whole number is exact)"
    if entry.kind == "zero":
        return " (a written zero matches only values within atol of 0)"
    return ""


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
            "hint": next((part.hint for part in failed if part.hint), None),
            "parts": {key: part.to_json() for key, part in self.parts.items()},
        }
