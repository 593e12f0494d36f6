"""Start-up, speed and memory of gradcli, measured side by side with bare baselines.

Every case is run REPEAT times, interleaved with its baseline, and compared by the median
wall time (and the median peak RSS). Targets are ratios against:

* ``python -c "import torch"`` for computing commands (the floor: they must import torch);
* ``python -c "import typer, typer.rich_utils"`` for help and listings (they must not).

Usage: python benchmarks/bench.py [--repeat N] [--markdown] [--startup]

``--startup`` measures only help and listings against Typer's import (a minute, not ten):
each figure is the ratio of the medians, followed by the spread of the per-round ratios
(each run divided by the Typer run of its own round: first to third quartile) and the same
ratio in CPU time, which a busy machine disturbs far less than wall time.

The "separate invocations" figure runs one line of each kind of the batch file as its own
process and multiplies the median by the number of lines, rather than spending ~40 minutes
on 1000 real processes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
GRADCLI = shutil.which("gradcli", path=str(Path(PYTHON).parent)) or "gradcli"

TORCH = [PYTHON, "-W", "ignore", "-c", "import torch"]
TYPER = [PYTHON, "-c", "import typer, typer.rich_utils"]


Row = tuple[str, str, str, bool]  # what, figure, target ("" or "report": none), met


def report(rows: list[Row], heading: str, markdown: bool) -> int:
    """Print the rows (as a Markdown table with ``markdown``); 1 when a target is missed."""
    print(f"# {heading}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    if markdown:
        print("| measurement | figure | target | met |\n|---|---|---|---|")
    width = max(len(what) for what, *_ in rows)
    for what, figure, target, met in rows:
        mark = ("✓" if met else "✗") if target and target != "report" else " "
        if markdown:
            print(f"| {what} | {figure} | {target} | {mark} |")
        else:
            print(f"{mark} {what:<{width}}  {figure}  {target}")
    return 0 if all(met for *_, met in rows) else 1


def compile_gradcli() -> None:
    """Write gradcli's bytecode first, as ``pip install`` does for an installed copy: an
    editable checkout run with PYTHONDONTWRITEBYTECODE=1 would compile every module on every
    run (about 0.2 s), a cost no installed user pays and the baselines' packages never do."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("gradcli")
    for folder in spec.submodule_search_locations if spec else []:
        compileall.compile_dir(folder, quiet=1)


@dataclass
class Sample:
    wall: float
    rss_mib: float
    code: int
    cpu: float = 0.0  # user + system seconds of the process


def run(argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None) -> Sample:
    """Wall time and peak RSS of one process (output discarded); ``env`` adds variables."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=None if env is None else {**os.environ, **env},
        )
        if stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return Sample(wall, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime)


def medians(samples: list[Sample]) -> tuple[float, float]:
    return (
        statistics.median(s.wall for s in samples),
        statistics.median(s.rss_mib for s in samples),
    )


def gradcli(*args: str) -> list[str]:
    return [GRADCLI, *args]


MAZUR = gradcli(
    "perceptron", "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60",
    "--x", "0.05,0.10", "--target", "0.01,0.99", "--reduction", "half-sum", "--lr", "0.5",
)  # fmt: skip
HELP_CASES = {
    "gradcli --help": gradcli("--help"),
    **{
        f"gradcli {name} --help": gradcli(name, "--help")
        for name in ("activation", "softmax-jacobian", "loss", "perceptron", "optim", "batch")
    },
    "gradcli activation --list": gradcli("activation", "--list"),
    "gradcli loss --list": gradcli("loss", "--list"),
    "gradcli optim --list": gradcli("optim", "--list"),
}
MORE_HELP_CASES = {  # --startup measures these too
    **{
        f"gradcli {name} --help": gradcli(name, "--help")
        for name in ("optim", "layer", "expr", "check")
    },
    **{f"gradcli {name} --list": gradcli(name, "--list") for name in ("optim", "layer", "expr")},
}
HELP_TARGET = 1.30  # × typer
COMPUTE_CASES = {
    "gradcli softmax-jacobian 1 2 3": gradcli("softmax-jacobian", "1", "2", "3"),
    "gradcli activation sigmoid 0.5": gradcli("activation", "sigmoid", "0.5"),
    "gradcli loss cross_entropy …": gradcli(
        "loss", "cross_entropy", "--pred", "2,1,0.1;0.5,2.5,0.3", "--target", "0,1"
    ),
    "gradcli perceptron (2-2-2, --lr)": MAZUR,
    "gradcli optim adam (one step)": gradcli(
        "optim", "adam", "--param", "1,-2,3", "--grad", "0.1,0.2,-0.3", "--state", "step=10"
    ),
}
BIG_CASES = {  # (argv, allowed seconds beyond `import torch`)
    "softmax-jacobian, 1000 inputs": (
        gradcli("softmax-jacobian", *[str(i / 100) for i in range(1000)]),
        2.0,
    ),
    "perceptron --layers 256,10 --x-shape 64x784": (
        gradcli("perceptron", "--layers", "256,10", "--x-shape", "64x784", "--target", "1"),
        1.0,
    ),
}
BATCH_LINES = [
    line
    for i in range(250)
    for line in (
        f"activation sigmoid {i / 100}",
        f"softmax-jacobian 1 2 {i / 100}",
        f"loss mse --pred 1,{i / 100} --target 0,1",
        f"activation tanh -{i / 1000} 0.5 --expect 0.4,0.79",
    )
]


def measure(repeat: int) -> list[tuple[str, str, str, bool]]:
    """Rows of (what, figure, target, met)."""
    samples: dict[str, list[Sample]] = {}

    def add(key: str, argv: list[str], stdin: str | None = None) -> None:
        sample = run(argv, stdin)
        if sample.code not in (0, 1, 2 if stdin else 1):
            raise SystemExit(f"{key} exited {sample.code}")
        samples.setdefault(key, []).append(sample)

    batch_text = "\n".join(BATCH_LINES) + "\n"
    singles = BATCH_LINES[:: len(BATCH_LINES) // 4][:4]  # one line of each kind
    for _ in range(repeat):  # interleaved, so load changes hit every case alike
        add("torch", TORCH)
        add("typer", TYPER)
        for key, argv in {**HELP_CASES, **COMPUTE_CASES}.items():
            add(key, argv)
        for key, (argv, _) in BIG_CASES.items():
            add(key, argv)
        add("batch", gradcli("batch", "-"), batch_text)
        for line in singles:
            add("single", gradcli(*shlex.split(line)))

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
    rows += help_rows(samples, HELP_CASES)
    for key in COMPUTE_CASES:
        wall, rss = medians(samples[key])
        ratio, mem = wall / torch_wall, rss / torch_rss
        rows.append((key, f"{wall:.3f} s = {ratio:.2f}× torch", "≤ 1.15× torch", ratio <= 1.15))
        rows.append(
            ("  peak RSS", f"{rss:.0f} MiB = {mem:.2f}× torch", "≤ 1.10× torch", mem <= 1.10)
        )
    for key, (_, allowed) in BIG_CASES.items():
        wall, _ = medians(samples[key])
        extra = wall - torch_wall
        rows.append((key, f"{extra:+.3f} s beyond import torch", f"≤ {allowed:g} s beyond",
                     extra <= allowed))  # fmt: skip
    batch_wall, _ = medians(samples["batch"])
    single_wall, _ = medians(samples["single"])
    per_line_ms = (batch_wall - torch_wall) / len(BATCH_LINES) * 1000
    lines = len(BATCH_LINES)
    figure = f"{batch_wall:.3f} s = import torch + {per_line_ms:.2f} ms/line"
    rows.append((f"batch, {lines} lines", figure, "≈ start-up + 1 ms/line", per_line_ms <= 1.5))
    separate = single_wall * lines
    speedup = f"{separate:.0f} s; batch is {separate / batch_wall:.0f}× faster"
    rows.append(
        (f"{lines} separate invocations (median single × {lines})", speedup, "report", True)
    )
    return rows


def quartiles(values: list[float]) -> tuple[float, float]:
    """First and third quartile (the spread reported beside a median)."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return q1, q3


def help_rows(samples: dict[str, list[Sample]], cases: dict[str, list[str]]) -> list[Row]:
    """One row per help or listing case: the ratio of the medians against Typer's import, the
    quartiles of the per-round ratios, and the ratio of the medians in CPU time."""
    typer = samples["typer"]
    typer_wall = statistics.median(s.wall for s in typer)
    typer_cpu = statistics.median(s.cpu for s in typer)
    rows = []
    for key in cases:
        runs = samples[key]
        wall = statistics.median(s.wall for s in runs)
        ratio = wall / typer_wall
        low, high = quartiles([s.wall / t.wall for s, t in zip(runs, typer, strict=True)])
        cpu = statistics.median(s.cpu for s in runs) / typer_cpu
        figure = f"{wall:.3f} s = {ratio:.2f}× typer (rounds {low:.2f}–{high:.2f}×; CPU {cpu:.2f}×)"
        rows.append((key, figure, f"≤ {HELP_TARGET:.2f}× typer", ratio <= HELP_TARGET))
    return rows


def measure_startup(repeat: int) -> list[Row]:
    """Help and listings only, interleaved with Typer's import."""
    cases = {**HELP_CASES, **MORE_HELP_CASES}
    samples: dict[str, list[Sample]] = {"typer": []}
    for _ in range(repeat):
        samples["typer"].append(run(TYPER))
        for key, argv in cases.items():
            sample = run(argv)
            if sample.code != 0:
                raise SystemExit(f"{key} exited {sample.code}")
            samples.setdefault(key, []).append(sample)
    typer = samples["typer"]
    low, high = quartiles([s.wall for s in typer])
    baseline = f"{statistics.median(s.wall for s in typer):.3f} s (rounds {low:.3f}–{high:.3f} s)"
    return [("baseline: python -c 'import typer, typer.rich_utils'", baseline, "", True),
            *help_rows(samples, cases)]  # fmt: skip


def simple_main(doc: str, measure: Callable[[int], list[Row]], repeat: int) -> int:
    """The command line of a benchmark with no options of its own: --repeat and --markdown."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    compile_gradcli()
    rows = measure(args.repeat)
    return report(rows, f"{args.repeat} interleaved runs each; medians", args.markdown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help="rounds (default 7, or 21 with --startup)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--startup", action="store_true", help="help and listings only")
    args = parser.parse_args()
    compile_gradcli()
    chosen, repeat = (measure_startup, 21) if args.startup else (measure, 7)
    repeat = args.repeat or repeat
    rows = chosen(repeat)
    return report(rows, f"{repeat} interleaved runs each; medians", args.markdown)


if __name__ == "__main__":
    sys.exit(main())
