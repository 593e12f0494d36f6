"""The safe parser of ``gradcli expr``: formula text → a small immutable tree.

The text is parsed by :func:`ast.parse` in ``mode="eval"`` and only a whitelist of node
types becomes part of the tree: numbers, names, ``+ - * / **`` (``^`` is power, as students
write it), unary minus and calls of the functions in :data:`FUNCTIONS` with positional
arguments. Everything else — attributes, subscripts, lambdas, comprehensions, strings,
keyword arguments, dunder names — is an :class:`~gradcli.errors.InputError` naming the
construct and its column. Nothing here evaluates user text, and nothing imports torch or
SymPy.

The work is bounded before any algebra system sees the tree: the text length, the nesting
depth, the number of nodes, every constant exponent (``x**10**10`` is refused at once), and
the digits of any exact constant SymPy would build (``9**9**9`` never reaches it).
"""

from __future__ import annotations

import ast
import itertools
import keyword
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gradcli.errors import InputError, shown
from gradcli.ops.activations import ACTIVATION_LIST
from gradcli.params import describe_all

MAX_LENGTH = 2000  # characters of one expression
MAX_DEPTH = 100  # nesting of the tree (a long sum x + x + … counts as one level)
MAX_NODES = 1000
MAX_EXPONENT = 10_000  # |a constant exponent|
MAX_DIGITS = 10_000  # decimal digits of an exact integer or fraction built from constants
MAX_LITERAL = 1e300  # |a number as written|
MAX_NAME = 32  # characters of a variable name
MAX_VARIABLES = 16

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
NOT_A_NUMBER = ("inf", "infinity", "nan", "oo")  # refused, whatever the case


# --- the tree ----------------------------------------------------------------------------


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
    name: str


@dataclass(frozen=True)
class Neg:
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
    base: Node
    exponent: Node


@dataclass(frozen=True)
class Call:
    """A whitelisted function (``ln`` is stored as ``log``)."""

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


# --- the functions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A function the language accepts by name."""

    name: str
    arity: tuple[int, ...]  # accepted numbers of arguments
    summary: str
    kind: str = "maths"  # or "activation" (torch's function, torch's defaults and kinks)
    args: str = "x"  # as the listing shows them

    @property
    def signature(self) -> str:
        return f"{self.name}({self.args})"


MATHS_FUNCTIONS: tuple[Function, ...] = (
    Function("sin", (1,), "sine (radians)"),
    Function("cos", (1,), "cosine (radians)"),
    Function("tan", (1,), "tangent (radians)"),
    Function("asin", (1,), "inverse sine, −1 ≤ x ≤ 1"),
    Function("acos", (1,), "inverse cosine, −1 ≤ x ≤ 1"),
    Function("atan", (1,), "inverse tangent"),
    Function("sinh", (1,), "hyperbolic sine"),
    Function("cosh", (1,), "hyperbolic cosine"),
    Function("tanh", (1,), "hyperbolic tangent (also the activation)"),
    Function("asinh", (1,), "inverse hyperbolic sine"),
    Function("acosh", (1,), "inverse hyperbolic cosine, x ≥ 1"),
    Function("atanh", (1,), "inverse hyperbolic tangent, −1 < x < 1"),
    Function("exp", (1,), "eˣ"),
    Function("log", (1, 2), "natural logarithm, x > 0; log(x, b) is to base b", args="x[, b]"),
    Function("ln", (1,), "natural logarithm (same as log)"),
    Function("log2", (1,), "logarithm to base 2"),
    Function("log10", (1,), "logarithm to base 10"),
    Function("sqrt", (1,), "square root, x ≥ 0"),
    Function("cbrt", (1,), "real cube root (negative x too)"),
    Function("abs", (1,), "|x|; no derivative at 0"),
    Function("sign", (1,), "−1, 0 or 1; derivative 0 except at 0, where it does not exist"),
    Function("erf", (1,), "error function"),
    Function("erfc", (1,), "complementary error function, 1 − erf(x)"),
    Function("gamma", (1,), "Γ(x), x not 0, −1, −2, …"),
    Function("min", (2,), "the smaller of two values; no derivative where they tie", args="a, b"),
    Function("max", (2,), "the larger of two values; no derivative where they tie", args="a, b"),
)

FUNCTIONS: dict[str, Function] = {f.name: f for f in MATHS_FUNCTIONS}
for _act in ACTIVATION_LIST:
    _defaults = f" (torch's defaults: {describe_all(_act.params)})" if _act.params else ""
    FUNCTIONS.setdefault(
        _act.name, Function(_act.name, (1,), _act.formula + _defaults, "activation")
    )
ALIASES = {"ln": "log"}


# --- errors ------------------------------------------------------------------------------


class _Problem(Exception):
    """A problem at a column of the original text (1-based), before the label is known."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


# --- source text -------------------------------------------------------------------------

_TEXT_SUBSTITUTES = {
    "−": "-",
    "–": "-",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "∗": "*",
    "÷": "/",
    "²": "**2",
    "³": "**3",
    "π": "pi",
    "√": "sqrt(…)",
    "ℯ": "e",
}


def _character_problem(text: str) -> _Problem | None:
    """A character the language does not use: non-ASCII, a control character or a quote."""
    for i, char in enumerate(text):
        column = i + 1
        if char in "'\"":
            return _Problem("strings are not allowed", column)
        if char.isascii() and (char.isprintable() or char in "\t\n\r"):
            continue
        if char in _TEXT_SUBSTITUTES:
            return _Problem(f"'{char}' is not allowed; write {_TEXT_SUBSTITUTES[char]}", column)
        name = unicodedata.name(char, "")
        if name.startswith("GREEK") and " LETTER " in name:
            word = name.split(" LETTER ")[-1].lower()
            word = "lamda" if word == "lambda" else word  # `lambda` is a Python keyword
            if "CAPITAL" in name:
                word = word.capitalize()
            return _Problem(f"'{char}' is not allowed; spell Greek letters out: {word}", column)
        code = f"U+{ord(char):04X}"
        return _Problem(f"character {shown(char)} ({code}) is not allowed: use plain ASCII", column)
    return None


@dataclass(frozen=True)
class _Source:
    """The text as typed and the code handed to :func:`ast.parse` (``^`` → ``**``)."""

    text: str
    code: str
    origin: tuple[int, ...]  # origin[i]: offset in ``text`` of code offset i (plus the end)

    @classmethod
    def of(cls, text: str) -> _Source:
        code, origin = [], []
        for i, char in enumerate(text):
            if char == "^":  # no other meaning is possible: strings are refused beforehand
                code.append("**")
                origin += [i, i]
            else:
                code.append(" " if char in "\t\n\r" else char)
                origin.append(i)
        origin.append(len(text))
        joined = "".join(code)
        indent = len(joined) - len(joined.lstrip())  # eval mode refuses a leading indent
        return cls(text, joined[indent:], tuple(origin[indent:]))

    def column(self, code_offset: int) -> int:
        """1-based column in the text of a 0-based offset in the code."""
        return self.origin[max(0, min(code_offset, len(self.origin) - 1))] + 1

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Offsets in the text of an AST node (single-line code, ASCII: bytes = characters)."""
        start = self.origin[node.col_offset]  # type: ignore[attr-defined]
        end = self.origin[node.end_col_offset]  # type: ignore[attr-defined]
        return start, end

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]


# --- syntax errors, explained ------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>\*\*|//|\S))"
)
_OPEN_ENDED = ("+", "-", "*", "/", "**", "(", ",", ".")
_KEYWORDS = frozenset(keyword.kwlist)  # `x if y else z` etc. are reported by the walk


def _tokens(code: str) -> list[tuple[str, str, int, int]]:
    """(kind, text, start, end) of each token: kind is num, name or op."""
    found, pos = [], 0
    while pos < len(code):
        match = _TOKEN.match(code, pos)
        if match is None or match.end() == pos:
            break
        kind = match.lastgroup or "op"
        found.append((kind, match.group(kind), match.start(kind), match.end(kind)))
        pos = match.end()
    return found


def _implicit_product(source: _Source) -> _Problem | None:
    """``2x``, ``2 x``, ``x y``, ``(x+1)y``, ``sin x``: an error that shows the explicit form."""
    tokens = _tokens(source.code)
    for (kind_a, a, start, _), (kind_b, b, _, end) in itertools.pairwise(tokens):
        if a in _KEYWORDS or b in _KEYWORDS:
            continue
        left = kind_a in ("num", "name") or a == ")"
        right = kind_b in ("num", "name") or (b == "(" and a == ")")
        if not (left and right):
            continue
        column = source.column(start)
        if (
            kind_a == kind_b == "num"
            and b.startswith(".")
            and source.code[start:].startswith(a + b)
        ):
            return _Problem(f"{shown(a + b)} is not a number", column)
        if kind_a == "name" and a in FUNCTIONS and kind_b != "op":
            return _Problem(f"the function {a} needs parentheses: write {a}({b})", column)
        written = source.text[source.origin[start] : source.origin[end]]
        return _Problem(
            f"implicit multiplication {shown(written)} is not allowed; write {a}*{b}", column
        )
    return None


def _paren_problem(source: _Source) -> _Problem | None:
    depth, opened = 0, []
    pairs = {")": "(", "]": "[", "}": "{"}
    for i, char in enumerate(source.code):
        if char in "([{":
            opened.append(i)
            depth = max(depth, len(opened))
            if depth > MAX_DEPTH:
                return _Problem(f"parentheses are nested more than {MAX_DEPTH} deep", None)
        elif char in pairs:
            if not opened:
                return _Problem(f"unmatched '{char}'", source.column(i))
            opened.pop()
    if opened:
        return _Problem(f"'{source.code[opened[-1]]}' is never closed", source.column(opened[-1]))
    return None


def _explain_syntax_error(source: _Source, error: SyntaxError) -> _Problem:
    for check in (_paren_problem, _implicit_product):
        problem = check(source)
        if problem is not None:
            return problem
    code = source.code
    if "=" in code and "==" not in code:
        return _Problem(
            "'=' is not allowed: write the expression only, and give values with --at NAME=VALUE",
            source.column(code.index("=")),
        )
    for char, advice in (("|", "for an absolute value write abs(x)"),
                         ("!", "for a factorial write gamma(x + 1)")):  # fmt: skip
        if char in code:
            return _Problem(f"'{char}' is not allowed; {advice}", source.column(code.index(char)))
    tokens = _tokens(code)
    offset = (error.offset or 0) - 1
    if offset < 0 or offset >= len(code.rstrip()) or (tokens and tokens[-1][1] in _OPEN_ENDED):
        last = tokens[-1] if tokens else ("op", "", 0, 0)
        after = source.text[source.origin[last[2]] : source.origin[last[3]]]
        return _Problem(
            f"the expression ends too early, after {shown(after)}", source.column(last[2])
        )
    start = source.origin[offset]
    near = _tokens(source.text[start:])
    return _Problem(
        f"syntax error at {shown(near[0][1] if near else source.text[start])}", start + 1
    )


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

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.nodes = 0
        self.folds: dict[int, _Fold] = {}  # id(tree node) → fold, for constant sub-trees

    def problem(self, message: str, node: ast.AST) -> _Problem:
        return _Problem(message, self.source.span(node)[0] + 1)

    def walk(self, node: ast.AST, depth: int) -> tuple[Node, _Fold | None]:
        try:
            return self._walk(node, depth)
        except _Undefined:
            raise self.problem(
                f"the constant {shown(self.source.segment(node))} has no real value", node
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
        raise self.problem(
            f"{what} {shown(self.source.segment(node))} is not allowed{advice}", node
        )

    # leaves

    def constant(self, node: ast.Constant) -> tuple[Node, _Fold]:
        value, written = node.value, self.source.segment(node)
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
        if name in FUNCTIONS:
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
        return Product(tuple(factors), tuple(divisors)), _fold_product(folds)

    def power(self, node: ast.BinOp, depth: int) -> tuple[Node, _Fold | None]:
        base, base_fold = self.walk(node.left, depth + 1)
        exponent, exp_fold = self.walk(node.right, depth + 1)
        if exp_fold is None:
            return Power(base, exponent), None
        written = shown(self.source.segment(node.right))
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
        if digits > MAX_DIGITS:
            raise self.problem(
                f"the constant {shown(self.source.segment(node))} has about {digits:,.0f} "
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
            written = shown(self.source.segment(keyword)) if hasattr(keyword, "col_offset") else ""
            raise self.problem(f"keyword arguments are not allowed ({written})", keyword)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.problem(
                    f"'*' unpacking {shown(self.source.segment(arg))} is not allowed", arg
                )
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            raise self.not_a_function(node)
        name = func.id
        spec = FUNCTIONS[name]
        if len(node.args) not in spec.arity:
            counts = " or ".join(str(n) for n in spec.arity)
            plural = "" if spec.arity == (1,) else "s"
            raise self.problem(
                f"{name} takes {counts} argument{plural}, got {len(node.args)}", node
            )
        walked = [self.walk(arg, depth + 1) for arg in node.args]
        args = tuple(tree for tree, _ in walked)
        folds = [fold for _, fold in walked]
        name = ALIASES.get(name, name)
        if any(fold is None for fold in folds):
            return Call(name, args), None
        return Call(name, args), self.fold_call(name, folds, node)  # type: ignore[arg-type]

    def fold_call(self, name: str, folds: list[_Fold], node: ast.Call) -> _Fold:
        """Constant arguments: SymPy evaluates gamma of a whole number exactly, (n − 1)!."""
        values = [fold.value for fold in folds]
        digits = 0.0
        if name == "gamma" and folds[0].exact and values[0] is not None and values[0] > 1:
            n = values[0]
            digits = n * math.log10(n)
            if digits > MAX_DIGITS:
                raise self.problem(
                    f"the constant {shown(self.source.segment(node))} has about {digits:,.0f} "
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
        """A call of something that is not a function: say what was probably meant."""
        func = node.func
        if not isinstance(func, (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Call)):
            self.walk(func, 0)  # attribute access, subscripts…: reported as such
        if isinstance(func, ast.Name):
            name = func.id
            if name.startswith("_"):
                return self.problem(
                    f"names starting with '_' are not allowed ({shown(name)})", func
                )
            close = _close_function(name)
            if close and name not in CONSTANTS:
                return self.problem(f"unknown function '{name}' (did you mean '{close}'?)", func)
        if isinstance(func, ast.Call):
            self.walk(func, 0)
        start, end = self.source.span(node)
        written = self.source.text[start:end]
        cut = self.source.span(func)[1] - start
        while cut < len(written) and written[cut] in ") ":  # past the parentheses around func
            cut += 1
        explicit = written[:cut].rstrip() + "*" + written[cut:].lstrip()
        if isinstance(func, ast.Name) and func.id not in CONSTANTS:
            return self.problem(
                f"{shown(written)}: '{func.id}' is not a function (see gradcli expr --list); "
                f"for a product write {explicit}",
                node,
            )
        return self.problem(
            f"implicit multiplication {shown(written)} is not allowed; write {explicit}", node
        )


def _close_function(name: str) -> str | None:
    """The function a misspelt name probably means (``Sin``, ``sinn``, ``sqr``), if any."""
    import difflib

    if name.lower() in FUNCTIONS:
        return name.lower()
    close = difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.75)
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


def _sign(x: float) -> float:
    return 0.0 if x == 0 else math.copysign(1.0, x)


MATHS: dict[str, Callable[..., float]] = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
    "exp": math.exp,
    "log": lambda x, b=None: math.log(x) if b is None else math.log(x) / math.log(b),
    "log2": math.log2,
    "log10": math.log10,
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "abs": abs,
    "sign": _sign,
    "erf": math.erf,
    "erfc": math.erfc,
    "gamma": math.gamma,
    "min": min,
    "max": max,
}


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


def natural_key(name: str) -> tuple:
    """Sort key that puts x2 before x10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def parse(text: str, what: str = "expression") -> Parsed:
    """Parse one expression; every problem is an InputError naming ``what`` and the column."""
    try:
        tree = _parse_tree(text)
    except _Problem as problem:
        where = f", column {problem.column}" if problem.column else ""
        raise InputError(f"{what} {shown(text)}{where}: {problem.message}") from None
    names = {node.name for node in walk(tree) if isinstance(node, Var)}
    ordered: list[str] = []
    for kind, token, _, _ in _tokens(text):
        if kind == "name" and token in names and token not in ordered:
            ordered.append(token)
    return Parsed(text, tree, tuple(sorted(names, key=natural_key)), tuple(ordered))


def _parse_tree(text: str) -> Node:
    if not text.strip():
        raise _Problem("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise _Problem(
            f"the expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}"
        )
    problem = _character_problem(text)
    if problem is not None:
        raise problem
    source = _Source.of(text)
    problem = _paren_problem(source)
    if problem is not None:
        raise problem
    try:
        module = ast.parse(source.code, mode="eval")
    except SyntaxError as error:
        raise _explain_syntax_error(source, error) from None
    except (RecursionError, MemoryError, ValueError):
        raise _Problem("the expression is too deeply nested to parse") from None
    tree, _ = _Walker(source).walk(module.body, 0)
    return tree


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
