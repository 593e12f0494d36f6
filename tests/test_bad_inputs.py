"""The bad-input corpus (tests/data/bad_inputs.txt): every hostile input gets one clear error.

Each case must exit with its code, print exactly one ``Error:`` line (escaped, capped, no
doubled prefix) and nothing on stdout, raise no traceback, finish within its time bound and
raise the peak memory of the process by at most MEMORY_BOUND_MIB;
"early" cases must be refused before torch is imported — before anything is allocated —
which one fresh process checks for all of them at once.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradcli.cli import app

CORPUS = Path(__file__).parent / "data" / "bad_inputs.txt"
REPEAT = re.compile(r"<<(.+?)\*(\d+)>>")
ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")
TIME_BOUND = {"early": 1.0, "late": 15.0}  # seconds in-process (torch already imported)
MEMORY_BOUND_MIB = 256  # growth of this process's peak RSS during one case (torch loaded first)
DOUBLED_PREFIX = re.compile(r"(--?[\w-]+): \1:")


@dataclass(frozen=True)
class Case:
    line: int
    code: int
    stage: str
    fragment: str
    env: dict[str, str]
    args: list[str]

    def __str__(self) -> str:
        text = " ".join(self.args)
        return f"line {self.line}: {text[:70]}"


def _expand(text: str) -> str:
    text = REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), text)

    def decode(match: re.Match[str]) -> str:
        raw = match.group(1).replace("\\e", "\\x1b")
        return shlex.quote(codecs.decode(raw, "unicode_escape"))

    return ANSI_C.sub(decode, text)


def load_cases() -> list[Case]:
    cases = []
    for number, raw in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        code, stage, fragment, command = (part.strip() for part in raw.split("|", 3))
        words = shlex.split(_expand(command))
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        cases.append(Case(number, int(code), stage, fragment, env, words))
    return cases


CASES = load_cases()


def test_the_corpus_is_large_and_well_formed():
    assert len(CASES) >= 200
    assert {case.stage for case in CASES} <= set(TIME_BOUND)
    assert all(case.code == 2 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_bad_input_is_one_clean_error_line(case):
    import torch  # noqa: F401  (loaded before the peak is read: its import is not the case's)

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = CliRunner().invoke(app, case.args, env=case.env)
    elapsed = time.perf_counter() - start
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(
        result.exception
    )
    assert result.exit_code == case.code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: ") and not line.startswith("Error: Error")
    assert "Traceback" not in line and "\x1b" not in line
    assert case.fragment in line, (case.fragment, line)
    assert not DOUBLED_PREFIX.search(line), line
    assert len(line) <= 1000
    assert elapsed <= TIME_BOUND[case.stage], f"{elapsed:.2f} s"
    assert grown_mib <= MEMORY_BOUND_MIB, f"peak RSS grew by {grown_mib:.0f} MiB"


EARLY_CHECK = """
import json, os, sys
from gradcli.cli import main
results = []
for env, args in json.loads(sys.stdin.read()):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        main(args)
    except SystemExit as done:
        code = done.code
    finally:
        os.environ.clear()
        os.environ.update(saved)
    results.append([code, "torch" in sys.modules])
print(json.dumps(results))
"""


def test_early_cases_are_refused_before_torch_is_imported():
    early = [case for case in CASES if case.stage == "early"]
    payload = json.dumps([[case.env, case.args] for case in early])
    proc = subprocess.run(
        [sys.executable, "-c", EARLY_CHECK],
        input=payload,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    loaded = [str(case) for case, (_, torch) in zip(early, results, strict=True) if torch]
    assert not loaded, f"torch was imported by the first of: {loaded[:3]}"
    codes = [(str(case), code) for case, (code, _) in zip(early, results, strict=True)]
    assert all(code == 2 for _, code in codes), [c for c in codes if c[1] != 2]
