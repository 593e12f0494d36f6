"""Domain errors and the exit codes they map to (no terminal code here)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """What a gradcli process tells the shell."""

    OK = 0
    DISAGREE = 1  # gradients disagree, or the user's expected answer is wrong
    BAD_INPUT = 2  # bad input, or output that cannot be written
    INTERNAL = 3  # a bug in gradcli: an exception nobody expected
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


class InputError(ValueError):
    """Bad input from the user; shown as one ``Error: …`` line, exit code 2."""


SHOWN_LIMIT = 60  # characters of a user's token echoed in an error message
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """``text`` on one line: newlines, escape characters and other controls written as ``\\n``,
    ``\\x1b``…, so an error line can never be split or recoloured by what the user typed."""

    def one(match: re.Match[str]) -> str:
        char = match.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")

    return _CONTROL.sub(one, text)


def shown(token: object, limit: int = SHOWN_LIMIT) -> str:
    """A user's token quoted for an error message: escaped, and past ``limit`` characters cut
    in the middle with ``…`` (both ends stay: a path keeps its file name)."""
    text = escape(str(token))
    if len(text) > limit:
        head = (2 * limit) // 3
        text = text[:head] + "…" + text[len(text) - (limit - head - 1) :]
    return f"'{text}'"


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    import difflib  # only errors pay for it

    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, word: str, choices: Iterable[str]) -> InputError:
    """An InputError for an unknown name, with a suggestion and the valid names."""
    names = sorted(choices)
    return InputError(
        f"unknown {kind} {shown(word)}{suggest(word, names)}; choose from: {', '.join(names)}"
    )
