"""`gradcli batch` against a hand-written torch loop that computes the same three columns.

Both read the same file of mixed lines (activation, softmax-jacobian, loss, a small
perceptron), 1,000 and 10,000 lines, and print one JSON object per line. The hand loop is what
a careful person would write in one process: parse the line, compute the closed form, one
``torch.autograd.grad`` and central differences, compare, ``json.dumps`` — no CLI, no checks.
Runs are interleaved and compared by medians; "per line" subtracts each program's own run on a
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

HAND_LOOP = r"""
import json, shlex, sys
import torch
torch.set_num_threads(1)
D = torch.float64

def numbers(text):
    return [float(v) for v in text.replace(";", ",").split(",")]

def central(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)

def activation(args):
    x = torch.tensor([float(v) for v in args[1:]], dtype=D)
    s = torch.sigmoid(x)
    analytic = s * (1 - s)
    leaf = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(torch.sigmoid(leaf).sum(), leaf)
    numeric = central(torch.sigmoid, x)
    return {"analytic": analytic.tolist(), "autograd": auto.tolist(), "numeric": numeric.tolist(),
            "agree": bool(torch.allclose(analytic, auto) and torch.allclose(analytic, numeric))}

def softmax(args):
    a = torch.tensor([float(v) for v in args], dtype=D)
    p = torch.softmax(a, -1)
    analytic = torch.diag(p) - torch.outer(p, p)
    leaf = a.clone().requires_grad_(True)
    out = torch.softmax(leaf, -1)
    auto = torch.stack([torch.autograd.grad(out[i], leaf, retain_graph=True)[0]
                        for i in range(len(a))])
    eye = torch.eye(len(a), dtype=D) * 1e-6
    numeric = ((torch.softmax(a + eye, -1) - torch.softmax(a - eye, -1)) / 2e-6).T
    return {"analytic": analytic.tolist(), "autograd": auto.tolist(), "numeric": numeric.tolist(),
            "agree": bool(torch.allclose(analytic, auto) and torch.allclose(analytic, numeric))}

def mse(args):
    opts = dict(zip(args[1::2], args[2::2]))
    y = torch.tensor(numbers(opts["--pred"]), dtype=D)
    t = torch.tensor(numbers(opts["--target"]), dtype=D)
    analytic = 2 * (y - t) / y.numel()
    leaf = y.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(torch.nn.functional.mse_loss(leaf, t), leaf)
    numeric = torch.stack([central(lambda v: torch.nn.functional.mse_loss(
        torch.cat([y[:k], v.reshape(1), y[k + 1:]]), t), y[k]) for k in range(y.numel())])
    return {"loss": float(torch.nn.functional.mse_loss(y, t)), "analytic": analytic.tolist(),
            "autograd": auto.tolist(), "numeric": numeric.tolist(),
            "agree": bool(torch.allclose(analytic, auto) and torch.allclose(analytic, numeric))}

def perceptron(args):
    opts = dict(zip(args[0::2], args[1::2]))
    W = torch.tensor(numbers(opts["--weights"]), dtype=D).reshape(2, 2)
    b = torch.tensor(numbers(opts["--bias"]), dtype=D)
    x = torch.tensor(numbers(opts["--x"]), dtype=D).reshape(1, 2)
    t = torch.tensor(numbers(opts["--target"]), dtype=D).reshape(1, 2)
    def loss(W_, b_):
        return torch.nn.functional.mse_loss(torch.sigmoid(x @ W_.T + b_), t)
    O = torch.sigmoid(x @ W.T + b)
    delta = 2 * (O - t) / O.numel() * O * (1 - O)
    analytic_w, analytic_b = delta.T @ x, delta.sum(0)
    w_leaf, b_leaf = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    auto_w, auto_b = torch.autograd.grad(loss(w_leaf, b_leaf), [w_leaf, b_leaf])
    numeric_w = torch.zeros_like(W)
    for k in range(4):
        step = torch.zeros(4, dtype=D)
        step[k] = 1e-6
        up, down = W + step.reshape(2, 2), W - step.reshape(2, 2)
        numeric_w.view(-1)[k] = (loss(up, b) - loss(down, b)) / 2e-6
    numeric_b = torch.stack([(loss(W, b + e * 1e-6) - loss(W, b - e * 1e-6)) / 2e-6
                             for e in torch.eye(2, dtype=D)])
    agree = all(torch.allclose(a, g) and torch.allclose(a, n) for a, g, n in
                [(analytic_w, auto_w, numeric_w), (analytic_b, auto_b, numeric_b)])
    return {"weight": [analytic_w.tolist(), auto_w.tolist(), numeric_w.tolist()],
            "bias": [analytic_b.tolist(), auto_b.tolist(), numeric_b.tolist()], "agree": agree}

KINDS = {"activation": activation, "softmax-jacobian": softmax, "loss": mse,
         "perceptron": perceptron}
for line in open(sys.argv[1], encoding="utf-8"):
    words = shlex.split(line)
    if words:
        print(json.dumps(KINDS[words[0]](words[1:])))
"""


BASELINE = 4  # lines in the start-up run: one of each kind


def lines(count: int) -> list[str]:
    kinds = [
        "activation sigmoid {v}",
        "softmax-jacobian 1 2 {v}",
        "loss mse --pred 1,{v} --target 0,1",
        "perceptron --weights '0.1,0.2;0.3,0.4' --bias 0.1,0.2 --x {v},1 --target 0,1",
    ]
    return [kinds[i % 4].format(v=(i // 4) / 100) for i in range(count)]


def measure(repeat: int, sizes: list[int]) -> list[tuple[str, str, str, bool]]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        hand = root / "hand.py"
        hand.write_text(HAND_LOOP, encoding="utf-8")
        files = {n: root / f"lines{n}.txt" for n in [BASELINE, *sizes]}
        for n, path in files.items():
            path.write_text("\n".join(lines(n)) + "\n", encoding="utf-8")
        samples: dict[tuple[str, int], list[float]] = {}
        for _ in range(repeat):
            for n, path in files.items():
                for who, argv in (
                    ("gradcli", [GRADCLI, "batch", str(path)]),
                    ("hand", [PYTHON, "-W", "ignore", str(hand), str(path)]),
                ):
                    sample = run(argv)
                    if sample.code not in (0, 1):
                        raise SystemExit(f"{who} on {n} lines exited {sample.code}")
                    samples.setdefault((who, n), []).append(sample.wall)
    median = {key: statistics.median(values) for key, values in samples.items()}
    rows = []
    per_line = {}
    for n in sizes:
        ours = (median[("gradcli", n)] - median[("gradcli", BASELINE)]) / (n - BASELINE) * 1000
        theirs = (median[("hand", n)] - median[("hand", BASELINE)]) / (n - BASELINE) * 1000
        per_line[n] = ours
        ratio = ours / theirs
        rows.append(
            (
                f"batch, {n:,} lines: per line",
                f"{ours:.2f} ms vs hand loop {theirs:.2f} ms = {ratio:.2f}×",
                "≤ 2×",
                ratio <= 2.0,
            )
        )
    if len(sizes) > 1:
        growth = per_line[sizes[-1]] / per_line[sizes[0]]
        rows.append(
            (
                f"per-line cost, {sizes[-1]:,} vs {sizes[0]:,} lines",
                f"{growth:.2f}×",
                "≤ 1.2× (linear)",
                growth <= 1.2,
            )
        )
    rows.append(
        (
            f"start-up ({BASELINE}-line file, one line of each kind)",
            f"gradcli {median[('gradcli', BASELINE)]:.2f} s, "
            f"hand loop {median[('hand', BASELINE)]:.2f} s",
            "report",
            True,
        )
    )
    return rows


def _hand_functions():
    """The hand loop's functions as a module (its loop over the file left out)."""
    import importlib.util

    folder = Path(tempfile.mkdtemp())
    path = folder / "hand_loop.py"
    path.write_text(HAND_LOOP.split("KINDS = ")[0], encoding="utf-8")
    spec = importlib.util.spec_from_file_location("hand_loop", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    hand = _hand_functions()
    functions = {"activation": "activation", "softmax-jacobian": "softmax", "loss": "mse",
                 "perceptron": "perceptron"}  # fmt: skip
    commands = typer.main.get_command(app).commands
    rows = []
    for kind, text in zip(functions, lines(4), strict=True):
        words = shlex.split(text)
        ours = lambda text=text: _run_line(commands, 1, text)  # noqa: E731
        theirs = lambda w=words: json.dumps(getattr(hand, functions[w[0]])(w[1:]))  # noqa: E731
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
