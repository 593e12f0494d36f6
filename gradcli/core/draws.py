"""Seeded random inputs that are the same numbers on every CPU.

torch draws float32 normals of 16 or more elements with a vectorised Box–Muller whose last
bits depend on the kernel the CPU dispatches (AVX2 and AVX-512 differ from the plain one), so
``torch.manual_seed(0); torch.randn(2, 10)`` is not the same tensor on every machine. In
float64, torch takes the same scalar path on every kernel: gradcli draws there, then casts
to the working dtype, and says so in its notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gradcli._torch import torch


def normal(shape: Sequence[int], generator: Any, dtype: Any) -> Any:
    """``torch.randn(*shape, dtype=torch.float64)`` from ``generator``, cast to ``dtype``."""
    return torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype)


def uniform(shape: Sequence[int], bound: float, generator: Any, dtype: Any) -> Any:
    """``torch.empty(*shape, dtype=torch.float64).uniform_(-bound, bound)`` from ``generator``
    (a serial kernel: the same numbers on every CPU), cast to ``dtype``."""
    values = torch.empty(*shape, dtype=torch.float64)
    return values.uniform_(-bound, bound, generator=generator).to(dtype)


def uniform_text(name: str, shape: Sequence[int], fan_in: int) -> str:
    """How a uniform draw was made, as a user would repeat it in torch."""
    size = ", ".join(map(str, shape))
    return f"{name} = torch.empty({size}, dtype=torch.float64).uniform_(-1/√{fan_in}, 1/√{fan_in})"


def normal_text(name: str, shape: Sequence[int]) -> str:
    """How a drawn tensor was made, as a user would repeat it in torch."""
    return f"{name} = torch.randn({', '.join(map(str, shape))}, dtype=torch.float64)"
