"""Result of `gradcli layer`: one layer's backward pass by hand vs autograd vs numeric."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import AnswerCheck, AnswerSet
from gradcli.marking import Marks
from gradcli.outcome import Outcome
from gradcli.results import GradientCheck, answer_json, solution_fields, solution_rows
from gradcli.results.grid import Grid
from gradcli.results.listing import Listing
from gradcli.solution import Solution

Nested = Any  # a Grid, a number, or nested lists of numbers (a tensor of any rank)


def flat(values: Nested) -> list:
    """Row-major entries of a grid or a nested list of any depth."""
    if isinstance(values, Grid):
        return values.flat()
    if not isinstance(values, list):
        return [values]
    out: list = []
    stack = [values]
    while stack:
        node = stack.pop()
        if node and isinstance(node[0], list):
            stack.extend(reversed(node))
        else:
            out.extend(node)
    return out


def indices(shape: list[int]) -> list[tuple[int, ...]]:
    """Every index tuple of ``shape`` in row-major order."""
    result: list[tuple[int, ...]] = [()]
    for size in shape:
        result = [(*prefix, i) for prefix in result for i in range(size)]
    return result


@dataclass(frozen=True)
class TensorInfo:
    """An input, the layer's state (dropout's mask) or its output, with where it came from."""

    name: str
    shape: list[int]
    dim_names: list[str]
    value: Nested  # nested lists; None for an input left out (`none`)
    source: str  # "given", "drawn", "none", "state" or "computed"

    def to_json(self) -> dict[str, Any]:
        return {"shape": self.shape, "value": self.value, "source": self.source}


@dataclass(frozen=True)
class LayerGradient:
    """∂L/∂(one input) three ways, with how much of the numeric side was checked."""

    name: str
    symbol: str  # x, W, b, γ, β, Q, K, V
    shape: list[int]
    dim_names: list[str]
    value: Nested  # the input's own value
    formula: str
    check: GradientCheck
    notes: list[str] = field(default_factory=list)

    @property
    def numeric_total(self) -> int:
        total = 1
        for size in self.shape:
            total *= size
        return total

    @property
    def numeric_sampled(self) -> bool:
        """Finite differences were taken on a seeded sample of the entries only."""
        return self.check.numeric_sampled

    @property
    def numeric_checked(self) -> int:
        """Entries whose finite difference was computed (the sample, or all)."""
        return self.check.numeric_checked or 0

    @property
    def numeric_counted(self) -> int:
        """Entries whose finite difference counted in the verdict."""
        trusted = self.check.trusted
        return 0 if trusted is None else sum(1 for t in flat(trusted) if t)

    def to_json(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "value": self.value,
            "formula": self.formula,
            "analytic": self.check.analytic,
            "autograd": self.check.autograd,
            "numeric": self.check.numeric,
            "numeric_trusted": self.check.trusted,
            "numeric_error_max": self.check.numeric_error_max,
            "ok": self.check.ok,
            "max_abs_diff": self.check.max_abs_diff,
            "agree": self.check.agree,
            "numeric_sampled": self.numeric_sampled,
            "numeric_checked": self.check.numeric_checked,
            "numeric_counted": self.numeric_counted if self.check.numeric is not None else None,
            "numeric_total": self.numeric_total,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class LayerStep:
    """One intermediate quantity of the worked solution: a tensor, or lines of text."""

    label: str
    formula: str
    shape: list[int] | None
    dim_names: list[str]
    value: Nested | None
    lines: list[str]
    symbol: str = ""
    key: str = ""  # its key in the worked solution (--expect KEY=), if it is a quantity

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key or None,
            "label": self.label,
            "formula": self.formula,
            "shape": self.shape,
            "value": self.value,
            "lines": self.lines,
        }


@dataclass(frozen=True)
class LayerResult(Outcome):
    """The layer, its inputs and output, G, and ∂L/∂input for every input with a gradient."""

    name: str
    summary: str
    params: dict[str, Any]
    forward_formula: str
    inputs: list[TensorInfo]
    state: list[TensorInfo]
    output: TensorInfo
    upstream: TensorInfo
    upstream_kind: str  # "random", "ones" or "given"
    grads: list[LayerGradient]
    max_abs_diff: float
    agree: bool
    dtype: str
    atol: float
    rtol: float
    seed: int | None  # set when something was drawn
    numeric: bool  # finite differences were computed
    steps: list[LayerStep] | None = None
    notes: list[str] = field(default_factory=list)
    answer: AnswerCheck | AnswerSet | None = None
    command: str = "layer"
    # a recurrent layer's final states (h_n, c_n), and the upstreams L weighs them with
    # (G_h, G_c: --upstream-h/-c)
    final_states: list[TensorInfo] = field(default_factory=list)
    final_upstreams: list[TensorInfo] = field(default_factory=list)
    solution: Solution | None = None  # y, the steps' keyed quantities, the gradients
    marks: Marks | None = None  # the user's --expect answers, marked

    @property
    def numeric_sampled(self) -> bool:
        return any(grad.numeric_sampled for grad in self.grads)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "name": self.name,
            "params": self.params,
            "formula": self.forward_formula,
            "inputs": {info.name: info.to_json() for info in self.inputs},
            "state": {info.name: info.to_json() for info in self.state},
            "output": self.output.value,
            "output_shape": self.output.shape,
            "upstream": self.upstream.value,
            "upstream_kind": self.upstream_kind,
            **(
                {
                    "final_states": {i.name: i.to_json() for i in self.final_states},
                    "final_upstreams": {i.name: i.to_json() for i in self.final_upstreams},
                }
                if self.final_states
                else {}
            ),
            "grads": {grad.name: grad.to_json() for grad in self.grads},
            "max_abs_diff": self.max_abs_diff,
            "agree": self.agree,
            "numeric_sampled": self.numeric_sampled,
            "atol": self.atol,
            "rtol": self.rtol,
            "dtype": self.dtype,
            "seed": self.seed,
            "steps": None if self.steps is None else [step.to_json() for step in self.steps],
            "notes": self.notes,
            **answer_json(self.answer),
            **solution_fields(self),
        }

    def csv_rows(self) -> tuple[list[str], Iterator[list[Any]]]:
        """One row per gradient entry, with its index tuple in columns i0, i1, … (rows are
        produced one at a time, so a large gradient is written as it is read); the worked
        solution's rows with --steps or an answer for y or an intermediate."""
        rows = solution_rows(self, shown=[grad.name for grad in self.grads])
        if rows is not None:
            return rows
        rank = max((len(grad.shape) for grad in self.grads), default=1)
        header = [
            "input",
            *[f"i{d}" for d in range(rank)],
            "value",
            "analytic",
            "autograd",
            "numeric",
            "numeric_trusted",
            "abs_diff",
            "ok",
        ]
        with_answer = self.marks is not None
        if with_answer:
            header += ["expected", "expected_ok"]
        rows = (row for grad in self.grads for row in self._rows(grad, rank, with_answer))
        return header, rows

    def _rows(self, grad: LayerGradient, rank: int, with_answer: bool) -> Iterator[list[Any]]:
        check = grad.check
        columns = [
            flat(grad.value),
            flat(check.analytic),
            flat(check.autograd),
            flat(check.numeric) if check.numeric is not None else None,
            flat(check.trusted) if check.trusted is not None else None,
            flat(check.abs_diff),
            flat(check.ok),
        ]
        expected = self._expected(grad.name) if with_answer else None
        for k, index in enumerate(itertools.product(*(range(n) for n in grad.shape))):
            padded = [*index, *[""] * (rank - len(index))]
            values = [None if col is None else col[k] for col in columns]
            row = [grad.name, *padded, *values]
            if with_answer:
                row += [None, None] if expected is None else [expected[0][k], expected[1][k]]
            yield row

    def _expected(self, name: str) -> tuple[list, list] | None:
        mark = self.marks.get(name) if self.marks else None
        if mark is None:
            return None
        part = mark.check
        values, oks = flat(part.expected), flat(part.ok)
        grad = next(g for g in self.grads if g.name == name)
        if len(values) != len(flat(grad.check.analytic)) or len(oks) != len(values):
            return None  # an answer of another shape (a transposed matrix): no per-entry match
        return values, oks


@dataclass(frozen=True)
class LayerListing(Listing):
    """``layer --list``: the registry's entries (JSON, CSV) and, for people, one block per
    layer with its inputs, parameters, forward and backward formulas."""

    blocks: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)
