"""Heat colours: cells styled by sign and magnitude when the console has colour, the text
unchanged when it does not; the block heatmap of softmax-jacobian."""

from __future__ import annotations

import io
import math

from rich.console import Console
from rich.segment import Segment

from gradcli.render.heatmap import HeatMap, heat_colour, heat_style, shade
from gradcli.render.table import matrix_table
from tests.conftest import assert_bad_input, invoke


def softmax_jacobian(a: list[float]) -> list[list[float]]:
    """diag(p) − p pᵀ, written independently of gradcli."""
    m = max(a)
    e = [math.exp(v - m) for v in a]
    p = [v / sum(e) for v in e]
    return [[p[i] * ((i == j) - p[j]) for j in range(len(a))] for i in range(len(a))]


def console(colour: bool, width: int = 100) -> Console:
    return Console(
        file=io.StringIO(),
        width=width,
        force_terminal=colour,
        color_system="truecolor" if colour else None,
        no_color=not colour,
        legacy_windows=False,
    )


def segments(renderable, colour: bool) -> list[Segment]:
    c = console(colour)
    return list(c.render(renderable, c.options))


def cell_styles(renderable) -> dict[str, object]:
    """Each number printed → the style of its segment (a coloured console)."""
    found = {}
    for segment in segments(renderable, True):
        text = segment.text.strip()
        if text and segment.style is not None:
            found.setdefault(text, segment.style)
    return found


def test_heat_colours_by_sign_and_grow_with_magnitude():
    blue, red = heat_colour(0.5, 1.0), heat_colour(-0.5, 1.0)
    assert blue[2] > blue[0] and red[0] > red[2]
    assert heat_colour(0.0, 1.0) is None and heat_colour(math.nan, 1.0) is None
    pale, strong = heat_colour(0.1, 1.0), heat_colour(1.0, 1.0)
    assert sum(strong) < sum(pale)  # stronger = further from the pale end
    assert heat_style(1.0, 1.0).color.name == "white" and heat_style(0.1, 1.0).color.name == "black"


def test_matrix_cells_are_styled_per_cell_by_sign():
    jac = softmax_jacobian([1.0, 2.0, 3.0])
    styles = cell_styles(matrix_table("J", jac, 6))
    for i, row in enumerate(jac):
        for j, value in enumerate(row):
            style = styles[f"{value:.6g}"]
            r, _g, b = style.bgcolor.get_truecolor()
            if i == j:
                assert value > 0 and b > r, (i, j, style)
            else:
                assert value < 0 and r > b, (i, j, style)


def test_without_colour_the_text_is_what_it_was_and_the_legend_is_silent():
    jac = softmax_jacobian([0.5, -1.0, 2.0, 0.0])
    heated = console(False)
    heated.print(matrix_table("J", jac, 6))
    plain = console(False)
    plain.print(matrix_table("J", jac, 6, heat=False))
    assert heated.file.getvalue() == plain.file.getvalue()
    coloured = console(True)
    coloured.print(matrix_table("J", jac, 6))
    text = coloured.file.getvalue()
    assert "\x1b[" in text and "blue +, red −" in text  # the one-line legend


def test_heatmap_monochrome_shows_sign_and_shade():
    jac = softmax_jacobian([1.0, 2.0, 3.0, 4.0])
    c = console(False, 80)
    c.print(HeatMap(jac, "∂p_i/∂a_j"))
    lines = c.file.getvalue().splitlines()
    rows = [line for line in lines if line.lstrip().startswith("i=")]
    assert len(rows) == 4
    for i, line in enumerate(rows):
        cells = line.split()[1:]
        assert [cell[0] for cell in cells] == ["+" if j == i else "-" for j in range(4)]
        assert all(cell[1] in "░▒▓█" for cell in cells)
    largest = max(abs(v) for row in jac for v in row)
    assert rows[3].split()[4] == shade(jac[3][3], largest) == "+█"
    assert "+ positive, - negative" in " ".join(lines[-2:])


def test_heatmap_in_colour_is_blocks_with_a_legend():
    jac = softmax_jacobian([1.0, 2.0, 3.0])
    blocks = [s for s in segments(HeatMap(jac, "J"), True) if s.style and s.style.bgcolor]
    diagonal = [s for s in blocks if s.style.bgcolor.get_truecolor()[2] > 150]
    assert len(blocks) >= 9 and diagonal


def test_softmax_heatmap_command_and_its_limits():
    run = invoke("softmax-jacobian", "1", "2", "3", "--heatmap")
    assert run.code == 0
    assert "i=0 +" in run.stdout and "┏━━━━━┳" not in run.stdout.split("Jacobian")[1]
    assert_bad_input(
        invoke("softmax-jacobian", *[str(i) for i in range(61)], "--heatmap"), "--heatmap", "60"
    )
    assert_bad_input(invoke("softmax-jacobian", "1", "2", "--heatmap", "--json"), "--heatmap")
