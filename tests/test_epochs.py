"""perceptron --epochs: gradient descent checked against loops written here, independently
of gradcli — plain Python floats for the classic 2-2-2 network, torch.nn + torch.optim.SGD for
others."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.conftest import assert_bad_input, invoke

MAZUR = [
    "perceptron",
    "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60",
    "--x", "0.05,0.10", "--target", "0.01,0.99", "--reduction", "half-sum",
]  # fmt: skip


def flat(matrix: list[list[float]]) -> list[float]:
    return [v for row in matrix for v in row]


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def mazur_loop(steps: int, sequential: bool = False, biases: bool = False):
    """The 2-2-2 network by hand: E = ½Σ(o − t)², lr 0.5, the delta rule in floats.
    ``sequential``: the hidden deltas use the already-updated output weights (the tutorial's
    slip); ``biases``: step the biases too. Returns (losses, W1, W2, b1, b2)."""
    x, t, lr = [0.05, 0.10], [0.01, 0.99], 0.5
    w1 = [[0.15, 0.20], [0.25, 0.30]]
    w2 = [[0.40, 0.45], [0.50, 0.55]]
    b1, b2 = [0.35, 0.35], [0.60, 0.60]
    losses = []
    for step in range(steps + 1):
        h = [sigmoid(sum(w1[j][i] * x[i] for i in range(2)) + b1[j]) for j in range(2)]
        o = [sigmoid(sum(w2[k][j] * h[j] for j in range(2)) + b2[k]) for k in range(2)]
        losses.append(sum(0.5 * (t[k] - o[k]) ** 2 for k in range(2)))
        if step == steps:
            break
        d2 = [(o[k] - t[k]) * o[k] * (1 - o[k]) for k in range(2)]
        new_w2 = [[w2[k][j] - lr * d2[k] * h[j] for j in range(2)] for k in range(2)]
        back = new_w2 if sequential else w2
        d1 = [sum(d2[k] * back[k][j] for k in range(2)) * h[j] * (1 - h[j]) for j in range(2)]
        w1 = [[w1[j][i] - lr * d1[j] * x[i] for i in range(2)] for j in range(2)]
        w2 = new_w2
        if biases:
            b1 = [b1[j] - lr * d1[j] for j in range(2)]
            b2 = [b2[k] - lr * d2[k] for k in range(2)]
    return losses, w1, w2, b1, b2


@pytest.fixture(scope="module")
def mazur_run():
    run = invoke(*MAZUR, "--epochs", "10000", "--no-bias-update", "--json")
    assert run.code == 0, run.stderr
    return run.json()


def test_classic_network_loss_after_one_and_ten_thousand_steps(mazur_run):
    losses, w1, w2, _b1, _b2 = mazur_loop(10000)
    assert f"{losses[1]:.10f}" == "0.2910277737" and f"{losses[10000]:.7e}" == "3.5101878e-05"
    history = mazur_run["history"]
    assert len(history) == 10001
    assert [h["epoch"] for h in history[:3]] == [0, 1, 2]
    assert history[0]["loss"] == pytest.approx(mazur_run["loss"], rel=1e-15)
    for k in (0, 1, 2, 10, 100, 1000, 9999, 10000):
        assert history[k]["loss"] == pytest.approx(losses[k], rel=1e-10), k
    layers = mazur_run["layers"]
    for got, want in ((layers[0]["weight"]["final"], w1), (layers[1]["weight"]["final"], w2)):
        assert flat(got) == pytest.approx(flat(want), rel=1e-9)
    assert layers[0]["bias"]["final"] == [0.35, 0.35] and layers[1]["bias"]["final"] == [0.6, 0.6]
    training = mazur_run["training"]
    assert training["epochs"] == 10000 and training["lr"] == 0.5
    assert training["bias_update"] is False and training["last_step"]["agree"] is True
    assert training["checked_steps"] == [1, 10000]


def test_the_tutorials_figures_are_explained():
    """0.291027924: hidden deltas through the updated output weights; 0.0000351085: the loss
    after 9,999 steps, not 10,000."""
    slip, *_ = mazur_loop(1, sequential=True)
    assert f"{slip[1]:.9f}" == "0.291027924"
    right, *_ = mazur_loop(10000)
    assert f"{right[9999]:.10f}" == "0.0000351085" and f"{right[10000]:.10f}" != "0.0000351085"


def test_biases_step_too_by_default():
    losses, _w1, _w2, b1, b2 = mazur_loop(50, biases=True)
    run = invoke(*MAZUR, "--epochs", "50", "--json")
    data = run.json()
    assert [h["loss"] for h in data["history"]] == pytest.approx(losses, rel=1e-10)
    assert data["layers"][0]["bias"]["final"] == pytest.approx(b1, rel=1e-10)
    assert data["layers"][1]["bias"]["final"] == pytest.approx(b2, rel=1e-10)


@pytest.mark.parametrize(
    "activation, loss, reduction, target",
    [
        ("tanh,sigmoid", "bce", "mean", "0,1,1;1,0,0"),
        ("relu,identity", "cross_entropy", "mean", "0,2"),
        ("elu,tanh", "mse", "sum", "0.5"),
    ],
)
def test_descent_matches_torch_sgd(activation, loss, reduction, target):
    """torch.nn.Linear layers stepped by torch.optim.SGD (autograd's gradient) — an
    independent implementation of the same gradient descent."""
    torch.manual_seed(3)
    w1, b1 = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    w2, b2 = torch.randn(3, 4, dtype=torch.float64) * 0.5, torch.randn(3, dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64)

    def text(t: torch.Tensor) -> str:
        rows = t.tolist() if t.dim() == 2 else [t.tolist()]
        return ";".join(",".join(repr(v) for v in row) for row in rows)

    epochs, lr = 25, 0.1
    run = invoke(
        "perceptron", "--weights", text(w1), "--bias", text(b1), "--weights", text(w2),
        "--bias", text(b2), "--x", text(x), "--target", target, "--activation", activation,
        "--loss", loss, "--reduction", reduction, "--epochs", str(epochs), "--lr", str(lr),
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    data = run.json()
    first, second = torch.nn.Linear(3, 4).double(), torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        for layer, w, b in ((first, w1, b1), (second, w2, b2)):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    acts = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
            "identity": lambda z: z, "elu": torch.nn.functional.elu}  # fmt: skip
    f1, f2 = (acts[name] for name in activation.split(","))
    if loss == "cross_entropy":
        goal = torch.tensor([0, 2])
        criterion = torch.nn.CrossEntropyLoss(reduction=reduction)
    else:
        values = [[float(v) for v in row.split(",")] for row in target.split(";")]
        goal = torch.tensor(values, dtype=torch.float64).expand(2, 3)
        criterion = (torch.nn.BCELoss if loss == "bce" else torch.nn.MSELoss)(reduction=reduction)
    optimiser = torch.optim.SGD([*first.parameters(), *second.parameters()], lr=lr)
    losses = []
    for step in range(epochs + 1):
        optimiser.zero_grad()
        value = criterion(f2(second(f1(first(x)))), goal)
        losses.append(value.item())
        if step < epochs:
            value.backward()
            optimiser.step()
    assert [h["loss"] for h in data["history"]] == pytest.approx(losses, rel=1e-9, abs=1e-12)
    final = data["layers"][1]["weight"]["final"]
    assert flat(final) == pytest.approx(flat(second.weight.tolist()), rel=1e-9, abs=1e-12)


def test_table_shows_first_and_last_epochs_and_the_checked_steps():
    run = invoke(*MAZUR, "--epochs", "10000", "--no-bias-update")
    assert run.code == 0
    out = run.stdout
    assert "10,000 steps of lr = 0.5" in out and "biases fixed (--no-bias-update)" in out
    assert "0.2910277737" in out and "3.510187783e-05" in out
    assert "history[k] = E after k steps" in out
    assert "✓ step 10,000 gradient: backprop and autograd agree" in out


def test_loss_curve_plot():
    run = invoke(*MAZUR, "--epochs", "200", "--plot", "--width", "60", "--height", "10")
    assert run.code == 0
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "loss E against the epoch k" in line)
    plot = lines[start : start + 14]
    assert max(len(line) for line in plot) <= 60
    axis = next(i for i, line in enumerate(plot) if "└" in line)
    labels = plot[axis + 1].split()
    assert labels[0] == "0" and labels[-1] == "200"  # the epochs, 0 … N
    assert "E after k steps" in plot[axis + 2]


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--epochs", "0"], ["--epochs", "'0'"]),
        (["--epochs", "10**12"], ["--epochs", "'10**12'"]),
        (["--epochs", "-5"], ["--epochs"]),
        (["--epochs", "1000000000000"], ["--epochs 1,000,000,000,000", "limit"]),
        (["--epochs", "5", "--plot", "--json"], ["--plot", "--json"]),
        (["--plot"], ["--plot", "--epochs"]),
        (["--no-bias-update"], ["--no-bias-update", "--lr"]),
        (["--epochs", "3", "--lr", "0"], ["--lr"]),
    ],
)
def test_bad_epoch_options(extra, fragments):
    assert_bad_input(invoke(*MAZUR, *extra), *fragments)


def test_batch_runs_epochs_and_refuses_pictures():
    lines = "\n".join(
        [
            "perceptron --weights 1,2 --x 0.5,-1 --target 1 --epochs 3",
            "activation sigmoid 0.5 --plot",
        ]
    )
    run = invoke("batch", "-", input_text=lines + "\n")
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert len(first["history"]) == 4 and first["training"]["epochs"] == 3
    assert "--plot" in second["error"]
