"""Colour by sign and magnitude: heat-coloured matrix cells, their legend, and a block heatmap.

A diverging palette: positive entries blue, negative red, the colour the stronger the larger
|value| is relative to the matrix's largest |value| (zero: no colour). Rich drops the colours
when they are off (``NO_COLOR``, a pipe, a file), and :class:`HeatLegend` then prints nothing,
so a coloured table's text is byte for byte the plain one. :class:`HeatMap` draws a whole
matrix as blocks; without colour its cells are a sign and a shade (``+█``, ``-░``) so that it
still means something when piped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text

POSITIVE = (33, 102, 172)  # the ends of a red-blue diverging palette (ColorBrewer RdBu)
NEGATIVE = (178, 24, 43)
PALE = (247, 247, 247)
FLOOR = 0.12  # the palest shade, so the smallest non-zero entry is still tinted
DARK_TEXT_BELOW = 0.55  # on lighter backgrounds the digits are black, else white
SHADES = "░▒▓█"  # |value| / max up to ¼, ½, ¾, 1
ASCII_SHADES = ".:*#"
LEGEND_STEPS = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)


def colour_is_on(console: Console) -> bool:
    return console.color_system is not None and not console.no_color


def heat_scale(values: Iterable[float | None]) -> float:
    """The largest finite |value| (0 when there is none)."""
    return max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)


def heat_colour(value: float, scale: float) -> tuple[int, int, int] | None:
    """The background for ``value`` on a matrix whose largest |value| is ``scale``."""
    if not math.isfinite(value) or value == 0 or scale <= 0:
        return None
    strength = FLOOR + (1 - FLOOR) * min(1.0, abs(value) / scale)
    end = POSITIVE if value > 0 else NEGATIVE
    return tuple(round(p + (e - p) * strength) for p, e in zip(PALE, end, strict=True))  # type: ignore[return-value]


def heat_style(value: float | None, scale: float) -> Style | None:
    """Style of a cell holding ``value``: its background, with digits that stay readable."""
    if value is None:
        return None
    rgb = heat_colour(value, scale)
    if rgb is None:
        return None
    dark = min(1.0, abs(value) / scale) < DARK_TEXT_BELOW
    return Style(color="black" if dark else "white", bgcolor=Color.from_rgb(*rgb))


def shade(value: float | None, scale: float, ascii_only: bool = False) -> str:
    """Two characters for a monochrome heatmap: the sign and a shade of |value| / scale."""
    if value is None or not math.isfinite(value):
        return " ?"
    if value == 0 or scale <= 0:
        return " 0" if ascii_only else " ·"
    shades = ASCII_SHADES if ascii_only else SHADES
    level = min(3, max(0, math.ceil(4 * min(1.0, abs(value) / scale)) - 1))
    return ("+" if value > 0 else "-") + shades[level]


class HeatLegend:
    """One line under a heat-coloured matrix: the palette from −max to +max. Prints nothing
    when colour is off, so that the plain text does not change."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(0, 0)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not colour_is_on(console) or self.scale <= 0:
            return
        yield swatch_line(self.scale, options.max_width)


def swatch_line(scale: float, width: int) -> Text:
    """``-0.223 ▕█████████▏ 0.223  blue +, red −``, as coloured blanks, fitted to ``width``."""
    ends = f"{-scale:.3g}", f"{scale:.3g}"
    swatch = 2 if width >= 40 else 1
    line = Text(ends[0] + " ")
    for step in LEGEND_STEPS:
        rgb = heat_colour(step * scale, scale)
        line.append(" " * swatch, Style(bgcolor=Color.from_rgb(*rgb)) if rgb else None)
    line.append(" " + ends[1])
    words = "  blue +, red −, stronger = larger |value|"
    if line.cell_len + len(words) <= width:
        line.append(words, "dim")
    return line


class HeatMap:
    """A matrix drawn as blocks, one cell per entry, with row and column indices and a legend;
    split into column blocks when it is wider than the terminal."""

    def __init__(
        self,
        matrix: Sequence[Sequence[float | None]] | Any,
        what: str,
        labels: tuple[str, str] = ("i", "j"),
    ) -> None:
        self.rows = [list(matrix[i]) for i in range(len(matrix))]
        self.what = what
        self.labels = labels
        self.scale = heat_scale(v for row in self.rows for v in row)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = self._label_width() + 1 + 3 * len(self.rows[0]) if self.rows else 0
        return Measurement(min(width, options.max_width), min(width, options.max_width))

    def _label_width(self) -> int:
        return len(f"{self.labels[0]}={len(self.rows) - 1}")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        colour = colour_is_on(console)
        ascii_only = options.ascii_only
        columns = len(self.rows[0]) if self.rows else 0
        label_width = self._label_width()
        room = options.max_width - label_width - 1
        cell = 3 if 3 * columns <= room else 2
        per_block = max(1, room // cell)
        for start in range(0, columns, per_block):
            block = range(start, min(columns, start + per_block))
            yield self._header(block, cell, label_width, ascii_only)
            for i, row in enumerate(self.rows):
                line = Text(f"{self.labels[0]}={i}".rjust(label_width) + " ")
                for j in block:
                    value = row[j]
                    if colour:
                        rgb = heat_colour(value, self.scale) if value is not None else None
                        style = Style(bgcolor=Color.from_rgb(*rgb)) if rgb else None
                        line.append(" " * 2, style)
                    else:
                        line.append(shade(value, self.scale, ascii_only))
                    if cell == 3:
                        line.append(" ")
                yield line
        yield from self._legend(colour, ascii_only, options.max_width)

    def _header(self, block: range, cell: int, label_width: int, ascii: bool) -> Text:
        """Column indices over their cells (every one when they fit, else every fifth)."""
        every = 1 if cell == 3 and len(str(block.stop - 1)) <= 2 else 5
        text = [" "] * (label_width + 1 + cell * len(block) + 3)
        free = 0
        for position, j in enumerate(block):
            if j % every and j != block.start:
                continue
            label = str(j)
            at = label_width + 1 + position * cell
            if at < free:
                continue
            text[at : at + len(label)] = list(label)
            free = at + len(label) + 1
        head = self.labels[1] + ("" if label_width < 3 else "->" if ascii else "→")
        text[label_width - len(head) : label_width] = list(head)
        return Text("".join(text).rstrip(), style="dim")

    def _legend(self, colour: bool, ascii_only: bool, width: int) -> RenderResult:
        scale = f"{self.scale:.6g}"
        if colour:
            yield swatch_line(self.scale, width)
            yield Text(f"{self.what}: colour by sign, strength ∝ |value| / {scale}", style="dim")
            return
        shades = ASCII_SHADES if ascii_only else SHADES
        zero = "0" if ascii_only else "·"
        bounds = ("1/4", "1/2", "3/4", "1") if ascii_only else ("¼", "½", "¾", "1")
        at_most = "<=" if ascii_only else "≤"
        levels = "  ".join(f"{shades[k]} {at_most} {bound}" for k, bound in enumerate(bounds))
        yield Text(
            f"{self.what}: + positive, - negative, {zero} zero; shade = |value| / {scale} "
            f"(the largest): {levels}"
        )
