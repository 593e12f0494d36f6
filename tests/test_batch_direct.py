"""``batch`` calls each line's command function directly (no Click per line) — and every line,
right or wrong, gives byte for byte the record the Click path gives.

A line the direct parser does not read itself (an unknown option, ``--``, short options run
together, a value an option's parser refuses…) goes through Click, which parses or reports it
as always: the corpus below has both kinds, and each record is compared with Click's.
"""

from __future__ import annotations

import io

import pytest
import typer

from gradcli.cli import app
from gradcli.commands import batch
from gradcli.commands.registry import GradcliCommand

COMMANDS = typer.main.get_command(app).commands

LINES = [
    "activation tanh 0.1 0.2 0.3",
    "activation sigmoid -2 -1e-3 0.5 --expect 0.105,0.25,0.235",
    "activation leaky_relu -2 3 --param negative_slope=0.1",
    "activation relu 0 1 --dtype float32 --atol 1e-3 --rtol=0",
    "activation sigmoid 0.5 --expect 0.9151 0.1295",  # numbers after --expect's value
    "activation sigmoid 0.5 --precision 3",
    "activation sigmod 1",
    "activation sigmoid one",
    "activation sigmoid 1 --no-such-option",
    "activation sigmoid 1 --precision 30",
    "activation sigmoid 1 --atol -1",
    "activation sigmoid",
    "activation",
    "activation sigmoid 1 -- 2",
    "softmax-jacobian 1 2 3 4 0.5",
    "softmax-jacobian 1 2 3 -T 2",
    "softmax-jacobian 1 2 3 -T2",
    "softmax-jacobian 1 2 -T 0",
    "softmax-jacobian 0 0 --expect '1/4,-1/4;-1/4,1/4'",
    "softmax-jacobian 1 2 --heatmap",
    "softmax-jacobian",
    "loss cross_entropy --pred 1,2,3,0.5 --target 2",
    "loss mse --pred 1,2,3 --target 0,2,5 --reduction half-sum --expect 1,0,-2",
    "loss mse --pred 1,2 --target 1,2,3",
    "loss mse --pred 1,2 --target",  # --target takes the --json batch adds, as in Click
    "loss mse --pred 1,2 --target 1 --quiet=1",
    "loss mse --pred 1,2 --target 1,2 extra",
    "loss mse --pred 1,2 --target 1,2 --expect 1 2",
    "loss --pred 1 --target 1",
    "perceptron --weights '0.1,0.2;0.3,0.4' --bias 0.1,0.2 --x 0.5,1 --target 0,1",
    "perceptron -w '0.1,0.2;0.3,0.4' -b 0.1,0.2 --x 0.5,1 -t 0,1 -a tanh --steps",
    "perceptron --layers 4,2 --x-shape 8x3 --target 1 --activation relu,sigmoid --seed 3",
    "perceptron --layers 4,2 --x-shape 8x3 --target 1 --seed -3",
    "perceptron --weights 1,2 --x 0.5,-1 --target 1 --activation identity "
    "--expect layer1.weight=-2.5,5 --lr 0.1 --expect layer1.new_weight=1.25,1.5",
    "perceptron --weights 1,2 --x 1,2,3 --target 1",
    "perceptron --weights 1,2 --x 1,2 --target 1 --format csv",
    "perceptron --weights 1,2 --x 1,2 --target 1 --plot",
    "optim adam --param 1,-2,3 --grad 0.1,0.2,-0.3 --state step=10 --steps",
    "optim adma --param 1 --grad 1",
    "layer batchnorm --x '1,2,3;4,5,6;7,8,10;2,0,1' --upstream ones --steps",
    "layer conv2d --x-shape 1x1x4x4 --weight-shape 1x1x2x2 --bias none --param stride=2",
    "layer linear --x 1,2 --weight 1,2,3",
    "expr 'x^2*sin(y)' --at x=1,y=2",
    "expr -x^2 --at x=1",
    "check examples/sigmoid.py:Sigmoid --input 5",
    "check examples/nope.py:f",
    "check",
]


def record(line: str, direct: bool, monkeypatch) -> tuple[int, str]:
    if not direct:
        monkeypatch.setattr(GradcliCommand, "direct_call", lambda self, args: None)
    try:
        return batch._run_line(COMMANDS, 7, line)
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("line", LINES)
def test_direct_and_click_give_the_same_record(line, monkeypatch):
    monkeypatch.chdir(batch.__file__.rsplit("/gradcli/", 1)[0])
    direct = record(line, True, monkeypatch)
    monkeypatch.chdir(batch.__file__.rsplit("/gradcli/", 1)[0])
    assert direct == record(line, False, monkeypatch)


@pytest.mark.parametrize(
    "line",
    [
        "activation tanh 0.1 0.2 0.3",
        "activation sigmoid -2 -1e-3 0.5 --expect 0.105,0.25,0.235",
        "softmax-jacobian 1 2 3 -T 2",
        "loss cross_entropy --pred 1,2,3,0.5 --target 2",
        "perceptron -w '0.1,0.2;0.3,0.4' -b 0.1,0.2 --x 0.5,1 -t 0,1",
        "optim adam --param 1,-2,3 --grad 0.1,0.2,-0.3",
        "layer batchnorm --x '1,2,3;4,5,6' --upstream ones",
        "activation sigmod 1",  # an error from the command itself: still no Click
    ],
)
def test_usual_lines_never_reach_click(line, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Click parsed the line")

    monkeypatch.setattr(GradcliCommand, "main", refuse)
    code, text = batch._run_line(COMMANDS, 1, line)
    assert code in (0, 1, 2) and "Click parsed" not in text


@pytest.mark.parametrize(
    "line",
    [
        "activation sigmoid 1 --no-such-option",  # Click's "no such option" (with a guess)
        "softmax-jacobian 1 2 3 -T2",  # an option run into its value
        "loss mse --pred 1,2 --target 1 --quiet=1",  # a flag given a value
        "activation sigmoid 1 --precision 30",  # Click words a parser's refusal
        "activation sigmoid 1 -- 2",
        "expr 'x^2' --at x=1",  # expr parses its own arguments
    ],
)
def test_unusual_lines_go_through_click(line):
    command = COMMANDS[line.split()[0]]
    args = [*batch.split_line(line)[1:], "--json"]
    direct = command.direct_call(args) if isinstance(command, GradcliCommand) else None
    assert direct is None


def test_a_whole_batch_is_the_same_either_way(monkeypatch):
    text = "\n".join(LINES[:30]) + "\n"
    monkeypatch.chdir(batch.__file__.rsplit("/gradcli/", 1)[0])
    fast = io.StringIO()
    fast_code = batch.run_batch(io.BytesIO(text.encode()), fast, COMMANDS)
    monkeypatch.setattr(GradcliCommand, "direct_call", lambda self, args: None)
    slow = io.StringIO()
    slow_code = batch.run_batch(io.BytesIO(text.encode()), slow, COMMANDS)
    assert fast.getvalue() == slow.getvalue() and fast_code == slow_code
