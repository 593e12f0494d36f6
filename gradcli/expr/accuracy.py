"""Where float64 (or float32) loses digits: a float evaluation compared with the precise one,
sub-expression by sub-expression.

Both evaluators remember the value of every sub-expression (:class:`~gradcli.expr.symbolic.
Evaluator` in torch, :class:`~gradcli.expr.precise.MpEvaluator` with mpmath). Walking down from
the result along the sub-expression with the largest relative error finds where the error
grows: an intermediate that overflows (``exp(800)``), one that underflows to 0, a sum whose
terms cancel (``1 − e^y`` at y = 10⁻⁶: terms of size 1 leave 10⁻⁶, so six of sixteen digits go),
or a function that amplifies its argument's rounding. :func:`explain` names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mpmath

from gradcli.expr import symbolic as sym
from gradcli.expr.precise import DIGITS, GUARD, MpEvaluator, Precise

Expr = Any
DTYPE_DIGITS = {"float64": 15.95, "float32": 7.22}  # log10(2^53), log10(2^24)
EPSILON = {"float64": 2.0**-53, "float32": 2.0**-24}  # the unit roundoff
NOISE = 1000.0  # relative errors below this many units of roundoff are the dtype's rounding
AMPLIFIES = 100.0  # a node that multiplies the error it receives by this much is a cause
LARGEST = {"float64": 1.7976931348623157e308, "float32": 3.4028234663852886e38}
SMALLEST_NORMAL = {"float64": 2.2250738585072014e-308, "float32": 1.1754943508222875e-38}
TEXT_LIMIT = 48


def digits_lost(value: float, precise: Precise, dtype: str = "float64") -> int | None:
    """How many of the dtype's significant digits ``value`` has lost against ``precise``
    (all of them when it is not finite while the precise value is); None without one."""
    if not precise.finite:
        return None
    full = DTYPE_DIGITS[dtype]
    if not math.isfinite(value):
        return round(full)
    truth = precise.value
    if truth == 0:
        return 0 if value == 0 else round(full)
    with mpmath.workdps(30):
        relative = abs(mpmath.mpf(value) - truth) / abs(truth)
        if relative == 0:
            return 0
        correct = -float(mpmath.log10(relative))
    return max(0, min(round(full), round(full - correct)))


@dataclass(frozen=True)
class Cause:
    """One place where the float evaluation loses accuracy."""

    kind: str  # overflow, underflow, cancellation, amplified
    where: str  # the sub-expression, as SymPy prints it (shortened)
    detail: str  # what happens there, in words

    def sentence(self) -> str:
        return f"{self.kind} in {self.where}: {self.detail}"


def explain(expr: Expr, floats: sym.Evaluator, point: dict[Expr, Any], dtype: str) -> list[Cause]:
    """Why ``floats`` (which has evaluated ``expr``) is off: the sub-expressions, from the
    result down, where the error is born or grows (at most two, the largest first)."""
    precise = MpEvaluator(point, DIGITS + GUARD)
    precise.value(expr)
    path = _worst_path(expr, floats, precise, EPSILON[dtype])[::-1]  # where it is born first
    causes = [_cause(node, growth, floats, precise, dtype) for node, growth in path]
    found = [cause for cause in causes if cause is not None]
    overflow = [c for c in found if c.kind in ("overflow", "underflow")]
    return (overflow or found)[:2]


def _float_value(floats: sym.Evaluator, e: Expr) -> float | None:
    found = floats.memo.get(e)
    if found is None:
        return None
    tensor, _ = found
    return float(tensor) if tensor.numel() == 1 else None


def _relative(value: float | None, truth: Any) -> float:
    """The relative error of a float against an mpf (∞ when the float is not finite)."""
    if value is None or truth is None:
        return 0.0
    if not mpmath.isfinite(truth):
        return 0.0
    if not math.isfinite(value):
        return math.inf
    if truth == 0:
        return 0.0 if value == 0 else math.inf
    return float(abs(mpmath.mpf(value) - truth) / abs(truth))


def _worst_path(
    expr: Expr, floats: sym.Evaluator, precise: MpEvaluator, epsilon: float
) -> list[tuple[Expr, float]]:
    """From the root down along the child with the largest relative error: each node with
    the factor by which its error exceeds its worst child's (its own growth)."""
    path = []
    node = expr
    noise = NOISE * epsilon
    for _ in range(200):
        error = _relative(_float_value(floats, node), precise.node(node))
        if error <= noise:
            break
        children = [arg for arg in node.args if isinstance(arg, sym.sp.Basic) and not arg.is_Atom]
        scored = [(_relative(_float_value(floats, c), precise.node(c)), c) for c in children]
        scored = [(e, c) for e, c in scored if e > noise]
        worst = max(scored, key=lambda pair: pair[0], default=None)
        below = worst[0] if worst else 0.0
        growth = (
            math.inf
            if not math.isfinite(error) and math.isfinite(below)
            else (error / max(below, epsilon))
        )
        path.append((node, growth))
        if worst is None:
            break
        node = worst[1]
    return [(node, growth) for node, growth in path if growth >= AMPLIFIES]


def size_text(value: Any) -> str:
    """A magnitude to two digits: 2.7e+347, 1e-06, 0.5."""
    try:
        as_float = float(value)
    except (OverflowError, ValueError):
        as_float = math.inf
    if math.isfinite(as_float) and (as_float != 0 or value == 0):
        return f"{as_float:.2g}"
    return mpmath.nstr(value, 2, min_fixed=0, max_fixed=0).replace(".0e", "e")


def _short(e: Expr) -> str:
    text = sym.text(e)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _cause(
    node: Expr, growth: float, floats: sym.Evaluator, precise: MpEvaluator, dtype: str
) -> Cause | None:
    value, truth = _float_value(floats, node), precise.node(node)
    if value is None or truth is None or not mpmath.isfinite(truth):
        return None
    where = _short(node)
    if not math.isfinite(value):
        children = [_float_value(floats, arg) for arg in node.args]
        if all(c is not None and math.isfinite(c) for c in children):
            return Cause(
                "overflow",
                where,
                f"it is {size_text(truth)} here, beyond {dtype}'s {LARGEST[dtype]:.1e}",
            )
        return None
    if value == 0 and truth != 0 and (not node.is_Add or abs(truth) < SMALLEST_NORMAL[dtype]):
        return Cause("underflow", where, f"it is {size_text(truth)} here; {dtype} gives 0")
    if node.is_Add:  # (a sum that cancels to 0 in float64 though its value is representable)
        terms = [precise.node(arg) for arg in node.args]
        if all(t is not None and mpmath.isfinite(t) for t in terms) and truth != 0:
            size = max(abs(t) for t in terms)
            lost = max(0, round(float(mpmath.log10(size / abs(truth)))))
            return Cause(
                "cancellation",
                where,
                f"terms of size {size_text(size)} cancel to {size_text(truth)} "
                f"({lost} digit{'s' if lost != 1 else ''} lost)",
            )
        return None
    digits = max(0, round(math.log10(growth))) if math.isfinite(growth) else None
    amount = f"×{growth:.0e}" if digits is None or digits < 1 else f"about {digits} digits"
    return Cause("rounding amplified", where, f"it magnifies its argument's rounding: {amount}")
