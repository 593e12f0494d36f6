"""Homework checks and shell scripting: --expect, batch, CSV, --quiet, colour, streams."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import assert_bad_input, invoke, run_process

MAZUR = [
    "perceptron",
    "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60",
    "--x", "0.05,0.10", "--target", "0.01,0.99", "--reduction", "half-sum",
]  # fmt: skip


# --- --expect on every command ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (["activation", "sigmoid", "0", "0.5"], "0.25,0.2350"),
        (["softmax-jacobian", "1", "2"], "0.1966,-0.1966;-0.1966,0.1966"),
        (["loss", "mse", "--pred", "1,2,3", "--target", "0,2,5"], "0.667,0,-1.333"),
        # Mazur's ∂E/∂w5…w8 (w5 = 0.082167041), rounded to 4 places
        ([*MAZUR], "layer2.weight=0.0822,0.0827;-0.0226,-0.0227"),
    ],
)
def test_a_right_answer_passes_with_exit_zero(args, answer):
    run = invoke(*args, "--expect", answer, "--json")
    assert run.code == 0, run.stdout
    check = run.json()["check"]
    assert check["passed"] is True
    rules = check["rule"] if "rule" in check else next(iter(check["parts"].values()))["rule"]
    flat = [r for row in rules for r in (row if isinstance(row, list) else [row])]
    assert set(flat) <= {"exact", "rounded", "truncated"} and len(flat) >= 2
    assert check["hint"] is None


@pytest.mark.parametrize(
    ("args", "answer", "hint"),
    [
        # σ(0.5) written instead of σ'(0.5)
        (["activation", "sigmoid", "0.5"], "0.6225", "sigmoid(x) itself"),
        # σ'(σ(0.5)) = σ(0.6225)(1 − σ(0.6225)) ≈ 0.2273: the derivative taken at the output
        (["activation", "sigmoid", "0.5"], "0.2273", "evaluated at the activated value"),
        # 0.5·(1 − 0.5): o(1 − o) with x in place of o
        (["activation", "sigmoid", "0.5"], "0.25", "with x in place of the activated value"),
        (["activation", "tanh", "0.5"], "-0.7864", "wrong sign"),
        # mean gradient 2(y − t)/n = (0.667, 0, −1.333); the sum reduction's is 2(y − t)
        (["loss", "mse", "--pred", "1,2,3", "--target", "0,2,5"], "2,0,-4", "sum reduction"),
        (["loss", "mse", "--pred", "1,2,3", "--target", "0,2,5"], "1,0,-2", "half-sum"),
        (["softmax-jacobian", "1", "2", "3"],
         "0.0819,-0.0599,-0.0220;-0.0220,0.1848,-0.1628;-0.0599,-0.1628,0.2227", None),
        # a = (1, 2), T = 2: p = (0.3775, 0.6225), p_0·p_1 = 0.2350, and the Jacobian is that ÷ 2
        (["softmax-jacobian", "1", "2", "-T", "2"], "0.2350,-0.2350;-0.2350,0.2350",
         "without the 1/T factor"),
        # Mazur's ∂E/∂b for the output layer is (0.138499, −0.038098); twice it is "sum"
        ([*MAZUR], "layer2.bias=0.2770,-0.0762", "--reduction sum"),
        ([*MAZUR], "layer2.weight=0.0822,-0.0226;0.0827,-0.0227", "transposed"),
    ],
)  # fmt: skip
def test_a_wrong_answer_exits_one_and_names_the_slip(args, answer, hint):
    run = invoke(*args, "--expect", answer, "--json")
    assert run.code == 1
    check = run.json()["check"]
    assert check["passed"] is False
    if hint is None:
        assert check["hint"] is None or "transposed" not in check["hint"]
    else:
        assert hint in check["hint"], check["hint"]


def test_expect_table_has_a_column_and_a_verdict_line():
    run = invoke("activation", "sigmoid", "0", "0.5", "--expect", "0.25,0.2351")
    assert run.code == 1
    assert "expected" in run.stdout and "0.2351 ✗" in run.stdout and "0.25 ✓" in run.stdout
    flat = " ".join(run.stdout.split())
    assert "1 of 2 entries of your answer match; at x[1] = 0.5: you wrote 0.2351" in flat


@pytest.mark.parametrize(
    ("args", "answer", "code"),
    [
        # the examples: σ'(0.5) = 0.2350037…, tanh'(0.5) = 0.7864477…
        (["activation", "sigmoid", "0.5"], "0", 1),
        (["activation", "sigmoid", "0.5"], "0.3", 1),
        (["activation", "sigmoid", "0.5"], "0.25", 1),
        (["activation", "sigmoid", "0.5"], "0.2", 0),
        (["activation", "sigmoid", "0.5"], "0.23", 0),
        (["activation", "sigmoid", "0.5"], "0.24", 0),
        (["activation", "sigmoid", "0.5"], "0.235", 0),
        (["activation", "sigmoid", "0.5"], "0.2350", 0),
        (["activation", "tanh", "0.5"], "1", 1),
        (["activation", "tanh", "0.5"], "0.9", 1),
        (["activation", "tanh", "0.5"], "0.8", 0),
        (["activation", "tanh", "0.5"], "0.7", 1),  # one digit: must be rounded (0.8)
        (["activation", "tanh", "0.5"], "0.79", 0),
        (["activation", "sigmoid", "0"], "1/4", 0),
        (["softmax-jacobian", "1", "2"], "0.19661,-0.19661;-0.19661,0.19661", 0),
        (["softmax-jacobian", "0", "0"], "1/4,-1/4;-1/4,1/4", 0),
    ],
)
def test_expect_checks_the_digits_written_rounded_or_truncated(args, answer, code):
    assert invoke(*args, "--expect", answer, "-q").code == code


def test_atol_and_rtol_govern_the_verdict_not_the_answer():
    # a loose --atol does not make a wrong answer right, nor a tight one a right answer wrong
    assert (
        invoke("activation", "sigmoid", "0.5", "--expect", "0.25", "--atol", "0.1", "-q").code == 1
    )
    assert (
        invoke("activation", "sigmoid", "0.5", "--expect", "0.2350", "--atol", "1e-9", "-q").code
        == 0
    )


def test_perceptron_expect_several_layers_and_csv():
    run = invoke(*MAZUR, "--expect", "layer2.weight=0.0822,0.0827;-0.0226,-0.0227",
                 "--expect", "layer1.bias=0.0088,0.010", "--format", "csv")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert run.code == 0
    assert {"expected", "expected_ok"} <= rows[0].keys()
    w5 = next(
        r
        for r in rows
        if (r["layer"], r["tensor"], r["row"], r["col"]) == ("2", "weight", "0", "0")
    )
    assert (w5["expected"], w5["expected_ok"]) == ("0.0822", "true")
    w1 = next(r for r in rows if (r["layer"], r["tensor"]) == ("1", "weight"))
    assert w1["expected"] == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["activation", "sigmoid", "0", "--expect", "0.25,0.3"], ["shape 2", "shape 1"]),
        (["activation", "sigmoid", "0", "--expect", "abc"], ["--expect", "'abc'"]),
        (["activation", "sigmoid", "0", "--expect", "nan"], ["--expect", "'nan'"]),
        (["softmax-jacobian", "1", "2", "--expect", "1,2;3"], ["ragged"]),
        ([*MAZUR, "--expect", "layer3.weight=1"], ["'layer3.weight'", "layer2.weight"]),
        ([*MAZUR, "--expect", "w5=0.08"], ["'w5=0.08'", "layer1.weight"]),
        ([*MAZUR, "--expect", "layer1.bias=1", "--expect", "layer1.bias=2"], ["twice"]),
    ],
)
def test_bad_expect_is_bad_input(args, fragments):
    assert_bad_input(invoke(*args), *fragments)


# --- --quiet, streams, colour -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["activation", "sigmoid", "0", "--expect", "0.25"], 0),
        (["activation", "sigmoid", "0", "--expect", "0.3"], 0),
        (["activation", "sigmoid", "0", "--expect", "0.26"], 1),
        (["activation", "hardsigmoid", "1.3", "--atol", "0", "--rtol", "0"], 1),
        (["loss", "mse", "--pred", "1", "--target", "0", "--expect", "2"], 0),
        ([*MAZUR, "--expect", "layer1.weight=0.000439,0.000877;0.000498,0.000995"], 0),
        (["activation", "sigmoid", "x"], 2),
    ],
)
def test_quiet_prints_nothing_and_only_the_exit_code_tells(args, code):
    run = invoke(*args, "--quiet")
    assert run.code == code
    assert run.stdout == ""
    assert (run.stderr != "") == (code == 2)  # errors still reach stderr


@pytest.mark.parametrize(
    "args",
    [
        ["activation", "relu", "-1", "0", "2"],
        ["softmax-jacobian", "1", "2", "3"],
        ["loss", "cross_entropy", "--pred", "2,1,0.1", "--target", "0"],
        [*MAZUR, "--steps", "--lr", "0.5"],
    ],
)
def test_tables_are_plain_text_when_piped(args):
    run = invoke(*args)
    assert run.code == 0
    assert "\x1b[" not in run.stdout and run.stderr == ""


def test_no_color_is_honoured_even_when_colour_is_forced():
    coloured = run_process("activation", "relu", "-1", env={"FORCE_COLOR": "1"})
    assert "\x1b[32m" in coloured.stdout or "\x1b[1;32m" in coloured.stdout  # the green ✓
    plain = run_process("activation", "relu", "-1", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.code == 0
    assert "32m" not in plain.stdout and "31m" not in plain.stdout  # no green, no red


@pytest.mark.parametrize(
    ("args", "header", "rows"),
    [
        (["activation", "tanh", "-1", "0", "1"], "x,value,analytic", 3),
        (["softmax-jacobian", "1", "2", "3"], "i,j,a_j,p_i", 9),
        (["loss", "mse", "--pred", "1,2;3,4", "--target", "0,0;0,0"], "row,col,pred", 4),
        ([*MAZUR], "layer,tensor,row,col,value", 12),
    ],
)
def test_csv_has_a_header_and_one_row_per_value(args, header, rows):
    run = invoke(*args, "--format", "csv")
    lines = run.stdout.splitlines()
    assert lines[0].startswith(header)
    assert len(lines) == rows + 1
    widths = {len(row) for row in csv.reader(io.StringIO(run.stdout))}
    assert len(widths) == 1


def test_version():
    run = invoke("--version")
    assert run.code == 0 and run.stdout.strip().startswith("gradcli 0.")


# --- batch ----------------------------------------------------------------------------


BATCH = """\
# homework 3
activation sigmoid 0 0.5 --expect 0.25,0.2350

softmax-jacobian 1 2 3 --format csv
gradcli loss mse --pred 1,2,3 --target 0,2,5 --expect 2,0,-4
activation sigmod 1
activation tanh -1 -q
activation 'unclosed
"""


def test_batch_runs_every_line_in_order_and_reports_bad_ones():
    run = invoke("batch", "-", input_text=BATCH)
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r.get("command", r.get("line")) for r in records] == [
        "activation", "softmax-jacobian", "loss", 6, "activation", 8,
    ]  # fmt: skip
    assert records[0] == invoke("activation", "sigmoid", "0", "0.5", "--expect", "0.25,0.2350",
                                "--json").json()  # fmt: skip
    assert records[1]["command"] == "softmax-jacobian"  # --json wins over --format csv
    assert records[2]["check"]["passed"] is False  # an expectation that fails: exit 1 …
    assert "did you mean 'sigmoid'" in records[3]["error"]
    assert "no closing quotation" in records[5]["error"]
    assert run.code == 2  # … but the worst line is bad input
    assert run.stderr == ""


def test_batch_exit_code_is_the_worst_line():
    assert invoke("batch", "-", input_text="activation relu 1\n").code == 0
    assert invoke("batch", "-", input_text="activation relu 1 --expect 0\n").code == 1
    assert invoke("batch", "-", input_text="# nothing but a comment\n\n").code == 0


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("batch -", "cannot run inside batch"),
        ("activation --list", "--list"),
        ("--help", "--help"),
        ("lossy mse", "did you mean 'loss'"),
    ],
)
def test_batch_refuses_what_prints_no_json(line, fragment):
    run = invoke("batch", "-", input_text=line + "\n")
    assert run.code == 2
    assert fragment in json.loads(run.stdout)["error"]


def test_batch_from_a_file_and_a_missing_file(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("activation relu 2\n")
    assert json.loads(invoke("batch", str(path)).stdout)["analytic"] == [1.0]
    assert_bad_input(invoke("batch", str(tmp_path / "nope.txt")), "cannot read", "nope.txt")


def test_shell_script_as_a_user_writes_it(tmp_path):
    """The README's scripting example, run by a real shell."""
    script = tmp_path / "check.sh"
    script.write_text(
        'set -u\n'
        'if gradcli activation sigmoid 0 --expect 0.25 --quiet; then echo right; fi\n'
        'gradcli activation sigmoid 0 --expect 0.3333 --quiet || echo "wrong: $?"\n'
        'gradcli activation sigmoid nope 2>/dev/null; echo "bad input: $?"\n'
        'printf "activation tanh 0\\nloss mse --pred 1 --target 0\\n" | gradcli batch | wc -l\n'
    )  # fmt: skip
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert proc.stdout.split() == ["right", "wrong:", "1", "bad", "input:", "2", "2"]
    assert proc.stderr == ""
