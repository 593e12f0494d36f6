"""The activation and softmax-jacobian commands as users run them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradcli.ops.activations import ACTIVATION_LIST
from tests.conftest import assert_bad_input, invoke, run_process

ACTIVATION_JSON_FIELDS = {
    "command",
    "name",
    "params",
    "x",
    "value",
    "analytic",
    "autograd",
    "numeric",
    "max_abs_diff",
    "agree",
    "dtype",
}
SOFTMAX_JSON_FIELDS = {
    "command",
    "input",
    "temperature",
    "probabilities",
    "analytic",
    "autograd",
    "numeric",
    "max_abs_diff",
    "agree",
    "dtype",
}


def test_activation_table_shows_every_column_and_the_formula():
    run = invoke("activation", "sigmoid", "0", "0.5")
    assert run.code == 0
    assert "σ'(x) = σ(x)(1 − σ(x))" in run.stdout
    assert "0.235004" in run.stdout and "0.25" in run.stdout
    assert "✓" in run.stdout and "agree" in run.stdout
    assert "\x1b[" not in run.stdout  # no ANSI codes when not a terminal
    assert run.stderr == ""


def test_negative_numbers_and_scientific_notation_need_no_double_dash():
    run = invoke("activation", "tanh", "-1", "0", "1e-3", "--json")
    assert run.code == 0
    assert run.json()["x"] == [-1.0, 0.0, 0.001]
    run = invoke("activation", "tanh", "-1,-2.5", "-.5", "--json")
    assert run.json()["x"] == [-1.0, -2.5, -0.5]


def test_activation_json_schema():
    data = invoke(
        "activation", "leaky_relu", "-2", "3", "--param", "negative_slope=0.1", "--json"
    ).json()
    assert data.keys() >= ACTIVATION_JSON_FIELDS
    assert data["command"] == "activation"
    assert data["params"] == {"negative_slope": 0.1}
    assert data["analytic"] == pytest.approx([0.1, 1.0])
    assert data["agree"] is True
    assert data["dtype"] == "float64"


def test_json_shorthand_equals_format_json():
    assert (
        invoke("activation", "elu", "-1", "--json").stdout
        == invoke("activation", "elu", "-1", "--format", "json").stdout
    )


def test_activation_csv():
    run = invoke("activation", "relu", "-1", "0", "2", "--format", "csv")
    rows = list(csv.reader(io.StringIO(run.stdout)))
    header = ["x", "value", "analytic", "autograd", "numeric", "numeric_trusted", "abs_diff"]
    assert rows[0] == [*header, "ok"]
    assert [row[0] for row in rows[1:]] == ["-1.0", "0.0", "2.0"]
    assert [row[2] for row in rows[1:]] == ["0.0", "0.0", "1.0"]
    # relu at its kink: the finite difference (0.5) is shown but not trusted, as in the table
    assert [row[5] for row in rows[1:]] == ["true", "false", "true"]
    assert float(rows[2][4]) == 0.5


def test_relu_at_zero_exits_zero_with_a_note():
    run = invoke("activation", "relu", "0")
    assert run.code == 0
    assert "not differentiable at x = 0" in run.stdout


def test_disagreement_exits_one():
    # torch's hardsigmoid backward multiplies by float32(1/6): 5e-9 from the exact 1/6, a
    # real difference that only a zero tolerance counts
    run = invoke("activation", "hardsigmoid", "1.3", "--atol", "0", "--rtol", "0")
    assert run.code == 1
    assert "DISAGREE" in run.stdout
    assert invoke("activation", "hardsigmoid", "1.3").code == 0


def test_a_numeric_column_that_cannot_meet_the_tolerance_is_left_out_and_said_so():
    # no finite difference is exact, so with a zero tolerance it cannot settle the verdict:
    # analytic and autograd (bitwise equal for sigmoid) decide, and the output says so
    run = invoke("activation", "sigmoid", "0.3", "--atol", "0", "--rtol", "0", "--json")
    data = run.json()
    assert run.code == 0 and data["agree"]
    assert data["numeric_trusted"] == [False]
    assert any("cannot settle" in note for note in data["notes"])


def test_float32_and_precision_options():
    data = invoke("activation", "sigmoid", "0.1", "--dtype", "float32", "--json").json()
    assert data["dtype"] == "float32" and data["atol"] == 1e-4
    assert data["x"] == [pytest.approx(0.1, rel=1e-7)] and data["x"] != [0.1]
    assert "0.24 " in invoke("activation", "sigmoid", "0.5", "--precision", "2").stdout


def test_no_numeric_leaves_the_column_empty():
    data = invoke("activation", "tanh", "1", "--no-numeric", "--json").json()
    assert data["numeric"] is None


def test_list_names_every_activation_with_both_formulas():
    run = invoke("activation", "--list")
    assert run.code == 0
    for act in ACTIVATION_LIST:
        assert act.name in run.stdout


def test_softmax_jacobian_table_and_sign_line():
    run = invoke("softmax-jacobian", "1", "2", "3")
    assert run.code == 0
    assert "p_i(δ_ij − p_j) / T" in run.stdout
    assert "0.0819251" in run.stdout  # p_0(1 − p_0) with p_0 = 0.0900306
    assert "Diagonal entries" in run.stdout and "row sums to 0" in " ".join(run.stdout.split())
    assert "autograd" in run.stdout


def test_softmax_json_schema_and_temperature():
    data = invoke("softmax-jacobian", "1", "2", "3", "-T", "2", "--json").json()
    assert data.keys() >= SOFTMAX_JSON_FIELDS
    assert data["temperature"] == 2.0
    assert len(data["analytic"]) == 3 and len(data["analytic"][0]) == 3
    assert sum(data["probabilities"]) == pytest.approx(1.0)


def test_softmax_csv_is_flattened_with_indices():
    rows = list(
        csv.reader(io.StringIO(invoke("softmax-jacobian", "0", "1", "--format", "csv").stdout))
    )
    assert rows[0][:2] == ["i", "j"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]


def test_big_softmax_is_summarized_but_json_is_complete():
    values = [str(i / 10) for i in range(500)]
    table = invoke("softmax-jacobian", *values)
    assert table.code == 0
    assert "…" in table.stdout and "summarized" in table.stdout
    assert len(table.stdout.splitlines()) < 120
    data = invoke("softmax-jacobian", *values, "--json", "--no-numeric").json()
    assert len(data["analytic"]) == 500 and len(data["analytic"][499]) == 500


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["activation", "sigmoid", "abc"], ["'abc' is not a number"]),
        (["activation", "sigmoid", "1", "nan"], ["'nan'", "finite"]),
        (["activation", "sigmoid", "inf"], ["'inf'", "finite"]),
        (["activation", "sigmoid", "-inf"], ["'-inf'", "finite"]),
        (["activation", "sigmoid"], ["no x values given"]),
        (["activation"], ["no activation name"]),
        (["activation", "sigmod", "1"], ["'sigmod'", "did you mean 'sigmoid'"]),
        (
            ["activation", "leaky_relu", "1", "--param", "slope=2"],
            ["'slope'", "did you mean 'negative_slope'"],
        ),
        (["activation", "elu", "1", "--param", "alpha=big"], ["alpha", "'big'"]),
        (["activation", "gelu", "1", "--param", "approximate=fast"], ["approximate=fast"]),
        (["activation", "softplus", "1", "--param", "beta=-1"], ["beta=-1", "> 0"]),
        (["activation", "hardtanh", "1", "--param", "max_val=-2"], ["max_val"]),
        (["activation", "tanh", "1", "--dtype", "float16"], ["'float16'", "float32, float64"]),
        (["activation", "tanh", "1", "--format", "xml"], ["'xml'", "csv, json, table"]),
        (["activation", "tanh", "1", "--presicion", "3"], ["'--presicion'", "--precision"]),
        (["activation", "tanh", "1", "--precision", "0"], ["--precision", "'0'"]),
        (["activation", "tanh", "1", "--precision", "x"], ["--precision", "'x'"]),
        (["activation", "tanh", "1", "--rtol", "tiny"], ["--rtol", "'tiny'"]),
        (["activation", "tanh", "1", "--atol", "-1"], ["--atol", "'-1'"]),
        (["activation", "tanh", "1e39", "--dtype", "float32"], ["1e+39", "float32"]),
        (["softmax-jacobian"], ["no logits given"]),
        (["softmax-jacobian", "1", "2", "--temperature", "0"], ["--temperature", "> 0"]),
        (["softmax-jacobian", "1", "2", "-T", "-3"], ["--temperature", "-3"]),
        (["softmax-jacobian", "1", "x2"], ["'x2'"]),
        (["softmax-jacobian", "1", "--temperature", "hot"], ["--temperature", "'hot'"]),
        (["softmax-jacobian", "1", "--temperature", "nan"], ["--temperature", "'nan'"]),
        (["softmax", "1"], ["softmax"]),
    ],
)
def test_bad_input_gives_one_error_line_and_exit_two(args, fragments):
    assert_bad_input(invoke(*args), *fragments)


def loaded_after(argvs: list[list[str]], module: str) -> bool:
    """Run each command line in one fresh process (each must exit 0); was ``module`` imported?"""
    code = (
        "import sys\n"
        "from gradcli.cli import main\n"
        f"for argv in {argvs!r}:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (argv, e.code)\n"
        f"print({module!r} in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stderr.strip() == "True"


def test_help_and_list_never_import_torch():
    argvs = [["--help"], ["activation", "--help"], ["activation", "--list"],
             ["softmax-jacobian", "--help"], ["check", "--help"], ["expr", "--help"],
             ["expr", "--list"], ["layer", "--help"], ["layer", "--list"]]  # fmt: skip
    assert not loaded_after(argvs, "torch")


def test_expr_help_and_list_never_import_sympy():
    assert not loaded_after([["expr", "--help"], ["expr", "--list"]], "sympy")


def test_expr_imports_sympy_only_when_it_computes():
    assert loaded_after([["expr", "x^2", "--at", "x=1", "--quiet"]], "sympy")


def test_core_and_registries_never_import_terminal_libraries():
    code = (
        "import sys\n"
        "import gradcli.core.activation, gradcli.core.softmax, gradcli.core.loss\n"
        "import gradcli.core.perceptron, gradcli.ops.activations, gradcli.ops.losses\n"
        "import gradcli.expect\n"
        "import gradcli.core.check, gradcli.core.diagnose, gradcli.usercode\n"
        "import gradcli.core.expr, gradcli.expr.language, gradcli.expr.symbolic\n"
        "import gradcli.expr.torchfn, gradcli.results.expr\n"
        "import gradcli.core.layer, gradcli.ops.layers, gradcli.results.layer\n"
        "print(sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_real_process_is_quiet_and_json_is_valid():
    run = run_process("softmax-jacobian", "1", "2", "3", "--json")
    assert run.code == 0
    assert run.stderr == ""  # torch's NumPy warning must never reach users
    assert json.loads(run.stdout)["agree"] is True


def test_real_process_negative_numbers_and_errors():
    run = run_process("activation", "tanh", "-1", "0", "1e-3")
    assert run.code == 0 and run.stderr == ""
    assert "tanh'(x) = 1 − tanh²(x)" in run.stdout
    bad = run_process("activation", "tanh", "one")
    assert bad.code == 2 and bad.stdout == ""
    assert bad.stderr == "Error: x values: 'one' is not a number\n"


def test_version():
    run = invoke("--version")
    assert run.code == 0 and run.stdout.startswith("gradcli ")


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_computing_commands_never_pull_in_sympy():
    """torch.fx's symbolic shapes (and sympy, +0.4 s) load only for non-scalar autograd paths.
    Only `expr` may import sympy; every other command must not."""
    argvs = [
        ["softmax-jacobian", "1", "2", "3"],
        ["activation", "gelu", "1"],
        ["loss", "cross_entropy", "--pred", "1,2", "--target", "0"],
        ["perceptron", "--layers", "2,2", "--x-shape", "2x3", "--target", "1",
         "--engine", "backward"],
        ["layer", "conv2d", "--x-shape", "1x2x5x5", "--weight-shape", "2x2x3x3"],
        ["layer", "attention", "--q-shape", "2x3x4", "--param", "causal=true"],
        ["layer", "maxpool2d", "--x-shape", "1x1x4x4", "--param", "kernel_size=2"],
        ["layer", "batchnorm", "--x-shape", "4x3", "--steps"],
        ["check", f"{EXAMPLES}/linear_torch.py:Linear", "-i", "4x3", "-i", "2x3", "-i", "2",
         "--order", "2"],
    ]  # fmt: skip
    assert not loaded_after([[*argv, "--quiet"] for argv in argvs], "sympy")


def test_every_table_renderer_is_found_from_its_result_type():
    """render() imports only the renderer of the result at hand (TABLE_RENDERERS): each
    registered result type's module must lead to the module that registers it."""
    import importlib

    from gradcli.render import TABLE_RENDERERS
    from gradcli.render.table import as_renderable

    for module in TABLE_RENDERERS.values():
        importlib.import_module(module)
    for kind, function in as_renderable.registry.items():
        if kind is object:
            continue
        home = function.__module__
        if home != "gradcli.render.table":
            assert TABLE_RENDERERS.get(kind.__module__) == home, kind
