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
against the same batch in-process, the per-line figure from two batch sizes). Whole
processes vary by more than the child costs on a busy machine, so the child is also timed
inside one process (``--child-only``): forked before torch is imported (one `check`) and
after (a `batch` line), against the same check run in that process.

Every case runs REPEAT times, interleaved with the baselines, and medians are compared
(reusing run/medians from benchmarks/bench.py).

A second measure is the check's own work on slow user code: `check` on a naive NumPy conv pair
(examples/conv_naive_numpy.py, the CS231n notebook's shapes) against the classic two-sided
check (one backward, two forwards per input entry), in one process after the imports; the
target is ≤ 1.5 × the classic check's time.

Usage: python benchmarks/bench_check.py [--repeat N] [--markdown] [--conv-only | --child-only]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import TORCH, Row, Sample, compile_gradcli, gradcli, medians, report, run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TARGET = 1.15
IN_PROCESS = {"GRADCLI_NO_SANDBOX": "1"}
BATCH_SIZES = (5, 105)  # check lines per batch: the per-line cost is the slope between them

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


# ---------------------------------------------------------------- the child, in one process

CHILD_ROUNDS = 8  # × --repeat calls of each, interleaved


def measure_child(repeat: int) -> list[Row]:
    """What the child process adds to one check, timed inside one process: an empty child
    forked without torch (one `check`) and with it; sandbox.contain(check) against check with
    torch loaded, as a `batch` line runs, interleaved, medians — free of the ±20 % noise of
    whole-process start-ups, which is larger than the child."""
    import statistics
    import time

    from gradcli import sandbox
    from gradcli.core.check import CheckRequest, check
    from gradcli.results.check import InputSpec
    from gradcli.settings import Settings
    from gradcli.usercode import parse_target

    def spec(shape: tuple[int, ...]) -> InputSpec:
        return InputSpec("x".join(map(str, shape)), "random", shape)

    requests = {
        "sigmoid (autograd.Function, 5 inputs)": CheckRequest(
            parse_target(f"{EXAMPLES}/sigmoid.py:Sigmoid"), inputs=(spec((5,)),)
        ),
        "linear (NumPy pair, 3 inputs)": CheckRequest(
            parse_target(f"{EXAMPLES}/linear_numpy.py:forward"),
            parse_target(f"{EXAMPLES}/linear_numpy.py:backward"),
            (spec((4, 3)), spec((2, 3)), spec((2,))),
            numpy=True,
        ),
    }
    settings = Settings()
    times: dict[str, list[float]] = {}

    def timed(key: str, work) -> None:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        work()
        times.setdefault(key, []).append(time.perf_counter() - start)

    for request in requests.values():  # warm: first calls load modules
        check(request, settings)
        sandbox.contain(lambda request=request: check(request, settings))
    for _ in range(CHILD_ROUNDS * repeat):
        timed("empty", lambda: sandbox.contain(lambda: None))
        for name, request in requests.items():
            timed(f"direct:{name}", lambda request=request: check(request, settings))
            timed(f"child:{name}", lambda request=request: sandbox.contain(
                lambda: check(request, settings)))  # fmt: skip
    median = {key: 1000 * statistics.median(values) for key, values in times.items()}
    rows: list[Row] = [
        ("one `check`: a child forked before torch is imported (does nothing)",
         f"{_empty_child_without_torch(CHILD_ROUNDS * repeat):.1f} ms", "report", True),
        ("batch: a child forked with torch loaded (does nothing)", f"{median['empty']:.1f} ms",
         "report", True),
    ]  # fmt: skip
    for name in requests:
        direct, child = median[f"direct:{name}"], median[f"child:{name}"]
        rows.append((f"batch: check {name}, in-process → in a child",
                     f"{direct:.1f} ms → {child:.1f} ms (+{child - direct:.1f} ms)", "report",
                     True))  # fmt: skip
    return rows


EMPTY_CHILD = """
import statistics, sys, time
import gradcli.cli  # what a `check` process holds when it forks: Typer, Rich, gradcli
from gradcli import sandbox
assert "torch" not in sys.modules
times = []
for _ in range({count}):
    start = time.perf_counter()
    sandbox.contain(lambda: None)
    times.append(time.perf_counter() - start)
print(1000 * statistics.median(times))
"""


def _empty_child_without_torch(count: int) -> float:
    """Milliseconds for a child that does nothing, forked by a process without torch."""
    import subprocess

    code = EMPTY_CHILD.format(count=count)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


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
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--conv-only", action="store_true", help="only the naive conv case")
    parser.add_argument("--child-only", action="store_true", help="only the in-process timings")
    args = parser.parse_args()
    if args.child_only:
        return report(measure_child(args.repeat), f"{args.repeat} × {CHILD_ROUNDS} calls each; "
                      "medians", args.markdown)  # fmt: skip
    what, figure, met = measure_conv(args.repeat)
    conv: Row = (what, figure, f"≤ {CONV_TARGET}× classic", met)
    if args.conv_only:
        return report([conv], f"{args.repeat} runs each; medians", args.markdown)
    compile_gradcli()
    rows = [*measure(args.repeat), *measure_child(args.repeat), conv]
    return report(rows, f"{args.repeat} interleaved runs each; medians", args.markdown)


if __name__ == "__main__":
    sys.exit(main())
