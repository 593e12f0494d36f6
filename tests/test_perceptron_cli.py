"""`gradcli perceptron` from the command line: table, --steps, --lr, JSON, CSV and every error."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
from conftest import assert_bad_input, invoke, run_process

# Source: Matt Mazur, "A Step by Step Backpropagation Example" (2015), the 2-2-2 network.
MAZUR = [
    "perceptron",
    "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60",
    "--x", "0.05,0.10", "--target", "0.01,0.99",
    "--reduction", "half-sum", "--lr", "0.5",
]  # fmt: skip
ONE_LAYER = ["perceptron", "--weights", "0.5,-0.5", "--x", "1,2", "--target", "1"]


def test_table_shows_loss_gradients_side_by_side_and_verdict():
    run = invoke(*MAZUR)
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    assert "E = 0.298371109" in out  # Mazur's published total error
    assert "E = ½ Σ (O − t)²" in out
    assert "layer 1 (sigmoid)" in out and "layer 2 (sigmoid)" in out
    assert "∂E/∂W backprop (δ rule)" in out and "∂E/∂W autograd" in out
    assert "0.082167" in out  # ∂E/∂w5
    assert "W − lr·∂E/∂W" in out and "0.358916" in out  # updated w5
    assert "✓ backprop, autograd and numeric agree" in out


def test_steps_show_the_worked_solution():
    run = invoke(*MAZUR, "--steps")
    assert run.code == 0
    out = run.stdout
    assert "Worked backprop" in out
    assert "δ_k = ∂E/∂O_k · f'(X_k) = (O_k − t_k) · O_k(1 − O_k)" in out
    assert "δ_j = f'(X_j) · Σ_k δ_k W_kj" in out
    assert "∂E/∂W_kj = Σ_batch δ_k · x_j" in out
    assert "0.741365" in out and "0.186816" in out  # ∂E/∂O_1 and O_1(1 − O_1), Mazur
    assert "∂E/∂W[k=0, j=0] = δ_0·x_0 = 0.138499 × 0.59327 = 0.082167" in out
    assert out.index("layer 2 (output layer") < out.index("layer 1 (hidden layer")


def test_json_has_every_documented_field():
    data = invoke(*MAZUR, "--json").json()
    for key in (
        "command", "loss", "outputs", "engine", "activations", "loss_name", "reduction",
        "layers", "max_abs_diff", "agree", "dtype",
    ):  # fmt: skip
        assert key in data
    assert data["command"] == "perceptron"
    assert data["loss_name"] == "mse" and data["reduction"] == "half-sum"
    assert data["engine"] == "grad" and data["activations"] == ["sigmoid", "sigmoid"]
    assert round(data["loss"], 9) == 0.298371109
    layer = data["layers"][1]
    assert set(layer["weight"]) >= {"value", "analytic", "autograd", "numeric", "updated"}
    assert set(layer["bias"]) >= {"value", "analytic", "autograd", "updated"}
    assert round(layer["weight"]["updated"][0][0], 8) == 0.35891648
    assert data["agree"] is True and data["steps"] is None


def test_json_bias_is_null_without_bias_and_steps_when_asked():
    data = invoke(*ONE_LAYER, "--json", "--steps").json()
    assert data["layers"][0]["bias"] is None
    assert data["steps"][0]["is_output"] is True
    assert data["reduction"] == "mean"


def test_bias_none_skips_one_layer():
    run = invoke(
        "perceptron", "--weights", "1,2;3,4", "--bias", "none",
        "--weights", "1,1", "--bias", "0.5", "--x", "0.1,0.2", "--target", "0", "--json",
    )  # fmt: skip
    layers = run.json()["layers"]
    assert layers[0]["bias"] is None and layers[1]["bias"]["value"] == [0.5]


def test_csv_one_row_per_parameter_entry():
    run = invoke(*MAZUR, "--format", "csv")
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[0] == [
        "layer", "tensor", "row", "col", "value", "analytic", "autograd", "numeric",
        "numeric_trusted", "abs_diff", "ok", "updated",
    ]  # fmt: skip
    assert len(rows) == 1 + 2 * (4 + 2)
    w5 = rows[7]
    assert w5[:4] == ["2", "weight", "0", "0"] and round(float(w5[11]), 8) == 0.35891648
    assert all(row[8] == "true" for row in rows[1:])


def test_engines_print_the_same_numbers():
    grad = invoke(*MAZUR, "--json", "--engine", "grad").json()
    backward = invoke(*MAZUR, "--json", "--engine", "backward").json()
    assert backward["engine"] == "backward"
    assert [layer["weight"]["autograd"] for layer in grad["layers"]] == [
        layer["weight"]["autograd"] for layer in backward["layers"]
    ]


def test_layers_and_x_shape_draw_from_the_seed_and_repeat():
    args = ["perceptron", "--layers", "3,2", "--x-shape", "2x4", "--seed", "3", "--target", "1"]
    first, second = invoke(*args, "--json").json(), invoke(*args, "--json").json()
    assert first == second and first["seed"] == 3
    assert len(first["x"]) == 2 and len(first["x"][0]) == 4
    table = " ".join(invoke(*args).stdout.split())  # the note wraps at the terminal's width
    assert "torch.manual_seed(3)" in table and "x = torch.randn(2, 4, dtype=torch.float64)" in table


def test_big_network_samples_numeric_and_says_so():
    run = invoke("perceptron", "--layers", "256,10", "--x-shape", "64x784", "--target", "1")
    assert run.code == 0
    text = " ".join(run.stdout.split())
    assert "layer 1 ∂E/∂W: numeric: 32 of 200,704 entries computed, a seeded random sample" in text
    assert "summarized" in run.stdout


def test_cross_entropy_run_names_the_output_delta():
    run = invoke(
        "perceptron", "--weights", "1,0;0,1;1,1", "--x", "0.5,-0.5;1,2", "--target", "2,0",
        "--loss", "cross_entropy", "--activation", "identity", "--steps",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert "softmax" in text and "δ_k = ∂E/∂O_k · 1 = (1/2)·(softmax(O)_k − y_k)" in text


def test_float32_and_no_numeric():
    data = invoke(*MAZUR, "--json", "--dtype", "float32", "--no-numeric").json()
    assert data["dtype"] == "float32" and data["agree"]
    assert data["layers"][0]["weight"]["numeric"] is None
    assert "--no-numeric" in data["numeric_skipped"]


NET = ["--weights", "1,2;3,4", "--weights", "1,1", "--x", "0.1,0.2"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        # weight columns ≠ inputs of that layer (both shapes named)
        (["--weights", "1,2,3", "--x", "1,2", "--target", "0"], ["layer 1", "1×3", "1×2"]),
        (
            ["--weights", "1,2;3,4", "--weights", "1,1,1", "--x", "1,2", "--target", "0"],
            ["layer 2", "1×3", "1×2"],
        ),
        # bias length ≠ rows
        (
            [*NET, "--bias", "1,2,3", "--bias", "none", "--target", "0"],
            ["layer 1", "bias", "3", "2×2"],
        ),
        # target shape ≠ output shape
        ([*NET, "--target", "1,2,3"], ["target", "3", "layer 2", "1×1"]),
        # activation count ≠ layer count
        (
            [*NET, "--target", "0", "--activation", "tanh,relu,sigmoid"],
            ["3 activations", "2 layers"],
        ),
        # class index out of range / not an integer
        (
            ["--weights", "1,2;3,4", "--x", "1,2", "--target", "2", "--loss", "cross_entropy"],
            ["class index 2", "layer 1", "1×2"],
        ),
        (
            ["--weights", "1,2;3,4", "--x", "1,2", "--target", "0.5", "--loss", "cross_entropy"],
            ["0.5", "not an integer"],
        ),
        # missing --x or --target, no network, --weights with --layers
        (["--weights", "1,2", "--target", "0"], ["--x"]),
        (["--weights", "1,2", "--x", "1,2"], ["--target"]),
        (["--x", "1,2", "--target", "0"], ["--weights", "--layers"]),
        (
            ["--weights", "1,2", "--layers", "2", "--x", "1,2", "--target", "0"],
            ["--weights", "--layers"],
        ),
        # unknown activation or loss
        ([*NET, "--target", "0", "--activation", "sigmod"], ["sigmod", "sigmoid"]),
        ([*NET, "--target", "0", "--loss", "mce"], ["mce", "mse"]),
        ([*NET, "--target", "0", "--loss", "l1"], ["l1", "cross_entropy"]),
        # bad --lr
        ([*NET, "--target", "0", "--lr", "abc"], ["abc"]),
        ([*NET, "--target", "0", "--lr", "0"], ["--lr", "> 0"]),
        ([*NET, "--target", "0", "--lr", "-0.5"], ["--lr"]),
        ([*NET, "--target", "0", "--lr", "nan"], ["nan"]),
        # everything else a user can get wrong
        ([*NET, "--bias", "1,2", "--target", "0"], ["2 --weights", "1 --bias", "none"]),
        ([*NET, "--no-bias", "--bias", "1,2", "--bias", "1", "--target", "0"], ["--no-bias"]),
        (["--layers", "2,x", "--x", "1", "--target", "0"], ["--layers", "'x'"]),
        (["--layers", "2", "--x-shape", "3by4", "--target", "0"], ["--x-shape", "3by4"]),
        (["--layers", "2", "--x", "1", "--x-shape", "1x1", "--target", "0"], ["--x", "--x-shape"]),
        ([*NET, "--target", "0", "--engine", "autograd"], ["engine", "autograd"]),
        ([*NET, "--target", "0", "--reduction", "halfsum"], ["halfsum", "half-sum"]),
        ([*NET, "--target", "0", "--loss", "bce", "--reduction", "half-sum"], ["half-sum", "bce"]),
        (["--weights", "1,2;3", "--x", "1,2", "--target", "0"], ["layer 1 --weights", "ragged"]),
        (
            [*NET, "--target", "0", "--loss", "bce", "--activation", "tanh,identity"],
            ["bce", "layer 2"],
        ),
        ([*NET, "--target", "2", "--loss", "bce"], ["2", "[0, 1]"]),
        ([*NET, "--target", "0", "--frobnicate"], ["--frobnicate"]),
    ],
)
def test_every_bad_input_is_one_error_line(args, fragments):
    assert_bad_input(invoke("perceptron", *args), *fragments)


def test_real_process_runs_and_fails_cleanly():
    ok = run_process(*MAZUR, "--json")
    assert ok.code == 0 and round(ok.json()["loss"], 9) == 0.298371109
    assert "Warning" not in ok.stderr
    bad = run_process("perceptron", "--weights", "1,2,3", "--x", "1,2", "--target", "0")
    assert_bad_input(bad, "layer 1", "1×3", "1×2")


def test_help_does_not_import_torch():
    run = run_process("perceptron", "--help")
    assert run.code == 0 and "--weights" in run.stdout and "--bias" in run.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from gradcli.cli import main\n"
            "try:\n    main(['perceptron', '--help'])\nexcept SystemExit: pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
