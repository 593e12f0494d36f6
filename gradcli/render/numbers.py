"""How every table writes a number."""

from __future__ import annotations


def number(value: float | None, precision: int) -> str:
    """``precision`` significant digits; blank for a missing value; never ``-0``."""
    return "" if value is None else f"{value + 0.0:.{precision}g}"
