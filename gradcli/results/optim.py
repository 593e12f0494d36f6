"""Results of `gradcli optim`: one step (by hand vs torch.optim) and a minimisation run.

A step is an ordered list of named quantities — the gradient used, each new state entry, the
intermediates (m̂, v̂…), the new parameter — each with its formula, its value by hand and,
for the new parameter and the state, torch.optim's value and their comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import AnswerSet
from gradcli.outcome import Outcome
from gradcli.results import GradientCheck, flatten


def json_options(options: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters for JSON: a pair (betas) as a list."""
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in options.items()
    }


def _flat(value: Any) -> list:
    """A value as a flat list (a count or a scalar is one entry; None none)."""
    if value is None:
        return []
    if isinstance(value, (int, float)):
        return [value]
    return flatten(value)


@dataclass(frozen=True)
class QuantityRow:
    """One quantity of a step: its value before (state, parameter), by hand and (for the
    parameter and the state) by torch.optim, with their check; ``detail`` holds the numbers
    behind its formula (1 − β₁ᵗ = …)."""

    key: str
    symbol: str
    formula: str
    kind: str  # "param", "state" or "intermediate"
    before: Any
    by_hand: Any
    torch_optim: Any
    check: GradientCheck | None
    detail: str = ""

    @property
    def compared(self) -> bool:
        return self.check is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "symbol": self.symbol,
            "formula": self.formula,
            "kind": self.kind,
            "before": self.before,
            "value": self.by_hand,
            "torch_optim": self.torch_optim,
            "detail": self.detail or None,
        }


@dataclass(frozen=True)
class OptimStepResult(Outcome):
    """One optimizer step from a given state: by hand vs torch.optim, and the answers."""

    name: str
    torch_class: str
    options: dict[str, Any]
    convention: str
    param: list
    grad: list
    state: dict[str, Any]  # the state the step started from (None: absent)
    state_given: list[str]
    quantities: list[QuantityRow]
    max_abs_diff: float
    agree: bool
    dtype: str
    atol: float
    rtol: float
    notes: list[str] = field(default_factory=list)
    answer: AnswerSet | None = None
    show_steps: bool = False  # --steps: the table shows the intermediate quantities too
    command: str = "optim"

    def row(self, key: str) -> QuantityRow:
        return next(row for row in self.quantities if row.key == key)

    @property
    def new_state(self) -> dict[str, Any]:
        return {row.key: row.by_hand for row in self.quantities if row.kind == "state"}

    def to_json(self) -> dict[str, Any]:
        compared = [row for row in self.quantities if row.compared]
        return {
            "command": self.command,
            "name": self.name,
            "torch": f"torch.optim.{self.torch_class}",
            "convention": self.convention,
            "options": json_options(self.options),
            "param": self.param,
            "grad": self.grad,
            "state": self.state,
            "state_given": self.state_given,
            "new_param": self.row("new_param").by_hand,
            "new_state": self.new_state,
            "by_hand": {row.key: row.by_hand for row in self.quantities},
            "torch_optim": {row.key: row.torch_optim for row in compared},
            "quantities": [row.to_json() for row in self.quantities],
            "max_abs_diff": self.max_abs_diff,
            "agree": self.agree,
            "atol": self.atol,
            "rtol": self.rtol,
            "dtype": self.dtype,
            "notes": self.notes,
            "check": None if self.answer is None else self.answer.to_json(),
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["quantity", "index", "before", "by_hand", "torch_optim", "abs_diff", "ok"]
        rows: list[list[Any]] = []
        for row in self.quantities:
            hand, before, theirs = _flat(row.by_hand), _flat(row.before), _flat(row.torch_optim)
            diffs = [] if row.check is None else flatten(row.check.abs_diff)
            oks = [] if row.check is None else flatten(row.check.ok)
            for i, value in enumerate(hand):
                rows.append(
                    [
                        row.key,
                        i,
                        before[i] if i < len(before) else None,
                        value,
                        theirs[i] if i < len(theirs) else None,
                        diffs[i] if i < len(diffs) else None,
                        oks[i] if i < len(oks) else None,
                    ]
                )
        if self.answer is None:
            return header, rows
        return [*header, "expected", "expected_ok"], [row + self._expected(row) for row in rows]

    def _expected(self, row: list[Any]) -> list[Any]:
        part = self.answer.parts.get(row[0]) if self.answer else None
        if part is None:
            return [None, None]
        values, oks = flatten(part.expected), flatten(part.ok)
        index = row[1]
        if len(values) != len(_flat(self.row(row[0]).by_hand)):
            return [None, None]
        return [values[index], oks[index]]


@dataclass(frozen=True)
class Contours:
    """Level curves of f over a rectangle, as polylines, for the path plot."""

    levels: list[float]
    curves: list[list[tuple[float, float]]]  # every level's curves, each a list of points
    x_range: tuple[float, float]
    y_range: tuple[float, float]


@dataclass(frozen=True)
class OptimRunResult(Outcome):
    """``optim NAME --expr F --at … --iterations K``: the trajectory by hand, checked
    against torch.optim at every step. ``params[k]`` is the point after k steps (entry 0 the
    start); ``diffs[k]`` the largest |by hand − torch.optim| there."""

    name: str
    torch_class: str
    options: dict[str, Any]
    expression: str
    variables: list[str]
    iterations: int
    params: list[list[float]]
    f: list[float]
    grads: list[list[float]]
    diffs: list[float]
    torch_final: list[float]
    final_state: dict[str, Any]
    max_abs_diff: float
    worst_step: int
    agree: bool
    dtype: str
    atol: float
    rtol: float
    notes: list[str] = field(default_factory=list)
    answer: AnswerSet | None = None
    stopped: str | None = None  # why the run ended before K steps
    first_disagreement: int | None = None  # the first step where the two runs differ
    plot: tuple[int | None, int | None] | None = None  # --plot: (width, height), not JSON
    contours: Contours | None = None  # two variables with --plot
    command: str = "optim"

    @property
    def steps_taken(self) -> int:
        return len(self.params) - 1

    def grad_norm(self, k: int) -> float:
        return sum(v * v for v in self.grads[k]) ** 0.5

    def to_json(self) -> dict[str, Any]:
        history = [
            {"step": k, "param": p, "f": f, "grad": g}
            for k, (p, f, g) in enumerate(zip(self.params, self.f, self.grads, strict=True))
        ]
        last = self.steps_taken
        return {
            "command": self.command,
            "name": self.name,
            "torch": f"torch.optim.{self.torch_class}",
            "options": json_options(self.options),
            "expression": self.expression,
            "variables": self.variables,
            "iterations": self.iterations,
            "steps_taken": last,
            "stopped": self.stopped,
            "history": history,
            "final": {
                "step": last,
                "param": self.params[-1],
                "f": self.f[-1],
                "grad": self.grads[-1],
                "state": self.final_state,
            },
            "torch_optim": {
                "final_param": self.torch_final,
                "max_abs_diff": self.max_abs_diff,
                "worst_step": self.worst_step,
                "first_disagreement": self.first_disagreement,
            },
            "max_abs_diff": self.max_abs_diff,
            "agree": self.agree,
            "atol": self.atol,
            "rtol": self.rtol,
            "dtype": self.dtype,
            "notes": self.notes,
            "check": None if self.answer is None else self.answer.to_json(),
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["step", *self.variables, "f", *(f"grad_{v}" for v in self.variables)]
        header += ["grad_norm", "abs_diff"]
        rows = [
            [k, *p, f, *g, self.grad_norm(k), d]
            for k, (p, f, g, d) in enumerate(
                zip(self.params, self.f, self.grads, self.diffs, strict=True)
            )
        ]
        return header, rows
