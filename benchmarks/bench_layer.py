"""`gradcli layer` against the same forward + backward written directly in torch.

Each case runs ``gradcli layer …`` (table output, finite differences on — sampled by the
engine's work budget) and a ``python -c`` script that imports torch, draws the same inputs
from the same seed in float64, runs the layer's forward and ``backward()`` — so torch's
import is in both. REPEAT runs each, interleaved, compared by the median wall time
(target: within 1.5×), with peak RSS; the ``--no-numeric`` run is shown beside it.

Usage: python benchmarks/bench_layer.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import PYTHON, Sample, gradcli, medians, run, simple_main

TARGET = 1.5

CONV_SCRIPT = """
import torch, torch.nn.functional as F
g = torch.Generator().manual_seed(0)
x = torch.randn(8, 16, 32, 32, generator=g).double().requires_grad_()
w = torch.randn(32, 16, 3, 3, generator=g).double().requires_grad_()
b = torch.randn(32, generator=g).double().requires_grad_()
y = F.conv2d(x, w, b)
G = torch.randn(*y.shape, generator=g).double()
(G * y).sum().backward()
print(float(x.grad.abs().max()), float(w.grad.abs().max()), float(b.grad.abs().max()))
"""
ATTENTION_SCRIPT = """
import torch, torch.nn.functional as F
g = torch.Generator().manual_seed(0)
q = torch.randn(128, 64, generator=g).double().requires_grad_()
k = torch.randn(128, 64, generator=g).double().requires_grad_()
v = torch.randn(128, 64, generator=g).double().requires_grad_()
y = F.scaled_dot_product_attention(q, k, v)
G = torch.randn(*y.shape, generator=g).double()
(G * y).sum().backward()
print(float(q.grad.abs().max()), float(k.grad.abs().max()), float(v.grad.abs().max()))
"""
CASES = {
    "layer conv2d --x-shape 8x16x32x32 --weight-shape 32x16x3x3": (
        ["layer", "conv2d", "--x-shape", "8x16x32x32", "--weight-shape", "32x16x3x3"],
        CONV_SCRIPT,
    ),
    "layer attention --q-shape 128x64 (L = S = 128, d = 64)": (
        ["layer", "attention", "--q-shape", "128x64"],
        ATTENTION_SCRIPT,
    ),
}


def measure(repeat: int) -> list[tuple[str, str, str, bool]]:
    """Rows of (what, figure, target, met)."""
    samples: dict[str, list[Sample]] = {}

    def add(key: str, argv: list[str]) -> None:
        sample = run(argv)
        if sample.code != 0:
            raise SystemExit(f"{key} exited {sample.code}")
        samples.setdefault(key, []).append(sample)

    for _ in range(repeat):  # interleaved, so load changes hit every case alike
        for key, (args, script) in CASES.items():
            add(f"torch {key}", [PYTHON, "-W", "ignore", "-c", script])
            add(key, gradcli(*args))
            add(f"no-numeric {key}", gradcli(*args, "--no-numeric"))
    rows = []
    for key in CASES:
        base, base_rss = medians(samples[f"torch {key}"])
        wall, rss = medians(samples[key])
        bare, _ = medians(samples[f"no-numeric {key}"])
        ratio = wall / base
        rows.append((f"torch script (import + forward + backward) for {key}",
                     f"{base:.3f} s, {base_rss:.0f} MiB", "", True))  # fmt: skip
        rows.append((f"gradcli {key}", f"{wall:.3f} s = {ratio:.2f}× torch, {rss:.0f} MiB",
                     f"≤ {TARGET:g}× torch", ratio <= TARGET))  # fmt: skip
        rows.append((f"gradcli {key} --no-numeric", f"{bare:.3f} s = {bare / base:.2f}× torch",
                     "report", True))  # fmt: skip
    return rows


def main() -> int:
    return simple_main(__doc__, measure, repeat=7)


if __name__ == "__main__":
    sys.exit(main())
