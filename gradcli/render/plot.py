"""Terminal plots: curves drawn on braille canvases (plotille), with axes and a legend.

This module knows nothing of activations or losses: it draws series of (x, y) points, marked
points and vertical guide lines. :func:`plot_curves` (f and f′ of one variable) and
:func:`plot_lines` build a plot as text at a given size; :class:`CurvePlot` is the Rich
renderable that builds it at print time for the terminal it lands on — its width and height,
colour or not (``NO_COLOR``, a pipe), Unicode or ASCII — so machine output never carries one.

Each series is rasterised on its own plotille canvas (plotille is imported only here, when a
plot is drawn); the canvases are then merged cell by cell — braille dots OR-ed, the colour of
the topmost series that has dots in a cell — so Rich, not plotille, decides on colour. Without
colour the series differ by their line (solid, dotted) so the picture still reads when piped;
on an ASCII-only stream they are drawn with ``*`` and ``+``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text

from gradcli.render.plot_sizes import DEFAULT_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH
from gradcli.results.curve import Curve

BRAILLE = 0x2800
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")  # blue, orange, green, purple
PATTERNS = ((True,), (True, False), (True, True, False, False))  # solid, dotted, dashed
ASCII_GLYPHS = ("*", "+", "x", "#")
LEGEND_UNICODE = ("⠒⠒⠒", "⠂⠂⠂", "⠒⠂⠒")  # what each pattern looks like as a horizontal line
MARK_GLYPH, MARK_ASCII = "●", "o"
GUIDE_GLYPH, GUIDE_ASCII = "┊", ":"


@dataclass(frozen=True)
class Series:
    """One curve: points joined in order, except across ``breaks`` (x where it jumps) and
    across non-finite values."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    breaks: Sequence[float] = ()


@dataclass(frozen=True)
class Mark:
    """A point drawn on top of the curves (``series``: whose colour it takes)."""

    x: float
    y: float
    series: int = 0


@dataclass(frozen=True)
class Figure:
    """Everything a plot shows, independent of its size and of colour."""

    series: tuple[Series, ...]
    marks: tuple[Mark, ...] = ()
    guides: tuple[float, ...] = ()  # x of dotted vertical lines (kinks)
    title: str = ""
    notes: tuple[tuple[str, str], ...] = ()  # extra legend lines: (kind, text), kind mark|guide
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None  # the data's y span to show (else the data's)
    log_y: bool = False  # plot log10(y); y must be positive
    x_integer: bool = False  # x ticks at whole numbers only (epochs)


@dataclass(frozen=True)
class PlotStyle:
    """How a plot is drawn: its size in terminal cells, colour and character set."""

    width: int
    height: int  # canvas rows (the plot adds its axis, labels and legend)
    colour: bool = False
    ascii_only: bool = False


# ---------------------------------------------------------------- public entry points


def plot_curves(
    f_values: Sequence[float],
    fprime_values: Sequence[float],
    xs: Sequence[float],
    marks: Sequence[tuple[float, float, float]] = (),
    kinks: Sequence[float] = (),
    labels: tuple[str, str] = ("f(x)", "f'(x)"),
    width: int = 60,
    height: int = DEFAULT_HEIGHT,
    colour: bool = False,
    *,
    title: str = "",
    ascii_only: bool = False,
) -> str:
    """A function and its derivative as text: ``width`` columns, ``height`` canvas rows.

    ``marks`` are points (x, f(x), f′(x)) drawn on both curves; ``kinks`` are drawn as dotted
    vertical lines, and f′ is not joined across them. ``colour`` adds ANSI colours.
    """
    figure = curves_figure(f_values, fprime_values, xs, marks, kinks, labels, title=title)
    return render_text(figure, PlotStyle(width, height, colour, ascii_only))


def curves_figure(
    f_values: Sequence[float],
    fprime_values: Sequence[float],
    xs: Sequence[float],
    marks: Sequence[tuple[float, float, float]] = (),
    kinks: Sequence[float] = (),
    labels: tuple[str, str] = ("f(x)", "f'(x)"),
    *,
    title: str = "",
    x_range: tuple[float, float] | None = None,
) -> Figure:
    """The figure of f and f′ (see :func:`plot_curves`)."""
    points = [Mark(x, fx, 0) for x, fx, _ in marks] + [Mark(x, d, 1) for x, _, d in marks]
    notes = []
    if marks:
        shown = ", ".join(f"{x:g}" for x, _, _ in marks)
        notes.append(("mark", f"at the x given: {shown}"))
    if kinks:
        where = ", ".join(f"{k:g}" for k in kinks)
        notes.append(("guide", f"kink at x = {where}: {labels[1].split(' ')[0]} jumps there"))
    return Figure(
        series=(
            Series(labels[0], xs, f_values),
            Series(labels[1], xs, fprime_values, breaks=tuple(kinks)),
        ),
        marks=tuple(points),
        guides=tuple(kinks),
        title=title,
        notes=tuple(notes),
        x_range=x_range,
    )


def render_text(figure: Figure, style: PlotStyle) -> str:
    """The plot as plain text (ANSI colours when ``style.colour``)."""
    console = Console(
        width=style.width,
        color_system="truecolor" if style.colour else None,
        force_terminal=style.colour,
        no_color=not style.colour,
        highlight=False,
        legacy_windows=False,
        force_jupyter=False,
    )
    with console.capture() as capture:
        for line in plot_lines(figure, style):
            console.print(line, soft_wrap=False, overflow="fold")
    return capture.get()


class CurvePlot:
    """A plot that takes its size, colour and character set from the console it is printed
    on; ``width``/``height`` (``--width``/``--height``) override the terminal's."""

    def __init__(self, figure: Figure, width: int | None = None, height: int | None = None):
        self.figure = figure
        self.width = width
        self.height = height

    def style_for(self, console: Console, options: ConsoleOptions) -> PlotStyle:
        width = self.width or max(MIN_WIDTH, min(options.max_width, MAX_WIDTH))
        height = self.height or default_height(console.height)
        colour = console.color_system is not None and not console.no_color
        return PlotStyle(width, height, colour, options.ascii_only)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = self.style_for(console, options).width
        return Measurement(width, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from plot_lines(self.figure, self.style_for(console, options))


def default_height(terminal_rows: int) -> int:
    """Canvas rows for a terminal of ``terminal_rows``: room for the axis and the legend."""
    return max(MIN_HEIGHT + 3, min(terminal_rows - 9, 20))


# ---------------------------------------------------------------- layout


@dataclass
class Axes:
    """The data ranges and their ticks, and the canvas they are drawn on."""

    x0: float
    x1: float
    y0: float
    y1: float
    x_ticks: list[float]
    y_ticks: list[float]
    y_labels: list[str]
    columns: int
    rows: int
    label_width: int = field(init=False)

    def __post_init__(self) -> None:
        self.label_width = max(len(label) for label in self.y_labels)

    def column(self, x: float) -> int:
        """The canvas column (0 = left) where ``x`` lands."""
        return _dot(x, self.x0, self.x1, self.columns * 2) // 2

    def row(self, y: float) -> int:
        """The canvas row (0 = top) where ``y`` lands."""
        return self.rows - 1 - _dot(y, self.y0, self.y1, self.rows * 4) // 4


def _dot(value: float, low: float, high: float, dots: int) -> int:
    """Dot index of ``value`` when [low, high] spans ``dots`` dots, both ends included."""
    if high == low:
        return 0
    return max(0, min(dots - 1, round((value - low) / (high - low) * (dots - 1))))


def plot_lines(figure: Figure, style: PlotStyle) -> list[Text]:
    """The plot, line by line: title, canvas rows with the y axis, x axis, legend."""
    series = [_transformed(s, figure.log_y) for s in figure.series]
    marks = [replace(m, y=_y(m.y, figure.log_y)) for m in figure.marks]
    axes = _axes(figure, series, marks, style)
    cells = _canvas(figure, series, marks, axes, style)
    ascii_only = style.ascii_only
    lines = [Text(_plain(figure.title, ascii_only), style="bold")] if figure.title else []
    tick_rows = {axes.row(t): label for t, label in zip(axes.y_ticks, axes.y_labels, strict=True)}
    for r, row in enumerate(cells):
        label = tick_rows.get(r, "")
        edge = ("+" if label else "|") if ascii_only else ("┤" if label else "│")
        line = Text(f"{label:>{axes.label_width}} {edge}")
        for char, cell_style in row:
            line.append(char, cell_style)
        lines.append(line)
    lines += _x_axis(axes, figure, ascii_only)
    lines += _legend(figure, style)
    return lines


def _y(value: float, log_y: bool) -> float:
    if not log_y:
        return value
    return math.log10(value) if value > 0 and math.isfinite(value) else math.nan


def _transformed(series: Series, log_y: bool) -> Series:
    if not log_y:
        return series
    return replace(series, ys=[_y(v, True) for v in series.ys])


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _axes(figure: Figure, series: list[Series], marks: list[Mark], style: PlotStyle) -> Axes:
    xs = _finite(x for s in series for x in s.xs) + _finite(m.x for m in marks)
    ys = _finite(y for s in series for y in s.ys) + _finite(m.y for m in marks)
    x0, x1 = figure.x_range or ((min(xs), max(xs)) if xs else (0.0, 1.0))
    if x1 <= x0:
        x0, x1 = x0 - 1, x0 + 1
    rows = max(MIN_HEIGHT, style.height)
    y_lo, y_hi = figure.y_range or ((min(ys), max(ys)) if ys else (0.0, 1.0))
    if figure.log_y:
        y0, y1 = math.floor(y_lo), math.ceil(y_hi)
        y1 = y1 if y1 > y0 else y0 + 1
        step = max(1, math.ceil((y1 - y0) / max(1, rows // 3)))
        y_ticks = [float(k) for k in range(int(y0), int(y1) + 1, step)]
        y_labels = [f"1e{int(k)}" for k in y_ticks]
    else:
        if y_hi - y_lo <= 1e-12 * max(1.0, abs(y_hi)):
            pad = max(1.0, abs(y_hi) * 0.1)
            y_lo, y_hi = y_lo - pad, y_hi + pad
        y0, y1, step = _y_span(y_lo, y_hi, rows)
        y_ticks = _ticks(y0, y1, step)
        decimals = _decimals(step)
        y_labels = [_number(t, decimals) for t in y_ticks]
    label_width = max(len(label) for label in y_labels)
    columns = max(MIN_WIDTH - 10, style.width - label_width - 2)
    x_count = max(2, columns // 9)
    x_step = nice_step(x1 - x0, x_count, (1, 2, 5, 10))
    if figure.x_integer:
        x_step = max(1.0, round(x_step))
    x_ticks = _ticks(x0, x1, x_step)
    return Axes(x0, x1, y0, y1, x_ticks, y_ticks, y_labels, columns, rows)


def _y_span(low: float, high: float, rows: int) -> tuple[float, float, float]:
    """The y axis from ``low`` to ``high`` rounded out to a round step: of the steps giving
    about rows/3 … rows/2 ticks, the one that wastes the least height."""
    best = None
    for count in range(max(2, rows // 3), max(3, rows // 2) + 1):
        step = nice_step(high - low, count)
        y0 = math.floor(low / step + 1e-9) * step
        y1 = math.ceil(high / step - 1e-9) * step
        waste = (y1 - y0) - (high - low)
        if best is None or waste < best[0] - 1e-12 * (high - low):
            best = (waste, y0, y1, step)
    assert best is not None
    return best[1], best[2], best[3]


def nice_step(span: float, count: int, multiples: tuple[float, ...] = (1, 2, 2.5, 5, 10)) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) giving about ``count`` intervals over ``span``."""
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in multiples:
        if multiple * magnitude >= raw * (1 - 1e-9):
            return multiple * magnitude
    return 10 * magnitude


def _ticks(low: float, high: float, step: float) -> list[float]:
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [k * step + 0.0 for k in range(first, last + 1)]


def _decimals(step: float) -> int:
    for decimals in range(0, 12):
        if abs(round(step, decimals) - step) <= 1e-9 * step:
            return decimals
    return 12


def _number(value: float, decimals: int) -> str:
    """A tick label: fixed decimals, no "-0"; very large or small values in e-notation."""
    if value != 0 and not 1e-4 <= abs(value) < 1e7:
        return f"{value:.3g}"
    text = f"{value:.{decimals}f}"
    return f"{0.0:.{decimals}f}" if float(text) == 0 else text


# ---------------------------------------------------------------- the canvas


Cell = tuple[str, Style | None]


def _canvas(
    figure: Figure, series: list[Series], marks: list[Mark], axes: Axes, style: PlotStyle
) -> list[list[Cell]]:
    """Every canvas cell: its character and style, the layers merged."""
    from gradcli._torch import load

    plotille = load("plotille")  # the collector paused meanwhile, as for torch

    def canvas():  # type: ignore[no-untyped-def]
        # plotille maps [xmin, xmax) onto the dots; extend xmax by one dot so that x1 lands on
        # the last dot, as _dot() places it (likewise y)
        dx = (axes.x1 - axes.x0) / (axes.columns * 2 - 1)
        dy = (axes.y1 - axes.y0) / (axes.rows * 4 - 1)
        return plotille.Canvas(
            axes.columns,
            axes.rows,
            xmin=axes.x0,
            xmax=axes.x0 + axes.columns * 2 * dx,
            ymin=axes.y0,
            ymax=axes.y0 + axes.rows * 4 * dy,
        )

    layers: list[tuple[list[str], int | None, str]] = []  # rows, series index, kind
    for index, curve in reversed(list(enumerate(series))):
        board = canvas()
        glyph = ASCII_GLYPHS[index % len(ASCII_GLYPHS)] if style.ascii_only else None
        pattern = (True,) if style.colour or glyph else PATTERNS[index % len(PATTERNS)]
        _trace(board, curve, pattern, glyph, axes)
        layers.append((_rows(board), index, "series"))
    if figure.guides:
        board = canvas()
        glyph = GUIDE_ASCII if style.ascii_only else GUIDE_GLYPH
        for x in figure.guides:
            if axes.x0 <= x <= axes.x1:
                for r in range(axes.rows):
                    y = axes.y1 - (r + 0.5) * (axes.y1 - axes.y0) / axes.rows
                    board.point(x, y, marker=glyph)
        layers.insert(0, (_rows(board), None, "guide"))
    merged = [[_merge(layers, r, c, style) for c in range(axes.columns)] for r in range(axes.rows)]
    glyph = MARK_ASCII if style.ascii_only else MARK_GLYPH
    for mark in marks:
        if math.isfinite(mark.y) and axes.x0 <= mark.x <= axes.x1:
            colour = PALETTE[mark.series % len(PALETTE)]
            merged[axes.row(mark.y)][axes.column(mark.x)] = (glyph, Style(color=colour, bold=True))
    return merged


def _rows(board) -> list[str]:  # type: ignore[no-untyped-def]
    return board.plot(linesep="\n").split("\n")


def _merge(
    layers: list[tuple[list[str], int | None, str]], r: int, c: int, style: PlotStyle
) -> Cell:
    """One cell from the layers, bottom (guides) to top (the first series): markers of a
    higher layer replace what is below; braille dots are OR-ed, coloured by the topmost."""
    bits, owner, char = 0, None, " "
    guide = False
    for rows, index, kind in layers:
        ch = rows[r][c]
        if kind == "guide":
            guide = ch != chr(BRAILLE) and ch != " "
            continue
        code = ord(ch) - BRAILLE
        if 0 < code < 256:
            bits |= code
            owner = index
        elif ch not in (chr(BRAILLE), " "):
            char, owner, bits = ch, index, 0
    if bits:
        char = chr(BRAILLE + bits)
    if owner is None:
        if guide:
            return (GUIDE_ASCII if style.ascii_only else GUIDE_GLYPH, Style(dim=True))
        return (" ", None)
    return (char, Style(color=PALETTE[owner % len(PALETTE)]))


def _trace(board, curve: Series, pattern: tuple[bool, ...], glyph: str | None, axes: Axes) -> None:  # type: ignore[no-untyped-def]
    """Draw ``curve`` dot by dot, so that a pattern can leave every other dot out: each
    segment is stepped one dot at a time; segments across a break or a non-finite value are
    left out, and a point joined to neither neighbour is drawn alone."""
    points = list(zip(curve.xs, curve.ys, strict=True))
    joined = [_joined(a, b, curve.breaks) for a, b in itertools.pairwise(points)]
    count, last = 0, None
    for i, ((xa, ya), (xb, yb)) in enumerate(itertools.pairwise(points)):
        if not joined[i]:
            continue
        dx, dy = board.dots_between(xa, ya, xb, yb)
        steps = max(abs(dx), abs(dy), 1)
        for step in range(steps + 1):
            t = step / steps
            x, y = xa + t * (xb - xa), ya + t * (yb - ya)
            dot = (
                _dot(x, axes.x0, axes.x1, axes.columns * 2),
                _dot(y, axes.y0, axes.y1, axes.rows * 4),
            )
            if dot != last:
                count, last = count + 1, dot
                if pattern[count % len(pattern)]:
                    board.point(x, y, marker=glyph)
    for i, (x, y) in enumerate(points):
        alone = not (i > 0 and joined[i - 1]) and not (i < len(joined) and joined[i])
        if alone and math.isfinite(x) and math.isfinite(y):
            board.point(x, y, marker=glyph)


def _joined(a: tuple[float, float], b: tuple[float, float], breaks: Sequence[float]) -> bool:
    if not all(math.isfinite(v) for v in (*a, *b)):
        return False
    return not any(min(a[0], b[0]) <= k <= max(a[0], b[0]) for k in breaks)


# ---------------------------------------------------------------- axis and legend


def _x_axis(axes: Axes, figure: Figure, ascii_only: bool) -> list[Text]:
    """The axis line with a tick under each labelled x, and the labels centred on them."""
    indent = " " * (axes.label_width + 1)
    line = list(("-" if ascii_only else "─") * axes.columns)
    labels = [" "] * (axes.columns + axes.label_width + 2)
    decimals = _decimals(axes.x_ticks[1] - axes.x_ticks[0]) if len(axes.x_ticks) > 1 else 0
    free = 0
    for tick in axes.x_ticks:
        column = axes.column(tick)
        text = _number(tick, decimals)
        start = axes.label_width + 2 + column - len(text) // 2
        start = max(0, min(start, len(labels) - len(text)))
        if start < free:
            continue
        line[column] = "+" if ascii_only else "┬"
        labels[start : start + len(text)] = list(text)
        free = start + len(text) + 1
    corner = "+" if ascii_only else "└"
    return [Text(indent + corner + "".join(line)), Text("".join(labels).rstrip())]


def _legend(figure: Figure, style: PlotStyle) -> list[Text]:
    lines = []
    for index, series in enumerate(figure.series):
        colour = PALETTE[index % len(PALETTE)]
        if style.ascii_only:
            sample = ASCII_GLYPHS[index % len(ASCII_GLYPHS)] * 3
        elif style.colour:
            sample = LEGEND_UNICODE[0]
        else:
            sample = LEGEND_UNICODE[index % len(LEGEND_UNICODE)]
        line = Text("  ")
        line.append(sample, Style(color=colour))
        line.append(" " + _plain(series.label, style.ascii_only))
        lines.append(line)
    for kind, text in figure.notes:
        if kind == "mark":
            glyph, glyph_style = (MARK_ASCII if style.ascii_only else MARK_GLYPH), Style(bold=True)
        else:
            glyph, glyph_style = (GUIDE_ASCII if style.ascii_only else GUIDE_GLYPH), Style(dim=True)
        line = Text("  ")
        line.append(f" {glyph} ", glyph_style)
        line.append(" " + _plain(text, style.ascii_only))
        lines.append(line)
    return lines


def _plain(text: str, ascii_only: bool) -> str:
    if not ascii_only:
        return text
    from gradcli.render.plain import ascii_text

    return ascii_text(text)


# ---------------------------------------------------------------- results


def curve_renderable(curve: Curve) -> RenderableType:
    """A sampled f and f′ (``--plot``): the plot, what lies outside it, the check line."""
    figure = curves_figure(
        curve.value,
        curve.derivative,
        curve.x,
        curve.marks,
        curve.kinks,
        curve.labels,
        title=curve.title,
        x_range=curve.x_range,
    )
    parts: list[RenderableType] = [CurvePlot(figure, curve.width, curve.height)]
    if curve.outside:
        shown = ", ".join(f"{x:g}" for x in curve.outside)
        low, high = curve.x_range
        parts.append(
            Text(f"not marked: x = {shown} outside the plotted range [{low:g}, {high:g}]", "yellow")
        )
    parts += [Text(note, "yellow") for note in curve.notes]
    parts.append(Text(curve.check_line(), style="green" if curve.agree else "bold red"))
    return Group(*parts)
