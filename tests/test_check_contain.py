"""`gradcli check` contains the user's code (issue 19, §3).

Every hostile behaviour has a fixture file in examples/hostile/. Whatever the user's code
does — raise a BaseException, exit the process, crash it, hang, write to file descriptor 1,
switch autograd off, return tensors that are not tensors in the usual sense — gradcli reports
it as a finding about their code (exit 1; 130 for Ctrl-C), never a traceback, never exit 3,
and in `batch` the following lines still run. Behaviours that only a real process shows
(os._exit, a segfault, fd 1, Ctrl-C) are run as real processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import invoke, run_process

HOSTILE = Path(__file__).resolve().parent.parent / "examples" / "hostile"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def hostile(name: str) -> str:
    return f"{HOSTILE}/{name}"


def assert_finding(run, headline: str, where: str | None) -> dict:
    """Exit 1, the finding on stdout (no traceback anywhere), and its JSON form."""
    assert run.code == 1, (run.code, run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    assert "internal error" not in run.stdout + run.stderr
    text = " ".join(run.stdout.split())
    assert f"✗ {headline}" in text, text
    if isinstance(where, tuple):  # a loop is stopped on its `while` line or in its body
        assert any(f"at {w}" in text for w in where), text
    elif where is not None:
        assert f"at {where}" in text, text
    return {}


def json_finding(*args: str) -> dict:
    run = invoke("check", *args, "--json")
    assert run.code == 1, (run.stdout, run.stderr)
    data = run.json()
    assert data["agree"] is False and data["command"] == "check"
    return data["failure"]


# ------------------------------------------------------------------ exceptions


@pytest.mark.parametrize(
    ("args", "headline", "where"),
    [
        (
            ["base_at_import.py:f"],
            "your code raised Abort in the import of base_at_import.py: stop right here",
            "base_at_import.py line 8 in <module>",
        ),
        (
            ["base_in_backward.py:Square", "-i", "3"],
            "your code raised Abort in the backward of base_in_backward.py:Square: no gradient "
            "today",
            "base_in_backward.py line 18 in backward",
        ),
        (
            ["generator_exit.py:forward", "-i", "3"],
            "your code raised GeneratorExit in the forward of generator_exit.py:forward: closed",
            "generator_exit.py line 5 in forward",
        ),
        (
            ["uses_helper.py:forward", "-i", "3"],
            "your code raised ValueError in the forward of uses_helper.py:forward: could not "
            "convert string to float: 'two'",
            "hostile_helper.py line 5 in scale",  # their innermost frame: the module they import
        ),
        (
            ["odd_objects.py:raises_unprintable", "-i", "3"],
            "your code raised Unprintable in the forward of odd_objects.py:raises_unprintable: "
            "(its message cannot be shown: its __str__ raised RuntimeError)",
            "odd_objects.py line 14 in raises_unprintable",
        ),
        (
            ["odd_objects.py:OddTuple", "-i", "3"],
            "your code raised ValueError in the backward of odd_objects.py:OddTuple: my "
            "gradients cannot be iterated",
            "odd_objects.py line 21 in __iter__",
        ),
    ],
)
def test_every_exception_of_theirs_is_a_finding(args, headline, where):
    argv = [hostile(args[0]), *args[1:]]
    assert_finding(invoke("check", *argv), headline, where)
    failure = json_finding(*argv)
    assert failure["kind"] == "exception"
    file, line = where.split(" line ")[0], int(where.split(" line ")[1].split()[0])
    assert (failure["where"]["file"], failure["where"]["line"]) == (file, line)


def test_traceback_shows_the_whole_of_their_part():
    run = invoke("check", hostile("uses_helper.py:forward"), "-i", "3", "--traceback")
    assert run.code == 1
    assert "Traceback (most recent call last):" in run.stderr
    assert 'uses_helper.py", line 7, in forward' in run.stderr
    assert 'hostile_helper.py", line 5, in scale' in run.stderr
    assert "gradcli/" not in run.stderr


# ------------------------------------------------------------------ the process itself


def test_os_exit_at_import_is_reported_real_process():
    run = run_process("check", hostile("exit_at_import.py:f"))
    assert_finding(
        run,
        "your code exited the process (os._exit(0)) during the import of exit_at_import.py",
        "exit_at_import.py line 5 in <module>",
    )


def test_os_exit_in_backward_is_reported_real_process():
    run = run_process("check", hostile("exit_in_backward.py:Double"), "-i", "3")
    assert_finding(
        run,
        "your code exited the process (os._exit(0)) during the backward of "
        "exit_in_backward.py:Double",
        "exit_in_backward.py line 15 in backward",
    )
    data = json.loads(
        run_process("check", hostile("exit_in_backward.py:Double"), "-i", "3", "--json").stdout
    )
    assert data["failure"]["kind"] == "exit" and data["failure"]["exit_code"] == 0


def test_a_segfault_is_reported_with_the_line_real_process():
    run = run_process("check", hostile("segfault_in_backward.py:Double"), "-i", "3")
    assert_finding(
        run,
        "your code crashed the process (SIGSEGV, segmentation fault) during the backward of "
        "segfault_in_backward.py:Double",
        "segfault_in_backward.py line 20 in ctx_crash",
    )


def test_writes_to_file_descriptor_1_go_to_stderr_real_process():
    run = run_process("check", hostile("writes_fd1.py:forward"), "-i", "3", "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["agree"] is True  # stdout is exactly the JSON object
    assert run.stdout.count("\n") == 1
    assert "written to fd 1 at import" in run.stderr
    assert "written to fd 1 in forward" in run.stderr
    assert "printed in forward" in run.stderr


def test_ctrl_c_while_their_code_runs_exits_130_real_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "check", hostile("odd_objects.py:announced_sleep"),
         "-i", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        line = proc.stderr.readline()  # their print, relayed: the child is in their code
        assert "about to sleep" in line
        start = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert time.monotonic() - start < 20
    assert "Error: interrupted in the forward of odd_objects.py:announced_sleep" in err
    assert "Traceback" not in err and out == ""


# ------------------------------------------------------------------ results that are no tensors


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("MetaGrad", "meta tensor (it has a shape but no values)"),
        ("SparseGrad", "sparse tensor (sparse_coo)"),
        ("ComplexGrad", "complex tensor (complex128)"),
    ],
)
def test_gradients_that_are_not_plain_tensors_are_diagnosed(name, what):
    run = invoke("check", hostile(f"strange_results.py:{name}"), "-i", "3", "--json")
    assert run.code == 1, run.stderr
    data = run.json()
    (diagnosis,) = data["diagnoses"]
    assert diagnosis["code"] == "wrong-type"
    assert f"backward returned a {what} for x" in diagnosis["message"]
    assert data["inputs"][0]["compared"] is False


def test_an_integer_gradient_is_judged_by_its_values_and_its_dtype_named():
    """torch casts an autograd.Function's integer gradient to the input's dtype; what the
    integers lost (1.999 → 1) shows in the values, and the dtype is said."""
    run = invoke("check", hostile("strange_results.py:IntegerGrad"), "-i", "3", "--json")
    assert run.code == 1
    data = run.json()
    x = data["inputs"][0]
    assert np.allclose(np.array(x["analytic"]), np.eye(3))  # int(1.999 · 1) = 1
    assert np.allclose(np.array(x["numeric"]), 2 * np.eye(3), atol=1e-8)  # d(2x)/dx
    assert x["mismatch_count"] == 3
    texts = [d["message"] for d in data["diagnoses"]] + data["notes"]
    assert any("int64" in text for text in texts)


@pytest.mark.parametrize(
    ("name", "headline"),
    [
        ("empty_forward", "your forward returned an empty tensor (shape 0)"),
        ("meta_forward", "your forward returned a meta tensor (it has a shape but no values)"),
        ("sparse_forward", "your forward returned a sparse tensor (sparse_coo)"),
        ("complex_forward", "your forward returned a complex tensor (complex128)"),
        ("integer_forward", "your forward returned a tensor of int64, not floats"),
    ],
)
def test_forward_results_that_are_not_plain_tensors_are_findings(name, headline):
    argv = [hostile(f"strange_results.py:{name}"), "-i", "3"]
    assert_finding(invoke("check", *argv), headline, None)
    assert json_finding(*argv)["kind"] == "result"


# ------------------------------------------------------------------ hangs


@pytest.mark.parametrize(
    ("target", "headline", "where"),
    [
        (
            "loops.py:spin",
            "your forward did not return within 1 s",
            ("loops.py line 7 in spin", "loops.py line 8 in spin"),
        ),
        ("loops.py:sleepy", "your forward did not return within 1 s", "loops.py line 12 in sleepy"),
        (
            "loop_at_import.py:f",
            "the import of loop_at_import.py did not finish within 1 s",
            ("loop_at_import.py line 3 in <module>", "loop_at_import.py line 4 in <module>"),
        ),
        (
            "sleep_at_import.py:f",
            "the import of sleep_at_import.py did not finish within 1 s",
            "sleep_at_import.py line 5 in <module>",
        ),
    ],
)
def test_code_that_never_returns_is_stopped_at_the_timeout(target, headline, where):
    start = time.monotonic()
    run = invoke("check", hostile(target), "-i", "2", "--timeout", "1")
    assert time.monotonic() - start < 30
    assert_finding(run, headline, where)


def test_the_timeout_is_a_real_process_finding_with_json():
    run = run_process("check", hostile("loops.py:spin"), "-i", "2", "--timeout", "0.5", "--json")
    assert run.code == 1
    failure = json.loads(run.stdout)["failure"]
    assert failure["kind"] == "timeout" and failure["phase"] == "forward"
    where = failure["where"]
    assert (where["file"], where["path"], where["function"]) == (
        "loops.py",
        str(HOSTILE / "loops.py"),
        "spin",
    )
    assert where["line"] in (7, 8)


# ------------------------------------------------------------------ global state


def test_global_torch_state_changed_by_their_code_is_undone_and_said():
    import torch

    data = invoke("check", hostile("grad_disabled.py:forward"), "-i", "3", "--json").json()
    # their forward really computed without autograd: that is their bug, named
    assert [d["code"] for d in data["diagnoses"]] == ["detached"]
    assert any("turned autograd off (torch.set_grad_enabled(False))" in n for n in data["notes"])
    assert torch.is_grad_enabled()
    data = invoke("check", hostile("grad_disabled.py:forward_state"), "-i", "3", "--json").json()
    assert data["agree"] is True
    assert any("set the default dtype to float64" in n for n in data["notes"])
    assert torch.get_default_dtype() is torch.float32


def test_an_import_that_switches_autograd_off_cannot_stop_the_check():
    data = invoke("check", hostile("import_state.py:forward"), "-i", "3", "--json").json()
    assert data["agree"] is True
    x = data["inputs"][0]
    assert np.allclose(np.array(x["analytic"]), np.diag(2 * np.array(x["values"])))  # d(x²)
    assert any("importing your file turned autograd off" in n for n in data["notes"])
    assert any("thread count to 4; the check runs on one" in n for n in data["notes"])


def test_every_call_starts_from_the_same_random_state():
    """A forward that draws from torch's generator is one function to the finite
    differences only if every call starts from the same random state."""
    data = invoke("check", hostile("grad_disabled.py:noisy"), "-i", "4", "--json").json()
    assert data["agree"] is True
    assert any("every call started from the same random state" in n for n in data["notes"])


def test_in_process_the_state_is_still_restored_and_exceptions_still_findings(monkeypatch):
    """GRADCLI_NO_SANDBOX=1 (and systems without os.fork) run their code in gradcli's own
    process: exceptions are still findings and torch's global state is still restored."""
    import torch

    monkeypatch.setenv("GRADCLI_NO_SANDBOX", "1")
    run = invoke("check", hostile("grad_disabled.py:forward_state"), "-i", "3", "--json")
    assert run.code == 0 and torch.get_default_dtype() is torch.float32
    assert any("not contained" in note for note in run.json()["notes"])
    assert_finding(
        invoke("check", hostile("base_in_backward.py:Square"), "-i", "3"),
        "your code raised Abort in the backward of base_in_backward.py:Square",
        "base_in_backward.py line 18 in backward",
    )
    run = invoke("check", hostile("writes_fd1.py:forward"), "-i", "2", "--json")
    assert run.code == 0 and json.loads(run.stdout)["agree"] is True


# ------------------------------------------------------------------ batch


def test_in_batch_every_following_line_still_runs_real_process(tmp_path):
    lines = [
        f"check {hostile('exit_in_backward.py:Double')} -i 3",
        f"check {hostile('base_at_import.py:f')}",
        f"check {hostile('grad_disabled.py:forward')} -i 3",
        "activation sigmoid 0.5",
        f"check {EXAMPLES}/sigmoid.py:Sigmoid -i 3",
        f"check {hostile('loops.py:spin')} -i 2 --timeout 0.5",
        f"check {hostile('writes_fd1.py:forward')} -i 2",
        f"check {hostile('segfault_in_backward.py:Double')} -i 3",
        f"check {hostile('exit_at_import.py:f')}",
        "softmax-jacobian 1 2",
    ]
    commands = tmp_path / "commands.txt"
    commands.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_process("batch", str(commands))
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(records) == len(lines), run.stdout + run.stderr
    assert run.code == 1  # the worst line: findings about the user's code, no bad input
    kinds = [r.get("failure", {}).get("kind") for r in records]
    assert kinds == ["exit", "exception", None, None, None, "timeout", None, "crash", "exit",
                     None]  # fmt: skip
    assert records[2]["agree"] is False  # their own forward switched autograd off
    assert records[3]["command"] == "activation" and records[3]["agree"] is True
    assert records[4]["agree"] is True  # the line after a forward that disabled autograd
    assert records[6]["agree"] is True and records[9]["agree"] is True
    assert "Traceback" not in run.stderr


def test_no_child_process_left_is_one_clear_line(monkeypatch):
    """When the system refuses a new process (EAGAIN, ENOMEM), check says so and how to run
    without one — exit 2, nothing on stdout."""
    import errno

    def refuse() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refuse)
    run = invoke("check", f"{EXAMPLES}/sigmoid.py:Sigmoid", "-i", "3")
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.strip() == (
        "Error: cannot start a child process for your code (Resource temporarily unavailable); "
        "GRADCLI_NO_SANDBOX=1 runs it inside gradcli's own process"
    )


def test_a_finding_in_csv_is_one_row():
    import csv
    import io

    run = invoke("check", hostile("generator_exit.py:forward"), "-i", "3", "--format", "csv")
    assert run.code == 1
    (row,) = list(csv.DictReader(io.StringIO(run.stdout)))
    assert row == {
        "kind": "exception",
        "stage": "the forward of generator_exit.py:forward",
        "exception": "GeneratorExit",
        "message": "closed",
        "file": "generator_exit.py",
        "line": "5",
        "function": "forward",
    }


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd (Linux)")
def test_no_file_descriptor_is_left_open():
    """Pipes, the stack-dump file and shared memory are closed after each check, whatever
    the child did (a long `batch` must not run out of descriptors)."""
    before = len(list(Path("/proc/self/fd").iterdir()))
    for target, extra in (
        (f"{EXAMPLES}/sigmoid.py:Sigmoid", []),
        (hostile("generator_exit.py:forward"), []),
        (hostile("exit_in_backward.py:Double"), []),
        (hostile("loops.py:spin"), ["--timeout", "0.3"]),
    ):
        invoke("check", target, "-i", "3", *extra)
    assert len(list(Path("/proc/self/fd").iterdir())) == before


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads /proc (Linux)")
def test_one_check_forks_before_torch_and_batch_after_real_process(tmp_path):
    """One `check`: the child imports torch (its fork is almost free); `batch`: torch stays in
    the parent, so each line's child starts with it."""
    probe = Path(__file__).resolve().parent / "data" / "calling" / "parent_probe.py"
    run = run_process("check", f"{probe}:forward", "-i", "2", "--json")
    assert run.code == 0 and json.loads(run.stdout)["agree"] is True
    assert "parent holds torch: False" in run.stderr
    commands = tmp_path / "lines.txt"
    commands.write_text(f"check {probe}:forward -i 2\n" * 2, encoding="utf-8")
    answers = tmp_path / "answers.txt"
    run = run_process("batch", str(commands), env={"PARENT_PROBE_FILE": str(answers)})
    assert run.code == 0 and len(run.stdout.splitlines()) == 2
    assert set(answers.read_text(encoding="utf-8").split()) == {"True"}


@pytest.mark.parametrize(
    ("forward", "generator"),
    [("dropout_forward", "NumPy's"), ("python_dropout_forward", "Python's")],
)
def test_numpy_and_python_generators_restart_every_call_too(forward, generator):
    """A NumPy dropout mask drawn from np.random (or Python's random) is one function to the
    finite differences: the right backward is ✓, not "no finite difference could be
    trusted"."""
    path = hostile("numpy_dropout.py")
    run = invoke(
        "check", f"{path}:{forward}", "--backward", f"{path}:dropout_backward",
        "--numpy", "-i", "2x3", "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    data = run.json()
    assert data["agree"] is True
    assert any(f"uses {generator} random generator" in n for n in data["notes"])


def test_the_callers_numpy_random_state_is_left_as_it_was(monkeypatch):
    """In gradcli's own process (GRADCLI_NO_SANDBOX=1, a notebook's gradcli.check), the
    check leaves NumPy's and Python's generators where the caller had them."""
    import random

    monkeypatch.setenv("GRADCLI_NO_SANDBOX", "1")
    np.random.seed(1234)
    random.seed(99)
    before_numpy, before_python = np.random.get_state()[1].copy(), random.getstate()
    path = hostile("numpy_dropout.py")
    run = invoke(
        "check", f"{path}:dropout_forward", "--backward", f"{path}:dropout_backward",
        "--numpy", "-i", "2x3", "-q",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert (np.random.get_state()[1] == before_numpy).all()
    assert random.getstate() == before_python


def test_a_numpy_forward_given_tensors_is_told_to_use_numpy():
    run = invoke("check", hostile("numpy_dropout.py:relu_forward"), "-i", "3", "--json")
    assert run.code == 1, run.stderr
    data = run.json()
    assert data["failure"]["kind"] == "exception"
    assert any("check a NumPy pair with --numpy" in n for n in data["notes"])
    # with --numpy (and its backward) the same code is checked, not refused
    path = hostile("numpy_dropout.py")
    right = invoke(
        "check", f"{path}:dropout_forward", "--backward", f"{path}:dropout_backward",
        "--numpy", "-i", "3", "--json",
    )  # fmt: skip
    assert not any("--numpy" in n for n in right.json()["notes"])
