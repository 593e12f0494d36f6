"""Result of a `gradcli check` whose run was stopped by the user's own code.

An exception, ``os._exit``, a crash, a call that never returned, or a forward whose result
is no tensor: each is a finding about the user's code (exit 1), said in words, with the
place in their code where it happened. Plain data only (it crosses from the child process
that ran their code, pickled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.outcome import Outcome

# what stopped the check
EXCEPTION = "exception"  # their code raised (any BaseException but KeyboardInterrupt)
EXIT = "exit"  # their code ended the process (os._exit)
CRASH = "crash"  # the process died of a signal while their code ran (a segfault…)
TIMEOUT = "timeout"  # a call did not return within --timeout seconds
RESULT = "result"  # their forward returned something that cannot be checked
KINDS = (EXCEPTION, EXIT, CRASH, TIMEOUT, RESULT)


@dataclass(frozen=True)
class Place:
    """A line of the user's code."""

    file: str  # as the interpreter knows it (absolute path)
    line: int
    function: str

    @property
    def name(self) -> str:
        """``mylayer.py line 12 in backward``."""
        return f"{_base(self.file)} line {self.line} in {self.function}"

    def to_json(self) -> dict[str, Any]:
        return {"file": _base(self.file), "path": self.file, "line": self.line,
                "function": self.function}  # fmt: skip


@dataclass(frozen=True)
class Failure:
    """What stopped the user's code, where, and how to say it.

    ``phase`` is ``import``, ``forward``, ``backward`` or ``backward (--order 2)``; ``label``
    the file (an import) or FILE.py:NAME the phase belongs to. ``headline`` is the sentence
    (``your code exited the process (os._exit(0)) during the backward of x.py:F``) and
    ``place`` the user's innermost frame when it is known.
    """

    kind: str
    phase: str
    label: str
    headline: str
    place: Place | None = None
    exception: str | None = None  # the exception's class name
    message: str = ""  # its first line
    exit_code: int | None = None  # os._exit's argument
    signal: str | None = None  # SIGSEGV…
    traceback: str = ""  # the whole traceback (or the stack dump), for --traceback

    def __post_init__(self) -> None:
        if self.kind not in KINDS:  # pragma: no cover  (a programming error)
            raise ValueError(f"unknown failure kind {self.kind!r}")

    @property
    def stage(self) -> str:
        """``the backward of mylayer.py:F``, ``the import of mylayer.py``."""
        return stage_text(self.phase, self.label)

    @property
    def summary(self) -> str:
        """One line: the headline and, when known, where."""
        if self.place is None:
            return self.headline
        return f"{self.headline}, at {self.place.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "phase": self.phase,
            "stage": self.stage,
            "headline": self.headline,
            "exception": self.exception,
            "message": self.message,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "where": None if self.place is None else self.place.to_json(),
        }


def stage_text(phase: str, label: str) -> str:
    return f"the {phase} of {label}"


@dataclass(frozen=True)
class CheckFailure(Outcome):
    """`gradcli check` could not finish: the user's code stopped it (exit 1)."""

    target: str
    backward: str | None
    failure: Failure
    notes: list[str] = field(default_factory=list)
    agree: bool = False
    answer: None = None
    command: str = "check"

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "target": self.target,
            "backward": self.backward,
            "agree": self.agree,
            "failure": self.failure.to_json(),
            "notes": self.notes,
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["kind", "stage", "exception", "message", "file", "line", "function"]
        f, place = self.failure, self.failure.place
        row = [
            f.kind,
            f.stage,
            f.exception or "",
            f.message or f.headline,
            "" if place is None else _base(place.file),
            "" if place is None else place.line,
            "" if place is None else place.function,
        ]
        return header, [row]


def _base(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
