"""Start-up of ``gradcli activation sigmoid --plot``, side by side with its floor.

The floor is ``python -c "import torch"`` plus the plotting library's own import, measured
as ``python -c "import torch, plotille"`` — the target is within 1.15× of it. Commands without
``--plot`` must not import the library at all (tests/test_plot.py checks that), so their
targets are the ones of benchmarks/bench.py. Also the compute time of 10,000 epochs of the
classic 2-2-2 network (in-process, after warm-up).

Every case is run REPEAT times, interleaved, and compared by the median wall time.

Usage: python benchmarks/bench_plot.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import PYTHON, compile_gradcli, gradcli, medians, run

TORCH = [PYTHON, "-W", "ignore", "-c", "import torch"]
TORCH_PLOT = [PYTHON, "-W", "ignore", "-c", "import torch, plotille"]
PLOT = gradcli("activation", "sigmoid", "--plot")
PLOT_X = gradcli("activation", "sigmoid", "0.5", "--plot")
NO_PLOT = gradcli("activation", "sigmoid", "0.5")
HEATMAP = gradcli("softmax-jacobian", *[str(i) for i in range(40)], "--heatmap")
CASES = {
    "python -c 'import torch'": TORCH,
    "python -c 'import torch, plotille'": TORCH_PLOT,
    "gradcli activation sigmoid --plot": PLOT,
    "gradcli activation sigmoid 0.5 --plot": PLOT_X,
    "gradcli activation sigmoid 0.5": NO_PLOT,
    "gradcli softmax-jacobian (40 logits) --heatmap": HEATMAP,
}


def epochs_seconds(repeat: int) -> list[float]:
    """Compute time of 10,000 epochs of the 2-2-2 network (biases fixed), in-process."""
    from gradcli.core.descent import descend
    from gradcli.core.perceptron import build_network
    from gradcli.ops.losses import Reduction
    from gradcli.ops.network import NetworkSpec
    from gradcli.settings import Dtype, Settings, tolerance_for

    spec = NetworkSpec(
        weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
        biases=[[0.35, 0.35], [0.60, 0.60]],
        x=[[0.05, 0.10]],
        target=[0.01, 0.99],
        reduction=Reduction.half_sum,
    )
    settings = Settings(Dtype.float64, tolerance_for(Dtype.float64, None, None), numeric=False)
    net = build_network(spec, settings)
    descend(net, 100, 0.5, False, settings)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        descend(net, 10_000, 0.5, False, settings)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    compile_gradcli()
    samples: dict[str, list] = {key: [] for key in CASES}
    for _ in range(args.repeat):  # interleaved, so load changes hit every case alike
        for key, argv in CASES.items():
            sample = run(argv)
            if sample.code != 0:
                raise SystemExit(f"{key} exited {sample.code}")
            samples[key].append(sample)
    wall = {key: medians(values)[0] for key, values in samples.items()}
    spread = {
        key: (min(s.wall for s in values), max(s.wall for s in values))
        for key, values in samples.items()
    }
    floor = wall["python -c 'import torch, plotille'"]
    print(f"# {args.repeat} interleaved runs each; medians (min … max); {os.cpu_count()} CPUs")
    met = True
    for key in CASES:
        low, high = spread[key]
        line = f"{key:<48} {wall[key]:.3f} s ({low:.3f} … {high:.3f})"
        if key.startswith("gradcli activation sigmoid") and "--plot" in key:
            ratio = wall[key] / floor
            ok = ratio <= 1.15
            met &= ok
            line += f" = {ratio:.2f}× torch+plotille {'✓' if ok else '✗'} (≤ 1.15×)"
        print(line)
    library = wall["python -c 'import torch, plotille'"] - wall["python -c 'import torch'"]
    print(f"plotille's own import after torch: {library * 1000:+.0f} ms (difference of medians)")
    times = epochs_seconds(max(3, args.repeat // 2))
    print(
        f"10,000 epochs of the 2-2-2 network: {statistics.median(times):.3f} s compute "
        f"(min {min(times):.3f}, max {max(times):.3f})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
