"""`gradcli optim NAME --expr F --at … --iterations K`: minimise a formula step by step.

Two runs from the same point with the same hyper-parameters: the registry's hand update,
and torch.optim in its usual loop (``zero_grad``, ``f.backward()``, ``step()``). Each takes
the gradient of the formula at its own point with autograd (the update is what is compared:
``gradcli expr`` checks the gradient itself three ways). The points of the two runs are
compared at every step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gradcli.core.contours import contour_segments, levels_for, linspace, plot_box, polylines
from gradcli.core.engine import TORCH_DTYPES, one_thread, torch
from gradcli.core.optim import torch_optimizer
from gradcli.errors import InputError, shown
from gradcli.expect import AnswerSet, Expected, check_answer
from gradcli.expr.language import Parsed
from gradcli.expr.torchfn import TorchFunction
from gradcli.ops.optimizers import Optimizer, Options, fresh_state
from gradcli.results.optim import Contours, OptimRunResult
from gradcli.settings import Settings

Tensor = torch.Tensor
GRID = (81, 41)  # points across x and y for the contour levels


@dataclass(frozen=True)
class RunRequest:
    optimizer: Optimizer
    options: Options
    convention: str
    parsed: Parsed
    variables: tuple[str, ...]
    start: dict[str, float]
    iterations: int
    plot: tuple[int | None, int | None] | None = None


def optim_minimise(
    request: RunRequest, settings: Settings, expected: Mapping[str, Expected] | None = None
) -> OptimRunResult:
    """Both runs, compared step by step; the answers checked against the hand run."""
    dtype = TORCH_DTYPES[settings.dtype]
    function = TorchFunction(request.parsed.tree, request.variables, {})
    start = torch.tensor([request.start[v] for v in request.variables], dtype=dtype)
    with one_thread():
        hand = _hand_run(request, function, start)
        theirs = _torch_run(request, function, start, len(hand.points) - 1)
    points = torch.stack(hand.points)
    reference = torch.stack(theirs)
    compared = points[: hand.finite_steps + 1], reference[: hand.finite_steps + 1]
    diffs = (points - reference).abs().amax(dim=1)
    tolerance = settings.tolerance
    bound = tolerance.atol + tolerance.rtol * compared[1].abs()
    ok = (compared[0] - compared[1]).abs() <= bound
    steps_ok = ok.all(dim=1) & torch.isfinite(compared[1]).all(dim=1)
    agree = bool(steps_ok.all())
    first = None if agree else int((~steps_ok).nonzero()[0])
    checked = diffs[: hand.finite_steps + 1]
    worst = int(torch.argmax(torch.nan_to_num(checked, nan=math.inf)))
    params = points.double().tolist()
    values = torch.stack(hand.values).double().tolist()
    state = {
        name: value if isinstance(value, int) or value is None else value.double().tolist()
        for name, value in hand.state.items()
    }
    answer = None
    if expected:
        answer = _answers(expected, params[-1], values[-1], state, settings)
    contours = None
    if request.plot is not None and len(request.variables) == 2:
        contours = _contours(function, points, dtype)
    return OptimRunResult(
        name=request.optimizer.name,
        torch_class=request.optimizer.torch_class,
        options=request.options,
        expression=request.parsed.text,
        variables=list(request.variables),
        iterations=request.iterations,
        params=params,
        f=values,
        grads=torch.stack(hand.grads).double().tolist(),
        diffs=diffs.double().tolist(),
        torch_final=reference[-1].double().tolist(),
        final_state=state,
        max_abs_diff=float(checked.max()),
        worst_step=worst,
        agree=agree,
        dtype=settings.dtype.value,
        atol=tolerance.atol,
        rtol=tolerance.rtol,
        notes=_notes(request, hand),
        answer=answer,
        stopped=hand.stopped,
        first_disagreement=first,
        plot=request.plot,
        contours=contours,
    )


@dataclass
class _Run:
    points: list[Tensor]
    values: list[Tensor]
    grads: list[Tensor]
    state: dict[str, Any]
    finite_steps: int
    stopped: str | None


def _value_and_gradient(function: TorchFunction, x: Tensor) -> tuple[Tensor, Tensor]:
    leaf = x.detach().requires_grad_(True)
    value = function(leaf)
    (gradient,) = torch.autograd.grad(value, leaf)
    return value.detach(), gradient


def _hand_run(request: RunRequest, function: TorchFunction, start: Tensor) -> _Run:
    """The registry's update, K times (or until a value leaves the dtype's range)."""
    optimizer, options = request.optimizer, request.options
    form = optimizer.form_for(request.convention)
    state = fresh_state(optimizer, start, options, request.convention)
    names = [entry.name for entry in optimizer.state_for(options, request.convention)]
    x = start.clone()
    run = _Run([], [], [], state, request.iterations, None)
    for k in range(request.iterations + 1):
        value, gradient = _value_and_gradient(function, x)
        run.points.append(x)
        run.values.append(value)
        run.grads.append(gradient)
        if not (bool(torch.isfinite(value)) and bool(torch.isfinite(gradient).all())) or not bool(
            torch.isfinite(x).all()
        ):
            if k == 0:
                raise InputError(
                    f"--expr {shown(request.parsed.text)} is not finite at the starting point "
                    f"(f = {float(value):g}) or its gradient is not: start elsewhere with --at"
                )
            run.finite_steps = k - 1
            run.stopped = (
                f"f or its gradient is not finite after {k:,} step{'s' if k != 1 else ''}: "
                "the iteration diverged or left the formula's domain (try a smaller --lr)"
            )
            break
        if k == request.iterations:
            break
        values = form.update(x, gradient, state, options, frozenset())
        for name in names:
            state[name] = values[name]
        x = values["new_param"]
    run.state = state
    return run


def _torch_run(
    request: RunRequest, function: TorchFunction, start: Tensor, steps: int
) -> list[Tensor]:
    """torch.optim's usual loop over the same formula, ``steps`` times."""
    p = start.clone().requires_grad_(True)
    reference = torch_optimizer(request.optimizer, [p], request.options)
    points = [p.detach().clone()]
    for _ in range(steps):
        reference.zero_grad()
        function(p).backward()
        reference.step()
        points.append(p.detach().clone())
    return points


def _answers(
    expected: Mapping[str, Expected],
    final: list[float],
    value: float,
    state: dict[str, Any],
    settings: Settings,
) -> AnswerSet:
    truths = {"final": final, "f": [value]}
    truths |= {name: [float(v)] if isinstance(v, int) else v for name, v in state.items()}
    return AnswerSet(
        {
            key: check_answer(
                answer, truths[key], f"--expect {key}", tolerance=settings.tolerance, noun=key
            )
            for key, answer in expected.items()
        }
    )


def _contours(function: TorchFunction, points: Tensor, dtype: Any) -> Contours:
    """The formula's level curves over a box around the path."""
    finite = points[torch.isfinite(points).all(dim=1)].double().tolist()
    (x0, x1), (y0, y1) = plot_box([p[0] for p in finite], [p[1] for p in finite])
    xs, ys = linspace(x0, x1, GRID[0]), linspace(y0, y1, GRID[1])
    mesh = torch.stack(
        torch.meshgrid(torch.tensor(ys, dtype=dtype), torch.tensor(xs, dtype=dtype), indexing="ij")[
            ::-1
        ],
        dim=-1,
    )
    with torch.no_grad():
        grid = function(mesh).double().tolist()
    levels = levels_for([v for row in grid for v in row])
    return Contours(
        levels=levels,
        curves=[c for level in levels for c in polylines(contour_segments(xs, ys, grid, level))],
        x_range=(x0, x1),
        y_range=(y0, y1),
    )


def _notes(request: RunRequest, hand: _Run) -> list[str]:
    notes = [
        "both runs take the gradient of the formula at their own point with autograd "
        "(gradcli expr checks it three ways); the update is what is compared"
    ]
    if hand.stopped:
        notes.append(hand.stopped)
    if request.plot is not None and len(request.variables) != 2:
        notes.append(
            f"the path over contour levels is drawn for two variables; this formula has "
            f"{len(request.variables)}"
        )
    return notes
