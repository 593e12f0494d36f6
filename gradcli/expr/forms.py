"""A derivation's written forms: the parsed tree plus two placeholders, and their text.

A step of a derivation rewrites ``d/dx[u]`` into a *form*: an expression of the language's
own tree (:mod:`gradcli.expr.language`) that may hold

* :class:`Deriv` — ``d/dx[v]``, a derivative still to be worked out by a later step;
* :class:`Prime` — ``f′(u)`` (or ``∂ᵢf(a, b)``), the derivative of a function the language
  cannot write in closed form (relu′, sign′, the partials of max).

:func:`text` prints a form in the notation of the language (ASCII, ``x^2*sin(x*y)``), in
Unicode (``x²⋅sin(x⋅y)``) or in LaTeX; :func:`sympy_text` prints a SymPy expression on one
line in the same style. Nothing here imports torch or SymPy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gradcli.expr.language import Call, Const, Neg, Node, Num, Power, Product, Sum, Var


@dataclass(frozen=True)
class Deriv:
    """``d/dv[of]``: a derivative a later step works out (v is the derivation's variable)."""

    of: Node


@dataclass(frozen=True)
class Prime:
    """The derivative of function ``name`` at ``args`` with respect to argument ``index``."""

    name: str
    args: tuple[Node, ...]
    index: int = 0


Form = Node | Deriv | Prime

NOTATIONS = ("ascii", "unicode", "latex")
MULTIPLY = {"ascii": "*", "unicode": "⋅", "latex": r" \cdot "}
SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
LATEX_FUNCTIONS = {
    "sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "sec", "csc", "cot", "coth",
}  # fmt: skip
LATEX_NAMES = {"asin": r"\operatorname{asin}", "log": r"\log", "gamma": r"\Gamma"}

# precedence: how tightly a form binds (an operand binding less tightly is parenthesized)
_SUM, _NEG, _PRODUCT, _POWER, _ATOM = 1, 2, 3, 4, 5


def _precedence(form: Form) -> int:
    if isinstance(form, Sum):
        return _SUM
    if isinstance(form, Neg):
        return _NEG
    if isinstance(form, Num) and form.value < 0:
        return _NEG
    if isinstance(form, Product):
        return _PRODUCT
    if isinstance(form, Power):
        return _POWER
    return _ATOM


@dataclass(frozen=True)
class Printer:
    """Prints forms in one notation; ``variable`` names the derivation's variable and
    ``partial`` chooses ∂/∂x (several variables) over d/dx."""

    notation: str
    variable: str = "x"
    partial: bool = False
    names: tuple[tuple[str, str], ...] = ()  # variable → how Unicode/LaTeX write it (α, x₁)

    def __call__(self, form: Form) -> str:
        return self.form(form)

    # --- the pieces -------------------------------------------------------------------

    def name(self, name: str) -> str:
        return dict(self.names).get(name, name)

    def operator(self) -> str:
        """``d/dx``, ``∂/∂x`` or its LaTeX."""
        v = self.name(self.variable)
        if self.notation == "latex":
            d = r"\partial" if self.partial else "d"
            return rf"\frac{{{d}}}{{{d} {v}}}"
        d = "∂" if self.partial and self.notation == "unicode" else "d"
        return f"{d}/{d}{v}"

    def derivative(self, of: Form) -> str:
        inner = self.form(of)
        if self.notation == "latex":
            return rf"{self.operator()}\left[{inner}\right]"
        return f"{self.operator()}[{inner}]"

    def wrapped(self, form: Form, above: int) -> str:
        """``form`` in parentheses when it binds less tightly than ``above``."""
        text = self.form(form)
        if _precedence(form) < above:
            return rf"\left({text}\right)" if self.notation == "latex" else f"({text})"
        return text

    def form(self, form: Form) -> str:
        if isinstance(form, Deriv):
            return self.derivative(form.of)
        if isinstance(form, Prime):
            return self.prime(form)
        if isinstance(form, Num):
            return self.number(form.value)
        if isinstance(form, Const):
            return {"pi": {"ascii": "pi", "unicode": "π", "latex": r"\pi"}[self.notation],
                    "e": "e"}[form.name]  # fmt: skip
        if isinstance(form, Var):
            return self.name(form.name)
        if isinstance(form, Neg):
            return "-" + self.wrapped(form.operand, _PRODUCT)
        if isinstance(form, Sum):
            return self.sum(form)
        if isinstance(form, Product):
            return self.product(form)
        if isinstance(form, Power):
            return self.power(form)
        if isinstance(form, Call):
            return self.call(form.name, [self.form(arg) for arg in form.args])
        raise TypeError(f"not a form: {form!r}")

    def number(self, value: int | float) -> str:
        text = str(value) if isinstance(value, int) else f"{value:.15g}"
        if "e" in text and self.notation == "latex":
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
        return text

    def sum(self, form: Sum) -> str:
        parts = [self.wrapped(form.terms[0], _SUM)]
        for term in form.terms[1:]:
            if isinstance(term, Neg):
                parts.append(" - " + self.wrapped(term.operand, _PRODUCT))
            else:
                parts.append(" + " + self.wrapped(term, _NEG + 1))
        return "".join(parts)

    def factor(self, form: Form) -> str:
        """A factor of a product: sums, negations and fractions in parentheses."""
        if isinstance(form, Product) and form.divisors:
            text = self.form(form)
            return rf"\left({text}\right)" if self.notation == "latex" else f"({text})"
        return self.wrapped(form, _PRODUCT)

    def product(self, form: Product) -> str:
        times = MULTIPLY[self.notation]
        top = (
            times.join(
                self.form(f) if i == 0 and isinstance(f, Neg) else self.factor(f)  # -a⋅b = (-a)⋅b
                for i, f in enumerate(form.factors)
            )
            or "1"
        )
        if not form.divisors:
            return top
        if self.notation == "latex":
            bottom = times.join(self.factor(d) for d in form.divisors)
            return rf"\frac{{{self.form(_single_or_one(form.factors))}}}{{{bottom}}}"
        if len(form.divisors) == 1:  # a⋅b/c reads left to right as (a⋅b)/c
            bottom = self.wrapped(form.divisors[0], _POWER)
        else:
            bottom = "(" + times.join(self.factor(d) for d in form.divisors) + ")"
        return f"{top}/{bottom}"

    def power(self, form: Power) -> str:
        base = self.wrapped(form.base, _ATOM)
        exponent = form.exponent
        if self.notation == "latex":
            return f"{base}^{{{self.form(exponent)}}}"
        whole = isinstance(exponent, Num) and isinstance(exponent.value, int)
        if self.notation == "unicode" and whole:
            return base + str(exponent.value).translate(SUPERSCRIPTS)
        if self.notation == "unicode" and isinstance(exponent, Neg):
            inner = exponent.operand
            if isinstance(inner, Num) and isinstance(inner.value, int):
                return base + f"-{inner.value}".translate(SUPERSCRIPTS)
        return f"{base}^{self.wrapped(exponent, _ATOM)}"

    def call(self, name: str, args: list[str], mark: str = "") -> str:
        joined = ", ".join(args)
        if self.notation == "latex":
            if name == "abs" and not mark:
                return rf"\left|{joined}\right|"
            if name == "sqrt" and not mark:
                return rf"\sqrt{{{joined}}}"
            head = (
                f"\\{name}"
                if name in LATEX_FUNCTIONS
                else LATEX_NAMES.get(name, rf"\operatorname{{{_latex_escape(name)}}}")
            )
            return rf"{head}{mark}\left({joined}\right)"
        if name == "abs" and not mark and self.notation == "unicode":
            return f"|{joined}|"
        if name == "sqrt" and not mark and self.notation == "unicode":
            return f"√({joined})"
        return f"{name}{mark}({joined})"

    def prime(self, form: Prime) -> str:
        args = [self.form(arg) for arg in form.args]
        if len(form.args) == 1:
            mark = {"ascii": "'", "unicode": "′", "latex": "'"}[self.notation]
            return self.call(form.name, args, mark)
        position = str(form.index + 1)
        if self.notation == "latex":
            return rf"\partial_{{{position}}}" + self.call(form.name, args)
        if self.notation == "unicode":
            return "∂" + position.translate(SUBSCRIPTS) + self.call(form.name, args)
        return f"d{position}" + self.call(form.name, args)


def _single_or_one(factors: tuple) -> Form:
    if not factors:
        return Num(1)
    return factors[0] if len(factors) == 1 else Product(factors)


def _latex_escape(name: str) -> str:
    return name.replace("_", r"\_")


def texts(form: Form, printers: dict[str, Printer]) -> dict[str, str]:
    """The form in every notation."""
    return {notation: printer(form) for notation, printer in printers.items()}


# --- SymPy expressions on one line -------------------------------------------------------

_WHOLE_POWER = re.compile(r"\*\*(\d+)(?![\d.])")
_NEGATIVE_POWER = re.compile(r"\*\*\((-\d+)\)")
_PI = re.compile(r"\bpi\b")
_SQRT = re.compile(r"\bsqrt\(")


def sympy_text(sstr: str, notation: str) -> str:
    """SymPy's one-line text (``sstr``) in the style of :class:`Printer`: ``x^2*sin(x*y)``
    in ASCII, ``x²⋅sin(x⋅y)`` in Unicode."""
    if notation == "unicode":
        text = _WHOLE_POWER.sub(lambda m: m.group(1).translate(SUPERSCRIPTS), sstr)
        text = _NEGATIVE_POWER.sub(lambda m: m.group(1).translate(SUPERSCRIPTS), text)
        text = text.replace("**", "^").replace("*", "⋅")
        text = _PI.sub("π", text)
        return _SQRT.sub("√(", text)
    return sstr.replace("**", "^")
