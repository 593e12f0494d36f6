"""The functions of ``gradcli expr``'s language: one record per function, read by the parser,
the SymPy and torch builders, ``--list``, the docs and the tests.

A record says how the function is called (its arguments), what it means, where it is
defined (its domain, as ``--list`` shows it), the points where it has a kink, pole, jump or
domain edge (finite differences across them are not trusted), whether torch has a form of it
(the SymPy-only functions have none: their autograd column says so and the verdict is symbolic
vs numeric) and how textbooks write it otherwise (aliases such as ``arcsin``, and what
``f^-1(x)`` reads as). Nothing here imports torch or SymPy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradcli.ops.activations import ACTIVATION_LIST
from gradcli.params import describe_all

MAX_ARGUMENTS = 32  # of max, min and logsumexp

KINDS = {
    "elementary": "Elementary functions",
    "special": "Special functions",
    "sympy-only": "SymPy-only functions (no torch form: the verdict is symbolic vs numeric)",
    "activation": "Activations (torch's functions with torch's default parameters)",
}


@dataclass(frozen=True)
class Function:
    """A function the language accepts by name."""

    name: str
    arity: tuple[int, ...]  # accepted numbers of arguments (the smallest, when variadic)
    summary: str
    domain: str = "all real x"
    kind: str = "elementary"  # a key of KINDS
    args: str = "x"  # as the listing shows them
    variadic: bool = False  # arity[0] or more arguments, up to MAX_ARGUMENTS
    inverse: str | None = None  # what f^-1(x) reads as (sin^-1(x) is asin(x))
    breaks: tuple[tuple[int, float], ...] = ()  # (argument, value): a kink, pole, jump or edge
    variable: bool = False  # also a variable's name where it is not called (gamma, beta)
    jumps: tuple[tuple[int, float], ...] = ()  # (argument, value) where the value itself jumps

    @property
    def signature(self) -> str:
        return f"{self.name}({self.args})"

    @property
    def has_torch_form(self) -> bool:
        return self.kind != "sympy-only"

    def takes(self, count: int) -> bool:
        if self.variadic:
            return self.arity[0] <= count <= MAX_ARGUMENTS
        return count in self.arity

    @property
    def counts_text(self) -> str:
        if self.variadic:
            return f"{self.arity[0]} to {MAX_ARGUMENTS}"
        return " or ".join(str(n) for n in self.arity)


_F = Function
ZERO = ((0, 0.0),)
UNIT = ((0, -1.0), (0, 1.0))
EDGE = -1 / math.e  # LambertW's branch point

MATHS_FUNCTIONS: tuple[Function, ...] = (
    # trigonometric
    _F("sin", (1,), "sine (radians)", inverse="asin"),
    _F("cos", (1,), "cosine (radians)", inverse="acos"),
    _F("tan", (1,), "tangent (radians)", "x ≠ π/2 + kπ", inverse="atan"),
    _F("sec", (1,), "secant, 1/cos(x)", "x ≠ π/2 + kπ", inverse="asec"),
    _F("csc", (1,), "cosecant, 1/sin(x)", "x ≠ kπ", inverse="acsc"),
    _F("cot", (1,), "cotangent, cos(x)/sin(x)", "x ≠ kπ", inverse="acot"),
    _F("asin", (1,), "inverse sine", "−1 ≤ x ≤ 1", breaks=UNIT),
    _F("acos", (1,), "inverse cosine", "−1 ≤ x ≤ 1", breaks=UNIT),
    _F("atan", (1,), "inverse tangent"),
    _F("asec", (1,), "inverse secant, acos(1/x)", "|x| ≥ 1", breaks=UNIT),
    _F("acsc", (1,), "inverse cosecant, asin(1/x)", "|x| ≥ 1", breaks=UNIT),
    _F("acot", (1,), "inverse cotangent, atan(1/x); acot(0) = π/2",
       "all real x; jumps at 0", breaks=ZERO, jumps=ZERO),
    _F("atan2", (2,), "angle of the point (x, y), atan(y/x) in the right quadrant",
       "(x, y) ≠ (0, 0); jumps across y = 0 where x < 0", args="y, x",
       breaks=((0, 0.0), (1, 0.0)), jumps=((0, 0.0),)),
    # hyperbolic
    _F("sinh", (1,), "hyperbolic sine", inverse="asinh"),
    _F("cosh", (1,), "hyperbolic cosine", inverse="acosh"),
    _F("tanh", (1,), "hyperbolic tangent (also the activation)", inverse="atanh"),
    _F("sech", (1,), "hyperbolic secant, 1/cosh(x)", inverse="asech"),
    _F("csch", (1,), "hyperbolic cosecant, 1/sinh(x)", "x ≠ 0", inverse="acsch", breaks=ZERO),
    _F("coth", (1,), "hyperbolic cotangent, cosh(x)/sinh(x)", "x ≠ 0", inverse="acoth",
       breaks=ZERO),
    _F("asinh", (1,), "inverse hyperbolic sine"),
    _F("acosh", (1,), "inverse hyperbolic cosine", "x ≥ 1", breaks=((0, 1.0),)),
    _F("atanh", (1,), "inverse hyperbolic tangent", "−1 < x < 1", breaks=UNIT),
    _F("asech", (1,), "inverse hyperbolic secant, acosh(1/x)", "0 < x ≤ 1",
       breaks=((0, 0.0), (0, 1.0))),
    _F("acsch", (1,), "inverse hyperbolic cosecant, asinh(1/x)", "x ≠ 0", breaks=ZERO),
    _F("acoth", (1,), "inverse hyperbolic cotangent, atanh(1/x)", "|x| > 1", breaks=UNIT),
    # exponentials and logarithms
    _F("exp", (1,), "eˣ (also e^x)"),
    _F("expm1", (1,), "eˣ − 1, accurate for small x"),
    _F("log", (1, 2), "natural logarithm; log(x, b) and log_b(x) are to base b",
       "x > 0 (b > 0, b ≠ 1)", args="x[, b]", breaks=ZERO),
    _F("log2", (1,), "logarithm to base 2", "x > 0", breaks=ZERO),
    _F("log10", (1,), "logarithm to base 10", "x > 0", breaks=ZERO),
    _F("log1p", (1,), "ln(1 + x), accurate for small x", "x > −1", breaks=((0, -1.0),)),
    _F("logsumexp", (2,), "ln(e^a + e^b + …) without overflow", "all real a, b, …",
       args="a, b, …", variadic=True),
    # powers and pieces
    _F("sqrt", (1,), "square root (also √x)", "x ≥ 0", breaks=ZERO),
    _F("cbrt", (1,), "real cube root, negative x too (also ∛x)", breaks=ZERO),
    _F("abs", (1,), "absolute value (also written |x|); no derivative at 0", breaks=ZERO),
    _F("sign", (1,), "−1, 0 or 1; jumps at 0", breaks=ZERO),
    _F("min", (2,), "the smallest argument; no derivative where two tie", "all real a, b, …",
       args="a, b, …", variadic=True),
    _F("max", (2,), "the largest argument; no derivative where two tie", "all real a, b, …",
       args="a, b, …", variadic=True),
    _F("sinc", (1,), "sin(x)/x, 1 at 0 (unnormalised, as SymPy; torch's is sinc(pi*x))"),
    # special functions
    _F("erf", (1,), "error function", kind="special"),
    _F("erfc", (1,), "complementary error function, 1 − erf(x)", kind="special"),
    _F("erfinv", (1,), "inverse error function", "−1 < x < 1", kind="special", breaks=UNIT),
    _F("gamma", (1,), "Γ(x); as a variable when not called", "x ≠ 0, −1, −2, …",
       kind="special", breaks=ZERO, variable=True),
    _F("lgamma", (1,), "ln|Γ(x)|, without Γ's overflow", "x ≠ 0, −1, −2, …",
       kind="special", breaks=ZERO),
    _F("digamma", (1,), "ψ(x) = Γ′(x)/Γ(x)", "x ≠ 0, −1, −2, …", kind="special", breaks=ZERO),
    _F("polygamma", (2,), "ψ⁽ⁿ⁾(x), the n-th derivative of digamma (n a whole number ≥ 0)",
       "x ≠ 0, −1, −2, …", kind="special", args="n, x", breaks=((1, 0.0),)),
    _F("beta", (2,), "B(a, b) = Γ(a)Γ(b)/Γ(a + b); as a variable when not called",
       "a, b, a + b ≠ 0, −1, −2, …", kind="special", args="a, b", variable=True,
       breaks=((0, 0.0), (1, 0.0))),
    # SymPy-only
    _F("LambertW", (1,), "Lambert W, the principal branch W₀ (w·e^w = x)", "x ≥ −1/e",
       kind="sympy-only", breaks=((0, EDGE),)),
    _F("erfi", (1,), "imaginary error function, −i·erf(ix)", kind="sympy-only"),
    _F("Ei", (1,), "exponential integral", "x ≠ 0", kind="sympy-only", breaks=ZERO),
    _F("Si", (1,), "sine integral ∫₀ˣ sin(t)/t dt", kind="sympy-only"),
    _F("li", (1,), "logarithmic integral", "x > 0, x ≠ 1", kind="sympy-only",
       breaks=((0, 0.0), (0, 1.0))),
    _F("fresnels", (1,), "Fresnel integral S(x) = ∫₀ˣ sin(πt²/2) dt", kind="sympy-only"),
    _F("lowergamma", (2,), "lower incomplete gamma γ(s, x) = ∫₀ˣ t^(s−1) e^(−t) dt",
       "s > 0, x ≥ 0", kind="sympy-only", args="s, x", breaks=((1, 0.0),)),
    _F("owens_t", (2,), "Owen's T(h, a) = ∫₀ᵃ e^(−h²(1+t²)/2)/(2π(1+t²)) dt",
       "all real h, a", kind="sympy-only", args="h, a"),
)  # fmt: skip

FUNCTIONS: dict[str, Function] = {f.name: f for f in MATHS_FUNCTIONS}
for _act in ACTIVATION_LIST:
    _defaults = f" (torch's defaults: {describe_all(_act.params)})" if _act.params else ""
    FUNCTIONS.setdefault(
        _act.name, Function(_act.name, (1,), _act.formula + _defaults, kind="activation")
    )

_INVERSE_TRIG = ("sin", "cos", "tan", "sec", "csc", "cot")
_INVERSE_HYPERBOLIC = ("sinh", "cosh", "tanh", "sech", "csch", "coth")
ALIASES: dict[str, str] = {
    "ln": "log",
    "sgn": "sign",
    "loggamma": "lgamma",
    "arctan2": "atan2",
    "lambertw": "LambertW",
    "ei": "Ei",
    "si": "Si",
    "log_sigmoid": "logsigmoid",
    **{f"arc{name}": f"a{name}" for name in _INVERSE_TRIG + _INVERSE_HYPERBOLIC},
    **{f"ar{name}": f"a{name}" for name in _INVERSE_HYPERBOLIC},  # ISO 80000-2: arsinh
}


def canonical(name: str) -> str | None:
    """The function a name calls (``arcsin`` → ``asin``), or None for no function."""
    name = ALIASES.get(name, name)
    return name if name in FUNCTIONS else None


def known_names() -> list[str]:
    """Every name a function can be called by: the functions, then the aliases."""
    return [*FUNCTIONS, *ALIASES]


# --- plain float maths on constants (for --at values and the parser's bounds) --------------


def _sign(x: float) -> float:
    return 0.0 if x == 0 else math.copysign(1.0, x)


def _mp(name: str) -> Callable[..., float]:
    """A special function evaluated by mpmath (imported only when a constant needs it); a
    complex result (outside the real domain) raises ValueError."""

    def compute(*args: float) -> float:
        import mpmath

        value = getattr(mpmath, name)(*args)
        if isinstance(value, mpmath.mpc):
            if value.imag != 0:
                raise ValueError(f"{name} has no real value here")
            value = value.real
        return float(value)

    return compute


def _gamma_poles(fn: Callable[[float], float]) -> Callable[[float], float]:
    def compute(x: float) -> float:
        if x <= 0 and x == int(x):
            raise ValueError("a pole")
        return fn(x)

    return compute


def reciprocal_forms(lib: Any) -> dict[str, Callable[..., Any]]:
    """The functions the language writes through others (sec = 1/cos, asec(x) = acos(1/x),
    …), on a library with math's names: ``math`` for floats, ``torch`` for tensors."""
    return {
        "sec": lambda x: 1 / lib.cos(x),
        "csc": lambda x: 1 / lib.sin(x),
        "cot": lambda x: lib.cos(x) / lib.sin(x),
        "asec": lambda x: lib.acos(1 / x),
        "acsc": lambda x: lib.asin(1 / x),
        "acot": lambda x: lib.atan(1 / x),
        "sech": lambda x: 1 / lib.cosh(x),
        "csch": lambda x: 1 / lib.sinh(x),
        "coth": lambda x: lib.cosh(x) / lib.sinh(x),
        "asech": lambda x: lib.acosh(1 / x),
        "acsch": lambda x: lib.asinh(1 / x),
        "acoth": lambda x: lib.atanh(1 / x),
    }


MATHS: dict[str, Callable[..., float]] = {
    **reciprocal_forms(math),
    "acot": lambda x: math.pi / 2 if x == 0 else math.atan(1 / x),  # floats: 1/0 raises
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
    "exp": math.exp,
    "expm1": math.expm1,
    "log": lambda x, b=None: math.log(x) if b is None else math.log(x) / math.log(b),
    "log2": math.log2,
    "log10": math.log10,
    "log1p": math.log1p,
    "logsumexp": lambda *a: max(a) + math.log(math.fsum(math.exp(v - max(a)) for v in a)),
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "abs": abs,
    "sign": _sign,
    "min": min,
    "max": max,
    "sinc": lambda x: 1.0 if x == 0 else math.sin(x) / x,
    "erf": math.erf,
    "erfc": math.erfc,
    "erfinv": _mp("erfinv"),
    "gamma": _gamma_poles(math.gamma),
    "lgamma": _gamma_poles(math.lgamma),
    "digamma": _gamma_poles(_mp("digamma")),
    "polygamma": lambda n, x: _gamma_poles(lambda v: _mp("polygamma")(n, v))(x),
    "beta": _mp("beta"),
    "LambertW": _mp("lambertw"),
    "erfi": _mp("erfi"),
    "Ei": _mp("ei"),
    "Si": _mp("si"),
    "li": _mp("li"),
    "fresnels": _mp("fresnels"),
    "lowergamma": lambda s, x: _mp("gammainc")(s, 0, x),
}
