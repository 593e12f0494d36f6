"""Issue 18 §3, §5 and §6 (verdicts, defaults, huge inputs, overflow): every example is a test
with the exact command.

- §3 an entry left out of the verdict is marked ``~`` in every command's table, ``false`` in
  JSON's ``numeric_trusted`` (``checked`` for check), and a note says why;
- §6 a finite difference that cannot resolve the function (sin at 1e22) is left out, not a
  false DISAGREE; overflow in the forward or the gradient is one rule: exit 2 naming where.
"""

from __future__ import annotations

import math
import textwrap

import pytest

from gradcli.render.table import UNTRUSTED
from tests.conftest import assert_bad_input, invoke

PERCEPTRON_KINK = [
    "perceptron", "--weights", "1,-1;0.5,0.5", "--weights", "1,1", "--x", "1,1",
    "--target", "2", "--activation", "relu,identity", "--reduction", "half-sum",
]  # fmt: skip


def _notes(data: object) -> str:
    """Every note in a JSON result (the top level's and those of each gradient), joined."""
    if isinstance(data, dict):
        own = data.get("notes") or []
        return " ".join([*own, *(_notes(v) for k, v in data.items() if k != "notes")]).strip()
    if isinstance(data, list):
        return " ".join(_notes(v) for v in data).strip()
    return ""


# ---------------------------------------------------------------- §3: the verdict matches its table


def test_the_perceptron_kink_is_marked_and_explained():
    """Issue 18 §3: ReLU at X = 0 — numeric −0.5 where backprop and autograd say 0."""
    table = invoke(*PERCEPTRON_KINK)
    assert table.code == 0
    # the numeric ∂E/∂W[0, :] is the average of the one-sided slopes 0 and −1: −0.5, marked
    assert table.stdout.count(f"-0.499999 {UNTRUSTED}") == 2
    note = "relu's kink at x = 0, where its one-sided slopes are 0 (left) and 1 (right)"
    flat = " ".join(table.stdout.split())
    assert note in flat and "W[0, 0] and W[0, 1] left out of the verdict (shown ~)" in flat
    assert "X of layer 1 (sample 0, node k=0: X = 0)" in flat
    data = invoke(*PERCEPTRON_KINK, "--json").json()
    weight = data["layers"][0]["weight"]
    assert weight["numeric_trusted"] == [[False, False], [True, True]]
    assert weight["numeric"][0][0] == pytest.approx(-0.5, abs=1e-5)  # (0 + (−1))/2
    assert note in _notes(data) and data["agree"]


def test_no_marker_without_a_note_in_the_perceptron():
    """Away from the kink (X = 0.5 instead of 0) nothing is marked and nothing is noted."""
    run = invoke(*[a if a != "1,-1;0.5,0.5" else "1,-0.5;0.5,0.5" for a in PERCEPTRON_KINK])
    assert UNTRUSTED not in run.stdout
    data = invoke(*[a if a != "1,-1;0.5,0.5" else "1,-0.5;0.5,0.5" for a in PERCEPTRON_KINK],
                  "--json").json()  # fmt: skip
    assert all(all(row) for row in data["layers"][0]["weight"]["numeric_trusted"])
    assert data["notes"] == []


@pytest.fixture
def kinked_code(tmp_path):
    path = tmp_path / "kinked.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch

            def relu(x):
                return torch.relu(x)

            def sin(x):
                return torch.sin(x)
            """
        ),
        encoding="utf-8",
    )
    return path


def _command_cases(kinked_code):
    """(table/JSON args, the marked cell in the table, a fragment of the note, how JSON marks
    it) for every command, each at a kink or an otherwise untrusted entry."""
    return {
        "activation": (
            ["activation", "relu", "0", "1"],
            f"0.5 {UNTRUSTED}",
            "a kink: its one-sided slopes are 0 and 1",
            lambda d: d["numeric_trusted"] == [False, True],
        ),
        "loss": (
            ["loss", "l1", "--pred", "1,2", "--target", "1,3"],
            f"0 {UNTRUSTED}",
            "l1 is not differentiable at y = t",
            lambda d: d["numeric_trusted"] == [False, True],
        ),
        "softmax-jacobian": (
            ["softmax-jacobian", "0", "0", "--temperature", "1e-12"],
            f"100 {UNTRUSTED}",
            "4 entries left out of the verdict (shown ~)",
            lambda d: d["numeric_trusted"] == [[False, False], [False, False]],
        ),
        "perceptron": (
            PERCEPTRON_KINK,
            f"-0.499999 {UNTRUSTED}",
            "relu's kink at x = 0",
            lambda d: d["layers"][0]["weight"]["numeric_trusted"][0] == [False, False],
        ),
        "expr": (
            ["expr", "relu(x)", "--at", "x=0"],
            f"0.5 {UNTRUSTED}",
            "relu is not differentiable where its argument is 0",
            lambda d: d["numeric_trusted"] == [False],
        ),
        "layer": (  # four entries tie for the window's maximum
            [
                "layer",
                "maxpool2d",
                "--x",
                "[[[[1,1],[1,1]]]]",
                "--param",
                "kernel_size=2",
                "--upstream",
                "ones",
            ],
            f"0.5 {UNTRUSTED}",
            "ties inside a window",
            lambda d: d["grads"]["x"]["numeric_trusted"] == [[[[False, False], [False, False]]]],
        ),
        "check": (
            ["check", f"{kinked_code}:relu", "--input", "0,1,-1"],
            f" x {UNTRUSTED} ✓ ✓",
            "1 of 3 entries are not judged (shown ~)",
            lambda d: d["inputs"][0]["checked"][0] == [False, True, True],
        ),
    }


@pytest.mark.parametrize(
    "command",
    ["activation", "loss", "softmax-jacobian", "perceptron", "expr", "layer", "check"],
)
def test_every_command_marks_an_untrusted_entry_and_says_why(command, kinked_code):
    args, cell, note, marked = _command_cases(kinked_code)[command]
    table = invoke(*args)
    assert table.code == 0, table.stdout + table.stderr
    assert cell in table.stdout, table.stdout
    assert note in " ".join(table.stdout.split())
    data = invoke(*args, "--json").json()
    assert marked(data), data
    assert note in _notes(data)


# ---------------------------------------------------------------- §6: huge |x|


def _true_derivative(expression: str, x: float) -> float:
    """The exact derivative at the float64 x (mpmath, 400 digits: exact argument reduction)."""
    import mpmath

    with mpmath.workdps(400):
        p = mpmath.mpf(x)
        return float(
            {
                "sin(x)": mpmath.cos(p),
                "cos(x)": -mpmath.sin(p),
                "exp(sin(x))": mpmath.exp(mpmath.sin(p)) * mpmath.cos(p),
            }[expression]
        )


@pytest.mark.parametrize(
    ("expression", "x"),
    [("sin(x)", "1e22"), ("sin(x)", "1e300"), ("cos(x)", "1e16"), ("exp(sin(x))", "1e20")],
)
def test_no_false_disagree_at_huge_x(expression, x):
    """Issue 18 §6: the difference is a chord over many periods (x ± 1e-5·x), tiny and
    self-consistent; it was trusted and the verdict said DISAGREE."""
    run = invoke("expr", expression, "--at", f"x={x}", "--json")
    assert run.code == 0, run.stdout
    data = run.json()
    assert data["analytic"][0] == pytest.approx(_true_derivative(expression, float(x)), rel=1e-9)
    assert data["numeric_trusted"] == [False] and data["agree"]
    assert "the step it would need is below the input's spacing" in _notes(data)
    table = invoke("expr", expression, "--at", f"x={x}")
    assert table.code == 0 and f" {UNTRUSTED} " in table.stdout
    assert "below the input's spacing" in " ".join(table.stdout.split())


@pytest.mark.parametrize("x", ["1e22", "1e308"])
def test_check_of_torch_sin_at_huge_x_is_not_called_wrong(x, kinked_code):
    run = invoke("check", f"{kinked_code}:sin", "--input", x, "--json")
    data = run.json()
    block = data["inputs"][0]
    assert block["mismatch_count"] == 0 and block["checked"] == [[False]]
    assert "WRONG" not in invoke("check", f"{kinked_code}:sin", "--input", x).stdout
    assert "scale finer than the input's float64 spacing" in _notes(data)


@pytest.mark.parametrize("x", ["1e22", "1e308"])
def test_check_still_judges_the_ordinary_entries_next_to_a_huge_one(x, kinked_code):
    data = invoke("check", f"{kinked_code}:sin", "--input", f"{x},0.5,2", "--json").json()
    assert data["inputs"][0]["checked"][1] == [False, True, True]  # row of ∂out[1]/∂x
    assert data["agree"]


# ---------------------------------------------------------------- §6: one overflow rule


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (  # was "DISAGREE: max |diff| inf", exit 1
            ["layer", "attention", "--q-shape", "4x3", "--param", "scale=1e308"],
            ["the forward y overflows float64 at y[0, 0], y[0, 1], y[0, 2]", "3 of 12 values"],
        ),
        (  # was exit 0 with a note
            ["layer", "linear", "--x", "1e308,1e308", "--weight", "1,1"],
            ["the forward y overflows float64 at y[0]"],
        ),
        (  # was already exit 2, as "the derivative overflows"
            ["layer", "attention", "--q", "1e300,1;1,1", "--k", "1e300,1;1,1"],
            ["the forward y overflows float64 at y[0, 0], y[0, 1]"],
        ),
        (  # was "step 100 gradient … DISAGREE (inf)"
            [
                "perceptron",
                "--weights",
                "1,2",
                "--x",
                "0.5,-1",
                "--target",
                "1",
                "--activation",
                "identity",
                "--epochs",
                "100",
                "--lr",
                "1e6",
            ],
            [
                "gradient descent overflows float64 from step 25 of 100 (lr = 1e+06)",
                "E = inf",
                "try a smaller --lr",
            ],
        ),
        (
            [
                "layer",
                "linear",
                "--x",
                "1,1",
                "--weight",
                "1e200,1e200",
                "--bias",
                "none",
                "--upstream",
                "1e200",
            ],
            ["the gradient overflows float64 at ∂L/∂x[0], ∂L/∂x[1]"],
        ),
    ],
)
def test_overflow_is_one_rule_exit_two_naming_where(args, fragments):
    for extra in ([], ["--json"], ["--quiet"]):
        assert_bad_input(invoke(*args, *extra), *fragments)


def test_the_divergence_step_is_where_the_loss_first_overflows():
    """E after k steps of w ← w − lr·∂E/∂w for E = ½(w·x − 1)² with x = (0.5, −1), computed
    here in plain floats: the first k where it leaves float64 is the step named."""
    w, x, lr = [1.0, 2.0], [0.5, -1.0], 1e6
    step = None
    for k in range(101):
        out = w[0] * x[0] + w[1] * x[1]
        loss = 0.5 * (out - 1) * (out - 1)  # IEEE: inf past the range (** raises instead)
        if not math.isfinite(loss):
            step = k
            break
        grad = [(out - 1) * xi for xi in x]
        w = [wi - lr * gi for wi, gi in zip(w, grad, strict=True)]
    run = invoke(
        "perceptron", "--weights", "1,2", "--x", "0.5,-1", "--target", "1",
        "--activation", "identity", "--epochs", "100", "--lr", "1e6", "--reduction", "half-sum",
    )  # fmt: skip
    assert_bad_input(run, f"from step {step} of 100")


# ---------------------------------------------------------------- §5: defaults compared with torch


def _as_tensor(values, shape):
    import torch

    return torch.tensor(values, dtype=torch.float64).reshape(shape)


@pytest.mark.parametrize(
    ("layer", "x", "module"),
    [
        ("batchnorm", "1,2,3;4,5,6;7,8,10;2,0,1", "BatchNorm1d"),
        ("layernorm", "1,2,3;4,5,6;7,8,10;2,0,1", "LayerNorm"),
        ("rmsnorm", "1,2,3;4,5,6;7,8,10;2,0,1", "RMSNorm"),
    ],
)
def test_a_norm_left_without_gamma_and_beta_is_the_torch_module_as_it_starts(layer, x, module):
    """Issue 18 §5: `layer batchnorm --x …` drew γ and β at random; nn.BatchNorm1d starts with
    γ = 1, β = 0, so a student comparing with torch got another ∂L/∂x."""
    import torch

    data = invoke("layer", layer, "--x", x, "--json").json()
    inputs = data["inputs"]
    assert inputs["weight"]["value"] == [1.0, 1.0, 1.0]
    assert inputs["weight"]["source"] == "default"
    if layer != "rmsnorm":
        assert inputs["bias"]["value"] == [0.0, 0.0, 0.0]
    # the student's side: the torch module, fresh, in float64, fed x and G from gradcli
    made = {
        "BatchNorm1d": lambda: torch.nn.BatchNorm1d(3),
        "LayerNorm": lambda: torch.nn.LayerNorm(3),
        "RMSNorm": lambda: torch.nn.RMSNorm(3, eps=torch.finfo(torch.float64).eps),
    }[module]().double()
    xs = _as_tensor(inputs["x"]["value"], (4, 3)).requires_grad_(True)
    g = _as_tensor(data["upstream"], (4, 3))
    made.train()
    made(xs).backward(g)
    grads = data["grads"]
    ours = _as_tensor(grads["x"]["analytic"], (4, 3))
    assert torch.allclose(ours, xs.grad, rtol=1e-9, atol=1e-12)
    assert grads["weight"]["analytic"] == pytest.approx(made.weight.grad.tolist(), rel=1e-9)
    owner = {"BatchNorm1d": "nn.BatchNorm", "LayerNorm": "nn.LayerNorm", "RMSNorm": "nn.RMSNorm"}
    assert f"not given, so as {owner[module]} starts" in _notes(data)


@pytest.mark.parametrize(
    ("args", "fan_in", "owner"),
    [
        (["layer", "linear", "--x", "1,2,3;4,5,6", "--weight", "1,0,0;0,1,0"], 3, "nn.Linear"),
        (
            ["layer", "conv2d", "--x-shape", "1x2x4x4", "--weight-shape", "3x2x2x2"],
            8,
            "nn.Conv2d",
        ),
    ],
)
def test_a_bias_left_out_is_torch_s_bias_init_from_the_seed(args, fan_in, owner):
    """nn.Linear and nn.Conv2d start their bias uniform on ±1/√fan_in; the note says how it
    was drawn, so a torch script repeats it."""
    import torch

    data = invoke(*args, "--json").json()
    inputs = data["inputs"]
    bias = inputs["bias"]["value"]
    bound = 1 / math.sqrt(fan_in)
    assert all(abs(b) <= bound for b in bias) and len(set(bias)) == len(bias)
    # repeat it as the note says: the inputs drawn before it, then the uniform draw
    generator = torch.Generator().manual_seed(0)
    for name in ("x", "weight"):
        if inputs[name]["source"] == "drawn":
            torch.randn(*inputs[name]["shape"], generator=generator, dtype=torch.float64)
    expected = torch.empty(len(bias), dtype=torch.float64).uniform_(
        -bound, bound, generator=generator
    )
    assert bias == expected.tolist()
    note = f"uniform_(-1/√{fan_in}, 1/√{fan_in}) ({owner}'s bias init, fan_in = {fan_in})"
    assert note in _notes(data)


def test_the_upstream_stays_random_by_default_and_ones_is_there():
    data = invoke("layer", "batchnorm", "--x", "1,2;3,4;5,7", "--json").json()
    assert data["upstream_kind"] == "random"
    ones = invoke("layer", "batchnorm", "--x", "1,2;3,4;5,7", "--upstream", "ones", "--json")
    g = ones.json()["upstream"]
    assert g == [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    # why random is the default: with G = ones the true ∂L/∂x of a norm is 0 (Σx̂ = 0)
    assert all(abs(v) < 1e-12 for row in ones.json()["grads"]["x"]["analytic"] for v in row)
    assert "with ones a norm's ∂L/∂x is 0" in " ".join(invoke("layer", "--help").stdout.split())


def test_softplus_plot_is_not_widened_by_a_jump_below_the_tolerance():
    """Issue 18 §5: torch's switch to x at βx = 20 jumps by ~2e-9: no kink, so the plot stays
    on −6 … 6 (it was −6 … 22, the switch drawn as a kink)."""
    run = invoke("activation", "softplus", "--plot")
    assert run.code == 0
    assert "on [-6, 6]" in run.stdout
    # a real kink still widens it and is drawn: relu6's at 6
    assert "on [-6, 7]" in invoke("activation", "relu6", "--plot").stdout
    # with a threshold of 5, f' jumps by 1 − σ(5) = 6.7e-3: a kink, and the range reaches it
    jump = 1 - 1 / (1 + math.exp(-5))
    assert jump > 1e-3
    assert (
        "on [-6, 6]" in invoke("activation", "softplus", "--plot", "--param", "threshold=5").stdout
    )


def test_a_new_weight_answer_has_the_weight_tables_labels():
    """Issue 18 §5: `--expect layer1.new_weight=…` labelled its columns k=0, k=1 with blank
    rows even for a 3×2 W; W's tables label rows k (nodes) and columns j (inputs)."""
    run = invoke(
        "perceptron", "--weights", "1,2;3,4;5,6", "--x", "1,1", "--target", "1,1,1",
        "--activation", "identity", "--lr", "0.1", "--expect", "layer1.new_weight=1,2;3,4;5,6",
    )  # fmt: skip
    answer = run.stdout[run.stdout.index("your answer") :]
    header = next(line for line in answer.splitlines() if "j=0" in line or "k=0" in line)
    assert "j=0" in header and "j=1" in header and "k=0" not in header
    assert "k=2" in answer


def test_a_loss_that_spoils_every_difference_is_marked_and_said():
    """sigmoid(40) rounds to 1 in float64: bce's finite differences at the edge of its domain
    mislead for every parameter; each is marked and one note says why."""
    args = ["perceptron", "--weights", "40", "--x", "1", "--target", "1",
            "--activation", "sigmoid", "--loss", "bce"]  # fmt: skip
    run = invoke(*args)
    assert run.code == 0 and f"0 {UNTRUSTED}" in run.stdout
    data = invoke(*args, "--json").json()
    assert data["layers"][0]["weight"]["numeric_trusted"] == [[False]]
    assert "every finite difference is left out of the verdict (shown ~)" in _notes(data)
