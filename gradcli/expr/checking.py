"""The verdict of one derivative entry once its precise value is known.

The precise value P (SymPy's derivative at 50 digits, or its one-sided limit at a corner)
is the truth each float column is measured against, once something independent of SymPy's
differentiation confirms it:

* a central difference of f at high precision (:func:`~gradcli.expr.precise.difference`),
  or, where P came from one-sided limits, the one-sided difference quotients of f itself;
* or torch's autograd, or a trusted finite difference, agreeing with P to the tolerance.

A float column that differs from P by more than the tolerance is *off*; it never gets a ✓.
If the reason is found — an intermediate that overflows, a sum that cancels, a function
that magnifies rounding (:mod:`gradcli.expr.accuracy`), or autograd meeting ∞·0 where a
piece of the formula has no derivative — the entry is settled by P (its float columns
flagged, the digits lost said); if not, the float column really disagrees (✗).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mpmath

from gradcli.expr.accuracy import Cause, digits_lost
from gradcli.expr.precise import (
    Precise,
    confirms,
    difference,
    quotient_limits,
    same,
)
from gradcli.settings import Tolerance

Expr = Any


@dataclass(frozen=True)
class Review:
    """One entry measured against its precise value."""

    precise: Precise | None = None
    confirmed: bool | None = None  # by an independent high-precision check (None: no check)
    off: tuple[str, ...] = ()  # float columns beyond the tolerance: symbolic, autograd, numeric
    digits_lost: int | None = None  # the worst of the symbolic and autograd columns
    causes: dict[str, list[Cause]] = field(default_factory=dict)  # per off column
    verdict: bool | None = None  # None: the float columns' own verdict stands
    witness: Any = None  # the independent value (a difference quotient), for a message

    @property
    def flagged(self) -> bool:
        """Settled by the precise value while a float column is off (shown with !)."""
        return bool(self.verdict) and any(c in self.off for c in ("symbolic", "autograd"))


HALF = {"float64": 8, "float32": 4}  # digits lost worth a note even within the tolerance

AUTOGRAD_SINGULAR = Cause(
    "autograd meets ∞·0",
    "the chain rule",
    "a piece of the formula has no finite derivative here although the whole has one",
)


def review(
    *,
    precise: Precise | None,
    exists: bool,
    by_limits: bool,
    analytic: float,
    autograd: float | None,
    numeric: float | None,
    of: Expr,
    of_precise: Precise | None,
    at: dict[Expr, Any],
    variable: Expr,
    tolerance: Tolerance,
    dtype: str,
    explain_analytic: Callable[[], list[Cause]],
    explain_autograd: Callable[[], list[Cause]],
) -> Review:
    """The entry's review; ``autograd`` None where torch has no form, ``numeric`` None where
    the finite difference is not usable."""
    if not exists or precise is None or not precise.finite:
        return Review(precise=precise)
    confirmed, witness = _confirmation(precise, by_limits, of, of_precise, at, variable)
    off = []
    if _off(analytic, precise, tolerance):
        off.append("symbolic")
    if autograd is not None and _off(autograd, precise, tolerance):
        off.append("autograd")
    if numeric is not None and _off(numeric, precise, tolerance):
        off.append("numeric")
    causes: dict[str, list[Cause]] = {}
    if "symbolic" in off:
        causes["symbolic"] = explain_analytic()
    if "autograd" in off:
        found = explain_autograd() or causes.get("symbolic") or []
        if not found and by_limits and not math.isfinite(autograd or 0.0):
            found = [AUTOGRAD_SINGULAR]
        causes["autograd"] = found
    explained = all(causes.get(column) for column in ("symbolic", "autograd") if column in off)
    witnessed = (
        confirmed is True
        or (autograd is not None and "autograd" not in off)
        or (numeric is not None and "numeric" not in off)
    )
    verdict = confirmed is not False and witnessed and explained
    lost = [digits_lost(v, precise, dtype) for v in (analytic, autograd) if v is not None]
    worst = max((d for d in lost if d is not None), default=None)
    if worst is not None and worst >= HALF[dtype] and not off:
        causes["within"] = explain_analytic()  # said, though the tolerance still holds
    return Review(precise, confirmed, tuple(off), worst, causes, verdict, witness)


def _off(value: float, precise: Precise, tolerance: Tolerance) -> bool:
    truth = precise.as_float()
    if not math.isfinite(value):
        return True
    if not math.isfinite(truth):  # beyond float64's range: any finite float is off
        return True
    return abs(value - truth) > tolerance.bound(truth)


def _confirmation(
    precise: Precise,
    by_limits: bool,
    of: Expr,
    of_precise: Precise | None,
    at: dict[Expr, Any],
    variable: Expr,
) -> tuple[bool | None, Any]:
    """Whether an independent high-precision check confirms the precise derivative."""
    if of_precise is None or not of_precise.finite:
        return None, None
    if by_limits:
        sides = quotient_limits(of, at, variable)
        if sides.right is None or sides.left is None:
            return None, None
        agrees = same(sides.right, precise.value) and same(sides.left, precise.value)
        return agrees, sides.right
    scale = abs(mpmath.mpf(at[variable])) or mpmath.mpf(1)
    check = difference(of, at, variable, precise.value, of_precise.value)
    if check is None:  # a domain edge (lowergamma at x = 0): the one side there is
        sides = [side for side in quotient_limits(of, at, variable) if side is not None]
        if len(sides) != 1 or not mpmath.isfinite(sides[0]):
            return None, None  # both sides: a kink, where the value is a convention
        return same(sides[0], precise.value), sides[0]
    result = confirms(precise, check, abs(of_precise.value) / scale)
    return result, check.value
