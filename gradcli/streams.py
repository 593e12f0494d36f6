"""Standard streams that never crash gradcli.

* A reader that goes away (``| head``, a broken pipe) ends the output quietly: the exit code
  stays the computation's.
* A stream that cannot be written (``> /dev/full``) or is closed (``>&-``) is remembered and
  reported once, as one ``Error:`` line, with exit code 2.
* A terminal or file whose encoding cannot hold gradcli's symbols (``PYTHONIOENCODING=ascii``,
  ``LC_ALL=C``, latin-1) gets ASCII stand-ins (σ → sigma, ✓ → OK, − → -) and ``?`` for the rest.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from typing import TextIO

ASCII_STAND_INS = {
    "✓": "OK",
    "✗": "FAIL",
    "σ": "sigma",
    "φ": "phi",
    "Φ": "Phi",
    "π": "pi",
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "δ": "delta",
    "ε": "eps",
    "λ": "lambda",
    "μ": "mu",
    "θ": "theta",
    "Σ": "sum",
    "∂": "d",
    "−": "-",
    "–": "-",
    "—": "--",
    "‐": "-",
    "…": "...",
    "·": "*",
    "×": "x",
    "⊙": "*",
    "²": "^2",
    "³": "^3",
    "ˣ": "^x",
    "ᵀ": "^T",
    "√": "sqrt",
    "½": "1/2",
    "≤": "<=",
    "≥": ">=",
    "≈": "~",
    "≠": "!=",
    "→": "->",
    "±": "+/-",
    "∞": "inf",
    "ℓ": "l",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
}
_TABLE = str.maketrans(ASCII_STAND_INS)
_PROBE = "".join(ASCII_STAND_INS)


def ascii_text(text: str) -> str:
    """``text`` with gradcli's symbols replaced by their ASCII stand-ins."""
    return text.translate(_TABLE)


def can_encode(encoding: str | None, text: str = _PROBE) -> bool:
    """Whether ``encoding`` can write ``text`` (gradcli's symbols by default)."""
    try:
        text.encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class SafeStream(io.TextIOBase):
    """A text stream over ``raw`` (possibly None: a closed descriptor) that records write
    failures instead of raising them, and writes ASCII stand-ins where the encoding needs."""

    def __init__(self, raw: TextIO | None) -> None:
        super().__init__()
        self.raw = raw
        self.broken_pipe = False
        self.failure: str | None = None  # why writing failed (strerror), once it has
        self.wrote_to_closed = False
        encoding = getattr(raw, "encoding", None) or "utf-8"
        self.ascii_only = not can_encode(encoding)
        if self.ascii_only and hasattr(raw, "reconfigure"):
            with contextlib.suppress(Exception):
                raw.reconfigure(errors="replace")  # type: ignore[union-attr]

    @property
    def encoding(self) -> str:  # type: ignore[override]
        raw_encoding = getattr(self.raw, "encoding", None) or "utf-8"
        return codecs.lookup(raw_encoding).name if not self.ascii_only else "ascii"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return bool(self.raw is not None and self.raw.isatty())
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self.raw is None:
            raise OSError(errno.EBADF, "stream closed")
        return self.raw.fileno()

    def write(self, text: str) -> int:
        count = len(text)
        if self.broken_pipe or self.failure:
            return count
        if self.raw is None:
            self.wrote_to_closed = self.wrote_to_closed or bool(text)
            return count
        if self.ascii_only:
            encoding = getattr(self.raw, "encoding", None) or "ascii"
            text = text.translate(_TABLE).encode(encoding, "replace").decode(encoding)
        self._attempt(lambda: self.raw.write(text))
        return count

    def flush(self) -> None:
        if self.raw is not None and not (self.broken_pipe or self.failure):
            self._attempt(self.raw.flush)

    def _attempt(self, action) -> None:
        try:
            action()
        except BrokenPipeError:
            self.broken_pipe = True
            self._silence()
        except (OSError, ValueError) as error:  # ENOSPC, EIO, EBADF, a closed file object
            self.failure = getattr(error, "strerror", None) or str(error)
            self._silence()

    def _silence(self) -> None:
        """Point the descriptor at /dev/null so that Python's exit flush cannot fail again."""
        with contextlib.suppress(Exception):
            target = self.raw.fileno()  # type: ignore[union-attr]  (may raise: no descriptor)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, target)
            finally:
                os.close(devnull)  # never left open (a test runner's streams have no fileno)


@contextlib.contextmanager
def safe_streams() -> Iterator[tuple[SafeStream, SafeStream]]:
    """Install safe stdout and stderr for the duration of a command; restore them after."""
    before = sys.stdout, sys.stderr
    out, err = SafeStream(sys.stdout), SafeStream(sys.stderr)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield out, err
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = before


def json_ascii() -> bool:
    """Whether JSON must escape non-ASCII characters (stdout cannot encode them)."""
    return isinstance(sys.stdout, SafeStream) and sys.stdout.ascii_only
