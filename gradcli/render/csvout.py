"""CSV output: a header row, then one row per value (matrices flattened with indices).

Rows are streamed as they are generated. Cells are numbers, booleans (``true``/``false``),
blanks and short words, so a row is a plain comma join; a text cell that holds a comma, a
quote or a line break is quoted as RFC 4180 says.
"""

from __future__ import annotations

from typing import Any, TextIO

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
    return _FORMAT.get(type(value), lambda v: _text(str(v)))(value)


def write_csv(result: Any, out: TextIO) -> None:
    header, rows = result.csv_rows()
    out.write(",".join(map(_text, header)) + "\n")
    batch: list[str] = []
    for row in rows:
        batch.append(",".join(map(_cell, row)))
        if len(batch) == 4096:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
