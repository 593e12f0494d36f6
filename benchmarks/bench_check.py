"""Start-up of `gradcli check`, side by side with its floor.

`check` must import torch and the user's file (which imports torch itself), so its floor is
``python -c "import torch"`` plus the user's own import time. The target: check costs at most
1.15 × (import torch) + (the user's import beyond torch). The user's import time is measured
as a bare ``python -c "import torch; import <their module>"`` run, so

    ratio = (check − user_extra) / import torch,  user_extra = (torch + module) − torch.

Every case runs REPEAT times, interleaved with the baselines, and medians are compared
(reusing run/medians from benchmarks/bench.py).

Usage: python benchmarks/bench_check.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import PYTHON, TORCH, Sample, compile_gradcli, gradcli, medians, run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TARGET = 1.15

CASES = {  # name → (gradcli arguments, the example module the user's file is)
    "check sigmoid (autograd.Function, 5 inputs)": (
        ["check", f"{EXAMPLES}/sigmoid.py:Sigmoid", "--input", "5"],
        "sigmoid",
    ),
    "check linear (NumPy pair, 3 inputs)": (
        [
            "check",
            f"{EXAMPLES}/linear_numpy.py:forward",
            "--backward",
            f"{EXAMPLES}/linear_numpy.py:backward",
            "--numpy",
            "--input",
            "4x3",
            "--input",
            "2x3",
            "--input",
            "2",
        ],
        "linear_numpy",
    ),
    "check conv1d (autograd.Function, 2x3x7)": (
        [
            "check",
            f"{EXAMPLES}/conv1d_torch.py:Conv1d",
            "--input",
            "2x3x7",
            "--input",
            "4x3x3",
            "--input",
            "4",
        ],
        "conv1d_torch",
    ),
    "check bad_relu (diagnosed, exit 1)": (
        [
            "check",
            f"{EXAMPLES}/bad_relu.py:relu_forward",
            "--backward",
            f"{EXAMPLES}/bad_relu.py:relu_backward",
            "--numpy",
            "--input",
            "3x4",
        ],
        "bad_relu",
    ),
}


def user_import(module: str) -> list[str]:
    """Import torch, then the user's module (from examples/), as check does."""
    code = f"import sys; sys.path.insert(0, {str(EXAMPLES)!r}); import torch; import {module}"
    return [PYTHON, "-W", "ignore", "-c", code]


def measure(repeat: int) -> list[tuple[str, str, bool]]:
    samples: dict[str, list[Sample]] = {}

    def add(key: str, argv: list[str]) -> None:
        sample = run(argv)
        if sample.code not in (0, 1):
            raise SystemExit(f"{key} exited {sample.code}")
        samples.setdefault(key, []).append(sample)

    for _ in range(repeat):  # interleaved, so load changes hit every case alike
        add("torch", TORCH)
        for key, (args, module) in CASES.items():
            add(f"user:{module}", user_import(module))
            add(key, gradcli(*args))
    torch_wall, torch_rss = medians(samples["torch"])
    rows = [(f"baseline: python -c 'import torch' ({torch_rss:.0f} MiB)", f"{torch_wall:.3f} s",
             True)]  # fmt: skip
    for key, (_, module) in CASES.items():
        wall, rss = medians(samples[key])
        user_wall, _ = medians(samples[f"user:{module}"])
        extra = max(0.0, user_wall - torch_wall)
        ratio = (wall - extra) / torch_wall
        figure = (
            f"{wall:.3f} s = {wall / torch_wall:.2f}× torch; user import +{extra:.3f} s; "
            f"(check − user) = {ratio:.2f}× torch; {rss:.0f} MiB"
        )
        rows.append((key, figure, ratio <= TARGET))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    compile_gradcli()
    rows = measure(args.repeat)
    print(f"# {args.repeat} interleaved runs each; medians; {os.cpu_count()} CPUs; target ≤ "
          f"{TARGET}× import torch + the user's import")  # fmt: skip
    width = max(len(row[0]) for row in rows)
    for what, figure, met in rows:
        print(f"{'✓' if met else '✗'} {what:<{width}}  {figure}")
    return 0 if all(met for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
