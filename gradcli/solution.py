"""The worked solution: every quantity of a computation, in the order it is computed.

A homework answer is not one gradient but a chain — pre-activations, outputs, the loss, each
δ, the weight gradients, the updated weights. Each command records its computation as a
:class:`Solution`: an ordered list of :class:`Quantity` records, one per named quantity::

    Quantity(key="layer2.delta", symbol="δ", formula="δ_k = (O_k − t_k)·O_k(1 − O_k)",
             value=[[0.138499, -0.0380982]], depends_on=("layer2.output",),
             compute=lambda v: …)   # δ from the value of layer2.output it is given

How a command builds it: its core computes as it always has and, for each quantity it
already holds, appends a record with the true value and a ``compute`` function that
recomputes that quantity from the values of the keys in ``depends_on`` — through the same
registry code (forward, derivative, loss gradient…) the command itself used, so there is no
second implementation of the maths. Inputs (x, W, the target, G) are not quantities: a
``compute`` closes over them.

Who reads it:

- ``--steps`` renders the list (key, symbol, formula, value);
- ``--expect KEY=VALUES`` checks any quantity by its key (the bare ``--expect VALUES``
  checks ``Solution.main``, the command's main derivative);
- :mod:`gradcli.marking` walks it in order and marks each answer right, wrong or *carried
  forward* — wrong, but right when recomputed by ``compute`` from the student's own
  earlier values;
- JSON writes it as the ``solution`` list.

Values are plain Python — a number, a list, nested lists or a :class:`~gradcli.results.grid.Grid`
— never tensors, and this module imports no torch: ``compute`` functions take and return
plain values too (the core's closures convert).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import KinkFinder, Slip
from gradcli.results.grid import Grid

Value = Any  # a number, a list, nested lists or a Grid: plain Python, no tensors
Compute = Callable[[Mapping[str, Value]], Value]


@dataclass(frozen=True)
class Quantity:
    """One named quantity of a worked solution and how it follows from the others.

    ``compute(values)`` recomputes it from ``values[key]`` for every key in ``depends_on``
    (shaped like those quantities' own values); None when it follows from inputs only.
    ``slips`` gives, only when asked (they cost), the values common mistakes would produce;
    ``kinks`` finds entries that sit on a kink; ``labels`` name a vector's entries in
    messages (``x[1] = 0.5``), else they are written ``locator[i][j]`` (default: the key);
    ``noun`` is how a message names the quantity (default: the symbol).
    """

    key: str
    symbol: str
    formula: str
    value: Value
    depends_on: tuple[str, ...] = ()
    compute: Compute | None = None
    dim_names: tuple[str, ...] = ()
    slips: Callable[[], Sequence[Slip]] | None = None
    kinks: KinkFinder | None = None
    labels: tuple[str, ...] = ()
    noun: str = ""
    locator: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return shape_of(self.value)

    @property
    def name(self) -> str:
        """How messages name the quantity."""
        return self.noun or self.symbol

    def recompute(self, values: Mapping[str, Value]) -> Value | None:
        """The quantity computed from ``values`` of its dependencies, shaped like ``value``;
        None when it has no ``compute`` or the values are outside its domain (a student's
        output of 1.3 where the loss takes logs)."""
        if self.compute is None:
            return None
        try:
            result = self.compute({key: values[key] for key in self.depends_on})
        except (ArithmeticError, ValueError, RuntimeError):  # torch raises RuntimeError
            return None
        if shape_of(result) == self.shape:
            return result
        flat = flat_values(result)  # the same entries in another form (conv's 1×1×H×W)
        return nest(flat, self.shape) if len(flat) == math.prod(self.shape) else None


@dataclass(frozen=True)
class Solution:
    """The quantities of one computation in computation order (every quantity comes after
    those it depends on); ``main`` is the key a bare ``--expect`` checks."""

    quantities: tuple[Quantity, ...] = ()
    main: str | None = None
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for i, quantity in enumerate(self.quantities):
            if quantity.key in self._index:
                raise ValueError(f"the quantity {quantity.key!r} is defined twice")
            missing = [key for key in quantity.depends_on if key not in self._index]
            if missing:
                raise ValueError(f"{quantity.key!r} depends on {missing} defined after it")
            self._index[quantity.key] = i
        if self.main is not None and self.main not in self._index:
            raise ValueError(f"the main quantity {self.main!r} is not in the solution")

    def __iter__(self) -> Iterator[Quantity]:
        return iter(self.quantities)

    def __len__(self) -> int:
        return len(self.quantities)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __getitem__(self, key: str) -> Quantity:
        return self.quantities[self._index[key]]

    def get(self, key: str) -> Quantity | None:
        return self.quantities[self._index[key]] if key in self._index else None

    def keys(self) -> list[str]:
        """Every key, in computation order (for messages and listings)."""
        return [quantity.key for quantity in self.quantities]

    def values(self) -> dict[str, Value]:
        """Every quantity's true value by key."""
        return {quantity.key: quantity.value for quantity in self.quantities}

    def depending_on(self, key: str) -> list[str]:
        """The keys computed (directly or not) from ``key``, in computation order."""
        reached = {key}
        for quantity in self.quantities:
            if reached.intersection(quantity.depends_on):
                reached.add(quantity.key)
        return [k for k in self.keys() if k in reached and k != key]


# ---------------------------------------------------------------- values


def shape_of(value: Value) -> tuple[int, ...]:
    """``()`` for a number, else the nested lists' (or the grid's) dimensions."""
    if isinstance(value, Grid):
        return value.shape
    shape: list[int] = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def flat_values(value: Value) -> list:
    """Every entry, row-major."""
    if isinstance(value, Grid):
        return value.flat()
    if not isinstance(value, (list, tuple)):
        return [value]
    out: list = []
    stack = [value]
    while stack:
        node = stack.pop()
        if node and isinstance(node[0], (list, tuple)):
            stack.extend(reversed(node))
        else:
            out.extend(node)
    return out


def nest(flat: Sequence, shape: Sequence[int]) -> Value:
    """Row-major ``flat`` entries as nested lists of ``shape`` (``()``: the one number)."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = math.prod(shape[1:])
    return [nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def answer_view(value: Value) -> list:
    """The value as an answer is written: a number as a vector of one, a vector or a matrix
    as it is, a higher tensor as its 2-D view (rows = every index but the last)."""
    shape = shape_of(value)
    flat = flat_values(value)
    if len(shape) <= 1:
        return flat
    width = shape[-1]
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def view_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The shape of :func:`answer_view` for a value of ``shape``."""
    if len(shape) <= 1:
        return (math.prod(shape),) if shape else (1,)
    return (math.prod(shape[:-1]), shape[-1])
