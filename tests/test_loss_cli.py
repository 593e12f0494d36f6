"""`gradcli loss` as users run it: output, JSON, CSV, exit codes and every bad input."""

from __future__ import annotations

import csv
import io
import math
import sys

import pytest

from gradcli.ops.losses import LOSS_LIST
from tests.conftest import assert_bad_input, invoke, run_process

LOSS_JSON_FIELDS = {
    "command",
    "name",
    "reduction",
    "params",
    "pred",
    "target",
    "loss",
    "analytic",
    "autograd",
    "numeric",
    "numeric_trusted",
    "max_abs_diff",
    "agree",
    "atol",
    "rtol",
    "dtype",
}

# One valid call per loss: (name, pred, target)
EXAMPLES = {
    "mse": ("1,2;3,4", "0,2;1,1"),
    "l1": ("1,-2,3", "0,2,5"),
    "huber": ("0.5,3,-2", "0,0,0"),
    "smooth_l1": ("0.5,3,-2", "0,0,0"),
    "bce": ("0.9,0.2,0.6", "1,0,1"),
    "bce_with_logits": ("2,-1,0.5", "1,0,1"),
    "cross_entropy": ("2,1,0.1;0.5,2.5,0.3", "0,1"),
    "nll": ("-0.5,-1.2,-2.3;-1.6,-0.4,-1.9", "0,2"),
    "kl_div": ("-1.2,-0.4,-2.3;-0.5,-1.3,-1.9", "0.2,0.5,0.3;0.6,0.3,0.1"),
}


def test_examples_cover_the_registry():
    assert set(EXAMPLES) == {loss.name for loss in LOSS_LIST}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_loss_runs_and_agrees(name):
    pred, target = EXAMPLES[name]
    run = invoke("loss", name, "--pred", pred, "--target", target)
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    assert "agree" in run.stdout and "✓" in run.stdout
    assert "gradient used:" in run.stdout
    assert "\x1b[" not in run.stdout


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_json_has_the_documented_fields(name, reduction):
    pred, target = EXAMPLES[name]
    run = invoke(
        "loss", name, "--pred", pred, "--target", target, "--reduction", reduction, "--json"
    )
    assert run.code == 0, run.stderr
    data = run.json()
    assert set(data) >= LOSS_JSON_FIELDS
    assert data["command"] == "loss" and data["name"] == name
    assert data["reduction"] == reduction
    assert data["agree"] is True
    assert data["dtype"] == "float64"
    assert math.isfinite(data["loss"])


def test_mse_table_states_the_formula_and_the_conventions():
    # y = (1, 2, 3), t = (0, 2, 5): L = 5/3, ∂L/∂y = 2(y − t)/3 = (0.666667, 0, −1.33333)
    run = invoke("loss", "mse", "--pred", "1,2,3", "--target", "0,2,5")
    assert run.code == 0
    assert "L = 1.66667" in run.stdout
    assert "∂L/∂y = 2(y − t)/n, n = 3" in run.stdout
    assert "0.666667" in run.stdout and "-1.33333" in run.stdout
    text = " ".join(run.stdout.split())
    assert "mean → ∂L/∂y = 2(y − t)/n, sum → 2(y − t), half-sum" in text


@pytest.mark.parametrize(
    ("reduction", "caption", "gradient"),
    [
        ("mean", "2(y − t)/n", [2 / 3, 0.0, -4 / 3]),
        ("sum", "∂L/∂y = 2(y − t)", [2.0, 0.0, -4.0]),
        ("half-sum", "∂E/∂y = (y − t)", [1.0, 0.0, -2.0]),
    ],
)
def test_mse_reductions(reduction, caption, gradient):
    run = invoke("loss", "mse", "--pred", "1,2,3", "--target", "0,2,5", "--reduction", reduction)
    assert caption in run.stdout
    data = invoke(
        "loss", "mse", "--pred", "1,2,3", "--target", "0,2,5", "--reduction", reduction, "--json"
    ).json()
    assert data["analytic"] == pytest.approx(gradient, rel=1e-15)


def test_reduction_is_case_insensitive():
    run = invoke("loss", "mse", "--pred", "1", "--target", "0", "--reduction", "SUM", "--json")
    assert run.json()["reduction"] == "sum"


def test_csv_vector_and_matrix():
    run = invoke("loss", "l1", "--pred", "1,-2,3", "--target", "0,2,5", "--format", "csv")
    rows = list(csv.reader(io.StringIO(run.stdout)))
    values = ["pred", "target", "analytic", "autograd", "numeric", "numeric_trusted"]
    assert rows[0] == ["i", *values, "abs_diff", "ok"]
    assert len(rows) == 4
    assert rows[1][:3] == ["0", "1.0", "0.0"]
    pred, target = EXAMPLES["cross_entropy"]
    run = invoke("loss", "cross_entropy", "--pred", pred, "--target", target, "--format", "csv")
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[0][:2] == ["row", "col"]
    assert [row[:2] for row in rows[1:]] == [[str(i), str(j)] for i in range(2) for j in range(3)]
    assert [row[3] for row in rows[1:]] == ["1.0", "0.0", "0.0", "0.0", "1.0", "0.0"]  # onehot
    assert all(row[-1] == "true" for row in rows[1:])


def test_cross_entropy_class_and_probability_targets():
    run = invoke("loss", "cross_entropy", "--pred", "0,0", "--target", "0", "--json")
    data = run.json()
    # z = (0, 0), t = 0: ℓ = log 2, gradient (−½, ½)
    assert data["target"] == [0] and data["target_kind"] == "class indices"
    assert data["loss"] == pytest.approx(math.log(2), rel=1e-15)
    assert data["analytic"] == [-0.5, 0.5]
    run = invoke("loss", "cross_entropy", "--pred", "0,0", "--target", "0.5,0.5", "--json")
    data = run.json()
    # q = (½, ½): ℓ = log 2, gradient softmax − q = 0
    assert data["target_kind"] == "probabilities"
    assert data["analytic"] == [0.0, 0.0]


def test_cross_entropy_label_smoothing_parameter():
    run = invoke(
        "loss",
        "cross_entropy",
        "--pred",
        "0,0",
        "--target",
        "0",
        "--param",
        "label_smoothing=0.2",
        "--json",
    )
    # q = (1 − 0.2)(1, 0) + 0.2/2 = (0.9, 0.1); gradient (0.5 − 0.9, 0.5 − 0.1) = (−0.4, 0.4)
    assert run.json()["analytic"] == pytest.approx([-0.4, 0.4], rel=1e-14)


def test_extreme_logits_give_finite_agreeing_results():
    run = invoke("loss", "cross_entropy", "--pred", "1000,-1000,0", "--target", "1", "--json")
    data = run.json()
    assert run.code == 0 and data["agree"]
    assert data["loss"] == pytest.approx(2000.0)
    run = invoke("loss", "bce_with_logits", "--pred", "1000,-1000", "--target", "0,1", "--json")
    data = run.json()
    assert run.code == 0 and data["agree"]
    assert data["loss"] == pytest.approx(1000.0)  # mean of two terms of 1000


def test_bce_at_zero_and_one_notes_the_clamp():
    run = invoke("loss", "bce", "--pred", "0,1,0.5", "--target", "1,0,0.5")
    assert run.code == 0
    text = " ".join(run.stdout.split())
    assert "clamps log(y) and log(1 − y) at −100" in text
    assert "~" in run.stdout  # untrusted finite differences are flagged


def test_kl_div_caption_says_which_mean():
    pred, target = EXAMPLES["kl_div"]
    run = invoke("loss", "kl_div", "--pred", pred, "--target", target)
    text = " ".join(run.stdout.split())
    assert "reduction='mean'" in text and "batchmean" in text


def test_float32_works():
    pred, target = EXAMPLES["cross_entropy"]
    run = invoke(
        "loss", "cross_entropy", "--pred", pred, "--target", target, "--dtype", "float32", "--json"
    )
    data = run.json()
    assert run.code == 0 and data["dtype"] == "float32" and data["agree"]
    assert data["atol"] == 1e-4


def test_no_numeric_and_json_matrix_input():
    run = invoke(
        "loss",
        "mse",
        "--pred",
        "[[1, 2], [3, 4]]",
        "--target",
        "[[0, 2], [1, 1]]",
        "--no-numeric",
        "--json",
    )
    data = run.json()
    assert data["numeric"] is None
    assert data["pred"] == [[1.0, 2.0], [3.0, 4.0]]
    assert data["analytic"] == [[0.5, 0.0], [1.0, 1.5]]  # 2(y − t)/4


def test_disagreement_exits_1():
    # softmax(z) − q by formula and through torch's log-softmax backward differ in the last
    # bit for these logits: a zero tolerance counts it
    args = ["loss", "cross_entropy", "--pred", "1,2,0.5;0.3,0.1,2", "--target", "0,2"]
    run = invoke(*args, "--atol", "0", "--rtol", "0")
    assert run.code == 1
    assert "DISAGREE" in run.stdout
    assert invoke(*args).code == 0


def test_list_shows_every_loss_with_formulas():
    run = invoke("loss", "--list")
    assert run.code == 0
    for loss in LOSS_LIST:
        assert loss.name in run.stdout
    assert "half-sum" in run.stdout


def test_list_does_not_import_torch():
    code = (
        "import sys\n"
        "from gradcli.cli import app\n"
        "try:\n"
        "    app(args=['loss', '--list'], prog_name='gradcli')\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules), 'torch'\n"
    )
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Losses" in proc.stdout


# ---------------------------------------------------------------- every bad input


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["mse", "--pred", "1,2", "--target", "1,2,3"], ["--target", "same shape"]),
        (["mse", "--pred", "1,2;3,4", "--target", "1,2"], ["2×2", "same shape"]),
        (["cross_entropy", "--pred", "1,2;3,4", "--target", "0,2"], ["class index 2"]),
        (["nll", "--pred", "-1,-2", "--target", "5"], ["class index 5", "out of range"]),
        (["cross_entropy", "--pred", "1,2;3,4", "--target", "0,1.5"], ["1.5", "not an integer"]),
        (["cross_entropy", "--pred", "1,2;3,4", "--target", "0,-1"], ["class index -1"]),
        (["cross_entropy", "--pred", "1,2;3,4", "--target", "0,1,1"], ["one class index per row"]),
        (["bce", "--pred", "1.2,0.5", "--target", "1,0"], ["--pred value 1.2", "[0, 1]"]),
        (["bce", "--pred", "-0.5", "--target", "1"], ["--pred value -0.5"]),
        (["bce", "--pred", "0.2,0.5", "--target", "1,2"], ["--target value 2", "[0, 1]"]),
        (["bce_with_logits", "--pred", "3", "--target", "-1"], ["--target value -1"]),
        (["cross_entropy", "--pred", "1,2,3", "--target", "0.2,0.2,0.5"], ["sums to 0.9"]),
        (["kl_div", "--pred", "-1,-1", "--target", "0.5,0.6"], ["sums to 1.1"]),
        (["nll", "--pred", "-1,-2;-1,-2", "--target", "0.5,0.5;0.5,0.5"], ["class indices"]),
        (["mse", "--pred", "1,2;3", "--target", "1,2"], ["--pred is ragged"]),
        (["mse", "--pred", "1,2", "--target", "[[1,2],[3]]"], ["--target is ragged"]),
        (["mse", "--pred", "[1,", "--target", "1"], ["not a valid JSON list"]),
        (["mes", "--pred", "1", "--target", "1"], ["unknown loss 'mes'", "did you mean 'mse'"]),
        (["mse", "--pred", "1", "--target", "1", "--reduction", "avg"], ["unknown reduction"]),
        (
            ["bce", "--pred", "0.5", "--target", "1", "--reduction", "half-sum"],
            ["half-sum", "only defined for the squared error mse", "bce"],
        ),
        (
            ["cross_entropy", "--pred", "1,2", "--target", "0", "--reduction", "half-sum"],
            ["half-sum", "cross_entropy"],
        ),
        (["mse", "--pred", "1,x", "--target", "1,2"], ["'x' is not a number"]),
        (["mse", "--pred", "nan", "--target", "1"], ["not a finite number"]),
        (["mse", "--pred", "1e39", "--target", "1", "--dtype", "float32"], ["overflows float32"]),
        (["mse", "--target", "1"], ["--pred is required"]),
        (["mse", "--pred", "1"], ["--target is required"]),
        (["--pred", "1", "--target", "1"], ["no loss name given", "--list"]),
        (["huber", "--pred", "1", "--target", "0", "--param", "delta=0"], ["delta=0", "> 0"]),
        (["huber", "--pred", "1", "--target", "0", "--param", "dleta=1"], ["did you mean 'delta'"]),
        (["huber", "--pred", "1", "--target", "0", "--param", "delta"], ["KEY=VALUE"]),
        (["smooth_l1", "--pred", "1", "--target", "0", "--param", "beta=-1"], ["beta=-1"]),
        (
            ["cross_entropy", "--pred", "1,2", "--target", "0", "--param", "label_smoothing=2"],
            ["label_smoothing=2"],
        ),
        (
            ["kl_div", "--pred", "-1,-1", "--target", "0.5,0.5", "--param", "log_target=yes"],
            ["log_target=yes"],
        ),
        (["mse", "--pred", "1", "--target", "1", "--dtype", "float16"], ["unknown dtype"]),
        (["mse", "--pred", "1", "--target", "1", "--format", "xml"], ["unknown format"]),
        (["mse", "--pred", "1", "--target", "1", "--tagret", "2"], ["--tagret"]),
        (["mse", "--pred"], ["--pred"]),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(args, fragments):
    assert_bad_input(invoke("loss", *args), *fragments)


def test_real_process_runs():
    ok = run_process("loss", "mse", "--pred", "-1,2", "--target", "0,2", "--json")
    assert ok.code == 0, ok.stderr
    assert ok.json()["pred"] == [-1.0, 2.0]
    assert ok.stderr == ""
    bad = run_process("loss", "cross_entropy", "--pred", "1,2;3,4", "--target", "0,7")
    assert_bad_input(bad, "class index 7")
    half = run_process("loss", "l1", "--pred", "1", "--target", "0", "--reduction", "half-sum")
    assert_bad_input(half, "half-sum")
