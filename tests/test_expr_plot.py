"""``expr FORMULA --plot``: f and SymPy's f′ along one variable, checked against autograd.

The sampled values are compared with derivatives written out here by hand, and kinks with
where they must be; the drawing itself is tested in test_plot.py."""

from __future__ import annotations

import math
import re

import pytest
from rich.cells import cell_len

from gradcli.core.expr import ExprRequest
from gradcli.core.expr_plot import expr_curve
from gradcli.expr.language import parse
from gradcli.settings import Dtype, Settings
from tests.conftest import invoke

SETTINGS = Settings(dtype=Dtype.float64)


def curve(text: str, variable: str = "x", x_range=None, **point: float):
    request = ExprRequest(
        expressions=(parse(text, "expression"),),
        variables=(variable,),
        point=point,
        written={k: str(v) for k, v in point.items()},
    )
    return expr_curve(request, SETTINGS, x_range)


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(b))


def test_sampled_derivative_is_the_hand_derivative_everywhere():
    c = curve("x^3*exp(-x/2)")
    assert c.points >= 481 and c.agree and c.kinks == []
    for x, f, d in zip(c.x, c.value, c.derivative, strict=True):
        assert close(f, x**3 * math.exp(-x / 2))
        assert close(d, (3 * x**2 - x**3 / 2) * math.exp(-x / 2))


def test_other_variables_are_fixed_at_the_point_and_the_given_x_is_marked():
    c = curve("x^2*y", x=1.0, y=2.0)
    assert c.marks == [(1.0, 2.0, 4.0)]
    assert all(close(d, 2 * x * 2) for x, d in zip(c.x, c.derivative, strict=True))
    assert "y = 2" in c.title


def test_kinks_are_found_where_the_argument_crosses_zero():
    c = curve("abs(x - 0.3) + relu(x + 2)", x_range=(-4.0, 4.0))
    assert len(c.kinks) == 2
    assert abs(c.kinks[0] + 2) <= 1e-15 and abs(c.kinks[1] - 0.3) <= 1e-15
    at = dict(zip(c.x, c.derivative, strict=True))
    assert math.isnan(at[c.kinks[1]])  # abs has no derivative at its corner
    assert at[-3.0] == -1.0 and at[0.0] == 0.0 and at[1.0] == 2.0


def test_a_smooth_corner_is_no_kink_and_its_derivative_exists():
    """max(x, 0)² has f′ = 2·max(x, 0): continuous, 0 at 0 (one-sided limits agree)."""
    c = curve("max(x,0)^2")
    assert c.kinks == [] and c.agree
    assert dict(zip(c.x, c.derivative, strict=True))[0.0] == 0.0
    assert c.checked == c.points


def test_no_derivative_where_f_is_undefined():
    c = curve("log(x)")
    for x, d in zip(c.x, c.derivative, strict=True):
        if x <= 0:
            assert math.isnan(d)
        elif x > 0.2:  # nearer 0, 1/x is too large to draw (left out, said in a note)
            assert close(d, 1 / x)
    assert c.checked == sum(x > 0 for x in c.x)


def test_values_near_a_pole_are_left_out_and_said():
    c = curve("1/x")
    drawn = [abs(v) for v in c.value + c.derivative if math.isfinite(v)]
    assert max(drawn) < 1e3
    assert any("near a pole" in note for note in c.notes)
    assert c.agree  # the check uses every sample, drawn or not


def test_plot_then_the_table_when_the_point_is_given():
    run = invoke("expr", "x^2*y", "--plot", "--wrt", "x", "--at", "y=2,x=1", "--width", "60")
    assert run.code == 0, run.stderr
    out = run.stdout
    assert out.index("f(x) on [-6, 6], y = 2") < out.index("┏")
    assert "f'  2*x*y" in out and "at the x given: 1" in out
    assert re.search(r"✓ plotted f' agrees with autograd at all \d{3} points", out)
    assert max(cell_len(line) for line in out.splitlines()[:20]) <= 60


def test_plot_alone_without_the_variable_value():
    run = invoke("expr", "abs(x)*exp(-x^2/2)", "--plot", "--range", "-3,3", "--width", "60")
    assert run.code == 0, run.stderr
    assert "┏" not in run.stdout and "kink at x = 0" in run.stdout
    assert "f'  (-x*Abs(x) + sign(x))*exp(-x^2/2)" in run.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["x^2", "--plot", "--json"], "--json"),
        (["x^2", "x^3", "--plot"], "one expression"),
        (["x^2*y", "--plot"], "--wrt x"),
        (["x^2", "--plot", "--order", "2"], "--order 2"),
    ],
)
def test_what_cannot_be_plotted(args, fragment):
    run = invoke("expr", *args)
    assert run.code == 2 and fragment in run.stderr and run.stdout == ""


def test_many_corner_terms_are_sampled_in_one_vector_pass(monkeypatch):
    """Issue 18 §6: a sum of 50 abs(sin(k·x)) terms took minutes when f′ was evaluated one
    sample at a time; every sample (thousands of them at kinks) is now one vector pass."""
    from gradcli.core import expr_plot

    def one_by_one(*args, **kwargs):
        raise AssertionError("f′ was evaluated sample by sample")

    monkeypatch.setattr(expr_plot, "_one_by_one", one_by_one)
    n = 50
    c = curve("+".join(f"abs(sin({k}*x))" for k in range(1, n + 1)), x_range=(0.1, 3.0))
    assert c.agree and c.checked > 481
    # f′(x) = Σ k·cos(kx)·sign(sin(kx)), by hand, wherever no sin(kx) is 0
    for x, d in list(zip(c.x, c.derivative, strict=True))[::97]:
        terms = [k * math.cos(k * x) * math.copysign(1.0, math.sin(k * x)) for k in range(1, 51)]
        if math.isfinite(d) and min(abs(math.sin(k * x)) for k in range(1, 51)) > 1e-6:
            assert abs(d - math.fsum(terms)) <= 1e-9 * max(1.0, abs(d)), x


def test_a_smooth_corner_sample_takes_the_value_its_sides_approach():
    # abs(x)^3: f′ = 3x·|x|, continuous: exactly 0 at the corner sample 0
    c = curve("abs(x)^3", x_range=(-1.0, 1.0))
    assert dict(zip(c.x, c.derivative, strict=True))[0.0] == 0.0
