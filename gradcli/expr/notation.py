"""Textbook notation → the Python expression syntax :func:`ast.parse` reads.

Students write ``2x sin(x)``, ``sin^2(x)``, ``|x|``, ``x²``, ``√x``, ``3·x − 1`` and ``σ``;
this module reads them as the explicit formula (``2*x*sin(x)``, ``sin(x)**2``, ``abs(x)``…)
and keeps, for every character of the code it produces, the span of the text it came from,
so that errors point at the columns the user typed. It rewrites tokens only: what the code
means is decided by the whitelisting walk in :mod:`gradcli.expr.language`.

The readings, in order:

1. characters: ``−`` ``–`` → ``-``; ``×`` ``·`` ``⋅`` ``∗`` → ``*``; ``÷`` → ``/``; ``^`` →
   ``**``; ``π`` → ``pi``; ``ℯ`` → ``e``; Greek letters → their names (``σ`` → ``sigma``,
   ``λ`` → ``lambda``, ``Δ`` → ``Delta``); superscripts ``x²``, ``x⁻¹`` → ``x**2``,
   ``x**(-1)``; ``lambda`` is a variable (it is never Python's keyword here);
2. ``|x|`` → ``abs(x)`` (a bar after an operand closes the open one; a bar that could both
   close and open is refused);
3. ``√x``, ``√(x+1)``, ``∛x`` → ``sqrt(…)``, ``cbrt(…)`` of the next operand;
4. ``f^n(x)``, ``fⁿ(x)`` → ``f(x)**n`` (n a whole number); ``f^-1(x)`` → the inverse function
   (``sin^-1`` is ``asin``, and the output says so); ``log_b(x)`` → ``log(x, b)``;
5. implicit multiplication where it is unambiguous: a number before a name or ``(`` (``2x``,
   ``3(x+1)``), ``)`` before ``(`` or a name (``(x+1)(x-1)``), a space between factors
   (``x y``, ``2 sin(x)``); never inside a name (``xy`` is one variable) and refused where a
   textbook could mean two things (``1/2x``, ``e^2x``, ``x 2``).

Every refusal is a :class:`Problem` whose message says how to write the formula.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass, field, replace

from gradcli.errors import shown
from gradcli.expr.functions import FUNCTIONS, canonical

CONSTANTS = ("pi", "e")
# Greek letters that papers also use as functions: before "(" they could mean either
FUNCTION_LETTERS = {
    "σ": "the sigmoid σ(x) (write sigmoid(x))",
    "φ": "a density φ(x)",
    "ϕ": "a density ϕ(x)",
    "Φ": "the normal CDF Φ(x)",
    "ψ": "the digamma ψ(x) (write digamma(x))",
    "Γ": "the gamma function Γ(x) (write gamma(x))",
    "ζ": "the zeta function ζ(x)",
    "θ": "the step θ(x)",
    "δ": "the delta δ(x)",
}
LAMBDA = "_lambda"  # the code name of the variable `lambda` (users cannot type a leading _)
LOG_BASE = re.compile(r"^log_(\d+|[A-Za-z][A-Za-z0-9]*)$")


class Problem(Exception):
    """A problem at a column of the original text (1-based), before the label is known."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass(frozen=True)
class Token:
    """One token: ``text`` as typed at ``start:end``, ``code`` as Python will read it.

    ``kind`` is ``num``, ``name``, ``op``, ``sup`` (a run of superscripts), ``root``
    (``√`` or ``∛``) or ``bar``; ``space`` is whitespace before it; ``synthetic`` marks
    tokens this module inserts (``abs``, ``*``…); ``greek`` a Greek letter.
    """

    kind: str
    text: str
    code: str
    start: int
    end: int
    space: bool = False
    synthetic: bool = False
    greek: bool = False


@dataclass(frozen=True)
class Reading:
    """The code for ``ast.parse`` and, per code character, the span of text it came from."""

    text: str
    code: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    readings: tuple[str, ...] = ()  # sentences for the output: "sin^-1(x) is read as asin(x)…"

    def column(self, offset: int) -> int:
        """1-based column in the text of a 0-based offset in the code."""
        if not self.starts:
            return 1
        return self.starts[max(0, min(offset, len(self.starts) - 1))] + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Offsets in the text covered by the code characters ``start:end``."""
        if end <= start or start >= len(self.starts):
            at = self.starts[min(start, len(self.starts) - 1)] if self.starts else 0
            return at, at
        return min(self.starts[start:end]), max(self.ends[start:end])


# --- characters ---------------------------------------------------------------------------

OPERATOR_CHARACTERS = {"−": "-", "–": "-", "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/"}
LETTERS = {"π": "pi", "ℯ": "e"}
SUPERSCRIPTS_CHARS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺"
SUPERSCRIPTS = str.maketrans(SUPERSCRIPTS_CHARS, "0123456789-+")
ROOTS = {"√": "sqrt", "∛": "cbrt"}
_NUMBER = re.compile(
    r"0[xXoObB][0-9A-Za-z_]*|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("**", "//")


def greek_name(char: str) -> str | None:
    """``σ`` → ``sigma``, ``Δ`` → ``Delta``, ``λ`` → ``lambda``; None for other characters."""
    name = unicodedata.name(char, "")
    for prefix, capital in (("GREEK SMALL LETTER ", False), ("GREEK CAPITAL LETTER ", True)):
        if name.startswith(prefix):
            word = name[len(prefix) :].lower()
            if not word.isalpha():  # FINAL SIGMA, letters with accents…
                return None
            word = "lambda" if word == "lamda" else word
            return word.capitalize() if capital else word
    return None


def variable_name(text: str) -> str:
    """A variable's name as the language stores it: Greek letters spelled out (``σ`` →
    ``sigma``); anything else as it is."""
    if len(text) == 1:
        if text in LETTERS:
            return LETTERS[text]
        return greek_name(text) or text
    return text


def _character_problem(char: str, column: int) -> Problem:
    if char in "'\"":
        return Problem("strings are not allowed", column)
    if char == "#":
        return Problem("'#' is not allowed: a formula has no comments", column)
    if char == "\\":
        return Problem("'\\' is not allowed: write the formula on one line", column)
    name = unicodedata.name(char, "")
    if name.startswith("GREEK"):
        return Problem(f"the Greek character {shown(char)} is not a letter gradcli reads", column)
    code = f"U+{ord(char):04X}"
    return Problem(f"character {shown(char)} ({code}) is not allowed: use plain ASCII", column)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; a character outside the language is a Problem."""
    tokens: list[Token] = []
    lambda_is_keyword = ":" in text  # `lambda x: …` is reported as Python's lambda
    pos, space = 0, False
    while pos < len(text):
        char = text[pos]
        if char in " \t\n\r":
            pos, space = pos + 1, True
            continue
        token = _token_at(text, pos, space, lambda_is_keyword)
        tokens.append(token)
        pos, space = token.end, False
    return tokens


def _token_at(text: str, pos: int, space: bool, lambda_is_keyword: bool) -> Token:
    char = text[pos]
    if char.isascii() and (char.isdigit() or (char == "." and text[pos + 1 : pos + 2].isdigit())):
        end = _NUMBER.match(text, pos).end()  # type: ignore[union-attr]
        if text[end : end + 1] in ("j", "J") and not _NAME.match(text, end + 1):
            end += 1  # a complex literal: the walk refuses it by name
        return Token("num", text[pos:end], text[pos:end], pos, end, space)
    if char.isascii() and (char.isalpha() or char == "_"):
        end = _NAME.match(text, pos).end()  # type: ignore[union-attr]
        word = text[pos:end]
        code = LAMBDA if word == "lambda" and not lambda_is_keyword else word
        return Token("name", word, code, pos, end, space)
    if char in LETTERS:
        return Token("name", char, LETTERS[char], pos, pos + 1, space, greek=char == "π")
    greek = greek_name(char)
    if greek is not None:
        code = LAMBDA if greek == "lambda" else greek
        return Token("name", char, code, pos, pos + 1, space, greek=True)
    if char in OPERATOR_CHARACTERS:
        return Token("op", char, OPERATOR_CHARACTERS[char], pos, pos + 1, space)
    if char in SUPERSCRIPTS_CHARS:
        end = pos
        while end < len(text) and text[end] in SUPERSCRIPTS_CHARS:
            end += 1
        return Token("sup", text[pos:end], text[pos:end].translate(SUPERSCRIPTS), pos, end, space)
    if char in ROOTS:
        return Token("root", char, ROOTS[char], pos, pos + 1, space)
    if char == "|":
        return Token("bar", char, "|", pos, pos + 1, space)
    if char == "^":
        return Token("op", char, "**", pos, pos + 1, space)
    if char.isascii() and char.isprintable() and char not in "'\"#\\":
        for op in _OPERATORS:
            if text.startswith(op, pos):
                return Token("op", op, op, pos, pos + len(op), space)
        return Token("op", char, char, pos, pos + 1, space)
    raise _character_problem(char, pos + 1)


# --- token classes ----------------------------------------------------------------------------


def _is_keyword(token: Token) -> bool:
    return token.kind == "name" and keyword.iskeyword(token.code)


def _function(token: Token) -> str | None:
    """The function a name token calls, if it is one (aliases resolved; ``log_2`` → log)."""
    if token.kind != "name" or token.greek:
        return None
    if LOG_BASE.match(token.code):
        return "log"
    return canonical(token.code)


def _may_be_variable(token: Token) -> bool:
    """A name that is a variable or constant here (``gamma`` too, where it is not called)."""
    if token.kind != "name" or _is_keyword(token):
        return False
    if LOG_BASE.match(token.code):
        return True  # log_b not called: a variable of that name
    name = _function(token)
    return name is None or FUNCTIONS[name].variable


def _ends_operand(token: Token | None) -> bool:
    if token is None:
        return False
    if token.kind in ("num", "sup"):
        return True
    if token.kind == "name":
        return _may_be_variable(token)
    return token.code == ")"


def _starts_operand(token: Token | None) -> bool:
    if token is None:
        return False
    if token.kind in ("num", "root", "bar"):
        return True
    if token.kind == "name":
        return not _is_keyword(token)
    return token.code == "("


def _matching(tokens: list[Token], open_index: int) -> int:
    """The index of the ``)`` that closes the ``(`` at ``open_index`` (-1 when none)."""
    depth = 0
    for i in range(open_index, len(tokens)):
        if tokens[i].code == "(":
            depth += 1
        elif tokens[i].code == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _opening(tokens: list[Token], close_index: int) -> int:
    """The index of the ``(`` that the ``)`` at ``close_index`` closes (-1 when none)."""
    depth = 0
    for i in range(close_index, -1, -1):
        if tokens[i].code == ")":
            depth += 1
        elif tokens[i].code == "(":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _written(text: str, first: Token, last: Token) -> str:
    return text[first.start : last.end]


def _synthetic(code: str, at: Token, kind: str = "op", end: bool = False) -> Token:
    """A token this module inserts, placed at the start (or end) of ``at``."""
    where = at.end if end else at.start
    return Token(kind, "", code, where, where, False, True)


# --- 2. absolute-value bars ---------------------------------------------------------------


def _bars(text: str, tokens: list[Token]) -> list[Token]:
    """``|x|`` → ``abs(x)``: a bar after an operand closes the innermost open bar."""
    out: list[Token] = []
    opened: list[tuple[Token, int]] = []  # the bar and the parenthesis depth it opened at
    depth = 0
    for i, token in enumerate(tokens):
        if token.code == "(" and token.kind == "op":
            depth += 1
        elif token.code == ")" and token.kind == "op":
            if opened and opened[-1][1] == depth:
                bar = opened[-1][0]
                raise Problem(f"the '|' at column {bar.start + 1} is not closed before this ')'",
                              token.start + 1)  # fmt: skip
            depth -= 1
        if token.kind != "bar":
            out.append(token)
            continue
        previous = out[-1] if out else None  # as read so far: a closed bar is a ')'
        closes = _ends_operand(previous) and bool(opened) and opened[-1][1] == depth
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        opens_next = _starts_operand(following) and following.kind != "bar"  # type: ignore[union-attr]
        if closes and opens_next and _bars_ahead(tokens, i + 1) >= 2:
            raise Problem(
                f"this '|' could close the one at column {opened[-1][0].start + 1} or open "
                "another absolute value: write abs(…) for the one you mean",
                token.start + 1,
            )
        if closes:
            opened.pop()
            out.append(replace(token, kind="op", code=")"))
        else:
            opened.append((token, depth))
            out.append(Token("name", "|", "abs", token.start, token.start, token.space, True))
            out.append(replace(token, kind="op", code="(", space=False))
    if opened:
        bar = opened[-1][0]
        raise Problem("this '|' is never closed; write abs(x) or |x|", bar.start + 1)
    return out


def _bars_ahead(tokens: list[Token], start: int) -> int:
    """Bars after ``start`` at the same parenthesis depth (before that depth closes)."""
    depth, count = 0, 0
    for token in tokens[start:]:
        if token.code == "(" and token.kind == "op":
            depth += 1
        elif token.code == ")" and token.kind == "op":
            depth -= 1
            if depth < 0:
                break
        elif token.kind == "bar" and depth == 0:
            count += 1
    return count


# --- 3. roots -------------------------------------------------------------------------------


def _roots(text: str, tokens: list[Token]) -> list[Token]:
    """``√x``, ``√(x+1)``, ``√sin(x)``, ``√|x|`` → ``sqrt(…)`` of the next operand."""
    if not any(t.kind == "root" for t in tokens):
        return tokens
    i = len(tokens) - 1
    while i >= 0:  # right to left: √√x takes the inner root first
        if tokens[i].kind == "root":
            tokens = _one_root(text, tokens, i)
        i -= 1
    return tokens


def _one_root(text: str, tokens: list[Token], i: int) -> list[Token]:
    root = tokens[i]
    symbol = root.text
    j = i + 1
    first = tokens[j] if j < len(tokens) else None
    if first is None or first.space:
        raise Problem(f"'{symbol}' must be followed by what it takes the root of, as in "
                      f"{symbol}x or {symbol}(x+1)", root.start + 1)  # fmt: skip
    if first.code == "(" and first.kind == "op":
        last = _matching(tokens, j)
    elif (
        first.kind == "name"
        and j + 1 < len(tokens)
        and tokens[j + 1].code == "("
        and (_function(first) or first.synthetic)
    ):
        last = _matching(tokens, j + 1)
    elif first.kind in ("num", "name") and not _is_keyword(first):
        last = j
    else:
        raise Problem(f"write {symbol}({shown(first.text)[1:-1]}…) with parentheses",
                      root.start + 1)  # fmt: skip
    if last < 0:
        return tokens  # an unclosed parenthesis: reported as such later
    after = tokens[last + 1] if last + 1 < len(tokens) else None
    operand = _written(text, first, tokens[last])
    if after is not None and not after.space and (after.kind == "sup" or after.code == "**"):
        raise Problem(
            f"'{symbol}{operand}{text[after.start : after.end]}…' is ambiguous: put the power "
            f"inside or outside the root, as in {symbol}({operand}^2) or ({symbol}{operand})^2",
            root.start + 1,
        )
    if first.kind == "num" and after is not None and not after.space and _starts_operand(after):
        raise Problem(
            f"'{symbol}{operand}{after.text}' is ambiguous: write {symbol}({operand}{after.text}"
            f") or {symbol}{operand}*{after.text}",
            root.start + 1,
        )
    inner = tokens[j : last + 1]
    head = Token("name", symbol, ROOTS[symbol], root.start, root.end, root.space, True)
    if first.code == "(" and first.kind == "op":
        wrapped = [head, *inner]
    else:
        wrapped = [head, _synthetic("(", first), *inner, _synthetic(")", tokens[last], end=True)]
    return tokens[:i] + wrapped + tokens[last + 1 :]


# --- 4. calls: f^n(x), f^-1(x), log_b(x) -------------------------------------------------------


@dataclass
class _Calls:
    text: str
    readings: list[str] = field(default_factory=list)

    def rewrite(self, tokens: list[Token]) -> list[Token]:
        out: list[Token] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            name = _function(token)
            if name is None or token.synthetic:
                out.append(token)
                i += 1
                continue
            consumed, produced = self.call(tokens, i, name)
            out += produced
            i += consumed
        return out

    def call(self, tokens: list[Token], i: int, name: str) -> tuple[int, list[Token]]:
        """(tokens consumed, tokens produced) for the function name at ``i``."""
        token = tokens[i]
        base = LOG_BASE.match(token.code)
        exponent, j = self.exponent(tokens, i + 1)
        opening = tokens[j] if j < len(tokens) else None
        called = opening is not None and opening.code == "(" and opening.kind == "op"
        if not called:
            if exponent is None or base or FUNCTIONS[name].variable:
                return 1, [token]  # `sin x`, `gamma^2`, `log_b`: the walk and products say more
            power = "^" + exponent[0]
            raise Problem(
                f"the function {token.text}{power} needs parentheses: write {token.text}(x){power}",
                token.start + 1,
            )
        close = _matching(tokens, j)
        if close < 0:
            return 1, [token]  # an unclosed parenthesis: reported as such later
        head = replace(token, code="log") if base else token
        inner = tokens[j + 1 : close]
        if base:
            inner = [*inner, _synthetic(",", tokens[close]), self.base_token(base.group(1),
                                                                            token)]  # fmt: skip
        call = [head, tokens[j], *inner, tokens[close]]
        if exponent is None:
            return close + 1 - i, call
        written, exponent_tokens = exponent
        after = tokens[close + 1] if close + 1 < len(tokens) else None
        if after is not None and (after.code == "**" or after.kind == "sup"):
            raise Problem(
                f"'{_written(self.text, token, after)}…' is ambiguous: write "
                f"({token.text}(…)^{written})^… with parentheses",
                token.start + 1,
            )
        return close + 1 - i, self.power(token, name, written, exponent_tokens, call)

    def exponent(self, tokens: list[Token], j: int) -> tuple[tuple[str, list[Token]] | None, int]:
        """``^2``, ``**2``, ``^-1``, ``^(-1)`` or ``²``, ``⁻¹`` right after a function name."""
        if j >= len(tokens):
            return None, j
        token = tokens[j]
        if token.kind == "sup":
            return (token.code, [token]), j + 1
        if token.code != "**":
            return None, j
        k = j + 1
        parenthesised = k < len(tokens) and tokens[k].code == "("
        k += parenthesised
        sign = ""
        if k < len(tokens) and tokens[k].code in ("-", "+"):
            sign = tokens[k].code
            k += 1
        if k >= len(tokens) or tokens[k].kind != "num" or not tokens[k].code.isdigit():
            return None, j  # not an integer: `sin^x(…)` is left to the walk
        number = tokens[k]
        k += 1
        if parenthesised:
            if k >= len(tokens) or tokens[k].code != ")":
                return None, j
            k += 1
        written = f"{sign}{number.code}".lstrip("+")
        return (written, tokens[j:k]), k

    def power(
        self, token: Token, name: str, written: str, exponent: list[Token], call: list[Token]
    ) -> list[Token]:
        value = int(written)
        spec = FUNCTIONS[name]
        if value == -1:
            if spec.inverse is None or len(spec.arity) > 1 or spec.arity[0] != 1:
                raise Problem(
                    f"{token.text}^-1(x) could be the inverse function or 1/{token.text}(x); "
                    f"gradcli has no inverse of {name}: write 1/{token.text}(x) for the "
                    "reciprocal",
                    token.start + 1,
                )
            inverse = spec.inverse
            inner = self.text[call[1].start : call[-1].end]
            self.readings.append(
                f"{token.text}^-1{inner} is read as {inverse}{inner}, the inverse function "
                f"(not 1/{token.text}{inner})"
            )
            return [replace(call[0], code=inverse), *call[1:]]
        if value < 0:
            raise Problem(
                f"{token.text}^{written}(x) is ambiguous: write {token.text}(x)^({written}) for "
                f"a power, or {spec.inverse or 'the inverse'}(x)^{-value} for a power of the "
                "inverse",
                token.start + 1,
            )
        # the exponent moves after the call; its tokens keep their place in the text
        last = exponent[-1]
        first = exponent[0]
        return [
            *call,
            Token("op", "", "**", first.start, last.end, False, True),
            Token("num", written, written, first.start, last.end, False, True),
        ]

    @staticmethod
    def base_token(base: str, at: Token) -> Token:
        start = at.start + len("log_")
        kind = "num" if base.isdigit() else "name"
        return Token(kind, base, base, start, at.end, False, True)


# --- superscripts ------------------------------------------------------------------------------


def _superscripts(tokens: list[Token]) -> list[Token]:
    """``x²`` → ``x**2``, ``x⁻¹`` → ``x**(-1)``."""
    out: list[Token] = []
    for i, token in enumerate(tokens):
        if token.kind != "sup":
            out.append(token)
            continue
        previous = tokens[i - 1] if i else None
        if token.space or not _ends_operand(previous):
            raise Problem(
                f"'{token.text}' must follow what it raises to a power, as in x{token.text}",
                token.start + 1,
            )
        value = token.code
        if not re.fullmatch(r"[+-]?\d+", value):
            raise Problem(f"the superscript '{token.text}' is not a whole number", token.start + 1)
        value = value.lstrip("+")
        out.append(Token("op", "", "**", token.start, token.end, False, True))
        code = f"({value})" if value.startswith("-") else value
        out.append(Token("num", token.text, code, token.start, token.end, False, True))
    return out


# --- 5. implicit multiplication ------------------------------------------------------------


def _products(text: str, tokens: list[Token]) -> list[Token]:
    """A ``*`` inserted between two factors written side by side, where unambiguous."""
    out: list[Token] = []
    for i, token in enumerate(tokens):
        if i and _juxtaposed(text, tokens, i):
            out.append(Token("op", "", "*", token.start, token.start, False, True))
        out.append(token)
    return out


def _juxtaposed(text: str, tokens: list[Token], i: int) -> bool:
    """Whether tokens i-1 and i are two factors side by side (a Problem if ambiguous)."""
    a, b = tokens[i - 1], tokens[i]
    if _is_keyword(a) or _is_keyword(b):
        return False
    a_kind = "num" if a.kind == "num" else "close" if a.code == ")" else a.kind
    if a_kind == "name" and not _may_be_variable(a):
        if b.kind in ("num", "name") and _function(a) and not a.synthetic:
            raise Problem(
                f"the function {a.text} needs parentheses: write {a.text}({b.text})", a.start + 1
            )
        return False
    if a_kind not in ("num", "name", "close"):
        return False
    b_kind = "open" if b.code == "(" and b.kind == "op" else b.kind
    if b_kind not in ("num", "name", "open"):
        return False
    left = text[tokens[_left_factor(tokens, i)].start : a.end]
    if b_kind == "num":
        pair = text[a.start : b.end]
        other = f" or {left}^{b.text}" if a_kind != "num" else f" (or one number {a.text}{b.text})"
        raise Problem(
            f"{shown(pair)}: a number after a factor is ambiguous; write {left}*{b.text}{other}",
            b.start + 1,
        )
    if a_kind == "name" and b_kind == "open":
        if a.greek and a.text in FUNCTION_LETTERS:
            meaning = FUNCTION_LETTERS[a.text]
            raise Problem(
                f"{shown(a.text + '(')} could be {meaning} or a product: {a.text} is a variable "
                f"here, so write {a.text}*( for a product (functions are called by name)",
                a.start + 1,
            )
        if a.greek or b.space:
            _check_left_factor(text, tokens, i)
            return True  # 4ε(…), x (y+1): a variable, then a parenthesised factor
        if a.code not in CONSTANTS:
            return False  # x(y+1): a call, reported by the walk (unknown function 'x')
    separate = b.space or a.synthetic or b.synthetic or a.greek or b.greek  # πr is π·r
    if a_kind == "name" and b_kind == "name" and not separate:
        pair = text[a.start : b.end]
        raise Problem(f"{shown(pair)}: write {a.text}*{b.text} (or {a.text} {b.text})", b.start + 1)
    _check_left_factor(text, tokens, i)
    return True


def _left_factor(tokens: list[Token], i: int) -> int:
    """The index where the factor ending at token i-1 starts (a call's name included)."""
    start = i - 1
    if tokens[start].code == ")":
        start = max(_opening(tokens, start), 0)
        if start > 0 and tokens[start - 1].kind == "name":
            start -= 1  # a call: f(x)
    return start


def _check_left_factor(text: str, tokens: list[Token], i: int) -> None:
    """``1/2x`` and ``e^2x`` could mean two things: refuse them."""
    a, b = tokens[i - 1], tokens[i]
    start = _left_factor(tokens, i)
    before = start - 1
    while (
        before >= 1 and tokens[before].code in ("-", "+") and not _ends_operand(tokens[before - 1])
    ):
        before -= 1  # a unary sign belongs to the factor
    if before < 0:
        return
    operator = tokens[before]
    factor = text[tokens[before + 1].start : a.end]  # with its unary sign: x^-2y
    right = text[b.start : b.end] if b.kind in ("num", "name") and not b.synthetic else "(…)"
    if b.kind == "name" and i + 1 < len(tokens) and tokens[i + 1].code == "(":
        right += "(…)"
    if before == 0:
        return  # an operator first: Python reports it
    first = tokens[_left_factor(tokens, before)]
    other = text[first.start : tokens[before - 1].end]  # the numerator, or the power's base
    written = text[first.start : b.end]
    if operator.code in ("/", "//"):
        raise Problem(
            f"{shown(written)} is ambiguous: write {other}/({factor}*{right}) or "
            f"({other}/{factor})*{right}",
            b.start + 1,
        )
    if operator.code == "**" and not b.space and not b.synthetic and not a.synthetic:
        raise Problem(
            f"{shown(written)} is ambiguous: write {other}^({factor}*{right}) for one exponent, "
            f"or {other}^{factor}*{right}",
            b.start + 1,
        )


# --- entry point --------------------------------------------------------------------------


def read(text: str) -> Reading:
    """The code ``ast.parse`` reads for ``text``, with the text span of each code character."""
    tokens = tokenize(text)
    tokens = _bars(text, tokens)
    tokens = _roots(text, tokens)
    calls = _Calls(text)
    tokens = calls.rewrite(tokens)
    tokens = _superscripts(tokens)
    tokens = _products(text, tokens)
    code: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, token in enumerate(tokens):
        if i and (token.space or _glued(tokens[i - 1], token)):
            code.append(" ")  # keeps `2 .5`, `x if`… as the user separated them
            starts.append(token.start)
            ends.append(token.start)
        code.append(token.code)
        same = len(token.code) == token.end - token.start and not token.synthetic
        for k in range(len(token.code)):
            starts.append(token.start + k if same else token.start)
            ends.append(token.start + k + 1 if same else token.end)
    return Reading(text, "".join(code), tuple(starts), tuple(ends), tuple(calls.readings))


def _glued(a: Token, b: Token) -> bool:
    """Two codes that would run together into one Python token (a name after a name)."""
    word = re.compile(r"[A-Za-z0-9_.]")
    return (
        bool(a.code)
        and bool(b.code)
        and bool(word.match(a.code[-1]))
        and bool(word.match(b.code[0]))
    )
