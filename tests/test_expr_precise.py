"""The precise column and the corners decided from one-sided limits (issue 22 §3 and §4).

Every expected value is computed here with mpmath at 60 digits from the formula written
again in mpmath (``mpmath.diff`` for derivatives), never taken from gradcli's own output.
"""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

from tests.conftest import invoke

mpmath.mp.dps = 60


def json_run(*args: str) -> tuple[int, dict]:
    run = invoke("expr", *args, "--json")
    return run.code, run.json()


def close(text: str, want, digits: int = 15) -> bool:
    """A precise value's decimal text against an mpmath value, to ``digits`` digits."""
    got = mpmath.mpf(text)
    if want == 0:
        return abs(got) < mpmath.mpf(10) ** -40
    return abs(got - want) <= abs(want) * mpmath.mpf(10) ** -digits


# (formula, point, the same formula in mpmath: f(**point)), with where it comes from
PRECISE = [
    # SymPy's own differentiation tests (sympy/core/tests/test_diff.py) use x*sin(x)*exp(x)
    ("x*sin(x)*exp(x)", {"x": 0.7}, lambda x: x * mpmath.sin(x) * mpmath.exp(x)),
    # Rosenbrock's banana function, the classic optimisation test (Rosenbrock 1960)
    ("(1-x)^2 + 100(y-x^2)^2", {"x": -1.2, "y": 1.0},
     lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2),
    # the logistic loss of a margin (scikit-learn's log_loss written per sample)
    ("log(1 + exp(-y*s))", {"y": 1.0, "s": 2.5},
     lambda y, s: mpmath.log(1 + mpmath.exp(-y * s))),
    # a Morse potential, V(r) = D(1 − e^(−a(r − r₀)))² (physics)
    ("D (1 - e^(-a (r - 1.2)))^2", {"D": 4.5, "a": 1.9, "r": 1.5},
     lambda D, a, r: D * (1 - mpmath.exp(-a * (r - mpmath.mpf(1.2)))) ** 2),
    # a function of SymPy-only special functions
    ("LambertW(x)*Si(x)", {"x": 1.3}, lambda x: mpmath.lambertw(x).real * mpmath.si(x)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "at", "reference"), PRECISE, ids=[p[0] for p in PRECISE])
def test_the_precise_column_is_mpmath_at_the_exact_binary_point(text, at, reference):
    point = ",".join(f"{k}={v}" for k, v in at.items())
    code, data = json_run(text, "--at", point)
    assert code == 0
    names = data["variables"]
    args = {k: mpmath.mpf(v) for k, v in at.items()}  # the float's exact binary value
    assert data["precise"]["digits"] == 50
    assert close(data["precise"]["value_text"][0], reference(**args))
    for k, name in enumerate(names):

        def along(t, name=name):
            return reference(**{**args, name: t})

        want = mpmath.diff(along, args[name])
        assert close(data["precise"]["derivative_text"][k], want), name
        assert data["precise"]["confirmed"][k] is True
        assert data["digits_lost"][k] <= 1  # well-conditioned: float64 keeps its digits


# --- §3 corners that are not corners ----------------------------------------------------------


def test_pinball_loss_at_a_zero_residual():
    """The quantile (pinball) loss max(q·u, (q−1)·u) of Koenker & Bassett (1978): at u = 0
    f(q, 0) = 0 for every q, so ∂f/∂q = 0 exists; ∂f/∂u has one-sided values q and q − 1."""
    code, data = json_run("max(q*u, (q-1)*u)", "--at", "q=0.3,u=0")
    assert code == 0
    assert data["defined"] == [True, False]
    assert data["analytic"][0] == 0.0 and data["autograd"][0] == 0.0
    assert any("one-sided derivatives differ" in n for n in data["notes"])


def test_schwefel_at_zero_behaves_like_abs_x_to_the_three_halves():
    """Schwefel's test function term x·sin(√|x|) (Schwefel 1981; Surjanovic & Bingham's
    optimisation test problems): ~|x|^1.5 near 0, so f′(0) = 0. torch's autograd meets
    ∞·0 there (the derivative of √ at 0): its NaN is flagged, not a disagreement."""
    code, data = json_run("x*sin(sqrt(abs(x)))", "--at", "x=0")
    assert code == 0 and data["agree"] is True
    assert data["defined"] == [True] and data["analytic"] == [0.0]
    assert data["autograd"] == [None]  # torch's NaN
    assert data["precise"]["derivative"] == [0.0] and data["precise"]["confirmed"] == [True]
    assert any("autograd meets ∞·0" in n for n in data["notes"])


def test_a_removable_form_is_settled_by_its_limits():
    # sin(x)/x: the derivative cos(x)/x − sin(x)/x² has no value at 0; its limit is 0
    code, data = json_run("sinc(x)", "--at", "x=0")
    assert code == 0 and data["defined"] == [True] and data["analytic"] == [0.0]


@pytest.mark.parametrize(
    ("text", "at", "defined", "word"),
    [
        ("abs(x)", "x=0", False, "one-sided derivatives differ"),
        ("x*abs(x)", "x=0", True, None),
        ("sign(x)", "x=0", False, "jumps"),
        ("sqrt(x)", "x=0", False, "infinite"),
        ("x^(3/2)", "x=0", True, None),
        ("acot(x)", "x=0", False, "jumps"),  # SymPy's acot: π/2 from the right, −π/2 left
    ],
)
def test_existence_comes_from_one_sided_limits(text, at, defined, word):
    code, data = json_run(text, "--at", at)
    assert code == 0 and data["defined"] == [defined]
    if word:
        assert any(word in note for note in data["notes"]), data["notes"]


def test_the_second_derivative_of_a_smooth_corner():
    # |x|³ has f″ = 6|x|: 0 at 0; x|x| has f″ = 2 sign(x): none at 0
    assert json_run("abs(x)^3", "--at", "x=0", "--order", "2")[1]["defined"] == [[True]]
    assert json_run("x*abs(x)", "--at", "x=0", "--order", "2")[1]["defined"] == [[False]]


# --- §4 beyond float64's range ------------------------------------------------------------


def test_a_derivative_below_float64s_range_is_given_exactly():
    """atan(e^(3x)) at x = 300: f′ = 3e^(3x)/(1 + e^(6x)) ≈ 4.09e-391, and 0.0 in float64."""
    code, data = json_run("atan(e^(3*x))", "--at", "x=300")
    assert code == 0 and data["agree"] is True
    x = mpmath.mpf(300)
    want = 3 * mpmath.exp(3 * x) / (1 + mpmath.exp(6 * x))
    assert close(data["precise"]["derivative_text"][0], want)
    assert data["precise"]["derivative"] == [0.0]  # as a float it underflows
    assert data["analytic"] == [None] and data["autograd"] == [None]  # float64: inf/inf
    assert any("overflow in exp(3*x)" in n for n in data["notes"])


# (formula, point, f and its gradient in mpmath, the stable form gradcli suggests)
OVERFLOW = [
    # softplus written out: log(e^x + 1) (issue 22 §4)
    ("log(exp(x) + 1)", {"x": 800.0},
     lambda x: mpmath.log(mpmath.exp(x) + 1), "softplus(x)"),
    # NNlib.jl's logcosh, written naively
    ("log(cosh(x))", {"x": 800.0}, lambda x: mpmath.log(mpmath.cosh(x)), "softplus(-2*abs(x))"),
    # log-sum-exp of three logits
    ("log(exp(a) + exp(b) + exp(c))", {"a": 1000.0, "b": 999.0, "c": 998.0},
     lambda a, b, c: mpmath.log(mpmath.exp(a) + mpmath.exp(b) + mpmath.exp(c)),
     "logsumexp(a, b, c)"),
    # the log-likelihood of a Gamma-distributed count: log Γ(x)
    ("log(gamma(x))", {"x": 200.0}, lambda x: mpmath.log(mpmath.gamma(x)), "lgamma(x)"),
    # the logistic loss log(1 + e^(−x)) of a badly wrong prediction
    ("log(1 + exp(-x))", {"x": -800.0}, lambda x: mpmath.log(1 + mpmath.exp(-x)),
     "softplus(-x)"),
    # the logistic function itself, far left
    ("1/(1 + exp(-x))", {"x": -800.0}, lambda x: 1 / (1 + mpmath.exp(-x)), "sigmoid(x)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "at", "reference", "stable"), OVERFLOW, ids=[o[0] for o in OVERFLOW]
)
def test_an_intermediate_that_overflows_gives_the_result_and_the_stable_form(
    text, at, reference, stable
):
    point = ",".join(f"{k}={v}" for k, v in at.items())
    code, data = json_run(text, "--at", point)
    assert code == 0 and data["agree"] is True
    args = {k: mpmath.mpf(v) for k, v in at.items()}
    assert close(data["precise"]["value_text"][0], reference(**args))
    for k, name in enumerate(data["variables"]):
        want = mpmath.diff(lambda t, name=name: reference(**{**args, name: t}), args[name])
        assert close(data["precise"]["derivative_text"][k], want, 12), name
    notes = " ".join(data["notes"])
    assert "overflow" in notes and stable in notes
    table = invoke("expr", text, "--at", point)
    assert table.code == 0 and "precise" in table.stdout and "!" in table.stdout


def test_the_three_logits_give_the_softmax_as_gradient():
    _, data = json_run("log(exp(a) + exp(b) + exp(c))", "--at", "a=1000,b=999,c=998")
    assert data["precise"]["value"] == [pytest.approx(1000.40760596444, abs=1e-9)]
    weights = [math.exp(-k) / sum(math.exp(-j) for j in range(3)) for k in range(3)]
    assert data["precise"]["derivative"] == pytest.approx(weights, rel=1e-12)  # .665 .245 .090


# --- §4 cancellation ------------------------------------------------------------------------


def test_cancellation_no_false_tick_and_the_digits_lost():
    """y/(1 − e^y) at y = 10⁻⁶: float64 gives 0.500037816 twice (symbolic and autograd
    agree with each other), the truth is 0.4999998333 — 12 of 16 digits lost."""
    code, data = json_run("y/(1 - e^y)", "--at", "y=1e-6")
    y = mpmath.mpf(1e-6)
    want = mpmath.diff(lambda t: t / (1 - mpmath.exp(t)), y)
    assert close(data["precise"]["derivative_text"][0], want)
    assert data["analytic"][0] == pytest.approx(0.500037816, rel=1e-8)
    assert data["digits_lost"] == [12]
    assert data["precise"]["off"] == [True]
    assert code == 0  # the derivative is known (precise, confirmed); float64 is flagged
    notes = " ".join(data["notes"])
    assert "cancellation in 1 - exp(y)" in notes and "-expm1(y)" in notes
    table = invoke("expr", "y/(1 - e^y)", "--at", "y=1e-6").stdout
    row = next(line for line in table.splitlines() if line.startswith("│ ∂f/∂y"))
    assert "✓" not in row and "!" in row  # never a ✓ for float64 numbers that are off
    assert "0.5 " in row  # the precise column (0.4999998…) to 6 digits


def test_expect_is_judged_against_the_precise_value():
    good = invoke("expr", "y/(1 - e^y)", "--at", "y=1e-6", "--expect", "0.4999998")
    assert good.code == 0 and "✓" in good.stdout.splitlines()[-1] + good.stdout
    wrong = invoke("expr", "y/(1 - e^y)", "--at", "y=1e-6", "--expect", "0.500038")
    assert wrong.code == 1  # float64's digits are not the answer


def test_a_loss_within_the_tolerance_is_said_but_keeps_the_tick():
    # cos(t) − √(1 − sin t) near π/2: 1 − sin(t) cancels 8 digits (issue 22 §4)
    code, data = json_run("cos(t) - sqrt(1 - sin(t))", "--at", "t=1.5707")
    assert code == 0 and data["digits_lost"] == [8] and data["precise"]["off"] == [False]
    assert any("keeps only 8 of 16 digits" in n for n in data["notes"])


def test_a_jacobian_carries_precise_values_per_entry():
    code, data = json_run("x*y", "log(exp(x) + 1)", "--at", "x=800,y=2")
    assert code == 0
    assert len(data["precise"]["derivative"]) == 2 and len(data["digits_lost"][0]) == 2
    assert data["precise"]["derivative"][1] == [pytest.approx(1.0), 0.0]
    assert data["precise"]["value"] == [1600.0, pytest.approx(800.0)]


# --- the precise column never hides a real disagreement -------------------------------------


def test_a_wrong_torch_form_is_still_a_disagreement(monkeypatch):
    from gradcli.expr import torchfn

    monkeypatch.setitem(torchfn.MATHS, "sin", torch.cos)  # a bug in gradcli's torch form
    run = invoke("expr", "sin(x)", "--at", "x=0.3", "--json")
    assert run.code == 1 and run.json()["agree"] is False


def test_a_wrong_sympy_form_is_still_a_disagreement(monkeypatch):
    from gradcli.expr import symbolic

    monkeypatch.setitem(symbolic._SYMPY_FUNCTIONS, "sin", symbolic.sp.cos)
    run = invoke("expr", "sin(x)", "--at", "x=0.3", "--json")
    assert run.code == 1 and run.json()["agree"] is False


def test_precise_values_past_any_range_are_bad_input():
    run = invoke("expr", "exp(exp(x))", "--at", "x=1000")
    assert run.code == 2 and "is inf" in run.stderr


def test_the_difference_quotients_of_f_decide_where_the_formula_has_no_limits():
    """γ(s, 0) = 0 for every s, so ∂γ/∂s = 0 at x = 0 although SymPy's ∂/∂s holds log(x);
    ∂γ/∂x = x^(s−1)e^(−x) = 0 at the edge of the domain, confirmed from the one side."""
    code, data = json_run("lowergamma(s, x)", "--at", "s=2,x=0")
    assert code == 0 and data["agree"] is True
    assert data["defined"] == [True, True] and data["analytic"] == [0.0, 0.0]


def test_latex_gives_the_precise_values():
    run = invoke("expr", "atan(e^(3x))", "--at", "x=300", "--format", "latex")
    assert run.code == 0 and r"4.09343 \times 10^{-391}" in run.stdout
    run = invoke("expr", "log(exp(x) + 1)", "--at", "x=800", "--format", "latex")
    assert r"\nabla f\left(800\right) &= \left(1\right)" in run.stdout


def test_a_finite_difference_the_precise_column_rejects_leaves_max_diff_too():
    # x + sin(x) at 1e22: float64 computes exactly x there, so the difference quotient is 1;
    # the derivative is 1 + cos(1e22). Once the precise column leaves the difference out, the
    # verdict's max |diff| is symbolic vs autograd alone — not the rejected 0.52.
    data = invoke("expr", "x+sin(x)", "--at", "x=1e22", "--json").json()
    mpmath.mp.dps = 50
    truth = float(1 + mpmath.cos(mpmath.mpf(10) ** 22))
    assert data["analytic"][0] == pytest.approx(truth, rel=1e-12)
    assert data["numeric_trusted"] == [False]
    assert data["agree"] is True
    assert data["max_abs_diff"] < 1e-12


def test_a_sum_that_cancels_to_zero_is_called_cancellation_not_underflow():
    """1 − cos(x) at x = 1e-8 is 5e-17, far above float64's smallest normal number: float64
    gives 0 because cos(x) rounds to 1 (cancellation). e^(−800) is 3.7e-348, below it: that
    0 is an underflow."""
    cancelled = invoke("expr", "x - sin(x)", "--at", "x=1e-8", "--json").json()
    (note,) = [n for n in cancelled["notes"] if "digits here" in n]
    assert "cancellation in 1 - cos(x): terms of size 1 cancel to 5e-17" in note
    assert "underflow" not in note
    assert math.isclose(cancelled["precise"]["derivative"][0], 1e-16 / 2, rel_tol=1e-6)
    tiny = invoke("expr", "exp(-x)", "--at", "x=800", "--json").json()
    (note,) = [n for n in tiny["notes"] if "digits here" in n]
    assert "underflow in exp(-x): it is 3.7e-348 here" in note
