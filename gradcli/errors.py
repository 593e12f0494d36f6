"""Domain errors and the exit codes they map to (no terminal code here)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """What a gradcli process tells the shell."""

    OK = 0
    DISAGREE = 1  # gradients disagree, or the user's expected answer is wrong
    BAD_INPUT = 2


class InputError(ValueError):
    """Bad input from the user; shown as one ``Error: …`` line, exit code 2."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    import difflib  # only errors pay for it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, word: str, choices: Iterable[str]) -> InputError:
    """An InputError for an unknown name, with a suggestion and the valid names."""
    names = sorted(choices)
    return InputError(
        f"unknown {kind} '{word}'{suggest(word, names)}; choose from: {', '.join(names)}"
    )
