"""ASCII stand-ins for a Rich renderable, applied *before* layout so columns still line up
when the output's encoding cannot hold gradcli's symbols (σ → sigma, ✓ → OK, − → -)."""

from __future__ import annotations

import dataclasses
import itertools
import os

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text

from gradcli.render.fit import FitTable
from gradcli.streams import ascii_text

_UNICODE_PROBE = "∂²⋅─│⎛⎝⎧⎩√ℯ"


def wants_ascii(console: Console) -> bool:
    """ASCII formulas under NO_COLOR, or when the output cannot encode Unicode drawing."""
    if os.environ.get("NO_COLOR"):
        return True
    try:
        _UNICODE_PROBE.encode(console.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def ascii_renderable(item: RenderableType | None) -> RenderableType | None:
    """The same renderable with every string and Text transliterated (styles kept)."""
    if item is None:
        return None
    if isinstance(item, str):
        return ascii_text(item)
    if isinstance(item, Text):
        return _ascii_styled(item)
    if isinstance(item, Table):
        item.title = ascii_renderable(item.title)  # type: ignore[assignment]
        item.caption = ascii_renderable(item.caption)  # type: ignore[assignment]
        for column in item.columns:
            column.header = ascii_renderable(column.header)  # type: ignore[assignment]
            column._cells = [ascii_renderable(cell) for cell in column._cells]  # type: ignore[misc]
        return item
    if isinstance(item, FitTable):
        return FitTable(
            [dataclasses.replace(c, header=ascii_text(c.header)) for c in item.columns],
            [[ascii_renderable(cell) for cell in row] for row in item.rows],
            title=ascii_renderable(item.title),
            caption=ascii_renderable(item.caption),
            title_justify=item.title_justify,
            header_style=item.header_style,
            show_header=item.show_header,
            legend=item.legend,
        )
    if isinstance(item, Group):
        return Group(*[ascii_renderable(part) for part in item.renderables])
    if isinstance(item, Columns):
        item.renderables = [ascii_renderable(part) for part in item.renderables]
        return item
    return item


def _ascii_styled(text: Text) -> Text:
    """Transliterate a Text piece by piece, so each piece keeps its own style."""
    bounds = {0, len(text.plain)} | {s.start for s in text.spans} | {s.end for s in text.spans}
    pieces = []
    for start, end in itertools.pairwise(sorted(bounds)):
        styles = [s.style for s in text.spans if s.start <= start and s.end >= end]
        style = Style.combine(
            [Style.parse(s) if isinstance(s, str) else s for s in styles] or [Style()]
        )
        pieces.append((ascii_text(text.plain[start:end]), style))
    result = Text.assemble(*pieces, style=text.style, justify=text.justify, no_wrap=text.no_wrap)
    result.overflow = text.overflow
    return result
