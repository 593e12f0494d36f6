"""Result of `gradcli loss`."""

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
    flatten,
    main_answer,
    solution_fields,
    solution_rows,
)
from gradcli.solution import Solution


def _is_matrix(values: list) -> bool:
    return bool(values) and isinstance(values[0], list)


@dataclass(frozen=True)
class LossResult(Outcome):
    """A loss value and ∂L/∂pred three ways, one entry per element of pred."""

    name: str
    reduction: str
    params: dict[str, float | str]
    formula: str  # per-element ℓ
    loss_formula: str  # L from ℓ under this reduction
    gradient_formula: str  # ∂L/∂y under this reduction (the analytic column)
    divisor: int  # what mean divided by (1 for sum / half-sum)
    divisor_symbol: str  # "n" (elements) or "N" (samples)
    pred: list  # vector or matrix
    target: list  # as given: values, probabilities or integer class indices
    target_kind: str  # "values", "probabilities", "log-probabilities" or "class indices"
    target_elements: list  # per element of pred: the target compared with (q for classes)
    loss: float
    check: GradientCheck
    dtype: str
    notes: list[str] = field(default_factory=list)
    answer: AnswerCheck | AnswerSet | None = None
    command: str = "loss"
    solution: Solution | None = None  # the worked solution: p, loss, grad
    marks: Marks | None = None  # the user's --expect answers, marked
    show_steps: bool = False  # --steps

    @property
    def agree(self) -> bool:
        return self.check.agree

    @property
    def is_matrix(self) -> bool:
        return _is_matrix(self.pred)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns); a vector is one row."""
        return (len(self.pred), len(self.pred[0])) if self.is_matrix else (1, len(self.pred))

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "name": self.name,
            "reduction": self.reduction,
            "params": self.params,
            "pred": self.pred,
            "target": self.target,
            "target_kind": self.target_kind,
            "loss": self.loss,
            **self.check.json_fields(),
            "dtype": self.dtype,
            "formula": self.formula,
            "loss_formula": self.loss_formula,
            "gradient_formula": self.gradient_formula,
            "divisor": self.divisor,
            "divisor_symbol": self.divisor_symbol,
            "notes": self.notes,
            **answer_json(self.answer),
            **solution_fields(self),
        }

    def csv_rows(self) -> tuple[list[str], Any]:
        """One row per element of pred (matrices row by row, with row/col indices); the worked
        solution's rows with --steps or an answer for another quantity."""
        rows = solution_rows(self)
        if rows is not None:
            return rows
        check = self.check
        columns = [
            flatten(self.pred),
            flatten(self.target_elements),
            flatten(check.analytic),
            flatten(check.autograd),
            flatten(check.numeric) if check.numeric is not None else None,
            flatten(check.trusted) if check.trusted is not None else None,
            flatten(check.abs_diff),
            flatten(check.ok),
        ]
        count = len(columns[0])
        columns = [[None] * count if column is None else column for column in columns]
        values = ["pred", "target", "analytic", "autograd", "numeric", "numeric_trusted"]
        values += ["abs_diff", "ok"]
        _, width = self.shape
        if self.is_matrix:
            header = ["row", "col", *values]
            index = [[k // width, k % width] for k in range(count)]
        else:
            header = ["i", *values]
            index = [[k] for k in range(count)]
        extra_header, extra = answer_columns(main_answer(self), count)
        rows = [index[k] + [column[k] for column in columns] + extra[k] for k in range(count)]
        return header + extra_header, rows
