"""`gradcli expr` from the command line: JSON schema, table, CSV, LaTeX, --expect, batch."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from tests.conftest import assert_bad_input, invoke, run_process


def test_homework_gradient_json_schema():
    # f(x, y) = x²·sin(y) at (1, 2): ∂f/∂x = 2x·sin(y) = 2 sin 2, ∂f/∂y = x²·cos(y) = cos 2
    run = invoke("expr", "x^2*sin(y)", "--at", "x=1,y=2", "--json")
    assert run.code == 0
    data = run.json()
    assert {"command", "expressions", "variables", "at", "value", "derivative", "analytic",
            "autograd", "numeric", "max_abs_diff", "agree", "dtype", "order", "defined",
            "notes", "check", "kind"} <= set(data)  # fmt: skip
    assert data["command"] == "expr" and data["kind"] == "gradient" and data["order"] == 1
    assert data["expressions"] == ["x^2*sin(y)"] and data["variables"] == ["x", "y"]
    assert data["at"] == {"x": 1.0, "y": 2.0}
    assert data["value"] == pytest.approx([math.sin(2)])
    assert data["derivative"] == ["2*x*sin(y)", "x**2*cos(y)"]
    assert data["analytic"] == pytest.approx([2 * math.sin(2), math.cos(2)], rel=1e-15)
    assert data["autograd"] == pytest.approx([2 * math.sin(2), math.cos(2)], rel=1e-15)
    assert data["numeric"] == pytest.approx([2 * math.sin(2), math.cos(2)], rel=1e-8)
    assert data["defined"] == [True, True] and data["agree"] is True
    assert data["dtype"] == "float64"
    assert data["latex"]["derivative"][0] == r"2 x \sin{\left(y \right)}"


def test_jacobian_and_hessian_shapes():
    jac = invoke("expr", "x*y", "x+y", "x^2", "--at", "x=1", "--at", "y=2", "--json").json()
    assert jac["kind"] == "jacobian" and len(jac["analytic"]) == 3
    assert jac["analytic"] == [[2.0, 1.0], [1.0, 1.0], [2.0, 0.0]]
    assert len(jac["derivative"]) == 3 and len(jac["derivative"][0]) == 2
    assert jac["value"] == [2.0, 3.0, 1.0]
    hess = invoke("expr", "exp(-x^2-y^2)", "--at", "x=0,y=0", "--order", "2", "--json").json()
    assert hess["kind"] == "hessian" and hess["order"] == 2
    assert hess["analytic"] == [[-2.0, 0.0], [0.0, -2.0]]  # e^(−x²−y²) at the origin
    assert hess["defined"] == [[True, True], [True, True]]


def test_wrt_chooses_and_orders_the_variables():
    data = invoke("expr", "x^2*sin(y)", "--at", "x=1,y=2", "--wrt", "y", "--json").json()
    assert data["variables"] == ["y"] and data["analytic"] == pytest.approx([math.cos(2)])
    data = invoke("expr", "x^2*sin(y)", "--at", "x=1,y=2", "--wrt", "y,x", "--json").json()
    assert data["derivative"] == ["x**2*cos(y)", "2*x*sin(y)"]


def test_point_values_negative_scientific_and_constants():
    data = invoke("expr", "sin(t)*x", "--at", "x=-1e-3", "--at", "t=pi/2", "--json").json()
    assert data["at"] == {"t": pytest.approx(math.pi / 2), "x": -1e-3}
    assert data["analytic"] == pytest.approx([0.0, 1.0], abs=1e-15)


def test_negative_leading_expression_is_an_expression_not_an_option():
    data = invoke("expr", "-x^2", "--at", "x=3", "--json").json()
    assert data["analytic"] == [-6.0]
    # Click alone would read -sqrt(x) as -s -q (quiet!) -r -t…
    run = invoke("expr", "-sqrt(x)", "--at", "x=4", "--json")
    assert run.code == 0 and run.json()["expressions"] == ["-sqrt(x)"]
    assert run.json()["analytic"] == [-0.25]
    assert invoke("expr", "--at=x=1", "--json", "--", "-x").json()["analytic"] == [-1.0]
    assert_bad_input(invoke("expr", "--", "-x", "--at", "x=1"), "'--at' comes after '--'")


def test_table_shows_formulas_values_and_verdict(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    run = invoke("expr", "x^2*sin(y)", "--at", "x=1,y=2")
    assert run.code == 0
    out = run.stdout
    assert "f(x, y) = x ⋅sin(y)" in out  # the pretty printer puts the ² on the line above
    assert "∂f/∂x = 2⋅x⋅sin(y)" in out
    assert "at x = 1, y = 2:  f = 0.909297" in out
    for cell in ("symbolic", "autograd", "numeric", "1.81859", "-0.416147"):
        assert cell in out
    assert "✓ derivatives agree" in out


def test_no_color_prints_ascii_formulas(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = invoke("expr", "x/(1+y)", "--at", "x=1,y=2").stdout
    assert "df/dy" in out and "-----" in out and "∂" not in out.split("gradient")[0]


def test_a_formula_too_wide_for_the_terminal_is_shown_on_one_line():
    wide = "+".join(f"x{i}^2/(1 + x{i})" for i in range(1, 9))
    run = invoke("expr", wide, "--at", ",".join(f"x{i}=1" for i in range(1, 9)), "--wrt", "x1")
    assert run.code == 0
    assert "f(x₁, x₂, x₃, x₄, x₅, x₆, x₇, x₈) = " in run.stdout or "f(x1" in run.stdout


def test_derivative_that_does_not_exist_in_table_and_json():
    table = invoke("expr", "sqrt(x)", "abs(y)", "--at", "x=0,y=0")
    assert table.code == 0
    assert "does not exist" in table.stdout
    data = invoke("expr", "sqrt(x)", "abs(y)", "--at", "x=0,y=0", "--json").json()
    assert data["defined"] == [[False, True], [True, False]]
    assert data["analytic"] == [[None, 0.0], [0.0, None]]
    assert data["autograd"][0][0] is None  # torch's +inf, which JSON carries as null
    assert data["autograd"][1][1] == 0.0  # torch's convention for |y|' at 0
    assert data["agree"] is True
    assert any("do not exist" in note or "does not exist" in note for note in data["notes"])


def test_disagreement_exits_one():
    # float32 and zero tolerance: the symbolic formula and autograd's chain of ops round
    # differently (0.15796715 vs 0.15796709)
    args = ["expr", "log(1+x^2)/x", "--at", "x=1.3", "--dtype", "float32", "--atol", "0",
            "--rtol", "0"]  # fmt: skip
    run = invoke(*args, "--json")
    assert run.code == 1 and run.json()["agree"] is False
    table = invoke(*args)
    assert table.code == 1 and "DISAGREE" in table.stdout


def test_float32_no_numeric_precision_and_quiet():
    data = invoke("expr", "x^3", "--at", "x=2", "--dtype", "float32", "--json").json()
    assert data["dtype"] == "float32" and data["analytic"] == [12.0]
    data = invoke("expr", "x^3", "--at", "x=2", "--no-numeric", "--json").json()
    assert data["numeric"] is None and data["agree"] is True
    table = invoke("expr", "x^3", "--at", "x=2.123456789", "--precision", "3").stdout
    assert "13.5" in table and "13.52" not in table
    quiet = invoke("expr", "x^3", "--at", "x=2", "-q")
    assert quiet.code == 0 and quiet.stdout == ""


def test_csv_one_row_per_entry():
    run = invoke("expr", "x*y", "x+y", "--at", "x=1,y=2", "--format", "csv")
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[0][:6] == ["i", "j", "entry", "derivative", "defined", "analytic"]
    assert [row[2] for row in rows[1:]] == ["df1/dx", "df1/dy", "df2/dx", "df2/dy"]
    assert [float(row[5]) for row in rows[1:]] == [2.0, 1.0, 1.0, 1.0]


def test_latex_prints_the_derivatives_for_homework():
    run = invoke("expr", "x^2*sin(y)", "--at", "x=1,y=2", "--format", "latex")
    assert run.code == 0
    lines = run.stdout.splitlines()
    assert lines[0] == r"\begin{align*}" and lines[-1] == r"\end{align*}"
    assert r"\frac{\partial f}{\partial x} &= 2 x \sin{\left(y \right)} \\" in lines
    assert r"\nabla f\left(1, 2\right) &= \left(1.81859,\ -0.416147\right)" in lines
    hess = invoke("expr", "x^3*y", "--at", "x=1,y=2", "--order", "2", "--format", "latex")
    assert r"H &= \begin{pmatrix} 6 x y & 3 x^{2} \\ 3 x^{2} & 0 \end{pmatrix} \\" in hess.stdout


def test_latex_is_refused_by_commands_without_it():
    assert_bad_input(invoke("activation", "relu", "1", "--format", "latex"), "latex")


# --- --expect -------------------------------------------------------------------------------


def test_expect_right_answers_pass():
    # 2 sin 2 = 1.81859…, cos 2 = −0.41615…
    assert invoke("expr", "x^2*sin(y)", "--at", "x=1,y=2", "--expect", "1.819,-0.416").code == 0
    hessian = ["expr", "exp(-x^2-y^2)", "--at", "x=0,y=0", "--order", "2"]
    assert invoke(*hessian, "--expect", "-2,0;0,-2").code == 0
    assert invoke("expr", "x^3", "--at", "x=1/3", "--expect", "1/3").code == 0  # 3x² = 1/3
    jac = invoke("expr", "x*y", "x+y", "--at", "x=1,y=2", "--expect", "2,1;1,1", "--json")
    assert jac.code == 0 and jac.json()["check"]["passed"] is True


@pytest.mark.parametrize(
    ("args", "answer", "hint"),
    [
        (["x^2", "--at", "x=3"], "9", "f itself"),  # f = 9, f' = 6
        (["x^2", "--at", "x=3"], "-6", "wrong sign"),
        # ∂/∂x = 1, ∂/∂y = 3y² = 12; written in the order y, x appear
        (["y^3 + x", "--at", "x=1,y=2"], "12,1", "order the variables appear"),
        (["sin(x)", "--at", "x=1"], "0.9998", "degrees"),  # cos(1°) instead of cos(1)
        # ∇(x²y) = (2xy, x²) = (4, 1) at (1, 2); at (2, 1) it is (4, 4)
        (["x^2*y", "--at", "x=1,y=2"], "4,4", "swapped"),
        (["x^3", "--at", "x=3", "--order", "2"], "27", "first derivative"),  # 6x = 18, 3x² = 27
        (["x*y", "x+y", "x^2", "--at", "x=1,y=2"], "2,1,2;1,1,0", "transposed"),
    ],
)
def test_expect_wrong_answers_exit_one_and_name_the_slip(args, answer, hint):
    run = invoke("expr", *args, "--expect", answer, "--json")
    assert run.code == 1
    check = run.json()["check"]
    assert check["passed"] is False and hint in (check["hint"] or ""), check


# --- batch, processes, start-up ------------------------------------------------------------


def test_batch_accepts_expr_lines():
    lines = "\n".join(
        [
            "expr 'x^2*sin(y)' --at x=1,y=2",
            "gradcli expr x*y x+y --at x=1 --at y=2",
            "expr 'exp(-x^2-y^2)' --at x=0,y=0 --order 2 --expect '-2,0;0,-2'",
            "expr 'x.__class__' --at x=1",
        ]
    )
    run = invoke("batch", "-", input_text=lines + "\n")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.code == 2  # the worst line: bad input
    assert records[0]["derivative"] == ["2*x*sin(y)", "x**2*cos(y)"]
    assert records[1]["kind"] == "jacobian"
    assert records[2]["check"]["passed"] is True
    assert records[3] == {"line": 4, "error": records[3]["error"]}
    assert "attribute access" in records[3]["error"]


def test_real_process_is_quiet_and_exact():
    run = run_process("expr", "x*sigmoid(1.702*x)", "--at", "x=0.5", "--json")
    assert run.code == 0 and run.stderr == ""
    data = json.loads(run.stdout)
    s = 1 / (1 + math.exp(-0.851))
    assert data["analytic"] == pytest.approx([s + 0.851 * s * (1 - s)], rel=1e-14)


def test_symbolic_work_past_its_time_is_one_input_error(monkeypatch):
    import gradcli.core.expr as core

    monkeypatch.setattr(core, "SYMBOLIC_SECONDS", 1e-4)  # SIGALRM fires inside SymPy
    run = invoke("expr", "atan(y/x)*exp(-x^2)*sin(x*y)^3", "--at", "x=1,y=2", "--order", "2")
    assert_bad_input(run, "takes longer than")
    monkeypatch.undo()
    assert invoke("expr", "x^2", "--at", "x=1").code == 0  # the alarm is gone afterwards


def test_tidying_never_changes_the_numbers(monkeypatch):
    import gradcli.core.expr as core

    tidy = invoke("expr", "x/(1+x)", "--at", "x=0.5", "--json").json()
    monkeypatch.setattr(core, "SIMPLIFY_SECONDS", 0.0)
    raw = invoke("expr", "x/(1+x)", "--at", "x=0.5", "--json").json()
    assert tidy["derivative"] == ["(x + 1)**(-2)"]
    assert raw["derivative"] == ["-x/(x + 1)**2 + 1/(x + 1)"]
    assert tidy["analytic"] == raw["analytic"]


@pytest.mark.parametrize(
    ("formula", "shown"),
    [
        ("1/(1+e^-x)", "exp(-x)/(1 + exp(-x))**2"),  # simplify's 1/(4*cosh(x/2)**2) refused
        ("x/(1+x)", "(x + 1)**(-2)"),  # a shorter form with the same functions is kept
    ],
)
def test_the_shown_derivative_brings_no_function_the_student_did_not_use(formula, shown):
    data = invoke("expr", formula, "--at", "x=0.5", "--json").json()
    assert data["derivative"] == [shown]
    x = 0.5
    expected = math.exp(-x) / (1 + math.exp(-x)) ** 2 if "e^" in formula else 1 / (1 + x) ** 2
    assert math.isclose(data["analytic"][0], expected, rel_tol=1e-14)


def test_printing_and_simplifying_never_load_sympy_physics():
    """SymPy's printer and simplify() import sympy.physics.units (0.3–0.7 s) for quantities
    a formula never has; gradcli answers that import with a stand-in while it prints."""
    from tests.test_cli import loaded_after

    argvs = [["expr", "x/(1+y)*sin(x)", "--at", "x=1,y=2"],
             ["expr", "x/(1+x)", "--at", "x=1", "--format", "latex"]]  # fmt: skip
    assert not loaded_after(argvs, "sympy.physics")


def test_other_commands_do_not_pay_for_the_expr_language():
    from tests.test_cli import loaded_after

    argvs = [["--help"], ["activation", "--help"], ["activation", "relu", "1", "--quiet"]]
    assert not loaded_after(argvs, "gradcli.expr.language")


def test_usage_line_help_and_machine_readable_listing():
    help_text = invoke("expr", "-h").stdout
    assert (
        help_text.splitlines()[0]
        == "Usage: gradcli expr [OPTIONS] EXPRESSION... --at NAME=VALUE[,...]"
    )
    listing = invoke("expr", "--list", "--json").json()
    names = {entry["name"] for entry in listing["list"]}
    assert {"sin", "log", "max", "sigmoid", "relu", "pi", "e"} <= names
    assert_bad_input(invoke("expr", "--list", "--format", "latex"), "--list has no LaTeX")


@pytest.mark.parametrize("width", [40, 60, 80, 120])
@pytest.mark.parametrize(
    "args",
    [
        ["x^2*sin(y)", "--at", "x=1.123456789,y=-2", "--precision", "10"],
        ["x*y", "sin(x)+y^2", "abs(x)", "--at", "x=0,y=2.5"],
        ["exp(-x^2-y^2)*z", "--at", "x=0.25,y=-0.5,z=3", "--order", "2"],
    ],
)
def test_no_number_is_cut_at_any_width(args, width):
    """Every value --json reports (but f's formulas) appears whole in the table."""
    import re

    from typer.testing import CliRunner

    from gradcli.cli import app
    from tests.test_table_widths import numbers_in

    precision = int(args[args.index("--precision") + 1]) if "--precision" in args else 6
    env = {"COLUMNS": str(width), "NO_COLOR": "1"}
    table = CliRunner().invoke(app, ["expr", *args], env=env).stdout
    data = json.loads(CliRunner().invoke(app, ["expr", *args, "--json"]).stdout)
    wanted = numbers_in({k: data[k] for k in ("value", "analytic", "autograd", "numeric")})
    missing = [
        f"{v:.{precision}g}"
        for v in wanted
        if not re.search(rf"(?<![\w.]){re.escape(f'{v:.{precision}g}')}(?![\w.])", table)
    ]
    assert not missing, missing
    assert "…" not in table


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("e", math.e),
        ("-e", -math.e),
        ("e+1", math.e + 1),
        ("2*e", 2 * math.e),
        ("pi/6", math.pi / 6),
    ],
)
def test_the_documented_constants_are_values_for_at(written, value):
    """Issue 18 §6: --at x=e (and -e, e+1) was refused though e is a documented constant."""
    data = invoke("expr", "x^2", "--at", f"x={written}", "--json").json()
    assert data["at"] == {"x": pytest.approx(value, rel=1e-15)}
    assert data["analytic"] == [pytest.approx(2 * value, rel=1e-15)]


def test_a_power_tower_is_printed_on_one_line_in_bounded_time():
    """Issue 18 §6: x^x^…^x of 99 x's spent minutes in SymPy's pretty printer; a tower that
    tall is shown on one line (the numbers are unchanged)."""
    tower = "^".join(["x"] * 99)
    run = run_process("expr", tower, "--at", "x=1.1")  # a hang would hit the 120 s timeout
    assert run.code == 0
    # one line (wrapped at the terminal's width), not SymPy's staircase of exponents
    assert run.stdout.startswith("f(x) = ") and "x**(x**(x**" in run.stdout
    assert "✓ derivatives agree" in run.stdout
