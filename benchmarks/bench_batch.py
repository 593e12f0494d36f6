"""`gradcli batch` against a hand-written torch loop that computes the same three columns.

Both read the same file of mixed lines (activation, softmax-jacobian, loss, a small
perceptron), 1,000 and 10,000 lines, and print one JSON object per line. The hand loop is what
a careful person would write in one process: parse the line, compute the closed form, one
``torch.autograd.grad`` and central differences, compare, ``json.dumps`` — no CLI, no checks.
Runs are interleaved and compared by medians; "per line" subtracts each program's own run on a
one-line file (start-up: Python, torch, the CLI), so the ratio is of the per-line work alone.

Usage: python benchmarks/bench_batch.py [--repeat N] [--sizes 1000,10000] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import GRADCLI, PYTHON, run

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
        files = {n: root / f"lines{n}.txt" for n in [1, *sizes]}
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
        ours = (median[("gradcli", n)] - median[("gradcli", 1)]) / (n - 1) * 1000
        theirs = (median[("hand", n)] - median[("hand", 1)]) / (n - 1) * 1000
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
            "start-up (one-line file)",
            f"gradcli {median[('gradcli', 1)]:.2f} s, hand loop {median[('hand', 1)]:.2f} s",
            "report",
            True,
        )
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    rows = measure(args.repeat, [int(n) for n in args.sizes.split(",")])
    print(f"# {args.repeat} interleaved runs each; medians")
    for what, figure, target, met in rows:
        mark = "✓" if met else "✗"
        if args.markdown:
            print(f"| {what} | {figure} | {target} | {mark} |")
        else:
            print(f"{mark} {what:<40} {figure:<45} {target}")
    return 0 if all(met for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
