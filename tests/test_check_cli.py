"""`gradcli check` as a command: errors in the user's code, bad options, output formats,
float32, projections, sampling, memory limits, batch."""

from __future__ import annotations

import csv
import io
import json
import sys
import textwrap

import pytest

from tests.conftest import assert_bad_input, invoke, run_process
from tests.test_check import EXAMPLES, run_example

SIGMOID = f"{EXAMPLES}/sigmoid.py:Sigmoid"
BAD_SIGMOID = f"{EXAMPLES}/bad_sigmoid.py:Sigmoid"

USER = """
import torch

def doubled(x):
    print("hello from forward")
    return x * 2

def view3(dout, x):
    y = dout.view(3)
    return y

def quits(x):
    raise SystemExit(3)

def log(x):
    return torch.log(x)

def as_list(x):
    return [1, 2]

def as_pair(x):
    return x, x

def as_ints(x):
    return (x * 10).long()

def interrupted(x):
    raise KeyboardInterrupt

def numpy_out(x):
    return x.detach().numpy() * 2

def two(x, w):
    return x * w

def star(*xs):
    return xs[0] * xs[1]

value = 3

class Plain:
    pass
"""


@pytest.fixture
def user(tmp_path):
    path = tmp_path / "mylayer.py"
    path.write_text(USER, encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(x):\n    return x +\n", encoding="utf-8")
    (tmp_path / "raises.py").write_text(
        "import torch\nraise RuntimeError('boom at import')\n", encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["{d}/missing.py:f"], ["missing.py:f'", "missing.py' does not exist"]),
        (["{d}/notes.txt:f"], ["is not a .py file"]),
        (["{d}/mylayer.py"], ["must look like FILE.py:NAME"]),
        (["{d}/mylayer.py:2x"], ["'2x' is not a Python name"]),
        (["{d}:f"], ["is not a .py file"]),
        (["{d}/mylayer.py:dubled", "-i", "3"], ["mylayer.py has no 'dubled'", "'doubled'"]),
        (["{d}/mylayer.py:log", "-i", "-1,2"], ["NaN or ∞ at 1 of 2 entries", "--input"]),
        (["{d}/mylayer.py:value"], ["mylayer.py:value is int, not a function"]),
        (["{d}/mylayer.py:Plain"], ["is a class but not a torch.autograd.Function"]),
        (["{d}/mylayer.py:two"], ["one --input per input", "2 inputs (x, w)"]),
        (["{d}/mylayer.py:two", "-i", "3"], ["takes 2 inputs (x, w) but 1 --input was given"]),
        (["{d}/mylayer.py:star"], ["one --input per input"]),
        (["{d}/mylayer.py:doubled", "-i", "3", "--order", "3"], ["--order '3' must be 1 or 2"]),
        (["{d}/mylayer.py:doubled", "-i", "int:3"], ["must look like int:SHAPE:HIGH"]),
        (["{d}/mylayer.py:doubled", "-i", "int:3:0"], ["HIGH '0'"]),
        (["{d}/mylayer.py:doubled", "-i", "int:3:2"], ["at least one input must take a gradient"]),
        (["{d}/mylayer.py:doubled", "-i", "3x0"], ["--input 1 '3x0'", "positive whole number"]),
        (["{d}/mylayer.py:doubled", "-i", "1,2;3"], ["--input 1 is ragged"]),
        (["{d}/mylayer.py:doubled", "-i", "1,x"], ["--input 1", "'x'"]),
        (["{d}/mylayer.py:doubled", "-i", "2x2x2x2x2"], ["5 dimensions"]),
        (["{d}/mylayer.py:doubled", "-i", "3", "--no-numeric"], ["--no-numeric", "cannot run"]),
        (["{d}/mylayer.py:doubled", "-i", "3", "--numpy"], ["--numpy needs --backward"]),
        (["{d}/mylayer.py:doubled", "-i", "3", "--seed", "-1"], ["--seed", "'-1'"]),
        (["{d}/mylayer.py:doubled", "-i", "100000x100000"], ["needs 640 GB", "GRADCLI_MAX_MEMORY"]),
        (["{d}/mylayer.py:doubled", "--backward", "{d}/mylayer.py:nope", "-i", "3"], ["no 'nope'"]),
        (
            ["{d}/mylayer.py:doubled", "--backward", "{d}/mylayer.py:value", "-i", "3"],
            ["--backward: mylayer.py:value is not a function"],
        ),
        ([SIGMOID, "--backward", "{d}/mylayer.py:view3"], ["has its own backward"]),
        ([SIGMOID, "--numpy"], ["--numpy", "takes tensors"]),
        ([SIGMOID, "--format", "latex"], ["latex"]),
        (
            [
                "{d}/mylayer.py:doubled",
                "-i",
                "3",
                "--numpy",
                "--backward",
                "{d}/mylayer.py:view3",
                "--order",
                "2",
            ],
            ["--order 2", "NumPy"],
        ),
    ],
)
def test_bad_input_and_errors_in_user_code_are_one_line(user, args, fragments):
    run = invoke("check", *[arg.replace("{d}", str(user)) for arg in args])
    stderr = "\n".join(line for line in run.stderr.splitlines() if "hello from" not in line)
    assert_bad_input(type(run)(run.code, run.stdout, stderr), *[
        f.replace("{d}", str(user)) for f in fragments
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("args", "headline", "where"),
    [
        (["{d}/broken.py:f"], "broken.py cannot be imported: SyntaxError: invalid syntax",
         "broken.py line 2 in <module>"),
        (["{d}/raises.py:f"], "raised RuntimeError in the import of raises.py: boom at import",
         "raises.py line 2 in <module>"),
        (
            ["{d}/mylayer.py:doubled", "--backward", "{d}/mylayer.py:view3", "-i", "4"],
            "raised RuntimeError in the backward of mylayer.py:doubled: shape '[3]' is invalid "
            "for input of size 4",
            "mylayer.py line 9 in view3",
        ),
        (["{d}/mylayer.py:quits", "-i", "3"],
         "your code called sys.exit(3) in the forward of mylayer.py:quits",
         "mylayer.py line 13 in quits"),
        (["{d}/mylayer.py:as_list", "-i", "3"],
         "your forward returned an int as output 0 of 2, not a tensor", None),
        (["{d}/mylayer.py:as_ints", "-i", "3"], "a tensor of int64, not floats", None),
        (["{d}/mylayer.py:numpy_out", "-i", "3"], "a NumPy array for tensor inputs; pass --numpy",
         None),
    ],
)  # fmt: skip
def test_errors_in_their_code_are_findings_exit_1(user, args, headline, where):
    """An exception (SyntaxError and SystemExit too) or a forward result that is no tensor:
    a finding about the user's code — exit 1, said on stdout (the table, or JSON), no
    traceback, nothing on stderr."""
    argv = [arg.replace("{d}", str(user)) for arg in args]
    run = invoke("check", *argv)
    assert run.code == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    assert "hello from" in run.stderr or run.stderr == ""
    text = " ".join(run.stdout.split())
    assert f"✗ {headline}" in text or headline in text, text
    if where:
        assert f"at {where}" in text
    data = invoke("check", *argv, "--json").json()
    assert data["agree"] is False and data["command"] == "check"
    failure = data["failure"]
    assert headline in " ".join(failure["headline"].split())
    if where:
        assert f"{failure['where']['file']} line {failure['where']['line']} in " \
            f"{failure['where']['function']}" == where  # fmt: skip


def test_a_tuple_of_tensors_is_several_outputs(user):
    data = invoke("check", f"{user}/mylayer.py:as_pair", "-i", "3", "--json").json()
    assert data["agree"] is True
    assert data["outputs"] == [{"name": "out0", "shape": [3]}, {"name": "out1", "shape": [3]}]
    assert data["output_shape"] == [6]


def test_traceback_prints_the_users_frames_before_the_finding(user):
    run = invoke(
        "check", f"{user}/mylayer.py:doubled", "--backward", f"{user}/mylayer.py:view3",
        "-i", "4", "--traceback",
    )  # fmt: skip
    assert run.code == 1
    assert run.stderr.count("Traceback (most recent call last):") == 1
    assert 'mylayer.py", line 9, in view3' in run.stderr
    assert "gradcli/core" not in run.stderr  # their frames, not ours
    assert run.stderr.rstrip().splitlines()[-1].startswith("RuntimeError: shape '[3]'")
    assert "at mylayer.py line 9 in view3" in run.stdout
    assert "--traceback shows" not in run.stdout
    plain = invoke("check", f"{user}/mylayer.py:doubled", "--backward",
                   f"{user}/mylayer.py:view3", "-i", "4")  # fmt: skip
    assert "Traceback" not in plain.stderr and "--traceback shows" in plain.stdout


def test_their_prints_go_to_stderr_and_json_stays_valid(user):
    run = invoke("check", f"{user}/mylayer.py:doubled", "-i", "3", "--json")
    assert run.code == 0
    assert json.loads(run.stdout)["agree"] is True
    assert "hello from forward" in run.stderr


def test_keyboard_interrupt_in_their_code_exits_130(user):
    run = invoke("check", f"{user}/mylayer.py:interrupted", "-i", "3")
    assert run.code == 130 and run.stdout == ""
    assert run.stderr.strip() == "Error: interrupted in the forward of mylayer.py:interrupted"


def test_their_folder_is_importable_only_while_loading(tmp_path):
    (tmp_path / "helpers_for_check.py").write_text("SCALE = 3.0\n", encoding="utf-8")
    layer = tmp_path / "layer.py"
    layer.write_text(
        "from helpers_for_check import SCALE\n\ndef f(x):\n    return SCALE * x\n",
        encoding="utf-8",
    )
    before = list(sys.path)
    run = invoke("check", f"{layer}:f", "-i", "3")
    assert run.code == 0, run.stderr
    assert sys.path == before
    assert not [name for name in sys.modules if name.startswith("_gradcli_user_")]


def test_numpy_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now raises ImportError
    run = invoke(
        "check", f"{EXAMPLES}/bad_relu.py:relu_forward", "--backward",
        f"{EXAMPLES}/bad_relu.py:relu_backward", "--numpy",
    )  # fmt: skip
    assert_bad_input(run, "--numpy needs NumPy, which is not installed")


def test_default_input_for_a_one_input_function():
    run = invoke("check", SIGMOID, "--json")
    data = run.json()
    assert run.code == 0 and data["inputs"][0]["shape"] == [5]
    assert any("no --input given" in note for note in data["notes"])


def test_literal_and_json_and_file_inputs(tmp_path):
    (tmp_path / "x.txt").write_text("[[1, -2], [0.5, 3]]", encoding="utf-8")
    for spec, shape in (("1,-2;0.5,3", [2, 2]), ("[[[1], [2]]]", [1, 2, 1]), ("0.5", [1])):
        data = invoke("check", SIGMOID, "-i", spec, "--json").json()
        assert data["inputs"][0]["shape"] == shape and data["agree"]
    data = invoke("check", SIGMOID, "-i", f"@{tmp_path}/x.txt", "--json").json()
    assert data["inputs"][0]["values"] == [[1.0, -2.0], [0.5, 3.0]]


def test_seed_changes_the_inputs_and_is_reported():
    first = invoke("check", SIGMOID, "-i", "4", "--json").json()
    again = invoke("check", SIGMOID, "-i", "4", "--json").json()
    other = invoke("check", SIGMOID, "-i", "4", "--seed", "9", "--json").json()
    assert first["inputs"][0]["values"] == again["inputs"][0]["values"]
    assert first["inputs"][0]["values"] != other["inputs"][0]["values"]
    assert other["seed"] == 9


def test_json_schema():
    data = run_example("cross_entropy_numpy.py", "--json").json()
    assert {"command", "target", "kind", "inputs", "diagnoses", "agree", "dtype"} <= set(data)
    assert data["command"] == "check" and data["kind"] == "forward/backward"
    assert data["target"].endswith("cross_entropy_numpy.py:forward")
    logits, labels = data["inputs"]
    assert (logits["name"], logits["shape"], logits["dtype"]) == ("logits", [4, 3], "float64")
    for key in ("analytic", "numeric", "max_abs_diff", "mismatches", "mismatch_count", "size"):
        assert key in logits
    assert logits["size"] == 12 and logits["mode"] if "mode" in logits else data["mode"] == "full"
    assert labels["requires_grad"] is False and labels["dtype"] == "int64"
    assert all(0 <= v < 3 for v in labels["values"])
    # the scalar loss's Jacobian is its gradient, in the input's shape
    assert len(logits["analytic"]) == 4 and len(logits["analytic"][0]) == 3


def test_mismatches_are_capped_at_twenty_in_json():
    data = invoke("check", BAD_SIGMOID, "-i", "5x6", "--json").json()
    x = data["inputs"][0]
    assert x["mismatch_count"] == 30 and len(x["mismatches"]) == 20
    assert x["mismatches"][:2] == [[0, 0], [0, 1]]


def test_csv_has_one_row_per_checked_entry():
    run = invoke("check", BAD_SIGMOID, "-i", "3", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert run.code == 1 and len(rows) == 9  # the 3×3 Jacobian
    diagonal = [r for r in rows if r["probe"] == r["index"]]
    assert all(r["ok"] == "false" for r in diagonal)
    assert all(r["ok"] == "true" for r in rows if r not in diagonal)


def test_quiet_prints_nothing():
    run = invoke("check", BAD_SIGMOID, "-i", "3", "--quiet")
    assert (run.code, run.stdout) == (1, "")


def test_float32_runs_their_code_in_float32_and_warns():
    data = invoke("check", SIGMOID, "-i", "6", "--dtype", "float32", "--json").json()
    assert data["agree"] is True and data["dtype"] == "float32"
    assert data["inputs"][0]["dtype"] == "float32"
    note = next(n for n in data["notes"] if n.startswith("float32"))
    assert "atol 0.0001, rtol 0.001" in note and "false" in note


def test_projections_above_the_full_jacobian_limit():
    good = invoke("check", SIGMOID, "-i", "300", "--json").json()
    assert good["mode"] == "projections" and good["probes"] == 4 and good["agree"]
    assert any("random projections" in note for note in good["notes"])
    bad = invoke("check", BAD_SIGMOID, "-i", "300", "--json").json()
    assert bad["agree"] is False
    assert "constant-factor" in [d["code"] for d in bad["diagnoses"]]
    table = invoke("check", SIGMOID, "-i", "300").stdout
    assert "random projections" in table


def test_finite_differences_are_sampled_above_the_budget():
    data = invoke("check", SIGMOID, "-i", "5000", "--json").json()
    x = data["inputs"][0]
    assert data["agree"] is True and x["checked_count"] == 4096
    assert any("finite differences at 4096 of 5000 entries" in n for n in data["notes"])
    table = invoke("check", SIGMOID, "-i", "5000").stdout
    assert "904 not checked" in table


def test_memory_limit_refuses_before_running(monkeypatch):
    monkeypatch.setenv("GRADCLI_MAX_MEMORY", "1MB")
    assert_bad_input(invoke("check", SIGMOID, "-i", "200x200"), "the limit is 1 MB")


def test_table_shows_a_map_and_the_first_wrong_entries():
    run = run_example("bad_relu.py")
    assert "j=0" in run.stdout and "i=2" in run.stdout
    assert "yours" in run.stdout and "numeric" in run.stdout
    assert "• region:" in run.stdout


def test_large_inputs_list_wrong_coordinates_instead_of_a_map():
    run = invoke("check", BAD_SIGMOID, "-i", "2x2x2")
    assert run.code == 1
    assert "[0, 0, 0]" in run.stdout and "j=0" not in run.stdout


def test_batch_accepts_check_lines():
    lines = "\n".join(
        [
            f"check {SIGMOID} --input 3",
            f"check {BAD_SIGMOID} --input 3",
            f"check {EXAMPLES}/missing.py:f",
        ]
    )
    run = invoke("batch", "-", input_text=lines + "\n")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.code == 2
    assert records[0]["command"] == "check" and records[0]["agree"] is True
    assert records[1]["agree"] is False
    assert records[2]["line"] == 3 and "does not exist" in records[2]["error"]


def test_help_states_the_trust_and_the_exit_codes():
    run = invoke("check", "--help")
    text = " ".join(run.stdout.split())
    assert "runs with your permissions" in text
    assert "Exit 0" in text and "an error in your code; 2: bad input" in text
    for option in ("--kwarg", "--convention", "--timeout"):
        assert option in text


def test_real_process_json_is_clean():
    run = run_process("check", SIGMOID, "--input", "3", "--json")
    assert run.code == 0 and run.stderr == ""
    assert json.loads(run.stdout)["agree"] is True


def test_user_source_is_imported_not_evaluated_from_text(tmp_path):
    source = textwrap.dedent(
        """
        import torch
        LOADED_AS = __name__

        def f(x):
            return x * 2
        """
    )
    (tmp_path / "mod.py").write_text(source, encoding="utf-8")
    run = invoke("check", f"{tmp_path}/mod.py:f", "-i", "2")
    assert run.code == 0  # __name__ is a private module name, so `if __name__ == "__main__"` is off
