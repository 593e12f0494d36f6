"""``import gradcli``: its import time, and the cost of one call against hand-written torch.

* Import: ``python -c "import gradcli"`` against ``python -c "import typer"``, interleaved
  runs, medians (target ≤ 1.2×: the API must not make ``import gradcli`` heavy; torch is
  imported by the first computation).
* Per call, in one process after warm-up (best of the rounds): ``gradcli.activation``,
  ``gradcli.softmax_jacobian``, ``gradcli.loss`` and ``gradcli.perceptron`` on the four kinds
  of benchmarks/bench_batch.py, against the hand-written torch of benchmarks/hand_batched.py
  computing the same three columns (closed form, autograd, every finite difference in one
  batched evaluation; no checks, no error estimates) — target ≤ 1.5×. Beside it, the same
  check through the command's own function with the values already parsed (what the CLI
  calls after parsing its strings): the API's own share of the call.

Usage: python benchmarks/bench_api.py [--repeat N] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import PYTHON, compile_gradcli, report, run

IMPORT_GRADCLI = [PYTHON, "-c", "import gradcli"]
IMPORT_TYPER = [PYTHON, "-c", "import typer"]
CALLS = 300  # calls per round


def import_rows(repeat: int) -> list[tuple[str, str, str, bool]]:
    samples: dict[str, list[float]] = {"gradcli": [], "typer": []}
    for _ in range(repeat):
        samples["gradcli"].append(run(IMPORT_GRADCLI).wall)
        samples["typer"].append(run(IMPORT_TYPER).wall)
    ours, theirs = (statistics.median(samples[k]) for k in ("gradcli", "typer"))
    ratio = ours / theirs
    return [
        ("baseline: `python -c 'import typer'`", f"{theirs:.3f} s", "", True),
        ("`python -c 'import gradcli'`", f"{ours:.3f} s = {ratio:.2f}× typer", "≤ 1.2× typer",
         ratio <= 1.2),
    ]  # fmt: skip


def best(call: Callable[[], object], rounds: int) -> float:
    """Milliseconds per call, the best of ``rounds`` rounds of CALLS calls."""
    call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(CALLS):
            call()
        times.append((time.perf_counter() - start) / CALLS * 1000)
    return min(times)


def cases() -> dict[str, tuple[Callable[[], object], Callable[[], object], Callable[[], object]]]:
    """Per kind: the API call, the command's own function on parsed values, the hand torch."""
    import hand_batched as hand

    import gradcli
    from gradcli.commands.activation import activation_result
    from gradcli.commands.loss import loss_result
    from gradcli.commands.perceptron import perceptron_result
    from gradcli.commands.softmax import softmax_result
    from gradcli.parsing import TensorData
    from gradcli.settings import Settings

    plain = Settings()
    w, b = [[0.1, 0.2], [0.3, 0.4]], [0.1, 0.2]
    perceptron_options = dict(
        layers=None, seed=0, no_bias=False, x_shape=None, activation="sigmoid", loss="mse",
        reduction="mean", engine="grad", steps=False, graph=False, lr=None, epochs=None,
        no_bias_update=False, optimizer=None, param_option=[], weight_decay=None, expect=[],
        min_digits=None, settings=plain,
    )  # fmt: skip
    return {
        "activation (tanh, 3 points)": (
            lambda: gradcli.activation("tanh", [0.1, 0.2, -1]),
            lambda: activation_result("tanh", [0.1, 0.2, -1.0], [], None, None, plain),
            lambda: hand.tanh([0.1, 0.2, -1]),
        ),
        "softmax_jacobian (5 logits)": (
            lambda: gradcli.softmax_jacobian([1, 2, 0.3, 0.5, -1]),
            lambda: softmax_result([1.0, 2.0, 0.3, 0.5, -1.0], 1.0, None, None, plain),
            lambda: hand.softmax_jacobian([1, 2, 0.3, 0.5, -1]),
        ),
        "loss (cross_entropy, 4 logits)": (
            lambda: gradcli.loss("cross_entropy", [[1, 0.3, 0.5, -1]], [2]),
            lambda: loss_result(
                "cross_entropy",
                TensorData([1, 0.3, 0.5, -1], (1, 4)),
                TensorData([2.0], (1,)),
                "mean",
                [],
                None,
                None,
                plain,
            ),
            lambda: hand.cross_entropy([1, 0.3, 0.5, -1], 2),
        ),
        "perceptron (2×2, sigmoid, mse)": (
            lambda: gradcli.perceptron(weights=w, biases=b, x=[0.3, 1], target=[0, 1]),
            lambda: perceptron_result(
                weights=[TensorData([0.1, 0.2, 0.3, 0.4], (2, 2))],
                bias=[TensorData([0.1, 0.2], (2,))],
                x=TensorData([0.3, 1.0], (2,)),
                target=TensorData([0.0, 1.0], (2,)),
                **perceptron_options,
            ),
            lambda: hand.perceptron(w, b, [0.3, 1], [0, 1]),
        ),
    }


def call_rows(repeat: int) -> list[tuple[str, str, str, bool]]:
    import torch

    torch.set_num_threads(1)
    rows = []
    for name, (api, own, hand) in cases().items():
        timed = {"api": [], "own": [], "hand": []}
        for _ in range(repeat):  # interleaved: a busy moment hits all three alike
            for key, call in (("api", api), ("own", own), ("hand", hand)):
                timed[key].append(best(call, 1))
        t_api, t_own, t_hand = (min(timed[key]) for key in ("api", "own", "hand"))
        ratio = t_api / t_hand
        figure = (
            f"{t_api:.3f} ms vs hand {t_hand:.3f} ms = {ratio:.2f}× (the command's own "
            f"function: {t_own:.3f} ms; the API's share {t_api / t_own:.2f}×)"
        )
        rows.append((f"per call: {name}", figure, "≤ 1.5×", ratio <= 1.5))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    compile_gradcli()
    rows = import_rows(args.repeat) + call_rows(args.repeat)
    return report(rows, f"{args.repeat} interleaved runs; medians (import), best (calls)",
                  args.markdown)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
