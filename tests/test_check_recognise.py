"""`gradcli check` recognises the user's forward against the registries and names the slips
of the recognised function, and the generic patterns that need no recognised forward.

The user files are written here; every forward is written in NumPy (or torch) from its own
formula, independently of gradcli's registry.
"""

from __future__ import annotations

import textwrap

import pytest

from gradcli.ops.activations import ACTIVATIONS
from tests.conftest import invoke

# every registry activation with its default parameters, written out in NumPy
ACTIVATION_FORMULAS = {
    "sigmoid": "1 / (1 + np.exp(-x))",
    "tanh": "np.tanh(x)",
    "relu": "np.maximum(x, 0)",
    "leaky_relu": "np.where(x > 0, x, 0.01 * x)",
    "elu": "np.where(x > 0, x, np.expm1(x))",
    "selu": "1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))",
    "celu": "np.maximum(0, x) + np.minimum(0, np.expm1(x))",
    "gelu": "x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))",
    "softplus": "np.log1p(np.exp(x))",
    "silu": "x / (1 + np.exp(-x))",
    "mish": "x * np.tanh(np.log1p(np.exp(x)))",
    "softsign": "x / (1 + np.abs(x))",
    "hardtanh": "np.clip(x, -1, 1)",
    "hardsigmoid": "np.clip(x / 6 + 0.5, 0, 1)",
    "hardswish": "x * np.clip(x + 3, 0, 6) / 6",
    "relu6": "np.clip(x, 0, 6)",
    "logsigmoid": "-np.log1p(np.exp(-x))",
    "identity": "x.copy()",
}


def write(tmp_path, source: str, name: str = "user.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


def numpy_pair(tmp_path, forward: str, backward: str = "return dout.copy()") -> list[str]:
    source = (
        "import math\nimport numpy as np\n\n\ndef forward(x):\n    return "
        + forward
        + "\n\n\ndef backward(dout, x):\n    "
        + backward
        + "\n"
    )
    path = write(tmp_path, source)
    return [f"{path}:forward", "--backward", f"{path}:backward", "--numpy"]


def check(*args: str):
    run = invoke("check", *args, "--json")
    assert run.code in (0, 1), run.stderr
    return run


def codes(run) -> list[str]:
    return [d["code"] for d in run.json()["diagnoses"]]


def message(run, code: str) -> str:
    return next(d["message"] for d in run.json()["diagnoses"] if d["code"] == code)


# ------------------------------------------------------------------ recognition


def test_every_activation_has_a_formula_here():
    assert set(ACTIVATION_FORMULAS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATION_FORMULAS))
def test_every_activation_is_recognised(tmp_path, name):
    run = check(*numpy_pair(tmp_path, ACTIVATION_FORMULAS[name]), "--input", "2x3")
    data = run.json()
    note = next(note for note in data["notes"] if note.startswith("your forward is"))
    head = note.split(":")[0]  # "your forward is elu (it also matches celu)"
    if data["recognised"] != name:  # the same function under two names (celu at α = 1 is elu)
        assert f"also matches {name}" in head or f", {name}" in head, note
    else:
        assert head.startswith(f"your forward is {name}")


@pytest.mark.parametrize(
    ("formula", "name"),
    [
        ("np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True))"
         ".sum(-1, keepdims=True)", "softmax along the last dimension"),
        ("x - x.max(-1, keepdims=True) - np.log(np.exp(x - x.max(-1, keepdims=True))"
         ".sum(-1, keepdims=True))", "log-softmax along the last dimension"),
    ],
)  # fmt: skip
def test_softmax_and_log_softmax_are_recognised(tmp_path, formula, name):
    run = check(*numpy_pair(tmp_path, formula), "--input", "3x4")
    assert run.json()["recognised"] == name


def test_a_function_that_agrees_at_one_point_is_not_recognised(tmp_path):
    # the tangent of sigmoid at 0: equal to σ(0) = ½ there, and nowhere else
    run = check(*numpy_pair(tmp_path, "0.5 + x / 4", "return dout / 4"), "--input", "[0]")
    data = run.json()
    assert data["agree"] is True and data["recognised"] is None
    assert not any(note.startswith("your forward is") for note in data["notes"])


def test_a_function_equal_on_the_checked_inputs_only_is_not_recognised(tmp_path):
    # relu on the checked inputs (|x| ≤ 1), not beyond: the extra draws tell them apart
    forward = "np.where(np.abs(x) <= 1, np.maximum(x, 0), 0.0)"
    run = check(*numpy_pair(tmp_path, forward, "return dout * (x > 0)"), "--input", "6")
    assert run.json()["recognised"] is None


def test_a_loss_with_one_target_is_recognised(tmp_path):
    path = write(
        tmp_path,
        """
        import numpy as np

        def forward(pred, target):
            return np.array(((pred - target) ** 2).mean())

        def backward(dout, pred, target):
            return dout * 2 * (pred - target) / pred.size, None
        """,
    )
    args = [f"{path}:forward", "--backward", f"{path}:backward", "--numpy"]
    run = check(*args, "--input", "3x2", "--input", "3x2")
    assert run.json()["recognised"].startswith("mse loss (reduction 'mean')")


def test_a_layer_is_recognised_when_the_shapes_fit(tmp_path):
    path = write(
        tmp_path,
        """
        import numpy as np

        def forward(x, weight, bias):
            return x @ weight.T + bias

        def backward(dout, x, weight, bias):
            return dout @ weight, dout.T @ x, dout.sum(axis=0)
        """,
    )
    args = [f"{path}:forward", "--backward", f"{path}:backward", "--numpy"]
    run = check(*args, "--input", "4x3", "--input", "2x3", "--input", "2")
    assert run.code == 0 and run.json()["recognised"] == "the linear layer"


# ------------------------------------------------------------------ known slips


@pytest.mark.parametrize(
    ("backward", "fragment"),
    [
        ("s = 1 / (1 + np.exp(-x))\n    return dout * s", "itself, not its derivative"),
        ("return dout * x * (1 - x)", "with x in place of the activated value"),
        ("s = 1 / (1 + np.exp(-x))\n    t = 1 / (1 + np.exp(-s))\n    return dout * t * (1 - t)",
         "evaluated at the activated value"),
    ],
)  # fmt: skip
def test_sigmoid_slips_are_named(tmp_path, backward, fragment):
    run = check(*numpy_pair(tmp_path, "1 / (1 + np.exp(-x))", backward), "--input", "2x3")
    assert run.code == 1 and codes(run) == ["known-slip"]
    text = message(run, "known-slip")
    assert text.startswith("your forward is sigmoid") and fragment in text


def test_a_correct_sigmoid_gets_no_slip(tmp_path):
    backward = "s = 1 / (1 + np.exp(-x))\n    return dout * s * (1 - s)"
    run = check(*numpy_pair(tmp_path, "1 / (1 + np.exp(-x))", backward), "--input", "2x3")
    assert run.code == 0 and codes(run) == [] and run.json()["recognised"] == "sigmoid"


# ------------------------------------------------------------------ generic patterns: a
# planted bug is named, the same function done right gets no diagnosis

GENERIC = [
    (  # output-as-gradient: y = x·e^(−x²) is not in the registry
        "output-as-gradient",
        "x * np.exp(-x * x)",
        "return dout * x * np.exp(-x * x)",
        "return dout * (1 - 2 * x * x) * np.exp(-x * x)",
    ),
    ("identity-upstream", "x ** 3", "return dout.copy()", "return dout * 3 * x ** 2"),
    (
        "diagonal-only",
        "x / np.linalg.norm(x, axis=-1, keepdims=True)",
        "n = np.linalg.norm(x, axis=-1, keepdims=True)\n    y = x / n\n"
        "    return dout * (1 - y ** 2) / n",
        "n = np.linalg.norm(x, axis=-1, keepdims=True)\n    y = x / n\n"
        "    return (dout - y * (dout * y).sum(-1, keepdims=True)) / n",
    ),
    (
        "gradient-at-output",
        "x ** 3 + x",
        "y = x ** 3 + x\n    return dout * (3 * y ** 2 + 1)",
        "return dout * (3 * x ** 2 + 1)",
    ),
    (
        "missing-factor",
        "np.sqrt(1 + np.exp(x))",
        "return dout * 0.5 / np.sqrt(1 + np.exp(x))",
        "return dout * 0.5 * np.exp(x) / np.sqrt(1 + np.exp(x))",
    ),
    (
        "mean-vs-sum",
        "x.sum(axis=0)",
        "return np.broadcast_to(dout, x.shape) / x.shape[0]",
        "return np.broadcast_to(dout, x.shape).copy()",
    ),
]


@pytest.mark.parametrize(("code", "forward", "bad", "good"), GENERIC, ids=[g[0] for g in GENERIC])
def test_generic_pattern_is_named_and_the_fix_passes(tmp_path, code, forward, bad, good):
    run = check(*numpy_pair(tmp_path, forward, bad), "--input", "4x3")
    assert run.code == 1 and code in codes(run), codes(run)
    fixed = check(*numpy_pair(tmp_path, forward, good), "--input", "4x3")
    assert fixed.code == 0 and codes(fixed) == []


def test_mean_vs_sum_names_the_dimension(tmp_path):
    run = check(
        *numpy_pair(tmp_path, "x.sum(axis=0)", "return np.broadcast_to(dout, x.shape) / 4"),
        "--input",
        "4x3",
    )
    assert "N = 4 (x's first dimension, the batch size)" in message(run, "mean-vs-sum")


MISH = """
import torch
import torch.nn.functional as F


class Mish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.tanh(F.softplus(x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        t = torch.tanh(F.softplus(x))
        return grad_output * {derivative}
"""


def test_mish_missing_the_term_and_the_factor_is_named(tmp_path):
    path = write(tmp_path, MISH.format(derivative="torch.sigmoid(x) * (1 - t * t)"))
    run = check(f"{path}:Mish", "--input", "6")
    assert run.json()["recognised"] == "mish"
    text = message(run, "missing-factor")
    assert "tanh(softplus(x))" in text and "the factor x" in text


def test_mish_missing_only_the_product_rule_term_is_named(tmp_path):
    path = write(tmp_path, MISH.format(derivative="x * torch.sigmoid(x) * (1 - t * t)"))
    text = message(check(f"{path}:Mish", "--input", "6"), "missing-factor")
    assert "one term of the product rule" in text


def test_a_correct_mish_gets_no_diagnosis(tmp_path):
    path = write(tmp_path, MISH.format(derivative="(t + x * torch.sigmoid(x) * (1 - t * t))"))
    run = check(f"{path}:Mish", "--input", "6")
    assert run.code == 0 and codes(run) == []


# ------------------------------------------------------------------ by design

STE = """
import torch


class Round(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x * 4) / 4

    @staticmethod
    def backward(ctx, grad_output):
        return {backward}
"""


def test_straight_through_is_named_and_still_fails(tmp_path):
    path = write(tmp_path, STE.format(backward="grad_output.clone()"))
    run = check(f"{path}:Round", "--input", "0.3,-0.6,0.9,-0.2,0.45")
    assert run.code == 1 and codes(run) == ["straight-through"]
    assert "passes dout through unchanged" in message(run, "straight-through")


def test_the_true_gradient_of_a_step_function_passes(tmp_path):
    path = write(tmp_path, STE.format(backward="torch.zeros_like(grad_output)"))
    run = check(f"{path}:Round", "--input", "0.3,-0.6,0.9,-0.2,0.45")
    assert run.code == 0 and codes(run) == []


@pytest.mark.parametrize("lam", [1.0, 0.25])
def test_gradient_reversal_names_lambda(tmp_path, lam):
    path = write(
        tmp_path,
        f"""
        import torch

        class Reverse(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.clone()

            @staticmethod
            def backward(ctx, grad_output):
                return -{lam} * grad_output
        """,
    )
    run = check(f"{path}:Reverse", "--input", "2x2")
    assert run.code == 1 and codes(run) == ["gradient-reversal"]
    assert f"(λ = {lam:g})" in message(run, "gradient-reversal")


# ------------------------------------------------------------------ §2: real code


def test_batchnorm_with_a_scalar_std_says_which_entries_and_how_much(tmp_path):
    path = write(
        tmp_path,
        """
        import numpy as np

        def forward(x):
            mu = x.mean(axis=0)
            var = x.var(axis=0)
            return (x - mu) / np.std(var + 1e-5)  # the bug: np.sqrt(var + 1e-5)

        def backward(dout, x):
            n = x.shape[0]
            mu = x.mean(axis=0)
            var = x.var(axis=0)
            std = np.sqrt(var + 1e-5)
            xhat = (x - mu) / std
            return (n * dout - dout.sum(0) - xhat * (dout * xhat).sum(0)) / (n * std)
        """,
    )
    run = check(f"{path}:forward", "--backward", f"{path}:backward", "--numpy", "--input", "4x3")
    assert run.code == 1 and codes(run) == ["unexplained"]
    text = message(run, "unexplained")
    assert "all 12 checked entries" in text and "off by" in text and "the worst at" in text


def test_float32_gradient_of_an_autograd_function_is_judged_and_noted(tmp_path):
    path = write(
        tmp_path,
        """
        import torch

        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                return (2 * x * grad_output).float()
        """,
    )
    run = check(f"{path}:Square", "--input", "5")
    data = run.json()
    assert run.code == 0 and data["diagnoses"] == []
    assert data["inputs"][0]["checked_count"] == 5
    assert any("torch casts it to float64" in note for note in data["notes"])


def test_float32_gradient_of_a_numpy_pair_is_judged_and_a_finding(tmp_path):
    args = numpy_pair(tmp_path, "x * x", "return (2 * x * dout).astype(np.float32)")
    run = check(*args, "--input", "5")
    data = run.json()
    assert run.code == 1 and codes(run) == ["wrong-dtype"]
    assert data["inputs"][0]["checked_count"] == 5 and data["inputs"][0]["mismatch_count"] == 0


def test_a_keepdims_gradient_is_told_to_drop_keepdims_not_to_sum(tmp_path):
    path = write(
        tmp_path,
        """
        import numpy as np

        def forward(x, gamma):
            return x * gamma

        def backward(dout, x, gamma):
            return dout * gamma, np.sum(dout * x, axis=0, keepdims=True)
        """,
    )
    args = [f"{path}:forward", "--backward", f"{path}:backward", "--numpy"]
    run = check(*args, "--input", "4x3", "--input", "3")
    text = message(run, "wrong-shape")
    assert "keepdims" in text and "sum it over the batch" not in text


def test_dout_changed_in_place_by_an_autograd_function(tmp_path):
    path = write(
        tmp_path,
        """
        import torch

        class Relu(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.clamp(min=0)

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                grad_output[x <= 0] = 0  # the bug: grad_output.clone() first
                return grad_output
        """,
    )
    run = check(f"{path}:Relu", "--input", "6")
    assert run.code == 1 and codes(run) == ["in-place"]
    assert "dout (grad_output) in place" in message(run, "in-place")


def test_a_linear_forward_costs_two_calls_per_entry(tmp_path):
    """Evaluations go where the error estimate needs them: a linear forward's one central
    difference is exact up to rounding, so no entry is refined."""
    calls = tmp_path / "calls.txt"
    path = write(
        tmp_path,
        f"""
        import numpy as np

        def forward(x, w):
            with open({str(calls)!r}, "a") as log:
                log.write("1")
            return x @ w

        def backward(dout, x, w):
            return dout @ w.T, x.T @ dout
        """,
    )
    args = [f"{path}:forward", "--backward", f"{path}:backward", "--numpy"]
    run = check(*args, "--input", "3x4", "--input", "4x2")
    assert run.code == 0
    entries = 3 * 4 + 4 * 2
    # two per entry, a centre per input, the session forwards and the recognition's draws
    assert len(calls.read_text()) <= 2 * entries + 12
