"""Tables that never cut a number.

Rich shrinks a table that is wider than the terminal, and a shrunk column shows ``0.23…``
for 0.235004. A :class:`FitTable` instead measures its cells when Rich lays it out and, if
they do not fit the width it is given, splits its columns into blocks — the key columns
(an index, x) repeated in each — the way numpy prints a wide array. Value cells never wrap;
headers may wrap between words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

Cell = str | Text
BORDER = 1  # a box's vertical line
PADDING = 2  # one space either side of a cell


@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "right"
    key: bool = False  # shown in every block (row labels, x)


class FitTable:
    """A table of columns and rows that Rich lays out as one or more blocks of columns."""

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Iterable[Sequence[Cell]],
        title: Cell | None = None,
        caption: Cell | None = None,
        title_justify: str = "center",
        header_style: str | None = None,
        show_header: bool = True,
        legend: RenderableType | None = None,
    ) -> None:
        self.columns = list(columns)
        self.legend = legend  # under the last block (a heat legend: nothing without colour)
        self.rows = [list(row) for row in rows]
        self.title = title
        self.caption = caption
        self.title_justify = title_justify
        self.header_style = header_style
        self.show_header = show_header
        self.widths = [self._width(i) for i in range(len(self.columns))]

    def _width(self, index: int) -> int:
        """Cells need their full width; a header only its longest word (headers wrap)."""
        cells = max((_length(row[index]) for row in self.rows), default=0)
        words = self.columns[index].header.split() if self.show_header else []
        return max([cells, 1, *(cell_len(word) for word in words)])

    def _span(self, indices: Sequence[int]) -> int:
        return sum(self.widths[i] + PADDING + BORDER for i in indices) + BORDER

    def blocks(self, width: int) -> list[list[int]]:
        """Column indices per block: all the key columns, then as many others as fit."""
        keys = [i for i, column in enumerate(self.columns) if column.key]
        others = [i for i, column in enumerate(self.columns) if not column.key]
        if self._span(keys + others) <= width or not others:
            return [keys + others]
        blocks, current = [], []
        for index in others:
            if current and self._span(keys + current + [index]) > width:
                blocks.append(keys + current)
                current = []
            current.append(index)
        blocks.append(keys + current)
        return blocks

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        keys = [i for i, column in enumerate(self.columns) if column.key]
        narrowest = min(
            (self._span([*keys, i]) for i, c in enumerate(self.columns) if not c.key),
            default=self._span(keys),
        )
        widest = self._span(range(len(self.columns)))
        return Measurement(min(narrowest, options.max_width), min(widest, options.max_width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        blocks = self.blocks(options.max_width)
        for number, block in enumerate(blocks):
            yield self._table(block, number, len(blocks))
        if self.legend is not None:
            yield self.legend

    def _table(self, block: list[int], number: int, count: int) -> Table:
        title = self.title
        if count > 1 and title is not None:
            shown = [self.columns[i].header for i in block if not self.columns[i].key]
            shown = [header for header in shown if header.strip()] or shown  # not the ✓ column's
            suffix = f"  ({shown[0]} … {shown[-1]})" if len(shown) > 1 else f"  ({shown[0]})"
            title = Text.assemble(title, suffix) if isinstance(title, Text) else title + suffix
        table = Table(
            title=title,
            caption=self.caption if number == count - 1 else None,
            title_justify=self.title_justify,  # type: ignore[arg-type]
            header_style=self.header_style,
            show_header=self.show_header,
        )
        for index in block:
            column = self.columns[index]
            table.add_column(
                column.header,
                justify=column.justify,  # type: ignore[arg-type]
                no_wrap=False,
                min_width=self.widths[index],
                overflow="fold",
            )
        for row in self.rows:
            table.add_row(*[_unwrapped(row[i]) for i in block])
        return table


def _length(cell: Cell) -> int:
    return cell_len(cell.plain if isinstance(cell, Text) else cell)


def _unwrapped(cell: Cell) -> RenderableType:
    """A value cell that Rich may not break across lines."""
    text = cell if isinstance(cell, Text) else Text(cell)
    text.no_wrap = True
    return text
