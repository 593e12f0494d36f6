"""Turn command-line text into numbers, tensors, shapes and parameters.

Pure Python: nothing here imports torch or knows about terminals. Every function reads
its input in linear time and raises :class:`InputError` naming the option and the token.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TextIO

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


def parse_tensor(
    text: str, what: str, *, max_dims: int = 4, max_entries: int | None = None
) -> TensorData:
    """A tensor from option text: ``1,2,3``, rows ``1,2;3,4``, a JSON nested list (up to
    ``max_dims`` deep), ``@FILE`` (the same forms, read from a text file) or ``-`` (stdin).

    At most ``max_entries`` numbers (default: what the memory limit allows while parsing,
    :func:`gradcli.limits.max_entries`); a file or stdin is read in chunks and refused as soon
    as it holds more, whatever size it claims to have.
    """
    from gradcli.limits import max_entries as memory_bound

    bound = memory_bound() if max_entries is None else max_entries
    source = _read_source(text, what, bound)
    data = _parse_source(source, text, what, max_dims)
    if len(data.values) > bound:
        raise _too_many(what, f"{len(data.values):,} numbers", bound)
    return data


def _parse_source(source: str, text: str, what: str, max_dims: int) -> TensorData:
    stripped = source.strip()
    if not stripped:
        raise InputError(f"{what} is empty: give numbers such as 1,2,3")
    if stripped.startswith("["):
        return _from_json(stripped, what, max_dims)
    if ";" in stripped or "\n" in stripped:
        if max_dims < 2:
            raise InputError(f"{what} must be a vector, not a matrix")
        return _from_rows(stripped, text, what)
    values = _numbers_in(stripped, what)
    if not values:
        raise InputError(f"no {what} given")
    return TensorData(values, (len(values),))


def tensor_arg(
    value: str | TensorData, what: str, *, max_dims: int = 4, max_entries: int | None = None
) -> TensorData:
    """An option's tensor: its text, parsed (:func:`parse_tensor`), or a tensor already
    read from Python values (``import gradcli``), its dimensions and size bounded the same
    way."""
    if isinstance(value, str):
        return parse_tensor(value, what, max_dims=max_dims, max_entries=max_entries)
    if value.dims > max_dims:
        raise InputError(
            f"{what} is nested {value.dims} lists deep; at most {max_dims} "
            f"dimension{'s' if max_dims != 1 else ''} are allowed here"
        )
    from gradcli.limits import max_entries as memory_bound

    bound = memory_bound() if max_entries is None else max_entries
    if len(value.values) > bound:
        raise _too_many(what, f"{len(value.values):,} numbers", bound)
    return value


_TOKEN = re.compile(r"[^,\s]+")
_ROW = re.compile(r"[^;\n]+")


def _from_rows(text: str, original: str, what: str) -> TensorData:
    """Rows separated by ``;`` or new lines, read into one flat list (no list per row)."""
    column = _one_per_row(text)
    if column:
        return TensorData(column, (len(column), 1))
    values: list[float] = []
    widths: list[int] = []
    for row in _ROW.finditer(text):
        body = row.group()
        if body.isspace():
            continue
        numbers = _numbers_in(body, what)
        if not numbers:
            raise InputError(f"no {what} given")
        values += numbers
        widths.append(len(numbers))
    if not widths:
        raise InputError(f"{what} {shown(original)} holds no numbers")
    if min(widths) != max(widths):
        lengths = ", ".join(str(width) for width in widths[:10])
        raise InputError(f"{what} is ragged: its rows have {lengths} values")
    return TensorData(values, (len(widths), widths[0]))


_WITHIN_A_ROW = re.compile(r"[^\S\n]|,")  # white space other than a new line, or a comma
_BREAK = re.compile(r"[,\s]")
FAST_BLOCK = 1 << 16  # characters converted at a time on the fast path


def _one_per_row(text: str) -> list[float] | None:
    """A column written one number per row (as ``np.savetxt`` writes a vector), read in one
    pass; None when a row holds more than one number or the fast path does not apply (the
    row-by-row reading then decides)."""
    rows = text.replace("\r\n", "\n").replace(";", "\n")
    return None if _WITHIN_A_ROW.search(rows) else _fast_numbers(rows)


def _numbers_in(text: str, what: str) -> list[float]:
    """The numbers of ``text`` (separated by commas and white space), each as
    :func:`parse_number` reads it; the first bad one is named."""
    values = _fast_numbers(text)
    if values is not None:
        return values
    return [parse_number(match.group(), what) for match in _TOKEN.finditer(text)]


def _fast_numbers(text: str) -> list[float] | None:
    """The numbers of ASCII ``text`` without ``_`` by ``float()``, which there reads exactly
    what ``_NUMBER`` allows (and nan/inf, which the finiteness check catches), converted a
    block at a time so that only one block's pieces exist at once. None when any piece is
    not a finite number: the careful reading then names it."""
    if not text.isascii() or "_" in text:
        return None
    values: list[float] = []
    start = 0
    try:
        while start < len(text):
            cut = _BREAK.search(text, start + FAST_BLOCK)
            end = cut.start() if cut else len(text)
            values += map(float, text[start:end].replace(",", " ").split())
            start = end
    except ValueError:
        return None
    return values if all(map(math.isfinite, values)) else None


def _too_many(what: str, found: str, bound: int) -> InputError:
    from gradcli.limits import MAX_MEMORY_ENV, human_bytes, max_memory

    return InputError(
        f"{what} holds {found}; the limit is {bound:,} numbers, set by the memory limit of "
        f"{human_bytes(max_memory())} (set {MAX_MEMORY_ENV} to raise it)"
    )


FILE_CHUNK = 1 << 16  # bytes read at a time from @FILE and stdin
BOM = "\ufeff"
_ENTRY_SEPARATORS = str.maketrans(",;[]", "    ")


def _read_source(text: str, what: str, max_entries: int) -> str:
    """The option's text, or the contents of ``@FILE`` / stdin for ``-``, read in chunks up
    to ``max_entries`` numbers (and the text that many numbers can take)."""
    if text.strip() == STDIN:
        claim_stdin(what)
        if sys.stdin is None:
            raise InputError(f"{what}: standard input is closed")
        stream = getattr(sys.stdin, "buffer", None) or sys.stdin
        return _read_bounded(stream, what, "standard input", max_entries)
    if not text.startswith(FILE_PREFIX):
        return text
    path = text[len(FILE_PREFIX) :]
    try:
        with open(path, "rb") as handle:
            return _read_bounded(handle, what, shown(path), max_entries)
    except OSError as error:
        raise InputError(f"{what}: cannot read {shown(path)}: {error.strerror}") from None


def _read_bounded(stream: BinaryIO | TextIO, what: str, name: str, max_entries: int) -> str:
    """Read ``stream`` chunk by chunk, counting the numbers on the way: refuse NUL bytes, text
    that is not UTF-8, more than ``max_entries`` numbers and more text than they need. A byte
    order mark at the start is skipped."""
    from gradcli.limits import max_text

    max_chars = max_text(max_entries)
    decoder = codecs.getincrementaldecoder("utf-8")()
    pieces: list[str] = []
    chars = entries = offset = 0
    inside = False  # the text so far ends inside a number
    while True:
        raw = stream.read(FILE_CHUNK)
        if "\0" in raw if isinstance(raw, str) else b"\0" in raw:
            raise InputError(f"{what}: {name} holds NUL bytes: it is not a text file")
        try:
            piece = raw if isinstance(raw, str) else decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as error:
            raise InputError(
                f"{what}: {name} is not UTF-8 text (byte {offset + error.start + 1})"
            ) from None
        offset += len(raw)
        if piece and not chars:
            piece = piece.removeprefix(BOM)
        if piece:
            chars += len(piece)
            if chars > max_chars:
                raise _too_long(what, name, max_chars, max_entries)
            spaced = piece.translate(_ENTRY_SEPARATORS)
            entries += len(spaced.split()) - (inside and not spaced[0].isspace())
            inside = not spaced[-1].isspace()
            if entries > max_entries:
                raise _too_many(what, f"more than {max_entries:,} numbers ({name})", max_entries)
            pieces.append(piece)
        if not raw:
            return "".join(pieces)


def _too_long(what: str, name: str, max_chars: int, max_entries: int) -> InputError:
    from gradcli.limits import MAX_MEMORY_ENV

    return InputError(
        f"{what}: {name} is longer than {max_chars:,} characters, more than {max_entries:,} "
        f"numbers can take (the limit set by the memory limit; set {MAX_MEMORY_ENV} to "
        "raise it)"
    )


def read_source(text: str, what: str) -> str:
    """The text of an option that may be ``@FILE`` or ``-`` (stdin), read in chunks with the
    bound every input file has (the numbers the memory limit allows, and the text they
    take); any other text as it is."""
    from gradcli.limits import max_entries as memory_bound

    return _read_source(text, what, memory_bound())


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
MAX_WHOLE_DIGITS = 100  # far beyond any size that fits; int() itself stops at 4,300 digits


def whole_number(text: str, what: str) -> int | None:
    """A whole number ≥ 0 written in ASCII digits, or None when ``text`` is not one; an
    InputError when it has more than ``MAX_WHOLE_DIGITS`` digits (no size is that large)."""
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text.lstrip("0")) > MAX_WHOLE_DIGITS:
        raise InputError(
            f"{what}: {shown(text)} has {len(text.lstrip('0')):,} digits; no size or count "
            f"that large can fit (at most {MAX_WHOLE_DIGITS} digits are read)"
        )
    return int(text)


def parse_dims(text: str, what: str, *, max_dims: int = 4, min_dims: int = 1) -> tuple[int, ...]:
    """A shape such as ``2x3x5x5`` (also ``2×3``, ``2,3``): positive whole numbers."""
    pieces = _DIM_SEPARATORS.split(text.strip())
    example = "x".join(["2", "3", "4", "5"][: max(min_dims, 2)])
    for piece in pieces:
        if not whole_number(piece, what):  # None or 0
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
