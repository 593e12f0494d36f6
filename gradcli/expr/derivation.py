"""Derivatives worked out step by step, every rule named, every step checked against SymPy.

SymPy's ``diff`` gives a derivative but no steps. gradcli writes the steps itself, over its
own expression tree (:mod:`gradcli.expr.language`), top-down as a textbook does: each step
rewrites ``d/dx[u]`` by one rule (constant, variable, constant multiple, sum, product,
quotient, power, exponential, general power, or the chain rule with the function's own
derivative from :data:`RULES`) into a *form* that may leave derivatives of the parts to later
steps (:class:`~gradcli.expr.forms.Deriv`). The results are then put together bottom-up.

Every step's result is checked: it must equal SymPy's derivative of that part of the
formula — symbolically, or when simplification is inconclusive, numerically at the point and
at two random points nearby (:class:`Checker`). A step that fails is a bug in gradcli
(:class:`StepMismatch`, exit 3); it is never shown as true.

:data:`RULES` holds one record per function of the language, each with its derivative named
(``sin′ = cos``); the tests fail for any function the parser accepts without one.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gradcli.expr import symbolic as sym
from gradcli.expr.forms import Deriv, Form, Prime
from gradcli.expr.language import (
    FUNCTIONS,
    Call,
    Const,
    Neg,
    Node,
    Num,
    Power,
    Product,
    Sum,
    Var,
)
from gradcli.ops.activations import ACTIVATIONS

sp = sym.sp
Expr = Any

MAX_STEPS = 3000  # in one request, all derivatives together
SYMBOLIC_SECONDS = 2.0  # simplification tried on the steps, in all; then numbers decide
SIMPLIFY_EACH = 0.5
SIMPLIFY_OPS = 150  # larger differences go straight to the numeric check
RANDOM_POINTS = 2  # besides the point itself
CANDIDATES = 10  # random points tried to find two where both sides are defined
CLOSE = 1e-7  # relative, against max(1, |a|, |b|): a wrong rule is off by O(1)


class StepMismatch(Exception):
    """A step whose result is not SymPy's derivative of its part: a bug in gradcli."""


class TooManySteps(Exception):
    """The derivation would exceed :data:`MAX_STEPS`."""


# --- building forms ---------------------------------------------------------------------

ONE, TWO = Num(1), Num(2)


def _times(*parts: Form) -> Form:
    """A product of the parts, flattened one level (1⋅a is a; a fraction keeps its divisors)."""
    factors: list[Form] = []
    divisors: list[Form] = []
    negative = False
    for part in parts:
        if isinstance(part, Neg):
            negative = not negative
            part = part.operand
        if isinstance(part, Product):
            factors += part.factors
            divisors += part.divisors
        else:
            factors.append(part)
    kept = [f for f in factors if f != ONE] or [ONE]
    body: Form = (
        kept[0] if len(kept) == 1 and not divisors else Product(tuple(kept), tuple(divisors))
    )
    return Neg(body) if negative else body


def _over(top: Form, bottom: Form) -> Form:
    return Product((top,), (bottom,))


def _plus(*terms: Form) -> Form:
    return Sum(tuple(terms))


def _minus(a: Form) -> Form:
    return Neg(a)


def _pow(base: Form, exponent: Form) -> Form:
    return Power(base, exponent)


def _f(name: str, *args: Form) -> Form:
    return Call(name, tuple(args))


def _single(parts: tuple[Node, ...]) -> Node:
    return parts[0] if len(parts) == 1 else Product(parts)


# --- the functions' own derivatives ---------------------------------------------------------


@dataclass(frozen=True)
class FunctionRule:
    """How to differentiate one function: its partial derivatives at given arguments (one
    form per argument), the derivative named as a textbook names it, and the rule's name
    when the argument is the variable itself."""

    name: str
    text: str  # sin′ = cos
    partials: Callable[..., tuple[Form, ...]]
    kind: str = ""  # "exponential rule"; default "derivative of NAME"

    @property
    def rule(self) -> str:
        return self.kind or f"derivative of {self.name}"


def _one(name: str, text: str, outer: Callable[[Form], Form], kind: str = "") -> FunctionRule:
    return FunctionRule(name, text, lambda u: (outer(u),), kind)


def _each(name: str, text: str, kind: str = "") -> FunctionRule:
    """A function of several arguments whose partials the language cannot write."""
    return FunctionRule(
        name, text, lambda *a: tuple(Prime(name, a, i) for i in range(len(a))), kind
    )


def _sqrt_of(form: Form) -> Form:
    return _f("sqrt", form)


def _arcsec_slope(u: Form, inside: Form) -> Form:
    """1/(u²⋅√inside), the shape of asec′, acsc′ and acsch′."""
    return _over(ONE, _times(_pow(u, TWO), _sqrt_of(inside)))


def _reciprocal_square(u: Form) -> Form:
    return _over(ONE, _pow(u, TWO))


def _digamma(u: Form) -> Form:
    return _f("digamma", u) if "digamma" in FUNCTIONS else Prime("lgamma", (u,))


def _log_partials(u: Form, base: Form | None = None) -> tuple[Form, ...]:
    if base is None:
        return (_over(ONE, u),)
    ln_b = _f("log", base)
    return (_over(ONE, _times(u, ln_b)), _minus(_over(_f("log", u), _times(base, _pow(ln_b, TWO)))))


def _polygamma_partials(n: Form, u: Form) -> tuple[Form, ...]:
    return (Prime("polygamma", (n, u), 0), _f("polygamma", _plus(n, ONE), u))


def _beta_partials(a: Form, b: Form) -> tuple[Form, ...]:
    both = _f("beta", a, b)
    total = _digamma(_plus(a, b))
    return (
        _times(both, _plus(_digamma(a), _minus(total))),
        _times(both, _plus(_digamma(b), _minus(total))),
    )


def _logsumexp_partials(*args: Form) -> tuple[Form, ...]:
    whole = _f("logsumexp", *args)
    return tuple(_f("exp", _plus(a, _minus(whole))) for a in args)


def _lowergamma_partials(s: Form, x: Form) -> tuple[Form, ...]:
    return (
        Prime("lowergamma", (s, x), 0),
        _times(_pow(x, _plus(s, _minus(ONE))), _f("exp", _minus(x))),
    )


PI = Const("pi")
_SQUARE = TWO
_MATHS_RULES: tuple[FunctionRule, ...] = (
    # trigonometric
    _one("sin", "sin′ = cos", lambda u: _f("cos", u)),
    _one("cos", "cos′ = −sin", lambda u: _minus(_f("sin", u))),
    _one("tan", "tan′ = 1 + tan² (= sec²)", lambda u: _plus(ONE, _pow(_f("tan", u), TWO))),
    _one("sec", "sec′ = sec⋅tan", lambda u: _times(_f("sec", u), _f("tan", u))),
    _one("csc", "csc′ = −csc⋅cot", lambda u: _minus(_times(_f("csc", u), _f("cot", u)))),
    _one("cot", "cot′ = −(1 + cot²) (= −csc²)",
         lambda u: _minus(_plus(ONE, _pow(_f("cot", u), TWO)))),
    _one("asin", "asin′(u) = 1/√(1 − u²)",
         lambda u: _over(ONE, _sqrt_of(_plus(ONE, _minus(_pow(u, TWO)))))),
    _one("acos", "acos′(u) = −1/√(1 − u²)",
         lambda u: _minus(_over(ONE, _sqrt_of(_plus(ONE, _minus(_pow(u, TWO))))))),
    _one("atan", "atan′(u) = 1/(1 + u²)", lambda u: _over(ONE, _plus(ONE, _pow(u, TWO)))),
    _one("asec", "asec′(u) = 1/(u²⋅√(1 − 1/u²))",
         lambda u: _arcsec_slope(u, _plus(ONE, _minus(_reciprocal_square(u))))),
    _one("acsc", "acsc′(u) = −1/(u²⋅√(1 − 1/u²))",
         lambda u: _minus(_arcsec_slope(u, _plus(ONE, _minus(_reciprocal_square(u)))))),
    _one("acot", "acot′(u) = −1/(1 + u²)",
         lambda u: _minus(_over(ONE, _plus(ONE, _pow(u, TWO))))),
    FunctionRule("atan2", "∂atan2(y, x)/∂y = x/(x² + y²), ∂/∂x = −y/(x² + y²)",
                 lambda y, x: (_over(x, _plus(_pow(x, TWO), _pow(y, TWO))),
                               _minus(_over(y, _plus(_pow(x, TWO), _pow(y, TWO)))))),
    # hyperbolic
    _one("sinh", "sinh′ = cosh", lambda u: _f("cosh", u)),
    _one("cosh", "cosh′ = sinh", lambda u: _f("sinh", u)),
    _one("tanh", "tanh′ = 1 − tanh²", lambda u: _plus(ONE, _minus(_pow(_f("tanh", u), TWO)))),
    _one("sech", "sech′ = −sech⋅tanh", lambda u: _minus(_times(_f("sech", u), _f("tanh", u)))),
    _one("csch", "csch′ = −csch⋅coth", lambda u: _minus(_times(_f("csch", u), _f("coth", u)))),
    _one("coth", "coth′ = 1 − coth² (= −csch²)",
         lambda u: _plus(ONE, _minus(_pow(_f("coth", u), TWO)))),
    _one("asinh", "asinh′(u) = 1/√(u² + 1)",
         lambda u: _over(ONE, _sqrt_of(_plus(_pow(u, TWO), ONE)))),
    _one("acosh", "acosh′(u) = 1/√(u² − 1)",
         lambda u: _over(ONE, _sqrt_of(_plus(_pow(u, TWO), _minus(ONE))))),
    _one("atanh", "atanh′(u) = 1/(1 − u²)", lambda u: _over(ONE, _plus(ONE, _minus(_pow(u, TWO))))),
    _one("asech", "asech′(u) = −1/(u⋅√(1 − u²))",
         lambda u: _minus(_over(ONE, _times(u, _sqrt_of(_plus(ONE, _minus(_pow(u, TWO)))))))),
    _one("acsch", "acsch′(u) = −1/(u²⋅√(1 + 1/u²))",
         lambda u: _minus(_arcsec_slope(u, _plus(ONE, _reciprocal_square(u))))),
    _one("acoth", "acoth′(u) = 1/(1 − u²)", lambda u: _over(ONE, _plus(ONE, _minus(_pow(u, TWO))))),
    # exponentials and logarithms
    _one("exp", "exp′ = exp", lambda u: _f("exp", u), "exponential rule"),
    _one("expm1", "expm1′ = exp", lambda u: _f("exp", u), "exponential rule"),
    FunctionRule("log", "ln′(u) = 1/u; log_b′(u) = 1/(u⋅ln b)", _log_partials, "logarithm rule"),
    _one("ln", "ln′(u) = 1/u", lambda u: _over(ONE, u), "logarithm rule"),
    _one("log2", "log₂′(u) = 1/(u⋅ln 2)", lambda u: _over(ONE, _times(u, _f("log", TWO))),
         "logarithm rule"),
    _one("log10", "log₁₀′(u) = 1/(u⋅ln 10)",
         lambda u: _over(ONE, _times(u, _f("log", Num(10)))), "logarithm rule"),
    _one("log1p", "log1p′(u) = 1/(1 + u)", lambda u: _over(ONE, _plus(ONE, u)), "logarithm rule"),
    FunctionRule("logsumexp", "∂logsumexp/∂aᵢ = e^(aᵢ − logsumexp) (the softmax)",
                 _logsumexp_partials),
    # powers and pieces
    _one("sqrt", "√′(u) = 1/(2√u)", lambda u: _over(ONE, _times(TWO, _sqrt_of(u)))),
    _one("cbrt", "∛′(u) = 1/(3∛u²)",
         lambda u: _over(ONE, _times(Num(3), _pow(_f("cbrt", u), TWO)))),
    _one("abs", "|u|′ = sign(u); a kink at u = 0, where there is no derivative",
         lambda u: _f("sign", u)),
    _one("sign", "sign′ = 0 away from 0 (SymPy: 2δ(u)); a jump at 0",
         lambda u: Prime("sign", (u,))),
    _each("min", "∂min/∂aᵢ = 1 where aᵢ is the smallest, else 0; none where two tie"),
    _each("max", "∂max/∂aᵢ = 1 where aᵢ is the largest, else 0; none where two tie"),
    _one("sinc", "sinc′(u) = (u⋅cos u − sin u)/u²",
         lambda u: _over(_plus(_times(u, _f("cos", u)), _minus(_f("sin", u))), _pow(u, TWO))),
    # special functions
    _one("erf", "erf′(u) = 2/√π⋅e^(−u²)",
         lambda u: _times(_over(TWO, _sqrt_of(PI)), _f("exp", _minus(_pow(u, TWO))))),
    _one("erfc", "erfc′(u) = −2/√π⋅e^(−u²)",
         lambda u: _minus(_times(_over(TWO, _sqrt_of(PI)), _f("exp", _minus(_pow(u, TWO)))))),
    _one("erfinv", "erfinv′(u) = √π/2⋅e^(erfinv(u)²)",
         lambda u: _times(_over(_sqrt_of(PI), TWO), _f("exp", _pow(_f("erfinv", u), TWO)))),
    _one("gamma", "Γ′ = Γ⋅ψ (ψ: digamma)", lambda u: _times(_f("gamma", u), _f("digamma", u))
         if "digamma" in FUNCTIONS else Prime("gamma", (u,))),
    _one("lgamma", "lgamma′ = ψ (digamma)", lambda u: _digamma(u)),
    _one("digamma", "ψ′ = ψ⁽¹⁾ (polygamma(1, u))", lambda u: _f("polygamma", ONE, u)),
    FunctionRule("polygamma", "∂ψ⁽ⁿ⁾(u)/∂u = ψ⁽ⁿ⁺¹⁾(u)", _polygamma_partials),
    FunctionRule("beta", "∂B(a, b)/∂a = B⋅(ψ(a) − ψ(a + b)), ∂/∂b alike", _beta_partials),
    _one("LambertW", "W′(u) = W(u)/(u⋅(1 + W(u)))",
         lambda u: _over(_f("LambertW", u), _times(u, _plus(ONE, _f("LambertW", u))))),
    _one("erfi", "erfi′(u) = 2/√π⋅e^(u²)",
         lambda u: _times(_over(TWO, _sqrt_of(PI)), _f("exp", _pow(u, TWO)))),
    _one("Ei", "Ei′(u) = eᵘ/u", lambda u: _over(_f("exp", u), u)),
    _one("Si", "Si′(u) = sin(u)/u", lambda u: _over(_f("sin", u), u)),
    _one("li", "li′(u) = 1/ln(u)", lambda u: _over(ONE, _f("log", u))),
    _one("fresnels", "S′(u) = sin(π⋅u²/2)",
         lambda u: _f("sin", _over(_times(PI, _pow(u, TWO)), TWO))),
    FunctionRule("lowergamma", "∂γ(s, x)/∂x = x^(s−1)⋅e^(−x); ∂/∂s as SymPy writes it",
                 _lowergamma_partials),
    _each("owens_t", "∂T(h, a)/∂h and ∂T/∂a as SymPy writes them"),
)  # fmt: skip


def _sigma(u: Form) -> Form:
    return _f("sigmoid", u)


# activations whose derivative the language writes in closed form (the others: Prime)
_ACTIVATION_OUTERS: dict[str, Callable[[Form], Form]] = {
    "sigmoid": lambda u: _times(_sigma(u), _plus(ONE, _minus(_sigma(u)))),
    "identity": lambda u: ONE,
    "softsign": lambda u: _over(ONE, _pow(_plus(ONE, _f("abs", u)), TWO)),
    "logsigmoid": lambda u: _sigma(_minus(u)),
    "silu": lambda u: _times(_sigma(u), _plus(ONE, _times(u, _plus(ONE, _minus(_sigma(u)))))),
    "gelu": lambda u: _plus(
        _over(_plus(ONE, _f("erf", _over(u, _sqrt_of(TWO)))), TWO),
        _over(_times(u, _f("exp", _minus(_over(_pow(u, TWO), TWO)))), _sqrt_of(_times(TWO, PI))),
    ),
    "mish": lambda u: _plus(
        _f("tanh", _f("softplus", u)),
        _times(u, _sigma(u), _plus(ONE, _minus(_pow(_f("tanh", _f("softplus", u)), TWO)))),
    ),
}


def _activation_rule(name: str) -> FunctionRule:
    formula = ACTIVATIONS[name].derivative_formula
    text = formula if formula.startswith(name) else f"{name}: {formula}"
    outer = _ACTIVATION_OUTERS.get(name, lambda u, name=name: Prime(name, (u,)))
    return _one(name, text + " (torch's convention at kinks)", outer)


def _make_rules() -> dict[str, FunctionRule]:
    rules = {rule.name: rule for rule in _MATHS_RULES}
    for name in ACTIVATIONS:
        rules.setdefault(name, _activation_rule(name))
    return rules


RULES: dict[str, FunctionRule] = _make_rules()


def rule_for(name: str) -> FunctionRule:
    """The function's rule; a function without one (a gap the tests report) is differentiated
    as SymPy defines it, and says so."""
    found = RULES.get(name)
    if found is not None:
        return found
    return _each(name, f"{name}′ as SymPy differentiates it")


# --- the steps ------------------------------------------------------------------------------


@dataclass
class Step:
    """One rule applied to one part of the formula.

    ``form`` is the rule's rewrite of d/dv[expression]; the derivatives it leaves to later
    steps are ``children`` (each a :class:`Deriv` of the form → that step's index).
    """

    rule: str
    why: str
    expression: Node
    form: Form
    depth: int
    children: dict[Deriv, int] = field(default_factory=dict)
    result: Expr = None
    check: str = ""  # how the result was verified: symbolic, numeric or unchecked

    @property
    def pending(self) -> bool:
        return bool(self.children)


def sub_forms(form: Form) -> tuple[Form, ...]:
    """The direct parts of a form (placeholders included)."""
    if isinstance(form, Deriv):
        return ()
    if isinstance(form, Prime):
        return form.args
    if isinstance(form, Neg):
        return (form.operand,)
    if isinstance(form, Sum):
        return form.terms
    if isinstance(form, Product):
        return form.factors + form.divisors
    if isinstance(form, Power):
        return (form.base, form.exponent)
    if isinstance(form, Call):
        return form.args
    return ()


def pending_derivatives(form: Form) -> list[Deriv]:
    """The Deriv placeholders of a form, each once, in reading order."""
    found: list[Deriv] = []
    stack = [form]
    while stack:
        current = stack.pop()
        if isinstance(current, Deriv):
            if current not in found:
                found.append(current)
            continue
        stack.extend(reversed(sub_forms(current)))
    return found


class Deriver:
    """Works out d/dv of formulas step by step (one Deriver per variable)."""

    def __init__(self, variable: str, budget: list[int]) -> None:
        self.variable = variable
        self.target = Var(variable)
        self.budget = budget  # steps left for the whole request (shared, decremented)
        self._depends: dict[Node, bool] = {}

    def depends(self, node: Form) -> bool:
        found = self._depends.get(node)  # type: ignore[arg-type]
        if found is None:
            if isinstance(node, Var):
                found = node.name == self.variable
            else:
                found = any(self.depends(part) for part in sub_forms(node))
            self._depends[node] = found  # type: ignore[index]
        return found

    def steps(self, tree: Node) -> list[Step]:
        """Every step of d/dv[tree], parents before their children."""
        steps: list[Step] = []
        self._build(tree, 0, steps)
        return steps

    def d(self, node: Node) -> Form:
        """d/dv[node] in a form: 1 for v itself (no step needed), else a Deriv."""
        return ONE if node == self.target else Deriv(node)

    def _build(self, node: Node, depth: int, steps: list[Step]) -> int:
        if self.budget[0] <= 0:
            raise TooManySteps
        self.budget[0] -= 1
        rule, why, form = self.rewrite(node)
        index = len(steps)
        step = Step(rule, why, node, form, depth)
        steps.append(step)
        for pending in pending_derivatives(form):
            step.children[pending] = self._build(pending.of, depth + 1, steps)
        return index

    # --- the rules -------------------------------------------------------------------

    def rewrite(self, node: Node) -> tuple[str, str, Form]:
        """(rule, why, form) for d/dv[node]."""
        if not self.depends(node):
            return "constant rule", self._constant_why(node), Num(0)
        if isinstance(node, Var):
            return "variable rule", f"d{node.name}/d{node.name} = 1", ONE
        if isinstance(node, Neg):
            return "constant multiple", "the factor −1", _minus(self.d(node.operand))
        if isinstance(node, Sum):
            return self._sum(node)
        if isinstance(node, Product):
            return self._product(node)
        if isinstance(node, Power):
            return self._power(node)
        if isinstance(node, Call):
            return self._call(node)
        raise TypeError(f"no rule for {node!r}")

    def _others(self, node: Node) -> list[str]:
        names: list[str] = []
        stack: list[Form] = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, Var) and current.name not in names:
                names.append(current.name)
            stack.extend(sub_forms(current))
        return sorted(names)

    def _constant_why(self, node: Node) -> str:
        names = self._others(node)
        if not names:
            return ""
        verb = "is" if len(names) == 1 else "are"
        return f"{', '.join(names)} {verb} constant in {self.variable}"

    def _sum(self, node: Sum) -> tuple[str, str, Form]:
        terms = tuple(
            _minus(self.d(term.operand)) if isinstance(term, Neg) else self.d(term)
            for term in node.terms
        )
        differences = any(isinstance(term, Neg) for term in node.terms)
        return ("sum/difference rule" if differences else "sum rule"), "", Sum(terms)

    def _product(self, node: Product) -> tuple[str, str, Form]:
        if any(self.depends(d) for d in node.divisors):
            top = _single(node.factors) if node.factors else ONE
            bottom = _single(node.divisors)
            square = _pow(bottom, TWO)
            if not self.depends(top):
                form = _minus(Product((top, self.d(bottom)), (square,)))
                return "quotient rule", "(c/g)′ = −c⋅g′/g²", form
            numerator = _plus(_times(self.d(top), bottom), _minus(_times(top, self.d(bottom))))
            return "quotient rule", "(f/g)′ = (f′⋅g − f⋅g′)/g²", Product((numerator,), (square,))
        constant = tuple(f for f in node.factors if not self.depends(f))
        varying = tuple(f for f in node.factors if self.depends(f))
        if constant or node.divisors:
            factor = (
                Product(constant or (ONE,), node.divisors) if node.divisors else _single(constant)
            )
            inner = _single(varying)
            why = self._constant_why(factor)
            return "constant multiple", why, _times(factor, self.d(inner))
        terms = tuple(
            _times(*(self.d(f) if j == i else f for j, f in enumerate(varying)))
            for i in range(len(varying))
        )
        return "product rule", "(f⋅g)′ = f′⋅g + f⋅g′", Sum(terms)

    def _power(self, node: Power) -> tuple[str, str, Form]:
        base, exponent = node.base, node.exponent
        if not self.depends(exponent):
            lowered = _pow(base, _minus_one(exponent))
            if base == self.target:
                why = f"({self.variable}ⁿ)′ = n⋅{self.variable}ⁿ⁻¹"
                return "power rule", why, _times(exponent, lowered)
            form = _times(exponent, lowered, Deriv(base))
            return "power rule", "(uⁿ)′ = n⋅uⁿ⁻¹⋅u′ (with the chain rule)", form
        chain = () if exponent == self.target else (self.d(exponent),)
        if not self.depends(base):
            if base == Const("e"):
                return "exponential rule", "(eᵘ)′ = eᵘ⋅u′", _times(node, *chain)
            return "exponential rule", "(aᵘ)′ = aᵘ⋅ln(a)⋅u′", _times(node, _f("log", base), *chain)
        inner = _plus(
            _times(self.d(exponent), _f("log", base)), Product((exponent, self.d(base)), (base,))
        )
        return (
            "general power rule",
            "f^g = e^(g⋅ln f): (f^g)′ = f^g⋅(g′⋅ln f + g⋅f′/f)",
            Product((node, inner)),
        )

    def _call(self, node: Call) -> tuple[str, str, Form]:
        rule = rule_for(node.name)
        partials = rule.partials(*node.args)
        terms: list[Form] = []
        for arg, partial in zip(node.args, partials, strict=True):
            if not self.depends(arg):
                continue
            terms.append(_times(partial, self.d(arg)))
        form = terms[0] if len(terms) == 1 else Sum(tuple(terms))
        direct = len(node.args) == 1 and node.args[0] == self.target
        return (rule.rule if direct else "chain rule"), rule.text, form


def _minus_one(exponent: Node) -> Node:
    """n − 1, worked out when n is a number."""
    if isinstance(exponent, Num):
        return Num(exponent.value - 1)
    if isinstance(exponent, Neg) and isinstance(exponent.operand, Num):
        return _minus(Num(exponent.operand.value + 1))
    return _plus(exponent, _minus(ONE))


# --- putting results together, in SymPy -------------------------------------------------------


class Builder:
    """SymPy expressions of trees and forms (memoized)."""

    def __init__(self) -> None:
        self._trees: dict[Node, Expr] = {}

    def tree(self, node: Node) -> Expr:
        found = self._trees.get(node)
        if found is None:
            found = sym.to_sympy(node)
            self._trees[node] = found
        return found

    def form(self, form: Form, known: dict[Deriv, Expr]) -> Expr:
        if isinstance(form, Deriv):
            return known[form]
        if isinstance(form, Prime):
            return self.prime(form)
        if not _has_placeholder(form):
            return self.tree(form)  # type: ignore[arg-type]
        if isinstance(form, Neg):
            return -self.form(form.operand, known)
        if isinstance(form, Sum):
            return sp.Add(*[self.form(term, known) for term in form.terms])
        if isinstance(form, Product):
            top = sp.Mul(*[self.form(f, known) for f in form.factors])
            return top / sp.Mul(*[self.form(d, known) for d in form.divisors])
        if isinstance(form, Power):
            return self.form(form.base, known) ** self.form(form.exponent, known)
        if isinstance(form, Call):
            dummies = [Var(f"_arg{i}") for i in range(len(form.args))]
            outer = self.tree(Call(form.name, tuple(dummies)))
            values = {
                sym.symbol(d.name): self.form(a, known)
                for d, a in zip(dummies, form.args, strict=True)
            }
            return outer.xreplace(values)
        raise TypeError(f"not a form: {form!r}")

    def prime(self, form: Prime) -> Expr:
        """∂f/∂(argument ``index``) at the arguments: the function's own SymPy derivative
        (for activations, gradcli's, in :mod:`gradcli.expr.symbolic`)."""
        dummies = [Var(f"_arg{i}") for i in range(len(form.args))]
        outer = self.tree(Call(form.name, tuple(dummies)))
        derivative = sym.real_forms(sp.diff(outer, sym.symbol(dummies[form.index].name)))
        values = {sym.symbol(d.name): self.tree(a) for d, a in zip(dummies, form.args, strict=True)}
        return derivative.xreplace(values)


def _has_placeholder(form: Form) -> bool:
    if isinstance(form, (Deriv, Prime)):
        return True
    return any(_has_placeholder(part) for part in sub_forms(form))


def derivative(expr: Expr, variable: str) -> Expr:
    """SymPy's derivative, as the rest of gradcli takes it."""
    return sym.real_forms(sp.diff(expr, sym.symbol(variable)))


# --- checking every step ------------------------------------------------------------------


class Checker:
    """Decides whether a step's result equals SymPy's derivative of the step's part:
    symbolically when SymPy can show the difference is 0 within the time, else by value at
    the point and at two random points nearby where both are defined."""

    def __init__(self, point: dict[str, float], seed: int = 0) -> None:
        torch = sym.torch
        self.names = list(point)
        self.point = sym.Evaluator({sym.symbol(n): v for n, v in point.items()}, torch.float64)
        rng = random.Random(seed)
        self.candidates = []
        for k in range(CANDIDATES):
            scale = 0.05 if k < CANDIDATES // 2 else 0.5
            moved = {
                sym.symbol(n): v + rng.uniform(-1.0, 1.0) * scale * max(1.0, abs(v))
                for n, v in point.items()
            }
            self.candidates.append(sym.Evaluator(moved, torch.float64))
        self.deadline = time.monotonic() + SYMBOLIC_SECONDS

    def __call__(self, ours: Expr, truth: Expr, what: Callable[[], str]) -> str:
        """ "symbolic", "numeric" or "unchecked"; raises StepMismatch when they differ."""
        if ours == truth:
            return "symbolic"
        difference = ours - truth
        if difference == 0 or self._zero(difference):
            return "symbolic"
        return self._numeric(ours, truth, what)

    def _zero(self, difference: Expr) -> bool:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or sp.count_ops(difference) > SIMPLIFY_OPS:
            return False
        try:
            with sym.time_limit(min(SIMPLIFY_EACH, remaining)):
                if sp.expand(difference) == 0:
                    return True
                if difference.has(sp.Piecewise, sp.DiracDelta, sp.Heaviside):
                    return False
                with sym._without_units():
                    return bool(sp.simplify(difference) == 0)
        except sym.TimeUp:
            return False
        except Exception:  # a SymPy failure only means "not shown symbolically"
            return False

    def _numeric(self, ours: Expr, truth: Expr, what: Callable[[], str]) -> str:
        at = _compare(self.point, ours, truth)
        if at is False:
            raise StepMismatch(self._message(self.point, ours, truth, what))
        agreed = 0
        for evaluator in self.candidates:
            verdict = _compare(evaluator, ours, truth)
            if verdict is False:
                raise StepMismatch(self._message(evaluator, ours, truth, what))
            agreed += verdict is True
            if agreed == RANDOM_POINTS:
                return "numeric"
        return "unchecked"

    def _message(self, evaluator: Any, ours: Expr, truth: Expr, what: Callable[[], str]) -> str:
        a, _ = _value(evaluator, ours)
        b, _ = _value(evaluator, truth)
        where = ", ".join(f"{s} = {v:.6g}" for s, v in evaluator.point.items())
        return (
            f"the step {what()} does not equal SymPy's derivative of that part: at {where} it "
            f"gives {a:.12g}, SymPy {b:.12g}"
        )


def _value(evaluator: Any, expr: Expr) -> tuple[float, bool]:
    try:
        return evaluator.value(expr)
    except (NotImplementedError, TypeError, ValueError, sym.Undecidable):
        return math.nan, True


def _compare(evaluator: Any, ours: Expr, truth: Expr) -> bool | None:
    """True (agree), False (differ) or None (not both defined here: inconclusive)."""
    a, hit_a = _value(evaluator, ours)
    b, hit_b = _value(evaluator, truth)
    if hit_a or hit_b or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return abs(a - b) <= CLOSE * max(1.0, abs(a), abs(b))


def work_out(
    steps: list[Step],
    variable: str,
    builder: Builder,
    checker: Checker,
    describe: Callable[[Step], str],
) -> Expr:
    """Put the results together bottom-up, checking each against SymPy; the top result."""
    for step in reversed(steps):
        known = {pending: steps[index].result for pending, index in step.children.items()}
        step.result = builder.form(step.form, known)
        truth = derivative(builder.tree(step.expression), variable)
        step.check = checker(step.result, truth, lambda step=step: describe(step))
    return steps[0].result


# --- SymPy expressions back to the language's tree (for the second derivative) -------------


class NotWritable(Exception):
    """A SymPy expression with a part the language has no function for."""


def _function_heads() -> dict[Any, str]:
    """SymPy function class → the language's name, found by building each function."""
    heads: dict[Any, str] = {}
    for name, spec in FUNCTIONS.items():
        count = min(spec.arity)
        dummies = tuple(Var(f"_arg{i}") for i in range(count))
        try:
            built = sym.to_sympy(Call(name, dummies))
        except Exception:
            continue
        expected = tuple(sym.symbol(d.name) for d in dummies)
        if getattr(built, "args", None) == expected and built.func not in heads:
            heads[built.func] = name
        elif count == 2 and set(getattr(built, "args", ())) == set(expected):
            heads.setdefault(built.func, name)  # max and min keep their arguments sorted
    return heads


_HEADS: dict[Any, str] | None = None


def from_sympy(expr: Expr) -> Node:
    """The language's tree of a SymPy expression (raises NotWritable for Piecewise,
    Heaviside and other parts the language cannot write)."""
    global _HEADS
    if _HEADS is None:
        _HEADS = _function_heads()
    return _convert(expr, _HEADS)


def _number(value: Expr) -> Node:
    if value.is_Integer:
        n = int(value)
        return Num(n) if n >= 0 else _minus(Num(-n))
    if value.is_Rational:
        p, q = int(value.p), int(value.q)
        fraction = Product((Num(abs(p)),), (Num(q),))
        return fraction if p >= 0 else _minus(fraction)
    number = float(value)
    return Num(number) if number >= 0 else _minus(Num(-number))


def _convert(expr: Expr, heads: dict[Any, str]) -> Node:
    if expr.is_Symbol:
        return Var(expr.name)
    if expr is sp.pi:
        return Const("pi")
    if expr is sp.E:
        return Const("e")
    if expr.is_Number:
        if not expr.is_finite:
            raise NotWritable(str(expr))
        return _number(expr)
    if expr.is_Add:
        terms = []
        for term in expr.as_ordered_terms():
            if term.could_extract_minus_sign():
                terms.append(_minus(_convert(-term, heads)))
            else:
                terms.append(_convert(term, heads))
        return Sum(tuple(terms))
    if expr.is_Mul:
        if expr.could_extract_minus_sign():
            return _minus(_convert(-expr, heads))
        factors: list[Node] = []
        divisors: list[Node] = []
        for part in expr.as_ordered_factors():
            if part.is_Rational and not part.is_Integer:
                if part.p != 1:
                    factors.append(Num(int(part.p)))
                divisors.append(Num(int(part.q)))
            elif part.is_Pow and part.exp.is_negative and part.exp.is_Number:
                divisors.append(_convert(part.base ** (-part.exp), heads))
            else:
                factors.append(_convert(part, heads))
        return Product(tuple(factors) or (ONE,), tuple(divisors))
    if expr.is_Pow:
        base, exponent = expr.args
        if exponent == sp.S.Half:
            return Call("sqrt", (_convert(base, heads),))
        if exponent.is_Number and exponent.is_negative:
            return Product((ONE,), (_convert(base ** (-exponent), heads),))
        return Power(_convert(base, heads), _convert(exponent, heads))
    if isinstance(expr, sp.exp):
        return Call("exp", (_convert(expr.args[0], heads),))
    name = heads.get(expr.func)
    if name is None:
        raise NotWritable(getattr(expr.func, "__name__", str(expr.func)))
    return Call(name, tuple(_convert(arg, heads) for arg in expr.args))
