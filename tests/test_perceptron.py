"""`gradcli perceptron` core: backprop by the delta rule vs autograd vs finite differences.

Fixed values come only from hand derivations or published worked examples (sources noted);
everything else is checked against torch autograd and central differences.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcli.core.perceptron import (
    NetworkSpec,
    autograd_gradients,
    build_network,
    perceptron_gradients,
)
from gradcli.errors import InputError
from gradcli.ops.activations import ACTIVATIONS
from gradcli.ops.losses import Reduction
from gradcli.settings import Dtype, Settings, tolerance_for

FLOAT64 = Settings()
FLOAT32 = Settings(Dtype.float32, tolerance_for(Dtype.float32), numeric=True)


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


# ---------------------------------------------------------------- the study notes


# Source: the study notes (perceptron section, "单层感知机，一个节点"): with E = ½(O − t)² and
# O = σ(Σ_j W_j0 x_j), ∂E/∂W_j0 = (O − t)·O(1 − O)·x_j. The numbers below are worked from that
# formula in plain Python (math only), independent of gradcli and torch.
X10 = [0.5, -0.3, 0.8, 0.1, -0.6, 0.2, 0.9, -0.4, 0.7, -0.1]
W10 = [0.1, 0.2, -0.1, 0.3, 0.05, -0.2, 0.15, 0.1, -0.05, 0.25]


def hand_single_output(w: list[float], x: list[float], t: float) -> tuple[float, list[float]]:
    o = sigmoid(sum(wj * xj for wj, xj in zip(w, x, strict=True)))
    return o, [(o - t) * o * (1 - o) * xj for xj in x]


def test_notes_one_output_formula_half_sum():
    spec = NetworkSpec(
        weights=[[W10]],
        x=[X10],
        target=[1.0],
        reduction=Reduction.half_sum,
        activations=["sigmoid"],
    )
    result = perceptron_gradients(spec, FLOAT64)
    o, expected = hand_single_output(W10, X10, 1.0)
    assert result.outputs[0][0] == pytest.approx(o, abs=1e-15)
    assert result.loss == pytest.approx(0.5 * (o - 1) ** 2, abs=1e-15)
    layer = result.layers[0]
    assert layer.bias is None
    for got in (layer.weight.check.analytic[0], layer.weight.check.autograd[0]):
        assert got == pytest.approx(expected, abs=1e-15)
    assert result.agree


def test_notes_one_output_with_f_mse_loss_is_twice_the_half_sum_formula():
    # F.mse_loss (mean) over one output is (O − t)², twice E = ½(O − t)²: the gradient doubles.
    spec = NetworkSpec(weights=[[W10]], x=[X10], target=[1.0], reduction=Reduction.mean)
    result = perceptron_gradients(spec, FLOAT64)
    _, half = hand_single_output(W10, X10, 1.0)
    assert result.layers[0].weight.check.analytic[0] == pytest.approx([2 * g for g in half])


def test_notes_two_outputs_formula():
    # Source: the study notes ("单层感知机，多个节点"): E = ½Σ_k(O_k − t_k)²,
    # ∂E/∂W_jk = (O_k − t_k)·O_k(1 − O_k)·x_j — one row of torch's 2×10 weight per output k.
    # F.mse_loss over 2 outputs (mean) is exactly ½Σ(O − t)², so both reductions agree here.
    w2 = [W10, [-v for v in reversed(W10)]]
    expected = [hand_single_output(row, X10, 1.0)[1] for row in w2]
    for reduction in (Reduction.half_sum, Reduction.mean):
        spec = NetworkSpec(weights=[w2], x=[X10], target=[1.0, 1.0], reduction=reduction)
        result = perceptron_gradients(spec, FLOAT64)
        grads = result.layers[0].weight.check
        for k in range(2):
            assert grads.analytic[k] == pytest.approx(expected[k], abs=1e-15)
            assert grads.autograd[k] == pytest.approx(expected[k], abs=1e-15)
        assert result.agree


@pytest.mark.parametrize("outputs", [1, 2])
def test_notes_torch_examples_reproduced_from_the_seed(outputs):
    # The notes' code: x = torch.randn(1, 10); w = torch.randn(outputs, 10, requires_grad=True);
    # o = torch.sigmoid(x @ w.t()); loss = F.mse_loss(torch.ones(1, outputs), o);
    # loss.backward(); w.grad. --layers/--x-shape with the same seed draw the same x and w,
    # in float64 (torch's float32 normals differ in their last bits from CPU to CPU).
    torch.manual_seed(7)
    x = torch.randn(1, 10, dtype=torch.float64)
    w = torch.randn(outputs, 10, dtype=torch.float64, requires_grad=True)
    o = torch.sigmoid(x @ w.t())
    loss = F.mse_loss(torch.ones(1, outputs, dtype=torch.float64), o)
    loss.backward()
    spec = NetworkSpec(layer_sizes=[outputs], seed=7, no_bias=True, x_shape=(1, 10), target=[1.0])
    result = perceptron_gradients(spec, FLOAT64)
    assert result.x == x.double().tolist()
    assert result.layers[0].weight.value == w.detach().double().tolist()
    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    got = torch.tensor(result.layers[0].weight.check.analytic, dtype=torch.float64)
    assert torch.allclose(got, w.grad, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- Matt Mazur's worked example

# Source: Matt Mazur, "A Step by Step Backpropagation Example" (2015): a 2-2-2 sigmoid network,
# E = ½Σ(target − out)², learning rate 0.5. Published: E_total = 0.298371109,
# ∂E/∂w5 = 0.082167041 and the updated weights below. The tutorial does not update the biases;
# gradcli's --lr does (b − lr·∂E/∂b), so only the weights are compared with it.
MAZUR = NetworkSpec(
    weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
    biases=[[0.35, 0.35], [0.60, 0.60]],
    x=[[0.05, 0.10]],
    target=[0.01, 0.99],
    activations=["sigmoid"],
    reduction=Reduction.half_sum,
    lr=0.5,
)
MAZUR_UPDATED_OUTPUT = [[0.35891648, 0.408666186], [0.511301270, 0.561370121]]  # w5 w6 / w7 w8
MAZUR_UPDATED_HIDDEN = [[0.149780716, 0.19956143], [0.24975114, 0.29950229]]  # w1 w2 / w3 w4


@pytest.fixture(scope="module")
def mazur():
    return perceptron_gradients(MAZUR, FLOAT64)


def test_mazur_total_error(mazur):
    assert round(mazur.loss, 9) == 0.298371109


def test_mazur_dE_dw5(mazur):
    output_layer = mazur.layers[1].weight.check
    assert round(output_layer.analytic[0][0], 9) == 0.082167041
    assert round(output_layer.autograd[0][0], 9) == 0.082167041


def test_mazur_updated_weights_to_8_decimals(mazur):
    for layer, published in (
        (mazur.layers[1], MAZUR_UPDATED_OUTPUT),
        (mazur.layers[0], MAZUR_UPDATED_HIDDEN),
    ):
        for got_row, want_row in zip(layer.weight.updated, published, strict=True):
            for got, want in zip(got_row, want_row, strict=True):
                assert abs(got - want) < 5e-9, (got, want)


def test_mazur_all_three_agree_and_biases_are_stepped(mazur):
    assert mazur.agree and mazur.numeric_skipped is None
    for layer in mazur.layers:
        bias = layer.bias
        assert bias is not None and bias.updated is not None
        for b, g, new in zip(bias.value, bias.check.analytic, bias.updated, strict=True):
            assert new == pytest.approx(b - 0.5 * g, abs=1e-15)


def test_mazur_steps_hold_the_deltas(mazur):
    # Source: the same tutorial: out_o1 = 0.75136507, δ_o1 = (out − target)·out(1 − out),
    # ∂E/∂out_o1 = 0.74136507, ∂out/∂net = 0.186815602.
    spec = NetworkSpec(**{**MAZUR.__dict__, "steps": True})
    steps = perceptron_gradients(spec, FLOAT64).steps
    output = steps[1]
    assert output.is_output and not steps[0].is_output
    assert round(output.output[0][0], 8) == 0.75136507
    assert round(output.upstream[0][0], 8) == 0.74136507
    assert round(output.derivative[0][0], 9) == 0.186815602
    assert output.delta[0][0] == pytest.approx(0.74136507 * 0.186815602, abs=1e-8)
    assert "(O_k − t_k) · O_k(1 − O_k)" in output.delta_formula
    assert "Σ_k δ_k W_kj" in steps[0].delta_formula


# ---------------------------------------------------------------- registry-driven networks


def small_net(seed: int, activations: list[str], loss: str, reduction: Reduction, **extra):
    target = [1, 0] if loss == "cross_entropy" else [[0.2, 0.9], [0.7, 0.1]]
    return NetworkSpec(
        layer_sizes=[4, 2],
        seed=seed,
        x_shape=(2, 3),
        target=target,
        activations=activations,
        loss=loss,
        reduction=reduction,
        **extra,
    )


LOSS_REDUCTIONS = [
    ("mse", Reduction.mean),
    ("mse", Reduction.sum),
    ("mse", Reduction.half_sum),
    ("bce", Reduction.mean),
    ("bce", Reduction.sum),
    ("cross_entropy", Reduction.mean),
    ("cross_entropy", Reduction.sum),
]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize(("loss", "reduction"), LOSS_REDUCTIONS)
def test_every_activation_and_loss_agree_three_ways(name, loss, reduction):
    last = "sigmoid" if loss == "bce" else name  # bce takes outputs in [0, 1]
    result = perceptron_gradients(small_net(3, [name, last], loss, reduction), FLOAT64)
    assert result.numeric_skipped is None
    assert result.agree, (name, loss, result.max_abs_diff)
    for layer in result.layers:
        for grad in (layer.weight, layer.bias):
            assert grad.check.numeric is not None


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_agrees_in_float32(name):
    result = perceptron_gradients(small_net(5, [name], "mse", Reduction.mean), FLOAT32)
    assert result.agree, (name, result.max_abs_diff)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "gelu"])
def test_both_engines_give_identical_numbers(name):
    net = build_network(small_net(11, [name], "mse", Reduction.mean), FLOAT64)
    loss_grad, grads = autograd_gradients(net, "grad")
    loss_backward, backward = autograd_gradients(net, "backward")
    assert torch.equal(loss_grad, loss_backward)
    assert all(torch.equal(a, b) for a, b in zip(grads, backward, strict=True))
    first = perceptron_gradients(small_net(11, [name], "mse", Reduction.mean), FLOAT64)
    spec = small_net(11, [name], "mse", Reduction.mean, engine="backward")
    second = perceptron_gradients(spec, FLOAT64)
    assert [layer.weight.check.autograd for layer in first.layers] == [
        layer.weight.check.autograd for layer in second.layers
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    batch=st.integers(1, 3),
    inputs=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    bias=st.booleans(),
)
def test_random_shapes_agree(sizes, batch, inputs, seed, activation, bias):
    spec = NetworkSpec(
        layer_sizes=sizes,
        seed=seed,
        no_bias=not bias,
        x_shape=(batch, inputs),
        target=[0.5],
        activations=[activation],
        reduction=Reduction.sum,
    )
    result = perceptron_gradients(spec, FLOAT64)
    assert result.agree, result.max_abs_diff
    assert [layer.shape for layer in result.layers] == list(
        zip(sizes, [inputs, *sizes[:-1]], strict=True)
    )
    for layer in result.layers:
        assert (layer.bias is not None) == bias


def test_cross_entropy_logits_of_1000_stay_finite_and_agree():
    spec = NetworkSpec(
        weights=[[[1000.0, 0.0], [-1000.0, 0.0], [0.0, 1000.0]]],
        x=[[1.0, -1.0], [-1.0, 1.0]],
        target=[1, 0],
        activations=["identity"],
        loss="cross_entropy",
    )
    result = perceptron_gradients(spec, FLOAT64)
    assert math.isfinite(result.loss)
    assert result.agree
    grads = result.layers[0].weight.check.analytic
    assert all(math.isfinite(v) for row in grads for v in row)


def test_cross_entropy_output_delta_is_softmax_minus_one_hot():
    # hand: with an identity last layer and mean over N samples, δ = (softmax(O) − onehot(t))/N
    spec = NetworkSpec(
        weights=[[[1.0, 0.0], [0.0, 1.0]]],
        x=[[0.0, 0.0]],
        target=[1],
        activations=["identity"],
        loss="cross_entropy",
        steps=True,
    )
    result = perceptron_gradients(spec, FLOAT64)
    assert result.steps[0].delta == [[0.5, -0.5]]  # softmax(0, 0) = (½, ½), one-hot (0, 1)
    assert result.loss == pytest.approx(math.log(2))


def test_numeric_is_sampled_above_the_work_budget_and_says_so():
    spec = NetworkSpec(layer_sizes=[256, 10], x_shape=(64, 784), target=[1.0])
    result = perceptron_gradients(spec, FLOAT64)
    assert result.agree
    first = result.layers[0].weight.check
    assert first.numeric_sampled
    assert 0 < first.numeric_checked < 200_704
    computed = [v for row in first.numeric for v in row if v is not None]
    assert len(computed) == first.numeric_checked
    assert any("layer 1 ∂E/∂W: numeric:" in note and "sample" in note for note in result.notes)


def test_no_numeric_setting_says_so():
    settings_off = Settings(numeric=False)
    result = perceptron_gradients(small_net(1, ["tanh"], "mse", Reduction.mean), settings_off)
    assert "--no-numeric" in result.numeric_skipped


def test_relu_kink_differences_are_not_trusted():
    # X = 0 exactly at relu's kink for both hidden nodes: a step in W's column 1 moves X across
    # it, so those finite differences are flagged and left out of the verdict.
    spec = NetworkSpec(
        weights=[[[1.0, -1.0], [2.0, -2.0]], [[1.0, 1.0]]],
        x=[[1.0, 1.0]],
        target=[0.3],
        activations=["relu", "identity"],
    )
    result = perceptron_gradients(spec, FLOAT64)
    assert result.agree
    assert result.layers[0].weight.check.trusted == [[False, False], [False, False]]
    assert result.layers[1].weight.check.trusted == [[True, True]]


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        (
            NetworkSpec(weights=[[[1.0, 2.0, 3.0]]], x=[[1.0, 2.0]], target=[0.0]),
            ["layer 1", "1×3", "1×2"],
        ),
        (
            NetworkSpec(weights=[[[1.0, 2.0]], [[1.0, 2.0]]], x=[[1.0, 2.0]], target=[0.0]),
            ["layer 2", "1×2", "1×1"],
        ),
        (
            NetworkSpec(weights=[[[1.0, 2.0]]], biases=[[1.0, 2.0]], x=[[1.0, 2.0]], target=[0.0]),
            ["layer 1", "bias", "2", "1×2"],
        ),
        (NetworkSpec(weights=[[[1.0, 2.0]]], x=[[1.0, 2.0]], target=[0.0, 1.0, 2.0]), ["3", "1×1"]),
        (
            NetworkSpec(
                weights=[[[1.0, 2.0]]], x=[[1.0, 2.0]], target=[0.0], activations=["relu", "tanh"]
            ),
            ["2 activations", "1 layers"],
        ),
        (NetworkSpec(weights=[[[1.0, 2.0]]], target=[0.0]), ["--x"]),
        (NetworkSpec(weights=[[[1.0, 2.0]]], x=[[1.0, 2.0]]), ["--target"]),
        (
            NetworkSpec(weights=[[[1.0]]], layer_sizes=[2], x=[[1.0]], target=[0.0]),
            ["--weights", "--layers"],
        ),
        (
            NetworkSpec(
                weights=[[[1.0, 2.0], [3.0, 4.0]]], x=[[1.0, 2.0]], target=[2], loss="cross_entropy"
            ),
            ["class index 2", "1×2"],
        ),
        (NetworkSpec(weights=[[[1.0]]], x=[[1.0]], target=[0.0], loss="l1"), ["l1", "mse"]),
        (
            NetworkSpec(
                weights=[[[1.0]]], x=[[1.0]], target=[0.0], loss="bce", reduction=Reduction.half_sum
            ),
            ["half-sum"],
        ),
        (NetworkSpec(weights=[[[1.0]]], x=[[1.0]], target=[0.0], lr=-1.0), ["--lr"]),
    ],
)
def test_core_errors(spec, fragments):
    with pytest.raises(InputError) as error:
        perceptron_gradients(spec, FLOAT64)
    for fragment in fragments:
        assert fragment in str(error.value)
