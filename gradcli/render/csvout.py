"""CSV output: a header row, then one row per value (matrices flattened with indices)."""

from __future__ import annotations

import csv
from typing import Any, TextIO


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def write_csv(result: Any, out: TextIO) -> None:
    header, rows = result.csv_rows()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
