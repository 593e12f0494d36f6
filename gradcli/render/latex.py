"""LaTeX output (``--format latex``): the derivative as a formula to paste into homework.

Commands that offer it register a converter with :func:`as_latex`; the others refuse the
format before computing (see ``computing_command``'s ``formats``).
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any, TextIO


@singledispatch
def as_latex(result: Any) -> str:
    raise TypeError(f"no LaTeX renderer for {type(result).__name__}")


def write_latex(result: Any, out: TextIO) -> None:
    out.write(as_latex(result).rstrip("\n") + "\n")
