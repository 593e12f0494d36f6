"""A compact vector, matrix or higher tensor of numbers that reads like nested lists.

Results hold their derivatives as :class:`Grid` rather than lists of lists: 8 bytes per
float64 entry (1 per bool) instead of ~32 for a Python float in a list, so a 2000×2000
Jacobian costs 32 MB, not 128 MB, per copy. ``grid[i]`` is a float (vector), a list (a
matrix row) or a sub-grid (higher tensors), ``grid[i][j]`` an entry of a matrix, ``len(grid)``
the rows — renderers index it as they would a list — and JSON/CSV writers stream it row by
row. Entries a sampled check left
out read as ``None``. Torch-free.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

FLOAT, BOOL = "d", "b"


class Grid:
    """A row-major array of floats (or bools) with a shape of one or more dimensions."""

    __slots__ = ("data", "present", "shape")

    def __init__(self, data: array, shape: tuple[int, ...], present: array | None = None):
        if not shape or math.prod(shape) != len(data):
            raise ValueError(f"a grid of shape {shape} cannot hold {len(data)} entries")
        self.data = data
        self.shape = tuple(shape)
        self.present = present  # 1 where the entry exists; None means everywhere

    @classmethod
    def of(cls, nested: Sequence, typecode: str = FLOAT) -> Grid:
        """A grid from nested lists of any depth (None entries are missing)."""
        shape: list[int] = []
        node: Any = nested
        while isinstance(node, (list, tuple)):
            shape.append(len(node))
            node = node[0] if node else None
        flat = list(_leaves(nested, len(shape)))
        missing = [v is None for v in flat]
        data = array(typecode, [0 if v is None else v for v in flat])
        present = array(BOOL, [not m for m in missing]) if any(missing) else None
        return cls(data, tuple(shape), present)

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) == 2

    @property
    def dims(self) -> int:
        return len(self.shape)

    @property
    def is_bool(self) -> bool:
        return self.data.typecode == BOOL

    @property
    def size(self) -> int:
        return len(self.data)

    def __len__(self) -> int:
        return self.shape[0]

    def __bool__(self) -> bool:
        return self.size > 0

    def _value(self, k: int) -> Any:
        if self.present is not None and not self.present[k]:
            return None
        value = self.data[k]
        return bool(value) if self.is_bool else value

    def row(self, i: int) -> list:
        """Row i as a list (a matrix), or [entry i] for a vector."""
        if not self.is_matrix:
            return [self._value(i)]
        width = self.shape[1]
        start = i * width
        if self.present is None:
            values = self.data[start : start + width].tolist()
            return [bool(v) for v in values] if self.is_bool else values
        return [self._value(k) for k in range(start, start + width)]

    def __getitem__(self, i: int) -> Any:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for a grid of {len(self)} rows")
        i %= len(self)
        if self.dims > 2:
            return self.block(i)
        return self.row(i) if self.is_matrix else self._value(i)

    def block(self, i: int) -> Grid:
        """The sub-grid at index i of the first dimension (a higher tensor's slice)."""
        step = math.prod(self.shape[1:])
        part = slice(i * step, (i + 1) * step)
        present = None if self.present is None else self.present[part]
        return Grid(self.data[part], self.shape[1:], present)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))

    def rows(self) -> Iterator[list]:
        """Each innermost row as a list, row-major (a vector is one row)."""
        if self.dims == 1:
            return iter([self.flat()])
        width = self.shape[-1]
        flat_rows = Grid(self.data, (self.size // width, width), self.present)
        return (flat_rows.row(i) for i in range(len(flat_rows)))

    def flat(self) -> list:
        """Every entry, row-major, as a list."""
        if self.present is None:
            values = self.data.tolist()
            return [bool(v) for v in values] if self.is_bool else values
        return [self._value(k) for k in range(self.size)]

    def tolist(self) -> list:
        if self.dims > 2:
            return [self.block(i).tolist() for i in range(len(self))]
        return list(self.rows()) if self.is_matrix else self.flat()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Grid):
            return self.shape == other.shape and self.tolist() == other.tolist()
        if isinstance(other, list):
            return self.tolist() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: object) -> list:
        """Concatenation, as for the lists a grid stands in for."""
        return self.tolist() + list(other)  # type: ignore[call-overload]

    def __radd__(self, other: object) -> list:
        return list(other) + self.tolist()  # type: ignore[call-overload]

    def __repr__(self) -> str:
        kind = "bool" if self.is_bool else "float"
        return f"Grid({kind}, shape={self.shape}, {self.tolist() if self.size <= 20 else '…'})"


def _leaves(node: Any, depth: int) -> Iterator[Any]:
    if depth == 0:
        yield node
        return
    if not isinstance(node, (list, tuple)):
        raise ValueError("a ragged nested list cannot be a grid")
    for item in node:
        yield from _leaves(item, depth - 1)


def nested(values: Any) -> Any:
    """Lists for a Grid (small results, tests); anything else as it is."""
    return values.tolist() if isinstance(values, Grid) else values
