"""JSON output: one object per result, on one line (JSON Lines friendly).

The object is written as it is walked: grids (a result's matrices) go out one row at a time,
so a 2000×2000 Jacobian never exists as one Python list or one string. The text is exactly
what ``json.dumps`` would give for the same data (separators ``", "`` and ``": "``).
"""

from __future__ import annotations

import io
import json
from typing import Any, TextIO

from gradcli.results import json_safe
from gradcli.results.grid import Grid
from gradcli.streams import json_ascii


def to_json_text(result: Any) -> str:
    """The result's documented JSON object as one line; non-finite floats become null."""
    buffer = io.StringIO()
    write_value(result.to_json(), buffer, json_ascii())
    return buffer.getvalue()


STREAM_ABOVE = 20_000  # entries in a result's grids: above this, write row by row


def write_json(result: Any, out: TextIO) -> None:
    """Write the result's JSON object and a newline: small results in one ``json.dumps``,
    large ones streamed, their grids row by row (the text is the same)."""
    data = result.to_json()
    if _entries(data) <= STREAM_ABOVE:
        out.write(_dumps(data, json_ascii()) + "\n")
        return
    write_value(data, out, json_ascii())
    out.write("\n")


def _dumps(data: Any, ascii_only: bool) -> str:
    """``json.dumps`` of the data with non-finite floats as null: in one pass of the C
    encoder when every float is finite (the usual case), else after :func:`json_safe`."""
    try:
        return json.dumps(data, ensure_ascii=ascii_only, allow_nan=False, default=_grid_list)
    except ValueError:  # NaN or ±inf somewhere
        return json.dumps(json_safe(data), ensure_ascii=ascii_only)


def _grid_list(value: Any) -> Any:
    if isinstance(value, Grid):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _entries(value: Any) -> int:
    """Entries held in grids anywhere inside ``value`` (a walk without recursion: batch
    asks this of every line's result)."""
    total, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Grid):
            total += item.size
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list) and item and isinstance(item[0], (dict, Grid)):
            pending.extend(item)
    return total


def write_value(value: Any, out: TextIO, ascii_only: bool) -> None:
    """Write one JSON value; non-finite floats become null (non-ASCII escaped if asked)."""
    if isinstance(value, Grid):
        _write_grid(value, out, ascii_only)
    elif isinstance(value, dict):
        out.write("{")
        for i, (key, item) in enumerate(value.items()):
            out.write(f"{', ' if i else ''}{json.dumps(key, ensure_ascii=ascii_only)}: ")
            write_value(item, out, ascii_only)
        out.write("}")
    elif isinstance(value, list) and value and isinstance(value[0], (dict, Grid)):
        out.write("[")
        for i, item in enumerate(value):
            out.write(", " if i else "")
            write_value(item, out, ascii_only)
        out.write("]")
    else:
        out.write(json.dumps(json_safe(value), ensure_ascii=ascii_only))


def _write_grid(grid: Grid, out: TextIO, ascii_only: bool) -> None:
    if grid.dims == 1:
        out.write(json.dumps(json_safe(grid.flat()), ensure_ascii=ascii_only))
        return
    out.write("[")
    if grid.dims == 2:  # rows in chunks of about STREAM_ABOVE entries: one dumps per chunk
        per_chunk = max(1, STREAM_ABOVE // max(1, grid.size // max(1, len(grid))))
        for start in range(0, len(grid), per_chunk):
            rows = [grid.row(i) for i in range(start, min(start + per_chunk, len(grid)))]
            out.write(", " if start else "")
            out.write(json.dumps(json_safe(rows), ensure_ascii=ascii_only)[1:-1])
    else:
        for i in range(len(grid)):
            out.write(", " if i else "")
            _write_grid(grid.block(i), out, ascii_only)
    out.write("]")
