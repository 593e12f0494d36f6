"""Output at size: `gradcli softmax-jacobian` with n logits, side by side with a direct script.

The direct script is what a person would write to get the same matrix out: import torch,
``torch.func.jacrev`` of the softmax in float64, and the Jacobian written whole as JSON
(``json.dump`` of ``tolist()``). gradcli computes three matrices (analytic, autograd and
finite differences), compares them entry by entry and writes all three, so the ratios show what
the check costs over the bare answer. Targets (issue 9): peak memory within 1.5× of the direct
script; time reported. Output goes to a file in a temporary folder (the disk, not a pipe).

Usage: python benchmarks/bench_output.py [--repeat N] [--sizes 500,1000,2000] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import PYTHON, Sample, compile_gradcli, gradcli, medians, report

MEMORY_TARGET = 1.5

DIRECT = """
import json, sys
import torch
values = [float(v) for v in open(sys.argv[1]).read().split(",")]
a = torch.tensor(values, dtype=torch.float64)
jacobian = torch.func.jacrev(lambda t: torch.softmax(t, dim=-1))(a)
with open(sys.argv[2], "w") as out:
    json.dump(jacobian.tolist(), out)
"""
FORMATS = {"table": [], "json": ["--json"], "csv": ["--format", "csv"]}


def logits(n: int) -> str:
    return ",".join(f"{(i * 37 % 101) / 25 - 2:.4f}" for i in range(n))


def measure(repeat: int, sizes: list[int]) -> list[tuple[str, str, str, bool]]:
    samples: dict[str, list[Sample]] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        script = root / "direct.py"
        script.write_text(DIRECT, encoding="utf-8")
        inputs = {n: root / f"logits{n}.txt" for n in sizes}
        for n, path in inputs.items():
            path.write_text(logits(n), encoding="utf-8")
        out = root / "out"
        env_columns = {"COLUMNS": "120"}
        for _ in range(repeat):  # interleaved
            for n, path in inputs.items():
                direct = [PYTHON, "-W", "ignore", str(script), str(path), str(out)]
                sample = run_to(direct, root / "ignored", {})
                samples.setdefault(f"direct {n}", []).append(sample)
                for name, flags in FORMATS.items():
                    argv = gradcli("softmax-jacobian", *path.read_text().split(","), *flags)
                    sample = run_to(argv, out, env_columns)
                    if sample.code not in (0, 1):
                        raise SystemExit(f"softmax-jacobian n={n} {name} exited {sample.code}")
                    samples.setdefault(f"{name} {n}", []).append(sample)
    rows = []
    for n in sizes:
        base_wall, base_rss = medians(samples[f"direct {n}"])
        rows.append((f"direct jacrev + json.dump, n = {n:,}",
                     f"{base_wall:.2f} s, {base_rss:.0f} MiB", "", True))  # fmt: skip
        for name in FORMATS:
            wall, rss = medians(samples[f"{name} {n}"])
            ratio = rss / base_rss
            figure = f"{wall:.2f} s = {wall / base_wall:.2f}×, {rss:.0f} MiB = {ratio:.2f}×"
            target = f"memory ≤ {MEMORY_TARGET:g}×"
            rows.append((f"gradcli softmax-jacobian, n = {n:,}, {name}", figure, target,
                         ratio <= MEMORY_TARGET))  # fmt: skip
    return rows


def run_to(argv: list[str], out: Path, env: dict[str, str]) -> Sample:
    """Wall time and peak RSS of one process writing its stdout into ``out`` (a real file, as
    a user's redirection would be)."""
    with open(out, "wb") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    return Sample(wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="500,1000,2000")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    compile_gradcli()
    rows = measure(args.repeat, [int(n) for n in args.sizes.split(",")])
    return report(rows, f"{args.repeat} interleaved runs each; medians", args.markdown)


if __name__ == "__main__":
    raise SystemExit(main())
