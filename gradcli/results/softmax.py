"""Result of `gradcli softmax-jacobian`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import AnswerCheck, AnswerSet
from gradcli.marking import Marks
from gradcli.outcome import Outcome
from gradcli.results import (
    ColumnBlocks,
    GradientCheck,
    answer_columns,
    answer_json,
    main_answer,
    solution_fields,
    solution_rows,
)
from gradcli.solution import Solution


@dataclass(frozen=True)
class SoftmaxJacobianResult(Outcome):
    """p = softmax(a/T) and its Jacobian ∂p_i/∂a_j three ways."""

    input: list[float]
    temperature: float
    probabilities: list[float]
    check: GradientCheck
    dtype: str
    formula: str
    notes: list[str] = field(default_factory=list)
    answer: AnswerCheck | AnswerSet | None = None
    command: str = "softmax-jacobian"
    heatmap: bool = False  # --heatmap: the table shows the Jacobian as blocks (not in --json)
    solution: Solution | None = None  # the worked solution: p, jacobian
    marks: Marks | None = None  # the user's --expect answers, marked
    show_steps: bool = False  # --steps

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
            **solution_fields(self),
        }

    def csv_rows(self) -> tuple[list[str], Any]:
        """One row per Jacobian entry (i, j), given a row of the matrix at a time as columns;
        the worked solution's rows with --steps or an answer for p."""
        rows = solution_rows(self)
        if rows is not None:
            return rows
        header = ["i", "j", "a_j", "p_i", "analytic", "autograd", "numeric", "numeric_trusted"]
        header += ["abs_diff", "ok"]
        extra_header, extra = answer_columns(main_answer(self), len(self.input) ** 2)
        return header + extra_header, ColumnBlocks(self._blocks(extra))

    def _blocks(self, extra: Any) -> Iterator[list[list[Any]]]:
        check, n = self.check, len(self.input)
        js, inputs, blank = list(range(n)), list(self.input), [None] * n
        for i, p_i in enumerate(self.probabilities):
            numeric = check.numeric[i] if check.numeric is not None else blank
            trusted = check.trusted[i] if check.trusted is not None else blank
            columns = [
                [i] * n, js, inputs, [p_i] * n, check.analytic[i], check.autograd[i], numeric,
                trusted, check.abs_diff[i], check.ok[i],
            ]  # fmt: skip
            if isinstance(extra, list):  # the answer's columns, expected and expected_ok
                columns += [list(c) for c in zip(*extra[i * n : (i + 1) * n], strict=True)]
            yield columns
