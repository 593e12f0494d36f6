"""The symbolic side of ``gradcli expr``: the parsed tree as a SymPy expression, and the
numbers of SymPy expressions at a point (computed with torch ops, never by evaluating text).

Variables are real SymPy symbols. Three SymPy functions are replaced by real-only versions
whose derivatives stay readable (SymPy's own ``Abs`` differentiates into ``re``/``im`` terms
when it cannot prove its argument real): ``abs``, ``sign`` and the real cube root ``cbrt``.
Four functions SymPy lacks (or has only for complex arguments) are defined here with their
derivatives: ``lgamma`` (ln|Γ|), ``logsumexp``, ``owens_t``, and ``log1p``/``expm1`` come
from :mod:`sympy.codegen.cfunctions`.
Every activation of the registry has a SymPy function whose derivative is written with the
same stable pieces torch uses (σ, softplus…) and follows torch's convention at its kinks;
:data:`ACTIVATION_FORMS` also holds each one's elementary formula, which the tests compare
with torch.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gradcli._torch import load
from gradcli.expr.language import Call, Const, Neg, Node, Num, Power, Product, Sum, Var
from gradcli.expr.torchfn import activation_forwards, beta, defaults, gamma, real_cbrt
from gradcli.ops.activations import ACTIVATIONS

sp = load("sympy")
torch = load("torch")
from sympy.codegen.cfunctions import expm1, log1p  # noqa: E402  (after SymPy's own import)

Expr = Any  # sympy.Expr (SymPy ships no type stubs)
Tensor = Any


# --- real-only functions ------------------------------------------------------------------


class Abs(sp.Function):
    """|u| for real u: d|u| = sign(u)·du. Printed as SymPy prints ``Abs``."""

    nargs = 1

    @classmethod
    def eval(cls, arg: Expr) -> Expr | None:
        if arg.is_Number:
            return abs(arg)
        if arg.is_extended_nonnegative:
            return arg
        if arg.is_extended_nonpositive:
            return -arg
        if arg.could_extract_minus_sign():
            return cls(-arg)
        return None

    def fdiff(self, argindex: int = 1) -> Expr:
        return sign(self.args[0])

    def _eval_is_extended_nonnegative(self) -> bool:
        return True


class sign(sp.Function):  # named like SymPy's, so its printers apply
    """The sign of a real u; its derivative is 2·δ(u), zero everywhere but at 0."""

    nargs = 1

    @classmethod
    def eval(cls, arg: Expr) -> Expr | None:
        if arg.is_Number:
            return sp.sign(arg)
        if arg.is_extended_positive:
            return sp.S.One
        if arg.is_extended_negative:
            return sp.S.NegativeOne
        if arg.could_extract_minus_sign():
            return -cls(-arg)
        return None

    def fdiff(self, argindex: int = 1) -> Expr:
        return 2 * sp.DiracDelta(self.args[0])


class cbrt(sp.Function):
    """The real cube root (SymPy's ``cbrt`` is the principal, complex one for u < 0)."""

    nargs = 1

    @classmethod
    def eval(cls, arg: Expr) -> Expr | None:
        if arg.is_number and arg.is_extended_real:
            return sp.sign(arg) * sp.Abs(arg) ** sp.Rational(1, 3)
        return None

    def fdiff(self, argindex: int = 1) -> Expr:
        return 1 / (3 * cbrt(self.args[0]) ** 2)


class lgamma(sp.Function):  # named as users call it
    """ln|Γ(u)| for real u (torch's lgamma); SymPy's loggamma is complex for u < 0."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> Expr:
        return sp.polygamma(0, self.args[0])

    def _eval_is_extended_real(self) -> bool | None:
        return self.args[0].is_extended_real


class logsumexp(sp.Function):
    """ln(e^a + e^b + …); ∂/∂a = e^(a − logsumexp), the softmax weight of a."""

    @classmethod
    def eval(cls, *args: Expr) -> Expr | None:
        return None

    def fdiff(self, argindex: int = 1) -> Expr:
        return sp.exp(self.args[argindex - 1] - self)

    def _eval_is_extended_real(self) -> bool | None:
        return all(arg.is_extended_real for arg in self.args) or None


class owens_t(sp.Function):
    """Owen's T(h, a) = ∫₀ᵃ exp(−h²(1+t²)/2) / (2π(1+t²)) dt (not in SymPy)."""

    nargs = 2

    def fdiff(self, argindex: int = 1) -> Expr:
        h, a = self.args
        if argindex == 1:
            return -sp.exp(-(h**2) / 2) * sp.erf(a * h / sp.sqrt(2)) / (2 * sp.sqrt(2 * sp.pi))
        return sp.exp(-(h**2) * (1 + a**2) / 2) / (2 * sp.pi * (1 + a**2))

    def _eval_is_extended_real(self) -> bool | None:
        return all(arg.is_extended_real for arg in self.args) or None


def real_forms(expr: Expr) -> Expr:
    """Replace SymPy's complex-aware Abs and sign (e.g. from sqrt(x**2)) by the real ones."""
    if expr.has(sp.Abs):
        expr = expr.replace(sp.Abs, Abs)
    if expr.has(sp.sign):
        expr = expr.replace(sp.sign, sign)
    return expr


# --- activations ------------------------------------------------------------------------


def _number(value: float) -> Expr:
    """A parameter as SymPy shows it best: 1 rather than 1.0."""
    return sp.Integer(int(value)) if float(value).is_integer() else sp.Float(value)


@dataclass(frozen=True)
class ActivationForm:
    """One activation in SymPy: the function to build with, and its elementary formula."""

    name: str
    build: Callable[[Expr], Expr]  # used in the expression tree
    elementary: Callable[[Expr], Expr]  # the same function in plain SymPy (for tests, docs)


def _activation_function(
    name: str, derivative: Callable[[Expr], Expr], elementary: Callable[[Expr], Expr]
) -> type:
    """A SymPy function printed as ``name(u)`` whose derivative is ``derivative(u)``; of a
    constant it is its elementary value (so that SymPy can compare it, as in max)."""

    def eval_(cls: Any, arg: Expr) -> Expr | None:
        if arg.is_number and arg.is_extended_real:
            return elementary(arg)
        return None

    def fdiff(self: Any, argindex: int = 1) -> Expr:
        return derivative(self.args[0])

    def real(self: Any) -> bool | None:
        return self.args[0].is_extended_real

    namespace = {
        "nargs": 1,
        "eval": classmethod(eval_),
        "fdiff": fdiff,
        "_eval_is_extended_real": real,
        "__module__": __name__,
    }
    return type(name, (sp.Function,), namespace)


def _make_activation_forms() -> dict[str, ActivationForm]:
    exp, erf, sqrt, log, tanh = sp.exp, sp.erf, sp.sqrt, sp.log, sp.tanh
    pw = sp.Piecewise
    functions: dict[str, type] = {}

    def f(name: str) -> type:
        return functions[name]

    leaky = _number(defaults("leaky_relu")["negative_slope"])
    elu_alpha = _number(defaults("elu")["alpha"])
    celu_alpha = _number(defaults("celu")["alpha"])
    lam, alpha = sp.Float(1.0507009873554804934193349852946), sp.Float(1.6732632423543772848)
    beta = _number(defaults("softplus")["beta"])
    threshold = _number(defaults("softplus")["threshold"])
    lo, hi = _number(defaults("hardtanh")["min_val"]), _number(defaults("hardtanh")["max_val"])
    three, six = sp.Integer(3), sp.Integer(6)

    def sigma(u: Expr) -> Expr:
        return f("sigmoid")(u)

    derivatives: dict[str, Callable[[Expr], Expr]] = {
        "sigmoid": lambda u: sigma(u) * (1 - sigma(u)),
        "relu": lambda u: pw((1, u > 0), (0, True)),
        "leaky_relu": lambda u: pw((1, u > 0), (leaky, True)),
        # at 0 exactly, a constant piece: torch's f'(0), and torch's f''(0) = 0
        "elu": lambda u: pw((1, u > 0), (elu_alpha * exp(u), u < 0), (elu_alpha, True)),
        "selu": lambda u: pw((lam, u > 0), (lam * alpha * exp(u), u < 0), (lam * alpha, True)),
        "celu": lambda u: pw((1, u > 0), (exp(u / celu_alpha), u < 0), (1, True)),
        "gelu": lambda u: (1 + erf(u / sqrt(2))) / 2 + u * exp(-(u**2) / 2) / sqrt(2 * sp.pi),
        "softplus": lambda u: pw((1, beta * u > threshold), (sigma(beta * u), True)),
        "silu": lambda u: sigma(u) * (1 + u * (1 - sigma(u))),
        "mish": lambda u: tanh(f("softplus")(u)) + u * sigma(u) * (1 - tanh(f("softplus")(u)) ** 2),
        "softsign": lambda u: 1 / (1 + Abs(u)) ** 2,
        "hardtanh": lambda u: pw((1, (u > lo) & (u < hi)), (0, True)),
        "hardsigmoid": lambda u: pw((sp.Rational(1, 6), (u > -three) & (u < three)), (0, True)),
        "hardswish": lambda u: pw(
            (0, u <= -three), (u / 3 + sp.Rational(1, 2), u < three), (1, True)
        ),
        "relu6": lambda u: pw((1, (u > 0) & (u < six)), (0, True)),
        "logsigmoid": lambda u: sigma(-u),
    }
    elementary: dict[str, Callable[[Expr], Expr]] = {
        "sigmoid": lambda u: 1 / (1 + exp(-u)),
        "tanh": tanh,
        "relu": lambda u: pw((u, u > 0), (0, True)),
        "leaky_relu": lambda u: pw((u, u > 0), (leaky * u, True)),
        "elu": lambda u: pw((u, u > 0), (elu_alpha * (exp(u) - 1), True)),
        "selu": lambda u: lam * pw((u, u > 0), (alpha * (exp(u) - 1), True)),
        "celu": lambda u: pw((u, u > 0), (celu_alpha * (exp(u / celu_alpha) - 1), True)),
        "gelu": lambda u: u * (1 + erf(u / sqrt(2))) / 2,
        "softplus": lambda u: pw((u, beta * u > threshold), (log(1 + exp(beta * u)) / beta, True)),
        "silu": lambda u: u / (1 + exp(-u)),
        "mish": lambda u: u * tanh(log(1 + exp(u))),
        "softsign": lambda u: u / (1 + Abs(u)),
        "hardtanh": lambda u: pw((lo, u <= lo), (hi, u >= hi), (u, True)),
        "hardsigmoid": lambda u: pw(
            (0, u <= -three), (1, u >= three), (u / 6 + sp.Rational(1, 2), True)
        ),
        "hardswish": lambda u: pw((0, u <= -three), (u, u >= three), (u * (u + 3) / 6, True)),
        "relu6": lambda u: pw((0, u <= 0), (six, u >= six), (u, True)),
        "logsigmoid": lambda u: -log(1 + exp(-u)),
        "identity": lambda u: u,
    }
    for name, derivative in derivatives.items():
        functions[name] = _activation_function(name, derivative, elementary[name])
    forms = {}
    for name in ACTIVATIONS:
        if name in functions:
            build = functions[name]
        elif name == "tanh":
            build = tanh
        elif name == "identity":
            build = _identity
        else:  # a new registry entry without a symbolic form: tests name it
            continue
        forms[name] = ActivationForm(name, build, elementary[name])
    return forms


def _identity(u: Expr) -> Expr:
    return u


ACTIVATION_FORMS: dict[str, ActivationForm] = _make_activation_forms()
ACTIVATION_CLASSES: dict[type, str] = {
    form.build: name for name, form in ACTIVATION_FORMS.items() if isinstance(form.build, type)
}


def _register_precise_forms() -> None:
    """The mpmath forms of the functions defined here, for the precise column."""
    from gradcli.expr import precise

    precise.register(Abs, abs, absolute=True)
    precise.register(sign, corner=True)
    precise.register(cbrt, precise.cbrt)
    precise.register(lgamma, precise.lgamma)
    precise.register(logsumexp, precise.logsumexp)
    precise.register(owens_t, precise.owens_t)
    precise.register(log1p, precise.log1p)
    precise.register(expm1, precise.mpmath.expm1, explosive=True)
    for head, name in ACTIVATION_CLASSES.items():
        precise.register(head, elementary=ACTIVATION_FORMS[name].elementary)


_register_precise_forms()


# --- the tree → SymPy ------------------------------------------------------------------------

_SYMPY_FUNCTIONS: dict[str, Callable[..., Expr]] = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "sec": sp.sec,
    "csc": sp.csc,
    "cot": sp.cot,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "asec": sp.asec,
    "acsc": sp.acsc,
    "acot": sp.acot,
    "atan2": sp.atan2,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "sech": sp.sech,
    "csch": sp.csch,
    "coth": sp.coth,
    "asinh": sp.asinh,
    "acosh": sp.acosh,
    "atanh": sp.atanh,
    "asech": sp.asech,
    "acsch": sp.acsch,
    "acoth": sp.acoth,
    "exp": sp.exp,
    "expm1": expm1,
    "log": lambda u, base=None: sp.log(u) if base is None else sp.log(u, base),
    "log2": lambda u: sp.log(u, 2),
    "log10": lambda u: sp.log(u, 10),
    "log1p": log1p,
    "logsumexp": logsumexp,
    "sqrt": sp.sqrt,
    "cbrt": cbrt,
    "abs": Abs,
    "sign": sign,
    "min": sp.Min,
    "max": sp.Max,
    "sinc": sp.sinc,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "erfinv": sp.erfinv,
    "gamma": sp.gamma,
    "lgamma": lgamma,
    "digamma": lambda u: sp.polygamma(0, u),
    "polygamma": sp.polygamma,
    "beta": sp.beta,
    "LambertW": sp.LambertW,
    "erfi": sp.erfi,
    "Ei": sp.Ei,
    "Si": sp.Si,
    "li": sp.li,
    "fresnels": sp.fresnels,
    "lowergamma": sp.lowergamma,
    "owens_t": owens_t,
}


def symbol(name: str) -> Expr:
    return sp.Symbol(name, real=True)


def to_sympy(node: Node) -> Expr:
    """The SymPy expression of a parsed tree (decimals become SymPy Floats)."""
    if isinstance(node, Num):
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
    if isinstance(node, Const):
        return sp.pi if node.name == "pi" else sp.E
    if isinstance(node, Var):
        return symbol(node.name)
    if isinstance(node, Neg):
        return -to_sympy(node.operand)
    if isinstance(node, Sum):
        return sp.Add(*[to_sympy(term) for term in node.terms])
    if isinstance(node, Product):
        top = sp.Mul(*[to_sympy(factor) for factor in node.factors])
        if not node.divisors:
            return top
        return top / sp.Mul(*[to_sympy(divisor) for divisor in node.divisors])
    if isinstance(node, Power):
        return to_sympy(node.base) ** to_sympy(node.exponent)
    if isinstance(node, Call):
        args = [to_sympy(arg) for arg in node.args]
        form = ACTIVATION_FORMS.get(node.name)
        if node.name in _SYMPY_FUNCTIONS:
            return real_forms(_SYMPY_FUNCTIONS[node.name](*args))
        if form is not None:
            return form.build(*args)
    raise TypeError(f"no SymPy form for {node!r}")


# --- numbers from SymPy expressions -------------------------------------------------------


class Undecidable(Exception):
    """A one-sided limit gradcli cannot settle (a corner whose side it cannot tell)."""


TORCH_UNARY: dict[Any, Callable[[Tensor], Tensor]] = {
    sp.sin: torch.sin,
    sp.cos: torch.cos,
    sp.tan: torch.tan,
    sp.cot: lambda x: 1 / torch.tan(x),
    sp.sec: lambda x: 1 / torch.cos(x),
    sp.csc: lambda x: 1 / torch.sin(x),
    sp.asin: torch.asin,
    sp.acos: torch.acos,
    sp.atan: torch.atan,
    sp.asec: lambda x: torch.acos(1 / x),
    sp.acsc: lambda x: torch.asin(1 / x),
    sp.acot: lambda x: torch.atan(1 / x),
    sp.sinh: torch.sinh,
    sp.cosh: torch.cosh,
    sp.tanh: torch.tanh,
    sp.coth: lambda x: 1 / torch.tanh(x),
    sp.sech: lambda x: 1 / torch.cosh(x),
    sp.csch: lambda x: 1 / torch.sinh(x),
    sp.asinh: torch.asinh,
    sp.acosh: torch.acosh,
    sp.atanh: torch.atanh,
    sp.asech: lambda x: torch.acosh(1 / x),
    sp.acsch: lambda x: torch.asinh(1 / x),
    sp.acoth: lambda x: torch.atanh(1 / x),
    sp.exp: torch.exp,
    expm1: torch.expm1,
    log1p: torch.log1p,
    sp.sinc: lambda x: torch.sinc(x / math.pi),
    sp.erfinv: torch.erfinv,
    lgamma: torch.lgamma,
    sp.log: torch.log,
    sp.erf: torch.erf,
    sp.erfc: torch.erfc,
    sp.gamma: gamma,
    sp.loggamma: lambda x: torch.where(x > 0, torch.lgamma(x), math.nan),
    sp.Abs: torch.abs,
    Abs: torch.abs,
    cbrt: real_cbrt,
}
_COMPARE: dict[Any, Callable[[Tensor, Tensor], Tensor]] = {
    sp.StrictGreaterThan: torch.gt,
    sp.GreaterThan: torch.ge,
    sp.StrictLessThan: torch.lt,
    sp.LessThan: torch.le,
    sp.Equality: torch.eq,
    sp.Unequality: torch.ne,
}
TORCH_MANY: dict[Any, Callable[..., Tensor]] = {
    sp.atan2: torch.atan2,
    sp.beta: beta,
    logsumexp: lambda *values: torch.logsumexp(torch.stack(torch.broadcast_tensors(*values)), 0),
}
CORNERS = (sign, sp.sign, sp.Heaviside, sp.DiracDelta)  # functions with a jump at 0


class Evaluator:
    """Values of SymPy expressions at one point, in torch (float64 or float32).

    ``hit`` reports whether an evaluation met a corner function (sign, Heaviside, δ) exactly
    at its jump; there the plain value means nothing. With ``side = (v, ±1)`` those jumps are
    resolved as the one-sided limit along the variable ``v`` from that side.

    Values may also be whole vectors (:meth:`at_samples`): then every operation runs on the
    vector, piecewise parts choose per sample, and ``hit_mask`` marks the samples where a
    corner function met its jump (NaN there).
    """

    def __init__(
        self,
        point: dict[Expr, float],
        dtype: Any,
        side: tuple[Expr, int] | None = None,
        activations: dict[str, Callable[[Tensor], Tensor]] | None = None,
    ) -> None:
        self.point = point
        self.dtype = dtype
        self.values = {name: torch.tensor(v, dtype=dtype) for name, v in point.items()}
        self.side = side
        self.activations = activations or activation_forwards()
        self.memo: dict[Expr, tuple[Tensor, bool]] = {}
        self.vector = False
        self.hit_mask: Tensor | None = None
        self.convention = False  # vector mode: sign(0) = 0, H(0) = 1/2, δ(0)·0 = 0, no NaN

    @classmethod
    def at_samples(
        cls, fixed: dict[Expr, float], variable: Expr, samples: Tensor, dtype: Any
    ) -> Evaluator:
        """An evaluator over a vector of values of ``variable`` (the others fixed)."""
        evaluator = cls({**fixed, variable: 0.0}, dtype)
        evaluator.values[variable] = samples
        evaluator.vector = True
        return evaluator

    def tensor(self, expr: Expr) -> Tensor:
        """The value of ``expr`` (a vector evaluator: one per sample)."""
        value, _ = self._eval(expr)
        return value

    def value(self, expr: Expr) -> tuple[float, bool]:
        """The value of ``expr`` and whether it met a jump exactly."""
        tensor, hit = self._eval(expr)
        return float(tensor), hit

    def _const(self, value: float) -> Tensor:
        return torch.tensor(value, dtype=self.dtype)

    def _eval(self, e: Expr) -> tuple[Tensor, bool]:
        found = self.memo.get(e)
        if found is None:
            found = self._compute(e)
            self.memo[e] = found
        return found

    def _all(self, args: Any) -> tuple[list[Tensor], bool]:
        pairs = [self._eval(arg) for arg in args]
        return [value for value, _ in pairs], any(hit for _, hit in pairs)

    def _compute(self, e: Expr) -> tuple[Tensor, bool]:
        if e.is_Symbol:
            return self.values[e], False
        if e in (sp.S.NaN, sp.S.ComplexInfinity, sp.S.ImaginaryUnit):
            return self._const(math.nan), False
        if e is sp.S.Infinity or e is sp.S.NegativeInfinity:
            return self._const(math.inf if e is sp.S.Infinity else -math.inf), False
        if e.is_Number or e.is_NumberSymbol:
            try:
                return self._const(float(e)), False
            except OverflowError:
                return self._const(math.copysign(math.inf, float(sp.sign(e)))), False
        if e.is_Add or e.is_Mul:
            values, hit = self._all(e.args)
            result = values[0]
            for value in values[1:]:
                result = result + value if e.is_Add else result * value
            return result, hit
        if e.is_Pow:
            (base, exponent), hit = self._all(e.args)
            if e.args[1] == sp.S.Half:
                return torch.sqrt(base), hit
            return torch.pow(base, exponent), hit
        if e.is_Piecewise:
            return self._piecewise(e)
        head = e.func
        if head in TORCH_UNARY:
            (arg,), hit = self._all(e.args)
            return TORCH_UNARY[head](arg), hit
        if head in ACTIVATION_CLASSES:
            (arg,), hit = self._all(e.args)
            return self.activations[ACTIVATION_CLASSES[head]](arg), hit
        if head in (sp.Max, sp.Min):
            values, hit = self._all(e.args)
            combine = torch.maximum if head is sp.Max else torch.minimum
            result = values[0]
            for value in values[1:]:
                result = combine(result, value)
            return result, hit
        if head is sp.polygamma:
            (order, arg), hit = self._all(e.args)
            return torch.special.polygamma(int(order), arg), hit
        if head in TORCH_MANY:
            values, hit = self._all(e.args)
            return TORCH_MANY[head](*values), hit
        if head in CORNERS:
            return self._corner(e)
        if isinstance(e, sp.Derivative | sp.Subs):
            return self._unevaluated(e)
        return self._without_torch(e)

    def _unevaluated(self, e: Expr) -> tuple[Tensor, bool]:
        """A derivative SymPy leaves unevaluated: by a discrete argument (polygamma's order
        n) it has no value (NaN); otherwise SymPy works it out and it is evaluated."""
        done = e.doit()
        if done.has(sp.Derivative, sp.Subs):
            return self._const(math.nan), False
        return self._eval(done)

    def _without_torch(self, e: Expr) -> tuple[Tensor, bool]:
        """A function torch has no form of (LambertW, Ei…, meijerg): each value computed by
        mpmath from the float arguments and rounded to the dtype."""
        from gradcli.expr.precise import DIGITS, MpEvaluator, NotAvailable

        symbols = sorted(e.free_symbols, key=str)
        columns = [self.values[s] for s in symbols]
        shape = torch.broadcast_shapes(*(c.shape for c in columns)) if columns else ()
        flat = [c.expand(shape).reshape(-1).tolist() for c in columns]
        count = len(flat[0]) if flat else 1
        results = []
        for k in range(count):
            point = {s: column[k] for s, column in zip(symbols, flat, strict=True)}
            try:
                value = MpEvaluator(point, DIGITS // 2).value(e)
            except NotAvailable:
                raise NotImplementedError(f"gradcli cannot evaluate SymPy's {e.func}") from None
            results.append(value.as_float())
        tensor = torch.tensor(results, dtype=self.dtype).reshape(shape)
        return tensor, False

    def _truth_vector(self, condition: Expr) -> Tensor:
        """A condition per sample (vector mode)."""
        if condition is sp.true or condition is sp.false:
            return torch.tensor(bool(condition))
        if isinstance(condition, sp.And | sp.Or):
            parts = [self._truth_vector(arg) for arg in condition.args]
            result = parts[0]
            for part in parts[1:]:
                result = result & part if isinstance(condition, sp.And) else result | part
            return result
        if isinstance(condition, sp.Not):
            return ~self._truth_vector(condition.args[0])
        compare = _COMPARE.get(type(condition))
        if compare is None:
            raise NotImplementedError(f"gradcli cannot evaluate the condition {condition}")
        (lhs, rhs), _ = self._all(condition.args)
        return compare(lhs, rhs)

    def _truth(self, condition: Expr) -> tuple[bool, bool]:
        if condition is sp.true or condition is sp.false:
            return bool(condition), False
        if isinstance(condition, sp.And | sp.Or):
            parts = [self._truth(arg) for arg in condition.args]
            combine = all if isinstance(condition, sp.And) else any
            return combine(p for p, _ in parts), any(h for _, h in parts)
        if isinstance(condition, sp.Not):
            truth, hit = self._truth(condition.args[0])
            return not truth, hit
        compare = _COMPARE.get(type(condition))
        if compare is None:
            raise NotImplementedError(f"gradcli cannot evaluate the condition {condition}")
        (lhs, rhs), hit = self._all(condition.args)
        return bool(compare(lhs, rhs)), hit

    def _piecewise(self, e: Expr) -> tuple[Tensor, bool]:
        if self.vector:  # each sample takes the first piece whose condition holds there
            result, hit = self._const(math.nan), False
            for piece, condition in reversed(e.args):
                value, piece_hit = self._eval(piece)
                result = torch.where(self._truth_vector(condition), value, result)
                hit = hit or piece_hit
            return result, hit
        for piece, condition in e.args:
            truth, hit = self._truth(condition)
            if truth:
                value, piece_hit = self._eval(piece)
                return value, hit or piece_hit
        return self._const(math.nan), False

    def _corner(self, e: Expr) -> tuple[Tensor, bool]:
        """sign, Heaviside and δ: their jump at 0 is a "hit"; with ``side``, a limit."""
        arg, hit = self._eval(e.args[0])
        if self.vector:
            return self._corner_vector(e, arg, hit)
        u = float(arg)
        if u != u:
            return self._const(math.nan), hit
        direction = (u > 0) - (u < 0)
        if direction == 0:
            if self.side is None:
                return self._const(math.nan), True
            direction = self._side_of(e.args[0])
        if e.func is sp.DiracDelta:
            return self._const(0.0), hit
        if e.func is sp.Heaviside:
            return self._const(1.0 if direction > 0 else 0.0), hit
        return self._const(float(direction)), hit

    def _corner_vector(self, e: Expr, arg: Tensor, hit: bool) -> tuple[Tensor, bool]:
        zero = arg == 0
        if e.func is sp.DiracDelta:
            value = torch.zeros_like(arg)
        elif e.func is sp.Heaviside:
            value = (arg > 0).to(arg.dtype)
        else:
            value = torch.sign(arg)
        if self.convention:
            if e.func is sp.Heaviside:
                value = torch.where(zero, 0.5, value)
            return torch.where(arg != arg, math.nan, value), hit
        value = torch.where(zero | (arg != arg), math.nan, value)
        if bool(zero.any()):
            self.hit_mask = zero if self.hit_mask is None else self.hit_mask | zero
            hit = True
        return value, hit

    def _side_of(self, u: Expr) -> int:
        """The sign of ``u`` just beside the point, on ``side``: from its first non-zero
        derivative along the side's variable."""
        assert self.side is not None
        variable, step = self.side
        plain = Evaluator(self.point, self.dtype, activations=self.activations)
        derivative = u
        for order in (1, 2, 3):
            derivative = real_forms(sp.diff(derivative, variable))
            value, hit = plain.value(derivative)
            if hit or value != value:
                break
            if value != 0:
                return (1 if value > 0 else -1) * step**order
        raise Undecidable(str(u))


# --- bounded time ---------------------------------------------------------------------------


class TimeUp(BaseException):
    """The time given to a symbolic step is over (a BaseException: SymPy must not catch it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeUp` inside the block after ``seconds`` of wall time.

    Uses SIGALRM, so it only works in the main thread of a POSIX process; elsewhere the
    block runs unbounded (the bounds on the parsed tree still hold).
    """
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or seconds <= 0
    ):
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise TimeUp

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- display --------------------------------------------------------------------------------

TIDY_OPS = 80  # larger derivatives are shown as differentiated
SIMPLIFY_OPS = 40  # simplify() runs on small derivatives only, and not on piecewise ones


def tidy(expr: Expr, seconds: float) -> Expr:
    """The shortest of ``expr``, its common factors pulled out and (small, plain formulas
    only) SymPy's ``simplify``: chosen by size, so the same input gives the same form. The
    time cap is a safety net that typical formulas never reach."""
    ops = sp.count_ops(expr)
    if seconds <= 0 or ops > TIDY_OPS:
        return expr
    candidates = [expr]
    try:
        with time_limit(seconds):
            candidates.append(real_forms(sp.factor_terms(expr)))
            if ops <= SIMPLIFY_OPS and not _opaque(expr):
                with _without_units():
                    candidates.append(real_forms(sp.simplify(expr)))
    except TimeUp:
        pass
    except Exception:  # a SymPy failure only costs the tidier form
        pass
    familiar = [c for c in candidates if not _brings_new_functions(c, expr)]
    return min(familiar, key=sp.count_ops)  # the first of equal sizes: the least rewritten


def _brings_new_functions(candidate: Expr, expr: Expr) -> bool:
    """Whether a rewritten form uses a function the derivative does not (simplify writes
    e^(−x)/(1 + e^(−x))² as 1/(4·cosh²(x/2)): shorter, but not the student's formula)."""
    functions = {type(f) for f in expr.atoms(sp.Function)}
    return any(type(f) not in functions for f in candidate.atoms(sp.Function))


def _opaque(expr: Expr) -> bool:
    """Piecewise parts, activations and jumps: simplify() is slow on them and rarely helps."""
    if expr.has(sp.Piecewise, sp.Heaviside, sp.DiracDelta, sign, Abs):
        return True
    return any(type(f) in ACTIVATION_CLASSES for f in expr.atoms(sp.Function))


UNITS = "sympy.physics.units"


@contextmanager
def _without_units() -> Iterator[None]:
    """SymPy's pretty printer and ``simplify`` import sympy.physics.units (0.3–0.7 s, a third of
    the command's own start-up) only to handle physical quantities; gradcli's formulas have
    none. While gradcli prints, a stand-in module answers that one import (nothing is an
    instance of its Quantity); it is removed afterwards, and the real module is used when it
    is already loaded."""
    if UNITS in sys.modules:
        yield
        return
    stand_in = types.ModuleType(UNITS)
    stand_in.Quantity = type("Quantity", (sp.AtomicExpr,), {})  # type: ignore[attr-defined]
    sys.modules[UNITS] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(UNITS) is stand_in:
            del sys.modules[UNITS]


def pretty(expr: Expr, unicode: bool) -> str:
    with _without_units():
        return sp.pretty(expr, use_unicode=unicode, wrap_line=False)


def equation(label: str, expr: Expr, unicode: bool) -> str:
    """``label = expr`` pretty-printed, the label on the formula's baseline."""
    from sympy.printing.pretty.pretty import PrettyPrinter
    from sympy.printing.pretty.pretty_symbology import pretty_use_unicode
    from sympy.printing.pretty.stringpict import prettyForm

    previous = pretty_use_unicode(unicode)  # fraction bars and brackets read this global
    try:
        printer = PrettyPrinter({"use_unicode": unicode, "wrap_line": False})
        with _without_units():
            form = prettyForm(*prettyForm(label + " = ").right(printer._print(expr)))
        lines = form.render(wrap_line=False).splitlines()
    finally:
        pretty_use_unicode(previous)
    return "\n".join(line.rstrip() for line in lines)


def latex(expr: Expr) -> str:
    return sp.latex(expr)


def text(expr: Expr) -> str:
    return sp.sstr(expr)
