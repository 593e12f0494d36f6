"""Import torch only when a computation needs it, and quietly.

A bare ``import torch`` on a machine without NumPy prints a UserWarning; users
must never see it. Help and listings never touch these objects, so they never
pay torch's start-up cost. (Loading torch in a background thread while Typer
loads was measured, and was slower: the two imports fight over the GIL.)
"""

from __future__ import annotations

import gc
import importlib
import sys
import warnings
from types import ModuleType

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def load(name: str = "torch") -> ModuleType:
    """Import a torch module, with the cyclic garbage collector paused meanwhile.

    torch's import allocates hundreds of thousands of objects, none of them garbage;
    pausing the collector and then freezing what was imported (``gc.freeze``) saves
    the collections that would walk them all, at the import and in every later one.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    enabled = gc.isenabled()
    gc.disable()
    try:
        module = importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return module


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
