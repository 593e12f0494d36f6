"""Turn command-line text into numbers, vectors, matrices and parameters.

Pure Python: nothing here imports torch or knows about terminals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence

from gradcli.errors import InputError, suggest

Vector = list[float]
Matrix = list[list[float]]

_SEPARATORS = re.compile(r"[,\s]+")


def parse_number(token: str) -> float:
    """A finite float from ``token``; NaN, inf and non-numbers are input errors."""
    text = token.strip()
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"'{token}' is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"'{token}' is not a finite number (NaN and inf are not allowed)")
    return value


def split_numbers(text: str) -> list[str]:
    """Split on commas and white space, dropping empty pieces."""
    return [piece for piece in _SEPARATORS.split(text) if piece]


def parse_values(tokens: Iterable[str], what: str = "values") -> Vector:
    """Numbers from positional tokens; each token may itself hold several."""
    values = [parse_number(piece) for token in tokens for piece in split_numbers(token)]
    if not values:
        raise InputError(f"no {what} given")
    return values


def parse_array(text: str, what: str) -> Vector | Matrix:
    """A vector (``1,2,3``) or matrix (``1,2;3,4`` or ``[[1,2],[3,4]]``) from option text."""
    stripped = text.strip()
    if stripped.startswith("["):
        return _from_json(stripped, what)
    if ";" in stripped:
        rows = [row for row in stripped.split(";") if row.strip()]
        return _rectangular([parse_values([row], what) for row in rows], what)
    return parse_values([stripped], what)


def parse_matrix(text: str, what: str) -> Matrix:
    """Like :func:`parse_array`, but a plain vector becomes a one-row matrix."""
    array = parse_array(text, what)
    return array if isinstance(array[0], list) else [array]


def _from_json(text: str, what: str) -> Vector | Matrix:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(f"{what} '{text}' is not a valid JSON list") from None
    if not isinstance(data, list) or not data:
        raise InputError(f"{what} '{text}' must be a non-empty list")
    if all(isinstance(row, list) for row in data):
        return _rectangular([_json_numbers(row, what) for row in data], what)
    return _json_numbers(data, what)


def _json_numbers(items: list, what: str) -> Vector:
    if not items:
        raise InputError(f"{what} has an empty row")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InputError(f"{what}: {json.dumps(item)} is not a number")
    return [parse_number(repr(float(item))) for item in items]


def _rectangular(rows: Matrix, what: str) -> Matrix:
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        lengths = ", ".join(str(len(row)) for row in rows)
        raise InputError(f"{what} is ragged: its rows have {lengths} values")
    return rows


def parse_key_values(items: Sequence[str], allowed: Iterable[str], owner: str) -> dict[str, str]:
    """``KEY=VALUE`` strings into a dict, rejecting keys not in ``allowed``."""
    names = list(allowed)
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--param '{item}' must look like KEY=VALUE")
        if key not in names:
            valid = ", ".join(names) if names else "none"
            raise InputError(
                f"unknown parameter '{key}' for {owner}{suggest(key, names)}; valid: {valid}"
            )
        pairs[key] = value.strip()
    return pairs
