"""Import torch only when a computation needs it, and quietly.

A bare ``import torch`` on a machine without NumPy prints a UserWarning; users
must never see it. Help and listings never touch these objects, so they never
pay torch's start-up cost.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType


def load(name: str = "torch") -> ModuleType:
    """Import a torch module with torch's NumPy warning silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        return importlib.import_module(name)


class LazyModule:
    """A module stand-in that imports the real module on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> object:
        if self._module is None:
            self._module = load(self._name)
        return getattr(self._module, attr)


torch = LazyModule("torch")
F = LazyModule("torch.nn.functional")
