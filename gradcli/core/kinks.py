"""One-sided derivatives for ``--expect`` at kinks.

Where a function is not differentiable — relu at 0, abs at 0, hardtanh at its clamps, a tie
inside a max-pooling window — textbooks differ on the value of the derivative, and torch
picks one. :mod:`gradcli.expect` accepts either one-sided derivative, or anything between
them, for an entry that sits on a kink; the finders here tell it which entries do, by
evaluating the command's own analytic derivative just left and just right of the point.
Entries whose one-sided values agree within the verdict's tolerance are not kinks.

They are asked only about entries the answer missed, and probe at most :data:`PROBE_LIMIT`
of them one at a time (elementwise functions probe all at once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from gradcli.core.engine import torch
from gradcli.expect import Kink, KinkFinder, is_kink
from gradcli.settings import Tolerance

Tensor = torch.Tensor
NUDGE = 2.0**-36  # relative step off the point: past rounding in a sum, ~1e-11 from the limit
PROBE_LIMIT = 64  # entries probed one at a time (two evaluations each)

# flat entry k, direction ±1 → the derivative there just off the point, or None (undefined)
OneSided = Callable[[int, int], "float | None"]


def nudge(value: float, direction: int) -> float:
    """``value`` moved a little in ``direction`` (relative to its size, at least NUDGE)."""
    return value + direction * NUDGE * max(abs(value), 1.0)


def probing_finder(
    one_sided: OneSided, computed: Sequence[float], tolerance: Tolerance
) -> KinkFinder:
    """A finder that evaluates ``one_sided`` left and right of each missed entry."""

    def find(indices: list[int]) -> dict[int, Kink]:
        found = {}
        for k in indices[:PROBE_LIMIT]:
            left, right = one_sided(k, -1), one_sided(k, 1)
            if left is not None and right is not None and is_kink(left, right, tolerance):
                found[k] = Kink(left, right, computed[k])
        return found

    return find


def elementwise_finder(
    derivative: Callable[[Tensor], Tensor], x: Tensor, computed: Sequence[float], tolerance
) -> KinkFinder:
    """For a derivative whose entry k depends on x's entry k alone (or hardly on the others):
    every missed entry moved to its float64 neighbour on each side at once."""
    flat = x.detach().double().reshape(-1)

    def find(indices: list[int]) -> dict[int, Kink]:
        index = torch.tensor(indices, dtype=torch.long)
        sides = []
        for toward in (-math.inf, math.inf):
            moved = flat.clone()
            moved[index] = torch.nextafter(flat[index], torch.full_like(flat[index], toward))
            value = derivative(moved.reshape(x.shape)).detach().double().reshape(-1)
            sides.append(value[index].tolist())
        return {
            k: Kink(left, right, computed[k])
            for k, left, right in zip(indices, *sides, strict=True)
            if is_kink(left, right, tolerance)
        }

    return find


def flat_nudged(tensor: Tensor, k: int, direction: int) -> Tensor:
    """A float64 copy of ``tensor`` with its flat entry k nudged in ``direction``."""
    moved = tensor.detach().double().clone()
    flat = moved.view(-1)
    flat[k] = nudge(float(flat[k]), direction)
    return moved
