"""Turn command-line text into numbers, tensors, shapes and parameters.

Pure Python: nothing here imports torch or knows about terminals. Every function reads
its input in linear time and raises :class:`InputError` naming the option and the token.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gradcli.errors import InputError, shown, suggest

Vector = list[float]
Matrix = list[list[float]]

_SEPARATORS = re.compile(r"[,\s]+")
# ASCII decimal numbers only: float() would also take '1_000', 'infinity' and Arabic-Indic digits
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MINUS_LOOKALIKES = "−–—‐‑﹣－"
MAX_DEPTH = 32  # JSON nesting read at all; commands allow fewer dimensions
FILE_PREFIX = "@"
STDIN = "-"


def _prefix(what: str | None) -> str:
    return f"{what}: " if what else ""


def parse_number(token: str, what: str | None = None) -> float:
    """A finite float from ``token``; NaN, inf, hex and non-ASCII numbers are input errors."""
    text = token.strip()
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise InputError(
            f"{_prefix(what)}{shown(token)} is not a finite number (NaN and inf are not allowed)"
        )
    if not _NUMBER.fullmatch(text):
        raise InputError(f"{_prefix(what)}{shown(token)} is not a number{_number_hint(text)}")
    value = float(text)
    if not math.isfinite(value):
        raise InputError(
            f"{_prefix(what)}{shown(token)} is too large: it overflows float64 (±1.8e308)"
        )
    return value


def _number_hint(text: str) -> str:
    if any(char in text for char in _MINUS_LOOKALIKES):
        return " (write the minus sign as the ASCII '-')"
    if text.lower().lstrip("+-").startswith("0x"):
        return " (write it in decimal)"
    if "," in text or ";" in text:
        return " (one number expected here)"
    return ""


def split_numbers(text: str) -> list[str]:
    """Split on commas and white space, dropping empty pieces."""
    return [piece for piece in _SEPARATORS.split(text) if piece]


def number_tokens(text: str, what: str) -> list[str]:
    """The pieces of a flat list of numbers, as written: ``1,2 3`` or a JSON list
    ``[1, 2, 3]``."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return split_numbers(stripped)
    depth = _bracket_depth(stripped)
    if depth > 1:
        deep = depth if depth <= MAX_DEPTH else f"more than {MAX_DEPTH}"
        raise InputError(f"{what} {shown(text)} is nested {deep} lists deep; give one flat list")
    try:
        data = json.loads(
            stripped, parse_float=_Written, parse_int=_Written, parse_constant=_Written
        )
    except json.JSONDecodeError as error:
        raise InputError(
            f"{what} {shown(text)} is not a valid JSON list ({error.msg} at character "
            f"{error.pos + 1})"
        ) from None
    for item in data:
        if not isinstance(item, _Written):
            raise InputError(f"{what}: {_json_text(item)} is not a number")
    return [str(item) for item in data]


class _Written(str):
    """A JSON number as written (``1e3`` stays ``1e3``), told apart from a JSON string."""


def parse_values(tokens: Iterable[str], what: str = "values") -> Vector:
    """Numbers from positional tokens; each token may itself hold several, and the tokens
    together may form one JSON list (``[1,2,3]``, or ``[1, 2, 3]`` split by the shell)."""
    tokens = list(tokens)
    if tokens and tokens[0].lstrip().startswith("["):
        pieces = number_tokens(" ".join(tokens), what)
    else:
        pieces = [piece for token in tokens for piece in split_numbers(token)]
    values = [parse_number(piece, what) for piece in pieces]
    if not values:
        raise InputError(f"no {what} given")
    return values


# ---------------------------------------------------------------- tensors


@dataclass(frozen=True)
class TensorData:
    """A parsed tensor: its entries in row-major order and its shape."""

    values: list[float]
    shape: tuple[int, ...]

    @property
    def dims(self) -> int:
        return len(self.shape)

    def nested(self) -> list:
        """The entries as nested lists of the tensor's shape."""
        return _nest(self.values, self.shape)


def _nest(values: list[float], shape: tuple[int, ...]) -> list:
    if len(shape) <= 1:
        return list(values)
    size = len(values) // shape[0]
    return [_nest(values[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def parse_tensor(text: str, what: str, *, max_dims: int = 4) -> TensorData:
    """A tensor from option text: ``1,2,3``, rows ``1,2;3,4``, a JSON nested list (up to
    ``max_dims`` deep), ``@FILE`` (the same forms, read from a text file) or ``-`` (stdin)."""
    source = _read_source(text, what)
    stripped = source.strip()
    if not stripped:
        raise InputError(f"{what} is empty: give numbers such as 1,2,3")
    if stripped.startswith("["):
        return _from_json(stripped, what, max_dims)
    if ";" in stripped or "\n" in stripped:
        rows = [row for row in re.split(r"[;\n]", stripped) if row.strip()]
        if not rows:
            raise InputError(f"{what} {shown(text)} holds no numbers")
        if max_dims < 2:
            raise InputError(f"{what} must be a vector, not a matrix")
        parsed = [parse_values([row], what) for row in rows]
        widths = {len(row) for row in parsed}
        if len(widths) > 1:
            lengths = ", ".join(str(len(row)) for row in parsed[:10])
            raise InputError(f"{what} is ragged: its rows have {lengths} values")
        return TensorData([v for row in parsed for v in row], (len(parsed), len(parsed[0])))
    values = parse_values([stripped], what)
    return TensorData(values, (len(values),))


def _read_source(text: str, what: str) -> str:
    """The option's text, or the contents of ``@FILE`` / stdin for ``-``."""
    from gradcli.limits import human_bytes, max_memory

    limit = max_memory() // 8  # parsed numbers take several times their text's size
    if text.strip() == STDIN:
        return _read_stdin(what, limit)
    if not text.startswith(FILE_PREFIX):
        return text
    path = Path(text[len(FILE_PREFIX) :])
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(
                f"{what}: {shown(str(path))} is {human_bytes(size)}; the limit for a tensor file "
                f"is {human_bytes(limit)} (set GRADCLI_MAX_MEMORY to raise it)"
            )
        with path.open(encoding="utf-8") as handle:
            return handle.read(limit + 1)
    except OSError as error:
        raise InputError(f"{what}: cannot read {shown(str(path))}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{what}: {shown(str(path))} is not UTF-8 text") from None


def read_source(text: str, what: str) -> str:
    """The text of an option that may be ``@FILE`` or ``-`` (stdin), read with the bound
    every input file has; any other text as it is."""
    return _read_source(text, what)


_stdin_taken = False


def release_stdin() -> None:
    """Forget earlier reads of standard input (a new command line starts)."""
    global _stdin_taken
    _stdin_taken = False


def claim_stdin(owner: str) -> None:
    """Mark standard input as read (by ``owner``): a second reader gets a clear error."""
    global _stdin_taken
    if _stdin_taken:
        raise InputError(f"{owner}: standard input ('-') is already taken; use @FILE instead")
    _stdin_taken = True


def _read_stdin(what: str, limit: int) -> str:
    claim_stdin(what)
    if sys.stdin is None:
        raise InputError(f"{what}: standard input is closed")
    try:
        text = sys.stdin.read(limit + 1)
    except UnicodeDecodeError:
        raise InputError(f"{what}: standard input is not UTF-8 text") from None
    if len(text) > limit:
        raise InputError(f"{what}: standard input holds more than {limit:,} characters")
    return text


def _from_json(text: str, what: str, max_dims: int) -> TensorData:
    depth = _bracket_depth(text)
    if depth > max_dims:
        raise InputError(
            f"{what} is nested {depth if depth <= MAX_DEPTH else f'more than {MAX_DEPTH}'} "
            f"lists deep; at most {max_dims} dimension{'s' if max_dims != 1 else ''} "
            "are allowed here"
        )

    def number(token: str) -> float:
        return parse_number(token, what)

    def constant(token: str) -> float:
        raise InputError(f"{what}: {token} is not a finite number (NaN and inf are not allowed)")

    try:
        data = json.loads(text, parse_float=number, parse_int=number, parse_constant=constant)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{what} {shown(text)} is not a valid JSON list ({error.msg} at character "
            f"{error.pos + 1})"
        ) from None
    values: list[float] = []
    shape = _json_shape(data, what)
    _json_flatten(data, shape, values, what)
    return TensorData(values, shape)


def _bracket_depth(text: str) -> int:
    """Deepest ``[`` nesting of a JSON text (strings skipped), in one linear pass."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "[":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        elif char == "]":
            depth -= 1
    return deepest


def _json_shape(data: object, what: str) -> tuple[int, ...]:
    """The shape read down the first entries; ``_json_flatten`` checks the rest against it."""
    shape = []
    node = data
    while isinstance(node, list):
        if not node:
            raise InputError(f"{what} has an empty list; every row needs numbers")
        shape.append(len(node))
        node = node[0]
    if not shape:
        raise InputError(f"{what} must be a JSON list of numbers, not a single value")
    return tuple(shape)


def _json_flatten(node: object, shape: tuple[int, ...], out: list[float], what: str) -> None:
    if not shape:
        if isinstance(node, list):
            raise InputError(
                f"{what} is ragged: found a list where a number is expected (every row needs "
                "the same depth)"
            )
        if not isinstance(node, float):
            raise InputError(f"{what}: {_json_text(node)} is not a number")
        out.append(node)
        return
    if not isinstance(node, list) or len(node) != shape[0]:
        found = f"a list of {len(node)}" if isinstance(node, list) else _json_text(node)
        raise InputError(
            f"{what} is ragged: found {found} where a list of {shape[0]} is expected "
            "(every row needs the same length)"
        )
    for item in node:
        _json_flatten(item, shape[1:], out, what)


def _json_text(node: object) -> str:
    """A JSON value as the user wrote it (escaped, capped) for an error message."""
    return shown(json.dumps(node, ensure_ascii=False))[1:-1]


def parse_array(text: str, what: str) -> Vector | Matrix:
    """A vector (``1,2,3``) or matrix (``1,2;3,4`` or ``[[1,2],[3,4]]``) from option text."""
    return parse_tensor(text, what, max_dims=2).nested()


def parse_matrix(text: str, what: str) -> Matrix:
    """Like :func:`parse_array`, but a plain vector becomes a one-row matrix."""
    array = parse_array(text, what)
    return array if isinstance(array[0], list) else [array]


_DIM_SEPARATORS = re.compile(r"\s*[x×,]\s*", re.IGNORECASE)


def parse_dims(text: str, what: str, *, max_dims: int = 4, min_dims: int = 1) -> tuple[int, ...]:
    """A shape such as ``2x3x5x5`` (also ``2×3``, ``2,3``): positive whole numbers."""
    pieces = _DIM_SEPARATORS.split(text.strip())
    example = "x".join(["2", "3", "4", "5"][: max(min_dims, 2)])
    for piece in pieces:
        if not piece.isascii() or not piece.isdigit() or int(piece) == 0:
            raise InputError(
                f"{what} {shown(text)}: {shown(piece)} is not a positive whole number "
                f"(write a shape such as {example})"
            )
    if not min_dims <= len(pieces) <= max_dims:
        count = f"{min_dims}" if min_dims == max_dims else f"{min_dims} to {max_dims}"
        raise InputError(
            f"{what} {shown(text)} has {len(pieces)} dimension{'s' if len(pieces) != 1 else ''}; "
            f"give {count}, e.g. {example}"
        )
    return tuple(int(piece) for piece in pieces)


def parse_key_values(items: Sequence[str], allowed: Iterable[str], owner: str) -> dict[str, str]:
    """``KEY=VALUE`` strings into a dict, rejecting unknown and repeated keys."""
    names = list(allowed)
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--param {shown(item)} must look like KEY=VALUE")
        if key not in names:
            valid = ", ".join(names) if names else "none"
            raise InputError(
                f"--param: unknown parameter {shown(key)} for {owner}{suggest(key, names)}; "
                f"valid: {valid}"
            )
        if key in pairs:
            raise InputError(
                f"--param {key} is given twice ({shown(pairs[key])} and {shown(value)})"
            )
        pairs[key] = value.strip()
    return pairs
