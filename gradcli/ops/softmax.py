"""What softmax-jacobian accepts, checked before torch is imported."""

from __future__ import annotations

import math

from gradcli.errors import InputError

# bytes held per Jacobian entry at the peak: the analytic, autograd and numeric matrices,
# the numeric error estimates, the verdict's temporaries and the grids of the result (measured:
# 351 MB above torch's own for n = 2000, i.e. 88 bytes per entry)
JACOBIAN_BYTES_PER_ENTRY = 96


def check_temperature(temperature: float) -> None:
    """The temperature must be a positive finite number."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise InputError(f"--temperature must be > 0, got {temperature:g}")
