"""``gradcli expr --steps``: every derivative entry of a request worked out step by step.

The steps come from :mod:`gradcli.expr.derivation` (gradcli's own rules, every step checked
against SymPy); this module runs them for each entry — the gradient's, the Jacobian's, and
for ``--order 2`` the first derivatives' and then the second's — and writes them out in
every notation for the renderers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gradcli.errors import InputError
from gradcli.expr import derivation as dv
from gradcli.expr import symbolic as sym
from gradcli.expr.forms import NOTATIONS, Printer, sympy_text
from gradcli.expr.language import Node, Parsed
from gradcli.results.expr import Formula
from gradcli.results.steps import Derivation, Step, StepsReport, Texts

Expr = Any
TIDY_FIRST_SECONDS = 1.0  # the first derivative made tidy before it is differentiated again


class Writer:
    """Texts of forms and SymPy results, for one derivation variable."""

    def __init__(self, variable: str, partial: bool, names: dict[str, dict[str, str]]) -> None:
        self.printers = {
            notation: Printer(
                notation,
                variable,
                partial,
                tuple((name, shown[notation]) for name, shown in names.items()),
            )
            for notation in NOTATIONS
        }

    def form(self, form: Any) -> Texts:
        return Texts(**{notation: printer(form) for notation, printer in self.printers.items()})

    def operator(self) -> Texts:
        return Texts(**{n: p.operator() for n, p in self.printers.items()})

    def derivative(self, form: Any) -> str:
        return self.printers["ascii"].derivative(form)


def sympy_texts(expr: Expr) -> Texts:
    line = sym.text(expr)
    return Texts(sympy_text(line, "ascii"), sympy_text(line, "unicode"), sym.latex(expr))


def formula_texts(formula: Formula) -> Texts:
    return Texts(
        sympy_text(formula.text, "ascii"), sympy_text(formula.text, "unicode"), formula.latex
    )


def variable_names(variables: Sequence[str]) -> dict[str, dict[str, str]]:
    """How each variable is written in each notation (α, x₁ in Unicode, as SymPy prints)."""
    names = {}
    for name in variables:
        symbol = sym.symbol(name)
        pretty = sym.pretty(symbol, True)
        names[name] = {
            "ascii": name,
            "unicode": pretty if "\n" not in pretty else name,
            "latex": sym.latex(symbol),
        }
    return names


class Steps:
    """Runs the derivations of one request, sharing the step budget and the checks."""

    def __init__(self, point: dict[str, float]) -> None:
        self.names = variable_names(sorted(point))
        self.partial = len(point) > 1
        self.budget = [dv.MAX_STEPS]
        self.builder = dv.Builder()
        self.checker = dv.Checker(point)
        self.evaluator = sym.Evaluator(
            {sym.symbol(n): v for n, v in point.items()}, sym.torch.float64
        )
        self.counts: dict[str, int] = {}

    def derive(
        self,
        tree: Node,
        variable: str,
        label: Texts,
        final: Texts,
        tidied: Expr,
        value: float | None,
    ) -> Derivation:
        writer = Writer(variable, self.partial, self.names)
        try:
            steps = dv.Deriver(variable, self.budget).steps(tree)
        except dv.TooManySteps:
            raise InputError(
                f"--steps: the derivations need more than {dv.MAX_STEPS:,} steps in all (the "
                "limit); choose fewer variables with --wrt, or differentiate a shorter formula"
            ) from None

        def describe(step: dv.Step) -> str:
            return f"{writer.derivative(step.expression)} ({step.rule})"

        dv.work_out(steps, variable, self.builder, self.checker, describe)
        shown = [self._step(step, writer) for step in steps]
        for step in shown:
            self.counts[step.check] = self.counts.get(step.check, 0) + 1
        return Derivation(
            label=label,
            operator=writer.operator(),
            expression=writer.form(tree),
            steps=shown,
            final=final,
            value=value,
            terms=self._terms(tidied) if value is not None else [],
        )

    def _step(self, step: dv.Step, writer: Writer) -> Step:
        return Step(
            rule=step.rule,
            why=step.why,
            depth=step.depth,
            expression=writer.form(step.expression),
            form=writer.form(step.form) if step.pending else None,
            result=sympy_texts(step.result),
            check=step.check,
        )

    def _terms(self, expr: Expr) -> list[float]:
        """The values of a sum's terms at the point (2 to 4 terms), to show how they add up."""
        if not expr.is_Add or not 2 <= len(expr.args) <= 4:
            return []
        values = []
        for term in expr.as_ordered_terms():
            value, hit = self.evaluator.value(term)
            if hit:
                return []
            values.append(value + 0.0)
        return values

    def again(
        self,
        first: Expr,
        variable: str,
        label: Texts,
        final: Texts,
        tidied: Expr,
        value: float | None,
        first_label: Texts,
    ) -> Derivation:
        """The steps of d/dv of a first derivative (written in the language first)."""
        try:
            tree = dv.from_sympy(first)
        except dv.NotWritable as part:
            return Derivation(
                label=label,
                operator=Writer(variable, self.partial, self.names).operator(),
                expression=sympy_texts(first),
                steps=None,
                final=final,
                value=value,
                missing=(
                    f"{first_label.unicode} contains {part}, which the formula language cannot "
                    "write, so its derivative is shown without steps"
                ),
            )
        self.checker(
            self.builder.tree(tree), first, lambda: f"{first_label.ascii} rewritten in the language"
        )
        return self.derive(tree, variable, label, final, tidied, value)


def _labels(f: Formula) -> Texts:
    return Texts(f.label_ascii, f.label, f.label_latex)


def first_labels(variable: str, names: dict[str, dict[str, str]]) -> Texts:
    shown = names[variable]
    return Texts(
        f"df/d{variable}",
        f"∂f/∂{shown['unicode']}",
        rf"\frac{{\partial f}}{{\partial {shown['latex']}}}",
    )


def derivation_report(
    expressions: Sequence[Parsed],
    variables: Sequence[str],
    order: int,
    point: dict[str, float],
    formulas: list[list[Formula]],
    tidied: list[list[Expr]],
    values: list[list[float | None]],
    gradient: Sequence[Any] = (),
) -> StepsReport:
    """The steps of every entry. ``formulas``, ``tidied`` and ``values`` are the table's
    entries (rows × columns); for order 2, ``gradient`` holds the first derivatives (their
    ``expr`` and ``value``)."""
    steps = Steps(point)
    if order == 1:
        rows = [
            [
                steps.derive(
                    parsed.tree,
                    v,
                    _labels(formulas[i][j]),
                    formula_texts(formulas[i][j]),
                    tidied[i][j],
                    values[i][j],
                )
                for j, v in enumerate(variables)
            ]
            for i, parsed in enumerate(expressions)
        ]
        entries: list = rows[0] if len(expressions) == 1 else rows
        return StepsReport(entries, None, dict(steps.counts))
    tree = expressions[0].tree
    first, tidy_firsts = [], []
    for entry, v in zip(gradient, variables, strict=True):
        tidy = sym.tidy(entry.expr, TIDY_FIRST_SECONDS)
        tidy_firsts.append(tidy)
        first.append(
            steps.derive(
                tree,
                v,
                first_labels(v, steps.names),
                sympy_texts(tidy),
                tidy,
                entry.value,
            )
        )
    rows = [
        [
            steps.again(
                tidy_firsts[i],
                w,
                _labels(formulas[i][j]),
                formula_texts(formulas[i][j]),
                tidied[i][j],
                values[i][j],
                first[i].label,
            )
            for j, w in enumerate(variables)
        ]
        for i in range(len(variables))
    ]
    return StepsReport(rows, first, dict(steps.counts))
