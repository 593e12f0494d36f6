"""``--format latex``: results as LaTeX to paste into homework (only `gradcli expr` has one)."""

from __future__ import annotations

from functools import singledispatch
from typing import Any, TextIO

from gradcli.errors import InputError


@singledispatch
def as_latex(result: Any) -> str:
    """The LaTeX text of a result; commands without one refuse ``--format latex``."""
    command = getattr(result, "command", "this command")
    raise InputError(f"--format latex is not available for {command}; only expr prints LaTeX")


def write_latex(result: Any, out: TextIO) -> None:
    from gradcli.render import expr_table  # noqa: F401  (registers as_latex for expr)

    out.write(as_latex(result).rstrip("\n") + "\n")
