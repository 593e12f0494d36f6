"""Bounds on the work a command may start, checked from shapes before anything is allocated.

Memory: every command estimates the bytes its tensors will need (inputs, results, autograd
graphs, finite-difference batches) and refuses a job above ``GRADCLI_MAX_MEMORY`` (default
2 GB) with the size and the limit, instead of a slow climb into the allocator's error.
Torch-free.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable

from gradcli.errors import InputError, shown

MAX_MEMORY_ENV = "GRADCLI_MAX_MEMORY"
DEFAULT_MAX_MEMORY = 2 * 10**9
MAX_WORK_ENV = "GRADCLI_MAX_WORK"
DEFAULT_MAX_WORK = 5e10  # element operations (multiply-adds, activations): about a minute here
FLOAT64 = 8  # bytes per float64 entry: every comparison is made in float64
_OPERATIONS = re.compile(r"\d+(?:\.\d*)?(?:e[+-]?\d+)?", re.IGNORECASE | re.ASCII)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
_AMOUNT = re.compile(
    r"^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE | re.ASCII
)


def max_memory() -> int:
    """The memory limit in bytes: ``GRADCLI_MAX_MEMORY`` (``4G``, ``500MB``, ``1e9`` bytes…)."""
    raw = os.environ.get(MAX_MEMORY_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MEMORY
    match = _AMOUNT.match(raw)
    value = 0.0
    if match:
        base = 1024 if match[3] else 1000
        value = float(match[1]) * base ** _POWERS[match[2].lower()]
    if not (math.isfinite(value) and value >= 1):
        raise InputError(
            f"{MAX_MEMORY_ENV}={shown(raw)} is not a size; write bytes or a size such as 4G, "
            "500MB or 1GiB"
        )
    return int(value)


def human_bytes(count: float) -> str:
    """``80 GB``, ``1.5 MB``, ``512 bytes`` (decimal units)."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} bytes"


def require_memory(nbytes: float, what: str, of: str = "") -> None:
    """InputError when ``what`` needs more than the memory limit (``of``: "of weights"…)."""
    limit = max_memory()
    if nbytes > limit:
        raise InputError(
            f"{what} needs {human_bytes(nbytes)}{f' {of}' if of else ''}; the limit is "
            f"{human_bytes(limit)} (set {MAX_MEMORY_ENV} to raise it)"
        )


def max_work() -> float:
    """The work limit in element operations: ``GRADCLI_MAX_WORK`` (a number such as 1e11)."""
    raw = os.environ.get(MAX_WORK_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_WORK
    value = float(raw) if _OPERATIONS.fullmatch(raw) else math.nan  # ASCII digits only
    if not (math.isfinite(value) and value >= 1):
        raise InputError(f"{MAX_WORK_ENV}={shown(raw)} is not a number of operations, e.g. 1e11")
    return value


def require_work(operations: float, what: str) -> None:
    """InputError when ``what`` needs more element operations than the work limit."""
    limit = max_work()
    if operations > limit:
        raise InputError(
            f"{what} needs about {operations:.1e} operations; the limit is {limit:.0e} "
            f"(about a minute here; set {MAX_WORK_ENV} to raise it)"
        )


def check_limits() -> None:
    """InputError when a limit set in the environment cannot be read."""
    max_memory()
    max_work()


def entries(shape: Iterable[int]) -> int:
    """Number of entries of a tensor of ``shape`` (exact, however large)."""
    return math.prod(int(n) for n in shape)


PARSED_ENTRY_BYTES = 160  # peak bytes per number while a tensor's text is parsed (45–110 measured)
TEXT_PER_ENTRY = 32  # characters a number may take on average in @FILE / stdin text


def max_entries(copies: float = 0.0) -> int:
    """How many numbers a tensor given as text may hold: what the memory limit allows for
    ``copies`` float64 copies of it (the command's own need), and never more than parsing
    the text can hold (``PARSED_ENTRY_BYTES`` each)."""
    return int(max_memory() // max(FLOAT64 * copies, PARSED_ENTRY_BYTES))


def max_text(entries_allowed: int) -> int:
    """Characters of @FILE / stdin text read for at most ``entries_allowed`` numbers: room for
    ``TEXT_PER_ENTRY`` each (a float64 written in full takes 24), within an eighth of the
    memory limit (the text is held twice while it is joined), and at least 1 MB."""
    return max(min(entries_allowed * TEXT_PER_ENTRY, max_memory() // 8), 10**6)


def require_entries(shape: Iterable[int], what: str, copies: float = 1.0) -> None:
    """InputError when ``copies`` float64 tensors of ``shape`` exceed the memory limit."""
    require_memory(entries(shape) * FLOAT64 * copies, what)
