"""`gradcli optim` and `perceptron --optimizer` as users run them.

Expected values come from computations written here: Adam's first step by hand (Kingma &
Ba), NumPy loops with the analytic gradient of the formula, and torch.nn + torch.optim
training loops written without gradcli.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.conftest import assert_bad_input, invoke
from tests.test_cli import loaded_after

MAZUR = [
    "perceptron",
    "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60",
    "--x", "0.05,0.10", "--target", "0.01,0.99", "--reduction", "half-sum",
]  # fmt: skip
STEP_FIELDS = {
    "command", "name", "torch", "convention", "options", "param", "grad", "state",
    "state_given", "new_param", "new_state", "by_hand", "torch_optim", "quantities",
    "max_abs_diff", "agree", "atol", "rtol", "dtype", "notes", "check",
}  # fmt: skip


# ---------------------------------------------------------------- one step


def test_adam_first_step_json_matches_a_hand_computation():
    run = invoke("optim", "adam", "--param", "1,-2,3", "--grad", "0.1,0.2,-0.3", "--lr", "1e-3",
                 "--json")  # fmt: skip
    assert run.code == 0, run.stderr
    data = run.json()
    assert set(data) == STEP_FIELDS
    assert data["command"] == "optim" and data["torch"] == "torch.optim.Adam"
    assert data["options"] == {
        "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
        "amsgrad": False, "maximize": False,
    }  # fmt: skip
    # t = 1: m̂ = g, v̂ = g², so w ← w − lr·g/(|g| + ε)
    g = [0.1, 0.2, -0.3]
    want = [w - 1e-3 * gi / (abs(gi) + 1e-8) for w, gi in zip([1, -2, 3], g, strict=True)]
    assert data["new_param"] == pytest.approx(want, rel=1e-14)
    assert data["new_state"]["step"] == 1
    assert data["new_state"]["exp_avg"] == pytest.approx([0.1 * v for v in g], rel=1e-14)
    assert data["new_state"]["exp_avg_sq"] == pytest.approx([1e-3 * v * v for v in g], rel=1e-12)
    assert data["by_hand"]["m_hat"] == pytest.approx(g, rel=1e-14)
    assert data["torch_optim"]["new_param"] == pytest.approx(want, rel=1e-14)
    assert data["agree"] is True and data["max_abs_diff"] < 1e-15
    assert [q["key"] for q in data["quantities"]] == [
        "step", "exp_avg", "exp_avg_sq", "m_hat", "v_hat", "new_param"
    ]  # fmt: skip
    assert data["state"] == {"step": 0, "exp_avg": [0.0] * 3, "exp_avg_sq": [0.0] * 3}


def test_a_given_state_continues_the_step_count():
    args = ["optim", "adam", "--param", "1,-2,3", "--grad", "0.1,0.2,-0.3",
            "--state", "exp_avg=0.01,0.02,-0.03", "--state", "exp_avg_sq=1e-4,4e-4,9e-4",
            "--state", "step=10", "--param-option", "betas=0.9,0.99", "--json"]  # fmt: skip
    data = invoke(*args).json()
    t, b1, b2 = 11, 0.9, 0.99
    g, m0, v0, w0 = (np.array(v) for v in ([0.1, 0.2, -0.3], [0.01, 0.02, -0.03],
                                           [1e-4, 4e-4, 9e-4], [1, -2, 3]))  # fmt: skip
    m = b1 * m0 + (1 - b1) * g
    v = b2 * v0 + (1 - b2) * g**2
    w = w0 - 1e-3 * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
    assert data["new_param"] == pytest.approx(w.tolist(), rel=1e-13)
    assert data["new_state"]["step"] == 11 and data["state_given"] == [
        "exp_avg",
        "exp_avg_sq",
        "step",
    ]
    assert data["agree"] is True


def test_table_shows_formulas_steps_and_torch_column():
    run = invoke("optim", "adam", "--param", "1,-2,3", "--grad", "0.1,0.2,-0.3",
                 "--state", "step=10", "--steps")  # fmt: skip
    assert run.code == 0
    for text in ("m̂ = m / (1 − β₁ᵗ)", "1 − β₁ᵗ = 1 − 0.9^11 = 0.686189", "torch.optim.Adam",
                 "m_hat (m̂)", "v_hat (v̂)", "this step is t = 11", "✓ by hand and torch.optim agree",
                 "not given, so as a fresh optimizer holds them: exp_avg, exp_avg_sq"):  # fmt: skip
        assert text in run.stdout, text
    plain = invoke("optim", "adam", "--param", "1", "--grad", "1")
    assert "m_hat (m̂)" not in plain.stdout and "m̂ = m / (1 − β₁ᵗ)" in plain.stdout


def test_expect_passes_fails_and_names_the_slip():
    base = ["optim", "adam", "--param", "1", "--grad", "0.5", "--lr", "0.1",
            "--state", "exp_avg=0.2", "--state", "exp_avg_sq=0.3", "--state", "step=3"]  # fmt: skip
    data = invoke(*base, "--json").json()
    w = data["new_param"][0]
    good = invoke(*base, "--expect", f"new_param={w:.6g}")
    assert good.code == 0 and "✓ your answer matches" in good.stdout
    bare = invoke(*base, "--expect", f"{w:.6g}", "--json")
    assert bare.code == 0 and bare.json()["check"]["parts"]["new_param"]["passed"]
    # no bias correction: w − lr·m/(√v + ε), written here from the state
    m, v = 0.9 * 0.2 + 0.1 * 0.5, 0.999 * 0.3 + 0.001 * 0.25
    slipped = 1 - 0.1 * m / (math.sqrt(v) + 1e-8)
    bad = invoke(*base, "--expect", f"new_param={slipped:.6g}", "--json")
    assert bad.code == 1
    assert "no bias correction" in bad.json()["check"]["hint"]
    step = invoke(*base, "--expect", "step=4", "--expect", f"exp_avg={m:.6g}", "--json")
    assert step.code == 0 and step.json()["check"]["passed"]


def test_cs231n_convention_shows_the_velocity_and_agrees_with_torch():
    run = invoke("optim", "momentum", "--param", "1,2", "--grad", "0.5,-1", "--lr", "0.1",
                 "--convention", "cs231n", "--state", "velocity=0.1,0.1", "--json")  # fmt: skip
    data = run.json()
    assert run.code == 0 and data["convention"] == "cs231n"
    v = [0.9 * 0.1 - 0.1 * 0.5, 0.9 * 0.1 + 0.1 * 1]  # v ← μv − lr·g, CS231n's optim.py
    assert data["new_state"]["velocity"] == pytest.approx(v, rel=1e-14)
    assert data["new_param"] == pytest.approx([1 + v[0], 2 + v[1]], rel=1e-14)
    assert data["torch_optim"]["velocity"] == pytest.approx(v, rel=1e-12)
    torch_form = invoke("optim", "momentum", "--param", "1,2", "--grad", "0.5,-1", "--lr", "0.1",
                        "--state", "momentum_buffer=-1,-1", "--json").json()  # fmt: skip
    assert torch_form["new_param"] == pytest.approx(data["new_param"], rel=1e-14)


def test_weight_decay_is_l2_for_adam_and_decoupled_for_adamw():
    common = ["--param", "2", "--grad", "0.5", "--lr", "0.1", "--param-option",
              "weight_decay=0.1", "--json"]  # fmt: skip
    adam = invoke("optim", "adam", *common).json()
    adamw = invoke("optim", "adamw", *common).json()
    # Adam: g = 0.5 + 0.1·2 = 0.7, first step moves by lr·g/|g| = 0.1
    assert adam["new_param"][0] == pytest.approx(2 - 0.1 * 0.7 / (0.7 + 1e-8), rel=1e-14)
    # AdamW: w(1 − lr·λ) − lr·0.5/(0.5 + ε)
    assert adamw["new_param"][0] == pytest.approx(2 * (1 - 0.01) - 0.1 * 0.5 / (0.5 + 1e-8))
    assert any("as L2" in note for note in adam["notes"])
    assert any("decoupled" in note for note in adamw["notes"])


def test_sgd_first_step_sets_the_buffer_to_g_even_with_dampening():
    data = invoke("optim", "sgd", "--param", "1", "--grad", "2", "--lr", "0.1",
                  "--param-option", "momentum=0.9", "--param-option", "dampening=0.5",
                  "--json").json()  # fmt: skip
    assert data["new_state"]["momentum_buffer"] == [2.0]  # torch: b₁ = g, not (1 − τ)g
    assert data["new_param"] == [pytest.approx(0.8)]
    assert any("first step sets b ← g" in note for note in data["notes"])


def test_csv_has_one_row_per_entry_and_the_expected_columns():
    run = invoke("optim", "rmsprop", "--param", "1,2", "--grad", "0.1,0.2",
                 "--expect", "new_param=0.9,1.9", "--format", "csv")  # fmt: skip
    lines = run.stdout.splitlines()
    assert lines[0] == "quantity,index,before,by_hand,torch_optim,abs_diff,ok,expected,expected_ok"
    assert sum(line.startswith("new_param,") for line in lines) == 2
    assert sum(line.startswith("square_avg,") for line in lines) == 2


def test_float32_runs_torch_optim_in_float32():
    data = invoke("optim", "adam", "--param", "1,2", "--grad", "0.3,0.1", "--dtype", "float32",
                  "--json").json()  # fmt: skip
    assert data["dtype"] == "float32" and data["agree"] is True
    assert data["atol"] == 1e-4


def test_listing_names_every_optimizer_without_torch():
    from gradcli.ops.optimizers import OPTIMIZERS

    run = invoke("optim", "--list", "--json")
    names = [entry["name"] for entry in run.json()["list"]]
    assert names == list(OPTIMIZERS)
    adam = run.json()["list"][names.index("adam")]
    assert adam["params"]["betas"] == [0.9, 0.999] and adam["state"][0] == "step"
    assert run.json()["list"][names.index("nesterov")]["fixed"] == {"nesterov": True}
    assert not loaded_after([["optim", "--list"], ["optim", "--help"]], "torch")


# ---------------------------------------------------------------- minimising a formula


def numpy_adam(grad, x, lr, steps, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba, Algorithm 1, with the formula's gradient written by hand."""
    x = np.array(x, dtype=float)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    path = [x.copy()]
    for t in range(1, steps + 1):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        path.append(x.copy())
    return path


def test_minimising_a_quadratic_follows_numpy_adam_at_every_step():
    run = invoke("optim", "adam", "--expr", "x^2 + 10*y^2", "--at", "x=1,y=1", "--lr", "0.1",
                 "--iterations", "100", "--json")  # fmt: skip
    assert run.code == 0, run.stderr
    data = run.json()
    history = data["history"]
    assert len(history) == 101 and history[0] == {
        "step": 0, "param": [1.0, 1.0], "f": 11.0, "grad": [2.0, 20.0]
    }  # fmt: skip
    path = numpy_adam(lambda p: np.array([2 * p[0], 20 * p[1]]), [1, 1], 0.1, 100)
    for k in (1, 2, 10, 50, 100):
        assert history[k]["param"] == pytest.approx(path[k].tolist(), rel=1e-9, abs=1e-12), k
        x, y = path[k]
        assert history[k]["f"] == pytest.approx(x * x + 10 * y * y, rel=1e-9, abs=1e-15)
    assert data["final"]["param"] == history[-1]["param"] and data["final"]["state"]["step"] == 100
    assert data["agree"] is True and data["torch_optim"]["max_abs_diff"] < 1e-12
    assert data["variables"] == ["x", "y"] and data["steps_taken"] == 100


def test_rosenbrock_with_momentum_reaches_the_minimum():
    run = invoke("optim", "momentum", "--expr", "(1-x)^2 + 100*(y-x^2)^2", "--at", "x=-1,y=1",
                 "--lr", "0.001", "--iterations", "5000", "--json")  # fmt: skip
    data = run.json()
    assert run.code == 0 and data["agree"]
    assert data["final"]["param"] == pytest.approx([1.0, 1.0], abs=1e-3)
    # the same run in NumPy, torch's momentum b ← μb + g, w ← w − lr·b (b₁ = g)
    x, b = np.array([-1.0, 1.0]), None
    for _ in range(5000):
        g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
        b = g if b is None else 0.9 * b + g
        x = x - 0.001 * b
    assert data["final"]["param"] == pytest.approx(x.tolist(), rel=1e-7)


def test_a_diverging_run_stops_and_says_so():
    run = invoke("optim", "sgd", "--expr", "x^4", "--at", "x=3", "--lr", "1", "--iterations",
                 "50", "--json")  # fmt: skip
    data = run.json()
    assert data["steps_taken"] < 50 and "not finite" in data["stopped"]
    assert data["agree"] is True  # the finite steps agree; the stop is said out loud
    assert any("not finite" in note for note in data["notes"])


def test_expect_after_the_run():
    base = ["optim", "sgd", "--expr", "x^2", "--at", "x=1", "--lr", "0.25", "--iterations", "2"]
    # x ← x − 0.25·2x = x/2: after two steps 1/4, f = 1/16
    ok = invoke(*base, "--expect", "final=0.25", "--expect", "f=1/16")
    assert ok.code == 0, ok.stdout
    bad = invoke(*base, "--expect", "0.5")
    assert bad.code == 1


def test_plot_draws_f_and_the_path_over_contours():
    run = invoke("optim", "adam", "--expr", "x^2 + 10*y^2", "--at", "x=1,y=1", "--lr", "0.1",
                 "--iterations", "50", "--plot", "--width", "60", "--height", "10")  # fmt: skip
    assert run.code == 0
    assert "f against the step k" in run.stdout
    assert "the path on the (x, y) plane" in run.stdout and "contours f =" in run.stdout
    one = invoke("optim", "adam", "--expr", "x^2", "--at", "x=1", "--plot", "--width", "60")
    assert "f against the step k" in one.stdout and "two variables" in one.stdout


def test_contour_segments_lie_on_their_level():
    from gradcli.core.contours import contour_segments, linspace, polylines

    xs, ys = linspace(-2, 2, 41), linspace(-1, 1, 21)
    grid = [[x * x + 4 * y * y for x in xs] for y in ys]
    segments = contour_segments(xs, ys, grid, 1.0)
    assert segments
    for x0, y0, x1, y1 in segments:  # linear interpolation of a convex f: within a cell's error
        for x, y in ((x0, y0), (x1, y1)):
            assert x * x + 4 * y * y == pytest.approx(1.0, abs=0.02)
    curves = polylines(segments)
    assert len(curves) == 1 and len(curves[0]) == len(segments) + 1  # one closed ellipse


# ---------------------------------------------------------------- perceptron --optimizer


def torch_training(optimizer: str, epochs: int, lr: float, decay: float, **options):
    """The 2-2-2 network in torch.nn, trained with torch.optim (two parameter groups: the
    weights decayed, the biases not); returns the history of E (+ ½λ‖W‖² when asked) and
    the final weights."""
    torch.manual_seed(0)
    l1, l2 = torch.nn.Linear(2, 2).double(), torch.nn.Linear(2, 2).double()
    with torch.no_grad():
        l1.weight.copy_(torch.tensor([[0.15, 0.20], [0.25, 0.30]], dtype=torch.float64))
        l1.bias.fill_(0.35)
        l2.weight.copy_(torch.tensor([[0.40, 0.45], [0.50, 0.55]], dtype=torch.float64))
        l2.bias.fill_(0.60)
    x = torch.tensor([[0.05, 0.10]], dtype=torch.float64)
    t = torch.tensor([[0.01, 0.99]], dtype=torch.float64)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
           "momentum": torch.optim.SGD}[optimizer]  # fmt: skip
    groups = [
        {"params": [l1.weight, l2.weight], "weight_decay": decay},
        {"params": [l1.bias, l2.bias], "weight_decay": 0.0},
    ]
    opt = cls(groups, lr=lr, **options)
    losses = []
    for _ in range(epochs + 1):
        out = torch.sigmoid(l2(torch.sigmoid(l1(x))))
        e = 0.5 * ((out - t) ** 2).sum()
        penalty = 0.5 * decay * (l1.weight.pow(2).sum() + l2.weight.pow(2).sum())
        losses.append(float((e + (penalty if optimizer != "adamw" else 0)).detach()))
        if len(losses) == epochs + 1:
            break
        opt.zero_grad()
        e.backward()
        opt.step()
    return losses, [l1.weight.detach().tolist(), l2.weight.detach().tolist()]


@pytest.mark.parametrize(
    ("args", "name", "lr", "decay", "options"),
    [
        (["--optimizer", "adam", "--lr", "0.01"], "adam", 0.01, 0.0, {}),
        (["--optimizer", "adam", "--lr", "0.01", "--weight-decay", "0.05",
          "--param-option", "betas=0.8,0.99"], "adam", 0.01, 0.05, {"betas": (0.8, 0.99)}),
        (["--optimizer", "adamw", "--lr", "0.01", "--weight-decay", "0.1"], "adamw", 0.01, 0.1,
         {}),
        (["--optimizer", "momentum", "--lr", "0.5"], "momentum", 0.5, 0.0, {"momentum": 0.9}),
        (["--weight-decay", "0.1"], "sgd", 0.5, 0.1, {}),
    ],
)  # fmt: skip
def test_training_with_an_optimizer_matches_torch_nn_and_torch_optim(
    args, name, lr, decay, options
):
    run = invoke(*MAZUR, "--epochs", "200", *args, "--json")
    assert run.code == 0, run.stderr
    data = run.json()
    losses, weights = torch_training(name, 200, lr, decay, **options)
    history = [h["loss"] for h in data["history"]]
    assert history == pytest.approx(losses, rel=1e-10)
    for layer, want in zip(data["layers"], weights, strict=True):
        assert np.allclose(layer["weight"]["final"], want, rtol=1e-10, atol=1e-14)
    training = data["training"]["optimizer"]
    assert training["name"] == name and training["agree"] is True
    assert training["max_abs_diff"] < 1e-12
    assert training["decay"] == ("decoupled" if name == "adamw" else "L2")


def test_l2_decay_is_the_gradient_of_the_half_norm_penalty():
    """sgd with --weight-decay λ equals plain descent on E + ½λ‖W‖² done by autograd."""
    run = invoke(*MAZUR, "--epochs", "50", "--weight-decay", "0.2", "--lr", "0.5", "--json")
    l1 = torch.tensor([[0.15, 0.20], [0.25, 0.30]], dtype=torch.float64, requires_grad=True)
    l2 = torch.tensor([[0.40, 0.45], [0.50, 0.55]], dtype=torch.float64, requires_grad=True)
    b1 = torch.full((2,), 0.35, dtype=torch.float64, requires_grad=True)
    b2 = torch.full((2,), 0.60, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.05, 0.10], dtype=torch.float64)
    t = torch.tensor([0.01, 0.99], dtype=torch.float64)
    for _ in range(50):
        out = torch.sigmoid(l2 @ torch.sigmoid(l1 @ x + b1) + b2)
        loss = 0.5 * ((out - t) ** 2).sum() + 0.1 * ((l1**2).sum() + (l2**2).sum())
        grads = torch.autograd.grad(loss, [l1, l2, b1, b2])
        with torch.no_grad():
            for p, g in zip([l1, l2, b1, b2], grads, strict=True):
                p -= 0.5 * g
    data = run.json()
    assert np.allclose(data["layers"][0]["weight"]["final"], l1.tolist(), rtol=1e-10)
    assert np.allclose(data["layers"][1]["bias"]["final"], b2.tolist(), rtol=1e-10)
    assert data["history"][49]["loss"] == pytest.approx(float(loss.detach()), rel=1e-12)


def test_training_table_says_how_it_trained():
    run = invoke(*MAZUR, "--epochs", "20", "--optimizer", "adamw", "--lr", "0.01")
    assert run.code == 0
    for text in ("Training: 20 steps of adamw (torch.optim.AdamW;", "decoupled (biases never)",
                 "loss in the history: E  (decoupled weight decay is not part of the loss)",
                 "✓ every epoch's update: by hand and torch.optim.AdamW agree"):  # fmt: skip
        assert text in run.stdout, text


def test_optimizer_with_no_bias_update_leaves_the_biases():
    data = invoke(*MAZUR, "--epochs", "30", "--optimizer", "adam", "--no-bias-update",
                  "--json").json()  # fmt: skip
    assert data["layers"][0]["bias"]["final"] == [0.35, 0.35]
    assert data["training"]["optimizer"]["agree"] is True


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--optimizer", "adam"], "add --epochs N"),
        (["--epochs", "3", "--optimizer", "adamx"], "did you mean 'adam'"),
        (["--epochs", "3", "--param-option", "betas=0.9,0.9"], "add --optimizer"),
        (["--epochs", "3", "--optimizer", "adam", "--param-option", "weight_decay=1"],
         "--weight-decay"),
        (["--epochs", "3", "--weight-decay", "-1"], "≥ 0"),
        (["--epochs", "3", "--optimizer", "adam", "--lr", "0.1", "--expect",
          "layer1.new_weight=1"], "gradcli optim adam"),
    ],
)  # fmt: skip
def test_perceptron_optimizer_bad_input(args, fragment):
    assert_bad_input(invoke("perceptron", "--weights", "1", "--x", "1", "--target", "1", *args),
                     fragment)  # fmt: skip
