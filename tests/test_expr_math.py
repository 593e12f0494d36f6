"""`gradcli expr`'s numbers: symbolic vs autograd vs finite differences, in float64 with real
torch and real SymPy, over a table of formulas (expected values derived by hand, below), every
function of the language, every registry activation, random formula trees, and the rule for
derivatives that do not exist."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.core.expr import ExprRequest, expr_derivatives
from gradcli.expr import symbolic as sym
from gradcli.expr.language import FUNCTIONS, natural_key, parse
from gradcli.ops.activations import ACTIVATION_LIST, ACTIVATIONS
from gradcli.results.expr import ExprResult
from gradcli.settings import Dtype, Settings, tolerance_for

EULER_GAMMA = 0.5772156649015329
SQRT_PI = math.sqrt(math.pi)
PSI_HALF = -EULER_GAMMA - 2 * math.log(2)  # digamma(1/2)


def compute(
    texts: list[str] | str,
    at: dict[str, float],
    order: int = 1,
    wrt: list[str] | None = None,
    dtype: Dtype = Dtype.float64,
    numeric: bool = True,
) -> ExprResult:
    """The core, as the command calls it (without the cosmetic simplification)."""
    texts = [texts] if isinstance(texts, str) else texts
    parsed = tuple(parse(text) for text in texts)
    variables = sorted({v for p in parsed for v in p.variables}, key=natural_key)
    request = ExprRequest(
        expressions=parsed,
        variables=tuple(wrt or variables),
        point={v: at[v] for v in variables},
        written={v: repr(at[v]) for v in variables},
        order=order,
    )
    return expr_derivatives(
        request, Settings(dtype, tolerance_for(dtype), numeric), simplify_seconds=0
    )


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for x = ±1000."""
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


# (formula, order, points, hand derivative: point → gradient (list) or Jacobian/Hessian (rows))
TABLE = [
    # polynomials, products, quotients
    ("3*x^3 - 2*x^2 + x - 5", 1, [{"x": 0.5}, {"x": -2.0}, {"x": 3.0}],
     lambda p: [9 * p["x"] ** 2 - 4 * p["x"] + 1]),
    ("x^2*sin(y)", 1, [{"x": 1.0, "y": 2.0}, {"x": -0.5, "y": 0.3}, {"x": 2.0, "y": -1.0}],
     lambda p: [2 * p["x"] * math.sin(p["y"]), p["x"] ** 2 * math.cos(p["y"])]),
    ("x*y*z", 1, [{"x": 1.0, "y": 2.0, "z": 3.0}, {"x": -1.5, "y": 0.5, "z": 2.0}],
     lambda p: [p["y"] * p["z"], p["x"] * p["z"], p["x"] * p["y"]]),
    ("x/y", 1, [{"x": 1.0, "y": 2.0}, {"x": -3.0, "y": 0.5}],
     lambda p: [1 / p["y"], -p["x"] / p["y"] ** 2]),
    ("(x+1)/(x-1)", 1, [{"x": 2.0}, {"x": -0.5}, {"x": 0.0}],
     lambda p: [-2 / (p["x"] - 1) ** 2]),
    ("(x^2+1)^10", 1, [{"x": 0.3}, {"x": -1.1}],
     lambda p: [20 * p["x"] * (p["x"] ** 2 + 1) ** 9]),
    ("x*y + z*w", 1, [{"w": 1.0, "x": 2.0, "y": 3.0, "z": 4.0}],  # 4 variables: w, x, y, z
     lambda p: [p["z"], p["y"], p["x"], p["w"]]),
    # compositions, every maths function
    ("sqrt(x^2 + y^2)", 1, [{"x": 3.0, "y": 4.0}, {"x": -1.0, "y": 0.5}],
     lambda p: [p["x"] / math.hypot(p["x"], p["y"]), p["y"] / math.hypot(p["x"], p["y"])]),
    ("exp(-x^2 - y^2)", 1, [{"x": 0.5, "y": -0.3}, {"x": 1.0, "y": 1.0}],
     lambda p: [-2 * c * math.exp(-p["x"] ** 2 - p["y"] ** 2) for c in (p["x"], p["y"])]),
    ("e^(2*x)", 1, [{"x": 0.7}, {"x": -3.0}], lambda p: [2 * math.exp(2 * p["x"])]),
    ("log(x*y)", 1, [{"x": 2.0, "y": 0.5}, {"x": 0.1, "y": 7.0}],
     lambda p: [1 / p["x"], 1 / p["y"]]),
    ("ln(x)^2", 1, [{"x": 2.0}, {"x": 0.3}], lambda p: [2 * math.log(p["x"]) / p["x"]]),
    ("log(x, 2)", 1, [{"x": 8.0}, {"x": 0.25}], lambda p: [1 / (p["x"] * math.log(2))]),
    ("log2(x) + log10(y)", 1, [{"x": 3.0, "y": 20.0}],
     lambda p: [1 / (p["x"] * math.log(2)), 1 / (p["y"] * math.log(10))]),
    ("x^y", 1, [{"x": 2.0, "y": 3.0}, {"x": 0.5, "y": -1.5}],
     lambda p: [p["y"] * p["x"] ** (p["y"] - 1), p["x"] ** p["y"] * math.log(p["x"])]),
    ("x*log(x) - x", 1, [{"x": 2.5}, {"x": 0.01}], lambda p: [math.log(p["x"])]),
    ("sin(x)*cos(x)", 1, [{"x": 0.4}, {"x": 2.0}], lambda p: [math.cos(2 * p["x"])]),
    ("tan(x)", 1, [{"x": 0.4}, {"x": -1.2}], lambda p: [1 / math.cos(p["x"]) ** 2]),
    ("asin(x) + acos(y)", 1, [{"x": 0.5, "y": -0.2}],
     lambda p: [1 / math.sqrt(1 - p["x"] ** 2), -1 / math.sqrt(1 - p["y"] ** 2)]),
    ("atan(y/x)", 1, [{"x": 1.0, "y": 2.0}, {"x": -2.0, "y": 0.5}],
     lambda p: [-p["y"] / (p["x"] ** 2 + p["y"] ** 2), p["x"] / (p["x"] ** 2 + p["y"] ** 2)]),
    ("sinh(x)*cosh(y)", 1, [{"x": 0.5, "y": -1.0}],
     lambda p: [math.cosh(p["x"]) * math.cosh(p["y"]), math.sinh(p["x"]) * math.sinh(p["y"])]),
    ("tanh(x)", 1, [{"x": 0.5}, {"x": -3.0}], lambda p: [1 - math.tanh(p["x"]) ** 2]),
    ("asinh(x) + acosh(y) + atanh(z)", 1, [{"x": -1.0, "y": 2.0, "z": 0.5}],
     lambda p: [1 / math.sqrt(p["x"] ** 2 + 1), 1 / math.sqrt(p["y"] ** 2 - 1),
                1 / (1 - p["z"] ** 2)]),
    ("cbrt(x)", 1, [{"x": -8.0}, {"x": 27.0}, {"x": 0.5}],
     lambda p: [1 / (3 * abs(p["x"]) ** (2 / 3))]),
    ("x^(1/3)", 1, [{"x": 8.0}], lambda p: [1 / 12]),
    ("abs(x)*y", 1, [{"x": -2.0, "y": 3.0}, {"x": 0.5, "y": -1.0}],
     lambda p: [math.copysign(1, p["x"]) * p["y"], abs(p["x"])]),
    ("sign(x)*x^2", 1, [{"x": -1.5}, {"x": 2.0}, {"x": 0.0}],
     lambda p: [2 * abs(p["x"])]),
    ("erf(x) + erfc(y)", 1, [{"x": 0.3, "y": -0.8}],
     lambda p: [2 / SQRT_PI * math.exp(-p["x"] ** 2), -2 / SQRT_PI * math.exp(-p["y"] ** 2)]),
    ("gamma(x)", 1, [{"x": 1.0}, {"x": 2.0}, {"x": 0.5}, {"x": -0.5}, {"x": -1.5}],
     # Γ'(x) = Γ(x)ψ(x): ψ(1) = −γ, ψ(2) = 1 − γ, ψ(½) = −γ − 2 ln 2, and ψ(x) = ψ(x + 1) − 1/x
     # gives ψ(−½) = ψ(½) + 2, ψ(−3/2) = ψ(−½) + 2/3; Γ(½) = √π, Γ(−½) = −2√π, Γ(−3/2) = 4√π/3
     lambda p: [{1.0: -EULER_GAMMA, 2.0: 1 - EULER_GAMMA,
                 0.5: SQRT_PI * PSI_HALF,
                 -0.5: -2 * SQRT_PI * (PSI_HALF + 2),
                 -1.5: 4 * SQRT_PI / 3 * (PSI_HALF + 2 + 2 / 3)}[p["x"]]]),
    ("min(x, y) + max(x, y)", 1, [{"x": 1.0, "y": 2.0}, {"x": 3.0, "y": -1.0}],
     lambda p: [1.0, 1.0]),
    ("max(x, 2*y)", 1, [{"x": 1.0, "y": 2.0}, {"x": 3.0, "y": 1.0}],
     lambda p: [0.0, 2.0] if p["x"] < 2 * p["y"] else [1.0, 0.0]),
    ("sin(x + y + z + w)", 1, [{"w": 0.1, "x": 0.2, "y": 0.3, "z": 0.4}],
     lambda p: [math.cos(1.0)] * 4),
    # activations inside formulas
    ("x*sigmoid(1.702*x)", 1, [{"x": 0.5}, {"x": -2.0}, {"x": 1000.0}, {"x": -1000.0}],
     lambda p: [sigmoid(1.702 * p["x"])
                + 1.702 * p["x"] * sigmoid(1.702 * p["x"]) * (1 - sigmoid(1.702 * p["x"]))]),
    ("1/(1 + exp(-x))", 1, [{"x": 0.5}, {"x": -4.0}],
     lambda p: [sigmoid(p["x"]) * (1 - sigmoid(p["x"]))]),
    ("relu(x - y)*x", 1, [{"x": 2.0, "y": 1.0}, {"x": 1.0, "y": 2.0}],
     lambda p: [2 * p["x"] - p["y"], -p["x"]] if p["x"] > p["y"] else [0.0, 0.0]),
    ("tanh(softplus(x))*y", 1, [{"x": 0.3, "y": 2.0}],
     lambda p: [p["y"] * (1 - math.tanh(math.log1p(math.exp(p["x"]))) ** 2) * sigmoid(p["x"]),
                math.tanh(math.log1p(math.exp(p["x"])))]),
    # Jacobians
    (["x*y", "x + y", "x^2"], 1, [{"x": 1.0, "y": 2.0}, {"x": -0.5, "y": 3.0}],
     lambda p: [[p["y"], p["x"]], [1.0, 1.0], [2 * p["x"], 0.0]]),
    (["r*cos(t)", "r*sin(t)"], 1, [{"r": 2.0, "t": 0.5}],
     lambda p: [[math.cos(p["t"]), -p["r"] * math.sin(p["t"])],
                [math.sin(p["t"]), p["r"] * math.cos(p["t"])]]),
    # Hessians
    ("x^4", 2, [{"x": 0.5}, {"x": -2.0}], lambda p: [[12 * p["x"] ** 2]]),
    ("x^3*y^2", 2, [{"x": 1.0, "y": 2.0}, {"x": -0.5, "y": 0.25}],
     lambda p: [[6 * p["x"] * p["y"] ** 2, 6 * p["x"] ** 2 * p["y"]],
                [6 * p["x"] ** 2 * p["y"], 2 * p["x"] ** 3]]),
    ("exp(-x^2 - y^2)", 2, [{"x": 0.0, "y": 0.0}, {"x": 0.5, "y": -0.3}],
     lambda p: [[(4 * p[a] * p[b] - 2 * (a == b)) * math.exp(-p["x"] ** 2 - p["y"] ** 2)
                 for b in "xy"] for a in "xy"]),
    ("sin(x)*cos(y)", 2, [{"x": 0.3, "y": 1.2}],
     lambda p: [[-math.sin(p["x"]) * math.cos(p["y"]), -math.cos(p["x"]) * math.sin(p["y"])],
                [-math.cos(p["x"]) * math.sin(p["y"]), -math.sin(p["x"]) * math.cos(p["y"])]]),
    ("x*y*z", 2, [{"x": 1.0, "y": 2.0, "z": 3.0}],
     lambda p: [[0, p["z"], p["y"]], [p["z"], 0, p["x"]], [p["y"], p["x"], 0]]),
    ("log(x) + x*y^3", 2, [{"x": 2.0, "y": -1.0}],
     lambda p: [[-1 / p["x"] ** 2, 3 * p["y"] ** 2], [3 * p["y"] ** 2, 6 * p["x"] * p["y"]]]),
    ("sigmoid(x)*y", 2, [{"x": 0.4, "y": 3.0}],
     lambda p: [[p["y"] * sigmoid(p["x"]) * (1 - sigmoid(p["x"])) * (1 - 2 * sigmoid(p["x"])),
                 sigmoid(p["x"]) * (1 - sigmoid(p["x"]))],
                [sigmoid(p["x"]) * (1 - sigmoid(p["x"])), 0.0]]),
    # Γ'' = Γ(ψ² + ψ′); ψ′(1) = π²/6, ψ′(½) = π²/2 and ψ′(x) = ψ′(x + 1) + 1/x²
    ("gamma(x)", 2, [{"x": 1.0}, {"x": -0.5}],
     lambda p: [[EULER_GAMMA**2 + math.pi**2 / 6]] if p["x"] == 1.0
     else [[-2 * SQRT_PI * ((PSI_HALF + 2) ** 2 + math.pi**2 / 2 + 4)]]),
    ("x^2*y + w*z^3", 2, [{"w": 1.0, "x": 2.0, "y": 3.0, "z": -1.0}],
     lambda p: [[0, 0, 0, 3 * p["z"] ** 2], [0, 2 * p["y"], 2 * p["x"], 0],
                [0, 2 * p["x"], 0, 0], [3 * p["z"] ** 2, 0, 0, 6 * p["w"] * p["z"]]]),
]  # fmt: skip
CASES = [
    pytest.param(text, order, point, expected, id=f"{text}@{point}")
    for text, order, points, expected in TABLE
    for point in points
]


def test_the_table_covers_the_issue():
    assert len(TABLE) >= 40
    text = " ".join(str(row[0]) for row in TABLE)
    for name in FUNCTIONS:
        if FUNCTIONS[name].kind == "maths":
            assert f"{name}(" in text, f"no table row uses {name}"
    assert {row[1] for row in TABLE} == {1, 2}
    sizes = {len(compute(row[0], row[2][0]).variables) for row in TABLE}
    assert {1, 2, 3, 4} <= sizes


@pytest.mark.parametrize(("text", "order", "point", "expected"), CASES)
def test_symbolic_autograd_and_numeric_agree_with_the_hand_derivation(text, order, point, expected):
    result = compute(text, point, order)
    assert result.agree, (result.check, result.notes)
    analytic = result.check.analytic
    want = expected(point)
    got = analytic if result.is_matrix else [analytic] if order == 2 else analytic
    assert all(result.defined if not result.is_matrix else [all(r) for r in result.defined])
    assert torch.allclose(
        torch.tensor(got, dtype=torch.float64),
        torch.tensor(want, dtype=torch.float64),
        rtol=1e-9,
        atol=1e-12,
    ), (got, want)


@pytest.mark.parametrize(("text", "order", "point", "expected"), CASES[::4])
def test_float32_agrees_too(text, order, point, expected):
    result = compute(text, point, order, dtype=Dtype.float32)
    assert result.agree, result.check
    assert result.dtype == "float32"


# --- every registry activation -------------------------------------------------------------

POINTS = [-4.2, -2.5, -0.7, 0.4, 1.3, 2.9, 25.0]


def _off_kinks(activation) -> list[float]:
    params = {p.name: p.default for p in activation.params}
    kinks = activation.kinks(params)
    return [x for x in POINTS if all(abs(x - k) > 1e-3 for k in kinks)]


def test_every_registry_activation_has_a_symbolic_form():
    missing = [name for name in ACTIVATIONS if name not in sym.ACTIVATION_FORMS]
    assert not missing, f"add a SymPy form in gradcli/expr/symbolic.py for: {missing}"


def _elementary_value(expr, x: float) -> float:
    """A SymPy expression in x, with every custom function replaced by its elementary form,
    evaluated by SymPy itself (30 digits)."""
    for form in sym.ACTIVATION_FORMS.values():
        if isinstance(form.build, type):
            expr = expr.replace(form.build, form.elementary)
    expr = expr.replace(sym.Abs, sym.sp.Abs).replace(sym.sign, sym.sp.sign)
    value = expr.subs(sym.symbol("x"), sym.sp.Float(repr(x), 30)).evalf(30)
    return float(value)


@pytest.mark.parametrize("activation", ACTIVATION_LIST, ids=lambda a: a.name)
def test_symbolic_activation_matches_torch_in_value_and_derivative(activation):
    """The SymPy form (elementary formula) equals torch's forward; the symbolic derivative
    gradcli differentiates with equals the derivative of that formula and torch autograd."""
    form = sym.ACTIVATION_FORMS[activation.name]
    x = sym.symbol("x")
    params = {p.name: p.default for p in activation.params}
    derivative = sym.sp.diff(form.build(x), x)
    from_elementary = sym.sp.diff(form.elementary(x), x)
    # torch's hardsigmoid backward multiplies by 1/6 rounded to float32, even in float64
    rel = 1e-7 if activation.name == "hardsigmoid" else 1e-10
    for value in _off_kinks(activation):
        t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        forward = activation.forward(t, params)
        (grad,) = torch.autograd.grad(forward, t)
        assert _elementary_value(form.elementary(x), value) == pytest.approx(
            forward.item(), rel=1e-12, abs=1e-12
        )
        assert _elementary_value(derivative, value) == pytest.approx(
            grad.item(), rel=rel, abs=1e-12
        )
        assert _elementary_value(from_elementary, value) == pytest.approx(
            grad.item(), rel=rel, abs=1e-12
        )


@pytest.mark.parametrize("activation", ACTIVATION_LIST, ids=lambda a: a.name)
def test_each_activation_through_expr_matches_the_registry_derivative(activation):
    """The registry's hand-written derivative is the independent reference; at kinks the
    symbolic column follows torch's convention, as `gradcli activation` does."""
    params = {p.name: p.default for p in activation.params}
    kinks = list(activation.kinks(params))
    for value in _off_kinks(activation) + kinks:
        result = compute(f"{activation.name}(x)", {"x": value})
        want = activation.derivative(torch.tensor([value], dtype=torch.float64), params).item()
        assert result.defined == [True]
        assert result.check.analytic[0] == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert result.agree, (activation.name, value, result.check)
        if value in kinks:
            assert any("torch's convention" in note for note in result.notes)


@pytest.mark.parametrize("activation", ACTIVATION_LIST, ids=lambda a: a.name)
def test_each_activation_has_a_hessian_that_agrees(activation):
    for value in _off_kinks(activation)[1:5]:
        result = compute(f"{activation.name}(x)*y", {"x": value, "y": 1.5}, order=2)
        assert result.agree, (activation.name, value, result.check)


# --- random formula trees ---------------------------------------------------------------------

LEAVES = st.sampled_from(["x", "y", "z", "0.5", "2", "pi", "1.25"])
SMOOTH = ["sin", "cos", "tanh", "atan", "sigmoid", "erf", "softplus", "silu", "gelu", "mish",
          "asinh", "logsigmoid", "softsign"]  # fmt: skip


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(children, children).map(lambda t: f"({t[0]})/(2 + ({t[1]})^2)"),
        st.tuples(st.sampled_from(SMOOTH), children).map(lambda t: f"{t[0]}({t[1]})"),
        children.map(lambda c: f"exp(sin({c}))"),
        children.map(lambda c: f"sqrt(1 + ({c})^2)"),
        children.map(lambda c: f"log(3 + cos({c}))"),
        st.tuples(children, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})^{t[1]}"),
    )


FORMULAS = st.recursive(LEAVES, _extend, max_leaves=8)
COORDINATE = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=60, deadline=None)
@given(FORMULAS, COORDINATE, COORDINATE, COORDINATE)
def test_random_formulas_agree_symbolic_autograd_numeric(text, x, y, z):
    parsed = parse(text)
    if not parsed.variables:
        return
    at = {"x": x, "y": y, "z": z}
    result = compute(text, {v: at[v] for v in parsed.variables})
    assert all(result.defined)
    assert result.agree, (text, result.check)


@settings(max_examples=20, deadline=None)
@given(FORMULAS, COORDINATE, COORDINATE)
def test_random_formulas_have_agreeing_hessians(text, x, y):
    text = text.replace("z", "y")
    parsed = parse(text)
    if not parsed.variables:
        return
    at = {"x": x, "y": y}
    result = compute(text, {v: at[v] for v in parsed.variables}, order=2)
    assert result.agree, (text, result.check)


# --- derivatives that do not exist ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "at", "missing", "reason"),
    [
        ("sqrt(x)", {"x": 0.0}, [True], "infinite"),
        ("abs(x)", {"x": 0.0}, [True], "one-sided derivatives differ"),
        ("cbrt(x)", {"x": 0.0}, [True], "infinite"),
        ("x^(2/3)", {"x": 0.0}, [True], "infinite"),
        ("asin(x)", {"x": 1.0}, [True], "infinite"),
        ("sign(x)", {"x": 0.0}, [True], "jumps"),
        ("max(x, y)", {"x": 1.0, "y": 1.0}, [True, True], "one-sided derivatives differ"),
        ("min(x, 1)", {"x": 1.0}, [True], "one-sided derivatives differ"),
        # along x the cone is |x|: one-sided slopes ±1 (the form alone suggested ∞)
        ("sqrt(x^2 + y^2)", {"x": 0.0, "y": 0.0}, [True, True], "one-sided derivatives"),
        ("abs(x) + y^2", {"x": 0.0, "y": 3.0}, [True, False], "one-sided"),
        ("abs(sin(x))", {"x": 0.0}, [True], "one-sided"),
    ],
)
def test_a_derivative_that_does_not_exist_is_reported_per_entry(text, at, missing, reason):
    result = compute(text, at)
    assert [not d for d in result.defined] == missing
    for k, gone in enumerate(missing):
        if gone:
            assert result.check.analytic[k] is None and result.check.ok[k] is None
    assert result.agree  # what exists agrees; what does not is left out
    assert any(reason in note for note in result.notes), result.notes


@pytest.mark.parametrize(
    ("text", "at", "value"),
    [
        ("x*abs(x)", {"x": 0.0}, 0.0),  # |x|·x is differentiable at 0, with derivative 0
        ("abs(x)^3", {"x": 0.0}, 0.0),
        ("sign(x)*x^2", {"x": 0.0}, 0.0),
        ("abs(x)^1.5", {"x": 0.0}, 0.0),
        ("max(x, y)", {"x": 1.0, "y": 0.0}, 1.0),  # no tie: no corner
        ("relu(x)", {"x": 0.0}, 0.0),  # an activation: torch's convention
        ("leaky_relu(x)", {"x": 0.0}, 0.01),
        ("abs(y)*x", {"x": 2.0, "y": 0.0}, 0.0),  # ∂/∂x of |y|x: exists although |y| has a corner
    ],
)
def test_corners_that_are_differentiable_are_not_refused(text, at, value):
    result = compute(text, at)
    assert result.defined[0] is True
    assert result.check.analytic[0] == pytest.approx(value, abs=1e-12)
    assert result.agree


def test_second_derivatives_at_a_corner():
    # |x|³: f'' = 6|x| exists at 0; x·|x|: f'' = 2·sign(x) jumps at 0
    assert compute("abs(x)^3", {"x": 0.0}, order=2).defined == [[True]]
    cube = compute("abs(x)^3", {"x": 0.0}, order=2)
    assert cube.check.analytic == [[0.0]]
    assert compute("x*abs(x)", {"x": 0.0}, order=2).defined == [[False]]
    mixed = compute("x*abs(y)", {"x": 1.0, "y": 0.0}, order=2)
    assert mixed.defined == [[True, False], [False, False]]


def test_finite_differences_across_a_kink_are_shown_but_not_judged():
    result = compute("abs(x - 1e-7)", {"x": 0.0})  # the stencil x ± 1e-6 straddles 1e-7
    assert result.defined == [True] and result.check.analytic == [-1.0]
    assert result.check.trusted == [False]
    assert result.agree
    assert any("straddle" in note for note in result.notes)


def test_every_registry_kink_is_noted_with_torchs_convention():
    for activation in ACTIVATION_LIST:
        params = {p.name: p.default for p in activation.params}
        for kink in activation.kinks(params):
            result = compute(f"{activation.name}(x)", {"x": kink})
            assert any(activation.convention in note for note in result.notes), activation.name
