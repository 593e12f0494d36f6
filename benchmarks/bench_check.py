"""Start-up of `gradcli check`, side by side with its floor, and what its child process costs.

`check` must import torch and the user's file (which imports torch itself), so its floor is
``python -c "import torch"`` plus the user's own import time. The target: check costs at most
1.15 × (import torch) + (the user's import beyond torch). The user's import time is measured
as a bare ``python -c "import torch; import <their module>"`` run, so

    ratio = (check − user_extra) / import torch,  user_extra = (torch + module) − torch.

The user's code runs in a child process (forked once torch is imported; gradcli/sandbox.py).
What that costs is measured side by side too: every case also runs with
``GRADCLI_NO_SANDBOX=1`` (the user's code in gradcli's own process), and the difference of
the medians is the child's price, at start-up and per `batch` line (a batch of check lines
against the same batch in-process, the per-line figure from two batch sizes).

Every case runs REPEAT times, interleaved with the baselines, and medians are compared
(reusing run/medians from benchmarks/bench.py).

Usage: python benchmarks/bench_check.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import TORCH, Row, Sample, gradcli, medians, run, simple_main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TARGET = 1.15
IN_PROCESS = {"GRADCLI_NO_SANDBOX": "1"}
BATCH_SIZES = (5, 45)  # check lines per batch: the per-line cost is the slope between them

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
BATCH_LINE = f"check {EXAMPLES}/sigmoid.py:Sigmoid --input 5"


def user_import(module: str) -> list[str]:
    """Import torch, then the user's module (from examples/), as check does."""
    code = f"import sys; sys.path.insert(0, {str(EXAMPLES)!r}); import torch; import {module}"
    return [sys.executable, "-W", "ignore", "-c", code]


def measure(repeat: int) -> list[Row]:
    samples: dict[str, list[Sample]] = {}

    def add(key: str, argv: list[str], env: dict[str, str] | None = None, stdin: str = "") -> None:
        sample = run(argv, stdin or None, env)
        if sample.code not in (0, 1):
            raise SystemExit(f"{key} exited {sample.code}")
        samples.setdefault(key, []).append(sample)

    batches = {n: "\n".join([BATCH_LINE] * n) + "\n" for n in BATCH_SIZES}
    for _ in range(repeat):  # interleaved, so load changes hit every case alike
        add("torch", TORCH)
        for key, (args, module) in CASES.items():
            add(f"user:{module}", user_import(module))
            add(key, gradcli(*args))
            add(f"in-process:{key}", gradcli(*args), IN_PROCESS)
        for n, text in batches.items():
            add(f"batch:{n}", gradcli("batch", "-"), stdin=text)
            add(f"in-process batch:{n}", gradcli("batch", "-"), IN_PROCESS, text)
    torch_wall, torch_rss = medians(samples["torch"])
    rows: list[Row] = [
        (f"baseline: python -c 'import torch' ({torch_rss:.0f} MiB)", f"{torch_wall:.3f} s", "",
         True),
    ]  # fmt: skip
    for key, (_, module) in CASES.items():
        wall, rss = medians(samples[key])
        inside, _ = medians(samples[f"in-process:{key}"])
        user_wall, _ = medians(samples[f"user:{module}"])
        extra = max(0.0, user_wall - torch_wall)
        ratio = (wall - extra) / torch_wall
        child = wall - inside
        figure = (
            f"{wall:.3f} s = {wall / torch_wall:.2f}× torch; user import +{extra:.3f} s; "
            f"(check − user) = {ratio:.2f}× torch; {rss:.0f} MiB; child process "
            f"{1000 * child:+.0f} ms = {child / torch_wall:+.1%} of torch's import"
        )
        rows.append((key, figure, f"≤ {TARGET}× torch", ratio <= TARGET))
    small, large = BATCH_SIZES
    per_line = {}
    for label, prefix in (("in a child", "batch"), ("in-process", "in-process batch")):
        low, _ = medians(samples[f"{prefix}:{small}"])
        high, _ = medians(samples[f"{prefix}:{large}"])
        per_line[prefix] = (high - low) / (large - small)
        rows.append((f"batch of check lines, {label}", f"{1000 * per_line[prefix]:.1f} ms per line",
                     "report", True))  # fmt: skip
    child = per_line["batch"] - per_line["in-process batch"]
    rows.append(("batch: the child's price per check line", f"{1000 * child:+.1f} ms", "report",
                 True))  # fmt: skip
    return rows


def main() -> int:
    return simple_main(__doc__, measure, repeat=7)


if __name__ == "__main__":
    sys.exit(main())
