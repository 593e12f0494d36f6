"""What a command-line user expects: -h, examples in help that run, usage lines, any-case
names, shell completion, machine-readable listings, --version, a spinner only on terminals."""

from __future__ import annotations

import csv
import io
import os
import shlex
import subprocess
import sys
import time

import pytest

from gradcli import _torch
from gradcli.cli import all_commands
from gradcli.commands.registry import SUMMARY_LIMIT
from gradcli.docs import ROOT
from tests.conftest import invoke

COMMANDS = all_commands()  # commands load on demand; these tests look at every one
COMMAND_NAMES = sorted(COMMANDS)
BATCH_FILE = "activation tanh 0.5\nloss mse --pred 1,2 --target 0,2\n"


def test_every_command_is_registered_with_examples():
    assert {"activation", "softmax-jacobian", "loss", "perceptron", "check", "batch"} <= set(
        COMMANDS
    )
    for info in COMMANDS.values():
        assert 2 <= len(info.examples) <= 4, info.name
        assert len(info.summary) <= SUMMARY_LIMIT


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_dash_h_is_help_and_ends_with_the_examples(name):
    short, long = invoke(name, "-h"), invoke(name, "--help")
    assert short.code == 0 and short.stdout == long.stdout
    assert short.stdout.startswith(f"Usage: gradcli {name} ")
    tail = short.stdout.rstrip().split("Examples:")[1]
    for example in COMMANDS[name].examples:
        assert f"gradcli {example.args}" in tail


@pytest.mark.parametrize(
    ("name", "example"),
    [(info.name, example) for info in COMMANDS.values() for example in info.examples],
    ids=lambda value: getattr(value, "args", value),
)
def test_every_help_example_runs(name, example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "commands.txt").write_text(BATCH_FILE, encoding="utf-8")
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # check's example files
    words = shlex.split(example.args)
    stdin = None
    if "<" in words:  # `batch - < commands.txt`
        at = words.index("<")
        stdin = (tmp_path / words[at + 1]).read_text(encoding="utf-8")
        words = words[:at]
    run = invoke(*words, input_text=stdin)
    assert run.code == example.code, (run.code, run.stdout[-500:], run.stderr)
    assert run.stdout and not run.stderr


def test_top_level_help_lists_every_summary_uncut_and_mentions_expect():
    text = " ".join(invoke("--help").stdout.split())
    for info in COMMANDS.values():
        assert f"{info.name} {info.summary}" in text
    assert "--expect" in text and "..." not in text.split("Commands:")[1]


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("activation", "Usage: gradcli activation [OPTIONS] NAME X..."),
        ("softmax-jacobian", "Usage: gradcli softmax-jacobian [OPTIONS] A..."),
        ("loss", "Usage: gradcli loss [OPTIONS] NAME --pred VALUES --target VALUES"),
        ("batch", "Usage: gradcli batch [OPTIONS] [FILE|-]"),
    ],
)
def test_usage_lines_show_required_arguments_as_required(name, usage):
    assert invoke(name, "--help").stdout.splitlines()[0] == usage


@pytest.mark.parametrize(
    "args",
    [
        ["activation", "SIGMOID", "0.5"],
        ["activation", "Leaky_ReLU", "-1"],
        ["loss", "MSE", "--pred", "1", "--target", "0", "--reduction", "SUM"],
        ["activation", "tanh", "1", "--format", "JSON", "--dtype", "FLOAT32"],
        ["perceptron", "--weights", "1", "--x", "1", "--target", "1", "--activation", "TANH",
         "--loss", "MSE", "--engine", "BACKWARD", "--reduction", "Half-Sum"],
    ],
)  # fmt: skip
def test_names_and_choices_ignore_case(args):
    assert invoke(*args).code == 0


def complete(shell: str, words: str, cword: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "_GRADCLI_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        env |= {"COMP_WORDS": words, "COMP_CWORD": cword or str(len(words.split()) - 1)}
    else:
        env |= {"_TYPER_COMPLETE_ARGS": words, "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    return subprocess.run(
        [sys.executable, "-m", "gradcli"], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("shell", "words", "wanted"),
    [
        ("bash", "gradcli activation sig", "sigmoid"),
        ("bash", "gradcli loss cross", "cross_entropy"),
        ("bash", "gradcli perceptron --activation relu,si", "relu,sigmoid"),
        ("bash", "gradcli loss mse --reduction ha", "half-sum"),
        ("bash", "gradcli activation tanh 1 --format cs", "csv"),
        ("bash", "gradcli soft", "softmax-jacobian"),
        ("zsh", "gradcli activation sig", "sigmoid"),
        ("fish", "gradcli activation sig", "sigmoid"),
    ],
)
def test_shell_completion(shell, words, wanted):
    done = complete(shell, words)
    assert done.returncode == 0 and wanted in done.stdout, (done.stdout, done.stderr)
    assert "torch" not in done.stderr


@pytest.mark.parametrize("cword", ["abc", "", "-1", "99999999999999999999"])
def test_a_malformed_completion_environment_completes_nothing(cword):
    done = complete("bash", "gradcli activation sig", cword)
    assert done.returncode in (0, 1)
    assert "Error" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["activation", "loss"])
def test_listings_are_machine_readable(command):
    data = invoke(command, "--list", "--json").json()
    assert data["command"] == command and data["list"]
    assert all({"name", "formula", "params"} <= entry.keys() for entry in data["list"])
    rows = list(csv.DictReader(io.StringIO(invoke(command, "--list", "--format", "csv").stdout)))
    assert [row["name"] for row in rows] == [entry["name"] for entry in data["list"]]


def test_activation_listing_carries_the_registry():
    entries = {e["name"]: e for e in invoke("activation", "--list", "--json").json()["list"]}
    assert entries["softplus"]["params"] == {"beta": 1.0, "threshold": 20.0}
    assert entries["relu"]["kinks_at_defaults"] == [0.0]
    assert entries["gelu"]["variants"][0]["value"] == "tanh"


def test_version_names_torch_and_its_build_without_importing_it():
    code = (
        "import sys\nfrom gradcli.cli import main\ntry:\n    main(['--version'])\n"
        "except SystemExit:\n    pass\nprint('torch loaded:', 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("gradcli ")
    assert lines[1].startswith("torch ") and ("CPU build" in lines[1] or "CUDA" in lines[1])
    assert lines[-1] == "torch loaded: False"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_spinner_only_on_a_terminal_and_erased_after(monkeypatch):
    monkeypatch.setattr(_torch, "SPINNER_DELAY", 0.05)
    monkeypatch.delenv("GRADCLI_NO_SPINNER", raising=False)
    terminal_err, terminal_out = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal_err)
    monkeypatch.setattr(sys, "stdout", terminal_out)
    with _torch.spinner("loading torch"):
        time.sleep(0.4)
    written = terminal_err.getvalue()
    assert "loading torch..." in written and written.endswith("\r")
    assert terminal_out.getvalue() == ""  # stdout untouched
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)  # stdout piped: no spinner at all
    quiet_err = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", quiet_err)
    with _torch.spinner("loading torch"):
        time.sleep(0.2)
    assert quiet_err.getvalue() == ""
