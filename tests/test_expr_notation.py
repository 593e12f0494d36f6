"""`gradcli expr` reads formulas as textbooks and papers write them (issue 22 §1).

Every accepted notation is checked against the explicit formula it must mean: both are parsed
and their trees compared, so nothing here trusts the parser's own output. Each family names
where the notation was taken from. A hypothesis test prints random trees in the accepted
notations and parses them back to the same tree.
"""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.errors import InputError
from gradcli.expr.language import (
    FUNCTIONS,
    Call,
    Const,
    Neg,
    Num,
    Power,
    Product,
    Sum,
    Var,
    parse,
    to_text,
)
from tests.conftest import assert_bad_input, invoke

# (as written, as meant)
SAME = [
    # implicit products — Stewart-style exercise notation ("y = 2x sin x", "3(x+1)^2");
    # the exercise sets quoted in issue 22 §1 went in "by adding * only" for 188 of 249
    ("2x", "2*x"),
    ("0.5x", "0.5*x"),
    ("3(x+1)", "3*(x+1)"),
    ("(x+1)(x-1)", "(x+1)*(x-1)"),
    ("x y", "x*y"),
    ("2 sin(x)", "2*sin(x)"),
    ("e^z ln(z)", "e^z*log(z)"),  # z·e^z·ln z style products (Paul's Online Notes, Calculus I)
    ("sin(x)cos(x)", "sin(x)*cos(x)"),
    ("2x^2 - 3x + 1", "2*x^2 - 3*x + 1"),
    ("-2x", "-2*x"),
    ("x^2 y", "x^2*y"),
    ("(x+1) y", "(x+1)*y"),
    ("pi(x+1)", "pi*(x+1)"),  # a constant before a parenthesis is a product, never a call
    ("2πr", "2*pi*r"),  # circumference; a Greek letter is one symbol on its own
    ("1.5e-3x", "1.5e-3*x"),  # scientific notation stays one number
    ("xy", "xy"),  # never inside a name: one variable
    # powers of functions — Wikibooks "Trigonometry/Derivative of Inverse Functions" and the
    # TAMU Math 151 notes write sin-1(x), tan-1(x), sec-1(x); sin²x is everywhere
    ("sin^2(x)", "sin(x)^2"),
    ("sin²(x)", "sin(x)^2"),
    ("cos^3(2x)", "cos(2*x)^3"),
    ("ln^2(x)", "log(x)^2"),
    ("sin^2(x)cos(x)", "sin(x)^2*cos(x)"),
    ("sin^-1(x)", "asin(x)"),
    ("sin⁻¹(x)", "asin(x)"),
    ("tan^-1(x)", "atan(x)"),
    ("sec^(-1)(x)", "asec(x)"),
    ("cosh^-1(x)", "acosh(x)"),
    # arc names — ISO 80000-2 writes arsinh; most calculus books arcsin
    ("arcsin(x)", "asin(x)"),
    ("arccos(x)", "acos(x)"),
    ("arctan(x)", "atan(x)"),
    ("arcsec(x)", "asec(x)"),
    ("arccot(x)", "acot(x)"),
    ("arsinh(x)", "asinh(x)"),
    ("arctanh(x)", "atanh(x)"),
    ("sgn(x)", "sign(x)"),
    ("loggamma(x)", "lgamma(x)"),
    # absolute values and roots — |x| and √x as printed in every calculus text
    ("|x|", "abs(x)"),
    ("|x - 1|", "abs(x - 1)"),
    ("2|x|", "2*abs(x)"),
    ("|x||y|", "abs(x)*abs(y)"),
    ("||x| - |y||", "abs(abs(x) - abs(y))"),
    ("x|y|", "x*abs(y)"),
    ("√x", "sqrt(x)"),
    ("√(x+1)", "sqrt(x+1)"),
    ("2√x", "2*sqrt(x)"),
    ("√|x|", "sqrt(abs(x))"),
    ("∛x", "cbrt(x)"),
    # Unicode operators — what a copy from a PDF or a word processor carries
    ("x²", "x^2"),
    ("x³ + x²y", "x^3 + x^2*y"),
    ("x⁻¹", "x^(-1)"),
    ("e^x²", "e^(x^2)"),  # a superscript binds to its base: e^(x²), as typeset
    ("3·x", "3*x"),
    ("2×x", "2*x"),
    ("3⋅x", "3*x"),
    ("3−x", "3-x"),
    ("x÷2", "x/2"),
    # Greek letters and the words that are also functions — physics potentials and papers:
    # V(r) = 4ε((σ/r)^12 − (σ/r)^6), the Lennard-Jones potential
    ("4ε((σ/r)^12 - (σ/r)^6)", "4*epsilon*((sigma/r)^12 - (sigma/r)^6)"),
    ("σ*μ", "sigma*mu"),
    ("λx", "lambda*x"),
    ("lambda*x", "lambda*x"),
    ("λ x", "lambda*x"),
    ("Δ*t", "Delta*t"),
    ("ε(x+1)", "epsilon*(x+1)"),
    ("gamma*x + beta", "gamma*x + beta"),  # the variables γ and β (not called)
    ("gamma x", "gamma*x"),
    ("gamma(x)*beta", "gamma(x)*beta"),  # called: Γ(x)
    ("beta(a, b)", "beta(a, b)"),
    # other bases, many arguments
    ("log_2(x)", "log(x, 2)"),
    ("log_10(x)", "log(x, 10)"),
    ("log_b(x)", "log(x, b)"),
    ("log_e(x)", "log(x, e)"),
    ("log(x, 3)", "log(x, 3)"),
    ("max(x, y, z)", "max(x, y, z)"),
    ("min(a, b, c, d)", "min(a, b, c, d)"),
    # NNlib.jl src/activations.jl, as its docstring writes the tanh form of gelu:
    #   gelu(x) = 0.5x * (1 + tanh(√(2/π) * (x + 0.044715x^3)))
    ("0.5x * (1 + tanh(√(2/π) * (x + 0.044715x^3)))",
     "0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3)))"),
    ("0.5x (1 + tanh(√(2/π)(x + 0.044715x³)))", "0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3)))"),
    ("x (y+1)", "x*(y+1)"),  # a space between factors; x(y+1) without one is a call
    # NNlib.jl: lisht(x) = x * tanh(x); logcosh(x) = x + softplus(-2x) - log(2)
    ("x tanh(x)", "x*tanh(x)"),
    ("x + softplus(-2x) - log(2)", "x + softplus(-2*x) - log(2)"),
]  # fmt: skip


@pytest.mark.parametrize(("written", "meant"), SAME)
def test_textbook_notation_reads_as_the_explicit_formula(written, meant):
    assert parse(written).tree == parse(meant).tree


def test_the_readings_cover_every_notation_of_the_issue():
    text = " ".join(written for written, _ in SAME)
    for piece in ("2x", "(x+1)(x-1)", "x y", "sin^2", "sin^-1", "tan^-1", "|x|", "x²", "√x",
                  "·", "×", "−", "arcsin", "arcsec", "σ", "μ", "λ", "lambda", "gamma", "beta",
                  "log_2", "log(x, 3)", "max(x, y, z)"):  # fmt: skip
        assert piece in text, piece


def test_the_tree_spells_greek_letters_and_keeps_lambda():
    assert parse("σ + λ").variables == ("lambda", "sigma")
    assert parse("λ*x").tree == Product((Var("lambda"), Var("x")))
    assert parse("2x").tree == Product((Num(2), Var("x")))
    assert parse("sin^-1(x)").tree == Call("asin", (Var("x"),))


def test_an_inverse_read_from_a_power_is_said_in_the_output():
    parsed = parse("sin^-1(x)")
    assert parsed.readings == ("sin^-1(x) is read as asin(x), the inverse function (not 1/sin(x))",)
    run = invoke("expr", "tan^-1(x)", "--at", "x=1")
    assert run.code == 0
    assert "tan^-1(x) is read as atan(x)" in run.stdout
    data = invoke("expr", "tan^-1(x)", "--at", "x=1", "--json").json()
    assert data["readings"] == ["tan^-1(x) is read as atan(x), the inverse function (not 1/tan(x))"]
    assert data["analytic"] == pytest.approx([0.5])  # d/dx atan(x) = 1/(1 + x²) at 1


def test_greek_letters_take_their_values_by_either_name():
    spelled = invoke("expr", "σ^2 μ", "--at", "sigma=2,μ=3", "--json").json()
    assert spelled["variables"] == ["mu", "sigma"]
    assert spelled["analytic"] == pytest.approx([4.0, 12.0])  # ∂/∂μ = σ², ∂/∂σ = 2σμ
    greek = invoke("expr", "λ x", "--at", "λ=2,x=3", "--wrt", "λ", "--json").json()
    assert greek["variables"] == ["lambda"] and greek["analytic"] == pytest.approx([3.0])


def test_gamma_and_beta_are_variables_where_they_are_not_called():
    data = invoke("expr", "gamma*x^2 + beta", "--at", "gamma=2,beta=1,x=3", "--json").json()
    assert data["variables"] == ["beta", "gamma", "x"]
    assert data["analytic"] == pytest.approx([1.0, 9.0, 12.0])
    # Γ'(1) = −γ (Euler–Mascheroni); here gamma is called, so it is the function
    called = invoke("expr", "gamma(x)", "--at", "x=1", "--json").json()
    assert called["analytic"] == pytest.approx([-0.5772156649015329])


def test_log_base_b_and_max_of_many():
    # d/dx log_2(x) = 1/(x ln 2); d/db log_b(x) = −ln x / (b ln² b)
    data = invoke("expr", "log_b(x)", "--at", "b=2,x=8", "--json").json()
    assert data["analytic"] == pytest.approx(
        [-math.log(8) / (2 * math.log(2) ** 2), 1 / (8 * math.log(2))]
    )
    data = invoke("expr", "max(x, 2y, z^2)", "--at", "x=1,y=3,z=2", "--json").json()
    assert data["analytic"] == pytest.approx([0.0, 2.0, 0.0])  # 2y = 6 is the largest


AMBIGUOUS = [
    ("1/2x", ["ambiguous", "1/(2*x)", "(1/2)*x"]),
    ("e^2x", ["ambiguous", "e^(2*x)", "e^2*x"]),
    ("x^-2y", ["ambiguous", "x^(-2*y)"]),
    ("(x+1)^2(x-1)", ["ambiguous", "(x+1)^(2*(…))"]),
    ("a/b c", ["ambiguous", "a/(b*c)", "(a/b)*c"]),
    ("x 2", ["a number after a factor", "x*2", "x^2"]),
    ("sin x", ["needs parentheses", "sin(x)"]),
    ("sin^-2(x)", ["ambiguous", "sin(x)^(-2)"]),
    ("exp^-1(x)", ["no inverse of exp", "1/exp(x)"]),
    ("|a|b|c|", ["could close the one at column 1"]),
    ("√x²", ["ambiguous", "√(x^2)", "(√x)^2"]),
    ("√2x", ["ambiguous", "√(2x)", "√2*x"]),
    ("σ(x)", ["could be the sigmoid", "write sigmoid(x)", "σ*( for a product"]),
    ("Γ(x)", ["could be the gamma function", "gamma(x)"]),
    ("x(y+1)", ["unknown function 'x'", "for a product write x*(y+1)"]),
]


@pytest.mark.parametrize(("written", "fragments"), AMBIGUOUS)
def test_notation_that_could_mean_two_things_is_refused_with_both_readings(written, fragments):
    at = ",".join(f"{v}=1" for v in "abcxyz")
    assert_bad_input(invoke("expr", written, "--at", at), *fragments)


UNKNOWN = ["sech2", "Sinh", "arcsinn", "foo", "tanhh", "lambertw2"]


@pytest.mark.parametrize("name", UNKNOWN)
def test_every_unknown_name_gets_one_message_shape(name):
    run = invoke("expr", f"{name}(x)", "--at", "x=1")
    assert_bad_input(run, f"unknown function '{name}'; known: ", "abs, acos")
    line = run.stderr.strip()
    # the known functions are all listed, then a suggestion or the product it may mean
    assert all(f" {f}," in line or f" {f};" in line for f in FUNCTIONS if f != "abs")
    assert "did you mean '" in line or "for a product write" in line


def test_a_suggestion_is_only_a_close_name():
    assert "did you mean 'sech'?" in invoke("expr", "sech2(x)", "--at", "x=1").stderr
    assert "did you mean 'sinh'?" in invoke("expr", "Sinh(x)", "--at", "x=1").stderr
    assert "did you mean" not in invoke("expr", "foo(x)", "--at", "x=1").stderr


# --- printed back, parsed back -----------------------------------------------------------------

NAMES = ["x", "y", "sigma", "lambda", "gamma", "x1"]
ONE_ARGUMENT = [name for name, f in FUNCTIONS.items() if f.arity == (1,) and not f.variable]


def _negated(a):
    return a.operand if isinstance(a, Neg) else Neg(a)


def _summed(a, rest):
    """a + rest…, flattened as the parser flattens it (a sum never starts with a sum)."""
    first = a.terms if isinstance(a, Sum) else (a,)
    return Sum((*first, *rest))


def _multiplied(a, rest, divisors):
    """a·rest…/divisors…, flattened as the parser flattens it."""
    if isinstance(a, Product):
        return Product((*a.factors, *rest), (*a.divisors, *divisors))
    if not rest and not divisors:
        return a
    return Product((a, *rest), tuple(divisors))


def _trees() -> st.SearchStrategy:
    """Trees in the form the parser produces (sums and products flattened on the left,
    no −(−u)), built directly rather than filtered."""
    leaves = st.one_of(
        st.builds(Num, st.integers(0, 50)),
        st.builds(Num, st.sampled_from([0.5, 1.25, 2.5e-3])),
        st.builds(Const, st.sampled_from(["pi", "e"])),
        st.builds(Var, st.sampled_from(NAMES)),
    )

    def extend(inner: st.SearchStrategy) -> st.SearchStrategy:
        some = st.lists(inner, max_size=2)
        return st.one_of(
            st.builds(_negated, inner),
            st.builds(_summed, inner, st.lists(inner, min_size=1, max_size=3)),
            st.builds(_multiplied, inner, some, some),
            st.builds(Power, inner, inner),
            st.builds(lambda name, a: Call(name, (a,)), st.sampled_from(ONE_ARGUMENT), inner),
            st.builds(lambda a, b: Call("max", (a, b)), inner, inner),
        )

    return st.recursive(leaves, extend, max_leaves=12)


GREEK = {"sigma": "σ", "lambda": "λ"}
PRECEDENCE = {Sum: 1, Neg: 2, Product: 3, Power: 5}


def _precedence(node) -> int:
    return PRECEDENCE.get(type(node), 9)


def textbook(node, style: int) -> str:
    """``node`` printed in one of the accepted notations: 0 explicit (the language's own
    printer); 1 implicit products, Unicode minus signs and Greek letters (2x, x y, σ − λ);
    2 bars, roots, superscript squares and arc names (|x|, √(x), x², arcsin(x))."""
    if style == 0:
        return to_text(node)
    return _show(node, style)


def _wrap(node, style: int, parenthesise: bool) -> str:
    text = _show(node, style)
    return f"({text})" if parenthesise else text


def _negative(text: str) -> bool:
    return text[:1] in ("-", "−")


def _show(node, style: int) -> str:
    minus = "−" if style == 1 else "-"
    if isinstance(node, Var):
        return GREEK.get(node.name, node.name) if style == 1 else node.name
    if isinstance(node, (Num, Const)):
        return to_text(node)
    if isinstance(node, Neg):
        return minus + _wrap(node.operand, style, _precedence(node.operand) < 5)
    if isinstance(node, Sum):
        parts = [_wrap(node.terms[0], style, isinstance(node.terms[0], Sum))]
        for term in node.terms[1:]:
            if isinstance(term, Neg):
                inner = _wrap(term.operand, style, _precedence(term.operand) <= 2)
                parts.append(f" {minus} {inner}")
            else:
                text = _show(term, style)
                wrap = isinstance(term, Sum) or _negative(text)
                parts.append(" + " + (f"({text})" if wrap else text))
        return "".join(parts)
    if isinstance(node, Product):
        return _product(node, style)
    if isinstance(node, Power):
        return _power(node, style)
    args = ", ".join(_show(arg, style) for arg in node.args)
    if style == 2 and node.name == "abs":
        return f"|{args}|"
    if style == 2 and node.name == "sqrt":
        return f"√({args})"
    if style == 2 and node.name in ("asin", "acos", "atan", "asinh"):
        return f"arc{node.name[1:]}({args})"
    return f"{node.name}({args})"


def _product(node, style: int) -> str:
    texts = []
    for k, factor in enumerate(node.factors):
        text = _show(factor, style)
        if isinstance(factor, (Sum, Product)) or (k and _negative(text)):
            text = f"({text})"
        texts.append(text)
    out = texts[0]
    for (node_before, previous), text in zip(
        zip(node.factors, texts, strict=True), texts[1:], strict=False
    ):
        out += _joint(node_before, previous, text, style) + text
    for divisor in node.divisors:
        out += "/" + _wrap(divisor, style, _precedence(divisor) <= 5)
    return out


def _joint(before, previous: str, text: str, style: int) -> str:
    """How two factors meet: side by side where that reads unambiguously (style 1)."""
    if style != 1:
        return "*"
    number = isinstance(before, Num)
    if number and text[0].isalpha() and not text.startswith(("e", "E")):
        return ""  # 2x, 3σ (2e would read as a number's exponent only with digits after)
    if text[0].isalpha() or text[0] in GREEK.values():
        return " "  # x y, 2 sin(x), x^2 y
    if text[0] == "(" and (previous[-1] == ")" or number):
        return " "  # (x+1) (x-1), 3 (x+1)
    return "*"


def _power(node, style: int) -> str:
    base = node.base
    shown_base = _show(base, style)
    root_or_bars = style == 2 and isinstance(base, Call) and base.name in ("sqrt", "abs")
    if _precedence(base) <= 5 or root_or_bars:
        shown_base = f"({shown_base})"
    exponent = node.exponent
    if style == 2 and exponent == Num(2) and isinstance(base, (Var, Call, Const)):
        return f"{shown_base}²"
    if isinstance(exponent, Neg):
        return f"{shown_base}^{_show(exponent, style)}".replace("^−", "^-")
    return f"{shown_base}^{_wrap(exponent, style, _precedence(exponent) < 5)}"


@settings(max_examples=300, deadline=None)
@given(_trees(), st.sampled_from([0, 1, 2]))
def test_printed_formulas_parse_back_to_the_same_tree(tree, style):
    text = textbook(tree, style)
    try:
        parsed = parse(text)
    except InputError as error:
        # a constant part with no real value (log(-1), 0^-1) or too large a constant is
        # refused whatever the notation; the same text in explicit notation must say so too
        with pytest.raises(InputError):
            parse(to_text(tree))
        assert "column" in str(error)
        return
    assert parsed.tree == tree, (text, to_text(tree))


@settings(max_examples=200, deadline=None)
@given(_trees())
def test_the_explicit_printer_round_trips(tree):
    text = to_text(tree)
    with contextlib.suppress(InputError):  # a constant with no real value: refused elsewhere
        assert parse(text).tree == tree, text
