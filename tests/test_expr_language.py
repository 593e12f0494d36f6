"""`gradcli expr`'s language: the safe parser, its bounds, and every bad input it refuses."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.errors import InputError
from gradcli.expr.language import (
    FUNCTIONS,
    MAX_LENGTH,
    Call,
    Const,
    Neg,
    Num,
    Power,
    Product,
    Sum,
    Var,
    parse,
    parse_constant,
)
from tests.conftest import assert_bad_input, invoke, run_process

ROOT = Path(__file__).resolve().parent.parent
EXPR_MODULES = [
    *sorted((ROOT / "gradcli" / "expr").glob("*.py")),
    ROOT / "gradcli" / "core" / "expr.py",
    ROOT / "gradcli" / "commands" / "expr.py",
    ROOT / "gradcli" / "results" / "expr.py",
    ROOT / "gradcli" / "render" / "expr_table.py",
]


def test_no_module_of_expr_evaluates_text():
    """eval/exec/compile/sympify/parse_expr/lambdify appear nowhere in expr's code."""
    forbidden = re.compile(
        r"(?<![.\w])(?<!def )(eval|exec|compile|__import__)\s*\(|\b(sympify|parse_expr|lambdify)\b"
    )
    for path in EXPR_MODULES:
        source = path.read_text(encoding="utf-8")
        assert not forbidden.search(source), (path.name, forbidden.search(source))
    assert "ast.parse(" in (ROOT / "gradcli" / "expr" / "language.py").read_text()


# --- what parses, and into what --------------------------------------------------------------


def test_caret_is_power_with_power_precedence():
    # Python's ^ would bind looser than +: x^2+1 must be (x²) + 1, not x^(2+1)
    assert parse("x^2+1").tree == Sum((Power(Var("x"), Num(2)), Num(1)))
    assert parse("x^2+1").tree == parse("x**2+1").tree
    assert parse("-x^2").tree == Neg(Power(Var("x"), Num(2)))  # −(x²), as in maths
    assert parse("x^y^z").tree == Power(Var("x"), Power(Var("y"), Var("z")))  # right-assoc
    assert parse("2^-1").tree == Power(Num(2), Neg(Num(1)))


def test_sums_and_products_are_flat_and_keep_their_order():
    assert parse("a - b + c").tree == Sum((Var("a"), Neg(Var("b")), Var("c")))
    assert parse("a*b/c/d").tree == Product((Var("a"), Var("b")), (Var("c"), Var("d")))
    long_sum = "+".join(["x"] * 600)  # 600 terms, nested 600 deep in Python's AST
    assert len(parse(long_sum).tree.terms) == 600


def test_numbers_constants_and_functions():
    assert parse("1.5e-3*pi").tree == Product((Num(1.5e-3), Const("pi")))
    assert parse("e^x").tree == Power(Const("e"), Var("x"))
    assert parse("ln(x)").tree == Call("log", (Var("x"),))  # ln is log
    assert parse("log(x, 2)").tree == Call("log", (Var("x"), Num(2)))
    assert parse("  max(x, y) ").tree == Call("max", (Var("x"), Var("y")))


def test_variables_are_sorted_naturally_and_remember_their_order_of_appearance():
    parsed = parse("y*x10 + x2 - alpha + x1")
    assert parsed.variables == ("alpha", "x1", "x2", "x10", "y")
    assert parsed.appearance == ("y", "x10", "x2", "alpha", "x1")
    assert parse("exp(x)*theta").variables == ("theta", "x")  # 'x' inside 'exp' is no variable


def test_activations_of_constants_are_bounded_not_refused():
    assert parse("x*tanh(gamma(e)^elu(-1))").variables == ("x",)  # elu(−1) ≈ −0.63
    assert parse("x^sigmoid(3)").variables == ("x",)


def test_every_registry_activation_is_a_function_of_the_language():
    from gradcli.ops.activations import ACTIVATIONS

    for name in ACTIVATIONS:
        assert parse(f"{name}(x)").tree == Call(name, (Var("x"),))


@pytest.mark.parametrize(
    ("text", "value"),
    [("-1e-3", -1e-3), ("pi/4", 0.7853981633974483), ("sqrt(2)/2", 0.7071067811865476),
     ("2^0.5", 2**0.5), ("-e", -2.718281828459045), ("log(8, 2)", 3.0)],
)  # fmt: skip
def test_point_values_may_be_constant_formulas(text, value):
    assert parse_constant(text, "--at x") == pytest.approx(value, rel=1e-15)


# --- bad input ---------------------------------------------------------------------------------

NESTED_PARENS = "(" * 150 + "x" + ")" * 150
POWER_TOWER = "x**" * 200 + "x"

# (arguments after `gradcli expr`, fragments of the one error line)
BAD_INPUT = [
    # textbook notation that could mean two things: refused, with both readings
    (["1/2x", "--at", "x=1"], ["'1/2x' is ambiguous", "1/(2*x)", "(1/2)*x"]),
    (["e^2x", "--at", "x=1"], ["'e^2x' is ambiguous", "e^(2*x)", "e^2*x"]),
    (["x 2", "--at", "x=1"], ["a number after a factor is ambiguous", "x*2", "x^2"]),
    (["2 3*x", "--at", "x=1"], ["one number 23"]),
    (["(x+1)2", "--at", "x=1"], ["(x+1)*2"]),
    (["sin x", "--at", "x=1"], ["sin needs parentheses", "sin(x)"]),
    (["sin^2 x", "--at", "x=1"], ["sin^2 needs parentheses", "sin(x)^2"]),
    (["sin^-2(x)", "--at", "x=1"], ["ambiguous", "sin(x)^(-2)"]),
    (["log^-1(x)", "--at", "x=2"], ["no inverse of log", "1/log(x)"]),
    (["sin^2(x)^3", "--at", "x=1"], ["ambiguous"]),
    (["|x|y|z|", "--at", "x=1,y=1,z=1"], ["could close the one at column 1", "abs("]),
    (["|x", "--at", "x=1"], ["'|' is never closed"]),
    (["(|x)|", "--at", "x=1"], ["not closed before this ')'"]),
    (["√x²", "--at", "x=1"], ["ambiguous", "√(x^2)", "(√x)^2"]),
    (["√2x", "--at", "x=1"], ["'√2x' is ambiguous"]),
    (["√ x", "--at", "x=1"], ["'√' must be followed"]),
    (["σ(x)", "--at", "σ=1"], ["could be the sigmoid", "σ*("]),
    (["x ²", "--at", "x=1"], ["must follow what it raises"]),
    (["x(y+1)", "--at", "x=1,y=2"], ["unknown function 'x'", "for a product write x*(y+1)"]),
    # forbidden constructs, named
    (["__import__('os').system('x')", "--at", "x=1"], ["not allowed"]),
    (["__import__(x)", "--at", "x=1"], ["names starting with '_' are not allowed"]),
    (["x.__class__", "--at", "x=1"], ["attribute access 'x.__class__' is not allowed"]),
    (["(lambda: 1)()", "--at", "x=1"], ["lambda 'lambda: 1' is not allowed"]),
    (["[x]*10**9", "--at", "x=1"], ["list '[x]' is not allowed"]),
    (["'a'*10**9", "--at", "x=1"], ["strings are not allowed"]),
    (["x[0]", "--at", "x=1"], ["subscript 'x[0]' is not allowed"]),
    (["{x: 1}", "--at", "x=1"], ["dictionary"]),
    (["[i for i in x]", "--at", "x=1"], ["comprehension"]),
    (["x if x else 1", "--at", "x=1"], ["conditional expression"]),
    (["x < 1", "--at", "x=1"], ["comparison 'x < 1'"]),
    (["x and 1", "--at", "x=1"], ["boolean operator"]),
    (["log(x, base=2)", "--at", "x=1"], ["keyword arguments are not allowed", "base=2"]),
    (["x % 2", "--at", "x=1"], ["operator '%'"]),
    (["x @ x", "--at", "x=1"], ["operator '@'"]),
    (["x, x", "--at", "x=1"], ["tuple", "separate arguments"]),
    (["1j*x", "--at", "x=1"], ["complex numbers"]),
    (["True*x", "--at", "x=1"], ["'True' is not allowed"]),
    (["f'{x}'", "--at", "x=1"], ["strings are not allowed"]),
    # huge work: refused before any algebra
    (["x**10**10", "--at", "x=1"], ["exponent '10**10'", "10,000"]),
    (["x^10^10", "--at", "x=1"], ["exponent '10^10'"]),
    (["2**2**2**2**2*x", "--at", "x=1"], ["exponent '2**2**2**2' (= 65536)"]),
    (["9**9**9*x", "--at", "x=1"], ["exponent '9**9'"]),
    (["x**1e10", "--at", "x=1"], ["exponent '1e10'"]),
    (["gamma(100000)*x", "--at", "x=1"], ["digits"]),
    (["x*gamma(170)^10000", "--at", "x=1"], ["about 3,791,763 digits"]),
    (["x*2^relu(10^10)", "--at", "x=1"], ["exponent 'relu(10^10)' is possibly too large"]),
    (["x" * (MAX_LENGTH + 1), "--at", "x=1"], ["2,001 characters", "2,000"]),
    ([NESTED_PARENS, "--at", "x=1"], ["nested more than 100"]),
    ([POWER_TOWER, "--at", "x=1"], ["nested more than 100 levels"]),
    (["1e400*x", "--at", "x=1"], ["'1e400' is too large"]),
    # syntax, names and characters
    (["", "--at", "x=1"], ["empty"]),
    (["x +", "--at", "x=1"], ["ends too early", "'+'"]),
    (["x = 1"], ["'=' is not allowed", "--at"]),
    (["x!", "--at", "x=1"], ["gamma(x + 1)"]),
    (["sin(x", "--at", "x=1"], ["'(' is never closed"]),
    (["x)", "--at", "x=1"], ["unmatched ')'"]),
    (["sinn(x)", "--at", "x=1"], ["unknown function 'sinn'; known: ", "did you mean 'sin'?"]),
    (["Sin(x)", "--at", "x=1"], ["did you mean 'sin'"]),
    (["sech2(x)", "--at", "x=1"], ["unknown function 'sech2'", "did you mean 'sech'?"]),
    (["foo(x)", "--at", "x=1"], ["unknown function 'foo'; known: ", "for a product write foo*(x)"]),
    (["polygamma(x, y)", "--at", "x=1,y=1"], ["n must be a whole number", "'x'"]),
    (["max(x)", "--at", "x=1"], ["max takes 2 to 32 arguments, got 1"]),
    (["x # a comment", "--at", "x=1"], ["'#' is not allowed"]),
    (["sin", "--at", "x=1"], ["'sin' is a function"]),
    (["sin(x, x)", "--at", "x=1"], ["sin takes 1 argument, got 2"]),
    (["ς*x", "--at", "x=1"], ["'ς' is not a letter gradcli reads"]),
    (["x＋1", "--at", "x=1"], ["U+FF0B", "plain ASCII"]),
    (["inf*x", "--at", "x=1"], ["infinite and NaN"]),
    (["x*1_000", "--at", "x=1"], ["plain decimal digits"]),
    (["x\x1b[31m", "--at", "x=1"], ["\\x1b"]),  # a control character is echoed escaped
    # the point
    (["x*y", "--at", "x=1"], ["no value for the variable 'y'", "--at y=VALUE"]),
    (["x"], ["no value for the variable 'x'"]),
    (["x", "--at", "x=1,z=2"], ["value for 'z'", "not in the expression"]),
    (["x", "--at", "x=nan"], ["--at x", "not a finite number"]),
    (["x", "--at", "x=inf"], ["not a finite number"]),
    (["x", "--at", "x=1e400"], ["'1e400' is too large"]),
    (["x", "--at", "x=log(-1)"], ["'log(-1)' has no real value"]),
    (["x", "--at", "x=1,e=2"], ["'e' is a constant"]),
    (["x", "--at", "x=2e"], ["'2e' is not a number"]),
    (["x*atan(9^9999)", "--at", "x=1"], ["about 9,542 digits", "4,000"]),
    (["x*exp(-10^5000)", "--at", "x=1"], ["digits", "4,000"]),
    (["1/(x+10^5000)", "--at", "x=1"], ["digits", "4,000"]),
    (["max(x, ln(0))", "--at", "x=1"], ["the constant 'ln(0)' has no real value"]),
    (["x*(-8)^(1/3)", "--at", "x=1"], ["'(-8)^(1/3)' has no real value"]),
    (["x", "--at", "x=y"], ["uses the name 'y'"]),
    (["x", "--at", "x"], ["must look like NAME=VALUE"]),
    (["x", "--at", "x="], ["has no value"]),
    (["x", "--at", "x=1", "--at", "x=2"], ["'x' twice"]),
    (["x", "--at", "x=1e39", "--dtype", "float32"], ["overflows float32"]),
    # f itself must have a value
    (["log(x)", "--at", "x=-1"], ["'log(x)' is undefined", "x = -1"]),
    (["sqrt(x)", "--at", "x=-4"], ["undefined (not a real number)"]),
    (["1/x", "--at", "x=0"], ["'1/x' is inf at x = 0"]),
    (["exp(exp(x))", "--at", "x=1000"], ["is inf"]),  # beyond even the precise range
    # options
    ([], ["no expression given"]),
    (["x", "--at", "x=1", "--order", "3"], ["--order '3' must be 1"]),
    (["x", "y", "--at", "x=1,y=1", "--order", "2"], ["one expression; got 2"]),
    (["x*y", "--at", "x=1,y=1", "--wrt", "z"], ["--wrt 'z' is not a variable"]),
    (["x*y", "--at", "x=1,y=1", "--wrt", "x,x"], ["'x' twice"]),
    (["2*pi"], ["no variables"]),
    (["x", "--at", "x=1", "--wrtt", "x"], ["no such option '--wrtt'", "--wrt"]),
    (["x", "--at", "x=1", "--expect", "one"], ["--expect", "'one'"]),
    (["x*y", "--at", "x=1,y=1", "--expect", "1,2,3"], ["shape"]),
    # a jump, not a corner: no derivative at all (abs at 0 takes either one-sided derivative)
    (["sign(x)", "--at", "x=0", "--expect", "0"], ["do not exist"]),
    ([f"x{i}" for i in range(17)] + ["--at", ",".join(f"x{i}=1" for i in range(17))],
     ["17 expressions"]),
    (["+".join(f"x{i}" for i in range(17)), "--at", ",".join(f"x{i}=1" for i in range(17))],
     ["17 variables"]),
]  # fmt: skip
HEAVY = {"x**10**10", "x^10^10", "2**2**2**2**2*x", "9**9**9*x", "x**1e10", "gamma(100000)*x",
         "x*gamma(170)^10000", "x*2^relu(10^10)",
         NESTED_PARENS, POWER_TOWER, "x" * (MAX_LENGTH + 1)}  # fmt: skip


def test_the_bad_input_table_is_big_enough():
    assert len(BAD_INPUT) >= 40


@pytest.mark.parametrize(("args", "fragments"), BAD_INPUT)
def test_bad_input_is_one_error_line_and_exit_two(args, fragments):
    started = time.perf_counter()
    assert_bad_input(invoke("expr", *args), *fragments)
    if args and args[0] in HEAVY:
        assert time.perf_counter() - started < 5.0  # must not hang (a shared, slow CI machine)


def test_a_real_process_never_runs_what_an_expression_says(tmp_path):
    flag = tmp_path / "ran"
    run = run_process("expr", f"__import__('os').system('touch {flag}')", "--at", "x=1")
    assert run.code == 2 and run.stdout == "" and "Traceback" not in run.stderr
    assert len(run.stderr.splitlines()) == 1
    assert not flag.exists()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_is_one_input_error(text):
    try:
        parse(text)
    except InputError as error:
        assert "\n" not in str(error)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["x", "y", "2", "1.5", "e", "pi", "+", "-", "*", "/", "^", "**", "(",
                         ")", ",", " ", "sin", "log", "max", "relu", "1e9", "9"]),
        max_size=30,
    )
)  # fmt: skip
def test_token_soup_parses_or_is_one_input_error(tokens):
    text = "".join(tokens)
    try:
        parsed = parse(text)
    except InputError as error:
        assert str(error).startswith("expression ")
    else:
        assert all(name.isidentifier() and name.isascii() for name in parsed.variables)


def test_listing_names_every_function_and_the_constants():
    run = invoke("expr", "--list")
    assert run.code == 0
    for name in FUNCTIONS:
        assert f"{name}(" in run.stdout, name
    assert "pi" in run.stdout and "2.718281828459045" in run.stdout
