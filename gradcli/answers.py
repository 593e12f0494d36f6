"""``--expect`` as typed: which quantity each answer is for (torch-free).

Every command takes ``--expect`` (repeatable) in three forms:

- ``--expect VALUES`` — the bare answer, for the command's main quantity (its derivative);
- ``--expect KEY=VALUES`` — an answer for the quantity called KEY in the worked solution
  (``loss=0.2984``, ``layer2.delta=0.1385,-0.0381``);
- ``--expect @FILE`` — an answer sheet: one ``KEY=VALUES`` per line, blank lines and ``#``
  comments allowed; a bad line is named by its number.

The keys a command offers, with the shapes known before computing, come as an
:class:`Outline`; an unknown key is an error listing them, before torch is imported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gradcli.errors import InputError, closest, shown
from gradcli.expect import Expected, check_shape, parse_expected, shape_of, with_min_digits
from gradcli.parsing import FILE_PREFIX, read_source

_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}", re.ASCII)  # ASCII, bounded: no key is longer
SHEET_LINES = 10_000  # lines of an answer sheet: far more than any worked solution has keys
KEYS_SHOWN = 24  # keys listed in an error message before "…"

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Outline:
    """The keys of a command's worked solution, in computation order, with each one's shape
    when it is known before computing (None: checked once computed); ``main`` is the key a
    bare ``--expect`` answers; ``also`` are other shapes an answer may take for a key (a slip
    of another shape, named when it matches)."""

    shapes: Mapping[str, Shape | None]
    main: str | None = None
    command: str = ""
    also: Mapping[str, Sequence[Shape]] = field(default_factory=dict)
    # keys that exist only with another option, or never here: key → why, as it follows
    # "--expect KEY" (" checks … give --lr", ": --bias is none, …")
    needs: Mapping[str, str] = field(default_factory=dict)
    hint: Callable[[str], str] | None = None  # why an unknown key names nothing, if known
    names: Mapping[str, str] = field(default_factory=dict)  # how messages name a key (∂L/∂x)

    def keys_text(self) -> str:
        keys = list(self.shapes)
        if len(keys) > KEYS_SHOWN:
            return f"{', '.join(keys[:KEYS_SHOWN])}, … ({len(keys)} keys)"
        return ", ".join(keys)


@dataclass(frozen=True)
class _Item:
    text: str  # KEY=VALUES or VALUES
    where: str  # "" on the command line, " (answers.txt line 3)" from a sheet


def parse_answers(
    items: Sequence[str] | None,
    outline: Outline,
    min_digits: int | None = None,
    shape_check: Callable[[Expected, Shape, str], None] | None = None,
) -> dict[str, Expected]:
    """The answers by key, each parsed with its digits, shape-checked where the shape is
    known, and checked with ``--min-digits``.

    ``shape_check(answer, shape, key)`` replaces the plain shape check of the answers typed
    on the command line (a command that takes numbers as arguments blames the numbers typed
    after ``--expect``'s value)."""
    split: dict[str, tuple[_Item, str]] = {}
    for item in _expanded(items or []):
        key, value = _split(item, outline)
        if key in split:
            bare = ("=" in split[key][0].text) != ("=" in item.text)
            given = "given twice (bare and as a key)" if bare else "given twice"
            raise InputError(f"--expect {key} is {given}{item.where}")
        split[key] = (item, value)
    answers: dict[str, Expected] = {}
    for key, (item, value) in split.items():
        what = f"--expect {key}{item.where}"
        shape = outline.shapes[key]
        answer = parse_answer(value, what, shape, outline.names.get(key, "the quantity"))
        if shape is not None:
            if shape_check is not None and not item.where:
                shape_check(answer, shape, key)
            else:
                check_shape(answer, _view(shape), f"{key}{item.where}", outline.also.get(key, ()))
        answers[key] = answer
    if min_digits is not None and not answers:
        raise InputError(
            f"--min-digits {min_digits} sets how many digits an --expect answer needs: "
            "add your answer with --expect"
        )
    return {key: with_min_digits(answer, min_digits) for key, answer in answers.items()}


def _split(item: _Item, outline: Outline) -> tuple[str, str]:
    """(key, values) of one item; a bare answer is the main key's."""
    text = item.text
    head, sep, rest = text.partition("=")
    if sep and _KEY.fullmatch(head.strip()):
        key = head.strip()
        if key not in outline.shapes:
            lowered = key.lower()
            if lowered in outline.needs:
                raise InputError(f"--expect {lowered}{item.where}{outline.needs[lowered]}")
            if lowered not in outline.shapes:
                raise unknown_key(key, outline, item)
            key = lowered
        return key, rest
    if sep or outline.main is None:
        example = next(iter(outline.shapes), "KEY")
        raise InputError(
            f"--expect {shown(text)}{item.where} must look like KEY=VALUES, e.g. "
            f"{example}=…; {_keys_clause(outline)}"
        )
    return outline.main, text


def unknown_key(key: str, outline: Outline, item: _Item) -> InputError:
    """``--expect 'layer3.delta=1': 'layer3.delta' names no quantity (did you mean …?);
    perceptron's keys here: …``."""
    hint = outline.hint(key) if outline.hint is not None else ""
    if not hint:
        guess = closest(key, outline.shapes)
        hint = f" (did you mean '{guess}'?)" if guess else ""
    written = shown(item.text.strip(), 40)
    return InputError(
        f"--expect {written}{item.where}: {shown(key)} names no quantity{hint}; "
        f"{_keys_clause(outline)}"
    )


def _keys_clause(outline: Outline) -> str:
    owner = f"{outline.command}'s keys" if outline.command else "the keys"
    return f"{owner} here: {outline.keys_text()}"


def _expanded(items: Sequence[str]) -> list[_Item]:
    """The items, with each ``@FILE`` replaced by its lines."""
    out = []
    for text in items:
        if text.startswith(FILE_PREFIX):
            out += _sheet(text)
        else:
            out.append(_Item(text, ""))
    return out


def _sheet(text: str) -> list[_Item]:
    """An answer sheet's ``KEY=VALUES`` lines (blank lines and # comments skipped), read
    with the bound every @FILE has."""
    name = text[len(FILE_PREFIX) :]
    source = read_source(text, "--expect")
    lines = source.splitlines()
    if len(lines) > SHEET_LINES:
        raise InputError(
            f"--expect {shown(text)} has {len(lines):,} lines; an answer sheet has at most "
            f"{SHEET_LINES:,} (one KEY=VALUES per line)"
        )
    items = []
    for number, line in enumerate(lines, 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        where = f" ({name} line {number})"
        if "=" not in body:
            raise InputError(
                f"--expect {shown(text)} line {number}: {shown(body)} must look like "
                "KEY=VALUES (one answer per line)"
            )
        items.append(_Item(body, where))
    if not items:
        raise InputError(f"--expect {shown(text)} holds no answers: write one KEY=VALUES per line")
    return items


def _view(shape: Shape) -> Shape:
    """How an answer of ``shape`` is written: a number as one value, a higher tensor as its
    2-D view."""
    if not shape:
        return (1,)
    if len(shape) <= 2:
        return tuple(shape)
    return (math.prod(shape[:-1]), shape[-1])


def parse_answer(text: str, what: str, shape: Shape | None, name: str = "the quantity") -> Expected:
    """The answer as written, laid out as the quantity's answer view.

    A number, vector or matrix quantity takes the answer as written (a transposed matrix is
    caught and named later); a 3-D or 4-D one takes either the full nested JSON or its 2-D
    view (rows = every index but the last, written ``a,b;c,d``)."""
    if shape is None or len(shape) <= 2:
        return parse_expected(text, what)
    view = _view(shape)
    stripped = text.strip()
    if not stripped.startswith("["):
        answer = parse_expected(stripped, what)
        got = shape_of(answer.entries)
        vector_like = len(got) == 1 and 1 in view and got[0] == math.prod(view)
        if got != view and not vector_like:  # one row (or column) may be written as a list
            raise _shape_error(what, got, shape, view, name)
        return answer
    tokens, got = _json_tokens(stripped, what)
    if got not in (tuple(shape), view):
        raise _shape_error(what, got, shape, view, name)
    rows = [tokens[i : i + shape[-1]] for i in range(0, len(tokens), shape[-1])]
    return parse_expected(";".join(",".join(row) for row in rows), what)


def _dims(shape: Sequence[int]) -> str:
    return "×".join(str(n) for n in shape)


def _shape_error(what: str, got, shape, view, name: str) -> InputError:
    return InputError(
        f"{what} has shape {_dims(got)} but {name} has shape {_dims(shape)} "
        f"(write it as nested JSON, or as its {_dims(view)} rows)"
    )


def _json_tokens(text: str, what: str) -> tuple[list[str], tuple[int, ...]]:
    """The number tokens of a nested JSON answer, as written, and its shape."""
    import json

    try:
        data = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except (json.JSONDecodeError, RecursionError):
        raise InputError(f"{what} {shown(text)} is not a valid JSON list") from None
    shape: list[int] = []
    node = data
    while isinstance(node, list) and node and len(shape) <= 4:
        shape.append(len(node))
        node = node[0]
    tokens: list[str] = []

    def walk(node, depth: int) -> None:
        if depth == len(shape):
            if not isinstance(node, str):
                raise InputError(f"{what}: {shown(json.dumps(node))} is not a number")
            tokens.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise InputError(f"{what} is ragged or nested too deeply (every row needs the "
                             "same length, at most 4 dimensions)")  # fmt: skip
        for item in node:
            walk(item, depth + 1)

    walk(data, 0)
    return tokens, tuple(shape)
