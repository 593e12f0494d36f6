"""Result of `gradcli activation`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import AnswerCheck, AnswerSet
from gradcli.marking import Marks
from gradcli.outcome import Outcome
from gradcli.results import (
    GradientCheck,
    answer_columns,
    answer_json,
    main_answer,
    solution_fields,
    solution_rows,
)
from gradcli.results.curve import Curve
from gradcli.solution import Solution


@dataclass(frozen=True)
class ActivationResult(Outcome):
    """f(x) and f'(x) three ways for each x."""

    name: str
    params: dict[str, float | str]
    formula: str
    derivative_formula: str
    x: list[float]
    value: list[float]
    check: GradientCheck
    dtype: str
    notes: list[str] = field(default_factory=list)
    answer: AnswerCheck | AnswerSet | None = None
    command: str = "activation"
    curve: Curve | None = None  # --plot: drawn above the table, never in --json or CSV
    solution: Solution | None = None  # the worked solution: f, grad
    marks: Marks | None = None  # the user's --expect answers, marked
    show_steps: bool = False  # --steps

    @property
    def agree(self) -> bool:
        return self.check.agree and (self.curve is None or self.curve.agree)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "name": self.name,
            "params": self.params,
            "x": self.x,
            "value": self.value,
            **self.check.json_fields(),
            "dtype": self.dtype,
            "formula": self.formula,
            "derivative_formula": self.derivative_formula,
            "notes": self.notes,
            **answer_json(self.answer),
            **solution_fields(self),
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        rows = solution_rows(self)
        if rows is not None:
            return rows
        header = ["x", "value", "analytic", "autograd", "numeric", "numeric_trusted"]
        header += ["abs_diff", "ok"]
        numeric = self.check.numeric or [None] * len(self.x)
        trusted = self.check.trusted or [None] * len(self.x)
        extra_header, extra = answer_columns(main_answer(self), len(self.x))
        rows = [
            [x, v, a, g, n, t, d, ok, *extra[i]]
            for i, (x, v, a, g, n, t, d, ok) in enumerate(
                zip(
                    self.x,
                    self.value,
                    self.check.analytic,
                    self.check.autograd,
                    numeric,
                    trusted,
                    self.check.abs_diff,
                    self.check.ok,
                    strict=True,
                )
            )
        ]
        return header + extra_header, rows
