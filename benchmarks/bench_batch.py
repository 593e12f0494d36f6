"""`gradcli batch` against a hand-written torch loop that computes the same three columns.

Both read the same file of mixed lines (tanh at 3 points, the softmax Jacobian of 5 logits,
cross-entropy on 4 logits, a 2×2 sigmoid perceptron), 1,000 and 10,000 lines, and print one
JSON object per line. The hand loop (benchmarks/hand_batched.py) is what a careful person
would write in one process: split the line, compute the closed form, one
``torch.autograd.grad``, and the central differences of every entry in one batched
evaluation, compare, ``json.dumps`` — no CLI, no checks, no error estimates. Runs are
interleaved and compared by medians; "per line" subtracts each program's own run on a
four-line file, one line of each kind (start-up: Python, torch, the CLI, and the first use of
each command's code, which gradcli loads when a line first needs it), so the ratio is of the
per-line work alone. ``--kinds`` adds an in-process comparison per kind of line (no process
start-up or scheduling in the figures): where the per-line time goes.

Usage: python benchmarks/bench_batch.py [--repeat N] [--sizes 1000,10000] [--kinds] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import GRADCLI, PYTHON, compile_gradcli, report, run

HAND_LOOP = Path(__file__).resolve().parent / "hand_batched.py"


BASELINE = 4  # lines in the start-up run: one of each kind


def lines(count: int) -> list[str]:
    kinds = [
        "activation tanh {v} 0.2 -1",
        "softmax-jacobian 1 2 {v} 0.5 -1",
        "loss cross_entropy --pred 1,{v},0.5,-1 --target 2",
        "perceptron --weights '0.1,0.2;0.3,0.4' --bias 0.1,0.2 --x {v},1 --target 0,1",
    ]
    return [kinds[i % 4].format(v=(i // 4) / 100) for i in range(count)]


def measure(repeat: int, sizes: list[int]) -> list[tuple[str, str, str, bool]]:
    """Per-line wall time (as a user waits) and CPU time (user + system: what the machine's
    other work moves least, so the ratio the target is judged on), per size."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = {n: root / f"lines{n}.txt" for n in [BASELINE, *sizes]}
        for n, path in files.items():
            path.write_text("\n".join(lines(n)) + "\n", encoding="utf-8")
        samples: dict[tuple[str, str, int], list[float]] = {}
        for _ in range(repeat):
            for n, path in files.items():
                for who, argv in (
                    ("gradcli", [GRADCLI, "batch", str(path)]),
                    ("hand", [PYTHON, "-W", "ignore", str(HAND_LOOP), str(path)]),
                ):
                    sample = run(argv)
                    if sample.code not in (0, 1):
                        raise SystemExit(f"{who} on {n} lines exited {sample.code}")
                    samples.setdefault((who, "wall", n), []).append(sample.wall)
                    samples.setdefault((who, "cpu", n), []).append(sample.cpu)
    median = {key: statistics.median(values) for key, values in samples.items()}

    def per_line(who: str, clock: str, n: int) -> float:
        extra = median[(who, clock, n)] - median[(who, clock, BASELINE)]
        return extra / (n - BASELINE) * 1000

    rows = []
    for n in sizes:
        ours, theirs = per_line("gradcli", "cpu", n), per_line("hand", "cpu", n)
        wall_ours, wall_theirs = per_line("gradcli", "wall", n), per_line("hand", "wall", n)
        ratio = ours / theirs
        rows.append(
            (
                f"batch, {n:,} lines: per line (CPU time)",
                f"{ours:.2f} ms vs hand loop {theirs:.2f} ms = {ratio:.2f}×",
                "≤ 2×",
                ratio <= 2.0,
            )
        )
        rows.append(
            (
                f"batch, {n:,} lines: per line (wall time)",
                f"{wall_ours:.2f} ms vs hand loop {wall_theirs:.2f} ms = "
                f"{wall_ours / wall_theirs:.2f}×",
                "report",
                True,
            )
        )
    if len(sizes) > 1:
        growth = per_line("gradcli", "cpu", sizes[-1]) / per_line("gradcli", "cpu", sizes[0])
        rows.append(
            (
                f"per-line cost, {sizes[-1]:,} vs {sizes[0]:,} lines (CPU time)",
                f"{growth:.2f}×",
                "≤ 1.2× (linear)",
                growth <= 1.2,
            )
        )
    rows.append(
        (
            f"start-up ({BASELINE}-line file, one line of each kind)",
            f"gradcli {median[('gradcli', 'wall', BASELINE)]:.2f} s, "
            f"hand loop {median[('hand', 'wall', BASELINE)]:.2f} s",
            "report",
            True,
        )
    )
    return rows


def per_kind(repeat: int) -> list[tuple[str, str, str, bool]]:
    """In-process time per line of each kind: gradcli's batch line runner vs the hand loop's
    function (both warmed up; the best of ``repeat`` rounds of 200 lines)."""
    import json
    import shlex
    import time

    import torch
    import typer

    from gradcli.cli import app
    from gradcli.commands.batch import _run_line

    torch.set_num_threads(1)
    import hand_batched

    commands = typer.main.get_command(app).commands
    rows = []
    for text in lines(4):
        kind = text.split()[0]
        ours = lambda text=text: _run_line(commands, 1, text)  # noqa: E731
        theirs = lambda text=text: json.dumps(hand_batched.line(shlex.split(text)))  # noqa: E731
        best = {}
        for who, call in (("gradcli", ours), ("hand", theirs)):
            call()
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                for _ in range(200):
                    call()
                times.append((time.perf_counter() - start) / 200 * 1000)
            best[who] = min(times)
        ratio = best["gradcli"] / best["hand"]
        figure = f"{best['gradcli']:.2f} ms vs hand loop {best['hand']:.2f} ms = {ratio:.2f}×"
        rows.append((f"in process, {kind} line", figure, "report", True))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--kinds", action="store_true", help="add the in-process comparison")
    args = parser.parse_args()
    compile_gradcli()
    rows = measure(args.repeat, [int(n) for n in args.sizes.split(",")])
    if args.kinds:
        rows += per_kind(max(5, args.repeat))
    return report(rows, f"{args.repeat} interleaved runs each; medians", args.markdown)


if __name__ == "__main__":
    sys.exit(main())
