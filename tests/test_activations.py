"""Every registered activation: analytic vs autograd vs finite differences, in float64."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.core.activation import activation_gradients
from gradcli.errors import InputError
from gradcli.ops.activations import ACTIVATION_LIST, ACTIVATIONS, get_activation
from gradcli.settings import DEFAULT_TOLERANCE, Dtype, Settings

GRID = [-1000.0, -50.0, -7.5, -3.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 3.0]
GRID += [6.0, 7.5, 20.0, 50.0, 1000.0]

# Non-default parameter sets worth checking as well as torch's defaults.
PARAM_CASES = {
    "leaky_relu": [["negative_slope=0.2"], ["negative_slope=-0.5"]],
    "elu": [["alpha=0.5"], ["alpha=2"]],
    "celu": [["alpha=0.5"], ["alpha=3"]],
    "gelu": [["approximate=tanh"]],
    "softplus": [["beta=2"], ["beta=0.5", "threshold=5"]],
    "hardtanh": [["min_val=-2", "max_val=0.5"]],
}
CASES = [(act.name, []) for act in ACTIVATION_LIST] + [
    (name, items) for name, cases in PARAM_CASES.items() for items in cases
]
IDS = [f"{name}{'[' + ','.join(items) + ']' if items else ''}" for name, items in CASES]


def points_for(name: str, items: list[str]) -> list[float]:
    """The grid plus points just either side of every kink."""
    act = get_activation(name)
    near = [k + d for k in act.kinks(act.resolve_params(items)) for d in (-1e-3, 1e-3)]
    return GRID + near


def torch_autograd(name: str, items: list[str], xs: list[float]) -> torch.Tensor:
    """torch's own gradient of the activation, computed here independently of the engine."""
    act = get_activation(name)
    params = act.resolve_params(items)
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    act.forward(x, params).sum().backward()
    return x.grad


@pytest.mark.parametrize(("name", "items"), CASES, ids=IDS)
def test_analytic_matches_autograd_and_finite_differences(name, items):
    act = get_activation(name)
    xs = points_for(name, items)
    result = activation_gradients(act, xs, act.resolve_params(items), Settings())
    check = result.check
    assert check.agree, [
        (x, a, g, n)
        for x, a, g, n, ok in zip(
            xs, check.analytic, check.autograd, check.numeric, check.ok, strict=True
        )
        if not ok
    ]
    expected = torch_autograd(name, items, xs)
    # hardsigmoid's torch backward multiplies by float32(1/6), hence the 1e-8 slack
    torch.testing.assert_close(
        torch.tensor(check.analytic, dtype=torch.float64), expected, rtol=1e-12, atol=1e-8
    )
    assert all(math.isfinite(v) for v in check.analytic + check.autograd + result.value)


@pytest.mark.parametrize(("name", "items"), CASES, ids=IDS)
def test_numeric_is_trusted_away_from_kinks(name, items):
    act = get_activation(name)
    xs = points_for(name, items)
    result = activation_gradients(act, xs, act.resolve_params(items), Settings())
    tol = DEFAULT_TOLERANCE[Dtype.float64]
    for x, analytic, numeric, trusted in zip(
        xs, result.check.analytic, result.check.numeric, result.check.trusted, strict=True
    ):
        if trusted:
            assert abs(analytic - numeric) <= tol.bound(numeric), (name, x)


KINKED = [
    (name, items, id_)
    for (name, items), id_ in zip(CASES, IDS, strict=True)
    if get_activation(name).kinks(get_activation(name).resolve_params(items))
]


@pytest.mark.parametrize(("name", "items"), [k[:2] for k in KINKED], ids=[k[2] for k in KINKED])
def test_kinks_follow_torch_convention_exactly(name, items):
    act = get_activation(name)
    params = act.resolve_params(items)
    kinks = list(act.kinks(params))
    result = activation_gradients(act, kinks, params, Settings())
    torch.testing.assert_close(
        torch.tensor(result.check.analytic, dtype=torch.float64),
        torch_autograd(name, items, kinks),
        rtol=1e-12,
        atol=1e-8,
    )
    assert result.check.trusted == [False] * len(kinks)
    assert result.check.agree
    assert result.notes, "a kink must come with a note"


@pytest.mark.parametrize("act", ACTIVATION_LIST, ids=lambda a: a.name)
def test_float32_agrees_with_its_own_tolerance(act):
    xs = [-20.0, -2.5, -0.3, 0.7, 2.5, 20.0]
    settings_32 = Settings(Dtype.float32, DEFAULT_TOLERANCE[Dtype.float32])
    result = activation_gradients(act, xs, act.resolve_params([]), settings_32)
    assert result.dtype == "float32"
    assert result.check.agree


@pytest.mark.parametrize("act", ACTIVATION_LIST, ids=lambda a: a.name)
@settings(max_examples=40, deadline=None)
@given(xs=st.lists(st.floats(-60, 60), min_size=1, max_size=8))
def test_property_analytic_equals_autograd(act, xs):
    params = act.resolve_params([])
    result = activation_gradients(act, xs, params, Settings(numeric=False))
    torch.testing.assert_close(
        torch.tensor(result.check.analytic, dtype=torch.float64),
        torch_autograd(act.name, [], xs),
        rtol=1e-12,
        atol=1e-8,
    )


# --- facts from the study notes and hand calculations -------------------------


@given(st.floats(-10, 10))
def test_sigmoid_derivative_is_sigma_minus_sigma_squared(x):
    # study notes: σ'(x) = σ(x) − σ²(x) (evaluated where σ − σ² does not cancel badly)
    s = 1 / (1 + math.exp(-x))
    result = activation_gradients(ACTIVATIONS["sigmoid"], [x], {}, Settings(numeric=False))
    assert result.check.analytic[0] == pytest.approx(s - s * s, rel=1e-10)


@given(st.floats(-20, 20))
def test_tanh_is_two_sigmoid_two_x_minus_one(x):
    # study notes: tanh(x) = 2·sigmoid(2x) − 1
    result = activation_gradients(ACTIVATIONS["tanh"], [x], {}, Settings(numeric=False))
    assert result.value[0] == pytest.approx(2 / (1 + math.exp(-2 * x)) - 1, abs=1e-12)


def test_hand_values():
    # σ'(0) = ¼; σ'(0.5) = σ(0.5)(1 − σ(0.5)) = 0.62246·0.37754 ≈ 0.2350; tanh'(0) = 1
    sig = activation_gradients(ACTIVATIONS["sigmoid"], [0, 0.5], {}, Settings()).check
    assert sig.analytic[0] == 0.25
    assert round(sig.analytic[1], 4) == 0.2350
    assert activation_gradients(ACTIVATIONS["tanh"], [0], {}, Settings()).check.analytic == [1.0]
    leaky = get_activation("leaky_relu")
    result = activation_gradients(
        leaky, [-1, 2], leaky.resolve_params(["negative_slope=0.2"]), Settings()
    )
    assert result.check.analytic == [0.2, 1.0]


def test_relu_at_zero_is_zero_and_flagged():
    result = activation_gradients(ACTIVATIONS["relu"], [0.0], {}, Settings())
    assert result.check.analytic == [0.0]
    assert result.check.numeric == [0.5]  # the two-sided average across the kink
    assert result.check.trusted == [False]
    assert result.check.agree
    assert "torch's convention" in result.notes[0]


@pytest.mark.parametrize(
    ("name", "items", "fragment"),
    [
        ("leaky_relu", ["slope=1"], "unknown parameter 'slope'"),
        ("elu", ["alpha=abc"], "expects a number, got 'abc'"),
        ("gelu", ["approximate=exact"], "must be one of: none, tanh"),
        ("softplus", ["beta=0"], "must be > 0"),
        ("celu", ["alpha=0"], "non-zero"),
        ("hardtanh", ["min_val=2"], "max_val (1) must not be less than min_val (2)"),
        ("relu", ["alpha=1"], "valid: none"),
        ("elu", ["alpha"], "KEY=VALUE"),
    ],
)
def test_bad_params(name, items, fragment):
    with pytest.raises(InputError) as err:
        get_activation(name).resolve_params(items)
    assert fragment in str(err.value)


def test_slopes_from_the_output_are_the_written_formulas_bit_for_bit():
    """σ′ = o(1 − o) and tanh′ = 1 − o², computed without scalar-first operations (faster in
    training loops), give exactly the bits of the formulas as written."""
    x = torch.linspace(-30, 30, 20001, dtype=torch.float64)
    for name, written in (("sigmoid", lambda o: o * (1 - o)), ("tanh", lambda o: 1 - o**2)):
        activation = ACTIVATIONS[name]
        o = activation.forward(x, {})
        assert torch.equal(activation.via_output[1](o), written(o)), name
        assert torch.equal(activation.derivative(x, {}), written(o)), name
