"""Result of ``gradcli expr --steps``: each derivative worked out step by step.

Every text comes in three notations (:class:`Texts`): ASCII in the language's own notation
(``x^2*sin(x*y)``, what JSON carries), Unicode (``x²⋅sin(x⋅y)``) and LaTeX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Texts:
    ascii: str
    unicode: str
    latex: str

    def pick(self, notation: str) -> str:
        return getattr(self, notation)


@dataclass(frozen=True)
class Step:
    """One rule applied to one part: d/dv[expression] = form (what the rule rewrites it
    into, None when nothing is left to work out) = result."""

    rule: str
    why: str  # the rule in symbols, or the function's derivative: "sin′ = cos"
    depth: int  # 0 for the whole formula, then one more per nested part
    expression: Texts
    form: Texts | None
    result: Texts
    check: str  # how the result was verified against SymPy: symbolic, numeric or unchecked

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "why": self.why,
            "expression": self.expression.ascii,
            "form": None if self.form is None else self.form.ascii,
            "result": self.result.ascii,
            "depth": self.depth,
            "verified": self.check,
        }


@dataclass(frozen=True)
class Derivation:
    """The steps of one derivative entry, its simplified final form and its value."""

    label: Texts  # ∂f/∂x
    operator: Texts  # ∂/∂x
    expression: Texts  # what is differentiated
    steps: list[Step] | None  # None: not available (``missing`` says why)
    final: Texts  # the derivative as the table shows it (simplified)
    value: float | None  # at the point; None where the derivative does not exist
    terms: list[float] = field(default_factory=list)  # the final form's terms at the point
    missing: str | None = None

    def to_json(self) -> list[dict[str, Any]] | None:
        return None if self.steps is None else [step.to_json() for step in self.steps]


@dataclass(frozen=True)
class StepsReport:
    """``entries`` is shaped like the result's derivatives (a list for a gradient, rows ×
    columns otherwise); for a Hessian, ``first`` holds the first derivatives' steps."""

    entries: list  # Derivation, or lists of them
    first: list[Derivation] | None = None
    checks: dict[str, int] = field(default_factory=dict)  # how many steps each way

    def flat(self) -> list[Derivation]:
        """Every derivation in the order they are shown: first derivatives, then entries."""
        found = list(self.first or [])
        for entry in self.entries:
            found += entry if isinstance(entry, list) else [entry]
        return found

    def to_json(self) -> Any:
        return [
            [d.to_json() for d in entry] if isinstance(entry, list) else entry.to_json()
            for entry in self.entries
        ]

    def first_json(self) -> list | None:
        return None if self.first is None else [d.to_json() for d in self.first]
