"""`gradcli expr`: the gradient, Jacobian or Hessian of typed formulas, three ways.

* **symbolic** — SymPy differentiates the formula (:func:`sympy.diff`); the derivative is
  evaluated at the point with torch ops in the chosen dtype;
* **autograd** — the same parsed tree built from torch ops, differentiated by
  :mod:`torch.autograd.functional` (``jacobian``; ``hessian`` for order 2);
* **numeric** — central differences of f (order 1) or of the autograd gradient (order 2).

An entry whose derivative does not exist at the point (∞, NaN, a division by zero, a corner
of abs/sign/min/max whose one-sided derivatives differ) is reported as such and left out
of the verdict; torch's value there is still shown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gradcli._torch import load
from gradcli.core.engine import (
    TORCH_DTYPES,
    NumericEstimate,
    as_tensor,
    judge,
    numeric_jacobian,
)
from gradcli.core.kinks import nudge, probing_finder
from gradcli.errors import InputError
from gradcli.expect import Expected, Kink, KinkFinder, Slip
from gradcli.expr import symbolic as sym
from gradcli.expr.language import (
    Call,
    Neg,
    Node,
    Num,
    Parsed,
    Power,
    Product,
    Sum,
    natural_key,
    shown,
    walk,
)
from gradcli.expr.torchfn import SECOND_ORDER_STAND_INS, TorchFunction, stacked
from gradcli.limits import require_entries
from gradcli.marking import mark
from gradcli.ops.activations import ACTIVATIONS
from gradcli.results.expr import ExprResult, Formula
from gradcli.results.grid import Grid, nested
from gradcli.settings import Settings, Tolerance
from gradcli.solution import Quantity, Solution

torch = load("torch")
Tensor = Any
Expr = Any

SYMBOLIC_SECONDS = 5.0  # differentiation and evaluation; beyond it the input is refused
SIMPLIFY_SECONDS = 5.0  # a safety net for tidying all shown derivatives (never reached in use)
SIMPLIFY_EACH = 2.0
TIDY_TOTAL_OPS = 1500  # beyond this size in all, derivatives are shown as differentiated
MAX_ENTRIES = 256  # m·n or n·n


@dataclass(frozen=True)
class ExprRequest:
    """What to differentiate, where, and how often."""

    expressions: tuple[Parsed, ...]
    variables: tuple[str, ...]  # the differentiation variables, in order
    point: dict[str, float]  # a value for every variable of every expression
    written: dict[str, str]  # the values as the user wrote them
    order: int = 1
    steps: bool = False  # --steps: each derivative worked out rule by rule
    graph: bool = False  # --graph: the computation graph with every node's adjoint

    @property
    def kind(self) -> str:
        if self.order == 2:
            return "hessian"
        return "jacobian" if len(self.expressions) > 1 else "gradient"


@dataclass(frozen=True)
class Entry:
    """One symbolic derivative entry at the point."""

    expr: Expr
    value: float | None  # None: the derivative does not exist here
    reason: str | None = None  # why not
    sides: tuple[float, float] | None = None  # a corner's (left, right) one-sided derivatives


REASONS = {
    "infinite": "it is infinite or undefined (a division by zero, the edge of a domain, or"
    " beyond float64's range)",
    "corner": "the one-sided derivatives differ (a corner or tie of abs, min or max)",
    "jump": "the function jumps here (sign, or a derivative with a jump)",
    "undecided": "it sits on a corner whose two sides gradcli cannot tell apart",
    "first": "the first derivative it differentiates does not exist here",
}


def expr_derivatives(
    request: ExprRequest,
    settings: Settings,
    expected: dict[str, Expected] | None = None,
    *,
    simplify_seconds: float | None = None,
) -> ExprResult:
    """Differentiate the request's expressions three ways at its point.

    ``expected`` maps the worked solution's keys (``f`` and ``grad``, ``jacobian`` or
    ``hessian``) to the user's answers, which are marked.

    ``simplify_seconds`` bounds the time spent making the shown derivatives tidier (0: show
    them as differentiated; default SIMPLIFY_SECONDS); the numbers never depend on it.
    """
    variables = list(request.variables)
    if (
        len(request.expressions) * len(variables) > MAX_ENTRIES
        or len(variables) ** (request.order) > MAX_ENTRIES
    ):
        raise InputError(f"that is more than {MAX_ENTRIES} derivative entries (the limit)")
    m, n = len(request.expressions), len(variables)
    # the largest tensors: each expression on the 1 + 2n finite-difference stencil points
    # (n of them, with autograd graphs, for the Hessian's differences of the gradient)
    require_entries((m, 1 + 2 * n, n), "expr's finite differences", copies=8)
    dtype = TORCH_DTYPES[settings.dtype]
    everything = as_tensor(list(request.point.values()), settings.dtype, "--at")
    point = dict(zip(request.point, everything.double().tolist(), strict=True))
    x = torch.tensor([point[v] for v in variables], dtype=dtype)
    fixed = {name: value for name, value in point.items() if name not in variables}
    second = request.order == 2
    functions = [TorchFunction(p.tree, variables, fixed) for p in request.expressions]
    values = [float(f(x)) + 0.0 for f in functions]  # + 0.0: no "-0" for a value of 0
    _require_finite(request, values, point)

    try:
        with sym.time_limit(SYMBOLIC_SECONDS):
            symbolic = _symbolic(request, point, values, dtype, settings.tolerance)
    except sym.TimeUp:
        raise InputError(
            f"the symbolic derivative takes longer than {SYMBOLIC_SECONDS:g} s; simplify the "
            "expression or differentiate fewer variables"
        ) from None
    grid = symbolic.entries
    defined = [[entry.value is not None for entry in row] for row in grid]

    if second:
        hessian_function = TorchFunction(request.expressions[0].tree, variables, fixed, True)
        autograd = torch.autograd.functional.hessian(hessian_function, x)
    else:
        # one graph per expression: in a stacked one, 0·∞ from another row would leak NaN in
        autograd = torch.stack([torch.autograd.functional.jacobian(f, x) for f in functions])
    numeric, trusted, straddles = None, None, []
    if settings.numeric:
        numeric = _numeric(functions, x, second, settings.tolerance)
        trusted, straddles = _trusted(request, variables, fixed, x, numeric, defined)

    check = _judge(grid, autograd, numeric, trusted, defined, settings.tolerance)
    budget = SIMPLIFY_SECONDS if simplify_seconds is None else simplify_seconds
    display = _display(request, symbolic.functions, grid, budget)
    steps = _steps(request, symbolic, display, point) if request.steps else None
    graph = None
    if request.graph:
        from gradcli.core.graph import expr_graph

        graph = expr_graph(request.expressions[0], variables, point, settings)
    flat = request.kind == "gradient"
    solution = _solution(request, symbolic, point, values, dtype, settings, autograd, display)
    marks = None
    if expected:
        _require_derivative(request, symbolic, expected)
        marks = mark(solution, expected, settings.tolerance)
    notes, notes_ascii = (
        _notes(request, grid, names, point, straddles, check.notes)
        for names in (
            [[f.label for f in row] for row in display.entries],
            [[f.label_ascii for f in row] for row in display.entries],
        )
    )
    return ExprResult(
        expressions=[p.text for p in request.expressions],
        variables=variables,
        at=point,
        at_written=dict(request.written),
        order=request.order,
        kind=request.kind,
        value=values,
        functions=display.functions,
        derivatives=display.entries[0] if flat else display.entries,
        check=_flatten_check(check) if flat else check,
        defined=defined[0] if flat else defined,
        dtype=settings.dtype.value,
        notes=notes,
        notes_ascii=notes_ascii,
        answer=None if marks is None else marks.answer,
        steps=steps,
        graph=graph,
        solution=solution,
        marks=marks,
        show_steps=request.steps,
    )


def point_text(point: dict[str, float]) -> str:
    return ", ".join(f"{name} = {value:g}" for name, value in point.items())


def _require_finite(request: ExprRequest, values: list[float], point: dict[str, float]) -> None:
    """f must be a finite real number at the point: log(−1) or 1/0 is bad input."""
    for parsed, value in zip(request.expressions, values, strict=True):
        if not math.isfinite(value):
            what = "undefined (not a real number)" if math.isnan(value) else f"{value:g}"
            raise InputError(
                f"{shown(parsed.text)} is {what} at {point_text(point)}; the expression must "
                "have a finite value at the point"
            )


# --- symbolic -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Symbolic:
    functions: list[Expr]
    entries: list[list[Entry]]  # rows × columns
    gradient: list[Entry]  # order 2: the first derivatives (for slips); else []


def _symbolic(
    request: ExprRequest,
    point: dict[str, float],
    values: list[float],
    dtype: Any,
    tolerance: Tolerance,
) -> Symbolic:
    functions = [sym.to_sympy(p.tree) for p in request.expressions]
    symbols = [sym.symbol(v) for v in request.variables]
    at = {sym.symbol(name): value for name, value in point.items()}
    plain = sym.Evaluator(at, dtype)
    settle = Settler(at, dtype, plain, tolerance)
    if request.order == 1:
        rows = [
            [settle(_diff(f, s), f, s, value) for s in symbols]
            for f, value in zip(functions, values, strict=True)
        ]
        return Symbolic(functions, rows, [])
    f = functions[0]
    gradient = [settle(_diff(f, s), f, s, values[0]) for s in symbols]
    rows = []
    for first in gradient:
        if first.value is None:
            rows.append([Entry(_diff(first.expr, s), None, "first") for s in symbols])
        else:
            rows.append([settle(_diff(first.expr, s), first.expr, s, first.value) for s in symbols])
    return Symbolic(functions, rows, gradient)


def _diff(expr: Expr, variable: Expr) -> Expr:
    return sym.real_forms(sym.sp.diff(expr, variable))


class Settler:
    """Decides whether a derivative entry exists at the point, and its value."""

    def __init__(self, at: dict, dtype: Any, plain: sym.Evaluator, tolerance: Tolerance) -> None:
        self.at, self.dtype, self.plain, self.tolerance = at, dtype, plain, tolerance

    def __call__(self, derivative: Expr, of: Expr, variable: Expr, of_value: float) -> Entry:
        """``derivative`` = ∂(of)/∂variable; ``of_value`` is ``of`` at the point."""
        value, hit = self.plain.value(derivative)
        _, of_hit = self.plain.value(of)
        if not hit and not of_hit:
            if math.isfinite(value):
                return Entry(derivative, value)
            return Entry(derivative, None, "infinite")
        try:
            sides = [
                sym.Evaluator(self.at, self.dtype, side=(variable, step), activations=None)
                for step in (1, -1)
            ]
            (right, left) = [side.value(derivative)[0] for side in sides]
            (of_right, of_left) = [side.value(of)[0] for side in sides]
        except sym.Undecidable:
            return Entry(derivative, None, "undecided")
        if of_hit and not (self.close(of_right, of_value) and self.close(of_left, of_value)):
            return Entry(derivative, None, "jump")
        if not (math.isfinite(right) and math.isfinite(left)):
            return Entry(derivative, None, "infinite")
        if not self.close(right, left):
            return Entry(derivative, None, "corner", (left, right))
        return Entry(derivative, (right + left) / 2)

    def close(self, a: float, b: float) -> bool:
        return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= self.tolerance.bound(b)


def _steps(request: ExprRequest, symbolic: Symbolic, display: Display, point: dict[str, float]):
    """--steps: every entry worked out rule by rule, each step checked against SymPy."""
    from gradcli.core.steps import derivation_report

    return derivation_report(
        request.expressions,
        request.variables,
        request.order,
        point,
        display.entries,
        display.tidied,
        [[entry.value for entry in row] for row in symbolic.entries],
        symbolic.gradient,
    )


# --- autograd and numeric -----------------------------------------------------------------


def _numeric(
    functions: list[TorchFunction], x: Tensor, second: bool, tolerance: Tolerance
) -> NumericEstimate:
    """Central differences with error estimates (the engine's): of f for order 1, of
    autograd's gradient for order 2."""
    if not second:
        return numeric_jacobian(stacked(functions), x, tolerance)
    f = functions[0]

    def gradient_rows(points: Tensor) -> Tensor:
        with torch.enable_grad():
            leaf = points.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(leaf).sum(), leaf)
        return grad

    return numeric_jacobian(gradient_rows, x, tolerance)


def singular_points(tree: Node) -> list[tuple[Node, str]]:
    """Sub-trees u whose sign change marks a kink, corner, pole or domain edge of f, with the
    call or operand they come from (a finite difference across one is not trusted)."""
    found: list[tuple[Node, str]] = []
    for node in walk(tree):
        if isinstance(node, Product):
            found += [(divisor, "a division") for divisor in node.divisors]
        elif isinstance(node, Power) and not _whole(node.exponent):
            found.append((node.base, "a power"))
        elif isinstance(node, Call):
            found += _call_singularities(node)
    return found


# where an activation's second derivative jumps although its first does not: a central
# difference across such a point is off by O(h), as large as the tolerance
CURVATURE_KINKS: dict[str, tuple[float, ...]] = {"softsign": (0.0,), "elu": (0.0,), "celu": (0.0,)}


def _whole(node: Node) -> bool:
    """A constant exponent 0, 1, 2, …: the power is smooth everywhere."""
    return isinstance(node, Num) and isinstance(node.value, int) and node.value >= 0


def _minus(node: Node, value: float) -> Node:
    return node if value == 0 else Sum((node, Neg(Num(value))))


def _call_singularities(node: Call) -> list[tuple[Node, str]]:
    name, args = node.name, node.args
    if name in ("min", "max"):
        return [(Sum((args[0], Neg(args[1]))), name)]
    if name in ("abs", "sign", "sqrt", "cbrt", "log", "log2", "log10", "gamma"):
        return [(args[0], name)]
    if name in ("asin", "acos", "atanh"):
        return [(_minus(args[0], 1.0), name), (_minus(args[0], -1.0), name)]
    if name == "acosh":
        return [(_minus(args[0], 1.0), name)]
    activation = ACTIVATIONS.get(name)
    if activation is not None and name not in ("tanh",):
        params = {p.name: p.default for p in activation.params}
        kinks = {*activation.kinks(params), *CURVATURE_KINKS.get(name, ())}
        return [(_minus(args[0], kink), name) for kink in sorted(kinks)]
    return []


def _trusted(
    request: ExprRequest,
    variables: list[str],
    fixed: dict[str, float],
    x: Tensor,
    numeric: NumericEstimate,
    defined: list[list[bool]],
) -> tuple[Tensor, list[tuple[int, int, str]]]:
    """False where the stencil the engine used (x ± step along that variable) crosses a kink,
    pole or domain edge of f; also (row, column, source) of each crossing where the
    derivative exists (the others are not judged anyway)."""
    x64 = x.detach().double()
    rows, n = numeric.value.shape
    trusted = torch.ones(rows, n, dtype=torch.bool)
    straddles = []
    trees = [p.tree for p in request.expressions]
    for row in range(rows):
        tree = trees[0] if request.order == 2 else trees[row]
        singular = singular_points(tree)
        if not singular:
            continue
        steps = numeric.step[row].clamp(min=0.0)
        stencil = torch.cat([x64[None, :], x64 + torch.diag(steps), x64 - torch.diag(steps)])
        for sub, source in singular:
            signs = torch.sign(TorchFunction(sub, variables, fixed)(stencil))
            for j in range(n):
                three = torch.stack([signs[0], signs[1 + j], signs[1 + n + j]])
                if bool((three != three[0]).any()) and bool(trusted[row, j]):
                    trusted[row, j] = False
                    if defined[row][j]:
                        straddles.append((row, j, source))
    return trusted, straddles


def _judge(
    grid: list[list[Entry]],
    autograd: Tensor,
    numeric: NumericEstimate | None,
    trusted: Tensor | None,
    defined: list[list[bool]],
    tolerance: Tolerance,
):
    """The engine's verdict; entries that do not exist are shown, not judged, and their
    analytic value, difference and verdict are None."""
    mask = torch.tensor(defined, dtype=torch.bool)
    analytic = torch.tensor(
        [[math.nan if e.value is None else e.value + 0.0 for e in row] for row in grid],
        dtype=torch.float64,
    )
    check = judge(analytic, autograd.double(), numeric, tolerance, trusted, defined=mask)

    def blank(values: Grid) -> Grid:
        rows = nested(values)
        kept = [
            [v if ok else None for v, ok in zip(row, mrow, strict=True)]
            for row, mrow in zip(rows, defined, strict=True)
        ]
        return Grid.of(kept, values.data.typecode)

    return replace(
        check,
        analytic=blank(check.analytic),
        abs_diff=blank(check.abs_diff),
        ok=blank(check.ok),
    )


def _flatten_check(check):
    """A 1 × n gradient check as vectors."""

    def first(values: Grid | None) -> Grid | None:
        return None if values is None else Grid.of(nested(values)[0], values.data.typecode)

    return replace(
        check,
        analytic=first(check.analytic),
        autograd=first(check.autograd),
        numeric=first(check.numeric),
        trusted=first(check.trusted),
        abs_diff=first(check.abs_diff),
        ok=first(check.ok),
        defined=first(check.defined),
    )


# --- display ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Display:
    functions: list[Formula]
    entries: list[list[Formula]]
    tidied: list[list[Expr]]  # the entries' expressions as shown


def _names(variables: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """Each variable as SymPy prints it: Unicode (α, x₁), ASCII and LaTeX."""
    symbols = [sym.symbol(v) for v in variables]
    return (
        [sym.pretty(s, True) for s in symbols],
        [sym.pretty(s, False) for s in symbols],
        [sym.latex(s) for s in symbols],
    )


def _subscript(i: int) -> str:
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _formula(labels: tuple[str, str, str], expr: Expr) -> Formula:
    label, label_ascii, label_latex = labels
    return Formula(
        label=label,
        label_ascii=label_ascii,
        label_latex=label_latex,
        text=sym.text(expr),
        unicode=sym.equation(label, expr, True),
        ascii=sym.equation(label_ascii, expr, False),
        latex=sym.latex(expr),
    )


def _display(
    request: ExprRequest, functions: list[Expr], grid: list[list[Entry]], budget: float
) -> Display:
    """Formulas for the table and LaTeX: f, and each entry simplified when that is cheap."""
    uni, asc, tex = _names(request.variables)
    everyone = sorted({v for p in request.expressions for v in p.variables}, key=natural_key)
    u_all, a_all, t_all = _names(everyone)
    several = len(functions) > 1
    f_labels = []
    for i in range(len(functions)):
        u = f"f{_subscript(i + 1)}" if several else "f"
        a = f"f{i + 1}" if several else "f"
        t = f"f_{{{i + 1}}}" if several else "f"
        f_labels.append((u, a, t))
    shown_functions = [
        _formula(
            (
                f"{u}({', '.join(u_all)})",
                f"{a}({', '.join(a_all)})",
                rf"{t}\left({', '.join(t_all)}\right)",
            ),
            f,
        )
        for (u, a, t), f in zip(f_labels, functions, strict=True)
    ]
    deadline = time.monotonic() + budget
    if sum(sym.sp.count_ops(entry.expr) for row in grid for entry in row) > TIDY_TOTAL_OPS:
        deadline = 0.0  # deterministic: big requests are not tidied at all
    rows, tidied = [], []
    for i, row in enumerate(grid):
        formulas, exprs = [], []
        for j, entry in enumerate(row):
            labels = _entry_labels(
                request.order, f_labels[i if several else 0], uni, asc, tex, i, j
            )
            remaining = min(SIMPLIFY_EACH, deadline - time.monotonic())
            exprs.append(sym.tidy(entry.expr, remaining))
            formulas.append(_formula(labels, exprs[-1]))
        rows.append(formulas)
        tidied.append(exprs)
    return Display(shown_functions, rows, tidied)


def _entry_labels(
    order: int,
    f: tuple[str, str, str],
    uni: list[str],
    asc: list[str],
    tex: list[str],
    i: int,
    j: int,
) -> tuple[str, str, str]:
    fu, fa, ft = f
    if order == 1:
        return (
            f"∂{fu}/∂{uni[j]}",
            f"d{fa}/d{asc[j]}",
            rf"\frac{{\partial {ft}}}{{\partial {tex[j]}}}",
        )
    if i == j:
        return (
            f"∂²{fu}/∂{uni[i]}²",
            f"d2{fa}/d{asc[i]}2",
            rf"\frac{{\partial^{{2}} {ft}}}{{\partial {tex[i]}^{{2}}}}",
        )
    return (
        f"∂²{fu}/∂{uni[i]}∂{uni[j]}",
        f"d2{fa}/d{asc[i]}d{asc[j]}",
        rf"\frac{{\partial^{{2}} {ft}}}{{\partial {tex[i]} \partial {tex[j]}}}",
    )


# --- notes ------------------------------------------------------------------------------------


def _notes(
    request: ExprRequest,
    grid: list[list[Entry]],
    names: list[list[str]],
    point: dict[str, float],
    straddles: list[tuple[int, int, str]],
    engine_notes: tuple[str, ...],
) -> list[str]:
    notes = []
    by_reason: dict[str, list[str]] = {}
    for i, row in enumerate(grid):
        for j, entry in enumerate(row):
            if entry.value is None:
                by_reason.setdefault(entry.reason or "infinite", []).append(names[i][j])
    for reason, labels in by_reason.items():
        verb = "does" if len(labels) == 1 else "do"
        notes.append(f"{', '.join(labels)} {verb} not exist here: {REASONS[reason]}.")
    if by_reason:
        notes.append(
            "Derivatives that do not exist are left out of the verdict; autograd shows what "
            "torch returns there."
        )
    notes += _kink_notes(request, point)
    if request.order == 2:
        used = {n.name for p in request.expressions for n in walk(p.tree) if isinstance(n, Call)}
        for name in sorted(used & set(SECOND_ORDER_STAND_INS)):
            notes.append(
                f"torch cannot differentiate {name} twice; for the Hessian, autograd "
                "differentiates an equal torch.where form with the same first derivative."
            )
    crossing: dict[str, list[str]] = {}
    for i, j, source in straddles:
        crossing.setdefault(names[i][j], []).append(source)
    if crossing:
        listed = ", ".join(
            f"{label} ({', '.join(dict.fromkeys(sources))})" for label, sources in crossing.items()
        )
        notes.append(
            f"The finite differences for {listed} straddle a kink, pole or domain edge: shown "
            "with ~ and left out of the verdict."
        )
    notes += list(engine_notes)
    return notes


def _kink_notes(request: ExprRequest, point: dict[str, float]) -> list[str]:
    """An activation evaluated exactly at its kink: torch's convention, said out loud."""
    notes = []
    everyone = sorted(point)
    x = torch.tensor([point[v] for v in everyone], dtype=torch.float64)
    for parsed in request.expressions:
        for node in walk(parsed.tree):
            if not isinstance(node, Call) or node.name not in ACTIVATIONS:
                continue
            activation = ACTIVATIONS[node.name]
            params = {p.name: p.default for p in activation.params}
            kinks = activation.kinks(params)
            if not kinks:
                continue
            u = float(TorchFunction(node.args[0], everyone, {})(x))
            for kink in kinks:
                if u == kink:
                    call = sym.text(sym.to_sympy(node))
                    notes.append(
                        f"{call}: {node.name} is not differentiable where its argument is "
                        f"{kink:g}, as here; the symbolic and autograd columns follow torch's "
                        f"convention ({activation.convention})."
                    )
    return list(dict.fromkeys(notes))


# --- --expect -------------------------------------------------------------------------------


DERIVATIVE_KEYS = {"gradient": "grad", "jacobian": "jacobian", "hessian": "hessian"}


def _require_derivative(
    request: ExprRequest, symbolic: Symbolic, expected: dict[str, Expected]
) -> None:
    """An answer for the derivative needs every entry to exist at the point."""
    grid = symbolic.entries
    missing = [e for row in grid for e in row if e.value is None and e.sides is None]
    if missing and DERIVATIVE_KEYS[request.kind] in expected:
        raise InputError(
            "--expect: some derivative entries do not exist at this point, so there is no "
            "answer to check them against"
        )


def _solution(
    request: ExprRequest,
    symbolic: Symbolic,
    point: dict[str, float],
    values: list[float],
    dtype: Any,
    settings: Settings,
    autograd: Tensor,
    display: Any,
) -> Solution:
    """f (each expression's value), then the derivative (the bare --expect); entries that do
    not exist are NaN."""
    f = Quantity(
        "f",
        "f",
        "; ".join(f"{form.label} = {_one_line(form)}" for form in display.functions),
        values,
        labels=tuple(f"f[{i}] = {p.text}" for i, p in enumerate(request.expressions)),
    )
    entries = [form for row in display.entries for form in row]
    derivative = _derivative_quantity(request, symbolic, point, values, dtype, settings, autograd)
    derivative = replace(
        derivative, formula="; ".join(f"{form.label} = {_one_line(form)}" for form in entries)
    )
    return Solution((f, derivative), main=derivative.key)


def _one_line(form: Formula) -> str:
    """A formula on one line in the language's own notation (x^2, not SymPy's x**2)."""
    return form.text.replace("**", "^")


def _derivative_quantity(
    request: ExprRequest,
    symbolic: Symbolic,
    point: dict[str, float],
    values: list[float],
    dtype: Any,
    settings: Settings,
    autograd: Tensor,
) -> Quantity:
    grid = symbolic.entries
    torch_values = autograd.detach().double().reshape(len(grid), -1).tolist()
    truth = [
        [e.value if e.sides is None else t for e, t in zip(row, trow, strict=True)]
        for row, trow in zip(grid, torch_values, strict=True)
    ]
    flat = request.kind == "gradient"
    noun = f"the {request.kind if request.kind != 'jacobian' else 'Jacobian'}"
    noun = noun.replace("hessian", "Hessian")

    def slips() -> list[Slip]:
        return [
            Slip(text, grid_values[0] if flat else grid_values)
            for text, grid_values in _slips(request, symbolic, point, values, dtype)
        ]

    labels = [f"∂f/∂{v}" for v in request.variables] if flat else []
    truth = [[math.nan if v is None else v for v in row] for row in truth]
    return Quantity(
        DERIVATIVE_KEYS[request.kind],
        "H" if request.order == 2 else "∇f" if flat else "J",
        "",
        truth[0] if flat else truth,
        slips=slips,
        noun=noun,
        labels=tuple(labels),
        locator="H" if request.order == 2 else "J",
        kinks=_kinks(request, grid, truth, point, dtype, settings.tolerance),
    )


def _kinks(
    request: ExprRequest,
    grid: list[list[Entry]],
    truth: list[list[float]],
    point: dict[str, float],
    dtype: Any,
    tolerance: Tolerance,
) -> KinkFinder:
    """Entries at a corner (abs, min, max: their one-sided derivatives are known) or at a kink
    of an activation (relu, hardtanh…: probed just left and right along the entry's variable,
    where torch's convention gives the value at the point)."""
    width = len(grid[0])
    flat = [v for row in truth for v in row]

    def one_sided(k: int, direction: int) -> float | None:
        entry, name = grid[k // width][k % width], request.variables[k % width]
        at = {sym.symbol(v): value for v, value in point.items()}
        at[sym.symbol(name)] = nudge(point[name], direction)
        value, hit = sym.Evaluator(at, dtype).value(entry.expr)
        return value if math.isfinite(value) and not hit else None

    probe = probing_finder(one_sided, flat, tolerance)

    def find(indices: list[int]) -> dict[int, Kink]:
        corners = {
            k: Kink(*grid[k // width][k % width].sides, flat[k])
            for k in indices
            if grid[k // width][k % width].sides is not None
        }
        return {**probe([k for k in indices if k not in corners]), **corners}

    return find


def _slips(
    request: ExprRequest,
    symbolic: Symbolic,
    point: dict[str, float],
    values: list[float],
    dtype: Any,
) -> list[tuple[str, list[list[float]]]]:
    """Mistakes students make, each with the values it would give (same grid shape)."""
    grid = [[e.value for e in row] for row in symbolic.entries]
    n = len(request.variables)
    found: list[tuple[str, list[list[float]]]] = []
    if request.order == 1:
        found.append(("f itself, not its derivative", [[v] * n for v in values]))
    elif n == 1 and symbolic.gradient[0].value is not None:
        found.append(("the first derivative, not the second", [[symbolic.gradient[0].value]]))
    order = list(request.variables)
    appearance = [v for v in request.expressions[0].appearance if v in order]
    appearance += [v for v in order if v not in appearance]
    permutations = []
    if appearance != order:
        permutations.append(
            (
                f"the derivatives in the order the variables appear in f ({', '.join(appearance)}"
                f"); gradcli orders them {', '.join(order)} (choose with --wrt)",
                [order.index(v) for v in appearance],
            )
        )
    if n > 1 and order[::-1] != appearance:
        permutations.append(("the derivatives in reverse variable order", list(range(n))[::-1]))
    for text, perm in permutations:
        if request.order == 1:
            found.append((text, [[row[k] for k in perm] for row in grid]))
        else:
            found.append((text, [[grid[a][b] for b in perm] for a in perm]))
    found += _evaluation_slips(request, symbolic, point, dtype)
    return [(text, values_) for text, values_ in found if _all_finite(values_)]


def _evaluation_slips(
    request: ExprRequest, symbolic: Symbolic, point: dict[str, float], dtype: Any
) -> list[tuple[str, list[list[float]]]]:
    """The derivative evaluated wrongly: in degrees, or at the point's values swapped."""
    found = []
    exprs = [[e.expr for e in row] for row in symbolic.entries]
    at = {sym.symbol(name): value for name, value in point.items()}
    trig = (sym.sp.sin, sym.sp.cos, sym.sp.tan)
    if any(e.has(*trig) for row in exprs for e in row):
        degrees = sym.Evaluator(at, dtype)

        def in_degrees(e: Expr) -> Expr:
            for fn in trig:
                e = e.replace(fn, lambda u, fn=fn: fn(sym.sp.pi * u / 180))
            return e

        values = [[degrees.value(in_degrees(e))[0] for e in row] for row in exprs]
        found.append(("the derivative evaluated with the calculator in degrees", values))
    names = list(request.variables)
    if len(names) == 2 and point[names[0]] != point[names[1]]:
        swapped = dict(at)
        a, b = sym.symbol(names[0]), sym.symbol(names[1])
        swapped[a], swapped[b] = at[b], at[a]
        evaluator = sym.Evaluator(swapped, dtype)
        values = [[evaluator.value(e)[0] for e in row] for row in exprs]
        found.append((f"the derivative evaluated with {names[0]} and {names[1]} swapped", values))
    return found


def _all_finite(values: list[list[float]]) -> bool:
    return all(v is not None and math.isfinite(v) for row in values for v in row)
