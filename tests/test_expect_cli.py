"""--expect on the command line, with issue 18's exact commands (§2 the rule, §4 kinks, §6 long
integers). Every expected value is computed here, independently of gradcli (math, NumPy, the
forward function's one-sided slopes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gradcli.ops.activations import ACTIVATION_LIST
from tests.conftest import invoke


def answer(run) -> dict:
    return run.json()["check"]


def flat_text(run) -> str:
    return " ".join(run.stdout.split())


# --- §2: a one-digit answer can no longer pass a wrong value ---------------------------------


def test_a_whole_number_is_exact_e_is_not_2():
    # ∂(eˣ)/∂x at x = 1 is e = 2.71828…; "2" is e truncated to one digit: no longer a match
    run = invoke(
        "expr", "x*y", "x+y", "exp(x)", "--at", "x=1,y=2", "--expect", "2,1;1,1;2,0", "--json"
    )
    assert run.code == 1
    check = answer(run)
    assert check["passed"] is False
    assert check["ok"] == [[True, True], [True, True], [False, True]]
    assert check["rule"] == [["exact", "exact"], ["exact", "exact"], [None, "exact"]]
    assert check["digits"] == [[None, None], [None, None], [None, None]]
    text = invoke("expr", "x*y", "x+y", "exp(x)", "--at", "x=1,y=2", "--expect", "2,1;1,1;2,0")
    assert f"write {math.e:.1f} to give an approximation" in flat_text(text)
    passing = invoke("expr", "x*y", "x+y", "exp(x)", "--at", "x=1,y=2", "--expect",
                     "2,1;1,1;2.7,0", "-q")  # fmt: skip
    assert passing.code == 0


def test_one_is_not_one_point_nine_and_quiet_and_json_say_so():
    # ∂(xy)/∂x = y = 1.9
    run = invoke("expr", "x*y", "--at", "x=1,y=1.9", "--expect", "1,1", "--json")
    assert run.code == 1
    check = answer(run)
    assert check["passed"] is False and check["ok"] == [False, True]
    assert check["worst_abs_diff"] == pytest.approx(0.9)
    assert invoke("expr", "x*y", "--at", "x=1,y=1.9", "--expect", "1,1", "-q").code == 1
    assert invoke("expr", "x*y", "--at", "x=1,y=1.0000000001", "--expect", "1,1", "-q").code == 0


def _softmax_jacobian(a: list[float]) -> np.ndarray:
    p = np.exp(np.array(a) - max(a))
    p /= p.sum()
    return np.diag(p) - np.outer(p, p)


def test_a_one_digit_decimal_must_be_correctly_rounded_in_a_jacobian():
    jac = _softmax_jacobian([1, 2, 3])
    assert jac[1, 2] == pytest.approx(-0.162803, abs=1e-6)
    rows = [[f"{v:.4f}" for v in row] for row in jac]
    rows[1][2] = rows[2][1] = "-0.1"  # -0.162803 truncated to one digit: wrong
    written = ";".join(",".join(row) for row in rows)
    run = invoke("softmax-jacobian", "1", "2", "3", "--expect", written, "--json")
    assert run.code == 1
    check = answer(run)
    assert check["ok"][1][2] is False and check["ok"][2][1] is False
    assert sum(ok for row in check["ok"] for ok in row) == 7
    rows[1][2] = rows[2][1] = "-0.2"  # correctly rounded: right
    written = ";".join(",".join(row) for row in rows)
    assert invoke("softmax-jacobian", "1", "2", "3", "--expect", written, "-q").code == 0
    assert "at J[1][2]: you wrote -0.1" in flat_text(
        invoke("softmax-jacobian", "1", "2", "3", "--expect", written.replace("-0.2", "-0.1"))
    )


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_the_weights_before_the_step_do_not_pass_as_the_weights_after_it():
    # a 2-3-1 sigmoid network, E = mean (O − t)², one step of lr = 0.01, by hand in NumPy
    w1 = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    w2 = np.array([[1.0, -1.0, 1.0]])
    x, t, lr = np.array([[0.5, -1.0]]), np.array([[1.0]]), 0.01
    h = _sigmoid(x @ w1.T)
    o = _sigmoid(h @ w2.T)
    delta2 = 2 * (o - t) * o * (1 - o)
    delta1 = (delta2 @ w2) * h * (1 - h)
    new_w1 = w1 - lr * (delta1.T @ x)
    assert not np.allclose(new_w1, w1)
    run = invoke("perceptron", "--weights", "1,2;3,4;5,6", "--weights", "1,-1,1", "--x",
                 "0.5,-1", "--target", "1", "--no-bias", "--lr", "0.01",
                 "--expect", "layer1.new_weight=1,2;3,4;5,6", "--json")  # fmt: skip
    assert run.code == 1
    part = run.json()["check"]["parts"]["layer1.new_weight"]
    assert part["passed"] is False
    # a whole number matches within the verdict's tolerance, atol + rtol·|truth|
    changed = np.abs(new_w1 - w1) > 1e-6 + 1e-5 * np.abs(new_w1)
    assert changed.sum() >= 4
    assert np.array(part["ok"]).tolist() == (~changed).tolist()
    assert "the parameters before the step" in part["hint"]
    right = ";".join(",".join(f"{v:.6f}" for v in row) for row in new_w1)
    assert invoke("perceptron", "--weights", "1,2;3,4;5,6", "--weights", "1,-1,1", "--x",
                  "0.5,-1", "--target", "1", "--no-bias", "--lr", "0.01",
                  "--expect", f"layer1.new_weight={right}", "-q").code == 0  # fmt: skip


def test_min_digits_on_every_command_that_takes_expect():
    sig = 1 / (1 + math.exp(-0.5))
    sig_prime = sig * (1 - sig)  # 0.2350037…
    commands = [
        ["activation", "sigmoid", "0.5", "--expect", f"{sig_prime:.2f}"],
        ["softmax-jacobian", "0", "0", "--expect", "0.25,-0.25;-0.25,0.25"],
        ["loss", "mse", "--pred", "1.5", "--target", "0", "--expect", "3.0"],
        ["expr", "x^3", "--at", "x=0.5", "--expect", "0.75"],
        ["perceptron", "--weights", "0.5", "--x", "1", "--target", "0", "--activation",
         "identity", "--expect", "layer1.weight=1.0"],
        ["layer", "linear", "--x", "1,2", "--weight", "0.5,0.5", "--bias", "none",
         "--upstream", "ones", "--expect", "x=0.50,0.50"],
    ]  # fmt: skip
    for args in commands:
        assert invoke(*args, "-q").code == 0, args
        run = invoke(*args, "--min-digits", "3")
        assert run.code == 1, args
        assert "give at least 3 significant digits (--min-digits 3)" in flat_text(run), args
        assert invoke(*args, "--min-digits", "2", "-q").code == 0, args
    # exact forms are exempt
    assert invoke("softmax-jacobian", "0", "0", "--expect", "1/4,-1/4;-1/4,1/4",
                  "--min-digits", "5", "-q").code == 0  # fmt: skip
    assert invoke("loss", "mse", "--pred", "1.5", "--target", "0", "--expect", "3",
                  "--min-digits", "5", "-q").code == 0  # fmt: skip
    check = answer(invoke(*commands[0], "--min-digits", "3", "--json"))
    assert check["min_digits"] == 3 and check["ok"] == [False] and check["rule"] == [None]


# --- §4: at a kink either convention matches ---------------------------------------------


def test_relu_at_zero_accepts_the_right_hand_derivative_with_a_note():
    run = invoke("activation", "relu", "0", "--expect", "1")
    assert run.code == 0
    assert "1 is the right-hand derivative; torch uses 0" in flat_text(run)
    check = answer(invoke("activation", "relu", "0", "--expect", "1", "--json"))
    assert check["passed"] is True
    assert check["warnings"] == [
        "at x[0] = 0, a kink, 1 is the right-hand derivative; torch uses 0"
    ]
    between = invoke("activation", "relu", "0", "--expect", "0.5")
    assert between.code == 0
    assert "0.5 lies between the one-sided derivatives 0 and 1" in flat_text(between)
    outside = invoke("activation", "relu", "0", "--expect", "2")
    assert outside.code == 1
    assert "any value from 0 to 1 matches" in flat_text(outside)


def _one_sided(forward, at: float) -> tuple[float, float]:
    """One-sided slopes of the forward function near ``at``, each from two points on its own
    side (a jump in the value at the point itself stays out)."""
    h = 1e-7
    left = (forward(at - h) - forward(at - 2 * h)) / h
    right = (forward(at + 2 * h) - forward(at + h)) / h
    return left, right


KINKED = [(act, kink) for act in ACTIVATION_LIST for kink in act.kinks(act.resolve_params([]))]


@pytest.mark.parametrize(("act", "kink"), KINKED, ids=[f"{a.name}@{k:g}" for a, k in KINKED])
def test_every_registry_kink_accepts_both_one_sided_derivatives(act, kink):
    import torch

    params = act.resolve_params([])

    def forward(x: float) -> float:
        return float(act.forward(torch.tensor([x], dtype=torch.float64), params)[0])

    left, right = _one_sided(forward, kink)
    if abs(left - right) < 1e-3:
        pytest.skip(f"{act.name} is smooth enough at {kink:g}")
    at = torch.tensor([kink], dtype=torch.float64, requires_grad=True)
    (torch_value,) = torch.autograd.grad(act.forward(at, params).sum(), at)
    for side, value in (("left-hand", left), ("right-hand", right)):
        written = f"{value:.5f}"
        run = invoke("activation", act.name, repr(kink), "--expect", written)
        assert run.code == 0, (act.name, kink, value, run.stdout)
        if abs(value - float(torch_value)) > 1e-4:
            assert f"{written} is the {side} derivative; torch uses" in flat_text(run)
    beyond = max(left, right) + max(1.0, abs(left), abs(right))
    run = invoke("activation", act.name, repr(kink), "--expect", f"{beyond:.5f}")
    assert run.code == 1
    assert "a kink, any value from" in flat_text(run)


@pytest.mark.parametrize(
    ("args", "answer_text", "note"),
    [
        # abs at 0: one-sided derivatives −1 and 1, torch's autograd gives 0
        (["expr", "abs(x)", "--at", "x=0"], "1", "1 is the right-hand derivative; torch uses 0"),
        (["expr", "abs(x)", "--at", "x=0"], "-1", "-1 is the left-hand derivative; torch uses 0"),
        (["expr", "max(x,y)", "--at", "x=1,y=1"], "1,0", "torch uses 0.5"),
        # hardtanh clamps at ±1: f' = 1 inside, 0 outside; torch uses 0 at the clamps
        (["activation", "hardtanh", "1"], "1", "1 is the left-hand derivative; torch uses 0"),
        (["activation", "leaky_relu", "0"], "1", "1 is the right-hand derivative; torch uses 0.01"),
        (["activation", "relu6", "6"], "1", "1 is the left-hand derivative; torch uses 0"),
        # l1 mean over 2 entries: ±1/2 at y = t
        (["loss", "l1", "--pred", "1,2", "--target", "1,3"], "0.5,-0.5",
         "0.5 is the right-hand derivative; torch uses 0"),
        # a 2×2 window holding 3 twice: torch routes G = 1 to the first, either may take it
        (["layer", "maxpool2d", "--x", "[[[[1,3],[3,2]]]]", "--param", "kernel_size=2",
          "--upstream", "ones"], "x=0,0;1,0", "1 is the right-hand derivative; torch uses 0"),
        (["layer", "maxpool2d", "--x", "[[[[1,3],[3,2]]]]", "--param", "kernel_size=2",
          "--upstream", "ones"], "x=0,0.5;0.5,0", "0.5 lies between the one-sided derivatives"),
    ],
)  # fmt: skip
def test_kinks_of_every_kind_accept_either_convention(args, answer_text, note):
    run = invoke(*args, "--expect", answer_text)
    assert run.code == 0, run.stdout
    assert note in flat_text(run)


def test_a_hidden_relu_at_its_kink_in_a_perceptron():
    # X₁ = x·W₁ᵀ = (0, 1): hidden node 0 sits on relu's kink. E = ½(O − t)², O = W₂·relu(X₁),
    # so ∂E/∂W₁[0][j] = (O − t)·W₂[0]·relu'(0)·x_j: 0 with relu'(0) = 0, −1 with relu'(0) = 1
    base = ["perceptron", "--weights", "1,-1;0.5,0.5", "--weights", "1,1", "--x", "1,1",
            "--target", "2", "--activation", "relu,identity",
            "--reduction", "half-sum"]  # fmt: skip
    for written in ("0,0;-1,-1", "-1,-1;-1,-1", "-0.5,-1/2;-1,-1"):
        run = invoke(*base, "--expect", f"layer1.weight={written}")
        assert run.code == 0, (written, run.stdout)
    run = invoke(*base, "--expect", "layer1.weight=-2,0;-1,-1")
    assert run.code == 1
    assert "any value from -1 to 0 matches" in flat_text(run)


# --- §6: a long integer is exit 2, also inside batch ---------------------------------------


@pytest.mark.parametrize(
    "written", ["1/" + "1" * 5000, "1" * 5000 + "/3", "1" * 5000, "-" + "7" * 4400 + "/7"]
)
def test_a_long_integer_in_expect_is_bad_input_not_an_internal_error(written):
    run = invoke("activation", "sigmoid", "1", "--expect", written)
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.startswith("Error: --expect") and "internal" not in run.stderr


def test_in_batch_a_long_integer_spoils_only_its_own_line():
    lines = "activation sigmoid 0 --expect 1/4\n"
    lines += f"activation sigmoid 1 --expect 1/{'1' * 5000}\n"
    lines += "activation sigmoid 0 --expect 0.25\n"
    run = invoke("batch", "-", input_text=lines)
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.code == 2
    assert records[0]["check"]["passed"] and records[2]["check"]["passed"]
    assert records[1]["line"] == 2 and "too many digits" in records[1]["error"]
