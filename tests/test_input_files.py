"""``@FILE`` and ``-`` (stdin) for tensor options: read in chunks, numbers counted on the way,
refused at the element bound whatever size the file claims, with bounded time and memory.

The large cases run as separate processes so that their peak memory is their own (measured
with ``wait4``); an address-space limit keeps a regression from taking the machine's memory.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.commands.loss import LOSS_COPIES
from gradcli.errors import InputError
from gradcli.limits import DEFAULT_MAX_MEMORY, FLOAT64, PARSED_ENTRY_BYTES, max_entries
from gradcli.ops.layers import Given, get_layer, plan
from gradcli.ops.layers.plan import entry_bytes
from gradcli.parsing import _TOKEN, parse_number, parse_tensor
from tests.conftest import assert_bad_input, invoke
from tests.test_layers import CASES, case_id

LOSS_BOUND = DEFAULT_MAX_MEMORY // (FLOAT64 * LOSS_COPIES)  # 1,562,500: require_entries' bound
PEAK_MIB = 256  # the bad-input corpus's memory bound per case
SECONDS = 10.0  # a whole process, start-up included, on a busy machine (it was 30 s+ before)
ADDRESS_SPACE = 1 << 30  # bytes a child may map: the old whole-file read needed 2.8 GB


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


# The child is started by a small Python process: a child forked straight from this test
# process would count this process's memory (torch and all) in its own peak RSS.
MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_bounded(args: list[str], env: dict | None = None, feed=None):
    """Run ``python -m gradcli ARGS`` (``feed`` writes its stdin from a thread); return the
    exit code, stderr, the wall time and the process's own peak RSS in MiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "gradcli", *args],
        stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        preexec_fn=_limit_address_space,
    )
    if feed is not None:
        threading.Thread(target=feed, args=(proc.stdin,), daemon=True).start()
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    code = proc.wait()
    watchdog.cancel()
    peak_kib = int(stdout.split()[-1])
    assert stdout.split()[:-1] == []  # nothing from gradcli on stdout
    return code, stderr.decode(), time.perf_counter() - start, peak_kib / 1024


def assert_refused(code: int, stderr: str, seconds: float, peak: float, fragment: str) -> None:
    lines = stderr.splitlines()
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert fragment in lines[0], lines[0]
    assert seconds <= SECONDS, f"{seconds:.1f} s"
    assert peak <= PEAK_MIB, f"peak RSS {peak:.0f} MiB"


def test_the_loss_file_bound_is_the_command_lines_bound():
    assert max_entries(LOSS_COPIES) == LOSS_BOUND == 1_562_500
    assert max_entries() == DEFAULT_MAX_MEMORY // PARSED_ENTRY_BYTES


def test_dev_zero_is_refused_at_once_though_it_reports_size_0():
    assert os.stat("/dev/zero").st_size == 0
    result = run_bounded(["loss", "mse", "--pred", "@/dev/zero", "--target", "1"])
    assert_refused(*result, "'/dev/zero' holds NUL bytes")


def test_a_file_past_the_element_bound_is_refused_after_reading_only_that_far(tmp_path):
    path = tmp_path / "many.txt"
    path.write_bytes(b"1\n" * (LOSS_BOUND + 1))
    result = run_bounded(["loss", "mse", "--pred", f"@{path}", "--target", "1"])
    assert_refused(*result, f"holds more than {LOSS_BOUND:,} numbers")


def test_a_120_mb_file_stops_at_the_bound_of_a_lower_memory_limit(tmp_path):
    """The issue's 120 MB file, scaled: 1.2 MB of numbers against a 10 MB memory limit."""
    path = tmp_path / "numbers.txt"
    path.write_text("0.123456789\n" * 100_000, encoding="ascii")
    bound = 10**7 // (FLOAT64 * LOSS_COPIES)
    result = run_bounded(
        ["loss", "mse", "--pred", f"@{path}", "--target", "1"], env={"GRADCLI_MAX_MEMORY": "10M"}
    )
    assert_refused(*result, f"holds more than {bound:,} numbers")


def test_an_endless_stdin_is_refused_at_the_bound():
    def endless(pipe) -> None:
        try:
            while True:
                pipe.write(b"1 2 3 4 5 6 7 8\n" * 4096)
        except (BrokenPipeError, ValueError, OSError):
            pass

    result = run_bounded(["loss", "mse", "--pred", "-", "--target", "1"], feed=endless)
    assert_refused(*result, f"holds more than {LOSS_BOUND:,} numbers (standard input)")


def test_text_without_numbers_is_bounded_too(tmp_path):
    path = tmp_path / "spaces.txt"
    path.write_bytes(b" " * 2_000_000)
    args = ["loss", "mse", "--pred", f"@{path}", "--target", "1"]
    over = CliRunner().invoke(app, args, env={"GRADCLI_MAX_MEMORY": "1M"})
    assert over.exit_code == 2 and over.stdout == ""
    assert "is longer than 1,000,000 characters" in over.stderr
    # the same text within the bound of the default limit is read, and found empty
    run = invoke("layer", "linear", "--x", f"@{path}", "--weight", "1")
    assert_bad_input(run, "--x is empty")


def test_stdin_is_counted_like_a_file():
    bound = 10**6 // (FLOAT64 * LOSS_COPIES)  # 781 under GRADCLI_MAX_MEMORY=1M
    args = ["loss", "mse", "--pred", "-", "--target", "1", "--json"]
    env = {"GRADCLI_MAX_MEMORY": "1M"}
    over = CliRunner().invoke(app, args, input="1 " * (bound + 1), env=env)
    assert over.exit_code == 2 and over.stdout == ""
    assert f"holds more than {bound:,} numbers (standard input)" in over.stderr
    within = CliRunner().invoke(app, args, input="1 " * bound, env=env)
    assert within.exit_code == 2 and f"{bound} values" in within.stderr  # read whole; shapes differ


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("\ufeff1,2", (2,)),
        ("\ufeff1\n2\n", (2, 1)),
        ("\ufeff[[1,2],[3,4]]", (2, 2)),
    ],
)
def test_a_byte_order_mark_at_the_start_of_a_file_is_skipped(tmp_path, text, shape):
    path = tmp_path / "bom.txt"
    path.write_text(text, encoding="utf-8")
    assert parse_tensor(f"@{path}", "--x").shape == shape


def test_a_byte_order_mark_on_stdin_is_skipped():
    run = invoke("loss", "mse", "--pred", "-", "--target", "1,2", "--json", input_text="\ufeff1,2")
    assert run.code == 0, run.stderr
    assert run.json()["pred"] == [1.0, 2.0]


def test_a_byte_order_mark_inside_the_text_is_still_an_error(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text("1,\ufeff2", encoding="utf-8")
    run = invoke("loss", "mse", "--pred", f"@{path}", "--target", "1,2")
    assert_bad_input(run, "is not a number")


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"1,2,\xe93")
    run = invoke("loss", "mse", "--pred", f"@{path}", "--target", "1,2,3")
    assert_bad_input(run, "is not UTF-8 text (byte 5)")


@pytest.mark.parametrize("size", [1, 2, 3, 65535, 65536, 65537])
def test_numbers_split_across_chunks_are_counted_once(tmp_path, size):
    """A number cut by a chunk boundary is one number: a file of exactly the bound passes."""
    body = "0." + "7" * (size - 2) if size > 2 else "7" * size
    path = tmp_path / "cut.txt"
    path.write_text(" ".join([body] * 3), encoding="ascii")
    assert parse_tensor(f"@{path}", "--x", max_entries=3).values == [float(body)] * 3
    with pytest.raises(InputError, match="holds more than 2 numbers"):
        parse_tensor(f"@{path}", "--x", max_entries=2)


def test_the_command_line_has_the_same_bound():
    with pytest.raises(InputError, match="holds 4 numbers; the limit is 3 numbers"):
        parse_tensor("1,2,3,4", "--x", max_entries=3)


def _careful(text: str) -> list[float]:
    """The token-by-token reading, written out here as the reference."""
    return [parse_number(match.group(), "--x") for match in _TOKEN.finditer(text)]


PIECES = st.sampled_from(
    ["1", "0", "12", "-3", "+4", ".5", "5.", "1e3", "2E-2", "1e", "e1", "1_0", "nan", "inf",
     "-Infinity", "0x10", "1e999", "١", "１", "--1", "1.2.3", "7" * 30, " ", ",", "\t", "\n"]
)  # fmt: skip


@given(st.lists(PIECES, min_size=1, max_size=30))
def test_the_fast_reading_agrees_with_the_careful_one(pieces):
    text = " ".join(pieces).replace("\n", " ")
    try:
        expected = _careful(text)
    except InputError as error:
        with pytest.raises(InputError) as raised:
            parse_tensor(text, "--x")
        assert str(raised.value) == str(error)
        return
    if not expected:
        return
    data = parse_tensor(text, "--x")
    assert data.values == expected
    assert all(math.isfinite(value) for value in data.values)


ROW = st.lists(st.sampled_from(["1", "-2.5", "3e1"]), min_size=1, max_size=3)


@given(st.lists(ROW, min_size=1))
def test_rows_one_per_line_or_several_read_the_same(rows):
    text = "\n".join(" ".join(row) for row in rows)
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        with pytest.raises(InputError, match="ragged"):
            parse_tensor(text, "--x")
        return
    data = parse_tensor(text, "--x")
    assert data.shape == ((len(rows), len(rows[0])) if len(rows) > 1 else (len(rows[0]),))
    assert data.values == [float(token) for row in rows for token in row]


class _LineOnlyStdin(io.StringIO):
    """A replaced stdin without a byte buffer, which must never be read whole."""

    def read(self, size: int | None = -1) -> str:
        if size is None or size < 0:
            raise AssertionError("stdin read whole")
        return super().read(size)


def test_batch_reads_a_stdin_without_a_byte_buffer_line_by_line(monkeypatch, capsys):
    from gradcli.cli import main

    monkeypatch.setattr(sys, "stdin", _LineOnlyStdin("activation relu 1\nactivation relu -1\n"))
    with pytest.raises(SystemExit) as done:
        main(["batch", "-"])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["analytic"] for line in lines] == [[1.0], [0.0]]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_layer_input_past_its_file_bound_would_be_refused_by_the_memory_check(case):
    """The file bound of a layer input (limit / entry_bytes) never refuses what the memory
    check would take: memory_estimate counts at least entry_bytes for each entry."""
    name, shapes, params = case
    layer = get_layer(name)
    checked = plan(layer, {key: Given(shape=shape) for key, shape in shapes.items()}, params)
    least = sum(
        math.prod(checked.shapes[item.name]) * entry_bytes(item)
        for item in layer.inputs
        if checked.shapes.get(item.name)
    )
    assert checked.bytes_needed >= least


def test_a_layer_file_stops_at_the_layers_own_bound(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("0.5\n" * 40, encoding="ascii")
    bound = 5000 // entry_bytes(get_layer("linear").input("x"))  # 14 under a 5 kB limit
    args = ["layer", "linear", "--x", f"@{path}", "--weight", "1"]
    run = CliRunner().invoke(app, args, env={"GRADCLI_MAX_MEMORY": "5k"})
    assert run.exit_code == 2 and f"--x holds more than {bound} numbers" in run.stderr
    within = ["layer", "linear", "--x", ";".join(["0.5"] * bound), "--weight", "1"]
    run = CliRunner().invoke(app, within, env={"GRADCLI_MAX_MEMORY": "5k"})
    assert "holds" not in run.stderr and "needs" in run.stderr  # the memory check decides
