"""No number is ever cut short: at any terminal width, every value that --json reports is
printed in full (at the table's precision) somewhere in the table."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.docs import ROOT

MAZUR = [
    "perceptron",
    "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60",
    "--x", "0.05,0.10", "--target", "0.01,0.99", "--reduction", "half-sum", "--lr", "0.5",
]  # fmt: skip
COMMANDS = {
    "activation": ["activation", "sigmoid", "0", "0.5", "-2", "1e-7",
                   "--expect", "0.25,0.2350,0.10,0.25"],
    "activation-17-digits": ["activation", "tanh", "-1.5", "1234.5", "--precision", "17"],
    "softmax": ["softmax-jacobian", "1", "2", "3", "-0.000123"],
    "loss-matrix": ["loss", "mse", "--pred", "1,2,3;4,5,6.5", "--target", "0,2,5;1,1,1"],
    "loss-classes": ["loss", "cross_entropy", "--pred", "2,1,0.1;0.5,2.5,0.3", "--target", "0,1"],
    "perceptron": [*MAZUR, "--steps"],
    "perceptron-deep": ["perceptron", "--layers", "6,5,4", "--x-shape", "3x7", "--target", "0.5",
                        "--activation", "tanh", "--seed", "3"],
    "check": ["check", "examples/bad_relu.py:relu_forward", "--backward",
              "examples/bad_relu.py:relu_backward", "--numpy", "--input", "3x4"],
}  # fmt: skip
WIDTHS = (40, 60, 80, 120)


SKIP = {"check", "numeric_error_max", "max_abs_diff", "atol", "rtol", "temperature"}
# check's table shows only the wrong entries; its --json carries whole Jacobians, so for it
# the test asserts only that no number is cut and no line is too wide
VALUES_SHOWN = {name: name != "check" for name in COMMANDS}


def numbers_in(value) -> list[float]:
    """Every float in a JSON value, skipping formulas, flags and the answer check."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, float):
        return [value]
    if isinstance(value, list):
        return [n for item in value for n in numbers_in(item)]
    if isinstance(value, dict):
        return [n for key, item in value.items() if key not in SKIP for n in numbers_in(item)]
    return []


def shown(value: float, precision: int) -> str:
    return f"{value:.{precision}g}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_json_value_appears_whole_in_the_table(name, width, monkeypatch):
    monkeypatch.chdir(ROOT)  # check's example files
    args = COMMANDS[name]
    precision = int(args[args.index("--precision") + 1]) if "--precision" in args else 6
    runner = CliRunner()
    env = {"COLUMNS": str(width), "NO_COLOR": "1"}
    table = runner.invoke(app, args, env=env, prog_name="gradcli")
    data = runner.invoke(app, [*args, "--json"], prog_name="gradcli")
    assert table.exit_code == data.exit_code, table.stdout[-400:]
    assert table.exit_code in (0, 1)
    assert "…" not in re.sub(r"(?<![\d.])…(?![\d.e])", "", table.stdout)  # only as a summary mark
    text = table.stdout
    values = json.loads(data.stdout)
    if "--steps" not in args:  # the worked solution's intermediates are shown by --steps
        values.pop("solution", None)
    missing = [
        shown(v, precision)
        for v in (numbers_in(values) if VALUES_SHOWN[name] else [])
        if not any(
            re.search(rf"(?<![\w.]){re.escape(shown(v, digits))}(?![\w.])", text)
            for digits in (precision, 9)  # the loss E is printed with 9 digits
        )
    ]
    assert not missing, f"{len(missing)} values not shown whole, e.g. {missing[:5]}"
    assert max(len(line) for line in text.splitlines()) <= width


def test_a_split_table_names_its_columns_not_the_blank_tick_column():
    from rich.console import Console

    from gradcli.render.fit import Column, FitTable

    columns = [Column("k", key=True), Column("numeric"), Column("|diff|"), Column("")]
    table = FitTable(columns, [["0", "0.00877135", "3.1e-12", "✓"]], title="bias")
    console = Console(width=24, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "bias  (numeric)" in text and "bias  (|diff|)" in text  # two blocks at 24 columns
    assert "… )" not in text
