"""--expect names the mistake a wrong answer matches (values derived here, by hand)."""

from __future__ import annotations

import math

import pytest

from tests.conftest import assert_bad_input, invoke

MAZUR = [
    "perceptron",
    "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60",
    "--x", "0.05,0.10", "--target", "0.01,0.99", "--reduction", "half-sum",
]  # fmt: skip
# Mazur's published ∂E/∂w5…w8 and the weights after one step of lr 0.5
W2_GRAD = [[0.082167041, 0.082667628], [-0.022602540, -0.022740242]]
W2_NEW = [[0.35891648, 0.408666186], [0.511301270, 0.561370121]]


def softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    return [v / sum(e) for v in e]


def written(matrix: list[list[float]], digits: int = 4) -> str:
    return ";".join(",".join(f"{v:.{digits}g}" for v in row) for row in matrix)


def hint(args: list[str], answer: str) -> str:
    run = invoke(*args, "--expect", answer, "--json")
    assert run.code == 1, run.stdout
    return run.json()["check"]["hint"] or ""


def test_cross_entropy_answer_that_forgot_to_subtract_the_target():
    p = softmax([2.0, 1.0, 0.1])
    answer = ",".join(f"{v:.4f}" for v in p)
    assert "target q was not subtracted" in hint(
        ["loss", "cross_entropy", "--pred", "2,1,0.1", "--target", "0"], answer
    )


def test_cross_entropy_batch_mean_without_the_target_subtracted():
    rows = [softmax([2.0, 1.0, 0.1]), softmax([0.5, 2.5, 0.3])]
    answer = written([[v / 2 for v in row] for row in rows])
    text = hint(
        ["loss", "cross_entropy", "--pred", "2,1,0.1;0.5,2.5,0.3", "--target", "0,1"], answer
    )
    assert "softmax(z)·0.5" in text


def test_softmax_jacobian_with_off_diagonal_signs_flipped():
    p = softmax([1.0, 2.0, 3.0])
    flipped = [[p[i] * (1 - p[i]) if i == j else p[i] * p[j] for j in range(3)] for i in range(3)]
    assert "off-diagonal signs flipped" in hint(
        ["softmax-jacobian", "1", "2", "3"], written(flipped)
    )


def test_softmax_jacobian_with_only_the_diagonal():
    p = softmax([1.0, 2.0, 3.0])
    diagonal = [p[i] * (1 - p[i]) for i in range(3)]
    as_matrix = [[diagonal[i] if i == j else 0.0 for j in range(3)] for i in range(3)]
    args = ["softmax-jacobian", "1", "2", "3"]
    assert "only the diagonal" in hint(args, written(as_matrix))
    vector = ",".join(f"{v:.4f}" for v in diagonal)
    assert "only the diagonal p_i(1 − p_i), as a vector" in hint(args, vector)


def test_perceptron_answer_that_gives_the_updated_weights():
    text = hint([*MAZUR, "--lr", "0.5"], "layer2.weight=" + written(W2_NEW, 5))
    assert "updated parameters W − 0.5·∂E/∂W" in text
    # without --lr, the usual rates are tried
    assert "W − 0.5·∂E/∂W" in hint(MAZUR, "layer2.weight=" + written(W2_NEW, 5))


def test_new_weight_checks_the_parameters_after_one_step():
    run = invoke(
        *MAZUR, "--lr", "0.5", "--expect", "layer2.new_weight=" + written(W2_NEW, 6), "--json"
    )
    assert run.code == 0, run.stdout
    assert run.json()["check"]["parts"]["layer2.new_weight"]["passed"]
    text = hint([*MAZUR, "--lr", "0.5"], "layer2.new_weight=" + written(W2_GRAD, 5))
    assert "the gradient ∂E/∂W itself" in text
    uphill = [[2 * w - w_new for w, w_new in zip(r0, r1, strict=True)]
              for r0, r1 in zip([[0.40, 0.45], [0.50, 0.55]], W2_NEW, strict=True)]  # fmt: skip
    assert "went uphill" in hint([*MAZUR, "--lr", "0.5"], "layer2.new_weight=" + written(uphill, 5))


def test_new_weight_without_lr_is_bad_input():
    assert_bad_input(invoke(*MAZUR, "--expect", "layer2.new_weight=1,2;3,4"), "--lr")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("layer0.weight", "layer1.weight"),
        ("layer3.weight", "layer2.weight"),
        ("layer0.bias", "layer1.bias"),
    ],
)
def test_an_unknown_layer_suggests_one_that_exists(key, suggestion):
    assert_bad_input(invoke(*MAZUR, "--expect", f"{key}=1"), f"did you mean '{suggestion}'?")
