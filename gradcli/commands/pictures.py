"""Options for pictures (``--plot``, ``--range``, ``--width``, ``--height``, ``--heatmap``),
declared once and checked before torch loads.

A picture is for people: with ``--json`` or ``--format csv`` it is an input error rather than
something written to stderr or mixed into the data, so a script never receives, or silently
loses, output it did not ask for (see docs/pictures.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from gradcli.commands.options import Output
from gradcli.errors import InputError, shown
from gradcli.parsing import number_tokens, parse_number
from gradcli.render import OutputFormat
from gradcli.render.plot_sizes import MAX_HEIGHT, MIN_HEIGHT, MIN_WIDTH

RANGE_LIMIT = 1e6  # |A|, |B| of --range: beyond it no plot of an activation shows anything
MIN_SPAN = 1e-6  # B − A relative to max(1, |A|, |B|): narrower ranges cannot be labelled
MAX_WIDTH = 500

PlotOpt = Annotated[
    bool,
    typer.Option("--plot", help="Draw the curve in the terminal (for people: not with --json)."),
]
RangeOpt = Annotated[
    str | None,
    typer.Option(
        "--range",
        metavar="A,B",
        help="x range of the plot, e.g. -6,6 [default: chosen per function, covering its kinks"
        " and the x given].",
        show_default=False,
    ),
]
WidthOpt = Annotated[
    str | None,
    typer.Option(
        "--width",
        metavar="COLUMNS",
        help=f"Plot width [default: the terminal's, at most 100; {MIN_WIDTH} … {MAX_WIDTH}].",
        show_default=False,
    ),
]
HeightOpt = Annotated[
    str | None,
    typer.Option(
        "--height",
        metavar="ROWS",
        help=f"Plot height in rows [default: from the terminal; {MIN_HEIGHT} … {MAX_HEIGHT}].",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class PlotRequest:
    """A checked ``--plot``: the x range (None = the function's default) and the size
    (None = the terminal's)."""

    x_range: tuple[float, float] | None = None
    width: int | None = None
    height: int | None = None


def for_people(option: str, output: Output) -> None:
    """InputError when a picture option meets machine output (--json, --format csv)."""
    if output.format in (OutputFormat.json, OutputFormat.csv):
        flag = "--json" if output.format is OutputFormat.json else "--format csv"
        raise InputError(
            f"{option} draws a picture for people, and {flag} is for programs; drop {option} "
            f"or {flag} (the picture never goes into machine output)"
        )


def plot_request(
    plot: bool,
    x_range: str | None,
    width: str | None,
    height: str | None,
    output: Output,
) -> PlotRequest | None:
    """The checked plot options, or None without ``--plot`` (then ``--range``, ``--width``
    and ``--height`` are errors: they would do nothing)."""
    if not plot:
        for option, value in (("--range", x_range), ("--width", width), ("--height", height)):
            if value is not None:
                raise InputError(f"{option} sets up the plot: add --plot, or drop {option}")
        return None
    for_people("--plot", output)
    return PlotRequest(
        x_range=None if x_range is None else parse_range(x_range),
        width=None if width is None else _whole(width, "--width", MIN_WIDTH, MAX_WIDTH),
        height=None if height is None else _whole(height, "--height", MIN_HEIGHT, MAX_HEIGHT),
    )


def parse_range(text: str) -> tuple[float, float]:
    """``-6,6`` → (−6.0, 6.0): two finite numbers, A < B, of a size a plot can label."""
    pieces = number_tokens(text, "--range")
    if len(pieces) != 2:
        raise InputError(f"--range {shown(text)} must be two numbers A,B, e.g. --range -6,6")
    low, high = (parse_number(piece, "--range") for piece in pieces)
    if not low < high:
        raise InputError(
            f"--range {shown(text)}: the start {low:g} must be less than the end {high:g}"
        )
    if max(abs(low), abs(high)) > RANGE_LIMIT:
        raise InputError(
            f"--range {shown(text)} reaches beyond ±{RANGE_LIMIT:g}; plot a range within it"
        )
    if high - low < MIN_SPAN * max(1.0, abs(low), abs(high)):
        raise InputError(
            f"--range {shown(text)} is too narrow to label: make B − A at least "
            f"{MIN_SPAN:g}·max(1, |A|, |B|)"
        )
    return low, high


def _whole(text: str, option: str, low: int, high: int) -> int:
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and low <= int(raw) <= high):
        raise InputError(f"{option} {shown(text)} must be a whole number from {low} to {high}")
    return int(raw)
