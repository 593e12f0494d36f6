"""`gradcli expr`: the gradient, Jacobian or Hessian of typed formulas, three ways — and the
precise value where float64 fails.

* **symbolic** — SymPy differentiates the formula (:func:`sympy.diff`); the derivative is
  evaluated at the point with torch ops in the chosen dtype;
* **autograd** — the same parsed tree built from torch ops, differentiated by
  :mod:`torch.autograd.functional` (``jacobian``; ``hessian`` for order 2); formulas with a
  SymPy-only function (LambertW, Ei…) have no torch form and no autograd column;
* **numeric** — central differences of f (order 1) or of the autograd gradient (order 2);
* **precise** — f and each derivative evaluated with mpmath at 50 significant digits at the
  exact binary point (:mod:`gradcli.expr.precise`), confirmed by a high-precision difference
  quotient; a float column that differs from it by more than the tolerance gets no ✓, and the
  digits lost and their cause are said (:mod:`gradcli.expr.checking`).

Whether a derivative exists is decided by its value at the point, or — where a corner
function is met exactly at its jump, or the formula has no value there (sin(x)/x at 0) — by
its one-sided limits. An entry that does not exist is reported as such and left out of the
verdict; torch's value there is still shown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
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
from gradcli.expr import precise as mp
from gradcli.expr import symbolic as sym
from gradcli.expr.accuracy import Cause, explain
from gradcli.expr.checking import Review, review
from gradcli.expr.functions import FUNCTIONS
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
from gradcli.expr.stable import suggestions
from gradcli.expr.torchfn import SECOND_ORDER_STAND_INS, TorchFunction, has_torch_form, stacked
from gradcli.limits import require_entries
from gradcli.marking import mark
from gradcli.ops.activations import ACTIVATIONS
from gradcli.results.expr import ExprResult, Formula, PreciseColumn
from gradcli.results.grid import Grid, nested
from gradcli.settings import Settings, Tolerance
from gradcli.solution import Quantity, Solution

torch = load("torch")
Tensor = Any
Expr = Any

SYMBOLIC_SECONDS = 5.0  # differentiation and evaluation; beyond it the input is refused
PRECISE_SECONDS = 3.0  # the precise column; beyond it the column is left out (and said so)
SIMPLIFY_SECONDS = 5.0  # a safety net for tidying all shown derivatives (never reached in use)
SIMPLIFY_EACH = 2.0
PRINT_SECONDS = 2.0  # pretty-printing all formulas; beyond it they are shown on one line
PRETTY_OPS = 500  # a formula larger than this is shown on one line (the layout grows ~n³)
PRETTY_TOWER = 12  # nor one with powers nested deeper than this (x^x^…^x: each level re-lays)
TIDY_TOTAL_OPS = 1500  # beyond this size in all, derivatives are shown as differentiated
MAX_ENTRIES = 256  # m·n or n·n
MAX_PRINTED_DIGITS = 4000  # an exact constant longer than this is not printed (Python: 4,300)


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
    """One symbolic derivative entry at the point.

    ``value`` is the symbolic column (float; NaN or ∞ where the dtype fails although the
    derivative exists), ``precise`` its precise value; ``reason`` says why the derivative
    does not exist (None: it exists). ``by_limits``: settled from one-sided limits.
    """

    expr: Expr
    value: float | None
    reason: str | None = None
    precise: mp.Precise | None = None
    by_limits: bool = False
    sides: tuple[float, float] | None = None  # a corner's (left, right) one-sided derivatives

    @property
    def exists(self) -> bool:
        return self.reason is None


REASONS = {
    "infinite": "it is infinite or undefined (a division by zero, or the edge of a domain)",
    "corner": "the one-sided derivatives differ (a corner or tie of abs, min or max)",
    "jump": "the function jumps here (sign, acot at 0, atan2 across its cut, or a derivative with"
    " a jump)",
    "undecided": "its one-sided limits do not settle, so gradcli cannot decide",
    "first": "the first derivative it differentiates does not exist here",
}


def expr_derivatives(
    request: ExprRequest,
    settings: Settings,
    expected: dict[str, Expected] | None = None,
    *,
    simplify_seconds: float | None = None,
    precise: bool = True,
) -> ExprResult:
    """Differentiate the request's expressions three ways at its point, and precisely.

    ``expected`` maps the worked solution's keys (``f`` and ``grad``, ``jacobian`` or
    ``hessian``) to the user's answers, which are marked.

    ``simplify_seconds`` bounds the time spent making the shown derivatives tidier (0: show
    them as differentiated; default SIMPLIFY_SECONDS); the numbers never depend on it.
    ``precise`` False leaves the precise column out (for measuring its cost).
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
    try:
        with sym.time_limit(SYMBOLIC_SECONDS):
            sympy_functions = [sym.to_sympy(p.tree) for p in request.expressions]
    except sym.TimeUp:
        raise InputError(_too_slow()) from None
    _bound_constants(request, sympy_functions)
    torch_rows = [has_torch_form(p.tree) for p in request.expressions]
    functions = [
        TorchFunction(p.tree, variables, fixed)
        if torch_row
        else PreciseFunction(f, variables, fixed)
        for p, f, torch_row in zip(request.expressions, sympy_functions, torch_rows, strict=True)
    ]
    values = [float(f(x)) + 0.0 for f in functions]  # + 0.0: no "-0" for a value of 0
    at = {sym.symbol(name): value for name, value in point.items()}
    started = time.monotonic()
    value_precise = _precise_values(sympy_functions, at, precise)
    _require_finite(request, values, value_precise, point)

    try:
        with sym.time_limit(SYMBOLIC_SECONDS), mp.budget(PRECISE_SECONDS if precise else 0.0):
            symbolic = _symbolic(
                request, sympy_functions, at, values, value_precise, dtype, settings.tolerance,
                precise,
            )  # fmt: skip
    except sym.TimeUp:
        raise InputError(_too_slow()) from None
    _bound_constants(request, [e.expr for row in symbolic.entries for e in row])
    grid = symbolic.entries
    defined = [[entry.exists for entry in row] for row in grid]

    autograd = _autograd(request, functions, torch_rows, x, fixed, variables)
    numeric, trusted, straddles = None, None, []
    if settings.numeric:
        numeric = _numeric(functions, x, second, settings.tolerance, symbolic, at, variables)
        trusted, straddles = _trusted(request, variables, fixed, x, numeric, defined)

    check = _judge(grid, autograd, numeric, trusted, defined, settings.tolerance, torch_rows)
    reviews = _reviews(request, symbolic, check, torch_rows, at, settings, precise)
    check = _with_reviews(check, reviews)
    precise_time = time.monotonic() - started
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
    column = _precise_column(request, symbolic, reviews, values, value_precise, settings)
    notes, notes_ascii = (
        _notes(
            request,
            grid,
            names,
            point,
            straddles,
            check.notes,
            reviews,
            column,
            symbolic,
            at,
            settings.dtype.value,
        )
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
        precise=column,
        autograd_available=torch_rows,
        readings=[reading for p in request.expressions for reading in p.readings],
        flagged=_shaped([[r.flagged for r in row] for row in reviews], flat),
        precise_seconds=precise_time if precise else 0.0,
        steps=steps,
        graph=graph,
        solution=solution,
        marks=marks,
        show_steps=request.steps,
    )


def _too_slow() -> str:
    return (
        f"the symbolic derivative takes longer than {SYMBOLIC_SECONDS:g} s; simplify the "
        "expression or differentiate fewer variables"
    )


def _shaped(rows: list[list[Any]], flat: bool) -> list:
    return rows[0] if flat else rows


def point_text(point: dict[str, float]) -> str:
    return ", ".join(f"{name} = {value:g}" for name, value in point.items())


def _precise_values(functions: list[Expr], at: dict, enabled: bool) -> list[mp.Precise | None]:
    """f at the point to 50 digits (None where mpmath cannot, or in the time given)."""
    found: list[mp.Precise | None] = []
    for f in functions:
        try:
            with mp.budget(PRECISE_SECONDS if enabled else 0.0):
                found.append(mp.certified(f, at) if enabled else None)
        except mp.NotAvailable:
            found.append(None)
    return found


def _require_finite(
    request: ExprRequest,
    values: list[float],
    value_precise: list[mp.Precise | None],
    point: dict[str, float],
) -> None:
    """f must be a finite real number at the point: log(−1) or 1/0 is bad input. A value that
    only overflows the dtype (log(exp(x) + 1) at x = 800) is not: the precise one is used."""
    for parsed, value, exact in zip(request.expressions, values, value_precise, strict=True):
        if math.isfinite(value) or (exact is not None and exact.finite):
            continue
        what = "undefined (not a real number)" if math.isnan(value) else f"{value:g}"
        raise InputError(
            f"{shown(parsed.text)} is {what} at {point_text(point)}; the expression must "
            "have a finite value at the point"
        )


def _bound_constants(request: ExprRequest, exprs: list[Expr]) -> None:
    """No exact constant SymPy would print may pass Python's limit on int → text (4,300
    digits): x*exp(-10^5000) is refused (exit 2), not a crash."""
    for expr in exprs:
        for atom in expr.atoms(sym.sp.Rational):
            for part in (atom.p, atom.q):
                digits = abs(part).bit_length() * 0.30103
                if digits > MAX_PRINTED_DIGITS:
                    text = ", ".join(shown(p.text) for p in request.expressions)
                    raise InputError(
                        f"{text}: the formula or its derivative holds an exact constant of about "
                        f"{digits:,.0f} digits; the limit is {MAX_PRINTED_DIGITS:,} (write the "
                        "constant as a decimal, e.g. 1e300, or make it smaller)"
                    )


class PreciseFunction:
    """f for a formula torch has no form of (LambertW, Ei…): each value computed by mpmath
    at the point (exact binary inputs) and rounded to the input's dtype. Same interface as
    :class:`~gradcli.expr.torchfn.TorchFunction` (x of shape (..., n) → f of shape (...))."""

    DPS = 30

    def __init__(
        self, expr: Expr, variables: Sequence[str], fixed: dict[str, float], of: Expr = None
    ) -> None:
        self.exprs = [expr] if of is None else of
        self.symbols = [sym.symbol(v) for v in variables]
        self.fixed = {sym.symbol(k): v for k, v in fixed.items()}

    def __call__(self, x: Tensor) -> Tensor:
        rows = x.detach().double().reshape(-1, x.shape[-1]).tolist()
        out = []
        for row in rows:
            point = {**self.fixed, **dict(zip(self.symbols, row, strict=True))}
            values = []
            for expr in self.exprs:
                try:
                    values.append(mp.MpEvaluator(point, self.DPS).value(expr).as_float())
                except mp.NotAvailable:
                    values.append(math.nan)
            out.append(values)
        result = torch.tensor(out, dtype=x.dtype)
        shape = tuple(x.shape[:-1])
        return result.reshape(shape) if len(self.exprs) == 1 else result.reshape(*shape, -1)


# --- symbolic -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Symbolic:
    functions: list[Expr]
    entries: list[list[Entry]]  # rows × columns
    gradient: list[Entry]  # order 2: the first derivatives (for slips); else []
    plain: sym.Evaluator  # the float evaluation at the point (every sub-expression)
    value_precise: list[mp.Precise | None]  # f at the point, precisely

    def of(self, row: int) -> Expr:
        """What row ``row``'s entries differentiate: f_row, or ∂f/∂v_row for the Hessian."""
        return self.gradient[row].expr if self.gradient else self.functions[row]

    def of_precise(self, row: int) -> mp.Precise | None:
        return self.gradient[row].precise if self.gradient else self.value_precise[row]


def _symbolic(
    request: ExprRequest,
    functions: list[Expr],
    at: dict[Expr, float],
    values: list[float],
    value_precise: list[mp.Precise | None],
    dtype: Any,
    tolerance: Tolerance,
    precise: bool,
) -> Symbolic:
    symbols = [sym.symbol(v) for v in request.variables]
    plain = sym.Evaluator(at, dtype)
    settlers = [
        Settler(at, dtype, plain, tolerance, precise, _jumps_here(p.tree, at) if precise else ())
        for p in request.expressions
    ]
    if request.order == 1:
        rows = [
            [settle(_diff(f, s), f, s, value, exact) for s in symbols]
            for f, value, exact, settle in zip(
                functions, values, value_precise, settlers, strict=True
            )
        ]
        return Symbolic(functions, rows, [], plain, value_precise)
    settle = settlers[0]
    f = functions[0]
    gradient = [settle(_diff(f, s), f, s, values[0], value_precise[0]) for s in symbols]
    rows = []
    for first in gradient:
        if not first.exists:
            rows.append([Entry(_diff(first.expr, s), None, "first") for s in symbols])
            continue
        first_value = first.value if first.value is not None else math.nan
        rows.append(
            [settle(_diff(first.expr, s), first.expr, s, first_value, first.precise)
             for s in symbols]
        )  # fmt: skip
    return Symbolic(functions, rows, gradient, plain, value_precise)


def _jumps_here(tree: Node, at: dict) -> list[Expr]:
    """The arguments of functions whose value jumps (acot at 0…) that sit exactly on the
    jump at the point: there the derivative's existence is decided by one-sided limits."""
    found = []
    for node in walk(tree):
        if not isinstance(node, Call):
            continue
        for index, value in FUNCTIONS[node.name].jumps:
            u = sym.to_sympy(_minus(node.args[index], value))
            try:
                exact = mp.MpEvaluator(at, mp.DIGITS).value(u)
            except mp.NotAvailable:
                continue
            if exact.value is not None and exact.value == 0:
                found.append(u)
    return found


def _diff(expr: Expr, variable: Expr) -> Expr:
    return sym.real_forms(sym.sp.diff(expr, variable))


class Settler:
    """Decides whether a derivative entry exists at the point, and its value.

    With ``precise``: the derivative's value at 50 digits; where that meets a corner
    function exactly at its jump (or has no finite value), the one-sided limits of the
    derivative along the variable decide — equal and finite: it exists (their value); f
    jumps, they differ, or they are infinite: it does not. Without (or where mpmath cannot),
    the same decision from float evaluations.
    """

    def __init__(
        self,
        at: dict,
        dtype: Any,
        plain: sym.Evaluator,
        tolerance: Tolerance,
        precise: bool = False,
        jumps: Sequence[Expr] = (),
    ) -> None:
        self.at, self.dtype, self.plain, self.tolerance = at, dtype, plain, tolerance
        self.precise = precise
        self.jumps = jumps  # sub-expressions exactly at a jump of acot/atan2 here

    def __call__(
        self,
        derivative: Expr,
        of: Expr,
        variable: Expr,
        of_value: float,
        of_precise: mp.Precise | None = None,
    ) -> Entry:
        """``derivative`` = ∂(of)/∂variable; ``of_value`` is ``of`` at the point."""
        value, hit = self.plain.value(derivative)
        if self.precise:
            try:
                return self._precise(derivative, of, variable, value, of_precise)
            except mp.NotAvailable:
                pass
        return self._float(derivative, of, variable, of_value, value, hit)

    def _precise(
        self,
        derivative: Expr,
        of: Expr,
        variable: Expr,
        value: float,
        of_precise: mp.Precise | None,
    ) -> Entry:
        exact = mp.certified(derivative, self.at)
        on_jump = any(variable in u.free_symbols for u in self.jumps)
        if not exact.hit and exact.finite and not on_jump:
            return Entry(derivative, value, precise=exact)
        if of_precise is None or not of_precise.finite:
            of_precise = mp.certified(of, self.at)
        of_sides = mp.one_sided(of, self.at, variable)
        # a side with no real values is the edge of the domain (sqrt at 0), not a jump
        if not all(side is None or mp.same(side, of_precise.value) for side in of_sides):
            return Entry(derivative, None, "jump")
        right, left = mp.one_sided(derivative, self.at, variable)
        if not all(side is not None and mp.mpmath.isfinite(side) for side in (right, left)):
            # no finite limits of the formula: the difference quotients of f itself decide
            # (the definition; lowergamma(s, x) at x = 0 is 0 for every s, though SymPy's
            # ∂/∂s holds log(x))
            quotients = mp.quotient_limits(of, self.at, variable)
            if any(side is not None for side in quotients):
                right, left = quotients
            elif right is None and left is None:
                return Entry(derivative, None, "undecided")
        if right is None or left is None or not all(map(mp.mpmath.isfinite, (right, left))):
            return Entry(derivative, None, "infinite")
        if not mp.same(right, left):
            sides = (float(left), float(right))
            return Entry(derivative, None, "corner", sides=sides)
        with mp.mpmath.workdps(mp.DIGITS + mp.GUARD):
            limit = mp.Precise((right + left) / 2)
        return Entry(derivative, limit.as_float() + 0.0, precise=limit, by_limits=True)

    def _float(
        self, derivative: Expr, of: Expr, variable: Expr, of_value: float, value: float, hit: bool
    ) -> Entry:
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
            return Entry(derivative, None, "corner", sides=(left, right))
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


def _autograd(
    request: ExprRequest,
    functions: list[Any],
    torch_rows: list[bool],
    x: Tensor,
    fixed: dict[str, float],
    variables: list[str],
) -> Tensor:
    """torch's derivatives; NaN rows for formulas torch has no form of."""
    n = len(variables)
    if request.order == 2:
        if not torch_rows[0]:
            return torch.full((n, n), math.nan, dtype=x.dtype)
        hessian_function = TorchFunction(request.expressions[0].tree, variables, fixed, True)
        return torch.autograd.functional.hessian(hessian_function, x)
    # one graph per expression: in a stacked one, 0·∞ from another row would leak NaN in
    return torch.stack(
        [
            torch.autograd.functional.jacobian(f, x)
            if torch_row
            else torch.full((n,), math.nan, dtype=x.dtype)
            for f, torch_row in zip(functions, torch_rows, strict=True)
        ]
    )


def _numeric(
    functions: list[Any],
    x: Tensor,
    second: bool,
    tolerance: Tolerance,
    symbolic: Symbolic,
    at: dict,
    variables: list[str],
) -> NumericEstimate:
    """Central differences with error estimates (the engine's): of f for order 1, of
    autograd's gradient for order 2 (of SymPy's gradient, evaluated by mpmath, where torch
    has no form)."""
    if not second:
        return numeric_jacobian(stacked(functions), x, tolerance)
    f = functions[0]
    if isinstance(f, PreciseFunction):
        fixed = {str(k): v for k, v in at.items() if str(k) not in variables}
        gradient = PreciseFunction(None, variables, fixed, of=[e.expr for e in symbolic.gradient])
        return numeric_jacobian(gradient, x, tolerance)

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
    """Where the call has a kink, pole, jump or domain edge: ties of min/max, and the
    points the function table marks for each argument."""
    name, args = node.name, node.args
    if name in ("min", "max"):
        return [(Sum((a, Neg(b))), name) for k, a in enumerate(args) for b in args[k + 1 :]]
    if FUNCTIONS[name].kind == "activation":
        activation = ACTIVATIONS[name]
        params = {p.name: p.default for p in activation.params}
        kinks = {*activation.kinks(params), *CURVATURE_KINKS.get(name, ())}
        return [(_minus(args[0], kink), name) for kink in sorted(kinks)]
    return [(_minus(args[index], value), name) for index, value in FUNCTIONS[name].breaks]


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
    torch_rows: list[bool],
):
    """The engine's verdict on the float columns; entries that do not exist are shown, not
    judged, and their analytic value, difference and verdict are None. Rows torch has no
    form of are judged on symbolic vs numeric (their autograd column stays empty)."""
    mask = torch.tensor(defined, dtype=torch.bool)
    analytic = torch.tensor(
        [[math.nan if e.value is None else e.value + 0.0 for e in row] for row in grid],
        dtype=torch.float64,
    )
    autograd = autograd.double()
    missing = [i for i, has in enumerate(torch_rows) if not has]
    compared = autograd.clone()
    if missing:
        rows = missing if len(torch_rows) == len(grid) else list(range(len(grid)))
        compared[rows] = analytic[rows]  # only symbolic vs numeric counts there
    check = judge(analytic, compared, numeric, tolerance, trusted, defined=mask)

    def blank(values: Grid, keep: list[list[bool]] = defined) -> Grid:
        rows = nested(values)
        kept = [
            [v if ok else None for v, ok in zip(row, mrow, strict=True)]
            for row, mrow in zip(rows, keep, strict=True)
        ]
        return Grid.of(kept, values.data.typecode)

    available = [[bool(torch_rows[i if len(torch_rows) == len(grid) else 0])] * len(row)
                 for i, row in enumerate(grid)]  # fmt: skip
    return replace(
        check,
        analytic=blank(check.analytic),
        autograd=blank(Grid.of(autograd.tolist(), "d"), available),
        abs_diff=blank(check.abs_diff),
        ok=blank(check.ok),
    )


# --- the precise column ---------------------------------------------------------------------


def _reviews(
    request: ExprRequest,
    symbolic: Symbolic,
    check: Any,
    torch_rows: list[bool],
    at: dict,
    settings: Settings,
    enabled: bool,
) -> list[list[Review]]:
    """Each entry measured against its precise value (empty reviews when disabled, or past
    the precise column's time)."""
    grid = symbolic.entries
    if not enabled:
        return [[Review() for _ in row] for row in grid]
    analytic, autograd = nested(check.analytic), nested(check.autograd)
    numeric = nested(check.numeric) if check.numeric is not None else None
    usable = nested(check.trusted) if check.trusted is not None else None
    dtype = settings.dtype.value
    symbols = [sym.symbol(v) for v in request.variables]
    forward: dict[int, list[Cause]] = {}
    reviewed = []
    try:
        with mp.budget(PRECISE_SECONDS):
            for i, row in enumerate(grid):
                has_torch = torch_rows[i if len(torch_rows) == len(grid) else 0]
                of = symbolic.of(i)
                of_precise = symbolic.of_precise(i)
                reviewed_row = []
                for j, entry in enumerate(row):
                    n_value = numeric[i][j] if numeric is not None else None
                    reviewed_row.append(
                        review(
                            precise=entry.precise,
                            exists=entry.exists,
                            by_limits=entry.by_limits,
                            analytic=_number(analytic[i][j]),
                            autograd=_number(autograd[i][j]) if has_torch else None,
                            numeric=n_value if usable is not None and usable[i][j] else None,
                            of=of,
                            of_precise=of_precise,
                            at=at,
                            variable=symbols[j],
                            tolerance=settings.tolerance,
                            dtype=dtype,
                            explain_analytic=lambda e=entry: explain(
                                e.expr, symbolic.plain, at, dtype
                            ),
                            explain_autograd=lambda i=i: _forward_causes(
                                symbolic, i, at, dtype, forward
                            ),
                        )
                    )
                reviewed.append(reviewed_row)
    except mp.NotAvailable:
        return [[Review() for _ in row] for row in grid]
    return reviewed


def _number(value: float | None) -> float:
    return math.nan if value is None else value


def _forward_causes(
    symbolic: Symbolic, row: int, at: dict, dtype: str, found: dict[int, list[Cause]]
) -> list[Cause]:
    """Where f itself (torch's forward pass, as SymPy writes it) loses digits."""
    if row not in found:
        f = symbolic.functions[0 if symbolic.gradient else row]
        symbolic.plain.value(f)
        found[row] = explain(f, symbolic.plain, at, dtype)
    return found[row]


def _with_reviews(check: Any, reviews: list[list[Review]]) -> Any:
    """The verdict with the precise column's: an entry it settles is judged by it; a
    finite difference it shows to be off is left out (shown ~)."""
    ok, trusted = nested(check.ok), nested(check.trusted) if check.trusted is not None else None
    diff, analytic, autograd = (
        nested(check.abs_diff),
        nested(check.analytic),
        nested(check.autograd),
    )
    changed = False
    for i, row in enumerate(reviews):
        for j, entry_review in enumerate(row):
            if entry_review.verdict is None:
                continue
            if ok[i][j] != entry_review.verdict:
                ok[i][j], changed = entry_review.verdict, True
            if trusted is not None and "numeric" in entry_review.off and trusted[i][j]:
                trusted[i][j], changed = False, True
                # the |diff| the verdict looks at no longer includes the finite difference
                diff[i][j] = abs(analytic[i][j] - autograd[i][j])
    if not changed:
        return check
    flat_ok = [v for row in ok for v in row if v is not None]
    flat_diff = [v for row in diff for v in row if v is not None and not math.isnan(v)]
    return replace(
        check,
        ok=Grid.of(ok, check.ok.data.typecode),
        trusted=None if trusted is None else Grid.of(trusted, check.trusted.data.typecode),
        abs_diff=Grid.of(diff, check.abs_diff.data.typecode),
        max_abs_diff=max(flat_diff, default=0.0),
        agree=all(flat_ok),
    )


def _precise_column(
    request: ExprRequest,
    symbolic: Symbolic,
    reviews: list[list[Review]],
    values: list[float],
    value_precise: list[mp.Precise | None],
    settings: Settings,
) -> PreciseColumn | None:
    """What the result shows of the precise values (None when none was computed)."""
    if all(v is None for v in value_precise) and not any(r.precise for row in reviews for r in row):
        return None
    from gradcli.expr.accuracy import digits_lost

    dtype = settings.dtype.value
    flat = request.kind == "gradient"

    def each(fn: Callable[[Review], Any]) -> list:
        return _shaped([[fn(r) for r in row] for row in reviews], flat)

    value_lost = [
        None if exact is None else digits_lost(v, exact, dtype)
        for v, exact in zip(values, value_precise, strict=True)
    ]
    value_off = [
        exact is not None
        and exact.finite
        and not (math.isfinite(v) and abs(v - exact.as_float()) <= settings.tolerance.bound(
            exact.as_float()))
        for v, exact in zip(values, value_precise, strict=True)
    ]  # fmt: skip
    off = each(lambda r: bool(r.off))
    flat_off = off if flat else [v for row in off for v in row]
    return PreciseColumn(
        digits=mp.DIGITS,
        value=[None if e is None or not e.finite else e.as_float() for e in value_precise],
        value_text=[None if e is None else e.text() for e in value_precise],
        derivative=each(lambda r: r.precise.as_float() if r.precise and r.precise.finite else None),
        derivative_text=each(lambda r: r.precise.text() if r.precise else None),
        digits_lost=each(lambda r: r.digits_lost),
        value_digits_lost=value_lost,
        confirmed=each(lambda r: r.confirmed),
        off=off,
        value_off=value_off,
        shown=any(flat_off) or any(value_off),
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


class _Printer:
    """Formulas in every form, SymPy's pretty printer within a time budget: past it (a
    power tower x^x^…^x is slow to lay out) the formulas are shown on one line."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def formula(self, labels: tuple[str, str, str], expr: Expr) -> Formula:
        label, label_ascii, label_latex = labels
        text = sym.text(expr)
        pretty = self.pretty(label, label_ascii, expr)
        unicode, ascii_ = pretty or (f"{label} = {text}", f"{label_ascii} = {text}")
        return Formula(
            label=label,
            label_ascii=label_ascii,
            label_latex=label_latex,
            text=text,
            unicode=unicode,
            ascii=ascii_,
            latex=self.latex(expr, text),
        )

    def pretty(self, label: str, label_ascii: str, expr: Expr) -> tuple[str, str] | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or _tower(expr) > PRETTY_TOWER or sym.sp.count_ops(expr) > PRETTY_OPS:
            return None
        try:
            with sym.time_limit(remaining):
                return sym.equation(label, expr, True), sym.equation(label_ascii, expr, False)
        except sym.TimeUp:
            self.deadline = 0.0
            return None

    def latex(self, expr: Expr, text: str) -> str:
        remaining = self.deadline - time.monotonic()
        if remaining > 0:
            try:
                with sym.time_limit(remaining):
                    return sym.latex(expr)
            except sym.TimeUp:
                self.deadline = 0.0
        return rf"\text{{{text}}}"


def _tower(expr: Expr) -> int:
    """How deeply powers nest in ``expr`` (x^x^x: 2)."""
    depth: dict[Expr, int] = {}
    for node in sym.sp.postorder_traversal(expr):
        below = max((depth.get(arg, 0) for arg in node.args), default=0)
        depth[node] = below + (1 if node.is_Pow and not node.exp.is_Number else 0)
    return depth.get(expr, 0)


def _display(
    request: ExprRequest, functions: list[Expr], grid: list[list[Entry]], budget: float
) -> Display:
    """Formulas for the table and LaTeX: f, and each entry simplified when that is cheap."""
    printer = _Printer(PRINT_SECONDS)
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
        printer.formula(
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
            formulas.append(printer.formula(labels, exprs[-1]))
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
    reviews: list[list[Review]],
    column: PreciseColumn | None,
    symbolic: Symbolic,
    at: dict,
    dtype: str,
) -> list[str]:
    notes = _torchless_notes(request)
    by_reason: dict[str, list[str]] = {}
    for i, row in enumerate(grid):
        for j, entry in enumerate(row):
            if not entry.exists:
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
    notes += _precise_notes(request, names, reviews, column, symbolic, at, dtype)
    notes += list(engine_notes)
    return notes


def _torchless_notes(request: ExprRequest) -> list[str]:
    notes = []
    for parsed in request.expressions:
        names = sorted(
            {n.name for n in walk(parsed.tree) if isinstance(n, Call)}
            - {name for name, f in FUNCTIONS.items() if f.has_torch_form}
        )
        if names:
            notes.append(
                f"{shown(parsed.text)} uses {', '.join(names)}, which torch has no form of: no "
                "autograd column; the verdict compares the symbolic column with the finite "
                "differences (of f computed by mpmath) and the precise value."
            )
    return notes


def _precise_notes(
    request: ExprRequest,
    names: list[list[str]],
    reviews: list[list[Review]],
    column: PreciseColumn | None,
    symbolic: Symbolic,
    at: dict,
    dtype: str,
) -> list[str]:
    """What the precise column found: float values that are off, and why."""
    if column is None:
        return []
    dtype_digits = "16" if dtype == "float64" else "7"
    notes = []
    several = len(request.expressions) > 1
    for i, (off, exact) in enumerate(zip(column.value_off, symbolic.value_precise, strict=True)):
        if off and exact is not None:
            label = f"f{i + 1}" if several else "f"
            causes = _forward_causes(symbolic, i, at, dtype, {})
            value, _ = symbolic.plain.value(symbolic.functions[i])
            notes.append(
                f"{label}: {dtype} gives {value:g}, the precise value is {exact.text(12)}"
                f"{_because(causes)}."
            )
    for i, row in enumerate(reviews):
        for j, entry in enumerate(row):
            notes += _entry_notes(names[i][j], entry, dtype, dtype_digits)
    if any(r.off for row in reviews for r in row) or any(column.value_off):
        forms = [line for p in request.expressions for line in suggestions(p.tree)]
        if forms:
            notes.append(f"A stable form, exact where float64 overflows or cancels: "
                         f"{'; '.join(forms)}.")  # fmt: skip
    return notes


def _because(causes: list[Cause]) -> str:
    return f" — {'; then '.join(c.sentence() for c in causes)}" if causes else ""


def _entry_notes(label: str, entry: Review, dtype: str, dtype_digits: str) -> list[str]:
    notes = []
    if entry.confirmed is False:
        notes.append(
            f"{label}: SymPy's derivative {entry.precise.text(12)} differs from a "  # type: ignore[union-attr]
            f"high-precision difference quotient of f ({entry.witness}): a bug in gradcli; "
            "please report it."
        )
    columns = [c for c in ("symbolic", "autograd") if c in entry.off]
    if columns:
        which = " and ".join(columns)
        verb = "loses" if len(columns) == 1 else "lose"
        causes = [cause for c in columns for cause in entry.causes.get(c, [])]
        unique = list({cause.sentence(): cause for cause in causes}.values())
        lost = entry.digits_lost
        amount = f"{lost} of {dtype_digits} digits" if lost is not None else "its digits"
        if entry.verdict:
            notes.append(
                f"{label}: the {which} column{'s' if len(columns) > 1 else ''} {verb} {amount} "
                f"here{_because(unique)}. The precise value {entry.precise.text(12)} is the "  # type: ignore[union-attr]
                "derivative (marked !)."
            )
        else:
            notes.append(
                f"{label}: the {which} column{'s' if len(columns) > 1 else ''} differ"
                f"{'s' if len(columns) == 1 else ''} from the precise value "
                f"{entry.precise.text(12)} and gradcli finds no rounding to explain it."  # type: ignore[union-attr]
            )
    if "within" in entry.causes and entry.digits_lost is not None:
        kept = int(dtype_digits) - entry.digits_lost
        notes.append(
            f"{label}: {dtype} keeps only {kept} of {dtype_digits} digits here"
            f"{_because(entry.causes['within'])}; the tolerance still holds."
        )
    if "numeric" in entry.off:
        notes.append(
            f"{label}: the finite difference is off from the precise value "
            f"{entry.precise.text(12)}: differences in float64 lose digits here (left out of the "  # type: ignore[union-attr]
            "verdict, shown ~)."
        )
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
    missing = [e for row in grid for e in row if not e.exists and e.sides is None]
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
    precise = [
        exact.as_float() + 0.0 if exact is not None and exact.finite else value
        for value, exact in zip(values, symbolic.value_precise, strict=True)
    ]  # judged against the precise value where known, as the derivative is
    f = Quantity(
        "f",
        "f",
        "; ".join(f"{form.label} = {_one_line(form)}" for form in display.functions),
        precise,
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
        [_truth(e) if e.sides is None else t for e, t in zip(row, trow, strict=True)]
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


def _truth(entry: Entry) -> float:
    """The entry's true value: the precise one (rounded) where known, else the symbolic one:
    --expect is judged against it, never against float64 digits that are off."""
    if entry.precise is not None and entry.precise.finite:
        return entry.precise.as_float() + 0.0
    return math.nan if entry.value is None else entry.value


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
        if entry.precise is not None:  # float64 beside y/(1 − eʸ) at 1e-6 is noise, not a kink
            try:
                exact = mp.certified(entry.expr, at)
            except mp.NotAvailable:
                pass
            else:
                return exact.as_float() if exact.finite and not exact.hit else None
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
    grid = [[_truth(e) for e in row] for row in symbolic.entries]
    n = len(request.variables)
    found: list[tuple[str, list[list[float]]]] = []
    if request.order == 1:
        found.append(("f itself, not its derivative", [[v] * n for v in values]))
    elif n == 1 and symbolic.gradient[0].exists:
        found.append(("the first derivative, not the second", [[_truth(symbolic.gradient[0])]]))
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
