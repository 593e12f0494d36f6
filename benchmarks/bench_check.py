"""Start-up of `gradcli check`, side by side with its floor.

`check` must import torch and the user's file (which imports torch itself), so its floor is
``python -c "import torch"`` plus the user's own import time. The target: check costs at most
1.15 × (import torch) + (the user's import beyond torch). The user's import time is measured
as a bare ``python -c "import torch; import <their module>"`` run, so

    ratio = (check − user_extra) / import torch,  user_extra = (torch + module) − torch.

Every case runs REPEAT times, interleaved with the baselines, and medians are compared
(reusing run/medians from benchmarks/bench.py).

A second measure is the check's own work on slow user code: `check` on a naive NumPy conv pair
(examples/conv_naive_numpy.py, the CS231n notebook's shapes) against the classic two-sided
check (one backward, two forwards per input entry), in one process after the imports; the
target is ≤ 1.5 × the classic check's time.

Usage: python benchmarks/bench_check.py [--repeat N] [--conv-only]
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


# ---------------------------------------------------------------- the check's own work

CONV_TARGET = 1.5  # check's time ≤ 1.5 × a classic two-sided check's on the same naive pair
CONV_SHAPES = ((4, 3, 5, 5), (2, 3, 3, 3), (2,))  # the CS231n notebook's conv_forward_naive test
CLASSIC_STEP = 1e-5  # eval_numerical_gradient_array's h


def classic_check(forward, backward, inputs: list, seed: int = 0) -> float:
    """The CS231n notebook's check: one backward for a random dout, then two forwards per
    input entry (f(x + h), f(x − h)), and the worst relative error."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dout = rng.standard_normal(forward(*inputs).shape)
    analytic = backward(dout, *inputs)
    worst = 0.0
    for array, mine in zip(inputs, analytic, strict=True):
        numeric = np.zeros_like(array)
        for index in np.ndindex(*array.shape):
            old = array[index]
            array[index] = old + CLASSIC_STEP
            plus = forward(*inputs).copy()
            array[index] = old - CLASSIC_STEP
            minus = forward(*inputs).copy()
            array[index] = old
            numeric[index] = np.sum((plus - minus) * dout) / (2 * CLASSIC_STEP)
        error = np.abs(mine - numeric) / np.maximum(1e-8, np.abs(mine) + np.abs(numeric))
        worst = max(worst, float(error.max()))
    return worst


def measure_conv(repeat: int) -> tuple[str, str, bool]:
    """gradcli check's own time (imports done, file loaded) on examples/conv_naive_numpy.py
    against classic_check's on the same pair and inputs, interleaved, medians."""
    import statistics
    import time

    import numpy as np

    from gradcli.core.check import CheckRequest, check
    from gradcli.results.check import InputSpec
    from gradcli.settings import Settings
    from gradcli.usercode import parse_target

    path = EXAMPLES / "conv_naive_numpy.py"
    request = CheckRequest(
        target=parse_target(f"{path}:conv_forward_naive"),
        backward=parse_target(f"{path}:conv_backward_naive"),
        inputs=tuple(InputSpec("x".join(map(str, s)), "random", s) for s in CONV_SHAPES),
        numpy=True,
    )
    sys.path.insert(0, str(EXAMPLES))
    import conv_naive_numpy as conv

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape) for shape in CONV_SHAPES]
    ours, classic = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        result = check(request, Settings())
        ours.append(time.perf_counter() - start)
        if not result.agree:
            raise SystemExit("conv_naive_numpy.py: check says the correct pair is wrong")
        start = time.perf_counter()
        classic_check(conv.conv_forward_naive, conv.conv_backward_naive, arrays)
        classic.append(time.perf_counter() - start)
    mine, theirs = statistics.median(ours), statistics.median(classic)
    ratio = mine / theirs
    figure = f"{mine:.3f} s vs {theirs:.3f} s = {ratio:.2f}× (target ≤ {CONV_TARGET}×)"
    shapes = ", ".join("×".join(map(str, s)) for s in CONV_SHAPES)
    return (f"check conv naive NumPy ({shapes}) vs a classic check", figure, ratio <= CONV_TARGET)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--conv-only", action="store_true", help="only the naive conv case")
    args = parser.parse_args()
    if args.conv_only:
        rows = [measure_conv(args.repeat)]
        print(f"# {args.repeat} interleaved runs each; medians; {os.cpu_count()} CPUs")
        print(f"{'✓' if rows[0][2] else '✗'} {rows[0][0]}  {rows[0][1]}")
        return 0 if rows[0][2] else 1
    compile_gradcli()
    rows = measure(args.repeat)
    rows.append(measure_conv(args.repeat))
    print(f"# {args.repeat} interleaved runs each; medians; {os.cpu_count()} CPUs; target ≤ "
          f"{TARGET}× import torch + the user's import")  # fmt: skip
    width = max(len(row[0]) for row in rows)
    for what, figure, met in rows:
        print(f"{'✓' if met else '✗'} {what:<{width}}  {figure}")
    return 0 if all(met for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
