"""``--steps`` of ``gradcli expr``: each derivative worked out, one line per rule.

The terminal gets each derivation as two columns — the step, indented by its depth, and the
rule with its reason — ending in the simplified derivative and its value at the point; at
most :data:`MAX_LINES` steps per derivative (``--json`` has them all). LaTeX gets an
``align*`` block per derivative.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from gradcli.render.plain import wants_ascii
from gradcli.render.table import number
from gradcli.results.steps import Derivation, Step, StepsReport

MAX_LINES = 60  # steps shown per derivative
INDENT = "  "


def rule_text(step: Step) -> str:
    text = f"{step.rule} ({step.why})" if step.why else step.rule
    return text + ("  [not checked]" if step.check == "unchecked" else "")


def step_line(step: Step, derivation: Derivation, notation: str) -> str:
    """``d/dx[u] = form`` (or its result when nothing is left to work out); the whole
    formula's first step is ``= form``."""
    body = (step.form or step.result).pick(notation)
    if step.depth == 0:
        return f"{INDENT}= {body}"
    head = f"{derivation.operator.pick(notation)}[{step.expression.pick(notation)}]"
    return f"{INDENT * (step.depth + 1)}{head} = {body}"


def value_line(derivation: Derivation, point: str, precision: int) -> str:
    if derivation.value is None:
        return f"{INDENT}at {point}:  does not exist (see the notes)"
    total = number(derivation.value, precision)
    if derivation.terms:
        parts = [number(t, precision) for t in derivation.terms]
        sum_text = " + ".join(p if not p.startswith("-") else f"({p})" for p in parts)
        return f"{INDENT}at {point}:  = {sum_text} = {total}"
    return f"{INDENT}at {point}:  = {total}"


class StepsView:
    """Every derivation of a report, in the console's notation (ASCII under NO_COLOR)."""

    def __init__(self, report: StepsReport, point: str, precision: int) -> None:
        self.report, self.point, self.precision = report, point, precision

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        notation = "ascii" if wants_ascii(console) else "unicode"
        width = options.max_width
        for derivation in self.report.flat():
            yield self._block(derivation, notation, width)
        yield Text(checks_line(self.report))

    def _block(self, derivation: Derivation, notation: str, width: int) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(overflow="fold")
        grid.add_column(overflow="fold", style="dim", max_width=max(16, width * 2 // 5))
        label, operator = derivation.label.pick(notation), derivation.operator.pick(notation)
        head = f"{label} = {operator}[{derivation.expression.pick(notation)}]"
        grid.add_row(Text(head, style="bold"), "")
        steps = derivation.steps
        if steps is None:
            grid.add_row(Text(f"{INDENT}(no steps: {derivation.missing})"), "")
        else:
            shown = steps if len(steps) <= MAX_LINES else steps[: MAX_LINES - 1]
            for step in shown:
                grid.add_row(Text(step_line(step, derivation, notation)), Text(rule_text(step)))
            if len(shown) < len(steps):
                more = len(steps) - len(shown)
                grid.add_row(Text(f"{INDENT}… {more} more steps; use --wrt/--json"), "")
        final = derivation.final.pick(notation)
        top = steps[0].result.pick(notation) if steps else None
        if not (steps and steps[0].form is None and final == top):  # else it is said above
            grid.add_row(Text(f"{INDENT}= {final}"), Text("simplified" if final != top else ""))
        grid.add_row(Text(value_line(derivation, self.point, self.precision)), "")
        return grid


def checks_line(report: StepsReport) -> str:
    """How the steps were checked, said out loud."""
    counts = report.checks
    ways = []
    if counts.get("symbolic"):
        ways.append(f"{counts['symbolic']} symbolically")
    if counts.get("numeric"):
        ways.append(f"{counts['numeric']} by value at the point and two random points")
    line = f"Each step checked against SymPy's derivative of its part: {', '.join(ways) or 'none'}."
    unchecked = counts.get("unchecked", 0)
    if unchecked:
        line += (
            f" {unchecked} could not be checked (SymPy could not simplify the difference and "
            "no point nearby has both defined): marked [not checked]."
        )
    return line


# --- LaTeX -------------------------------------------------------------------------------


def steps_latex(report: StepsReport, latex_number, point: str) -> str:
    """An ``align*`` block per derivative: the steps, the simplified form, its value."""
    blocks = []
    for derivation in report.flat():
        operator = derivation.operator.latex
        lines = [
            rf"{derivation.label.latex} &= {operator}\left[{derivation.expression.latex}\right]"
        ]
        for step in derivation.steps or []:
            body = (step.form or step.result).latex
            rule = step.rule
            if step.depth == 0:
                lhs = ""
            else:
                lhs = r"\quad " * step.depth + rf"{operator}\left[{step.expression.latex}\right]"
            lines.append(rf"{lhs} &= {body} && \text{{{rule}}}")
        lines.append(rf"&= {derivation.final.latex} && \text{{simplified}}")
        lines.append(rf"&= {latex_number(derivation.value)} && \text{{at }} {point}")
        blocks.append("\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n")
    return "".join(blocks)
