"""``COMMAND --list`` as Rich tables: rows of plain text, written without the result tables'
machinery (number formatting, split tables, heat maps), which a listing never needs.

Cells are :class:`rich.text.Text`: a formula is never read as console markup or emoji codes.
Where the output's encoding cannot hold gradcli's symbols, the text is given its ASCII
stand-ins before the layout, so the columns still line up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gradcli.results.listing import Listing
from gradcli.streams import ascii_text, can_encode


def listing_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    plain: Callable[[str], str] = str,
) -> Table:
    """One table of text rows; ``plain`` turns each piece of text into what is printed."""
    table = Table(title=Text(plain(title)), title_justify="left")
    for column in columns:
        table.add_column(Text(plain(column)), overflow="fold")
    for row in rows:
        table.add_row(*(Text(plain(cell)) for cell in row))
    return table


def write_listing(listing: Listing, out: TextIO) -> None:
    """Every table of the listing, then its notes."""
    plain = str if can_encode(getattr(out, "encoding", None)) else ascii_text
    console = Console(file=out, highlight=False)
    for table in listing.tables:
        console.print(listing_table(table.title, table.columns, table.rows, plain))
    for note in listing.notes:
        console.print(Text(plain(note)))
