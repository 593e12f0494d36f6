"""The terminal's table as plain HTML, for notebooks (Jupyter, VS Code, GitHub's viewer).

It walks the same Rich renderable the terminal prints — titles and notes (Text), tables
(:class:`~gradcli.render.fit.FitTable` and Rich's Table), groups and columns — and writes
HTML with inline styles only: no JavaScript, no stylesheet, nothing a notebook viewer
strips. ✓ and ✗ keep their colours. A renderable it does not know (a plot, a heat map, a
graph drawing) is written as Rich draws it, in a ``<pre>`` with inline colours.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable
from typing import Any

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Span, Text

from gradcli.render.fit import FitTable

WIDTH = 100  # characters a drawn (pre) part is laid out in
FONT = "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
# the 16 standard colours, readable on light and dark backgrounds (the terminal's own
# defaults, #800000 for red, are too dark on a notebook's dark theme)
NAMED = {
    "red": "#cf222e",
    "bright_red": "#cf222e",
    "green": "#1a7f37",
    "bright_green": "#1a7f37",
    "yellow": "#9a6700",
    "bright_yellow": "#9a6700",
    "blue": "#0969da",
    "bright_blue": "#0969da",
    "magenta": "#8250df",
    "bright_magenta": "#8250df",
    "cyan": "#1b7c83",
    "bright_cyan": "#1b7c83",
}
CELL = "padding: 2px 8px; border: 1px solid #8884; white-space: nowrap"
TABLE = "border-collapse: collapse; margin: 4px 0 8px 0"


def to_html(renderable: RenderableType) -> str:
    """One ``<div>`` holding the renderable as HTML."""
    console = Console(
        file=io.StringIO(), width=WIDTH, color_system="truecolor", force_jupyter=False
    )
    body = _part(renderable, console)
    return f'<div class="gradcli" style="{FONT}; line-height: 1.4">{body}</div>'


def _part(item: Any, console: Console) -> str:
    if item is None:
        return ""
    if isinstance(item, str):
        return f'<div style="white-space: pre-wrap">{html.escape(item)}</div>'
    if isinstance(item, Text):
        return f'<div style="white-space: pre-wrap">{_text(item, console)}</div>'
    if isinstance(item, Group):
        return "".join(_part(child, console) for child in item.renderables)
    if isinstance(item, Columns):
        children = "".join(f"<div>{_part(child, console)}</div>" for child in item.renderables)
        return f'<div style="display: flex; flex-wrap: wrap; gap: 0 24px">{children}</div>'
    if isinstance(item, FitTable):
        return _fit_table(item, console)
    if isinstance(item, Table):
        return _rich_table(item, console)
    return _drawn(item)


def _text(text: Text | str, console: Console) -> str:
    """A Text's characters with their styles as inline ``<span>``s."""
    if isinstance(text, str):
        return html.escape(text)
    if text.style:  # the whole text's own style, under its spans' (Text.render leaves it out)
        text = Text(text.plain, spans=[Span(0, len(text.plain), text.style), *text.spans])
    pieces = []
    for segment in text.render(console, end=""):
        escaped = html.escape(segment.text)
        css = _css(segment.style)
        pieces.append(f'<span style="{css}">{escaped}</span>' if css else escaped)
    return "".join(pieces)


def _css(style: Style | None) -> str:
    if style is None:
        return ""
    rules = []
    if style.color is not None and not style.color.is_default:
        rules.append(f"color: {_colour(style.color)}")
    if style.bgcolor is not None and not style.bgcolor.is_default:
        rules.append(f"background-color: {_colour(style.bgcolor)}")
    if style.bold:
        rules.append("font-weight: bold")
    if style.dim:
        rules.append("opacity: 0.65")
    if style.italic:
        rules.append("font-style: italic")
    if style.underline:
        rules.append("text-decoration: underline")
    return "; ".join(rules)


def _colour(color: Any) -> str:
    return NAMED.get(color.name, color.get_truecolor().hex)


def _cell(content: Any, console: Console, justify: str, tag: str = "td") -> str:
    inner = _text(content, console) if isinstance(content, (str, Text)) else _drawn(content)
    align = {"right": "right", "center": "center"}.get(justify, "left")
    return f'<{tag} style="{CELL}; text-align: {align}">{inner}</{tag}>'


def _table(
    title: Any,
    headers: list[tuple[Any, str]] | None,
    rows: Iterable[list[Any]],
    justify: list[str],
    caption: Any,
    console: Console,
) -> str:
    parts = [f'<table style="{TABLE}">']
    if title is not None:
        parts.append(
            f'<caption style="text-align: left; font-weight: bold; padding: 2px 0">'
            f"{_text(title, console)}</caption>"
        )
    if headers is not None:
        cells = "".join(_cell(header, console, align, "th") for header, align in headers)
        parts.append(f"<thead><tr>{cells}</tr></thead>")
    body = "".join(
        "<tr>" + "".join(_cell(c, console, j) for c, j in zip(row, justify, strict=True)) + "</tr>"
        for row in rows
    )
    parts.append(f"<tbody>{body}</tbody></table>")
    if caption is not None:
        parts.append(f'<div style="opacity: 0.75">{_text(caption, console)}</div>')
    return "".join(parts)


def _fit_table(table: FitTable, console: Console) -> str:
    """All the columns in one HTML table (a notebook scrolls; the terminal's blocks are for
    its fixed width)."""
    headers = [(column.header, column.justify) for column in table.columns]
    justify = [column.justify for column in table.columns]
    return _table(
        table.title,
        headers if table.show_header else None,
        table.rows,
        justify,
        table.caption,
        console,
    ) + (_drawn(table.legend) if table.legend is not None else "")


def _rich_table(table: Table, console: Console) -> str:
    columns = table.columns
    headers = [(column.header, column.justify) for column in columns]
    justify = [column.justify for column in columns]
    rows = [[column._cells[i] for column in columns] for i in range(table.row_count)]
    return _table(
        table.title,
        headers if table.show_header else None,
        rows,
        justify,
        table.caption,
        console,
    )


def _drawn(item: Any) -> str:
    """What Rich draws for ``item``, kept as it is: a ``<pre>`` with inline colours."""
    console = Console(
        file=io.StringIO(),
        record=True,
        width=WIDTH,
        color_system="truecolor",
        force_terminal=True,
        force_jupyter=False,
    )
    console.print(item)
    text = console.export_text(clear=False, styles=False).rstrip("\n")
    if not text.strip():
        return ""
    code = console.export_html(inline_styles=True, code_format="{code}", clear=True).rstrip("\n")
    return f'<pre style="{FONT}; margin: 4px 0; line-height: 1.2">{code}</pre>'
