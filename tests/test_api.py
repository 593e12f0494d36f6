"""``import gradcli``: every function against its CLI twin, Python inputs of every kind, the
result's Python face (bool, passed, to_dict, str, HTML, raise_for_status) and bad input.

The twin of a call is the command line that means the same thing: its ``--json`` document
must equal ``result.to_dict()`` exactly (the same code path from the parsed options on, so
the same bits). Expected numbers in the semantic tests come from hand derivations or NumPy.
"""

from __future__ import annotations

import inspect
import json
import math
import shlex
import subprocess
import sys
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import invoke

import gradcli
from gradcli.cli import app

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("activation", "check", "expr", "layer", "loss", "optim", "perceptron",
             "softmax_jacobian")  # fmt: skip

W1, B1 = [[0.15, 0.20], [0.25, 0.30]], [0.35, 0.35]
W2, B2 = [[0.40, 0.45], [0.50, 0.55]], [0.60, 0.60]


def line(text: str) -> list[str]:
    """A command line's arguments (after ``gradcli``), split as a shell would."""
    return shlex.split(text)


def cli_json(*args: str) -> dict:
    run = invoke(*args, "--json")
    assert run.code in (0, 1), run.stderr
    return json.loads(run.stdout)


def cli_error(*args: str) -> str:
    run = invoke(*args)
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    return run.stderr.removeprefix("Error: ").rstrip("\n")


# ---------------------------------------------------------------- twins


TWINS = [
    pytest.param(
        lambda: gradcli.activation("sigmoid", [0, 0.5, -2], expect=[0.25, 0.235, "0.105"]),
        line("activation sigmoid 0 0.5 -2 --expect 0.25,0.235,0.105"),
        id="activation",
    ),
    pytest.param(
        lambda: gradcli.activation(
            "sigmoid", [0, 2], expect={"f": [0.5, 0.88], "grad": [0.25, 1]}, steps=True
        ),
        line("activation sigmoid 0 2 --expect f=0.5,0.88 --expect grad=0.25,1 --steps"),
        id="activation-keys",
    ),
    pytest.param(
        lambda: gradcli.activation("leaky_relu", [-2, 3], param={"negative_slope": 0.1}),
        line("activation leaky_relu -2 3 --param negative_slope=0.1"),
        id="activation-param",
    ),
    pytest.param(
        lambda: gradcli.activation("relu", [0, 1], dtype="float32", atol=1e-3, rtol=0),
        line("activation relu 0 1 --dtype float32 --atol 1e-3 --rtol 0"),
        id="activation-tolerances",
    ),
    pytest.param(
        lambda: gradcli.loss(
            "cross_entropy", pred=[[2, 1, 0.1], [0.5, 2.5, 0.3]], target=[0, 1], reduction="sum"
        ),
        line("loss cross_entropy --pred '2,1,0.1;0.5,2.5,0.3' --target 0,1 --reduction sum"),
        id="loss",
    ),
    pytest.param(
        lambda: gradcli.loss("mse", [1, 2, 3], [0, 2, 5], reduction="half-sum", expect=[1, 0, -2]),
        line("loss mse --pred 1,2,3 --target 0,2,5 --reduction half-sum --expect 1,0,-2"),
        id="loss-expect",
    ),
    pytest.param(
        lambda: gradcli.softmax_jacobian([1, 2, 3], temperature=2),
        line("softmax-jacobian 1 2 3 -T 2"),
        id="softmax",
    ),
    pytest.param(
        lambda: gradcli.softmax_jacobian(
            [0, 0], expect=[[Fraction(1, 4), Fraction(-1, 4)], [Fraction(-1, 4), Fraction(1, 4)]]
        ),
        line("softmax-jacobian 0 0 --expect '1/4,-1/4;-1/4,1/4'"),
        id="softmax-expect",
    ),
    pytest.param(
        lambda: gradcli.perceptron(
            weights=[W1, W2],
            biases=[B1, B2],
            x=[0.05, 0.10],
            target=[0.01, 0.99],
            reduction="half-sum",
            lr=0.5,
            expect={"layer2.weight": [[0.0822, 0.0827], [-0.0226, -0.0227]]},
        ),
        line(
            "perceptron --weights '0.15,0.20;0.25,0.30' --bias 0.35,0.35 --weights "
            "'0.40,0.45;0.50,0.55' --bias 0.60,0.60 --x 0.05,0.10 --target 0.01,0.99 "
            "--reduction half-sum --lr 0.5 --expect "
            "'layer2.weight=0.0822,0.0827;-0.0226,-0.0227'"
        ),
        id="perceptron",
    ),
    pytest.param(
        lambda: gradcli.perceptron(
            layers=[4, 2], x_shape=(8, 3), target=1, activation=["relu", "sigmoid"], seed=3
        ),
        line("perceptron --layers 4,2 --x-shape 8x3 --target 1 --activation relu,sigmoid --seed 3"),
        id="perceptron-drawn",
    ),
    pytest.param(
        lambda: gradcli.expr("x^2*sin(y)", at={"x": 1, "y": 2}, order=2),
        line("expr 'x^2*sin(y)' --at x=1,y=2 --order 2"),
        id="expr-hessian",
    ),
    pytest.param(
        lambda: gradcli.expr("x*y", "x+y", at={"x": "pi/4", "y": 2}, wrt=["y", "x"]),
        line("expr 'x*y' x+y --at x=pi/4,y=2 --wrt y,x"),
        id="expr-jacobian",
    ),
    pytest.param(
        lambda: gradcli.layer(
            "batchnorm",
            x=[[1, 2, 3], [4, 5, 6], [7, 8, 10], [2, 0, 1]],
            upstream="ones",
            steps=True,
        ),
        line("layer batchnorm --x '1,2,3;4,5,6;7,8,10;2,0,1' --upstream ones --steps"),
        id="layer",
    ),
    pytest.param(
        lambda: gradcli.layer(
            "conv2d",
            x_shape=(1, 1, 4, 4),
            weight_shape=(1, 1, 2, 2),
            bias="none",
            param={"stride": 2},
            seed=5,
        ),
        line(
            "layer conv2d --x-shape 1x1x4x4 --weight-shape 1x1x2x2 --bias none --param "
            "stride=2 --seed 5"
        ),
        id="layer-conv",
    ),
    pytest.param(
        lambda: gradcli.layer(
            "lstm",
            x=[[1, 2], [0, -1], [0.5, 0.5]],
            h0=[0.1, -0.2],
            weight_hh_shape=(8, 2),
            upstream_c=[1, -1],
            steps=True,
        ),
        line(
            "layer lstm --x '1,2;0,-1;0.5,0.5' --h0 0.1,-0.2 --weight-hh-shape 8x2 "
            "--upstream-c 1,-1 --steps"
        ),
        id="layer-lstm",
    ),
    pytest.param(
        lambda: gradcli.check("examples/sigmoid.py:Sigmoid", "5"),
        line("check examples/sigmoid.py:Sigmoid --input 5"),
        id="check",
    ),
    pytest.param(
        lambda: gradcli.check(
            "examples/bad_relu.py:relu_forward",
            "3x4",
            backward="examples/bad_relu.py:relu_backward",
            numpy=True,
        ),
        line(
            "check examples/bad_relu.py:relu_forward --backward "
            "examples/bad_relu.py:relu_backward --numpy --input 3x4"
        ),
        id="check-pair",
    ),
    pytest.param(
        lambda: gradcli.optim(
            "adam",
            param=[1, -2, 3],
            grad=[0.1, 0.2, -0.3],
            state={"exp_avg": [0.01, 0.02, -0.03], "exp_avg_sq": [1e-4, 4e-4, 9e-4], "step": 10},
        ),
        line(
            "optim adam --param 1,-2,3 --grad 0.1,0.2,-0.3 --state exp_avg=0.01,0.02,-0.03 "
            "--state exp_avg_sq=1e-4,4e-4,9e-4 --state step=10"
        ),
        id="optim",
    ),
    pytest.param(
        lambda: gradcli.optim(
            "momentum",
            param=[1, 2],
            grad=[0.5, -1],
            lr=0.1,
            convention="cs231n",
            expect=[1.05, 2.1],
        ),
        line(
            "optim momentum --param 1,2 --grad 0.5,-1 --lr 0.1 --convention cs231n --expect "
            "1.05,2.1"
        ),
        id="optim-expect",
    ),
    pytest.param(
        lambda: gradcli.optim(
            "sgd", expr="x^2 + 10*y^2", at={"x": 1, "y": 1}, lr=0.01, iterations=20
        ),
        line("optim sgd --expr 'x^2 + 10*y^2' --at x=1,y=1 --lr 0.01 --iterations 20"),
        id="optim-expr",
    ),
]


@pytest.mark.parametrize(("call", "args"), TWINS)
def test_to_dict_is_the_cli_json_document(call, args, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = call()
    assert result.to_dict() == cli_json(*args)


def test_every_function_has_a_twin():
    named = {param.id.split("-")[0] for param in TWINS}
    assert named | {"softmax_jacobian"} >= set(FUNCTIONS) - {"softmax"}
    assert gradcli.__all__ == sorted(gradcli.__all__)
    assert set(gradcli.__all__) == {*FUNCTIONS, "GradientMismatch", "InputError"}


OPTION_NAMES = {"biases": "--bias"}  # the repeated --bias, one per layer, in the plural
NOT_OPTIONS = {"name", "x", "a", "expressions", "target", "inputs"}  # arguments, not options


@pytest.mark.parametrize("name", FUNCTIONS)
def test_keywords_are_the_options_in_snake_case(name):
    """Each keyword is an option of the command (``no_numeric`` ↔ ``--no-numeric``)."""
    import typer

    command = typer.main.get_command(app).commands[name.replace("_", "-")]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for keyword in inspect.signature(getattr(gradcli, name)).parameters:
        if keyword in NOT_OPTIONS and f"--{keyword}" not in options:
            continue
        option = OPTION_NAMES.get(keyword, "--" + keyword.replace("_", "-"))
        assert option in options, (name, keyword)


def test_defaults_are_the_clis():
    import typer

    commands = typer.main.get_command(app).commands
    for name in FUNCTIONS:
        command = commands[name.replace("_", "-")]
        defaults = {param.name: param.default for param in command.params}
        for keyword, param in inspect.signature(getattr(gradcli, name)).parameters.items():
            cli_default = defaults.get(keyword.replace("-", "_"))
            if param.default is inspect.Parameter.empty or cli_default is None:
                continue
            if keyword in ("order", "timeout"):  # text options: the same value written
                assert str(param.default) == str(cli_default)
            else:
                assert param.default == cli_default, (name, keyword)


# ---------------------------------------------------------------- inputs


SIGMOID_PRIME = [0.25, 0.19661193324148185, 0.10499358540350652]  # σ(x)(1 − σ(x)) by hand


def sigmoid_prime(x: float) -> float:
    s = 1 / (1 + math.exp(-x))
    return s * (1 - s)


@pytest.mark.parametrize(
    "x",
    [
        [0, 1, -2],
        (0.0, 1.0, -2.0),
        np.array([0, 1, -2]),
        np.array([0, 1, -2], dtype=np.float32),
        np.array([0, 1, -2], dtype=np.int16),
        torch.tensor([0, 1, -2]),
        torch.tensor([0.0, 1.0, -2.0], dtype=torch.float16),
        torch.tensor([0.0, 1.0, -2.0], dtype=torch.bfloat16),
        torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64, requires_grad=True),
        "0,1,-2",
    ],
    ids=lambda x: type(x).__name__ + str(getattr(x, "dtype", "")),
)
def test_inputs_of_every_kind_give_the_same_result(x):
    result = gradcli.activation("sigmoid", x)
    assert result.x == [0.0, 1.0, -2.0]
    for got, x_value in zip(result.check.analytic, [0, 1, -2], strict=True):
        assert got == pytest.approx(sigmoid_prime(x_value), rel=1e-12)


def test_a_number_is_one_point():
    assert gradcli.activation("tanh", 0.5).x == [0.5]
    assert gradcli.activation("tanh", np.float32(0.5)).x == [0.5]
    assert gradcli.activation("tanh", torch.tensor(0.5)).x == [0.5]


def test_the_callers_tensor_is_untouched():
    x = torch.tensor([[0.5, -1.0], [2.0, 3.0]], dtype=torch.float32, requires_grad=True)
    w = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    before_x, before_w = x.detach().clone(), w.clone()
    gradcli.perceptron(weights=w, x=x, target=[[0, 1], [1, 0]])
    gradcli.loss("mse", pred=x, target=w)
    gradcli.layer("linear", x=x, weight=w, bias=torch.zeros(2))
    assert torch.equal(x.detach(), before_x) and torch.equal(w, before_w)
    assert x.requires_grad and x.grad is None and x.dtype == torch.float32
    assert not w.requires_grad and w.grad is None


def test_a_leaf_without_grad_stays_without_grad():
    x = torch.tensor([0.5, 1.5])
    gradcli.activation("sigmoid", x)
    gradcli.softmax_jacobian(x)
    assert not x.requires_grad and x.grad is None


def test_float32_inputs_computed_in_float64_by_default():
    x32 = torch.tensor([0.1], dtype=torch.float32)
    result = gradcli.activation("identity", x32)
    assert result.dtype == "float64"
    assert result.x == [float(np.float32(0.1))]  # the float32 value, exactly, in float64
    assert gradcli.activation("identity", x32, dtype="float32").dtype == "float32"


def test_numpy_and_torch_matrices_and_nested_mixtures():
    pred = [np.array([2.0, 1.0, 0.1]), torch.tensor([0.5, 2.5, 0.3], dtype=torch.float64)]
    a = gradcli.loss("cross_entropy", pred=pred, target=np.array([0, 1]))
    b = gradcli.loss("cross_entropy", pred="2,1,0.1;0.5,2.5,0.3", target="0,1")
    assert a.to_dict() == b.to_dict()
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[[0, 1]]
    assert np.allclose(a.check.analytic.tolist(), (p - onehot) / 2, atol=1e-12)


def test_perceptron_one_layer_and_layer_lists():
    one = gradcli.perceptron(weights=[[1, 2]], x=[0.5, -1], target=1, activation="identity")
    two = gradcli.perceptron(weights=np.array([[1.0, 2.0]]), x=[[0.5, -1]], target=[1],
                             activation="identity")  # fmt: skip
    # E = mean (w·x − t)² with w·x = −1.5: ∂E/∂w = 2(−2.5)·x = (−2.5, 5)
    assert one.to_dict() == two.to_dict()
    grad = one.to_dict()["layers"][0]["weight"]["analytic"]
    assert grad == [[pytest.approx(-2.5), pytest.approx(5.0)]]


# ---------------------------------------------------------------- answers and bool


def test_bool_and_passed():
    right = gradcli.activation("sigmoid", [0, 0.5], expect=[0.25, 0.235])
    assert right and right.agree and right.passed is True
    plain = gradcli.activation("sigmoid", [0, 0.5])
    assert plain and plain.passed is None
    wrong = gradcli.activation("sigmoid", [0, 0.5], expect=[0.25, 0.3])
    assert not wrong and wrong.agree and wrong.passed is False


def test_answers_are_read_as_python_writes_them():
    # 0.2350 would need 4 digits; Python writes 0.235 (3 digits, rounded or truncated)
    assert gradcli.activation("sigmoid", 0.5, expect=0.235)
    assert gradcli.activation("sigmoid", 0, expect=Fraction(1, 4))
    assert gradcli.activation("sigmoid", 0, expect=np.array([0.25]))
    assert not gradcli.activation("sigmoid", 0.5, expect=0.2351)  # σ'(0.5) = 0.2350037…
    assert gradcli.loss("mse", [1, 2], [0, 2], reduction="sum", expect=np.array([2, 0]))


def test_disagreement_is_a_result_and_raise_for_status_says_why(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = gradcli.check("examples/bad_sigmoid.py:Sigmoid", "5")
    assert not result and result.agree is False
    with pytest.raises(gradcli.GradientMismatch) as info:
        result.raise_for_status()
    assert isinstance(info.value, AssertionError)
    message = str(info.value)
    first = message.splitlines()[0]
    assert first.startswith("gradcli check: ")
    for diagnosis in result.diagnoses:
        assert diagnosis.message in first
    assert "✗" in message and str(result) in message
    assert info.value.result is result


def test_raise_for_status_on_a_wrong_answer_names_it():
    result = gradcli.activation("tanh", [0, 1], expect=[1, 0.5])
    with pytest.raises(AssertionError) as info:
        result.raise_for_status()
    assert "your answer" in str(info.value).splitlines()[0]
    assert gradcli.activation("tanh", [0, 1], expect=[1, 0.42]).raise_for_status() is None


def test_str_is_the_cli_table():
    result = gradcli.softmax_jacobian([1, 2, 3])
    table = invoke("softmax-jacobian", "1", "2", "3").stdout
    assert str(result) == table.rstrip("\n")
    assert "3 significant" not in str(gradcli.activation("sigmoid", 0.5, precision=3))
    assert "0.235" in str(gradcli.activation("sigmoid", 0.5, precision=3))
    assert "0.235004" not in str(gradcli.activation("sigmoid", 0.5, precision=3))


# ---------------------------------------------------------------- HTML


class Cells(HTMLParser):
    """Every piece of text with the inline style it is shown in, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[str] = []
        self.pieces: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self.stack.append(attributes.get("style") or "")

    def handle_endtag(self, tag):
        self.stack.pop()

    def handle_data(self, data):
        self.pieces.append((data, self.stack[-1] if self.stack else ""))

    def styles_of(self, text: str) -> list[str]:
        return [style for data, style in self.pieces if data == text]

    @property
    def text(self) -> str:
        return "".join(data for data, _ in self.pieces)


def parsed_html(result) -> Cells:
    cells = Cells()
    cells.feed(result._repr_html_())
    cells.close()
    assert not cells.stack  # every tag closed
    return cells


def test_html_is_plain_and_colours_the_verdicts():
    result = gradcli.activation("sigmoid", [0, 0.5], expect=[0.25, 0.3])
    cells = parsed_html(result)
    tags = {tag for tag, _ in cells.tags}
    assert "script" not in tags and "style" not in tags and "table" in tags
    assert not any(key.startswith("on") for _, attrs in cells.tags for key in attrs)
    ticks, crosses = cells.styles_of("✓"), cells.styles_of("✗")
    assert ticks and crosses
    assert all("color: #1a7f37" in style for style in ticks)
    assert all("color: #cf222e" in style for style in crosses)
    assert "derivatives agree" in cells.text and "your answer" in cells.text
    rows = [attrs for tag, attrs in cells.tags if tag == "tr"]
    assert len(rows) == 3  # the header and one row per x


@pytest.mark.parametrize(
    "call",
    [
        lambda: gradcli.softmax_jacobian([1, 2, 3], heatmap=True),
        lambda: gradcli.perceptron(
            weights=[W1, W2], biases=[B1, B2], x=[0.05, 0.10], target=[0.01, 0.99], graph=True
        ),
        lambda: gradcli.expr("x*y + sin(x)", at={"x": 1, "y": 2}, steps=True, graph=True),
        lambda: gradcli.layer("attention", q_shape=(4, 3), param={"causal": True}, steps=True),
        lambda: gradcli.optim("adam", param=[1, -2], grad=[0.1, 0.2], steps=True),
        lambda: gradcli.check(
            "examples/bad_relu.py:relu_forward",
            "3x4",
            backward="examples/bad_relu.py:relu_backward",
            numpy=True,
        ),
    ],
    ids=["heatmap", "graph", "steps", "attention", "optim", "check"],
)
def test_every_result_kind_has_html_with_its_verdict(call, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = call()
    cells = parsed_html(result)
    assert "script" not in {tag for tag, _ in cells.tags}
    mark = "✓" if result else "✗"
    assert cells.styles_of(mark) or any(mark in data for data, _ in cells.pieces)
    plain = " ".join(str(result).split())
    for word in ("agree", "DISAGREE"):
        if word in plain:
            assert word in cells.text


# ---------------------------------------------------------------- check with objects


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x  # the factor 2 forgotten


def cube(x):
    return x**3


def cube_backward(dout, x):
    return dout * 3 * x**2


def test_check_takes_objects():
    wrong = gradcli.check(Square, torch.tensor([0.5, -1.0, 2.0]))
    assert not wrong
    assert wrong.kind == "autograd.Function" and wrong.target.endswith("Square")
    codes = {diagnosis.code for diagnosis in wrong.diagnoses}
    assert codes, "a factor-2 bug is diagnosed"
    right = gradcli.check(cube, np.array([[0.5, -1.0], [2.0, 0.3]]), backward=cube_backward)
    assert right and right.kind == "forward/backward"
    block = right.gradients[0]
    expected = 3 * np.array([[0.5, -1.0], [2.0, 0.3]]) ** 2  # d(x³)/dx, by hand
    assert np.allclose(np.diag(np.array(block.analytic).reshape(4, 4)), expected.reshape(-1))


def test_check_of_an_object_matches_the_file_twin(monkeypatch):
    monkeypatch.chdir(ROOT)
    import importlib.util

    spec = importlib.util.spec_from_file_location("sigmoid_example", ROOT / "examples/sigmoid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    given = gradcli.check(module.Sigmoid, "5").to_dict()
    twin = cli_json("check", "examples/sigmoid.py:Sigmoid", "--input", "5")
    assert given.pop("target") == "sigmoid_example.Sigmoid"
    twin.pop("target")
    assert given == twin


def test_an_error_in_user_objects_is_a_result_naming_their_line():
    def broken(x):
        return x.no_such_method()

    failed = gradcli.check(broken, [1.0, 2.0])
    assert not failed and failed.passed is None
    assert failed.failure.exception == "AttributeError"
    assert failed.failure.place.name.startswith("test_api.py line") and "broken" in str(failed)
    with pytest.raises(gradcli.GradientMismatch) as info:
        failed.raise_for_status()
    assert "AttributeError" in str(info.value).splitlines()[0]


def test_check_takes_scalars_and_keyword_arguments():
    def scaled(x, factor=1.0):
        return x * factor

    result = gradcli.check(scaled, 0.5, kwarg={"factor": 3.0})
    assert result and result.inputs[0].shape == []
    with pytest.raises(gradcli.InputError) as info:
        gradcli.check(scaled, 0.5, kwarg={"factor": torch.tensor(1.0)})
    assert "--kwarg factor" in str(info.value)


# ---------------------------------------------------------------- bad input


BAD = [
    # (call, the CLI line that is bad the same way)
    (lambda: gradcli.activation("sigmod", [1]), line('activation sigmod 1')),
    (lambda: gradcli.activation("sigmoid", "1,x"), line('activation sigmoid 1,x')),
    (lambda: gradcli.activation("relu", [1], param={"slope": 1}),
     line('activation relu 1 --param slope=1')),
    (lambda: gradcli.activation("sigmoid", [1, 2], expect=[1]),
     line('activation sigmoid 1 2 --expect 1')),
    (lambda: gradcli.activation("sigmoid", [1], dtype="float16"),
     line('activation sigmoid 1 --dtype float16')),
    (lambda: gradcli.activation("sigmoid", [1], atol=-1),
     line('activation sigmoid 1 --atol -1')),
    (lambda: gradcli.loss("mse", [1, 2], [1, 2, 3]),
     line('loss mse --pred 1,2 --target 1,2,3')),
    (lambda: gradcli.loss("mse", [1, 2], [1, 2], reduction="avg"),
     line('loss mse --pred 1,2 --target 1,2 --reduction avg')),
    (lambda: gradcli.loss("mse", [[1, 2], [3]], [1, 2]),
     line("loss mse --pred '[[1,2],[3]]' --target 1,2")),
    (lambda: gradcli.softmax_jacobian([1, 2], temperature=0),
     line('softmax-jacobian 1 2 -T 0')),
    (lambda: gradcli.perceptron(weights=[W1], x=[1, 2, 3], target=[0, 1]),
     line("perceptron --weights '0.15,0.20;0.25,0.30' --x 1,2,3 --target 0,1")),
    (lambda: gradcli.perceptron(weights=[W1], x=[1, 2], target=[0, 1], lr=0),
     line("perceptron --weights '0.15,0.20;0.25,0.30' --x 1,2 --target 0,1 --lr 0")),
    (lambda: gradcli.perceptron(weights=[W1], x=[1, 2], target=[0, 1],
                                expect={"layer3.weight": [1]}),
     line(
         "perceptron --weights '0.15,0.20;0.25,0.30' --x 1,2 --target 0,1 --expect "
         'layer3.weight=1'
     )),
    (lambda: gradcli.expr("x^2", at={"y": 1}), line("expr 'x^2' --at y=1")),
    (lambda: gradcli.expr("x^", at={"x": 1}), line("expr 'x^' --at x=1")),
    (lambda: gradcli.expr("x^2", at={"x": 1}, order=3), line("expr 'x^2' --at x=1 --order 3")),
    (lambda: gradcli.layer("linaer", x=[1]), line('layer linaer --x 1')),
    (lambda: gradcli.layer("linear", x=[1, 2], weight=[[1, 2, 3]]),
     line('layer linear --x 1,2 --weight 1,2,3')),
    (lambda: gradcli.optim("adam", param=[1, 2], grad=[1]),
     line('optim adam --param 1,2 --grad 1')),
    (lambda: gradcli.optim("adma", param=[1], grad=[1]),
     line('optim adma --param 1 --grad 1')),
    (lambda: gradcli.check("examples/nope.py:f"), line('check examples/nope.py:f')),
    (lambda: gradcli.check("examples/sigmoid.py:Sigmoid", "2x0"),
     line('check examples/sigmoid.py:Sigmoid --input 2x0')),
]  # fmt: skip


@pytest.mark.parametrize(("call", "args"), BAD, ids=[" ".join(a)[:40] for _, a in BAD])
def test_bad_input_raises_input_error_with_the_cli_message(call, args, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(gradcli.InputError) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert str(info.value) == cli_error(*args)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: gradcli.activation("sigmoid", [1, float("nan")]), "'nan' is not a finite"),
        (lambda: gradcli.activation("sigmoid", np.array([1, np.inf])), "'inf' is not a finite"),
        (lambda: gradcli.activation("sigmoid", torch.tensor([1j])), "complex"),
        (lambda: gradcli.activation("sigmoid", [[1, 2], [3, 4]]), "flat list"),
        (lambda: gradcli.activation("sigmoid", []), "no x values given"),
        (lambda: gradcli.activation("sigmoid", [True]), "'True' is not a number"),
        (lambda: gradcli.activation("sigmoid", [1], expect={"x": 1}), "'x' names no quantity"),
        (lambda: gradcli.activation("sigmoid", [1], precision=30), "'--precision'"),
        (lambda: gradcli.loss("mse", [[[1]]], [1]), "at most 2 dimensions"),
        (lambda: gradcli.loss("mse", np.array(["a"]), [1]), "not of numbers"),
        (lambda: gradcli.perceptron(weights=[W1], x=[1, 2], target=[0, 1], seed=-1), "--seed"),
        (lambda: gradcli.expr(3, at={"x": 1}), "an expression is text"),
        (lambda: gradcli.expr("x", at=[1]), "--at takes a dict"),
        (lambda: gradcli.check(42, [1.0]), "not a function"),
    ],
)
def test_python_only_bad_input(call, fragment):
    with pytest.raises(gradcli.InputError) as info:
        call()
    assert fragment in str(info.value)


# ---------------------------------------------------------------- import cost


def test_import_gradcli_loads_neither_torch_nor_the_cli():
    code = (
        "import sys, gradcli\n"
        "heavy = ('torch', 'typer', 'rich', 'click', 'sympy', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert proc.stdout.strip() == "[]"


def test_gradcli_expr_stays_the_function_after_the_subpackage_loads():
    import gradcli.expr.language  # the subpackage of the same name

    assert callable(gradcli.expr) and gradcli.expr.__module__ == "gradcli.api"
    from gradcli.expr import language

    assert language.__name__ == "gradcli.expr.language"


def test_the_package_is_typed():
    assert (ROOT / "gradcli" / "py.typed").exists()
    for name in FUNCTIONS:
        hints = inspect.signature(getattr(gradcli, name))
        assert hints.return_annotation is not inspect.Signature.empty


def test_a_results_repr_is_one_line_with_its_verdict():
    import gradcli

    right = gradcli.activation("sigmoid", [0, 0.5], expect=[0.25, 0.235])
    wrong = gradcli.activation("tanh", [0, 1], expect=[1, 0.5])
    assert repr(right) == "<ActivationResult activation: agree, answer right>"
    assert repr(wrong) == "<ActivationResult activation: agree, answer wrong>"
    assert repr(gradcli.softmax_jacobian([1, 2, 3])) == (
        "<SoftmaxJacobianResult softmax-jacobian: agree>"
    )
