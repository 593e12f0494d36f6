"""Running from a working directory that has been deleted (``mkdir d; cd d; rmdir ../d``).

torch's oneMKL used to end the process while torch loaded ("Intel oneMKL FATAL ERROR: Cannot
load …/libtorch_cpu.so", exit 2, no ``Error:`` line), because ``getcwd()`` fails there; and
``torch._dynamo`` (which ``torch.func`` imports) reads the directory at import. gradcli loads
torch from ``/`` and returns: every command works, and relative paths still find nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_in_deleted_directory(tmp_path: Path, *args: str, stdin: str | None = None):
    gone = tmp_path / "gone"
    gone.mkdir()

    def enter_and_delete() -> None:
        os.chdir(gone)
        os.rmdir(gone)

    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        preexec_fn=enter_and_delete,
        timeout=300,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["activation", "relu", "1", "-2"],
        ["expr", "sin(x)*y", "--at", "x=1,y=2"],
        ["softmax-jacobian", "1", "2", "3"],
        ["loss", "cross_entropy", "--pred", "1,2", "--target", "0"],
        ["layer", "conv2d", "--x-shape", "1x1x4x4", "--weight-shape", "1x1x2x2"],
        ["perceptron", "--weights", "1,2", "--x", "1,2", "--target", "1", "--epochs", "3"],
        ["check", f"{EXAMPLES}/sigmoid.py:Sigmoid", "--input", "3"],
    ],
    ids=lambda args: args[0],
)
def test_every_command_works_from_a_deleted_directory(tmp_path, args):
    proc = run_in_deleted_directory(tmp_path, "-m", "gradcli", *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "✓" in proc.stdout and "FATAL" not in proc.stdout


def test_batch_works_from_a_deleted_directory(tmp_path):
    lines = "activation tanh 0.5\nexpr 'x^3' --at x=2\n"
    proc = run_in_deleted_directory(tmp_path, "-m", "gradcli", "batch", stdin=lines)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2 and '"error"' not in proc.stdout


def test_a_relative_path_from_a_deleted_directory_is_not_found(tmp_path):
    (tmp_path / "x.txt").write_text("1,2", encoding="utf-8")  # not in the deleted directory
    proc = run_in_deleted_directory(
        tmp_path, "-m", "gradcli", "loss", "mse", "--pred", "@x.txt", "--target", "1,2"
    )
    assert proc.returncode == 2
    assert proc.stderr == "Error: --pred: cannot read 'x.txt': No such file or directory\n"


def test_any_other_getcwd_failure_is_one_clean_error_line(tmp_path):
    code = "import os, sys\nfrom gradcli.commands import guard\nsys.exit(guard.guarded(os.getcwd))"
    proc = run_in_deleted_directory(tmp_path, "-c", code)
    assert proc.returncode == 2
    assert proc.stderr == (
        "Error: the current directory no longer exists (it was deleted or moved); cd to an "
        "existing directory and run again\n"
    )
