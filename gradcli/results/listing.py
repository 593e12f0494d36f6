"""A registry listing (``--list``): one entry per registered function, for tables and machines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ListingTable:
    """One table of the human listing: a title, column names and rows of text."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


@dataclass(frozen=True)
class Listing:
    """What ``COMMAND --list`` prints: tables for people, entries (dicts) for JSON and CSV."""

    command: str
    entries: list[dict[str, Any]]
    tables: Sequence[ListingTable]
    notes: list[str] = field(default_factory=list)
    agree: bool = True  # a listing computes nothing: exit 0

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "list": self.entries, "notes": self.notes}

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        """One row per entry; nested values (parameters) as ``key=value`` text."""
        header = list(self.entries[0]) if self.entries else []
        rows = [[_cell(entry[key]) for key in header] for entry in self.entries]
        return header, rows


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return "; ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(str(item) for item in value)
    return value
