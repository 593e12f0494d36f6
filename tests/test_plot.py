"""Terminal plots: what lands where, read back from the text the way a person reads the plot
(by its tick labels), not from the plotting code's own arithmetic."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from rich.cells import cell_len

from gradcli.ops.activations import ACTIVATION_LIST, plot_range
from gradcli.render.plot import Figure, PlotStyle, Series, plot_curves, plot_lines
from tests.conftest import assert_bad_input, invoke

MARK = "●"
Y_TICK = re.compile(r"^\s*(-?[\d.e+-]+) ┤")


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def sigmoid_curves(points: int = 481) -> tuple[list[float], list[float], list[float]]:
    xs = [-6 + 12 * i / (points - 1) for i in range(points)]
    f = [sigmoid(x) for x in xs]
    return xs, f, [v * (1 - v) for v in f]


def canvas_rows(text: str) -> list[str]:
    """The lines between the title and the x axis (those with a ┤ or │ edge)."""
    return [line for line in text.splitlines() if re.match(r"^\s*[-\d.e+]*\s?[┤│]", line)]


def y_of_row(text: str):
    """Row index → y, interpolated from the labelled rows (as a reader would)."""
    rows = canvas_rows(text)
    labelled = [(r, float(m[1])) for r, line in enumerate(rows) if (m := Y_TICK.match(line))]
    (r0, y0), (r1, y1) = labelled[0], labelled[-1]
    return lambda r: y0 + (r - r0) * (y1 - y0) / (r1 - r0), rows


def x_of_column(text: str):
    """Column (in the whole line) → x, from the centres of the first and last x labels."""
    lines = text.splitlines()
    axis = next(i for i, line in enumerate(lines) if "└" in line)
    labels = [(m.start() + (len(m[0]) - 1) / 2, float(m[0])) for m in
              re.finditer(r"-?\d+(?:\.\d+)?", lines[axis + 1])]  # fmt: skip
    ticks = [i for i, ch in enumerate(lines[axis]) if ch == "┬"]
    (c0, x0), (c1, x1) = (ticks[0], labels[0][1]), (ticks[-1], labels[-1][1])
    return lambda c: x0 + (c - c0) * (x1 - x0) / (c1 - c0)


def test_marked_points_land_on_both_curves_where_the_axes_say():
    xs, f, fp = sigmoid_curves()
    marks = [(x, sigmoid(x), sigmoid(x) * (1 - sigmoid(x))) for x in (0.5, 1.5, 3.0)]
    text = plot_curves(f, fp, xs, marks, width=60, height=15)
    y_at, rows = y_of_row(text)
    x_at = x_of_column(text)
    found = [(r, c) for r, line in enumerate(rows) for c, ch in enumerate(line) if ch == MARK]
    assert len(found) == 6  # every x on f and on f'
    row_step = abs(y_at(1) - y_at(0))
    col_step = abs(x_at(1) - x_at(0))
    for x, fx, dfx in marks:
        for y in (fx, dfx):
            assert any(
                abs(y_at(r) - y) <= row_step and abs(x_at(c) - x) <= col_step for r, c in found
            ), (x, y, found)


def test_curve_extremes_land_in_the_right_row_and_column():
    xs, _, fp = sigmoid_curves()
    figure = Figure(series=(Series("f'", xs, fp),))
    text = "\n".join(line.plain for line in plot_lines(figure, PlotStyle(60, 15)))
    y_at, rows = y_of_row(text)
    x_at = x_of_column(text)
    drawn = [r for r, line in enumerate(rows) if any("⠁" <= ch <= "⣿" for ch in line[6:])]
    top, bottom = min(drawn), max(drawn)
    assert abs(y_at(top) - 0.25) <= abs(y_at(1) - y_at(0))  # σ' peaks at 1/4 …
    peak = [c for c, ch in enumerate(rows[top]) if "⠁" <= ch <= "⣿"]
    assert all(abs(x_at(c)) <= 1.0 for c in peak)  # … at x = 0 (σ' > 0.236 for |x| < 0.49)
    assert abs(sum(x_at(c) for c in peak) / len(peak)) <= 0.25
    assert abs(y_at(bottom) - 0.0) <= abs(y_at(1) - y_at(0))  # and falls to ~0 at the ends


@pytest.mark.parametrize("width", [30, 40, 60, 80, 120])
def test_width_is_respected(width):
    xs, f, fp = sigmoid_curves()
    text = plot_curves(f, fp, xs, [(0.5, 0.6, 0.2)], kinks=[0.0], width=width, height=10)
    assert max(cell_len(line) for line in text.splitlines()) <= width


def test_legend_names_f_and_f_prime_and_the_marks():
    xs, f, fp = sigmoid_curves()
    text = plot_curves(
        f, fp, xs, [(0.5, 0.6, 0.2)], labels=("f(x) = σ(x)", "f'(x) = σ(x)(1 − σ(x))")
    )
    legend = text.splitlines()[-3:]
    assert "f(x) = σ(x)" in legend[0] and "f'(x) = σ(x)(1 − σ(x))" in legend[1]
    assert (
        legend[0].split()[0] != legend[1].split()[0]
    )  # solid and dotted: told apart without colour
    assert "at the x given: 0.5" in legend[2]


def test_kinks_are_drawn_and_the_derivative_is_not_joined_across_them():
    xs = [-6 + 12 * i / 480 for i in range(481)]
    relu = [max(0.0, x) for x in xs]
    step = [1.0 if x > 0 else 0.0 for x in xs]
    text = plot_curves(relu, step, xs, kinks=[0.0], width=60, height=12)
    _, rows = y_of_row(text)
    x_at = x_of_column(text)
    guide = {c for line in rows for c, ch in enumerate(line) if ch == "┊"}
    assert guide and all(abs(x_at(c)) <= 0.25 for c in guide)
    assert "kink at x = 0" in text
    # f' alone: no vertical stroke joins 0 (left of the kink) to 1 (right of it)
    figure = Figure(series=(Series("f'", xs, step, breaks=(0.0,)),), guides=(0.0,))
    alone = "\n".join(line.plain for line in plot_lines(figure, PlotStyle(60, 12)))
    y_at, rows = y_of_row(alone)
    x_at = x_of_column(alone)
    middle = [r for r in range(len(rows)) if 0.15 < y_at(r) < 0.85]
    near = [c for c in range(len(rows[0])) if abs(x_at(c)) < 0.3]
    assert middle and near
    assert all(rows[r][c] in " ┊" for r in middle for c in near)


def test_ascii_only_plot_is_ascii_and_colour_adds_only_escapes():
    xs, f, fp = sigmoid_curves()
    ascii_text = plot_curves(f, fp, xs, [(0.0, 0.5, 0.25)], kinks=[1.0], ascii_only=True)
    ascii_text.encode("ascii")
    assert "*" in ascii_text and "+" in ascii_text and "o" in ascii_text
    coloured = plot_curves(f, fp, xs, width=60, height=12, colour=True)
    plain = plot_curves(f, fp, xs, width=60, height=12, colour=False)
    assert "\x1b[" in coloured and "\x1b[" not in plain
    # without colour the series differ by their line instead: same layout, other dots
    assert re.sub(r"\x1b\[[\d;]*m", "", coloured).count("\n") == plain.count("\n")


def test_default_range_follows_the_registry_kinks_and_the_x_given():
    assert plot_range(()) == (-6.0, 6.0)
    assert plot_range((20.0,)) == (-6.0, 22.0)  # softplus's threshold
    assert plot_range((0.0, 6.0)) == (-6.0, 7.0)  # relu6
    assert plot_range((), [10.0]) == (-6.0, 11.0)
    assert plot_range((), [1e30]) == (-6.0, 6.0)  # too far to widen to
    for act in ACTIVATION_LIST:
        low, high = plot_range(act.kinks(act.resolve_params([])))
        assert all(low < k < high for k in act.kinks(act.resolve_params([])))


def test_activation_plot_above_the_table_and_checked_against_autograd():
    run = invoke("activation", "sigmoid", "0.5", "--plot", "--width", "60", "--height", "12")
    assert run.code == 0
    out = run.stdout
    assert out.index("sigmoid on [-6, 6]") < out.index("┏")  # the plot, then the table
    assert out.count(MARK) == 3  # on f, on f' and in the legend
    assert re.search(r"✓ plotted f' agrees with autograd at all \d{3} points", out)
    assert max(cell_len(line) for line in out.splitlines()[:18]) <= 60  # title … legend


def test_plot_without_x_values_is_only_the_plot():
    run = invoke("activation", "relu6", "--plot", "--width", "70")
    assert run.code == 0
    assert "relu6 on [-6, 7]" in run.stdout and "┏" not in run.stdout
    assert "kink at x = 0, 6" in run.stdout and "\x1b" not in run.stdout


def test_given_range_and_points_outside_it():
    run = invoke("activation", "tanh", "5", "--plot", "--range", "-2,2")
    assert run.code == 0
    assert "tanh on [-2, 2]" in run.stdout
    assert "not marked: x = 5 outside the plotted range [-2, 2]" in run.stdout


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--plot", "--json"], ["--plot", "--json", "drop"]),
        (["--plot", "--format", "csv"], ["--plot", "--format csv"]),
        (["--plot", "--range", "5,1"], ["--range", "5", "less than"]),
        (["--plot", "--range", "nan,1"], ["--range", "'nan'"]),
        (["--plot", "--range", "1"], ["--range", "two numbers"]),
        (["--plot", "--range", "-1e9,1e9"], ["--range", "beyond"]),
        (["--plot", "--range", "0,1e-9"], ["--range", "too narrow"]),
        (["--plot", "--width", "10"], ["--width", "'10'"]),
        (["--plot", "--height", "x"], ["--height", "'x'"]),
        (["--range", "-1,1"], ["--range", "add --plot"]),
    ],
)
def test_bad_plot_options(args, fragments):
    assert_bad_input(invoke("activation", "sigmoid", "0.5", *args), *fragments)


def loaded(argv: list[str], module: str) -> bool:
    code = (
        "import sys\nfrom gradcli.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"print({module!r} in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stderr.strip().endswith("True")


def test_plotting_library_is_imported_only_for_plot():
    assert not loaded(["activation", "sigmoid", "0.5"], "plotille")
    assert not loaded(["activation", "sigmoid", "0.5"], "gradcli.render.plot")
    assert not loaded(["softmax-jacobian", "1", "2", "--heatmap"], "plotille")
    assert loaded(["activation", "sigmoid", "--plot"], "plotille")
