"""The safe parser of ``gradcli expr``: formula text → a small immutable tree.

Reading happens in two stages:

1. :mod:`gradcli.expr.notation` reads the notation textbooks use (``2x``, ``sin^2(x)``,
   ``|x|``, ``x²``, ``√x``, ``σ``, ``log_2(x)``…) and writes the explicit formula in Python's
   expression syntax, keeping the text column of every character;
2. :func:`ast.parse` in ``mode="eval"`` parses that code, and only a whitelist of node types
   becomes part of the tree: numbers, names, ``+ - * / **``, unary minus and calls of the
   functions in :data:`FUNCTIONS` with positional arguments. Everything else — attributes,
   subscripts, lambdas, comprehensions, strings, keyword arguments, dunder names — is an
   :class:`~gradcli.errors.InputError` naming the construct and its column.

Nothing here evaluates user text, and nothing imports torch or SymPy.

The work is bounded before any algebra system sees the tree: the text length, the nesting
depth, the number of nodes, every constant exponent (``x**10**10`` is refused at once), and
the digits of any exact constant SymPy would build (``9**9**9`` never reaches it; nor does a
constant too long for Python to print, such as ``10^5000``).

The tree (:data:`Node`) is what every later stage walks — the SymPy builder, the torch
builder, the precise evaluator and any derivation shown step by step: eight frozen node
types, each documented below, with :func:`children` and :func:`walk` to traverse them and
:func:`to_text` to print one back in the language's own notation.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gradcli.errors import InputError, shown
from gradcli.expr.functions import ALIASES, FUNCTIONS, MATHS, Function, canonical, known_names
from gradcli.expr.notation import LAMBDA, Problem, Reading, read, tokenize, variable_name

__all__ = ["ALIASES", "FUNCTIONS", "MATHS", "Function", "variable_name"]

MAX_LENGTH = 2000  # characters of one expression
MAX_DEPTH = 100  # nesting of the tree (a long sum x + x + … counts as one level)
MAX_NODES = 1000
MAX_EXPONENT = 10_000  # |a constant exponent|
# decimal digits of an exact integer or fraction built from constants: below Python's
# 4,300-digit limit on converting an int to text, so SymPy can always print what it builds
MAX_DIGITS = 4_000
MAX_LITERAL = 1e300  # |a number as written|
MAX_NAME = 32  # characters of a variable name
MAX_VARIABLES = 16
MAX_POLYGAMMA_ORDER = 100

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
NOT_A_NUMBER = ("inf", "infinity", "nan", "oo")  # refused, whatever the case

_Problem = Problem  # the name the walk below uses


# --- the tree ----------------------------------------------------------------------------
#
# Eight frozen node types. A formula is one of them; the whole tree is immutable, hashable
# and compares by value, so two parses of the same formula are equal (``parse("2x").tree ==
# parse("2*x").tree``). Later stages dispatch on the type:
#
#   Num(2), Num(0.5)            a number as written
#   Const("pi"), Const("e")     the two constants
#   Var("x"), Var("sigma")      a variable (Greek letters spelled out: σ is Var("sigma"))
#   Neg(u)                      −u
#   Sum((a, Neg(b), c))         a − b + c: the terms in order, subtractions as Neg
#   Product((a, b), (c,))       a·b / c: the factors, then the divisors, each in order
#   Power(base, exponent)       base^exponent (e^x is Power(Const("e"), Var("x")))
#   Call("asin", (u,))          a function by its canonical name (arcsin, sin^-1 → asin;
#                               ln → log; log_2(x) → Call("log", (x, Num(2))))


@dataclass(frozen=True)
class Num:
    """A number as written: ``int`` for whole numbers, ``float`` otherwise."""

    value: int | float


@dataclass(frozen=True)
class Const:
    """``pi`` or ``e``."""

    name: str


@dataclass(frozen=True)
class Var:
    """A variable, by the name the user gives its value with (``--at x=1``)."""

    name: str


@dataclass(frozen=True)
class Neg:
    """−operand."""

    operand: Node


@dataclass(frozen=True)
class Sum:
    """``a + b - c`` (subtracted terms are wrapped in :class:`Neg`)."""

    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Product:
    """``a * b / c``: the factors over the divisors."""

    factors: tuple[Node, ...]
    divisors: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Power:
    """base^exponent."""

    base: Node
    exponent: Node


@dataclass(frozen=True)
class Call:
    """A function of :data:`FUNCTIONS` by its canonical name, with its arguments."""

    name: str
    args: tuple[Node, ...]


Node = Num | Const | Var | Neg | Sum | Product | Power | Call


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-trees of ``node``."""
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, Sum):
        return node.terms
    if isinstance(node, Product):
        return node.factors + node.divisors
    if isinstance(node, Power):
        return (node.base, node.exponent)
    if isinstance(node, Call):
        return node.args
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


# --- printing a tree back -------------------------------------------------------------------

_PRECEDENCE = {Sum: 1, Neg: 2, Product: 3, Power: 5}  # atoms and calls: 9


def _precedence(node: Node) -> int:
    return _PRECEDENCE.get(type(node), 9)


def to_text(node: Node) -> str:
    """The formula in the language's explicit notation (``2*x^2 - sin(x)``), with the
    fewest parentheses that parse back to the same tree."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, (Const, Var)):
        return node.name
    if isinstance(node, Neg):  # binds tighter than * and looser than ^: −x^2, −(2*x)
        return "-" + _wrapped(node.operand, _precedence(node.operand) < 5)
    if isinstance(node, Sum):
        return _sum_text(node)
    if isinstance(node, Product):
        text = "*".join(_factor(f, k == 0) for k, f in enumerate(node.factors))
        for divisor in node.divisors:
            text += "/" + _wrapped(divisor, _precedence(divisor) <= 5)
        return text
    if isinstance(node, Power):
        base = _wrapped(node.base, _precedence(node.base) <= 5)
        exponent = node.exponent
        if isinstance(exponent, Neg):
            return f"{base}^{to_text(exponent)}"  # x^-y, x^-(a + b)
        return f"{base}^{_wrapped(exponent, _precedence(exponent) < 5)}"  # x^y^z: right first
    return f"{node.name}({', '.join(to_text(arg) for arg in node.args)})"


def _wrapped(node: Node, parenthesise: bool) -> str:
    text = to_text(node)
    return f"({text})" if parenthesise else text


def _sum_text(node: Sum) -> str:
    parts = [_wrapped(node.terms[0], isinstance(node.terms[0], Sum))]
    for term in node.terms[1:]:
        if isinstance(term, Neg):  # a − b·c; a − (b + c) and a − (−b) keep theirs
            parts.append(" - " + _wrapped(term.operand, _precedence(term.operand) <= 2))
        else:
            text = to_text(term)
            parts.append(" + " + (f"({text})" if isinstance(term, Sum) or text[0] == "-" else text))
    return "".join(parts)


def _factor(node: Node, first: bool) -> str:
    """A factor of a product: sums and products in parentheses, and a negative one after
    the first."""
    text = to_text(node)
    if isinstance(node, (Sum, Product)) or (not first and text.startswith("-")):
        return f"({text})"
    return text


# --- syntax errors, explained ------------------------------------------------------------

_CODE_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>\*\*|//|\S))"
)
_OPEN_ENDED = ("+", "-", "*", "/", "**", "(", ",", ".")


def _code_tokens(code: str) -> list[tuple[str, str, int, int]]:
    """(kind, text, start, end) of each token of the code: kind is num, name or op."""
    found, pos = [], 0
    while pos < len(code):
        match = _CODE_TOKEN.match(code, pos)
        if match is None or match.end() == pos:
            break
        kind = match.lastgroup or "op"
        found.append((kind, match.group(kind), match.start(kind), match.end(kind)))
        pos = match.end()
    return found


def _paren_problem(reading: Reading) -> Problem | None:
    depth, opened = 0, []
    pairs = {")": "(", "]": "[", "}": "{"}
    for i, char in enumerate(reading.code):
        if char in "([{":
            opened.append(i)
            depth = max(depth, len(opened))
            if depth > MAX_DEPTH:
                return Problem(f"parentheses are nested more than {MAX_DEPTH} deep", None)
        elif char in pairs:
            if not opened:
                return Problem(f"unmatched '{char}'", reading.column(i))
            opened.pop()
    if opened:
        return Problem(f"'{reading.code[opened[-1]]}' is never closed", reading.column(opened[-1]))
    return None


def _explain_syntax_error(reading: Reading, error: SyntaxError) -> Problem:
    problem = _paren_problem(reading)
    if problem is not None:
        return problem
    code = reading.code
    if "=" in code and "==" not in code:
        return Problem(
            "'=' is not allowed: write the expression only, and give values with --at NAME=VALUE",
            reading.column(code.index("=")),
        )
    if "!" in code:
        return Problem("'!' is not allowed; for a factorial write gamma(x + 1)",
                       reading.column(code.index("!")))  # fmt: skip
    tokens = _code_tokens(code)
    offset = (error.offset or 0) - 1
    if offset < 0 or offset >= len(code.rstrip()) or (tokens and tokens[-1][1] in _OPEN_ENDED):
        last = tokens[-1] if tokens else ("op", "", 0, 0)
        start, end = reading.span(last[2], last[3])
        return Problem(
            f"the expression ends too early, after {shown(reading.text[start:end])}", start + 1
        )
    start = reading.span(offset, offset + 1)[0]
    near = [token for token in tokenize_safely(reading.text[start:])]
    return Problem(f"syntax error at {shown(near[0] if near else reading.text[start])}", start + 1)


def tokenize_safely(text: str) -> list[str]:
    """The tokens of (the rest of) a text as typed, for a message; none if it cannot."""
    try:
        return [token.text for token in tokenize(text)]
    except Problem:
        return []


# --- the walk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fold:
    """What is known of a constant sub-tree before anything computes it.

    ``value`` is its float value (None when too large for a float, or not computed here, as
    for an activation); ``digits`` bounds the decimal digits of the exact integer or fraction
    SymPy would build (``exact`` sub-trees only: integers combined by + − * /, whole powers,
    abs, min, max, Γ of a whole number and activations of exact values).
    """

    value: float | None
    digits: float
    exact: bool
    bound: float | None = None  # |value| ≤ bound when the value itself is not known

    @property
    def magnitude(self) -> float | None:
        """An upper bound on |value|, or None when none is known (too large or unknown)."""
        return abs(self.value) if self.value is not None else self.bound


class _Undefined(Exception):
    """A constant part with no real value (log(0), 1/0, sqrt(-1), (-8)^(1/3))."""


def _float(compute: Callable[[], float]) -> float | None:
    """The float value of a constant part; None when too large for a float."""
    try:
        value = compute()
    except OverflowError:
        return None
    except (ZeroDivisionError, ValueError):
        raise _Undefined from None
    except TypeError:
        return None
    if isinstance(value, complex):
        raise _Undefined
    if not math.isfinite(value) or abs(value) > MAX_LITERAL:
        return None
    return float(value)


_NAMED_CONSTRUCTS: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Set: "set",
    ast.Dict: "dictionary",
    ast.JoinedStr: "f-string",
    ast.Compare: "comparison",
    ast.BoolOp: "boolean operator",
    ast.IfExp: "conditional expression",
    ast.NamedExpr: "assignment expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Starred: "'*' unpacking",
    ast.Slice: "slice",
}
_OPERATOR_NAMES: dict[type, str] = {
    ast.Mod: "'%'",
    ast.FloorDiv: "'//' (floor division)",
    ast.MatMult: "'@'",
    ast.LShift: "'<<'",
    ast.RShift: "'>>'",
    ast.BitOr: "'|' (for an absolute value write abs(x))",
    ast.BitAnd: "'&'",
    ast.BitXor: "'^'",
    ast.Not: "'not'",
    ast.Invert: "'~'",
}


class _Walker:
    """Turns a whitelisted Python AST into the tree, bounding the work as it goes."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        self.nodes = 0

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Offsets in the text of an AST node (the code is ASCII: bytes = characters)."""
        start = node.col_offset  # type: ignore[attr-defined]
        end = node.end_col_offset  # type: ignore[attr-defined]
        return self.reading.span(start, end)

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.reading.text[start:end]

    def problem(self, message: str, node: ast.AST) -> _Problem:
        return _Problem(message, self.span(node)[0] + 1)

    def walk(self, node: ast.AST, depth: int) -> tuple[Node, _Fold | None]:
        try:
            return self._walk(node, depth)
        except _Undefined:
            raise self.problem(
                f"the constant {shown(self.segment(node))} has no real value", node
            ) from None

    def _walk(self, node: ast.AST, depth: int) -> tuple[Node, _Fold | None]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Problem(f"the expression has more than {MAX_NODES} parts (the limit)")
        if depth > MAX_DEPTH:
            raise self.problem(f"the expression is nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.Add, ast.Sub)):
                return self.sum(node, depth)
            if isinstance(node.op, (ast.Mult, ast.Div)):
                return self.product(node, depth)
            if isinstance(node.op, ast.Pow):
                return self.power(node, depth)
            operator = _OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)
            raise self.problem(f"the operator {operator} is not allowed", node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        what = _NAMED_CONSTRUCTS.get(type(node), type(node).__name__)
        advice = ""
        if isinstance(node, ast.Tuple):
            advice = "; give several expressions as separate arguments"
        raise self.problem(f"{what} {shown(self.segment(node))} is not allowed{advice}", node)

    # leaves

    def constant(self, node: ast.Constant) -> tuple[Node, _Fold]:
        value, written = node.value, self.segment(node)
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.problem(f"{shown(written)} is not allowed", node)
        if isinstance(value, (str, bytes)):
            raise self.problem("strings are not allowed", node)
        if isinstance(value, complex):
            raise self.problem(f"complex numbers are not allowed ({shown(written)})", node)
        if "_" in written or written[:2].lower() in ("0x", "0o", "0b"):
            raise self.problem(f"{shown(written)}: write numbers in plain decimal digits", node)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.problem(f"the number {shown(written)} is too large", node)
        if abs(value) > MAX_LITERAL:
            raise self.problem(f"the number {shown(written)} is too large (limit 1e300)", node)
        if isinstance(value, int):
            return Num(value), _Fold(float(value), len(str(abs(value))), True)
        return Num(float(value)), _Fold(float(value), 0.0, False)

    def name(self, node: ast.Name) -> tuple[Node, _Fold | None]:
        name = node.id
        if name == LAMBDA:
            return Var("lambda"), None
        spec = FUNCTIONS.get(canonical(name) or "")
        if spec is not None and not spec.variable:
            raise self.problem(f"'{name}' is a function: call it, as in {name}(x)", node)
        if name in CONSTANTS:
            return Const(name), _Fold(CONSTANTS[name], 0.0, False)
        if name.lower() in NOT_A_NUMBER:
            raise self.problem(f"'{name}': infinite and NaN values are not allowed", node)
        if name.startswith("_"):
            raise self.problem(f"names starting with '_' are not allowed ({shown(name)})", node)
        if len(name) > MAX_NAME:
            raise self.problem(f"the name {shown(name)} is longer than {MAX_NAME} characters", node)
        return Var(name), None

    # operators

    def unary(self, node: ast.UnaryOp, depth: int) -> tuple[Node, _Fold | None]:
        negate = False
        while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            negate ^= isinstance(node.op, ast.USub)
            node = node.operand  # type: ignore[assignment]
        if isinstance(node, ast.UnaryOp):
            operator = _OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)
            raise self.problem(f"the operator {operator} is not allowed", node)
        operand, fold = self.walk(node, depth + 1)
        if not negate:
            return operand, fold
        negated = _fold_map(fold, lambda v: -v)
        return Neg(operand), negated

    def sum(self, node: ast.BinOp, depth: int) -> tuple[Node, _Fold | None]:
        pieces: list[tuple[bool, ast.AST]] = []
        current: ast.AST = node
        while isinstance(current, ast.BinOp) and isinstance(current.op, (ast.Add, ast.Sub)):
            pieces.append((isinstance(current.op, ast.Sub), current.right))
            current = current.left
        pieces.append((False, current))
        terms, folds = [], []
        for negative, piece in reversed(pieces):
            term, fold = self.walk(piece, depth + 1)
            terms.append(Neg(term) if negative else term)
            folds.append(_fold_map(fold, lambda v: -v) if negative else fold)
        return Sum(tuple(terms)), _fold_sum(folds)

    def product(self, node: ast.BinOp, depth: int) -> tuple[Node, _Fold | None]:
        pieces: list[tuple[bool, ast.AST]] = []
        current: ast.AST = node
        while isinstance(current, ast.BinOp) and isinstance(current.op, (ast.Mult, ast.Div)):
            pieces.append((isinstance(current.op, ast.Div), current.right))
            current = current.left
        pieces.append((False, current))
        factors, divisors, folds = [], [], []
        for divide, piece in reversed(pieces):
            term, fold = self.walk(piece, depth + 1)
            (divisors if divide else factors).append(term)
            folds.append((divide, fold))
        fold = _fold_product(folds)
        # SymPy multiplies the exact constant factors into one number, variables or not
        digits = sum(f.digits for _, f in folds if f is not None and f.exact)
        if digits > MAX_DIGITS:
            raise self.problem(
                f"the constants of {shown(self.segment(node))} multiply to about {digits:,.0f} "
                f"digits; the limit is {MAX_DIGITS:,}",
                node,
            )
        return Product(tuple(factors), tuple(divisors)), fold

    def power(self, node: ast.BinOp, depth: int) -> tuple[Node, _Fold | None]:
        base, base_fold = self.walk(node.left, depth + 1)
        exponent, exp_fold = self.walk(node.right, depth + 1)
        if exp_fold is None:
            return Power(base, exponent), None
        written = shown(self.segment(node.right))
        size = exp_fold.magnitude
        if size is None or size > MAX_EXPONENT:
            value = "" if exp_fold.value is None else f" (= {exp_fold.value:g})"
            limit = "" if exp_fold.value is not None or size is None else " possibly"
            raise self.problem(
                f"the exponent {written}{value} is{limit} too large; the limit is "
                f"±{MAX_EXPONENT:,}",
                node.right,
            )
        if base_fold is None:
            return Power(base, exponent), None
        exact = base_fold.exact and exp_fold.exact
        digits = base_fold.digits * size if exact else 0.0
        whole_base = base_fold.value is not None and base_fold.value == int(base_fold.value)
        if exact and whole_base and abs(base_fold.value) >= 1:  # type: ignore[arg-type]
            digits = size * math.log10(abs(base_fold.value)) + 1  # type: ignore[arg-type]
        if digits > MAX_DIGITS:
            raise self.problem(
                f"the constant {shown(self.segment(node))} has about {digits:,.0f} "
                f"digits; the limit is {MAX_DIGITS:,}",
                node,
            )
        bv, ev = base_fold.value, exp_fold.value
        value = None if bv is None or ev is None else _float(lambda: bv**ev)
        whole = ev is not None and ev == int(ev)
        return Power(base, exponent), _Fold(value, digits, exact and whole)

    def call(self, node: ast.Call, depth: int) -> tuple[Node, _Fold | None]:
        func = node.func
        if node.keywords:
            keyword = node.keywords[0]
            written = shown(self.segment(keyword)) if hasattr(keyword, "col_offset") else ""
            raise self.problem(f"keyword arguments are not allowed ({written})", keyword)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.problem(f"'*' unpacking {shown(self.segment(arg))} is not allowed", arg)
        name = canonical(func.id) if isinstance(func, ast.Name) else None
        if name is None:
            raise self.not_a_function(node)
        spec = FUNCTIONS[name]
        if not spec.takes(len(node.args)):
            plural = "" if spec.counts_text == "1" else "s"
            raise self.problem(
                f"{func.id} takes {spec.counts_text} argument{plural}, got {len(node.args)}",  # type: ignore[attr-defined]
                node,
            )
        walked = [self.walk(arg, depth + 1) for arg in node.args]
        args = tuple(tree for tree, _ in walked)
        folds = [fold for _, fold in walked]
        if name == "polygamma":
            self.check_order(node, folds[0])
        if any(fold is None for fold in folds):
            return Call(name, args), None
        return Call(name, args), self.fold_call(name, folds, node)  # type: ignore[arg-type]

    def check_order(self, node: ast.Call, fold: _Fold | None) -> None:
        """polygamma(n, x): n is a whole number 0 … 100 (torch and SymPy need it known)."""
        order = node.args[0]
        value = None if fold is None else fold.value
        if value is None or value != int(value) or not 0 <= value <= MAX_POLYGAMMA_ORDER:
            raise self.problem(
                f"polygamma(n, x): n must be a whole number from 0 to {MAX_POLYGAMMA_ORDER} "
                f"written as a constant, got {shown(self.segment(order))}",
                order,
            )

    def fold_call(self, name: str, folds: list[_Fold], node: ast.Call) -> _Fold:
        """Constant arguments: SymPy evaluates gamma of a whole number exactly, (n − 1)!."""
        values = [fold.value for fold in folds]
        digits = 0.0
        if name == "gamma" and folds[0].exact and values[0] is not None and values[0] > 1:
            n = values[0]
            digits = n * math.log10(n)
            if digits > MAX_DIGITS:
                raise self.problem(
                    f"the constant {shown(self.segment(node))} has about {digits:,.0f} "
                    f"digits; the limit is {MAX_DIGITS:,}",
                    node,
                )
        all_exact = all(fold.exact for fold in folds)
        if FUNCTIONS[name].kind == "activation":
            # SymPy evaluates an activation of a constant; every one stays within 1.1·|u| + 2
            size = folds[0].magnitude
            bound = None if size is None else 1.1 * size + 2
            return _Fold(None, folds[0].digits + 1, all_exact, bound)
        if name == "gamma" and all_exact and values[0] is not None and values[0] > 1:
            return _Fold(_float(lambda: math.gamma(values[0])), digits, True)
        exact = name in ("abs", "sign", "min", "max") and all_exact
        digits = max(fold.digits for fold in folds) if exact else 0.0
        maths = MATHS.get(name)
        value = None
        if maths is not None and all(v is not None for v in values):
            value = _float(lambda: maths(*values))
        return _Fold(value, digits, exact)

    def not_a_function(self, node: ast.Call) -> _Problem:
        """A call of something that is not a function: one message shape for every unknown
        name (the known functions, the closest one, and the product it may have meant)."""
        func = node.func
        if not isinstance(func, (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Call)):
            self.walk(func, 0)  # attribute access, subscripts…: reported as such
        if isinstance(func, ast.Name) and func.id.startswith("_") and func.id != LAMBDA:
            return self.problem(f"names starting with '_' are not allowed ({shown(func.id)})", func)
        if isinstance(func, ast.Call):
            self.walk(func, 0)
        start, end = self.span(node)
        written = self.reading.text[start:end]
        cut = self.span(func)[1] - start
        while cut < len(written) and written[cut] in ") ":  # past the parentheses around func
            cut += 1
        explicit = written[:cut].rstrip() + "*" + written[cut:].lstrip()
        if isinstance(func, ast.Name):
            name = "lambda" if func.id == LAMBDA else self.segment(func)
            return self.problem(unknown_function(name, explicit), func)
        return self.problem(
            f"implicit multiplication {shown(written)} is not allowed; write {explicit}", node
        )


def unknown_function(name: str, product: str | None = None) -> str:
    """The one message for a name called as a function that is not one."""
    known = ", ".join(sorted(FUNCTIONS, key=str.lower))
    close = _close_function(name)
    advice = f"; did you mean '{close}'?" if close else ""
    if product and not close:
        advice = f"; for a product write {product}"
    return f"unknown function {shown(name)}; known: {known}{advice}"


def _close_function(name: str) -> str | None:
    """The function a misspelt name probably means (``Sin``, ``sinn``, ``sqr``), if any."""
    import difflib

    if canonical(name.lower()):
        return name.lower()
    names = known_names()
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), lowered, n=1,
                                                                cutoff=0.75)]  # fmt: skip
    return close[0] if close else None


def _fold_map(fold: _Fold | None, fn: Callable[[float], float]) -> _Fold | None:
    if fold is None:
        return None
    value = fold.value
    return _Fold(None if value is None else _float(lambda: fn(value)), fold.digits, fold.exact)


def _fold_sum(folds: list[_Fold | None]) -> _Fold | None:
    if any(fold is None for fold in folds):
        return None
    known = [f for f in folds if f is not None]
    values = [f.value for f in known]
    value = None if None in values else _float(lambda: math.fsum(values))  # type: ignore[arg-type]
    exact = all(f.exact for f in known)
    return _Fold(value, max(f.digits for f in known) + len(known), exact)


def _fold_product(folds: list[tuple[bool, _Fold | None]]) -> _Fold | None:
    if any(fold is None for _, fold in folds):
        return None

    def compute() -> float:
        result = 1.0
        for divide, fold in folds:
            assert fold is not None and fold.value is not None
            result = result / fold.value if divide else result * fold.value
        return result

    known = [fold for _, fold in folds if fold is not None]
    value = None if any(f.value is None for f in known) else _float(compute)
    exact = all(f.exact for f in known)
    return _Fold(value, sum(f.digits for f in known), exact)


# --- plain maths on constants (for --at values and the bounds above) ----------------------


def _evaluate_constant(node: Node) -> float:
    """The float value of a tree without variables or activations (raises on any problem)."""
    if isinstance(node, Num):
        return float(node.value)
    if isinstance(node, Const):
        return CONSTANTS[node.name]
    if isinstance(node, Neg):
        return -_evaluate_constant(node.operand)
    if isinstance(node, Sum):
        return math.fsum(_evaluate_constant(term) for term in node.terms)
    if isinstance(node, Product):
        value = 1.0
        for factor in node.factors:
            value *= _evaluate_constant(factor)
        for divisor in node.divisors:
            value /= _evaluate_constant(divisor)
        return value
    if isinstance(node, Power):
        value = _evaluate_constant(node.base) ** _evaluate_constant(node.exponent)
        if isinstance(value, complex):
            raise ValueError("complex")
        return value
    if isinstance(node, Call) and node.name in MATHS:
        return MATHS[node.name](*[_evaluate_constant(arg) for arg in node.args])
    raise TypeError(node)


# --- entry points ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """One parsed expression."""

    text: str
    tree: Node
    variables: tuple[str, ...]  # in natural order: x1, x2, x10, y
    appearance: tuple[str, ...]  # in the order they first appear in the text
    readings: tuple[str, ...] = ()  # how textbook notation was read ("sin^-1(x) is read as…")


def natural_key(name: str) -> tuple:
    """Sort key that puts x2 before x10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def parse(text: str, what: str = "expression") -> Parsed:
    """Parse one expression; every problem is an InputError naming ``what`` and the column."""
    try:
        tree, reading = _parse_tree(text)
    except _Problem as problem:
        where = f", column {problem.column}" if problem.column else ""
        raise InputError(f"{what} {shown(text)}{where}: {problem.message}") from None
    names = {node.name for node in walk(tree) if isinstance(node, Var)}
    ordered: list[str] = []
    for token in tokenize(text):
        name = "lambda" if token.code == LAMBDA else token.code
        if token.kind == "name" and name in names and name not in ordered:
            ordered.append(name)
    ordered += sorted(names - set(ordered), key=natural_key)  # a base written in log_b
    return Parsed(
        text, tree, tuple(sorted(names, key=natural_key)), tuple(ordered), reading.readings
    )


def _parse_tree(text: str) -> tuple[Node, Reading]:
    if not text.strip():
        raise _Problem("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise _Problem(
            f"the expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}"
        )
    tokens_problem = _early_paren_problem(text)
    if tokens_problem is not None:
        raise tokens_problem
    reading = read(text)
    problem = _paren_problem(reading)
    if problem is not None:
        raise problem
    try:
        module = ast.parse(reading.code, mode="eval")
    except SyntaxError as error:
        raise _explain_syntax_error(reading, error) from None
    except (RecursionError, MemoryError, ValueError):
        raise _Problem("the expression is too deeply nested to parse") from None
    tree, _ = _Walker(reading).walk(module.body, 0)
    return tree, reading


def _early_paren_problem(text: str) -> _Problem | None:
    """Parentheses nested too deep, before the notation reader recurses into them."""
    depth = deepest = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        return _Problem(f"parentheses are nested more than {MAX_DEPTH} deep", None)
    return None


def parse_constant(text: str, what: str) -> float:
    """A value such as ``-1e-3``, ``pi/4`` or ``sqrt(2)/2``: finite, without variables."""
    parsed = parse(text, what)
    if parsed.variables:
        raise InputError(f"{what} {shown(text)} uses the name '{parsed.variables[0]}'; a value "
                         "may use numbers, pi, e and maths functions only")  # fmt: skip
    try:
        value = _evaluate_constant(parsed.tree)
    except TypeError:
        raise InputError(
            f"{what} {shown(text)}: a value may use numbers, pi, e and maths functions only"
        ) from None
    except (ValueError, ZeroDivisionError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"{what} {shown(text)} is not a finite real number")
    return value
