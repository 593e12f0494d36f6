"""Renderers: result objects in, text out. They know nothing of maths or torch."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any, TextIO


class OutputFormat(str, Enum):
    """How results are printed."""

    table = "table"
    json = "json"
    csv = "csv"
    latex = "latex"  # the derivative as LaTeX, for commands that register ``as_latex``


def render(result: Any, fmt: OutputFormat, precision: int, out: TextIO | None = None) -> None:
    """Print ``result`` on ``out`` (stdout by default) in the chosen format."""
    stream = sys.stdout if out is None else out
    if fmt is OutputFormat.json:
        from gradcli.render.jsonout import write_json

        write_json(result, stream)
    elif fmt is OutputFormat.csv:
        from gradcli.render.csvout import write_csv

        write_csv(result, stream)
    elif fmt is OutputFormat.latex:
        from gradcli.render import expr_table
        from gradcli.render.latex import write_latex

        write_latex(result, stream)
    else:
        from gradcli.render import (  # noqa: F401  (register)
            check_table,
            expr_table,
            layer_table,
            loss_table,
            perceptron_table,
        )
        from gradcli.render.table import write_table

        write_table(result, stream, precision)
