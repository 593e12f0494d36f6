"""The precise column of ``gradcli expr``: SymPy expressions evaluated with mpmath at many
digits, at the exact binary point float64 gives.

* :class:`MpEvaluator` — one SymPy expression's value at a point with mpmath at a working
  precision, every sub-expression remembered (so that a float64 evaluation can be compared
  node by node). Corner functions met exactly at their jump (sign, Heaviside, δ at 0) are
  "hits": the plain value means nothing there, and the caller settles the point with
  one-sided limits;
* :func:`certified` — a value to :data:`DIGITS` significant digits, checked by evaluating
  again at a higher precision (cancellation is found and paid for with more digits);
* :func:`one_sided` — the limits of an expression from either side along one variable,
  from high-precision samples at shrinking distances (corners, removable singularities);
* :func:`difference` — a central difference of an expression at high precision: a check of
  SymPy's derivative that owes nothing to SymPy's differentiation and nothing to float64.

Only SymPy expressions built by gradcli are evaluated here; no user text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mpmath

from gradcli._torch import load

sp = load("sympy")

Expr = Any
DIGITS = 50  # significant digits of the precise column
GUARD = 15  # extra digits every evaluation carries
MAX_DPS = 1200  # beyond this working precision a value is "not available"
HIT = "hit"  # evaluation modes at a corner's jump: report it, or use the convention
CONVENTION = "convention"


class NotAvailable(Exception):
    """The expression has no precise value gradcli can compute (unknown function, time)."""


_DEADLINE: list[float] = []  # the innermost budget's end (time.monotonic), if any


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Within the block, an evaluation past ``seconds`` raises :class:`NotAvailable`."""
    _DEADLINE.append(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.pop()


def _check_time() -> None:
    if _DEADLINE and time.monotonic() > _DEADLINE[-1]:
        raise NotAvailable("the precise column's time is up")


@dataclass(frozen=True)
class Precise:
    """A value to :data:`DIGITS` digits (``value`` None: not a real number, or not found)."""

    value: Any  # mpmath.mpf, or None
    hit: bool = False  # a corner function met exactly at its jump

    @property
    def finite(self) -> bool:
        return self.value is not None and mpmath.isfinite(self.value)

    def as_float(self) -> float:
        if self.value is None:
            return math.nan
        try:
            return float(self.value)
        except (OverflowError, ValueError):
            return math.copysign(math.inf, float(mpmath.sign(self.value)))

    def text(self, digits: int = 17) -> str | None:
        """The value as decimal text (it may lie outside float64's range)."""
        if self.value is None:
            return None
        if mpmath.isinf(self.value):
            return "inf" if self.value > 0 else "-inf"
        text = mpmath.nstr(self.value, digits, min_fixed=-4, max_fixed=16)
        return text[:-2] if text.endswith(".0") else text


# --- the functions ----------------------------------------------------------------------------


def _real(value: Any) -> Any:
    """A real mpf, or NaN for a complex result (outside the function's real domain)."""
    if isinstance(value, mpmath.mpc):
        if value.imag != 0:
            return mpmath.nan
        return value.real
    return value


def _domain(test: Callable[..., bool], fn: Callable[..., Any]) -> Callable[..., Any]:
    def compute(*args: Any) -> Any:
        return fn(*args) if test(*args) else mpmath.nan

    return compute


def _pole_at_non_positive_integers(fn: Callable[..., Any]) -> Callable[..., Any]:
    def compute(*args: Any) -> Any:
        x = args[-1]
        if x <= 0 and x == mpmath.floor(x):
            return mpmath.inf
        return fn(*args)

    return compute


def _log(x: Any, base: Any = None) -> Any:
    if x < 0 or (base is not None and base <= 0):
        return mpmath.nan
    if x == 0:
        return -mpmath.inf
    return mpmath.log(x) if base is None else mpmath.log(x) / mpmath.log(base)


def _acot(x: Any) -> Any:
    return mpmath.pi / 2 if x == 0 else mpmath.atan(1 / x)


def _owens_t(h: Any, a: Any) -> Any:
    """T(h, a) = 1/(2π) ∫₀ᵃ exp(−h²(1+t²)/2)/(1+t²) dt (mpmath has no Owen's T)."""
    integrand = lambda t: mpmath.exp(-(h**2) * (1 + t**2) / 2) / (1 + t**2)  # noqa: E731
    return mpmath.quad(integrand, [0, a]) / (2 * mpmath.pi)


def _logsumexp(*args: Any) -> Any:
    top = max(args)
    if mpmath.isinf(top):
        return top
    return top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in args))


def _lowergamma(s: Any, x: Any) -> Any:
    if x < 0:
        return mpmath.nan
    return _real(mpmath.gammainc(s, 0, x))


def _lambertw(x: Any) -> Any:
    return _real(mpmath.lambertw(x)) if x >= -1 / mpmath.e else mpmath.nan


def _build_functions() -> dict[Any, Callable[..., Any]]:
    inside = lambda x: -1 <= x <= 1  # noqa: E731
    outside = lambda x: abs(x) >= 1  # noqa: E731
    table: dict[Any, Callable[..., Any]] = {
        sp.sin: mpmath.sin,
        sp.cos: mpmath.cos,
        sp.tan: mpmath.tan,
        sp.sec: mpmath.sec,
        sp.csc: mpmath.csc,
        sp.cot: mpmath.cot,
        sp.asin: _domain(inside, mpmath.asin),
        sp.acos: _domain(inside, mpmath.acos),
        sp.atan: mpmath.atan,
        sp.asec: _domain(outside, lambda x: mpmath.acos(1 / x)),
        sp.acsc: _domain(outside, lambda x: mpmath.asin(1 / x)),
        sp.acot: _acot,
        sp.atan2: mpmath.atan2,
        sp.sinh: mpmath.sinh,
        sp.cosh: mpmath.cosh,
        sp.tanh: mpmath.tanh,
        sp.sech: mpmath.sech,
        sp.csch: mpmath.csch,
        sp.coth: mpmath.coth,
        sp.asinh: mpmath.asinh,
        sp.acosh: _domain(lambda x: x >= 1, mpmath.acosh),
        sp.atanh: _domain(lambda x: -1 < x < 1, mpmath.atanh),
        sp.asech: _domain(lambda x: 0 < x <= 1, lambda x: mpmath.acosh(1 / x)),
        sp.acsch: lambda x: mpmath.asinh(1 / x),
        sp.acoth: _domain(lambda x: abs(x) > 1, lambda x: mpmath.atanh(1 / x)),
        sp.exp: mpmath.exp,
        sp.log: _log,
        sp.erf: mpmath.erf,
        sp.erfc: mpmath.erfc,
        sp.erfinv: _domain(lambda x: -1 < x < 1, mpmath.erfinv),
        sp.erfi: mpmath.erfi,
        sp.gamma: _pole_at_non_positive_integers(mpmath.gamma),
        sp.loggamma: _domain(lambda x: x > 0, mpmath.loggamma),
        sp.polygamma: _pole_at_non_positive_integers(lambda n, x: mpmath.psi(int(n), x)),
        sp.beta: lambda a, b: mpmath.beta(a, b),
        sp.uppergamma: lambda s, x: _real(mpmath.gammainc(s, x, mpmath.inf)),
        sp.lowergamma: _lowergamma,
        sp.LambertW: _lambertw,
        sp.Ei: _domain(lambda x: x != 0, mpmath.ei),
        sp.Si: mpmath.si,
        sp.Ci: _domain(lambda x: x > 0, mpmath.ci),
        sp.li: _domain(lambda x: x > 0, lambda x: mpmath.li(x)),
        sp.fresnels: mpmath.fresnels,
        sp.fresnelc: mpmath.fresnelc,
        sp.sinc: mpmath.sinc,
        sp.Abs: abs,
        sp.Max: lambda *a: max(a),
        sp.Min: lambda *a: min(a),
    }
    return table


_FUNCTIONS: dict[Any, Callable[..., Any]] = {}
_EXPLOSIVE: set[Any] = {sp.exp, sp.sinh, sp.cosh, sp.erfi, sp.Ei, sp.gamma, sp.LambertW}
_CORNERS: set[Any] = {sp.sign, sp.Heaviside, sp.DiracDelta}  # a jump at 0
_ABSOLUTE: set[Any] = {sp.Abs}
_ELEMENTARY: dict[Any, Callable[[Expr], Expr]] = {}  # activations: head → elementary form


def register(
    head: Any,
    form: Callable[..., Any] | None = None,
    *,
    explosive: bool = False,
    corner: bool = False,
    absolute: bool = False,
    elementary: Callable[[Expr], Expr] | None = None,
) -> None:
    """Teach the evaluator a SymPy function gradcli defines (gradcli.expr.symbolic calls
    this for its real-only abs, sign and cbrt, lgamma, logsumexp, owens_t and the
    activations): its mpmath ``form``, or its ``elementary`` SymPy form to evaluate."""
    if form is not None:
        functions()[head] = form
    if explosive:
        _EXPLOSIVE.add(head)
    if corner:
        _CORNERS.add(head)
    if absolute:
        _ABSOLUTE.add(head)
    if elementary is not None:
        _ELEMENTARY[head] = elementary


def functions() -> dict[Any, Callable[..., Any]]:
    """SymPy function classes → their mpmath forms (built on first use)."""
    if not _FUNCTIONS:
        _FUNCTIONS.update(_build_functions())
    return _FUNCTIONS


# mpmath forms of the functions gradcli.expr.symbolic defines (it registers them)


def log1p(x: Any) -> Any:
    return mpmath.log1p(x) if x > -1 else (-mpmath.inf if x == -1 else mpmath.nan)


def cbrt(x: Any) -> Any:
    return mpmath.sign(x) * mpmath.cbrt(abs(x))


lgamma = _pole_at_non_positive_integers(lambda x: mpmath.log(abs(mpmath.gamma(x))))
logsumexp = _logsumexp
owens_t = _owens_t


# --- evaluation -------------------------------------------------------------------------------


HUGE = mpmath.mpf(10) ** 15  # an exponent beyond this is treated as overflow, even here


def _explosion(head: Any, args: list[Any]) -> Any:
    """exp-like functions of a huge argument: ±∞, or 0 where they decay."""
    x = args[-1]
    if head in (sp.exp, sp.erfi, sp.Ei) and x < 0:
        return mpmath.mpf(0)
    if head is sp.sinh and x < 0:
        return -mpmath.inf
    return mpmath.inf


class _Delta:
    """δ(0) in the convention mode: infinite, except that 0·δ(0) is 0 (the jump is not
    crossed along the direction sampled)."""


DELTA = _Delta()


class MpEvaluator:
    """Values of SymPy expressions at one point with mpmath at ``dps`` decimal digits.

    ``mode`` is :data:`HIT` (a corner function exactly at its jump makes the result a hit)
    or :data:`CONVENTION` (H(0) = 1/2, sign(0) = 0, 0·δ(0) = 0: for samples taken along a
    direction in which the jump is never crossed). Every sub-expression's value is kept
    (:meth:`node`).
    """

    def __init__(
        self,
        point: dict[Expr, Any],
        dps: int,
        mode: str = HIT,
        memo: dict[Expr, tuple[Any, bool]] | None = None,
    ) -> None:
        self.point = point
        self.dps = dps
        self.mode = mode
        self.memo: dict[Expr, tuple[Any, bool]] = dict(memo or {})
        self.hit = False
        self.count = 0
        self.elementary: dict[Any, tuple[Expr, Expr]] = {}
        self.branches: list[tuple[Any, ...]] = []  # the piece, tie or sign each choice took

    def signature(self) -> frozenset[tuple[Any, ...]]:
        """The pieces, ties and signs the last evaluation chose (equal at two points: no
        piece boundary lies between them)."""
        return frozenset(self.branches)

    def value(self, expr: Expr) -> Precise:
        with mpmath.workdps(self.dps):
            self.hit = False
            result = self._eval(expr)
            if result is DELTA:
                result = mpmath.inf
            value = None if result is None or mpmath.isnan(result) else +result
        return Precise(value, self.hit)

    def _eval(self, e: Expr) -> Any:
        found = self.memo.get(e)
        if found is not None:
            value, hit = found
            self.hit = self.hit or hit
            return value
        outer, self.hit = self.hit, False
        self.count += 1
        if self.count % 64 == 0:
            _check_time()
        value = self._compute(e)
        self.memo[e] = (value, self.hit)
        self.hit = self.hit or outer
        return value

    def node(self, e: Expr) -> Any:
        """The value a sub-expression had in the last evaluation (None: not evaluated)."""
        found = self.memo.get(e)
        return None if found is None or found[0] is DELTA else found[0]

    def _compute(self, e: Expr) -> Any:
        if e.is_Symbol:
            return mpmath.mpf(self.point[e])
        if e.is_Number or e.is_NumberSymbol:
            return _number(e)
        if e.is_Add:
            values = [self._eval(arg) for arg in e.args]
            if any(v is DELTA for v in values):
                return DELTA
            return mpmath.fsum(values)
        if e.is_Mul:
            return self._product(e)
        if e.is_Pow:
            return self._power(*[self._eval(arg) for arg in e.args], e.args[1])
        if e.is_Piecewise:
            for k, (piece, condition) in enumerate(e.args):
                if self._truth(condition):
                    self.branches.append((e, k))
                    return self._eval(piece)
            return mpmath.nan
        return self._function(e)

    def _product(self, e: Expr) -> Any:
        values = [self._eval(arg) for arg in e.args]
        if any(v is DELTA for v in values):
            others = [v for v in values if v is not DELTA]
            if any(v == 0 for v in others):
                return mpmath.mpf(0)
            return DELTA
        result = mpmath.mpf(1)
        for value in values:
            result *= value
        return result

    @staticmethod
    def _power(base: Any, exponent: Any, written: Expr) -> Any:
        if base is DELTA or exponent is DELTA:
            return mpmath.nan
        if mpmath.isnan(base) or mpmath.isnan(exponent):
            return mpmath.nan
        whole = exponent == mpmath.floor(exponent) and mpmath.isfinite(exponent)
        if base == 0:
            if exponent > 0:
                return mpmath.mpf(0)
            return mpmath.mpf(1) if exponent == 0 else mpmath.inf  # a pole
        if base < 0 and not whole:
            return mpmath.nan  # (−8)^(1/3): SymPy's principal value is complex
        if written == sp.S.Half:
            return mpmath.sqrt(base)
        if written.is_Integer and abs(int(written)) <= 10_000:
            return base ** int(written)  # exact repeated squaring, far faster than exp∘log
        size = abs(exponent) * abs(mpmath.log(abs(base))) if base != 1 else 0
        if size > HUGE:  # (1e10)^(1e20): its exponent alone would not fit in memory
            grows = (abs(base) > 1) == (exponent > 0)
            sign = -1 if base < 0 and whole and int(exponent) % 2 else 1
            return sign * mpmath.inf if grows else mpmath.mpf(0)
        return mpmath.power(base, exponent)

    def _truth(self, condition: Expr) -> bool:
        if condition is sp.true or condition is sp.false:
            return bool(condition)
        if isinstance(condition, sp.And | sp.Or):
            parts = [self._truth(arg) for arg in condition.args]
            return all(parts) if isinstance(condition, sp.And) else any(parts)
        if isinstance(condition, sp.Not):
            return not self._truth(condition.args[0])
        lhs, rhs = (self._eval(arg) for arg in condition.args)
        compare = {
            sp.StrictGreaterThan: lambda a, b: a > b,
            sp.GreaterThan: lambda a, b: a >= b,
            sp.StrictLessThan: lambda a, b: a < b,
            sp.LessThan: lambda a, b: a <= b,
            sp.Equality: lambda a, b: a == b,
            sp.Unequality: lambda a, b: a != b,
        }.get(type(condition))
        if compare is None:
            raise NotAvailable(f"the condition {condition}")
        return bool(compare(lhs, rhs))

    def _function(self, e: Expr) -> Any:
        head = e.func
        if head in _CORNERS:
            return self._corner(e)
        form = functions().get(head)
        if form is None and head in _ELEMENTARY:
            return self._activation(head, e.args[0])
        if form is None:
            return self._fallback(e)
        args = [self._eval(arg) for arg in e.args]
        if any(a is DELTA or mpmath.isnan(a) for a in args):
            return mpmath.nan
        if head in _EXPLOSIVE and any(abs(a) > HUGE for a in args):
            return _explosion(head, args)  # e^(1e20): beyond any precision worth computing
        if head in (sp.Max, sp.Min):
            chosen = max(args) if head is sp.Max else min(args)
            self.branches.append((e, tuple(a == chosen for a in args)))
        elif head in _ABSOLUTE:
            self.branches.append((e, mpmath.sign(args[0])))
        try:
            return _real(form(*args))
        except (ValueError, ZeroDivisionError, OverflowError):
            return mpmath.nan

    def _corner(self, e: Expr) -> Any:
        u = self._eval(e.args[0])
        if u is DELTA or mpmath.isnan(u):
            return mpmath.nan
        if u != 0:
            if e.func is sp.DiracDelta:
                return mpmath.mpf(0)
            positive = u > 0
            if e.func is sp.Heaviside:
                return mpmath.mpf(1 if positive else 0)
            return mpmath.mpf(1 if positive else -1)
        self.hit = self.hit or self.mode == HIT
        if e.func is sp.DiracDelta:
            return DELTA
        if e.func is sp.Heaviside:
            return _number(e.args[1]) if len(e.args) > 1 else mpmath.mpf(0.5)
        return mpmath.mpf(0)  # sign

    def _activation(self, head: Any, arg: Expr) -> Any:
        """An activation by its elementary SymPy form (torch's definition, kinks included)."""
        if head not in self.elementary:
            u = sp.Dummy("u", real=True)
            self.elementary[head] = (u, _ELEMENTARY[head](u))
        u, form = self.elementary[head]
        value = self._eval(arg)
        if value is DELTA or mpmath.isnan(value):
            return mpmath.nan
        inner = MpEvaluator({**self.point, u: value}, self.dps, self.mode)
        inner.elementary = self.elementary
        result = inner._eval(form)
        self.hit = self.hit or inner.hit
        self.branches += [(arg, *branch[1:]) for branch in inner.branches]
        return result

    def _fallback(self, e: Expr) -> Any:
        """A function gradcli has no mpmath form for (meijerg…): SymPy's own evalf."""
        values = {s: sp.Float(mpmath.mpf(v), self.dps) for s, v in self.point.items()}
        try:
            result = e.xreplace(values).evalf(self.dps)
        except Exception as error:  # any SymPy failure: no precise value
            raise NotAvailable(str(e.func)) from error
        if result.is_Float:
            return mpmath.mpf(result._mpf_)
        if result.is_Number:
            return _number(result)
        real, imaginary = result.as_real_imag()
        if imaginary == 0 and real.is_Float:
            return mpmath.mpf(real._mpf_)
        if result.has(sp.nan, sp.zoo) or result.is_number:
            return mpmath.nan
        raise NotAvailable(str(e.func))


def _number(e: Expr) -> Any:
    if e is sp.S.NaN or e is sp.S.ComplexInfinity:
        return mpmath.nan
    if e is sp.S.Infinity:
        return mpmath.inf
    if e is sp.S.NegativeInfinity:
        return -mpmath.inf
    if e.is_Integer:
        return mpmath.mpf(int(e))
    if e.is_Rational:
        return mpmath.mpf(int(e.p)) / int(e.q)
    if e.is_Float:
        return mpmath.mpf(e._mpf_)
    if e is sp.pi:
        return +mpmath.pi
    if e is sp.E:
        return +mpmath.e
    if e is sp.EulerGamma:
        return +mpmath.euler
    if e is sp.Catalan:
        return +mpmath.catalan
    if e is sp.GoldenRatio:
        return +mpmath.phi
    return mpmath.mpf(e.evalf(mpmath.mp.dps)._mpf_)


# --- certified values ---------------------------------------------------------------------


def certified(expr: Expr, point: dict[Expr, Any], digits: int = DIGITS) -> Precise:
    """``expr`` at ``point`` to ``digits`` significant digits: evaluated at two working
    precisions, raised until both agree (cancellation costs digits, and is paid for)."""
    dps = digits + GUARD
    previous = MpEvaluator(point, dps).value(expr)
    step = 25
    while dps <= MAX_DPS:
        dps, step = dps + step, 2 * dps
        current = MpEvaluator(point, dps).value(expr)
        if _agree(previous, current, digits):
            return Precise(_rounded(current.value, digits), current.hit or previous.hit)
        previous = current
    raise NotAvailable(f"no {digits} stable digits within {MAX_DPS} digits of working precision")


def _agree(a: Precise, b: Precise, digits: int) -> bool:
    if a.value is None or b.value is None:
        return a.value is None and b.value is None
    if mpmath.isinf(a.value) or mpmath.isinf(b.value):
        return a.value == b.value
    if a.value == b.value:
        return True
    scale = max(abs(a.value), abs(b.value))
    return abs(a.value - b.value) <= scale * mpmath.mpf(10) ** (-(digits + 2))


def _rounded(value: Any, digits: int) -> Any:
    if value is None or not mpmath.isfinite(value):
        return value
    with mpmath.workdps(digits):
        return +value


# --- one-sided limits ---------------------------------------------------------------------

LIMIT_STEPS = tuple(10.0 ** (-5 * k) for k in range(1, 13))  # 1e-5 … 1e-60 (× min(1, |x|))


def _step_scale(at: Any) -> Any:
    """What sample distances are relative to: |x| below 1, else 1 (absolute). A step
    relative to a huge |x| (10⁻²⁰·10³⁰⁰) would straddle many periods of sin(x); an absolute
    one is exact at the precision these evaluations carry."""
    return min(mpmath.mpf(1), abs(at)) if at != 0 else mpmath.mpf(1)


def _magnitude_digits(at: Any) -> int:
    """Digits a sample x ± t needs beyond the step's own: log₁₀|x| for |x| > 1."""
    return int(mpmath.log10(abs(at))) + 2 if abs(at) > 1 else 0


@dataclass(frozen=True)
class Limits:
    """The limits of an expression from the right and from the left along one variable
    (None where a side has no limit or no real values)."""

    right: Any
    left: Any

    def __iter__(self) -> Iterator[Any]:
        return iter((self.right, self.left))


def one_sided(expr: Expr, point: dict[Expr, Any], variable: Expr) -> Limits:
    """lim ``expr`` as ``variable`` → its value from above and from below, from samples at
    distances 10⁻⁵ … 10⁻⁶⁰ (relative) evaluated at high precision; a side that does not
    settle (or diverges) is None, except that a side growing without bound is ±∞."""
    at = mpmath.mpf(point[variable])
    scale = _step_scale(at)
    dps = DIGITS + GUARD + 60 + _magnitude_digits(at)
    sides = []
    for direction in (1, -1):
        samples = []
        for step in LIMIT_STEPS:
            with mpmath.workdps(dps):
                shifted = at + direction * scale * mpmath.mpf(step)
            evaluator = MpEvaluator({**point, variable: shifted}, dps, CONVENTION)
            samples.append(evaluator.value(expr).value)
        with mpmath.workdps(dps):
            sides.append(_snapped(_limit(samples), samples))
    return Limits(*sides)


def quotient_limits(expr: Expr, point: dict[Expr, Any], variable: Expr) -> Limits:
    """The one-sided limits of the difference quotient (e(x ± t) − e(x)) / (±t): the
    one-sided derivatives of ``expr`` itself, found without differentiating it."""
    at = mpmath.mpf(point[variable])
    scale = _step_scale(at)
    dps = DIGITS + GUARD + 120 + _magnitude_digits(at)
    center = MpEvaluator(point, dps, CONVENTION).value(expr)
    if not center.finite:
        return Limits(None, None)
    sides = []
    for direction in (1, -1):
        samples = []
        for step in LIMIT_STEPS:
            with mpmath.workdps(dps):
                t = direction * scale * mpmath.mpf(step)
                value = MpEvaluator({**point, variable: at + t}, dps, CONVENTION).value(expr)
                samples.append(None if not value.finite else (value.value - center.value) / t)
        with mpmath.workdps(dps):
            sides.append(_snapped(_limit(samples), samples))
    return Limits(*sides)


def _snapped(limit: Any, samples: list[Any]) -> Any:
    """A limit within the estimate's own noise of 0 is 0 (sin(√t) → 0 is found as ±1e-46)."""
    if limit is None or not mpmath.isfinite(limit):
        return limit
    largest = max((abs(s) for s in samples if s is not None and mpmath.isfinite(s)), default=0)
    if abs(limit) <= mpmath.mpf(10) ** -25 * max(mpmath.mpf(1), largest):
        return mpmath.mpf(0)
    return limit


def same(a: Any, b: Any) -> bool:
    """Two limits (or a limit and a value) that are one number, to far below any tolerance."""
    if a is None or b is None or not (mpmath.isfinite(a) and mpmath.isfinite(b)):
        return False
    with mpmath.workdps(DIGITS + GUARD):
        return bool(abs(a - b) <= mpmath.mpf(10) ** -20 * max(mpmath.mpf(1), abs(a), abs(b)))


def _limit(samples: list[Any]) -> Any:
    """The limit a sequence of samples (at geometrically shrinking distances) settles to:
    a number, ±∞ (growing without bound), or None (no real values, or no settling)."""
    last = samples[-4:]
    if any(s is None for s in last):
        return None
    if all(mpmath.isinf(s) for s in last) and len({mpmath.sign(s) for s in last}) == 1:
        return last[-1]
    if any(mpmath.isinf(s) for s in last):
        return None
    a, b, c, d = last
    scale = max(mpmath.mpf(1), abs(d))
    steps = [abs(b - a), abs(c - b), abs(d - c)]
    if steps[2] <= scale * mpmath.mpf(10) ** -30:
        return d
    if 0 < steps[2] < steps[1] < steps[0] and steps[2] <= scale * mpmath.mpf(10) ** -12:
        ratio = steps[2] / steps[1]
        return d + (d - c) * ratio / (1 - ratio)  # the geometric tail
    growing = abs(a) < abs(b) < abs(c) < abs(d) and len({mpmath.sign(v) for v in last}) == 1
    if growing and steps[2] >= steps[1] / 2:
        return mpmath.inf * mpmath.sign(d)  # 1/t, log t: no finite limit
    return None


# --- high-precision difference quotients --------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """A central difference at high precision, with its estimated error."""

    value: Any
    error: Any


def depends_on(expr: Expr, variable: Expr) -> set[Expr]:
    """The sub-expressions of ``expr`` whose value changes with ``variable``."""
    found: set[Expr] = set()

    def visit(e: Expr) -> bool:
        if e.is_Symbol:
            hit = e == variable
        else:
            hit = False
            for arg in e.args:
                hit = visit(arg) or hit
        if hit:
            found.add(e)
        return hit

    visit(expr)
    return found


def difference(
    expr: Expr,
    point: dict[Expr, Any],
    variable: Expr,
    hint: Any = None,
    size: Any = None,
) -> Difference | None:
    """(e(x + h) − e(x − h)) / 2h along ``variable`` for h = 10⁻²⁰ and 10⁻²⁵ (times min(1,
    |x|), at a precision high enough that rounding stays below the derivative's size
    ``hint`` when one is given; None where a sample has no real value, meets a corner, or
    the stencil crosses a piece boundary (relu at 0). ``size`` is |e| at the point, if known.

    Only the sub-expressions that depend on ``variable`` are evaluated at x ± h; the others
    keep their values at x (they cancel exactly in the difference)."""
    at = mpmath.mpf(point[variable])
    scale = _step_scale(at)
    if size is None:
        center = MpEvaluator(point, DIGITS + GUARD).value(expr)
        if not center.finite:
            return None
        size = abs(center.value)
    size = max(abs(size), mpmath.mpf(10) ** -300)
    need = 0
    if hint is not None and mpmath.isfinite(hint) and hint != 0:
        need = max(0, int(mpmath.log10(size / abs(hint))))
    dps = min(MAX_DPS, DIGITS + GUARD + 30 + need + _magnitude_digits(at))
    base = MpEvaluator(point, dps)
    if not base.value(expr).finite:
        return None
    changing = depends_on(expr, variable)
    kept = {e: found for e, found in base.memo.items() if e not in changing}
    estimates = []
    for exponent in (20, 25):
        with mpmath.workdps(dps):
            h = scale * mpmath.mpf(10) ** -exponent
            right = MpEvaluator({**point, variable: at + h}, dps, memo=kept)
            left = MpEvaluator({**point, variable: at - h}, dps, memo=kept)
            plus, minus = right.value(expr), left.value(expr)
            if not (plus.finite and minus.finite) or plus.hit or minus.hit:
                return None
            if right.signature() != left.signature():
                return None  # the stencil crosses a piece boundary (a kink: relu at 0)
            estimates.append((plus.value - minus.value) / (2 * h))
    with mpmath.workdps(dps):
        value = estimates[1]
        rounding = size * mpmath.mpf(10) ** (3 - dps) / h
        error = abs(estimates[1] - estimates[0]) + rounding
    return Difference(value, error)


def confirms(derivative: Precise, check: Difference | None, size: Any) -> bool | None:
    """Whether a high-precision difference confirms a derivative's precise value: True,
    False (they differ: SymPy's derivative is wrong), or None (the difference is not
    accurate enough to say). ``size`` is |f| at the point over the variable's scale."""
    if check is None or not derivative.finite:
        return None
    p, d, error = derivative.value, check.value, check.error
    with mpmath.workdps(DIGITS + GUARD):
        largest = max(abs(p), abs(d))
        informative = error <= mpmath.mpf(10) ** -12 * largest or error <= (
            mpmath.mpf(10) ** -30 * max(mpmath.mpf(1), size)
        )
        if not informative:
            return None
        return bool(abs(p - d) <= mpmath.mpf(10) ** -15 * largest + 10 * error)
