"""The docs check tolerates other CPUs' last bits, and nothing else.

Outputs in README.md and docs/ are compared with noise-level figures (|diff| values, error
estimates: any number below gradcli.docs.NOISE_LEVEL) made equal; every other figure must
match as printed. These tests change one figure of a real example output each way.
"""

from __future__ import annotations

import pytest

from gradcli.docs import NOISE_LEVEL, console_commands, render_console_block, without_noise

SHOWN = """\
$ gradcli activation sigmoid 0 0.5
sigmoid:  σ(x) = 1 / (1 + e^(−x))
┏━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━┳━━━┓
┃   x ┃     f(x) ┃ f'(x) analytic ┃ autograd ┃  numeric ┃  |diff| ┃   ┃
┡━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━╇━━━┩
│   0 │      0.5 │           0.25 │     0.25 │     0.25 │ 3.9e-12 │ ✓ │
│ 0.5 │ 0.622459 │       0.235004 │ 0.235004 │ 0.235004 │ 1.1e-11 │ ✓ │
└─────┴──────────┴────────────────┴──────────┴──────────┴─────────┴───┘
✓ derivatives agree: max |diff| 1.1e-11 within tolerance (atol 1e-06, rtol
1e-05)"""


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("1.1e-11 │ ✓", "9.9e-12 │ ✓"),  # another kernel's rounding of a |diff|
        ("max |diff| 1.1e-11", "max |diff| 0.0e+00"),
        ("│ 3.9e-12 │", "│ 0 │"),  # exactly zero on one CPU, rounding noise on another
    ],
)
def test_noise_level_figures_compare_equal(before, after):
    assert before in SHOWN
    assert without_noise(SHOWN.replace(before, after, 1)) == without_noise(SHOWN)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("0.235004 │ 0.235004 │ 1.1e-11", "0.235005 │ 0.235004 │ 1.1e-11"),  # a result digit
        ("│     0.25 │ 3.9e-12", "│     0.26 │ 3.9e-12"),
        ("atol 1e-06", "atol 1e-07"),  # a setting, however small
        ("│ 3.9e-12 │ ✓ │", "│ 3.9e-12 │ ✗ │"),  # a verdict
        ("0.622459", "0.62246"),
    ],
)
def test_every_other_figure_must_match_as_printed(before, after):
    assert before in SHOWN
    assert without_noise(SHOWN.replace(before, after, 1)) != without_noise(SHOWN)


def test_the_noise_level_is_far_below_the_verdicts_tolerance():
    assert NOISE_LEVEL <= 1e-6 / 100


def test_a_block_is_split_into_commands_and_their_shown_output():
    block = "$ gradcli activation relu \\\n  1\nout one\n$ gradcli activation tanh 0\nout two\n"
    assert console_commands(block) == [
        (["$ gradcli activation relu \\", "  1"], "out one"),
        (["$ gradcli activation tanh 0"], "out two"),
    ]


def test_regenerating_keeps_the_page_where_only_noise_differs(monkeypatch):
    monkeypatch.setattr(
        "gradcli.docs.run_console",
        lambda command: SHOWN.split("\n", 1)[1].replace("1.1e-11", "7.7e-12"),
    )
    assert render_console_block(SHOWN + "\n") == SHOWN + "\n"


def test_regenerating_takes_the_new_output_where_a_result_differs(monkeypatch):
    changed = SHOWN.split("\n", 1)[1].replace("0.622459", "0.622460")
    monkeypatch.setattr("gradcli.docs.run_console", lambda command: changed)
    assert render_console_block(SHOWN + "\n") == SHOWN.split("\n", 1)[0] + "\n" + changed + "\n"
