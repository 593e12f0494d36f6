"""`gradcli check` diagnoses on small planted mistakes: each offered only when it explains
every wrong entry, and "unexplained" when nothing does. The user files are written here."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import invoke


def write(tmp_path, source: str, name: str = "layer.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


def check(*args: str):
    return invoke("check", *args, "--json")


def codes(run) -> list[str]:
    return [d["code"] for d in run.json()["diagnoses"]]


PAIR_HEADER = """
import numpy as np
"""


def pair(tmp_path, forward: str, backward: str) -> list[str]:
    path = write(tmp_path, PAIR_HEADER + textwrap.dedent(forward) + textwrap.dedent(backward))
    return [f"{path}:forward", "--backward", f"{path}:backward", "--numpy"]


def test_scattered_wrong_entries_are_unexplained_not_guessed(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return x ** 3\n",
        "def backward(dout, x):\n    g = 3 * x**2 * dout\n    g.flat[[1, 6, 8]] *= 1.5\n"
        "    return g\n",
    )
    run = check(*args, "--input", "1,2,3;-1,-2,-3;0.5,0.25,2")
    assert run.code == 1
    assert codes(run) == ["unexplained"]
    message = run.json()["diagnoses"][0]["message"]
    assert "3 wrong entries" in message and "[0, 1]" in message


def test_a_factor_on_part_of_the_entries_is_not_called_a_constant_factor(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return x ** 2\n",
        "def backward(dout, x):\n    g = 2 * x * dout\n    g[0] *= 2\n    return g\n",
    )
    run = check(*args, "--input", "3x3")
    data = run.json()
    assert run.code == 1 and "constant-factor" not in codes(run)
    region = data["diagnoses"][0]
    assert region["code"] == "region"
    assert "row 0 of x" in region["message"] and "2 × the true one" in region["message"]


def test_a_sub_block_is_described(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return np.sin(x)\n",
        "def backward(dout, x):\n    g = np.cos(x) * dout\n    g[1:3, 2:4] = 0.0\n    return g\n",
    )
    run = check(*args, "--input", "4x5")
    message = run.json()["diagnoses"][0]["message"]
    assert codes(run) == ["region"]
    assert "block x[1:3, 2:4]" in message and "yours is 0" in message


def test_one_channel_of_a_3d_input(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return x * x.sum()\n",
        "def backward(dout, x):\n    g = dout * x.sum() + (dout * x).sum()\n"
        "    g[:, 1, :] *= -1\n    return g\n",
    )
    run = check(*args, "--input", "2x3x2")
    assert codes(run) == ["region"]
    message = run.json()["diagnoses"][0]["message"]
    assert "channel 1 of x" in message and "−1 × the true one" in message


def test_dout_squared_is_not_linear(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return 2 * x\n",
        "def backward(dout, x):\n    return 2 * dout**2\n",
    )
    run = check(*args, "--input", "3")
    assert run.code == 1 and codes(run) == ["not-linear"]


def test_upstream_ignored_with_a_scalar_output_is_still_caught(tmp_path):
    # with one output, dout = 1 hides the mistake from the Jacobian: only 2.5·dout shows it
    args = pair(
        tmp_path,
        "def forward(x):\n    return (x ** 2).sum()\n",
        "def backward(dout, x):\n    return 2 * x\n",
    )
    run = check(*args, "--input", "4")
    data = run.json()
    assert data["inputs"][0]["mismatch_count"] == 0  # every Jacobian entry is right…
    assert run.code == 1 and codes(run) == ["upstream-ignored"]  # …and yet it is wrong


def test_float32_gradient_for_float64_input(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return 3 * x\n",
        "def backward(dout, x):\n    return (3 * dout).astype(np.float32)\n",
    )
    run = check(*args, "--input", "3")
    assert run.code == 1 and codes(run) == ["wrong-dtype"]
    assert "float32" in run.json()["diagnoses"][0]["message"]


def test_flattened_gradient_is_right_values_wrong_shape(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return 3 * x\n",
        "def backward(dout, x):\n    return (3 * dout).reshape(-1)\n",
    )
    run = check(*args, "--input", "2x3")
    assert codes(run) == ["wrong-shape"]
    assert "reshape it to 2×3" in run.json()["diagnoses"][0]["message"]


def test_transposed_weight_gradient_of_the_other_shape(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x, W):\n    return x @ W.T\n",
        "def backward(dout, x, W):\n    return dout @ W, x.T @ dout\n",
    )
    run = check(*args, "--input", "4x3", "--input", "2x3")
    diagnosis = run.json()["diagnoses"][0]
    assert diagnosis["code"] == "transposed" and diagnosis["input"] == "W"
    assert "shape 3×2" in diagnosis["message"]


def test_gradients_in_the_wrong_order_with_different_shapes(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x, W):\n    return x @ W.T\n",
        "def backward(dout, x, W):\n    return dout.T @ x, dout @ W\n",
    )
    run = check(*args, "--input", "4x3", "--input", "2x3")
    assert set(codes(run)) == {"wrong-input"}
    assert "true gradient of W" in run.json()["diagnoses"][0]["message"]


def test_jacobian_transposed_for_a_matrix_product(tmp_path):
    path = write(
        tmp_path,
        """
        import torch

        A = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [0.0, 4.0, 1.5]], dtype=torch.float64)

        class Apply(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return A @ x

            @staticmethod
            def backward(ctx, dout):
                return A @ dout  # should be A.T @ dout
        """,
    )
    run = check(f"{path}:Apply", "--input", "3")
    assert codes(run) == ["transposed"]
    assert "J·dout instead of Jᵀ·dout" in run.json()["diagnoses"][0]["message"]


def test_zero_gradient(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return np.exp(x)\n",
        "def backward(dout, x):\n    return np.zeros_like(x)\n",
    )
    assert codes(check(*args, "--input", "3")) == ["zero"]


def test_nan_in_the_gradient(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return np.exp(x)\n",
        "def backward(dout, x):\n    g = dout * np.exp(x)\n    g[1] = np.nan\n    return g\n",
    )
    run = check(*args, "--input", "3")
    assert run.code == 1 and codes(run) == ["non-finite"]
    assert run.json()["inputs"][0]["mismatches"] == [[1]]


def test_none_is_fine_where_the_true_gradient_is_zero(tmp_path):
    path = write(
        tmp_path,
        """
        import torch

        class FirstOnly(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, unused):
                return 2 * x

            @staticmethod
            def backward(ctx, dout):
                return 2 * dout, None
        """,
    )
    run = check(f"{path}:FirstOnly", "--input", "3", "--input", "3")
    assert run.code == 0, run.stdout
    assert run.json()["diagnoses"] == []


def test_torch_sums_a_broadcast_bias_gradient_and_so_does_check(tmp_path):
    path = write(
        tmp_path,
        """
        import torch

        class AddBias(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, b):
                return x + b

            @staticmethod
            def backward(ctx, dout):
                return dout, dout  # torch sums the second over the batch
        """,
    )
    run = check(f"{path}:AddBias", "--input", "4x3", "--input", "3")
    assert run.code == 0
    assert any("torch sums it" in note for note in run.json()["notes"])


def test_plain_function_with_a_detach_is_detached(tmp_path):
    path = write(
        tmp_path,
        """
        def scaled(x, w):
            return x * w.detach()
        """,
    )
    run = check(f"{path}:scaled", "--input", "3", "--input", "3")
    assert run.code == 1 and codes(run) == ["detached"]
    assert run.json()["diagnoses"][0]["input"] == "w"


def test_plain_function_through_a_custom_op(tmp_path):
    path = write(
        tmp_path,
        """
        import torch

        class Cube(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, dout):
                (x,) = ctx.saved_tensors
                return 3 * x * dout  # should be 3 x²

        def layer(x, w):
            return Cube.apply(x) * w
        """,
    )
    run = check(f"{path}:layer", "--input", "2x2", "--input", "2x2")
    data = run.json()
    assert run.code == 1 and data["kind"] == "function"
    assert data["inputs"][1]["mismatch_count"] == 0  # w's gradient does not go through Cube
    assert data["inputs"][0]["mismatch_count"] == 4


def test_in_place_in_backward(tmp_path):
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
            def backward(ctx, dout):
                (x,) = ctx.saved_tensors
                return dout * x.mul_(2)  # right value, but x itself is doubled
        """,
    )
    run = check(f"{path}:Square", "--input", "3")
    messages = [d["message"] for d in run.json()["diagnoses"] if d["code"] == "in-place"]
    assert run.code == 1 and messages
    assert messages[0].startswith("backward changed its input x in place")


def test_kink_at_a_literal_zero_is_not_judged_and_said(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return np.maximum(x, 0)\n",
        "def backward(dout, x):\n    return dout * (x > 0)\n",
    )
    run = check(*args, "--input", "-1,0,2")
    data = run.json()
    assert run.code == 0
    assert data["inputs"][0]["checked_count"] == 2
    assert any("not judged" in note for note in data["notes"])


def test_random_inputs_stay_away_from_zero(tmp_path):
    args = pair(
        tmp_path,
        "def forward(x):\n    return np.abs(x)\n",
        "def backward(dout, x):\n    return dout * np.sign(x)\n",
    )
    run = check(*args, "--input", "20x20", "--seed", "7")
    values = [abs(v) for row in run.json()["inputs"][0]["values"] for v in row]
    assert run.code == 0 and min(values) >= 0.1 and max(values) <= 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 12345])
def test_no_false_alarms_across_seeds(seed):
    from tests.test_check import run_example

    for name in ("softmax_torch.py", "batchnorm_numpy.py", "conv1d_torch.py"):
        run = run_example(name, "--seed", str(seed), "--quiet")
        assert run.code == 0, (name, seed)


def test_a_float32_forward_cannot_earn_a_tick(tmp_path):
    # its finite differences in float64 inputs are float32-coarse: nothing can be judged
    path = write(tmp_path, "import torch\n\ndef f(x):\n    return torch.sin(x.float())\n")
    run = check(f"{path}:f", "--input", "4")
    data = run.json()
    assert run.code == 1 and data["agree"] is False
    assert data["inputs"][0]["checked_count"] == 0
    assert any("returns float32 for float64 inputs" in note for note in data["notes"])
    table = invoke("check", f"{path}:f", "--input", "4").stdout
    assert "not verified" in table and "✓ your gradients are right" not in table


def test_second_order_of_a_torch_pair(tmp_path):
    from tests.test_check import run_example

    good = run_example("batchnorm_torch.py", "--order", "2", "--json").json()
    assert good["agree"] is True
    assert [b["input"] for b in good["second_order"]] == ["x", "gamma", "beta", "dout"]
    path = write(
        tmp_path,
        """
        import torch

        def forward(x):
            return torch.tanh(x)

        def backward(dout, x):
            return dout * (1 - torch.tanh(x).detach() ** 2)
        """,
    )
    run = check(f"{path}:forward", "--backward", f"{path}:backward", "-i", "3", "--order", "2")
    data = run.json()
    assert run.code == 1 and [b["agree"] for b in data["second_order"]] == [False, True]
    assert [(d["code"], d["input"], d["order"]) for d in data["diagnoses"]] == [
        ("detached", "x", 2)
    ]


def test_new_style_function_with_setup_context(tmp_path):
    path = write(
        tmp_path,
        """
        import torch

        class Mul(torch.autograd.Function):
            @staticmethod
            def forward(x, w):
                return x * w

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(*inputs)

            @staticmethod
            def backward(ctx, g):
                x, w = ctx.saved_tensors
                return g * w, g * x
        """,
    )
    run = check(f"{path}:Mul", "-i", "3", "-i", "2x3", "--order", "2")
    data = run.json()
    assert run.code == 0 and [i["name"] for i in data["inputs"]] == ["x", "w"]
