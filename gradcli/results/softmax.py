"""Result of `gradcli softmax-jacobian`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import AnswerCheck
from gradcli.results import GradientCheck, answer_columns, answer_json


@dataclass(frozen=True)
class SoftmaxJacobianResult:
    """p = softmax(a/T) and its Jacobian ∂p_i/∂a_j three ways."""

    input: list[float]
    temperature: float
    probabilities: list[float]
    check: GradientCheck
    dtype: str
    formula: str
    notes: list[str] = field(default_factory=list)
    answer: AnswerCheck | None = None
    command: str = "softmax-jacobian"

    @property
    def agree(self) -> bool:
        return self.check.agree

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "input": self.input,
            "temperature": self.temperature,
            "probabilities": self.probabilities,
            **self.check.json_fields(),
            "dtype": self.dtype,
            "formula": self.formula,
            "notes": self.notes,
            **answer_json(self.answer),
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["i", "j", "a_j", "p_i", "analytic", "autograd", "numeric", "abs_diff", "ok"]
        check = self.check
        n = len(self.input)
        extra_header, extra = answer_columns(self.answer, n * n)
        rows = []
        for i, p_i in enumerate(self.probabilities):
            for j, a_j in enumerate(self.input):
                numeric = check.numeric[i][j] if check.numeric is not None else None
                rows.append(
                    [
                        i,
                        j,
                        a_j,
                        p_i,
                        check.analytic[i][j],
                        check.autograd[i][j],
                        numeric,
                        check.abs_diff[i][j],
                        check.ok[i][j],
                        *extra[i * n + j],
                    ]
                )
        return header + extra_header, rows
