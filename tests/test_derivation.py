"""`gradcli expr --steps`: derivatives worked out rule by rule, each step true.

Every step of ~45 formulas is checked here against SymPy's own derivative of the step's part,
independently of gradcli's checker (SymPy's simplify, else mpmath at three points); every
function of the language has a named rule; a wrong rule is caught (exit 3), never printed.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.expr import derivation as dv
from gradcli.expr import symbolic as sym
from gradcli.expr.language import FUNCTIONS, Call, Num, Var, parse
from tests.conftest import assert_bad_input, invoke

POINT = {"x": 0.7, "y": 1.3}

FORMULAS = [
    # constant, variable, constant multiple, sum and difference
    "x",
    "3*x",
    "x + 5",
    "x^2 - 3*x + 1",
    "-x^3",
    "(2*x)/5",
    # power rule (constant exponent)
    "x^5",
    "x^(-2)",
    "x^0.5",
    "(2*x + 1)^3",
    "sqrt(x)",
    "cbrt(x^2 + 1)",
    # product and quotient
    "x*sin(x)",
    "x^2*exp(x)*log(x)",
    "sin(x)/x",
    "1/(1 + x^2)",
    "(x + 1)/(x - 2)",
    "x/y",
    # the chain rule, nested three deep
    "sin(cos(tan(x)))",
    "exp(sin(x^2))",
    "log(cosh(sqrt(x)))",
    "sigmoid(tanh(2*x + 1))",
    # exponential and general power (f^g via exp/log)
    "2^x",
    "e^(3*x)",
    "x^x",
    "x^sin(x)",
    "(x^2 + 1)^x",
    # logarithms
    "log(x)",
    "log(x, 2)",
    "log2(x^2 + 1)",
    "log10(x)",
    "log(x, y)",
    # inverse functions
    "asin(x/2)",
    "atan(x^2)",
    "acosh(x + 1)",
    "atanh(x/2)",
    # pieces, special functions, activations
    "abs(x - 2)*x",
    "max(x, y^2)",
    "erf(x)*erfc(x)",
    "gamma(x + 1)",
    "relu(x - 0.1)*silu(x)",
    "gelu(x)*mish(x)",
    "softplus(x)*elu(x - 1)",
    "leaky_relu(x)/softsign(x)",
    # partial derivatives
    "x^2*sin(x*y)",
    "exp(x*y)/(x + y)",
]


def _sympy_value(expr, point: dict) -> complex:
    return complex(sp.N(expr.subs(point), 30))


def _equal(ours, truth, point: dict) -> bool:
    """Independently of gradcli's checker: SymPy shows the difference is 0, or mpmath
    agrees at the point and two more (where both are defined)."""
    difference = ours - truth
    if difference == 0 or sp.simplify(difference) == 0:
        return True
    agreed = 0
    for shift in (0.0, 0.113, -0.071):
        at = {symbol: value + shift for symbol, value in point.items()}
        a, b = _sympy_value(ours, at), _sympy_value(truth, at)
        if not (math.isfinite(abs(a)) and math.isfinite(abs(b))):
            continue
        assert abs(a - b) <= 1e-12 * max(1.0, abs(b)), (ours, truth, at)
        agreed += 1
    return agreed >= 2


def _derive(text: str, variable: str) -> list[dv.Step]:
    parsed = parse(text)
    steps = dv.Deriver(variable, [dv.MAX_STEPS]).steps(parsed.tree)
    point = {v: POINT[v] for v in parsed.variables}
    dv.work_out(steps, variable, dv.Builder(), dv.Checker(point), lambda s: s.rule)
    return steps


@pytest.mark.parametrize("text", FORMULAS)
def test_every_step_equals_sympys_derivative_of_its_part(text):
    parsed = parse(text)
    point = {sym.symbol(v): POINT[v] for v in parsed.variables}
    for variable in parsed.variables:
        steps = _derive(text, variable)
        for step in steps:
            truth = sp.diff(sym.to_sympy(step.expression), sym.symbol(variable))
            assert _equal(step.result, truth, point), (text, step.rule, step.expression)
            assert step.check in ("symbolic", "numeric")
        whole = sp.diff(sym.to_sympy(parsed.tree), sym.symbol(variable))
        assert _equal(steps[0].result, whole, point)


def test_the_formulas_use_every_rule():
    used = {step.rule for text in FORMULAS for v in parse(text).variables for step in
            _derive(text, v)}  # fmt: skip
    expected = {
        "constant rule", "variable rule", "constant multiple", "sum rule",
        "sum/difference rule", "product rule", "quotient rule", "power rule",
        "exponential rule", "general power rule", "logarithm rule", "chain rule",
        "derivative of sin", "derivative of sqrt",
    }  # fmt: skip
    assert expected <= used, expected - used


def test_chain_rule_nested_three_deep():
    steps = _derive("sin(cos(tan(x)))", "x")
    assert [(s.rule, s.depth) for s in steps] == [
        ("chain rule", 0),
        ("chain rule", 1),
        ("derivative of tan", 2),
    ]
    assert [s.why for s in steps] == ["sin′ = cos", "cos′ = −sin", "tan′ = 1 + tan² (= sec²)"]


def test_partial_derivative_names_the_constant():
    steps = _derive("x^2*sin(x*y)", "y")
    assert steps[0].rule == "constant multiple" and steps[0].why == "x is constant in y"
    assert steps[-1].rule == "constant multiple" and steps[-1].why == "x is constant in y"


# --- the rule table covers the language ---------------------------------------------------


def test_every_function_of_the_language_has_a_named_rule():
    missing = [name for name in FUNCTIONS if name not in dv.RULES]
    assert not missing, f"functions without a derivative rule in derivation.RULES: {missing}"
    for name in FUNCTIONS:
        assert dv.RULES[name].text, name


# sample points inside each function's domain (default 0.4; a second argument 1.3)
DOMAIN = {"acosh": 1.7, "asec": 1.7, "acsc": 1.7, "acoth": 1.7, "li": 2.5, "asech": 0.5}
SECOND = {"polygamma": Num(1), "log": Var("y")}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_functions_rule_is_true(name):
    spec = FUNCTIONS[name]
    count = max(spec.arity) if name not in ("log",) else 1
    if getattr(spec, "variadic", False):
        count = 2
    x = DOMAIN.get(name, 0.4)
    args = [Var("x"), Var("y")][:count]
    if name == "polygamma":
        args = [SECOND[name], Var("x")]
    tree = Call("log" if name == "ln" else name, tuple(args))
    point = {"x": x, "y": 1.3}
    names = sorted({a.name for a in args if isinstance(a, Var)})
    for variable in names:
        steps = dv.Deriver(variable, [100]).steps(tree)
        used = {v: point[v] for v in names}
        dv.work_out(steps, variable, dv.Builder(), dv.Checker(used), lambda s: s.rule)
        truth = sp.diff(sym.to_sympy(tree), sym.symbol(variable))
        at = {sym.symbol(v): point[v] for v in names}
        assert _equal(steps[0].result, truth, at), (name, variable)


# --- a wrong rule is a bug, never printed ---------------------------------------------------


def test_a_wrong_rule_exits_3_and_prints_no_steps(monkeypatch):
    wrong = dv._one("sin", "sin′ = cos", lambda u: dv._f("sin", u))  # sin′ = sin: false
    monkeypatch.setitem(dv.RULES, "sin", wrong)
    run = invoke("expr", "x*sin(x)", "--at", "x=0.7", "--steps")
    assert run.code == 3
    assert run.stdout == ""
    assert "does not equal SymPy's derivative" in run.stderr and "sin(x)" in run.stderr


def test_a_wrong_rule_is_caught_numerically_too(monkeypatch):
    # relu's derivative is piecewise: no simplification, the values decide
    wrong = dv._one("relu", "x", lambda u: dv.ONE)
    monkeypatch.setitem(dv.RULES, "relu", wrong)
    with pytest.raises(dv.StepMismatch):
        _derive("relu(x - 1)", "x")


# --- the command ------------------------------------------------------------------------------


def test_terminal_steps_name_each_rule_and_end_at_the_value():
    run = invoke("expr", "x^2*sin(x*y)", "--at", "x=1,y=2", "--wrt", "x", "--steps")
    assert run.code == 0, run.stderr
    out = run.stdout
    for fragment in ("product rule", "power rule", "chain rule (sin′ = cos)",
                     "constant multiple (y is constant", "simplified"):  # fmt: skip
        assert fragment in out, fragment
    value = 2 * math.sin(2) + 2 * math.cos(2)  # ∂/∂x x²sin(xy) = 2x sin(xy) + x²y cos(xy)
    assert f"at x = 1, y = 2:  = {value:.6g}" in out
    assert out.index("∂f/∂x =") < out.index("product rule") < out.index("gradient (1")
    assert "4 symbolically." in out


def test_json_steps_per_derivative_and_the_final_form_is_sympys():
    run = invoke("expr", "x^2*sin(x*y)", "exp(x)/y", "--at", "x=1,y=2", "--steps", "--json")
    data = run.json()
    assert run.code == 0
    steps = data["steps"]
    assert len(steps) == 2 and len(steps[0]) == 2  # the Jacobian's shape
    x, y = sp.symbols("x y", real=True)
    functions = [x**2 * sp.sin(x * y), sp.exp(x) / y]
    for i, row in enumerate(steps):
        for j, entry in enumerate(row):
            assert all(set(s) >= {"rule", "expression", "result", "depth"} for s in entry)
            assert entry[0]["depth"] == 0 and entry[0]["expression"] == data["expressions"][i]
            truth = sp.diff(functions[i], (x, y)[j])
            local = {"x": x, "y": y}
            for text in (entry[0]["result"].replace("^", "**"), data["derivative"][i][j]):
                assert sp.simplify(sp.sympify(text, locals=local) - truth) == 0


def test_hessian_steps_first_then_second():
    run = invoke("expr", "x^3*y", "--at", "x=1,y=2", "--order", "2", "--steps", "--json")
    data = run.json()
    assert run.code == 0
    assert len(data["first_steps"]) == 2 and len(data["steps"]) == 2
    x, y = sp.symbols("x y", real=True)
    assert sp.sympify(data["first_steps"][0][0]["result"].replace("^", "**"),
                      locals={"x": x, "y": y}) == 3 * x**2 * y  # fmt: skip
    second = data["steps"][0][0]  # ∂/∂x of 3x²y
    assert second[0]["expression"] == "3*x^2*y"
    assert sp.sympify(second[0]["result"].replace("^", "**"), locals={"x": x, "y": y}) == 6 * x * y
    table = invoke("expr", "x^3*y", "--at", "x=1,y=2", "--order", "2", "--steps").stdout
    assert table.index("∂f/∂x = ∂/∂x[x³⋅y]") < table.index("∂²f/∂x² = ∂/∂x[3⋅x²⋅y]")


def test_second_derivative_without_a_written_form_says_so():
    run = invoke("expr", "relu(x)*x", "--at", "x=1", "--order", "2", "--steps")
    assert run.code == 0, run.stderr
    assert "no steps:" in run.stdout and "Piecewise" in run.stdout


def test_long_derivations_are_bounded_in_the_terminal():
    text = " + ".join(f"x^{k}" for k in range(2, 72))
    run = invoke("expr", text, "--at", "x=0.5", "--steps")
    assert run.code == 0
    assert "… 12 more steps; use --wrt/--json" in run.stdout
    data = invoke("expr", text, "--at", "x=0.5", "--steps", "--json").json()
    assert len(data["steps"][0]) == 71


def test_steps_in_latex_are_an_align_block():
    run = invoke("expr", "sin(x^2)", "--at", "x=1", "--steps", "--format", "latex")
    assert run.code == 0
    blocks = run.stdout.split("\\begin{align*}")
    assert len(blocks) == 3  # the derivative, then its steps
    assert r"\text{chain rule}" in blocks[2] and r"\text{simplified}" in blocks[2]
    assert blocks[2].rstrip().endswith("\\end{align*}")


def test_steps_refuse_what_they_cannot_show():
    assert_bad_input(invoke("expr", "x^2", "--at", "x=1", "--steps", "--format", "csv"), "CSV")
    assert_bad_input(invoke("expr", "x^2", "--plot", "--steps"), "--at x=")


def test_too_many_steps_is_an_input_error(monkeypatch):
    monkeypatch.setattr(dv, "MAX_STEPS", 3)
    run = invoke("expr", "sin(x)*cos(x)*exp(x)*log(x)", "--at", "x=1", "--steps")
    assert_bad_input(run, "--steps", "more than 3 steps")


# --- random formulas ----------------------------------------------------------------------

_UNARY = ("sin({})", "cos({})", "exp({})", "tanh({})", "sigmoid({})", "sqrt(1 + ({})^2)",
          "log(2 + ({})^2)", "atan({})", "-({})")  # fmt: skip
_BINARY = ("({}) + ({})", "({}) - ({})", "({})*({})", "({})/(3 + ({})^2)")

formulas = st.recursive(
    st.sampled_from(["x", "y", "2", "x", "0.5"]),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(_UNARY), inner).map(lambda t: t[0].format(t[1])),
        st.tuples(st.sampled_from(_BINARY), inner, inner).map(lambda t: t[0].format(t[1], t[2])),
        st.tuples(inner, st.integers(2, 4)).map(lambda t: f"({t[0]})^{t[1]}"),
    ),
    max_leaves=6,
)


@settings(max_examples=30, deadline=None)
@given(formulas)
def test_random_formulas_every_step_true(text):
    parsed = parse(text)
    point = {sym.symbol(v): POINT[v] for v in parsed.variables}
    for variable in parsed.variables:
        steps = _derive(text, variable)  # the checker raises on any false step
        whole = sp.diff(sym.to_sympy(parsed.tree), sym.symbol(variable))
        for shift in (0.0, 0.21):
            at = {s: v + shift for s, v in point.items()}
            a, b = _sympy_value(steps[0].result, at), _sympy_value(whole, at)
            assert abs(a - b) <= 1e-12 * max(1.0, abs(b)), (text, variable)


@pytest.mark.parametrize("text", FORMULAS)
def test_printed_parts_parse_back_to_the_same_formula(text):
    from gradcli.expr.forms import Printer

    printer = Printer("ascii")
    for step in _derive(text, parse(text).variables[0]):
        printed = printer(step.expression)
        again = sym.to_sympy(parse(printed).tree)
        assert sp.simplify(again - sym.to_sympy(step.expression)) == 0, (printed, step.expression)
