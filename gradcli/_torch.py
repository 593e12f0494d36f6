"""Import torch only when a computation needs it, and quietly.

A bare ``import torch`` on a machine without NumPy prints a UserWarning; users
must never see it. Help and listings never touch these objects, so they never
pay torch's start-up cost. (Loading torch in a background thread while Typer
loads was measured, and was slower: the two imports fight over the GIL.)
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from types import ModuleType

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def load(name: str = "torch") -> ModuleType:
    """Import a torch module, with the cyclic garbage collector paused meanwhile.

    torch's import allocates hundreds of thousands of objects, none of them garbage;
    pausing the collector and then freezing what was imported (``gc.freeze``) saves
    the collections that would walk them all, at the import and in every later one.
    On a terminal, a spinner on stderr says what the wait is for once it passes a second.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    enabled = gc.isenabled()
    gc.disable()
    try:
        with spinner(f"loading {name.split('.')[0]}"), standing_somewhere() as moved:
            module = importlib.import_module(name)
            if moved:  # torch.func imports torch._dynamo later, and its config reads the cwd
                importlib.import_module("torch._dynamo")
        if threads_wanted is not None:
            sys.modules["torch"].set_num_threads(threads_wanted)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return module


GONE = (
    "the current directory no longer exists (it was deleted or moved); cd to an existing "
    "directory and run again"
)


@contextlib.contextmanager
def standing_somewhere() -> Iterator[bool]:
    """Run the block from ``/`` when the working directory has been deleted, and return to it
    after (so relative paths still mean what they meant: nothing). Yields whether it moved.

    torch's oneMKL ends the process with "Intel oneMKL FATAL ERROR: Cannot load
    libtorch_cpu.so" (exit 2, no ``Error:`` line) when ``getcwd()`` fails while torch loads,
    and ``torch._dynamo`` calls ``os.getcwd()`` when it is imported.
    """
    try:
        os.getcwd()
    except FileNotFoundError:
        pass
    else:
        yield False
        return
    from gradcli.errors import InputError

    try:
        here = os.open(".", os.O_RDONLY)
    except OSError:
        raise InputError(GONE) from None
    try:
        os.chdir("/")
        yield True
    finally:
        os.fchdir(here)
        os.close(here)


SPINNER_DELAY = 1.0  # seconds before the spinner shows
threads_wanted: int | None = None  # torch's thread count, set when torch loads (None: torch's)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` threads meanwhile (from its import, if it is not loaded yet)."""
    global threads_wanted
    before_wanted = threads_wanted
    before = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    threads_wanted = count
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    try:
        yield
    finally:
        threads_wanted = before_wanted
        if "torch" in sys.modules:
            torch_module = sys.modules["torch"]
            torch_module.set_num_threads(before or torch_module.get_num_threads())


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream is not None and stream.isatty())  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):
        return False


SPINNER_FRAMES = "|/-\\"


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """A transient ``| loading torch…`` on stderr while the block runs, shown only when both
    stdout and stderr are a terminal (never in pipes, files or tests) and erased afterwards;
    stdout is untouched."""
    stream = sys.stderr
    interactive = _is_terminal(sys.stdout) and _is_terminal(stream)
    if not interactive or os.environ.get("GRADCLI_NO_SPINNER"):
        yield
        return
    done = threading.Event()
    shown = threading.Event()

    def spin() -> None:
        if done.wait(SPINNER_DELAY):
            return
        shown.set()
        frame = 0
        while not done.wait(0.1):
            stream.write(f"\r{SPINNER_FRAMES[frame % 4]} {message}...")
            stream.flush()
            frame += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if shown.is_set():
            stream.write("\r" + " " * (len(message) + 6) + "\r")
            stream.flush()


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
