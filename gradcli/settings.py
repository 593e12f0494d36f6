"""Precision settings shared by the CLI and the core (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Dtype(str, Enum):
    """Floating-point type the analytic and autograd sides compute in."""

    float64 = "float64"
    float32 = "float32"


@dataclass(frozen=True)
class Tolerance:
    """``|a − b| ≤ atol + rtol·|b|``, as in ``torch.allclose``."""

    atol: float
    rtol: float

    def bound(self, reference: float) -> float:
        """Largest difference allowed next to ``reference``."""
        return self.atol + self.rtol * abs(reference)


# float64 leaves room for the ~1e-9 error of central differences; float32 for its rounding.
DEFAULT_TOLERANCE: dict[Dtype, Tolerance] = {
    Dtype.float64: Tolerance(atol=1e-6, rtol=1e-5),
    Dtype.float32: Tolerance(atol=1e-4, rtol=1e-3),
}


def tolerance_for(dtype: Dtype, atol: float | None = None, rtol: float | None = None) -> Tolerance:
    """The dtype's default tolerance with any user overrides applied."""
    default = DEFAULT_TOLERANCE[dtype]
    return Tolerance(
        atol=default.atol if atol is None else atol,
        rtol=default.rtol if rtol is None else rtol,
    )


@dataclass(frozen=True)
class Settings:
    """How to compute: dtype, tolerance and whether to add finite differences."""

    dtype: Dtype = Dtype.float64
    tolerance: Tolerance = DEFAULT_TOLERANCE[Dtype.float64]
    numeric: bool = True
