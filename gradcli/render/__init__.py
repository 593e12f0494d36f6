"""Renderers: result objects in, text out. They know nothing of maths or torch."""

from __future__ import annotations

import importlib
import sys
from enum import Enum
from typing import Any, TextIO


class OutputFormat(str, Enum):
    """How results are printed."""

    table = "table"
    json = "json"
    csv = "csv"
    latex = "latex"  # the derivative as LaTeX, for commands that register ``as_latex``
    dot = "dot"  # the computation graph of --graph as Graphviz text


# the module of a result type → the table renderer that registers it (the others' results are
# registered by gradcli.render.table itself); only the one needed is imported
TABLE_RENDERERS = {
    "gradcli.results.check": "gradcli.render.check_table",
    "gradcli.results.expr": "gradcli.render.expr_table",
    "gradcli.results.failure": "gradcli.render.failure_table",
    "gradcli.results.layer": "gradcli.render.layer_table",
    "gradcli.results.loss": "gradcli.render.loss_table",
    "gradcli.results.optim": "gradcli.render.optim_table",
    "gradcli.results.perceptron": "gradcli.render.perceptron_table",
}


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
        from gradcli.render.latex import write_latex

        importlib.import_module("gradcli.render.expr_table")  # registers as_latex

        write_latex(result, stream)
    elif fmt is OutputFormat.dot:
        from gradcli.render.graph import write_dot

        write_dot(result.graph, stream)
    elif type(result).__module__ == "gradcli.results.listing":  # --list: text rows only
        from gradcli.render.listing import write_listing

        write_listing(result, stream)
    else:
        from gradcli.render.table import write_table

        renderer = TABLE_RENDERERS.get(type(result).__module__)
        if renderer is not None:  # registers its result types with the table renderer
            importlib.import_module(renderer)
        write_table(result, stream, precision)
