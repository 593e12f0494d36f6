"""The loss registry and `gradcli.core.loss`, checked against torch.nn.functional.

Every loss × reduction × (vector, matrix): the loss value equals a direct
torch.nn.functional call, and the analytic gradient equals torch autograd of
that call and central finite differences. Fixed values are derived by hand in
the comments (or come from torch's documentation, as noted).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.core.engine import gradient_autograd, numeric_gradient
from gradcli.core.loss import loss_gradients
from gradcli.errors import InputError
from gradcli.ops.losses import LOSS_LIST, LOSSES, Reduction, TargetKind, get_loss
from gradcli.settings import Dtype, Settings, tolerance_for

SHAPES = {"vector": (4,), "matrix": (3, 4)}
FLOAT64 = Settings()
FLOAT32 = Settings(Dtype.float32, tolerance_for(Dtype.float32))
CASES = [
    (loss.name, reduction, shape)
    for loss in LOSS_LIST
    for reduction in loss.reductions
    for shape in SHAPES
]
DEFAULT_PARAMS = {loss.name: {p.name: p.default for p in loss.params} for loss in LOSS_LIST}


def sample(name: str, shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Valid random (pred, target) for a loss, in float64; class targets as int64."""
    g = torch.Generator().manual_seed(seed)

    def normal(*size: int) -> torch.Tensor:
        return torch.randn(*size, generator=g, dtype=torch.float64)

    def uniform(*size: int) -> torch.Tensor:
        return torch.rand(*size, generator=g, dtype=torch.float64)

    if name in ("mse", "l1", "huber", "smooth_l1"):
        return 2 * normal(*shape), 2 * normal(*shape)
    if name == "bce":
        return 0.05 + 0.9 * uniform(*shape), uniform(*shape)
    if name == "bce_with_logits":
        return 3 * normal(*shape), uniform(*shape)
    if name == "cross_entropy":
        return 2 * normal(*shape), torch.randint(shape[-1], shape[:-1], generator=g)
    if name == "nll":
        return torch.log_softmax(normal(*shape), dim=-1), torch.randint(
            shape[-1], shape[:-1], generator=g
        )
    if name == "kl_div":
        return torch.log_softmax(normal(*shape), dim=-1), torch.softmax(normal(*shape), dim=-1)
    raise AssertionError(name)


def torch_reference(name: str, y: torch.Tensor, t: torch.Tensor, reduction: Reduction, p: dict):
    """The loss written directly with torch.nn.functional (not through the registry)."""
    if reduction is Reduction.half_sum:
        assert name == "mse"
        return 0.5 * F.mse_loss(y, t, reduction="sum")
    r = reduction.value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kl_div 'mean' vs 'batchmean'
        return {
            "mse": lambda: F.mse_loss(y, t, reduction=r),
            "l1": lambda: F.l1_loss(y, t, reduction=r),
            "huber": lambda: F.huber_loss(y, t, reduction=r, delta=p["delta"]),
            "smooth_l1": lambda: F.smooth_l1_loss(y, t, reduction=r, beta=p["beta"]),
            "bce": lambda: F.binary_cross_entropy(y, t, reduction=r),
            "bce_with_logits": lambda: F.binary_cross_entropy_with_logits(y, t, reduction=r),
            "cross_entropy": lambda: F.cross_entropy(
                y, t, reduction=r, label_smoothing=p["label_smoothing"]
            ),
            "nll": lambda: F.nll_loss(y, t, reduction=r),
            "kl_div": lambda: F.kl_div(y, t, reduction=r, log_target=p["log_target"] == "true"),
        }[name]()


def test_registry_names_and_lookup():
    assert set(LOSSES) == {
        "mse",
        "l1",
        "huber",
        "smooth_l1",
        "bce",
        "bce_with_logits",
        "cross_entropy",
        "nll",
        "kl_div",
    }
    assert get_loss("bce") is LOSSES["bce"]
    with pytest.raises(InputError, match="did you mean 'cross_entropy'"):
        get_loss("cross_entopy")


def test_half_sum_only_for_mse():
    for loss in LOSS_LIST:
        assert (Reduction.half_sum in loss.reductions) == (loss.name == "mse")


@pytest.mark.parametrize(("name", "reduction", "shape"), CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_gradient_match_torch(name, reduction, shape, seed):
    loss = LOSSES[name]
    params = DEFAULT_PARAMS[name]
    y, t = sample(name, SHAPES[shape], seed)
    reference = torch_reference(name, y, t, reduction, params)
    assert torch.allclose(loss.forward(y, t, reduction, params), reference, rtol=1e-12, atol=0)

    analytic = loss.gradient(y, t, reduction, params)
    autograd = gradient_autograd(lambda x: torch_reference(name, x, t, reduction, params), y)
    numeric = numeric_gradient(lambda x: torch_reference(name, x, t, reduction, params), y).value
    assert analytic.shape == y.shape
    assert torch.allclose(analytic, autograd, rtol=1e-10, atol=1e-12)
    assert torch.allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("name", "reduction", "shape"), CASES)
@pytest.mark.parametrize("config", [FLOAT64, FLOAT32], ids=["float64", "float32"])
def test_core_agrees_for_every_case(name, reduction, shape, config):
    y, t = sample(name, SHAPES[shape], seed=7)
    result = loss_gradients(
        LOSSES[name], y.tolist(), t.tolist(), reduction, DEFAULT_PARAMS[name], config
    )
    assert result.check.agree, (result.check.max_abs_diff, result.notes)
    expected = torch_reference(name, y, t, reduction, DEFAULT_PARAMS[name])
    assert math.isclose(result.loss, float(expected), rel_tol=1e-5 if config is FLOAT32 else 1e-12)
    assert result.dtype == config.dtype.value
    header, rows = result.csv_rows()
    assert len(rows) == y.numel()
    assert header[: 2 if shape == "matrix" else 1] == (
        ["row", "col"] if shape == "matrix" else ["i"]
    )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("huber", {"delta": 0.3}),
        ("huber", {"delta": 5.0}),
        ("smooth_l1", {"beta": 0.25}),
        ("smooth_l1", {"beta": 0.0}),
        ("cross_entropy", {"label_smoothing": 0.2}),
        ("kl_div", {"log_target": "true"}),
    ],
)
@pytest.mark.parametrize("reduction", [Reduction.mean, Reduction.sum])
def test_non_default_parameters_match_torch(name, params, reduction):
    y, t = sample(name, (3, 4), seed=3)
    if name == "kl_div":
        t = torch.log(t)
    loss = LOSSES[name]
    reference = torch_reference(name, y, t, reduction, params)
    assert torch.allclose(loss.forward(y, t, reduction, params), reference, rtol=1e-12)
    analytic = loss.gradient(y, t, reduction, params)
    autograd = gradient_autograd(lambda x: torch_reference(name, x, t, reduction, params), y)
    assert torch.allclose(analytic, autograd, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", [Reduction.mean, Reduction.sum])
def test_cross_entropy_probability_targets_match_torch(smoothing, reduction):
    z = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]], dtype=torch.float64)
    q = torch.tensor([[0.2, 0.5, 0.3], [0.0, 0.25, 0.75]], dtype=torch.float64)
    params = {"label_smoothing": smoothing}
    reference = F.cross_entropy(z, q, reduction=reduction.value, label_smoothing=smoothing)
    loss = LOSSES["cross_entropy"]
    assert torch.allclose(loss.forward(z, q, reduction, params), reference, rtol=1e-12)
    autograd = gradient_autograd(
        lambda x: F.cross_entropy(x, q, reduction=reduction.value, label_smoothing=smoothing), z
    )
    assert torch.allclose(loss.gradient(z, q, reduction, params), autograd, rtol=1e-10, atol=1e-12)


def test_mean_follows_torch_divisors():
    """cross_entropy and nll: mean over samples; mse: over elements; kl_div: over elements."""
    ce = LOSSES["cross_entropy"]
    assert ce.divisor((3, 4)) == 3 and ce.divisor((4,)) == 1
    assert LOSSES["nll"].divisor((5, 2)) == 5
    assert LOSSES["mse"].divisor((3, 4)) == 12
    assert LOSSES["kl_div"].divisor((3, 4)) == 12  # torch's 'mean', not 'batchmean'
    y, t = sample("kl_div", (3, 4), seed=5)
    p = DEFAULT_PARAMS["kl_div"]
    total = LOSSES["kl_div"].forward(y, t, Reduction.sum, p)
    assert torch.allclose(LOSSES["kl_div"].forward(y, t, Reduction.mean, p), total / 12)
    assert torch.allclose(F.kl_div(y, t, reduction="batchmean"), total / 3)


def test_hand_derived_mse_values_and_conventions():
    # y = (1, 2, 3), t = (0, 2, 5): Σ(y − t)² = 1 + 0 + 4 = 5
    y = [1.0, 2.0, 3.0]
    t = [0.0, 2.0, 5.0]
    mse = LOSSES["mse"]
    expected = {
        Reduction.mean: (5 / 3, [2 / 3, 0.0, -4 / 3]),  # 2(y − t)/n
        Reduction.sum: (5.0, [2.0, 0.0, -4.0]),  # 2(y − t)
        Reduction.half_sum: (2.5, [1.0, 0.0, -2.0]),  # (y − t)
    }
    for reduction, (value, gradient) in expected.items():
        result = loss_gradients(mse, y, t, reduction, {}, FLOAT64)
        assert math.isclose(result.loss, value, rel_tol=1e-15)
        assert result.check.analytic == pytest.approx(gradient, rel=1e-15)
        assert result.check.agree
    assert mse.reduced_gradient_formula(Reduction.mean) == "∂L/∂y = 2(y − t)/n"
    assert mse.reduced_gradient_formula(Reduction.sum) == "∂L/∂y = 2(y − t)"
    assert mse.reduced_gradient_formula(Reduction.half_sum).startswith("∂E/∂y = (y − t)")


def test_hand_derived_cross_entropy():
    # z = (0, 0), t = 0: softmax = (½, ½), ℓ = log 2, ∂ℓ/∂z = (½ − 1, ½) = (−½, ½)
    result = loss_gradients(
        LOSSES["cross_entropy"],
        [0.0, 0.0],
        [0.0],
        Reduction.mean,
        {"label_smoothing": 0.0},
        FLOAT64,
    )
    assert math.isclose(result.loss, math.log(2), rel_tol=1e-15)
    assert result.check.analytic == pytest.approx([-0.5, 0.5], rel=1e-15)
    assert result.target == [0]
    assert result.target_kind == "class indices"
    # two samples, mean over N = 2: each row's gradient is halved
    result = loss_gradients(
        LOSSES["cross_entropy"],
        [[0.0, 0.0], [0.0, 0.0]],
        [0.0, 1.0],
        Reduction.mean,
        {"label_smoothing": 0.0},
        FLOAT64,
    )
    assert result.check.analytic == [[-0.25, 0.25], [0.25, -0.25]]  # exact in binary


def test_hand_derived_nll_and_kl():
    # nll: ℓ = −x_t; x = (−1, −2), t = 1 → 2, gradient (0, −1)
    result = loss_gradients(LOSSES["nll"], [-1.0, -2.0], [1.0], Reduction.sum, {}, FLOAT64)
    assert result.loss == 2.0
    assert result.check.analytic == [0.0, -1.0]
    # kl_div: t = (½, ½), x = log(½, ½) → 0; gradient −t/n = (−¼, −¼)
    half = math.log(0.5)
    result = loss_gradients(
        LOSSES["kl_div"], [half, half], [0.5, 0.5], Reduction.mean, {"log_target": "false"}, FLOAT64
    )
    assert abs(result.loss) < 1e-15
    assert result.check.analytic == pytest.approx([-0.25, -0.25])


@pytest.mark.parametrize("config", [FLOAT64, FLOAT32], ids=["float64", "float32"])
def test_cross_entropy_logits_of_thousand(config):
    # z = (1000, −1000, 0), t = 1: log Σe^z = 1000 (other terms < e^−1000),
    # ℓ = 1000 − (−1000) = 2000; ∂ℓ/∂z = softmax − onehot = (1, −1, 0)
    result = loss_gradients(
        LOSSES["cross_entropy"],
        [1000.0, -1000.0, 0.0],
        [1.0],
        Reduction.sum,
        {"label_smoothing": 0.0},
        config,
    )
    assert math.isfinite(result.loss) and math.isclose(result.loss, 2000.0, rel_tol=1e-7)
    assert result.check.analytic == pytest.approx([1.0, -1.0, 0.0], abs=1e-7)
    assert result.check.agree


@pytest.mark.parametrize("config", [FLOAT64, FLOAT32], ids=["float64", "float32"])
def test_bce_with_logits_of_thousand(config):
    # z = 1000, t = 0: ℓ = log(1 + e^1000) = 1000 (+ e^−1000), ∂ℓ/∂z = σ(1000) − 0 = 1
    # z = −1000, t = 1: ℓ = log(1 + e^1000) = 1000, ∂ℓ/∂z = σ(−1000) − 1 = −1
    result = loss_gradients(
        LOSSES["bce_with_logits"], [1000.0, -1000.0], [0.0, 1.0], Reduction.sum, {}, config
    )
    assert math.isclose(result.loss, 2000.0, rel_tol=1e-7)
    assert result.check.analytic == pytest.approx([1.0, -1.0], abs=1e-7)
    assert result.check.agree


@pytest.mark.parametrize("config", [FLOAT64, FLOAT32], ids=["float64", "float32"])
def test_bce_clamps_log_at_minus_100(config):
    # torch docs: BCELoss "clamps its log function outputs to be greater than or equal to −100".
    # y = 0, t = 1: ℓ = −max(log 0, −100) = 100;  y = 1, t = 1: ℓ = 0;  y = 0, t = 0: ℓ = 0
    result = loss_gradients(
        LOSSES["bce"], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], Reduction.sum, {}, config
    )
    assert math.isclose(result.loss, 100.0, rel_tol=1e-6)
    assert result.check.agree
    assert result.check.trusted == [False, False, False]  # finite differences left out
    assert result.check.analytic == result.check.autograd
    assert result.check.analytic[1] == 0.0 and result.check.analytic[2] == 0.0
    assert any("−100" in note for note in result.notes)


def test_bce_inside_unit_interval_trusts_finite_differences():
    result = loss_gradients(LOSSES["bce"], [0.2, 0.7], [1.0, 0.0], Reduction.mean, {}, FLOAT64)
    assert result.check.trusted == [True, True]
    assert result.notes == []
    # (y − t)/(y(1 − y))/n: (0.2 − 1)/(0.16)/2 = −2.5; 0.7/0.21/2 = 5/3
    assert result.check.analytic == pytest.approx([-2.5, 5 / 3], rel=1e-14)


def test_l1_at_its_kink_follows_torch_and_distrusts_finite_differences():
    result = loss_gradients(LOSSES["l1"], [1.0, 2.0], [1.0, 0.0], Reduction.sum, {}, FLOAT64)
    assert result.check.analytic == [0.0, 1.0]  # sign(0) = 0
    assert result.check.trusted == [False, True]
    assert result.check.agree
    assert any("y = t" in note for note in result.notes)


# ---------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    ("name", "pred", "target", "params", "fragment"),
    [
        ("mse", [1.0, 2.0], [1.0, 2.0, 3.0], {}, "same shape"),
        ("bce", [1.5, 0.5], [1.0, 0.0], {}, "--pred value 1.5 is outside [0, 1]"),
        ("bce", [-0.1], [1.0], {}, "--pred value -0.1"),
        ("bce", [0.5, 0.5], [1.0, 2.0], {}, "--target value 2 is outside [0, 1]"),
        ("bce_with_logits", [5.0], [1.5], {}, "--target value 1.5"),
        (
            "cross_entropy",
            [[1.0, 2.0], [3.0, 4.0]],
            [0.0, 2.0],
            {"label_smoothing": 0.0},
            "class index 2",
        ),
        (
            "cross_entropy",
            [[1.0, 2.0], [3.0, 4.0]],
            [0.0, 0.5],
            {"label_smoothing": 0.0},
            "0.5 is not an integer",
        ),
        (
            "cross_entropy",
            [[1.0, 2.0], [3.0, 4.0]],
            [0.0, -1.0],
            {"label_smoothing": 0.0},
            "class index -1",
        ),
        (
            "cross_entropy",
            [[1.0, 2.0], [3.0, 4.0]],
            [0.0, 1.0, 1.0],
            {"label_smoothing": 0.0},
            "one class index per row",
        ),
        (
            "cross_entropy",
            [1.0, 2.0, 3.0],
            [0.2, 0.2, 0.5],
            {"label_smoothing": 0.0},
            "sums to 0.9, not 1",
        ),
        (
            "cross_entropy",
            [[1.0, 2.0], [1.0, 2.0]],
            [[0.5, 0.5], [0.9, 0.3]],
            {"label_smoothing": 0.0},
            "row 1 of --target sums to 1.2",
        ),
        ("nll", [[-1.0, -2.0]], [[0.5, 0.5]], {}, "nll takes class indices"),
        ("nll", [-1.0, -2.0], [3.0], {}, "class index 3"),
        ("kl_div", [-1.0, -1.0], [0.5, 0.6], {"log_target": "false"}, "sums to 1.1"),
        ("kl_div", [-1.0, -1.0], [1.5, -0.5], {"log_target": "false"}, "1.5 is outside"),
        ("kl_div", [-1.0, -1.0], [0.0, 0.0], {"log_target": "true"}, "exp(--target) sums to 2"),
    ],
)
def test_bad_targets_and_predictions_are_input_errors(name, pred, target, params, fragment):
    with pytest.raises(InputError) as error:
        loss_gradients(LOSSES[name], pred, target, Reduction.mean, params, FLOAT64)
    assert fragment in str(error.value)


@pytest.mark.parametrize("name", [loss.name for loss in LOSS_LIST if loss.name != "mse"])
def test_half_sum_is_rejected_outside_mse(name):
    y, t = sample(name, (2, 3), seed=0)
    with pytest.raises(InputError, match=r"half-sum.*only defined for the squared error mse"):
        loss_gradients(
            LOSSES[name], y.tolist(), t.tolist(), Reduction.half_sum, DEFAULT_PARAMS[name], FLOAT64
        )
    with pytest.raises(InputError, match="half-sum"):
        LOSSES[name].forward(y, t, Reduction.half_sum, DEFAULT_PARAMS[name])


def test_probability_sum_tolerance_accepts_decimal_rounding():
    # 0.1 + 0.2 + 0.7 is 0.9999999999999999 in binary floating point
    result = loss_gradients(
        LOSSES["cross_entropy"],
        [1.0, 2.0, 3.0],
        [0.1, 0.2, 0.7],
        Reduction.mean,
        {"label_smoothing": 0.0},
        FLOAT64,
    )
    assert result.target_kind == "probabilities"
    assert result.check.agree


# ---------------------------------------------------------------- properties

finite = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.01, max_value=0.99)


SIZES = st.integers(min_value=1, max_value=6)


def _vectors(elements):
    return SIZES.flatmap(
        lambda n: st.tuples(
            st.lists(elements, min_size=n, max_size=n), st.lists(elements, min_size=n, max_size=n)
        )
    )


@settings(max_examples=40, deadline=None)
@given(_vectors(finite), st.sampled_from(["mse", "l1", "huber", "smooth_l1"]))
def test_mean_gradient_is_sum_gradient_over_n(pair, name):
    y, t = (torch.tensor(v, dtype=torch.float64) for v in pair)
    loss, p = LOSSES[name], DEFAULT_PARAMS[name]
    mean = loss.gradient(y, t, Reduction.mean, p)
    total = loss.gradient(y, t, Reduction.sum, p)
    assert torch.allclose(mean * y.numel(), total, rtol=1e-12, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(_vectors(finite))
def test_mse_half_sum_gradient_is_y_minus_t(pair):
    y, t = (torch.tensor(v, dtype=torch.float64) for v in pair)
    grad = LOSSES["mse"].gradient(y, t, Reduction.half_sum, {})
    assert torch.allclose(grad, y - t, rtol=0, atol=0)


@settings(max_examples=40, deadline=None)
@given(_vectors(finite), st.floats(min_value=0.1, max_value=5))
def test_robust_losses_bound_their_gradients(pair, width):
    y, t = (torch.tensor(v, dtype=torch.float64) for v in pair)
    huber = LOSSES["huber"].gradient(y, t, Reduction.sum, {"delta": width})
    smooth = LOSSES["smooth_l1"].gradient(y, t, Reduction.sum, {"beta": width})
    l1 = LOSSES["l1"].gradient(y, t, Reduction.sum, {})
    assert bool((huber.abs() <= width + 1e-12).all())
    assert bool((smooth.abs() <= 1 + 1e-12).all())
    assert set(l1.tolist()) <= {-1.0, 0.0, 1.0}
    # huber with δ is β·smooth_l1 with β = δ (torch's documented relation)
    assert torch.allclose(huber, width * smooth, rtol=1e-12, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=-1000, max_value=1000), min_size=2, max_size=6),
    st.data(),
    st.floats(min_value=-100, max_value=100),
)
def test_cross_entropy_rows_sum_to_zero_and_ignore_shifts(logits, data, shift):
    z = torch.tensor([logits], dtype=torch.float64)
    t = torch.tensor([data.draw(st.integers(min_value=0, max_value=len(logits) - 1))])
    ce, p = LOSSES["cross_entropy"], {"label_smoothing": 0.0}
    grad = ce.gradient(z, t, Reduction.sum, p)
    assert bool(torch.isfinite(grad).all())
    assert abs(float(grad.sum())) < 1e-12
    assert torch.allclose(ce.gradient(z + shift, t, Reduction.sum, p), grad, atol=1e-12)
    autograd = gradient_autograd(lambda x: F.cross_entropy(x, t, reduction="sum"), z)
    assert torch.allclose(grad, autograd, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=-1000, max_value=1000), min_size=1, max_size=6),
    st.data(),
)
def test_bce_with_logits_gradient_is_finite_and_bounded(logits, data):
    z = torch.tensor(logits, dtype=torch.float64)
    t = torch.tensor(
        data.draw(st.lists(st.floats(0, 1), min_size=len(logits), max_size=len(logits))),
        dtype=torch.float64,
    )
    grad = LOSSES["bce_with_logits"].gradient(z, t, Reduction.sum, {})
    assert bool(((grad >= -1) & (grad <= 1)).all())
    autograd = gradient_autograd(
        lambda x: F.binary_cross_entropy_with_logits(x, t, reduction="sum"), z
    )
    assert torch.allclose(grad, autograd, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(_vectors(unit))
def test_bce_three_ways_inside_the_interval(pair):
    y, t = pair
    result = loss_gradients(LOSSES["bce"], y, t, Reduction.mean, {}, FLOAT64)
    assert result.check.agree


def test_every_loss_documents_its_inputs_and_formulas():
    for loss in LOSS_LIST:
        assert loss.formula.startswith("ℓ = ")
        assert loss.gradient_formula.startswith("∂ℓ/∂")
        assert loss.pred_is and loss.target_is
        for reduction in loss.reductions:
            assert loss.reduced_gradient_formula(reduction)
        if loss.target_kind is not TargetKind.values:
            assert "N" in loss.reduced_gradient_formula(Reduction.mean)


def test_markdown_table_lists_every_loss():
    from gradcli.ops.losses import markdown_table

    lines = markdown_table().splitlines()
    assert len(lines) == 2 + len(LOSS_LIST)
    for loss, line in zip(LOSS_LIST, lines[2:], strict=True):
        assert line.startswith(f"| {loss.name} |")
        assert line.count(" | ") == 6  # pipes inside formulas are escaped


@pytest.mark.parametrize(("name", "reduction", "shape"), CASES)
def test_few_entry_path_gives_the_tensor_paths_bits(name, reduction, shape, monkeypatch):
    """The loss's finite differences on Python floats (a few entries) and on tensors (many)
    are the same numbers to the last bit: both build the same tensors for the loss."""
    from gradcli.core import engine
    from gradcli.core.loss import numeric_loss_gradient

    y, t = sample(name, SHAPES[shape], seed=3)
    loss, params = LOSSES[name], DEFAULT_PARAMS[name]
    runs = []
    for small in (10**6, 0):
        monkeypatch.setattr(engine, "SMALL_ENTRIES", small)
        runs.append(numeric_loss_gradient(loss, y, t, reduction, params, FLOAT64.tolerance))
    fast, slow = runs
    assert fast.lists is not None and slow.lists is None  # the two paths really ran
    for field in ("value", "error", "step", "checked"):
        assert torch.equal(getattr(fast, field), getattr(slow, field)), field
