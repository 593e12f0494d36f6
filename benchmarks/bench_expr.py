"""Start-up of `gradcli expr`, measured side by side with its floor.

`expr` must import torch and SymPy, so its baseline is ``python -c "import torch, sympy"``
(target ≤ 1.15×); ``expr --help`` must import neither, so its baseline is Typer's own import
(target ≤ 1.30×, as for every help page). Every case runs REPEAT times, interleaved with the
baselines, and is compared by the median wall time (and median peak RSS).

gradcli imports torch and SymPy with the garbage collector paused (``gradcli._torch.load``);
the bare baseline does not, which is why a ratio below 1 is possible.

Usage: python benchmarks/bench_expr.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import sys

from bench import PYTHON, TYPER, Sample, gradcli, medians, run, simple_main

TORCH_SYMPY = [PYTHON, "-W", "ignore", "-c", "import torch, sympy"]
# the same imports as gradcli makes them (collector paused): the floor without GC work
TORCH_SYMPY_NO_GC = [PYTHON, "-W", "ignore", "-c",
                     "import gc; gc.disable(); import torch, sympy; gc.freeze()"]  # fmt: skip
CASES = {
    "gradcli expr 'x^2*sin(y)' --at x=1,y=2": gradcli("expr", "x^2*sin(y)", "--at", "x=1,y=2"),
    "gradcli expr 'exp(-x^2-y^2)' … --order 2": gradcli(
        "expr", "exp(-x^2-y^2)", "--at", "x=0.5,y=-0.3", "--order", "2"
    ),
    "gradcli expr 'x*sigmoid(1.702*x)' … --json": gradcli(
        "expr", "x*sigmoid(1.702*x)", "--at", "x=0.5", "--json"
    ),
    "gradcli expr (Jacobian, 3 expressions)": gradcli(
        "expr", "x*y*z", "sin(x)*exp(y)", "atan(z/x)", "--at", "x=1,y=2,z=0.5"
    ),
}
HELP = {"gradcli expr --help": gradcli("expr", "--help")}
# peak RSS: typer, rich and gradcli itself (≈ 20 MiB) come on top of torch and SymPy
TARGET, HELP_TARGET, MEMORY_TARGET = 1.15, 1.30, 1.15


def measure(repeat: int) -> list[tuple[str, str, str, bool]]:
    """Rows of (what, figure, target, met)."""
    samples: dict[str, list[Sample]] = {}

    def add(key: str, argv: list[str]) -> None:
        sample = run(argv)
        if sample.code != 0:
            raise SystemExit(f"{key} exited {sample.code}")
        samples.setdefault(key, []).append(sample)

    for _ in range(repeat):  # interleaved, so load changes hit every case alike
        add("torch+sympy", TORCH_SYMPY)
        add("torch+sympy, gc paused", TORCH_SYMPY_NO_GC)
        add("typer", TYPER)
        for key, argv in {**CASES, **HELP}.items():
            add(key, argv)

    base_wall, base_rss = medians(samples["torch+sympy"])
    typer_wall, _ = medians(samples["typer"])
    paused_wall, _ = medians(samples["torch+sympy, gc paused"])
    rows = [
        ("baseline: python -c 'import torch, sympy'", f"{base_wall:.3f} s, {base_rss:.0f} MiB",
         "", True),
        ("baseline: the same, collector paused as gradcli does", f"{paused_wall:.3f} s", "",
         True),
        ("baseline: python -c 'import typer, typer.rich_utils'", f"{typer_wall:.3f} s", "", True),
    ]  # fmt: skip
    for key in CASES:
        wall, rss = medians(samples[key])
        ratio, memory = wall / base_wall, rss / base_rss
        rows.append(
            (key, f"{wall:.3f} s = {ratio:.2f}× torch+sympy", f"≤ {TARGET}×", ratio <= TARGET)
        )
        rows.append(("  vs the paused-collector import", f"{wall / paused_wall:.2f}×", "", True))
        rows.append(
            ("  peak RSS", f"{rss:.0f} MiB = {memory:.2f}×", f"≤ {MEMORY_TARGET}×",
             memory <= MEMORY_TARGET)
        )  # fmt: skip
    for key in HELP:
        wall, _ = medians(samples[key])
        ratio = wall / typer_wall
        rows.append((key, f"{wall:.3f} s = {ratio:.2f}× typer", f"≤ {HELP_TARGET}× typer",
                     ratio <= HELP_TARGET))  # fmt: skip
    return rows


def main() -> int:
    return simple_main(__doc__, measure, repeat=9)


if __name__ == "__main__":
    sys.exit(main())
