"""Start-up, speed and memory of gradcli, measured side by side with bare baselines.

Every case is run REPEAT times, interleaved with its baseline, and compared by the median
wall time (and the median peak RSS). Targets are ratios against:

* ``python -c "import torch"`` for computing commands (the floor: they must import torch);
* ``python -c "import typer, typer.rich_utils"`` for help and listings (they must not).

Usage: python benchmarks/bench.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
GRADCLI = shutil.which("gradcli", path=str(Path(PYTHON).parent)) or "gradcli"

TORCH = [PYTHON, "-W", "ignore", "-c", "import torch"]
TYPER = [PYTHON, "-c", "import typer, typer.rich_utils"]


@dataclass
class Sample:
    wall: float
    rss_mib: float
    code: int


def run(argv: list[str], stdin: str | None = None) -> Sample:
    """Wall time and peak RSS of one process (output discarded)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
        if stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    return Sample(wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))


def medians(samples: list[Sample]) -> tuple[float, float]:
    return (
        statistics.median(s.wall for s in samples),
        statistics.median(s.rss_mib for s in samples),
    )


def gradcli(*args: str) -> list[str]:
    return [GRADCLI, *args]


HELP_CASES = {
    "gradcli --help": gradcli("--help"),
    "gradcli activation --help": gradcli("activation", "--help"),
    "gradcli activation --list": gradcli("activation", "--list"),
    "gradcli softmax-jacobian --help": gradcli("softmax-jacobian", "--help"),
}
COMPUTE_CASES = {
    "gradcli softmax-jacobian 1 2 3": gradcli("softmax-jacobian", "1", "2", "3"),
    "gradcli activation sigmoid 0.5": gradcli("activation", "sigmoid", "0.5"),
}
BIG_SOFTMAX = gradcli("softmax-jacobian", *[str(i / 100) for i in range(1000)])


def measure(repeat: int) -> list[tuple[str, str, str, bool]]:
    """Rows of (what, figure, target, met)."""
    samples: dict[str, list[Sample]] = {}

    def add(key: str, argv: list[str]) -> None:
        sample = run(argv)
        if sample.code not in (0, 1):
            raise SystemExit(f"{key} exited {sample.code}")
        samples.setdefault(key, []).append(sample)

    cases = {**HELP_CASES, **COMPUTE_CASES, "softmax-jacobian, 1000 inputs": BIG_SOFTMAX}
    for _ in range(repeat):  # interleaved, so load changes hit every case alike
        add("torch", TORCH)
        add("typer", TYPER)
        for key, argv in cases.items():
            add(key, argv)

    torch_wall, torch_rss = medians(samples["torch"])
    typer_wall, _ = medians(samples["typer"])
    rows = [
        (
            "baseline: python -c 'import torch'",
            f"{torch_wall:.3f} s, {torch_rss:.0f} MiB",
            "",
            True,
        ),
        ("baseline: python -c 'import typer, typer.rich_utils'", f"{typer_wall:.3f} s", "", True),
    ]
    for key in HELP_CASES:
        wall, _ = medians(samples[key])
        ratio = wall / typer_wall
        rows.append((key, f"{wall:.3f} s = {ratio:.2f}× typer", "≤ 1.30× typer", ratio <= 1.30))
    for key in COMPUTE_CASES:
        wall, rss = medians(samples[key])
        ratio, mem = wall / torch_wall, rss / torch_rss
        rows.append((key, f"{wall:.3f} s = {ratio:.2f}× torch", "≤ 1.15× torch", ratio <= 1.15))
        rows.append(
            (f"{key} (peak RSS)", f"{rss:.0f} MiB = {mem:.2f}× torch", "≤ 1.10× torch", mem <= 1.10)
        )
    wall, _ = medians(samples["softmax-jacobian, 1000 inputs"])
    extra = wall - torch_wall
    rows.append(
        (
            "softmax-jacobian, 1000 inputs",
            f"{extra:+.3f} s beyond import torch",
            "≤ 2 s beyond",
            extra <= 2.0,
        )
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows = measure(args.repeat)
    cpu = os.cpu_count()
    print(f"# {args.repeat} interleaved runs each; medians; {cpu} CPUs; {sys.version.split()[0]}")
    if args.markdown:
        print("| measurement | figure | target | met |\n|---|---|---|---|")
        for what, figure, target, met in rows:
            print(f"| {what} | {figure} | {target} | {'✓' if met else '✗'} |")
    else:
        width = max(len(r[0]) for r in rows)
        for what, figure, target, met in rows:
            mark = ("✓" if met else "✗") if target else " "
            print(f"{mark} {what:<{width}}  {figure:<28} {target}")
    return 0 if all(met for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
