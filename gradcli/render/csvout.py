"""CSV output: a header row, then one row per value (matrices flattened with indices).

Rows are streamed as they are generated. Cells are numbers, booleans (``true``/``false``),
blanks and short words, so a row is a plain comma join; a text cell that holds a comma, a
quote or a line break is quoted as RFC 4180 says.
"""

from __future__ import annotations

from typing import Any, TextIO

from gradcli.results import ColumnBlocks

_SPECIAL = frozenset(',"\n\r')


def _text(value: str) -> str:
    if _SPECIAL.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'


_FORMAT = {
    float: float.__repr__,
    int: int.__repr__,
    bool: lambda v: "true" if v else "false",
    type(None): lambda v: "",
    str: _text,
}


def _cell(value: Any) -> str:
    format_value = _FORMAT.get(type(value))
    return format_value(value) if format_value is not None else _text(str(value))


def _column(values: list[Any]) -> list[str]:
    """A column's cells: one object repeated (an index, a flag) formatted once, a column of
    floats (or of ints) in one pass."""
    if values and len(set(map(id, values))) == 1:
        return [_cell(values[0])] * len(values)
    kinds = set(map(type, values))
    if len(kinds) == 1 and (kind := kinds.pop()) in (float, int):
        return list(map(kind.__repr__, values))
    return list(map(_cell, values))


def write_csv(result: Any, out: TextIO) -> None:
    header, rows = result.csv_rows()
    out.write(",".join(map(_text, header)) + "\n")
    if isinstance(rows, ColumnBlocks):
        previous: dict[int, tuple[list[Any], list[str]]] = {}
        for columns in rows:
            current = {}  # a column list the last block had too (j, a_j) is formatted once
            for values in columns:
                known = previous.get(id(values))
                cells = known[1] if known is not None and known[0] is values else _column(values)
                current[id(values)] = (values, cells)
            lines = map(",".join, zip(*(current[id(v)][1] for v in columns), strict=True))
            out.write("\n".join(lines) + "\n")
            previous = current
        return
    batch: list[str] = []
    for row in rows:
        batch.append(",".join(map(_cell, row)))
        if len(batch) == 4096:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
