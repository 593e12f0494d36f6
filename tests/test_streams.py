"""Real processes in hostile environments: odd encodings, closed or full streams, broken
pipes, Ctrl-C in a batch, a bug in gradcli — each ends cleanly with a documented exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from gradcli.core import activation as activation_core
from tests.conftest import invoke

GRADCLI = [sys.executable, "-m", "gradcli"]


def run(args, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GRADCLI, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        timeout=120,
        **kwargs,
    )


ENCODINGS = [
    {"PYTHONIOENCODING": "ascii"},
    {"PYTHONIOENCODING": "latin-1"},
    {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""},
]
COMMANDS = [
    ["activation", "sigmoid", "0", "0.5", "--expect", "0.25,0.2350"],
    ["activation", "--list"],
    ["loss", "--list"],
    ["softmax-jacobian", "1", "2", "--json"],
    ["loss", "cross_entropy", "--pred", "1,2", "--target", "0", "--format", "csv"],
    ["activation", "sigmoid", "x"],
    ["--help"],
]


@pytest.mark.parametrize("env", ENCODINGS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_encodings_that_cannot_hold_the_symbols_get_ascii(env, args):
    done = run(args, env)
    assert done.returncode in (0, 2), done.stderr
    assert b"Traceback" not in done.stderr
    done.stdout.decode("ascii")  # every byte is ASCII (stand-ins: sigma, OK, -)
    done.stderr.decode("ascii")
    if args[-1] == "x":
        assert done.returncode == 2 and done.stderr.startswith(b"Error: ")


def test_ascii_tables_use_stand_ins_and_stay_aligned():
    done = run(["activation", "sigmoid", "0.5", "--expect", "0.24"], {"PYTHONIOENCODING": "ascii"})
    text = done.stdout.decode("ascii")
    assert "sigma(x) = 1 / (1 + e^(-x))" in text and "0.24 OK" in text
    widths = {len(line) for line in text.splitlines() if line.startswith(("|", "+"))}
    assert len(widths) == 1  # every row of the table as wide as its border


def test_json_escapes_non_ascii_when_the_output_cannot_hold_it():
    done = run(["activation", "sigmoid", "1", "--json"], {"PYTHONIOENCODING": "ascii"})
    assert b"\\u03c3" in done.stdout  # σ escaped, still valid JSON
    assert done.returncode == 0


def test_closed_stdout_is_one_error_line():
    done = subprocess.run(
        [*GRADCLI, "activation", "sigmoid", "1"], stdout=subprocess.DEVNULL, capture_output=False,
        stderr=subprocess.PIPE, timeout=120, close_fds=True,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "Error: standard output is closed; nothing could be written"
    ]


def test_quiet_needs_no_stdout():
    done = subprocess.run(
        [*GRADCLI, "activation", "sigmoid", "1", "-q"], stderr=subprocess.PIPE, timeout=120,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == b""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_a_full_disk_is_one_error_line(fmt):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*GRADCLI, "activation", "sigmoid", "1", "--format", fmt],
            stdout=full, stderr=subprocess.PIPE, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "Error: cannot write the output: No space left on device"
    ]


def test_closed_stderr_still_gives_the_exit_code():
    done = subprocess.run(
        [*GRADCLI, "activation", "sigmoid", "x"], stdout=subprocess.PIPE, timeout=120,
        preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == b""


@pytest.mark.parametrize(
    "args",
    [
        ["activation", "sigmoid", *[str(i / 10) for i in range(400)]],
        ["activation", "sigmoid", *[str(i / 10) for i in range(400)], "--json"],
        ["activation", "sigmoid", *[str(i / 10) for i in range(400)], "--format", "csv"],
        ["activation", "--list"],
        ["--help"],
    ],
)
def test_a_reader_that_goes_away_is_not_an_error(args):
    script = f"set -o pipefail; {' '.join(map(repr, GRADCLI + args))} | head -c 20 > /dev/null"
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""


def test_ctrl_c_stops_a_batch_at_once_with_130(tmp_path):
    lines = "".join(f"softmax-jacobian {' '.join(['1'] * 300)}\n" for _ in range(2000))
    (tmp_path / "many.txt").write_text(lines, encoding="utf-8")
    proc = subprocess.Popen(
        [*GRADCLI, "batch", str(tmp_path / "many.txt")], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    first = proc.stdout.readline()  # a line is out: torch is loaded, the batch is running
    assert first.startswith(b"{")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"Traceback" not in err
    assert b"no output" not in out and len(out.splitlines()) < 1999  # it stopped early


def test_a_bug_is_exit_three_with_one_line_and_no_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a planted bug")

    monkeypatch.setattr(activation_core, "check_elementwise", broken)
    done = invoke("activation", "sigmoid", "1")
    assert done.code == 3
    assert done.stderr.splitlines() == [
        "Error: internal error: ZeroDivisionError: a planted bug — please report it, with the "
        "command line (GRADCLI_DEBUG=1 shows the traceback)"
    ]
    monkeypatch.setenv("GRADCLI_DEBUG", "1")
    debug = invoke("activation", "sigmoid", "1")
    assert debug.code == 3 and "Traceback" in debug.stderr


def test_batch_survives_hostile_files(tmp_path):
    (tmp_path / "mixed.txt").write_bytes(
        b"\xef\xbb\xbfactivation sigmoid 1\n"  # a BOM: ignored
        b"activation tanh \xff\xfe\n"  # not UTF-8: that line fails
        b"activation tanh 'unclosed\n"  # cannot be split: that line fails
        + b"activation relu "
        + b"1," * 600_000
        + b"1\n"  # too long: that line fails
        + b"activation relu 2\n"
    )
    done = run(["batch", str(tmp_path / "mixed.txt")])
    records = [line for line in done.stdout.decode().splitlines()]
    assert len(records) == 5 and done.returncode == 2
    assert '"line": 2' in records[1] and "not UTF-8" in records[1]
    assert "no closing quotation" in records[2]
    assert "longer than 1,000,000 bytes" in records[3]
    assert records[0].startswith('{"command": "activation"')
    assert records[4].startswith('{"command": "activation"')
    (tmp_path / "binary.bin").write_bytes(b"activation relu 1\n\x00\x01\x02")
    binary = run(["batch", str(tmp_path / "binary.bin")])
    assert binary.returncode == 2 and b"NUL bytes" in binary.stderr
    closed = subprocess.run([*GRADCLI, "batch"], stdin=subprocess.DEVNULL, capture_output=True)
    assert closed.returncode == 0 and closed.stdout == b""  # an empty stdin: nothing to do
    no_stdin = subprocess.run(
        [*GRADCLI, "batch"], capture_output=True, timeout=120, preexec_fn=lambda: os.close(0)
    )
    assert no_stdin.returncode == 2 and b"standard input is closed" in no_stdin.stderr


def test_batch_splits_a_long_line_in_linear_time():
    from gradcli.commands.batch import split_line

    start = time.perf_counter()
    tokens = split_line("activation relu " + "1," * 400_000 + "1")
    assert len(tokens) == 3 and time.perf_counter() - start < 2.0
