"""Finite differences that know their own error, and verdicts that are earned."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.core import engine
from gradcli.core.engine import (
    NumericEstimate,
    judge,
    numeric_elementwise,
    numeric_gradient,
    numeric_jacobian,
    raise_if_overflowed,
)
from gradcli.errors import InputError
from gradcli.settings import Tolerance
from tests.conftest import invoke

TIGHT = Tolerance(atol=1e-9, rtol=1e-9)


def f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@settings(max_examples=60, deadline=None)
@given(st.floats(-30, 30, allow_nan=False))
def test_the_error_estimate_bounds_the_real_error_of_smooth_functions(x):
    point = f64(x)
    estimate = numeric_elementwise(torch.sin, point)
    true = math.cos(x)
    assert estimate.checked.all()
    assert abs(float(estimate.value[0]) - true) <= max(float(estimate.error[0]), 1e-12)
    assert float(estimate.error[0]) < 1e-6  # and it is small: the column can judge


def test_a_function_of_tiny_scale_gets_a_tiny_step():
    # softplus with beta = 1e6 bends over 1e-6: a fixed step of 1e-5 would be 10 times too wide
    def softplus(t):
        return torch.nn.functional.softplus(t, beta=1e6, threshold=1e9)

    estimate = numeric_elementwise(softplus, f64(1e-6), TIGHT)
    assert float(estimate.value[0]) == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-8)
    assert float(estimate.step[0]) < 1e-7


def test_a_function_too_large_for_any_step_is_distrusted_not_believed():
    # softplus(x, beta=1e-300) ≈ ln2·1e300 + x/2: no difference of two such numbers is exact
    def softplus(t):
        return torch.nn.functional.softplus(t, beta=1e-300)

    estimate = numeric_elementwise(softplus, f64(1.0))
    check = judge(f64(0.5), f64(0.5), estimate, Tolerance(1e-6, 1e-5))
    assert check.agree  # analytic and autograd decide…
    assert check.trusted == [False]  # …the numeric column is left out…
    assert any("cannot settle" in note for note in check.notes)  # …and the output says so


def test_an_overflowing_difference_is_marked_overflowed():
    estimate = numeric_elementwise(lambda t: t**2, f64(1e200))
    check = judge(f64(2e200), f64(2e200), estimate, Tolerance(1e-6, 1e-5))
    assert check.agree and check.trusted == [False]
    assert math.isfinite(check.max_abs_diff)
    assert any("overflowed" in note for note in check.notes)


def test_nan_is_never_agreement():
    nan = f64(math.nan)
    assert not judge(nan, nan, None, Tolerance(1e-6, 1e-5)).agree
    assert not judge(f64(1.0), nan, None, Tolerance(1e-6, 1e-5)).agree
    inf = f64(math.inf)
    assert not judge(inf, inf, None, Tolerance(1e-6, 1e-5)).agree


def test_entries_where_the_derivative_does_not_exist_are_shown_but_not_judged():
    check = judge(
        f64(math.inf, 1.0),
        f64(0.0, 1.0),
        None,
        Tolerance(1e-6, 1e-5),
        defined=torch.tensor([False, True]),
    )
    assert check.agree and check.defined == [False, True]


def test_a_wrong_numeric_value_with_a_small_error_estimate_fails_the_verdict():
    estimate = NumericEstimate.exact(f64(0.3))
    assert not judge(f64(0.25), f64(0.25), estimate, Tolerance(1e-6, 1e-5)).agree


def test_overflow_of_both_sides_is_an_input_error_naming_the_entry():
    check = judge(f64(1.0, math.nan), f64(1.0, math.nan), None, Tolerance(1e-6, 1e-5))
    with pytest.raises(InputError, match="overflows float64 at entry 1"):
        raise_if_overflowed(check, lambda k: f"entry {k}", "float64")


def test_jacobian_of_a_softmax_at_a_tiny_temperature():
    x = f64(0.0, 0.0)
    estimate = numeric_jacobian(lambda t: torch.softmax(t / 1e-6, dim=-1), x)
    assert torch.allclose(
        estimate.value,
        torch.tensor([[2.5e5, -2.5e5], [-2.5e5, 2.5e5]], dtype=torch.float64),
        rtol=1e-6,
    )


def test_gradient_batched_and_one_call_at_a_time_agree():
    x = torch.linspace(-2, 2, 12, dtype=torch.float64).reshape(3, 4)

    def loss(t):
        return (torch.tanh(t) ** 2).sum() / 7

    def batched(copies):
        return (torch.tanh(copies) ** 2).sum(dim=(1, 2)) / 7

    one = numeric_gradient(loss, x)
    many = numeric_gradient(loss, x, batched=batched)
    true = 2 * torch.tanh(x) * (1 - torch.tanh(x) ** 2) / 7
    assert torch.allclose(one.value, true, atol=1e-9)
    assert torch.allclose(many.value, true, atol=1e-9)


def test_above_the_budget_a_seeded_sample_is_checked_and_said(monkeypatch):
    monkeypatch.setattr(engine, "WORK_BUDGET", 4 * 40 * 3000)  # 40 entries of a 3000-entry loss
    x = torch.linspace(-1, 1, 3000, dtype=torch.float64)

    def loss(t):
        return (t**3).sum()

    first = numeric_gradient(loss, x, batched=lambda c: (c**3).sum(dim=1), seed=7)
    again = numeric_gradient(loss, x, batched=lambda c: (c**3).sum(dim=1), seed=7)
    assert first.sampled and int(first.checked.sum()) == 40
    assert torch.equal(first.checked, again.checked)  # the same seed, the same sample
    check = judge(3 * x**2, 3 * x**2, first, Tolerance(1e-6, 1e-5))
    assert check.agree and check.numeric_sampled and check.numeric_checked == 40
    assert sum(v is None for v in check.numeric) == 3000 - 40
    assert any("40 of 3,000 entries computed, a seeded random sample" in n for n in check.notes)
    wrong = judge(3 * x**2 + 0.1, 3 * x**2 + 0.1, first, Tolerance(1e-6, 1e-5))
    assert not wrong.agree  # the sample still catches a wrong formula


@pytest.mark.parametrize(
    "args",
    [
        ["activation", "celu", "0", "--param", "alpha=0.001"],
        ["activation", "softplus", "1e-6", "--param", "beta=1e6"],
        ["activation", "softplus", "1", "--param", "beta=1e-300"],
        ["softmax-jacobian", "0", "0", "-T", "1e-6"],
        ["softmax-jacobian", "1.7e308", "-1.7e308"],
        ["activation", "elu", "-30", "-1e-9", "1e-9", "700"],
        ["activation", "sigmoid", "-1000", "1000"],
        ["loss", "bce_with_logits", "--pred", "1000,-1000", "--target", "0,1"],
    ],
)
def test_valid_inputs_that_once_got_a_false_disagree_now_agree(args):
    run = invoke(*args, "--json")
    assert run.code == 0, run.stdout
    data = run.json()
    assert data["agree"] and data["max_abs_diff"] is not None


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["activation", "gelu", "1e30", "--param", "approximate=tanh", "--dtype", "float32"],
            "float32 at x[0] = 1e+30",
        ),
        (["softmax-jacobian", "1", "2", "-T", "1e-310"], "overflows float64"),
        (
            [
                "perceptron",
                "--weights",
                "[[1e200]]",
                "--x",
                "1e200",
                "--target",
                "0",
                "--activation",
                "identity",
            ],
            "O of layer 1 overflows float64 at O[0, 0]",
        ),
    ],
)
def test_a_derivative_that_overflows_on_both_sides_is_exit_two(args, fragment):
    run = invoke(*args)
    assert run.code == 2 and run.stdout == ""
    assert fragment in run.stderr and len(run.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["activation", "hardswish", "1e38", "--dtype", "float32"],
            "f(x) overflows float32 at x[0] = 1e+38 (inf)",
        ),
        (
            ["loss", "mse", "--pred", "1e200", "--target", "0"],
            "the loss overflows float64 (L = inf)",
        ),
        (
            ["loss", "huber", "--pred", "1e308", "--target", "-1e308"],
            "the loss overflows float64 (L = inf)",
        ),
    ],
)
def test_an_overflowing_value_is_reported_as_overflow_not_passed_off_as_a_result(args, fragment):
    """One rule: a forward value that overflows (torch computes x·(x + 3)/6, (y − t)²…) is
    exit 2 naming it, even where the derivative itself is finite — no verdict either way."""
    for extra in ([], ["--json"]):
        run = invoke(*args, *extra)
        assert run.code == 2 and run.stdout == ""
        assert fragment in run.stderr and len(run.stderr.splitlines()) == 1


def test_both_signs_in_one_call_agree_with_one_sign_at_a_time(monkeypatch):
    """Small copies are evaluated with x + h and x − h in one call: the numbers agree with
    one sign at a time to far below the estimate's own error (torch may round a vector's
    tail differently, so the last bits can differ), and the same entries are uncertain."""
    from gradcli.core import engine

    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    weight = torch.arange(1.0, 22.0, dtype=torch.float64).reshape(3, 7) / 10

    def cases():
        yield engine.numeric_jacobian(lambda v: torch.softmax(v, -1), x)
        for act in (torch.tanh, torch.sigmoid):
            yield engine.numeric_gradient(
                lambda v, act=act: act(weight @ v).pow(2).sum(),
                x,
                batched=lambda copies, act=act: act(copies @ weight.T).pow(2).sum(dim=1),
            )

    together = list(cases())
    monkeypatch.setattr(engine, "ONE_CALL_ELEMENTS", 0)
    apart = list(cases())
    for a, b in zip(together, apart, strict=True):
        gap = (a.value - b.value).abs()
        assert bool((gap <= 1e-3 * torch.maximum(a.error, b.error).double()).all())
        assert torch.equal(a.step, b.step)


# ---------------------------------------------------------------- steps the input cannot resolve


def _exact(function: str, x: float) -> float:
    """The true derivative at the float64 number x, from mpmath at 400 digits (sin and cos
    at 1e300 need the exact argument reduction)."""
    import mpmath

    with mpmath.workdps(400):
        point = mpmath.mpf(x)
        value = {"sin": mpmath.cos(point), "cos": -mpmath.sin(point)}[function]
        return float(value)


@pytest.mark.parametrize(
    ("function", "x"),
    [("sin", 1e22), ("sin", 1e300), ("cos", 1e16), ("sin", -1e12), ("sin", 1.5e308)],
)
def test_a_difference_that_does_not_resolve_the_function_is_left_out_and_said_so(function, x):
    # float64 numbers near x are math.ulp(x) apart: ≥ 1e-4 here, while sin bends over ~1, so
    # every step a difference can take spans many periods (or is below the spacing)
    assert math.ulp(x) > 1e-4
    point = f64(x)
    true = _exact(function, x)
    estimate = numeric_elementwise(getattr(torch, function), point)
    assert abs(float(estimate.value[0]) - true) > 0.01  # the difference alone is meaningless
    check = judge(f64(true), f64(true), estimate, Tolerance(1e-6, 1e-5))
    assert check.agree and check.trusted == [False]
    assert any("the step it would need is below the input's spacing" in n for n in check.notes)


@settings(max_examples=60, deadline=None)
@given(st.floats(-30, 30, allow_nan=False))
def test_a_wrong_derivative_of_a_resolved_function_still_disagrees(x):
    wrong = f64(2 * math.cos(x) + 1e-3)
    check = judge(wrong, wrong, numeric_elementwise(torch.sin, f64(x)), Tolerance(1e-6, 1e-5))
    assert not check.agree and check.trusted == [True]


@pytest.mark.parametrize("x", [1e10, 1e100, -1e200])
def test_a_resolved_function_at_a_huge_input_still_judges(x):
    # x/7 + 1: a straight line is resolved at every scale; a wrong slope is caught there
    def line(t):
        return t / 7 + 1

    right, wrong = f64(1 / 7), f64(1 / 7 * 1.001)
    tol = Tolerance(1e-6, 1e-5)
    assert judge(right, right, numeric_elementwise(line, f64(x)), tol).agree
    check = judge(wrong, wrong, numeric_elementwise(line, f64(x)), tol)
    assert not check.agree and check.trusted == [True]


def test_the_spacing_test_runs_in_the_jacobian_layout_too():
    x = f64(1e22, 0.5)

    def f(t):
        return torch.stack([torch.sin(t[..., 0]) * torch.cos(t[..., 1]), t[..., 1] * 3], -1)

    true = torch.tensor(
        [[_exact("sin", 1e22) * math.cos(0.5), -math.sin(1e22) * math.sin(0.5)], [0.0, 3.0]],
        dtype=torch.float64,
    )
    check = judge(true, true, numeric_jacobian(f, x), Tolerance(1e-6, 1e-5))
    assert check.agree
    assert check.trusted.tolist() == [[False, True], [True, True]]
