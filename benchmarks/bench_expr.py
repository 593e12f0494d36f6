"""Start-up of `gradcli expr`, measured side by side with its floor.

`expr` must import torch and SymPy, so its baseline is ``python -c "import torch, sympy"``
(target ≤ 1.15×); ``expr --help`` must import neither, so its baseline is Typer's own import
(target ≤ 1.30×, as for every help page). Every case runs REPEAT times, interleaved with the
baselines, and is compared by the median wall time (and median peak RSS).

gradcli imports torch and SymPy with the garbage collector paused (``gradcli._torch.load``);
the bare baseline does not, which is why a ratio below 1 is possible.

The precise column (mpmath at 50 digits: f and every derivative entry, each confirmed by a
high-precision difference quotient) is measured as the time one ``expr_derivatives`` call
takes with it minus the time without it, each call in a fresh process after the imports (as
a command runs: SymPy's caches cold), for the formulas of PRECISE_CASES; the target is at
most PRECISE_TARGET seconds for a 20-variable gradient.

Usage: python benchmarks/bench_expr.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import statistics
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


ROSENBROCK_20 = "+".join(f"100*(x{i + 1}-x{i}^2)^2+(1-x{i})^2" for i in range(1, 20))
PRECISE_CASES = {
    "x^2*sin(y) (2 variables)": ("x^2*sin(y)", {"x": 1.0, "y": 2.0}, 1),
    "Rosenbrock, 20 variables (gradient)": (
        ROSENBROCK_20, {f"x{i}": 0.5 + 0.01 * i for i in range(1, 21)}, 1),
    "sum of sin(x_i)*exp(-x_i^2), 20 variables (gradient)": (
        "+".join(f"sin(x{i})*exp(-x{i}^2)" for i in range(1, 21)),
        {f"x{i}": 0.1 * i for i in range(1, 21)}, 1),
    "y/(1 - e^y) at 1e-6 (cancellation)": ("y/(1 - e^y)", {"y": 1e-6}, 1),
    "log(exp(x) + 1) at 800 (overflow)": ("log(exp(x) + 1)", {"x": 800.0}, 1),
    "exp(-x^2-y^2) Hessian (2×2)": ("exp(-x^2-y^2)", {"x": 0.5, "y": -0.3}, 2),
}  # fmt: skip
PRECISE_TARGET = 0.3  # seconds for a 20-variable gradient


ONE_CALL = """
import json, sys, time
from gradcli.core.expr import ExprRequest, expr_derivatives
from gradcli.errors import InputError
from gradcli.expr.language import natural_key, parse
from gradcli.settings import Settings
text, at, order, precise = json.loads(sys.argv[1])
parsed = parse(text)
variables = tuple(sorted(parsed.variables, key=natural_key))
request = ExprRequest((parsed,), variables, at, {k: str(v) for k, v in at.items()}, order)
start = time.perf_counter()
try:
    expr_derivatives(request, Settings(), simplify_seconds=0, precise=precise)
except InputError:
    print("null")
else:
    print(time.perf_counter() - start)
"""


def _one_call(text: str, at: dict, order: int, precise: bool) -> float | None:
    """One expr_derivatives call in a fresh process (SymPy's caches cold, as for a command),
    timed after the imports."""
    import json
    import subprocess

    argv = [PYTHON, "-W", "ignore", "-c", ONE_CALL, json.dumps([text, at, order, precise])]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    return None if out == "null" else float(out)


def precise_cost(repeat: int) -> list[tuple[str, str, str, bool]]:
    """The precise column's share of ``expr_derivatives``: each call in a fresh process (as a
    command runs), with and without the column, interleaved; medians."""
    rows = []
    for name, (text, at, order) in PRECISE_CASES.items():
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(repeat):
            for precise in (False, True):
                elapsed = _one_call(text, at, order, precise)
                if elapsed is not None:  # without the column an overflow is bad input
                    timings[precise].append(elapsed)
        with_ = statistics.median(timings[True])
        twenty = "20 variables" in name
        target = f"≤ {PRECISE_TARGET} s" if twenty else ""
        if not timings[False]:
            rows.append((f"precise column: {name}", f"{with_:.3f} s in all (without it: exit 2)",
                         "", True))  # fmt: skip
            continue
        without = statistics.median(timings[False])
        cost = max(0.0, with_ - without)
        rows.append(
            (f"precise column: {name}", f"+{cost:.3f} s ({with_:.3f} s vs {without:.3f} s, "
             f"{cost / with_:.0%} of the total)", target, cost <= PRECISE_TARGET or not twenty)
        )  # fmt: skip
    return rows


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
    return rows + precise_cost(repeat)


def main() -> int:
    return simple_main(__doc__, measure, repeat=9)


if __name__ == "__main__":
    sys.exit(main())
