"""Messages that must not send a student the wrong way (issue 18 §4): near suggestions only,
options other tools have said plainly, JSON lists wherever numbers are listed, no ``-0``,
"1 step", examples where a command was left without its points."""

from __future__ import annotations

import numpy as np
import pytest

from gradcli.errors import closest, no_such_option, suggest
from tests.conftest import assert_bad_input, invoke


@pytest.mark.parametrize(
    ("word", "choices", "meant"),
    [
        ("sigmod", ["sigmoid", "tanh"], "sigmoid"),
        ("--weigths", ["--weights", "--x"], "--weights"),
        ("--expcet", ["--expect", "--epochs"], "--expect"),
        ("leakyrelu", ["leaky_relu", "relu"], "leaky_relu"),
        ("slope", ["negative_slope"], "negative_slope"),  # one part of the name
        ("softmax", ["softmax-jacobian", "activation"], "softmax-jacobian"),  # a prefix
        ("Tanh", ["tanh", "sigmoid"], "tanh"),
        ("mes", ["mse", "l1", "huber"], "mse"),  # two letters swapped
        ("mae", ["mse", "l1", "huber"], None),  # another loss, not a typo of mse
        # far-fetched: no suggestion at all
        ("--weight-decay", ["--weights", "--lr"], None),
        ("--l2", ["--lr", "--x"], None),
        ("--optimizer", ["--no-numeric", "--lr"], None),
        ("Nope", ["np", "torch", "forward"], None),
        ("re", ["relu", "relu6"], None),  # too short to start only one
    ],
)
def test_suggestions_are_close_or_absent(word, choices, meant):
    assert closest(word, choices) == meant
    assert (suggest(word, choices) == "") is (meant is None)


def test_options_other_tools_have_are_said_plainly():
    options = ["--weights", "--lr", "--no-numeric", "--epochs"]
    message = no_such_option("--weight-decay", options, "expr")
    assert message == (
        "no such option '--weight-decay': gradcli expr has no such setting (L2 weight decay is "
        "perceptron's --weight-decay λ (with --epochs) and optim's --param-option weight_decay=λ)"
    )
    assert "did you mean" not in no_such_option("--l2", options, "perceptron")
    assert "--weight-decay λ" in no_such_option("--l2", options, "perceptron")
    assert "'gradcli optim NAME'" in no_such_option("--optimizer", options)
    assert "--param-option" in no_such_option("--betas", options, "optim")
    # an option a command does have is never called foreign
    assert "no such setting" not in no_such_option("--device", ["--device"], "x")
    assert no_such_option("-x", ["--x"]) == "no such option '-x' (did you mean '--x'?)"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["perceptron", "--weights", "1", "--x", "1", "--target", "1", "--l2", "0.1"],
         "gradcli perceptron has no such setting (L2 weight decay is perceptron's --weight-decay"),
        (["perceptron", "--weights", "1", "--x", "1", "--target", "1", "--adam"],
         "optimizers are 'gradcli optim NAME' and perceptron's --optimizer NAME"),
        (["optim", "adam", "--param", "1", "--grad", "1", "--weight-decay", "0.1"],
         "(weight_decay is an optimizer's hyper-parameter: --param-option weight_decay=VALUE)"),
        (["optim", "adam", "--param", "1", "--grad", "1", "--betas", "0.9,0.99"],
         "(betas is an optimizer's hyper-parameter: --param-option betas=VALUE)"),
        (["activation", "relu", "1", "--optimizer", "adam"], "gradcli activation has no such"),
        (["expr", "x^2", "--at", "x=1", "--weight-decay", "1"], "gradcli expr has no such"),
    ],
)  # fmt: skip
def test_foreign_options_on_the_command_line(args, fragment):
    run = invoke(*args)
    assert_bad_input(run, fragment)
    assert "did you mean" not in run.stderr


def test_check_suggests_only_callables(tmp_path):
    (tmp_path / "my.py").write_text(
        "import numpy as np\nimport torch\n\n\ndef forward(x):\n    return x * 2\n",
        encoding="utf-8",
    )
    run = invoke("check", f"{tmp_path}/my.py:Nope", "-i", "3")
    assert_bad_input(run, "my.py has no 'Nope'")
    assert "did you mean" not in run.stderr  # never the module 'np'
    near = invoke("check", f"{tmp_path}/my.py:forwrd", "-i", "3")
    assert_bad_input(near, "did you mean 'forward'")


@pytest.mark.parametrize(
    "args",
    [
        ["softmax-jacobian", "[1,2,3]"],
        ["softmax-jacobian", "[1,", "2,", "3]"],  # as the shell splits [1, 2, 3] unquoted
        ["softmax-jacobian", "[1, 2, 3]", "--expect", "[[0.0819,-0.0220,-0.0599],"
         "[-0.0220,0.1848,-0.1628],[-0.0599,-0.1628,0.2227]]"],
    ],
)  # fmt: skip
def test_a_json_list_is_taken_wherever_numbers_are_listed(args):
    run = invoke(*args, "--json")
    assert run.code == 0, run.stderr
    assert run.json()["input"] == [1.0, 2.0, 3.0]


def test_json_lists_for_x_values_ranges_and_layer_sizes():
    run = invoke("activation", "sigmoid", "[0, 0.5]", "--json")
    assert run.code == 0 and run.json()["x"] == [0.0, 0.5]
    plot = invoke("activation", "tanh", "--plot", "--range", "[-2, 2]", "--width", "40")
    assert plot.code == 0 and "[-2, 2]" in plot.stdout
    net = invoke("perceptron", "--layers", "[3, 1]", "--x-shape", "2x2", "--target", "1", "--json")
    assert net.code == 0 and [len(layer["weight"]["value"]) for layer in net.json()["layers"]] == [
        3,
        1,
    ]


RELU_AT_KINK = ["perceptron", "--weights", "1,-1;0.5,0.5", "--weights", "1,1", "--x", "1,1",
                "--target", "2", "--activation", "relu,identity", "--reduction", "half-sum",
                "--steps"]  # fmt: skip


def test_no_minus_zero_in_tables_or_worked_products():
    # δ of hidden node 0 is f'(0)·(−1) = −0.0 in IEEE arithmetic: shown as 0
    run = invoke(*RELU_AT_KINK)
    assert run.code == 0
    assert "-0 " not in run.stdout and "│ -0 │" not in run.stdout and "-0 ×" not in run.stdout
    assert "δ_0·x_0 = 0 × 1 = 0" in run.stdout


def test_one_step_is_one_step():
    run = invoke("perceptron", "--weights", "1,2", "--x", "0.5,-1", "--target", "1",
                 "--activation", "identity", "--epochs", "1")  # fmt: skip
    text = " ".join(run.stdout.split())
    assert run.code == 0
    assert "1 steps" not in text and "1 step of lr" in text


def test_an_activation_without_points_gives_an_example():
    assert_bad_input(
        invoke("activation", "Tanh"),
        "no x values given: write them after the name, e.g. 'gradcli activation tanh 0.5 -1 2',"
        " or draw it with --plot",
    )


def test_expect_followed_by_more_numbers_says_how_to_write_one_list():
    run = invoke("activation", "tanh", "0.3", "1.7", "--expect", "0.9151", "0.1295")
    assert_bad_input(run, "--expect takes one comma-separated list: --expect 0.9151,0.1295")
    # an x after the answer is fine when the shapes agree
    assert invoke("activation", "tanh", "--expect", "0.9151", "0.3", "-q").code == 0
    # and `check` has no --expect at all: its own message
    assert "one comma-separated list" not in invoke("check", "x.py:f", "--expect", "1", "2").stderr


def test_entries_are_named_by_their_index():
    run = invoke("activation", "tanh", "0.3", "1.7", "--expect", "0.9151,0.1296")
    assert run.code == 1
    text = " ".join(run.stdout.split())
    assert "at x[1] = 1.7: you wrote 0.1296" in text and "entry 1" not in text


# --- layer conv2d takes what a student writes: an H×W image, a kh×kw kernel ----------------


def _correlate(x, w):
    """Valid cross-correlation of two 2-D arrays, written out (no library convolution)."""
    kh, kw = w.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i : i + kh, j : j + kw] * w).sum()
    return out


def test_conv2d_reads_a_2d_x_as_one_image_and_shows_everything_in_that_form():
    x = np.arange(1.0, 10.0).reshape(3, 3)
    w = np.array([[1.0, 0.0], [0.0, -1.0]])
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    run = invoke("layer", "conv2d", "--x", "1,2,3;4,5,6;7,8,9", "--weight", "1,0;0,-1",
                 "--bias", "none", "--upstream", "1,2;3,4", "--json")  # fmt: skip
    assert run.code == 0, run.stderr
    data = run.json()
    assert data["inputs"]["x"]["shape"] == [3, 3] and data["inputs"]["weight"]["shape"] == [2, 2]
    assert data["output_shape"] == [2, 2]
    assert np.allclose(data["output"], _correlate(x, w))
    # L = Σ G ⊙ y: ∂L/∂x[a,b] = Σ_ij G[i,j] w[a−i, b−j]; ∂L/∂w = x correlated with G
    dx = np.zeros_like(x)
    for i in range(2):
        for j in range(2):
            dx[i : i + 2, j : j + 2] += g[i, j] * w
    assert data["grads"]["x"]["shape"] == [3, 3]
    assert np.allclose(data["grads"]["x"]["analytic"], dx)
    assert np.allclose(data["grads"]["weight"]["analytic"], _correlate(x, g))
    assert any("reads --x 3×3 as 1×1×3×3 (N×C×H×W)" in note for note in data["notes"])
    table = invoke("layer", "conv2d", "--x", "1,2,3;4,5,6;7,8,9", "--weight", "1,0;0,-1",
                   "--bias", "none", "--upstream", "ones")  # fmt: skip
    assert "x  (3×3, given)" in table.stdout and "y  (2×2)" in table.stdout
    assert "[n=0, c=0]" not in table.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--x", "[[[1,2],[3,4]],[[1,2],[3,4]]]", "--weight", "1,1;1,1"],
         "--x 2×2×2 has 3 dimensions; give 4 (N×C×H×W), as JSON e.g. --x "
         "'[[[[1,2,3],[4,5,6],[7,8,9]]]]' (1×1×3×3), or 2"),
        (["--x", "1,2,3", "--weight", "1,1;1,1"], "--x 3 has 1 dimension; give 4 (N×C×H×W)"),
        (["--x", "1,2;3,4", "--weight", "1,1"],
         "--weight 2 has 1 dimension; give 4 (O×C×kh×kw), as JSON e.g. --weight "
         "'[[[[1,0],[0,-1]]]]' (1×1×2×2), or 2, e.g. --weight '1,0;0,-1' (one 2×2 kernel)"),
    ],
)  # fmt: skip
def test_conv2d_other_ranks_show_the_json_form(args, fragment):
    assert_bad_input(invoke("layer", "conv2d", *args), fragment)
