"""Result of `gradcli activation`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import AnswerCheck
from gradcli.outcome import Outcome
from gradcli.results import GradientCheck, answer_columns, answer_json
from gradcli.results.curve import Curve


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
    answer: AnswerCheck | None = None
    command: str = "activation"
    curve: Curve | None = None  # --plot: drawn above the table, never in --json or CSV

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
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["x", "value", "analytic", "autograd", "numeric", "abs_diff", "ok"]
        numeric = self.check.numeric or [None] * len(self.x)
        extra_header, extra = answer_columns(self.answer, len(self.x))
        rows = [
            [x, v, a, g, n, d, ok, *extra[i]]
            for i, (x, v, a, g, n, d, ok) in enumerate(
                zip(
                    self.x,
                    self.value,
                    self.check.analytic,
                    self.check.autograd,
                    numeric,
                    self.check.abs_diff,
                    self.check.ok,
                    strict=True,
                )
            )
        ]
        return header + extra_header, rows
