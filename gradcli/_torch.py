"""Import torch only when a computation needs it, quietly, and possibly early.

A bare ``import torch`` on a machine without NumPy prints a UserWarning; users
must never see it. Help and listings never touch these objects, so they never
pay torch's start-up cost. Computing commands call :func:`prefetch` first thing,
so torch loads in a background thread while Typer and Rich load in the main one.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from types import ModuleType

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def load(name: str = "torch") -> ModuleType:
    """Import a torch module (waits for a prefetch in progress)."""
    return importlib.import_module(name)


def prefetch() -> None:
    """Start importing torch in a daemon thread."""
    threading.Thread(target=load, name="import-torch", daemon=True).start()


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
