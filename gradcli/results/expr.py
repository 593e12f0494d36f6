"""Result of `gradcli expr`: a formula's gradient, Jacobian or Hessian, three ways."""

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
from gradcli.results.curve import Curve
from gradcli.results.graph import Graph
from gradcli.results.steps import StepsReport
from gradcli.solution import Solution


@dataclass(frozen=True)
class Formula:
    """One formula (a function or one derivative entry) in every form a renderer may want.

    ``unicode`` and ``ascii`` are the whole equation ``label = formula`` pretty-printed
    (several lines for fractions and powers); ``text`` is the one-line form.
    """

    label: str  # ∂f/∂x
    label_ascii: str  # df/dx
    label_latex: str  # \frac{\partial f}{\partial x}
    text: str  # 2*x*sin(y)
    unicode: str
    ascii: str
    latex: str  # the formula alone


@dataclass(frozen=True)
class PreciseColumn:
    """f and each derivative entry evaluated with mpmath at ``digits`` significant digits.

    Entry fields are shaped like the check's columns (a list for a gradient, rows × columns
    otherwise); None where there is no precise value (the derivative does not exist, or
    mpmath could not). ``off``: a float column (symbolic or autograd, or a trusted numeric
    one) differs from the precise value by more than the tolerance; ``shown``: the table
    shows the column (some float value is off).
    """

    digits: int
    value: list[float | None]  # f, one per expression (as float: may be 0.0 or ±inf)
    value_text: list[str | None]  # f as decimal text (outside float64's range too)
    derivative: list
    derivative_text: list
    digits_lost: list  # int per entry: the worst float column's lost digits
    value_digits_lost: list[int | None]
    confirmed: list  # bool per entry: an independent high-precision check agrees (None: none)
    off: list
    value_off: list[bool]
    shown: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "digits": self.digits,
            "value": self.value,
            "derivative": self.derivative,
            "value_text": self.value_text,
            "derivative_text": self.derivative_text,
            "confirmed": self.confirmed,
            "off": self.off,
            "value_digits_lost": self.value_digits_lost,
        }


@dataclass(frozen=True)
class ExprResult(Outcome):
    """f at the point and its derivative entries: symbolic, autograd and numeric.

    ``kind`` is ``gradient`` (entries: a list of n), ``jacobian`` (m × n: rows are the
    expressions, columns the variables) or ``hessian`` (n × n). Where a derivative does not
    exist, ``defined`` is False and the analytic value, its difference and its verdict are None.
    """

    expressions: list[str]
    variables: list[str]
    at: dict[str, float]
    at_written: dict[str, str]
    order: int
    kind: str
    value: list[float]
    functions: list[Formula]
    derivatives: list  # Formula entries, shaped like check.analytic
    check: GradientCheck
    defined: list  # bools, shaped like check.analytic
    dtype: str
    notes: list[str] = field(default_factory=list)
    notes_ascii: list[str] = field(default_factory=list)  # the same, with ASCII entry labels
    answer: AnswerCheck | AnswerSet | None = None
    curve: Curve | None = None  # --plot: drawn above the table, never in machine output
    precise: PreciseColumn | None = None
    autograd_available: list[bool] = field(default_factory=list)  # per expression (torch form)
    readings: list[str] = field(default_factory=list)  # how textbook notation was read
    flagged: list = field(default_factory=list)  # settled by the precise value, a float off
    precise_seconds: float = 0.0  # what the precise column cost (for the benchmark)
    steps: StepsReport | None = None  # --steps
    graph: Graph | None = None  # --graph
    command: str = "expr"
    solution: Solution | None = None  # the worked solution: f, the derivative
    marks: Marks | None = None  # the user's --expect answers, marked
    show_steps: bool = False  # the worked solution's list is shown

    @property
    def agree(self) -> bool:
        return self.check.agree and (self.graph is None or self.graph.agree)

    @property
    def is_matrix(self) -> bool:
        return self.kind != "gradient"

    def entries(self) -> list[tuple[int, int]]:
        """(row, column) of every entry in row-major order (row 0 for a gradient)."""
        if not self.is_matrix:
            return [(0, j) for j in range(len(self.variables))]
        return [(i, j) for i, row in enumerate(self.defined) for j in range(len(row))]

    def to_json(self) -> dict[str, Any]:
        shape = _shape(self.derivatives)
        return {
            "command": self.command,
            "expressions": self.expressions,
            "variables": self.variables,
            "at": self.at,
            "order": self.order,
            "kind": self.kind,
            "value": self.value,
            "derivative": shape(lambda f: f.text),
            "defined": self.defined,
            **self.check.json_fields(),
            "dtype": self.dtype,
            "latex": {
                "expressions": [f.latex for f in self.functions],
                "derivative": shape(lambda f: f.latex),
            },
            "notes": self.notes,
            "readings": self.readings,
            "autograd_available": self.autograd_available,
            "precise": None if self.precise is None else self.precise.to_json(),
            "digits_lost": None if self.precise is None else self.precise.digits_lost,
            **answer_json(self.answer),
            "steps": None if self.steps is None else self.steps.to_json(),
            **({"first_steps": self.steps.first_json()} if self.steps and self.steps.first else {}),
            "graph": None if self.graph is None else self.graph.to_json(),
            **solution_fields(self),
        }

    def csv_rows(self) -> tuple[list[str], Any]:
        rows = solution_rows(self)
        if rows is not None:
            return rows
        check = self.check
        header = ["i", "j", "entry", "derivative", "defined", "analytic", "autograd", "numeric"]
        header += ["numeric_trusted", "precise", "digits_lost", "abs_diff", "ok"]
        count = len(self.entries())
        numeric = flatten(check.numeric) if check.numeric is not None else [None] * count
        trusted = flatten(check.trusted) if check.trusted is not None else [None] * count
        precise = self.precise
        columns = [
            flatten(self.derivatives),
            flatten(self.defined),
            flatten(check.analytic),
            flatten(check.autograd),
            numeric,
            trusted,
            flatten(precise.derivative) if precise else [None] * count,
            flatten(precise.digits_lost) if precise else [None] * count,
            flatten(check.abs_diff),
            flatten(check.ok),
        ]
        extra_header, extra = answer_columns(main_answer(self), count)
        rows = []
        for k, (i, j) in enumerate(self.entries()):
            formula, *values = (column[k] for column in columns)
            rows.append([i, j, formula.label_ascii, formula.text, *values, *extra[k]])
        return header + extra_header, rows


def _shape(derivatives: list):
    """Map a function over the Formula entries, keeping the vector or matrix shape."""

    def apply(fn) -> list:
        if derivatives and isinstance(derivatives[0], list):
            return [[fn(f) for f in row] for row in derivatives]
        return [fn(f) for f in derivatives]

    return apply
