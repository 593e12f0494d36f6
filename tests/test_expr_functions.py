"""Every function of `gradcli expr`'s language (issue 22 §2): its derivative against mpmath.

The reference for each function is written here in mpmath, from its textbook definition,
and differentiated numerically by ``mpmath.diff`` at 40 digits — independent of SymPy, of
gradcli's SymPy forms and of its precise column. Functions with a torch form must also agree
with autograd; the SymPy-only ones have no autograd column and are judged symbolic vs
numeric.
"""

from __future__ import annotations

import math

import mpmath
import pytest

from gradcli.core.expr import ExprRequest, expr_derivatives
from gradcli.expr.functions import FUNCTIONS
from gradcli.expr.language import natural_key, parse
from gradcli.settings import Settings
from tests.conftest import invoke

mp = mpmath.mp


def owens_t(h, a):
    """T(h, a) = (1/2π) ∫₀ᵃ exp(−h²(1 + t²)/2) / (1 + t²) dt (Owen 1956)."""
    return mpmath.quad(lambda t: mpmath.exp(-(h**2) * (1 + t**2) / 2) / (1 + t**2), [0, a]) / (
        2 * mpmath.pi
    )


def lower_gamma(s, x):
    """γ(s, x) = ∫₀ˣ t^(s−1) e^(−t) dt."""
    return mpmath.quad(lambda t: t ** (s - 1) * mpmath.exp(-t), [0, x])


# name → (formula, the reference in mpmath from its definition, points)
REFERENCE = {
    "sin": ("sin(x)", lambda x: mpmath.sin(x), [0.3, -2.0]),
    "cos": ("cos(x)", lambda x: mpmath.cos(x), [0.3, 4.0]),
    "tan": ("tan(x)", lambda x: mpmath.sin(x) / mpmath.cos(x), [0.3, -1.2]),
    "sec": ("sec(x)", lambda x: 1 / mpmath.cos(x), [0.3, 2.0]),
    "csc": ("csc(x)", lambda x: 1 / mpmath.sin(x), [0.3, -2.0]),
    "cot": ("cot(x)", lambda x: mpmath.cos(x) / mpmath.sin(x), [0.7, -2.0]),
    "asin": ("asin(x)", lambda x: mpmath.atan2(x, mpmath.sqrt(1 - x**2)), [0.3, -0.9]),
    "acos": ("acos(x)", lambda x: mpmath.pi / 2 - mpmath.asin(x), [0.3, -0.9]),
    "atan": ("atan(x)", lambda x: mpmath.asin(x / mpmath.sqrt(1 + x**2)), [0.3, -5.0]),
    "asec": ("asec(x)", lambda x: mpmath.acos(1 / x), [1.5, -3.0]),
    "acsc": ("acsc(x)", lambda x: mpmath.asin(1 / x), [1.5, -3.0]),
    "acot": ("acot(x)", lambda x: mpmath.atan(1 / x), [0.5, -2.0]),
    "atan2": ("atan2(y, x)", lambda y, x: mpmath.atan2(y, x), [(1.0, 2.0), (0.5, -1.5)]),
    "sinh": ("sinh(x)", lambda x: (mpmath.e**x - mpmath.e**-x) / 2, [0.3, -2.0]),
    "cosh": ("cosh(x)", lambda x: (mpmath.e**x + mpmath.e**-x) / 2, [0.3, -2.0]),
    "tanh": ("tanh(x)", lambda x: (mpmath.e**x - mpmath.e**-x) / (mpmath.e**x + mpmath.e**-x),
             [0.3, -2.0]),
    "sech": ("sech(x)", lambda x: 2 / (mpmath.e**x + mpmath.e**-x), [0.3, -2.0]),
    "csch": ("csch(x)", lambda x: 2 / (mpmath.e**x - mpmath.e**-x), [0.3, -2.0]),
    "coth": ("coth(x)", lambda x: (mpmath.e**x + mpmath.e**-x) / (mpmath.e**x - mpmath.e**-x),
             [0.3, -2.0]),
    "asinh": ("asinh(x)", lambda x: mpmath.log(x + mpmath.sqrt(x**2 + 1)), [0.3, -2.0]),
    "acosh": ("acosh(x)", lambda x: mpmath.log(x + mpmath.sqrt(x**2 - 1)), [1.5, 4.0]),
    "atanh": ("atanh(x)", lambda x: mpmath.log((1 + x) / (1 - x)) / 2, [0.3, -0.9]),
    "asech": ("asech(x)", lambda x: mpmath.log((1 + mpmath.sqrt(1 - x**2)) / x), [0.3, 0.9]),
    "acsch": ("acsch(x)", lambda x: mpmath.asinh(1 / x), [0.3, -2.0]),
    "acoth": ("acoth(x)", lambda x: mpmath.log((x + 1) / (x - 1)) / 2, [1.5, -3.0]),
    "exp": ("exp(x)", lambda x: mpmath.e**x, [0.3, -2.0]),
    "expm1": ("expm1(x)", lambda x: mpmath.e**x - 1, [1e-8, -2.0]),
    "log": ("log(x)", lambda x: mpmath.ln(x), [0.3, 20.0]),
    "log2": ("log2(x)", lambda x: mpmath.ln(x) / mpmath.ln(2), [0.3, 20.0]),
    "log10": ("log10(x)", lambda x: mpmath.ln(x) / mpmath.ln(10), [0.3, 20.0]),
    "log1p": ("log1p(x)", lambda x: mpmath.ln(1 + x), [1e-9, -0.5]),
    "logsumexp": ("logsumexp(a, b, c)",
                  lambda a, b, c: mpmath.ln(mpmath.e**a + mpmath.e**b + mpmath.e**c),
                  [(1.0, 2.0, 0.5), (-3.0, 0.0, 4.0)]),
    "sqrt": ("sqrt(x)", lambda x: x**0.5, [0.3, 20.0]),
    "cbrt": ("cbrt(x)", lambda x: mpmath.sign(x) * abs(x) ** (mpmath.mpf(1) / 3), [0.3, -8.0]),
    "abs": ("abs(x)", lambda x: abs(x), [0.3, -2.0]),
    "sign": ("sign(x)*x^2", lambda x: mpmath.sign(x) * x**2, [0.3, -2.0]),
    "min": ("min(x, y, z)", lambda x, y, z: min(x, y, z), [(1.0, 2.0, 3.0), (4.0, -1.0, 0.5)]),
    "max": ("max(x, y, z)", lambda x, y, z: max(x, y, z), [(1.0, 2.0, 3.0), (4.0, -1.0, 0.5)]),
    "sinc": ("sinc(x)", lambda x: mpmath.sin(x) / x, [0.3, -2.0]),
    "erf": ("erf(x)", lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.quad(
        lambda t: mpmath.e ** -(t**2), [0, x]), [0.3, -2.0]),
    "erfc": ("erfc(x)", lambda x: 1 - mpmath.erf(x), [0.3, -2.0]),
    "erfinv": ("erfinv(x)", lambda x: mpmath.findroot(lambda w: mpmath.erf(w) - x, 0.5),
               [0.3, -0.7]),
    "gamma": ("gamma(x)", lambda x: mpmath.quad(lambda t: t ** (x - 1) * mpmath.e**-t,
                                                [0, mpmath.inf]), [0.7, 3.5]),
    "lgamma": ("lgamma(x)", lambda x: mpmath.ln(abs(mpmath.gamma(x))), [0.7, -2.5]),
    "digamma": ("digamma(x)", lambda x: mpmath.diff(mpmath.loggamma, x), [0.7, 3.5]),
    "polygamma": ("polygamma(2, x)", lambda x: mpmath.diff(mpmath.loggamma, x, 3), [0.7, 3.5]),
    "beta": ("beta(a, b)", lambda a, b: mpmath.gamma(a) * mpmath.gamma(b) / mpmath.gamma(a + b),
             [(0.7, 2.0), (3.0, 1.5)]),
    "LambertW": ("LambertW(x)", lambda x: mpmath.findroot(lambda w: w * mpmath.e**w - x, 0.5),
                 [0.3, 2.0]),
    "erfi": ("erfi(x)", lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.quad(
        lambda t: mpmath.e ** (t**2), [0, x]), [0.3, -1.5]),
    "Ei": ("Ei(x)", lambda x: mpmath.euler + mpmath.ln(abs(x)) + mpmath.nsum(
        lambda k: x**k / (k * mpmath.factorial(k)), [1, mpmath.inf]), [0.3, -1.5]),
    "Si": ("Si(x)", lambda x: mpmath.quad(lambda t: mpmath.sinc(t), [0, x]), [0.3, 4.0]),
    "li": ("li(x)", lambda x: mpmath.ei(mpmath.ln(x)), [0.5, 3.0]),
    "fresnels": ("fresnels(x)", lambda x: mpmath.quad(
        lambda t: mpmath.sin(mpmath.pi * t**2 / 2), [0, x]), [0.3, 1.7]),
    "lowergamma": ("lowergamma(s, x)", lower_gamma, [(2.5, 1.0), (1.5, 3.0)]),
    "owens_t": ("owens_t(h, a)", owens_t, [(0.5, 2.0), (-1.0, 0.3)]),
}  # fmt: skip
SYMPY_ONLY = ["LambertW", "erfi", "Ei", "Si", "li", "fresnels", "lowergamma", "owens_t"]


def test_every_function_of_the_language_has_a_reference_here():
    maths = {name for name, f in FUNCTIONS.items() if f.kind != "activation"}
    assert maths == set(REFERENCE)
    assert {name for name, f in FUNCTIONS.items() if not f.has_torch_form} == set(SYMPY_ONLY)


def compute(text: str, at: dict[str, float]):
    parsed = parse(text)
    variables = tuple(sorted(parsed.variables, key=natural_key))
    request = ExprRequest((parsed,), variables, {v: at[v] for v in variables},
                          {v: repr(at[v]) for v in variables})  # fmt: skip
    return expr_derivatives(request, Settings(), simplify_seconds=0)


CASES = [
    pytest.param(name, point, id=f"{name}@{point}")
    for name, (_, _, points) in REFERENCE.items()
    for point in points
]


@pytest.mark.parametrize(("name", "point"), CASES)
def test_the_derivative_matches_mpmath_of_the_definition(name, point):
    text, reference, _ = REFERENCE[name]
    values = point if isinstance(point, tuple) else (point,)
    variables = sorted(parse(text).variables, key=natural_key)
    argument_names = parse(text).appearance
    at = dict(zip(argument_names, values, strict=True))
    result = compute(text, at)
    assert result.agree, (name, result.notes)
    with mpmath.workdps(40):
        args = [mpmath.mpf(v) for v in values]
        for k, variable in enumerate(variables):
            index = argument_names.index(variable)
            order = tuple(1 if j == index else 0 for j in range(len(args)))
            want = mpmath.diff(lambda *a: reference(*a), args, order)
            got = result.check.analytic[k]
            assert got == pytest.approx(float(want), rel=1e-9, abs=1e-12), (name, variable)
            if FUNCTIONS[name].has_torch_form:
                assert result.check.autograd[k] == pytest.approx(float(want), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("name", SYMPY_ONLY)
def test_sympy_only_functions_have_no_autograd_and_are_judged_against_numeric(name):
    text, _, points = REFERENCE[name]
    values = points[0] if isinstance(points[0], tuple) else (points[0],)
    at = ",".join(f"{n}={v}" for n, v in zip(parse(text).appearance, values, strict=True))
    data = invoke("expr", text, "--at", at, "--json").json()
    assert data["autograd_available"] == [False]
    assert all(v is None for v in data["autograd"])
    assert all(data["numeric_trusted"]) and data["agree"] is True
    assert data["numeric"] == pytest.approx(data["analytic"], rel=1e-6)
    assert any("which torch has no form of" in note for note in data["notes"])
    table = invoke("expr", text, "--at", at)
    assert table.code == 0 and "no torch form" in table.stdout


def test_a_wrong_numeric_check_would_show_for_a_sympy_only_function():
    """The verdict is earned: a wrong --expect on a SymPy-only function is ✗ (exit 1)."""
    # d/dx Si(x) = sin(x)/x = sin(2)/2 = 0.454649 at x = 2
    good = invoke("expr", "Si(x)", "--at", "x=2", "--expect", "0.4546")
    bad = invoke("expr", "Si(x)", "--at", "x=2", "--expect", "0.4600")
    assert good.code == 0 and bad.code == 1


def test_listing_shows_every_function_with_its_domain():
    data = invoke("expr", "--list", "--json").json()
    listed = {entry["name"]: entry for entry in data["list"]}
    for name, function in FUNCTIONS.items():
        assert listed[name]["domain"] == function.domain
        assert listed[name]["torch"] is function.has_torch_form
    assert listed["asin"]["aliases"] == ["arcsin"]
    table = invoke("expr", "--list").stdout
    for title in ("Elementary functions", "Special functions", "SymPy-only functions",
                  "Activations", "Constants"):  # fmt: skip
        assert title in table
    for function in FUNCTIONS.values():
        assert function.signature in table
    # domains as printed (cells may wrap; the first words of each are on one line)
    for function in FUNCTIONS.values():
        assert function.domain.split()[0] in table


def test_polygamma_order_must_be_a_constant_whole_number():
    run = invoke("expr", "polygamma(n, x)", "--at", "n=1,x=2")
    assert run.code == 2 and "n must be a whole number" in run.stderr
    # ψ''(x) at 3.5: the reference from the series ψ⁽²⁾(x) = −2 Σ 1/(x + k)³
    want = -2 * sum(1 / (3.5 + k) ** 3 for k in range(200_000))
    data = invoke("expr", "polygamma(1, x)", "--at", "x=3.5", "--json").json()
    assert data["analytic"] == pytest.approx([want], rel=1e-9)


def test_sinc_is_sympys_unnormalised_sinc_and_smooth_at_zero():
    data = invoke("expr", "sinc(x)", "--at", "x=0", "--json").json()
    assert data["value"] == [1.0] and data["defined"] == [True]
    assert data["analytic"] == [0.0] and data["autograd"] == [0.0]
    assert invoke("expr", "sinc(pi*x)", "--at", "x=0.5", "--json").json()["value"] == [
        pytest.approx(2 / math.pi)
    ]
