"""`gradcli layer` from the command line: table, --steps, JSON, CSV, --expect, batch, errors."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from conftest import assert_bad_input, invoke, run_process

BN = ["layer", "batchnorm", "--x", "1,2,3;4,5,6;7,8,10;2,0,1"]
CONV = [
    "layer", "conv2d",
    "--x", "[[[[1,2,0,1],[0,1,3,2],[2,0,1,1],[1,3,0,2]]]]",
    "--weight", "[[[[1,0],[-1,2]]]]", "--bias", "0.5", "--upstream", "ones",
]  # fmt: skip
ATTENTION = [
    "layer", "attention", "--q", "1,0;0,1;1,1", "--k", "1,0;0,1;1,-1", "--v", "1,2;3,4;5,6",
    "--param", "causal=true", "--upstream", "ones",
]  # fmt: skip


def test_table_shows_formula_gradients_and_verdict():
    run = invoke(*BN)
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    assert "batchnorm: batch normalisation" in out
    assert "∂L/∂x = γ/(M·σ) · (M·G − ΣG − x̂·Σ(G·x̂))" in out
    assert "∂L/∂x" in out and "∂L/∂weight" in out and "∂L/∂bias" in out
    assert "✓ analytic, autograd and numeric agree on ∂L/∂x, ∂L/∂weight, ∂L/∂bias" in out
    flat = " ".join(out.split())
    assert "weight (γ) = torch.ones(3) and bias (β) = torch.zeros(3)" in flat  # nn.BatchNorm's
    assert "torch.manual_seed(0): G = torch.randn(4, 3, dtype=torch.float64)" in flat


def test_steps_show_the_intermediate_quantities():
    out = invoke(*BN, "--steps").stdout
    for label in ("μ (per channel)", "σ² (per channel, biased)", "x̂ = (x − μ)/σ",
                  "ΣG (per channel)", "Σ(G·x̂) (per channel)"):  # fmt: skip
        assert label in out
    assert "3.75" in out and "9.1875" in out  # μ and σ² of the second column


def test_conv_by_hand_through_the_cli():
    # G = ones: ∂L/∂W[p,q] = the sum of the 3×3 block of x starting at (p,q);
    # ∂L/∂b = 9; ∂L/∂x[h,w] = the sum of the kernel entries whose windows cover (h,w)
    data = invoke(*CONV, "--json").json()
    x = [[1, 2, 0, 1], [0, 1, 3, 2], [2, 0, 1, 1], [1, 3, 0, 2]]
    blocks = [[sum(x[p + i][q + j] for i in range(3) for j in range(3)) for q in range(2)]
              for p in range(2)]  # fmt: skip
    assert data["grads"]["weight"]["analytic"] == [[blocks]]
    assert data["grads"]["bias"]["analytic"] == [9.0]
    w = [[1, 0], [-1, 2]]
    covers = [(i, j) for i in range(3) for j in range(3)]  # output positions (windows)
    dx = [
        [sum(w[h - i][c - j] for i, j in covers if 0 <= h - i < 2 and 0 <= c - j < 2)
         for c in range(4)]
        for h in range(4)
    ]  # fmt: skip
    assert data["grads"]["x"]["analytic"] == [[dx]]
    steps = invoke(*CONV, "--steps").stdout
    assert "y[0,0,1,2] = b[0] + Σ W[0] ⊙ x[0, :, 1:3, 2:4]" in steps
    assert "rot180(W)" in steps


def test_attention_causal_steps_show_s_p_dp_ds():
    out = invoke(*ATTENTION, "--steps").stdout
    for label in ("S = Q Kᵀ·scale", "P = softmax(S) by rows", "dP = G Vᵀ",
                  "dS = P ⊙ (dP − rowsum(dP ⊙ P))"):  # fmt: skip
        assert label in out
    assert "-inf" in out  # masked scores
    assert "causal mask: query i sees keys 0 to i" in out


def test_json_has_every_documented_field():
    data = invoke(*BN, "--json").json()
    for key in ("command", "name", "params", "output", "upstream", "grads", "max_abs_diff",
                "agree", "dtype", "numeric_sampled", "notes", "inputs"):  # fmt: skip
        assert key in data
    assert data["command"] == "layer" and data["name"] == "batchnorm"
    assert data["params"] == {"eps": 1e-05, "training": True}
    assert set(data["grads"]) == {"x", "weight", "bias"}
    for grad in data["grads"].values():
        for key in ("value", "analytic", "autograd", "numeric", "numeric_sampled"):
            assert key in grad
    assert data["grads"]["x"]["value"] == [[1, 2, 3], [4, 5, 6], [7, 8, 10], [2, 0, 1]]
    assert data["upstream_kind"] == "random" and data["seed"] == 0
    assert data["agree"] is True and data["numeric_sampled"] is False


def test_json_params_carry_resolved_defaults():
    data = invoke("layer", "maxpool2d", "--x-shape", "1x1x4x4", "--param", "kernel_size=2",
                  "--json").json()  # fmt: skip
    assert data["params"] == {
        "kernel_size": 2, "stride": 2, "padding": 0, "dilation": 1, "ceil_mode": False
    }  # fmt: skip
    att = invoke("layer", "attention", "--q-shape", "3x4", "--json").json()
    assert att["params"] == {"scale": 0.5, "causal": False}


def test_sampled_numeric_is_said_in_table_and_json():
    args = ["layer", "conv2d", "--x-shape", "4x8x16x16", "--weight-shape", "16x8x3x3"]
    data = invoke(*args, "--json").json()
    assert data["numeric_sampled"] is True
    x = data["grads"]["x"]
    assert x["numeric_sampled"] is True and 32 <= x["numeric_checked"] < 8192
    assert sum(v is None for v in _flat(x["numeric"])) == 8192 - x["numeric_checked"]
    out = invoke(*args).stdout
    assert f"numeric: {x['numeric_checked']:,} of 8,192 entries computed, a seeded random" in out
    assert "numeric sampled" in out


def _flat(nested):
    if not isinstance(nested, list):
        return [nested]
    return [v for item in nested for v in _flat(item)]


def test_csv_has_one_row_per_gradient_entry_with_its_index():
    run = invoke(*CONV, "--format", "csv")
    rows = list(csv.reader(io.StringIO(run.stdout)))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["input", "i0", "i1", "i2", "i3"]
    assert "analytic" in header and "numeric" in header
    assert len(body) == 16 + 4 + 1
    bias = [row for row in body if row[0] == "bias"]
    assert bias == [
        ["bias", "0", "", "", "", "0.5", "9.0", "9.0", bias[0][8], "true", bias[0][10], "true"]
    ]
    assert header[9] == "numeric_trusted"


def test_expect_right_answer_passes_and_wrong_one_names_the_slip():
    ok = invoke(*CONV, "--expect", "bias=9")
    assert ok.code == 0 and "✓ your answer matches" in ok.stdout
    bad = invoke(*CONV, "--expect", "bias=-9")
    assert bad.code == 1
    assert "wrong sign" in " ".join(bad.stdout.split())


def test_expect_four_dimensional_answer_as_json_or_rows():
    data = invoke(*CONV, "--json").json()
    dw = data["grads"]["weight"]["analytic"]
    nested = invoke(*CONV, "--expect", f"weight={json.dumps(dw)}")
    assert nested.code == 0, nested.stdout
    rows = ";".join(",".join(f"{v:g}" for v in row) for row in dw[0][0])
    assert invoke(*CONV, "--expect", f"weight={rows}").code == 0
    halved = [[[[v / 2 for v in row] for row in dw[0][0]]]]
    wrong = invoke(*CONV, "--expect", f"weight={json.dumps(halved)}")
    assert wrong.code == 1 and "half ∂L/∂weight (a factor of ½" in " ".join(wrong.stdout.split())


def test_expect_batch_mean_slip():
    data = invoke("layer", "linear", "--x", "1,2;3,4", "--weight", "1,1", "--bias", "none",
                  "--upstream", "1;1", "--json").json()  # fmt: skip
    dw = data["grads"]["weight"]["analytic"][0]
    mean = ",".join(f"{v / 2:g}" for v in dw)
    run = invoke("layer", "linear", "--x", "1,2;3,4", "--weight", "1,1", "--bias", "none",
                 "--upstream", "1;1", "--expect", f"weight={mean}")  # fmt: skip
    assert run.code == 1
    assert "divided by N = 2" in " ".join(run.stdout.split())


def test_quiet_and_exit_codes():
    run = invoke(*BN, "--quiet")
    assert run.code == 0 and run.stdout == ""


def test_float32_mode():
    data = invoke(*BN, "--dtype", "float32", "--json").json()
    assert data["dtype"] == "float32" and data["agree"] is True and data["atol"] == 1e-4


def test_no_numeric_leaves_out_the_column():
    run = invoke(*BN, "--no-numeric")
    assert run.code == 0 and " numeric " not in run.stdout
    assert "✓ analytic and autograd agree on" in run.stdout
    data = invoke(*BN, "--no-numeric", "--json").json()
    assert data["grads"]["x"]["numeric"] is None


def test_negative_numbers_parse_as_option_values():
    data = invoke("layer", "linear", "--x", "-1,2", "--weight", "-1,-2;3,4", "--json").json()
    assert data["inputs"]["x"]["value"] == [-1.0, 2.0]


def test_tables_never_cut_a_number():
    run = invoke("layer", "linear", "--x-shape", "30x12", "--weight-shape", "3x12", "--steps")
    for line in run.stdout.splitlines():
        for cell in line.split("│"):
            text = cell.strip()
            if text and text != "…" and text[0] in "-0123456789":
                assert "…" not in text, line


def test_list_shows_every_layer_with_formulas():
    run = invoke("layer", "--list")
    assert run.code == 0
    for name in ("linear", "batchnorm", "layernorm", "rmsnorm", "conv1d", "conv2d",
                 "maxpool2d", "avgpool2d", "dropout", "embedding", "attention"):  # fmt: skip
        assert f"\n{name} — " in run.stdout
    assert "y[n,o] = b[o] + Σ_c W[o,c] ⋆ x_pad[n, g·C/groups + c]" in run.stdout  # brackets
    assert "kernel_size (required)" in run.stdout


def test_help_and_list_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\nfrom gradcli.cli import main\n"
        "for argv in (['layer', '--help'], ['layer', '--list']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr


def test_bad_input_is_refused_before_torch_is_imported():
    import subprocess
    import sys

    code = (
        "import sys\nfrom gradcli.cli import main\n"
        "try:\n    main(['layer', 'conv2d', '--x-shape', '2x3x5x5', '--weight-shape', '8x4x3x3'])\n"
        "except SystemExit as e:\n    assert e.code == 2\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr


def test_batch_accepts_layer_lines():
    lines = "\n".join(
        [
            "layer batchnorm --x '1,2;3,4;5,7'",
            "layer conv2d --x-shape 1x1x4x4 --weight-shape 1x1x2x2",
            "layer dropout --x-shape 2x2 --param p=2",
        ]
    )
    run = invoke("batch", "-", input_text=lines + "\n")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert records[0]["command"] == "layer" and records[0]["agree"] is True
    assert records[1]["name"] == "conv2d"
    assert records[2]["line"] == 3 and "[0, 1)" in records[2]["error"]
    assert run.code == 2


def test_real_process_is_quiet_and_exits_cleanly():
    ok = run_process("layer", "attention", "--q-shape", "4x3", "--param", "causal=true", "--json")
    assert ok.code == 0 and ok.stderr == ""
    assert ok.json()["agree"] is True
    bad = run_process("layer", "conv2d", "--x-shape", "2x3x5x5", "--weight-shape", "8x4x3x3")
    assert_bad_input(bad, "4 input channels", "2×3×5×5", "8×4×3×3")


def test_memory_limit_is_checked_from_shapes(monkeypatch):
    monkeypatch.setenv("GRADCLI_MAX_MEMORY", "1MB")
    run = invoke("layer", "linear", "--x-shape", "100x100", "--weight-shape", "100x100")
    assert_bad_input(run, "layer linear on these shapes needs", "the limit is 1 MB")


def test_work_limit_is_checked_from_shapes(monkeypatch):
    monkeypatch.setenv("GRADCLI_MAX_MEMORY", "1000GB")
    run = invoke("layer", "conv2d", "--x-shape", "1x512x64x64", "--weight-shape", "512x512x3x3")
    assert_bad_input(run, "layer conv2d on these shapes needs about", "GRADCLI_MAX_WORK")


LIN = ["linear", "--x", "1,2;3,4"]
POOL = ["maxpool2d", "--x-shape", "1x1x4x4"]


@pytest.mark.parametrize(
    "args, fragments",
    [
        ([], ["no layer name given", "--list"]),
        (["convv2d"], ["unknown layer", "did you mean 'conv2d'"]),
        (["conv2d", "--x-shape", "2x3x5x5", "--weight-shape", "8x4x3x3"],
         ["--weight has 4 input channels but --x has 3", "x is 2×3×5×5, weight is 8×4×3×3"]),
        ([*LIN, "--weight", "1,2,3"], ["3 input columns but --x has 2 features", "1×3"]),
        ([*LIN, "--weight", "[[[1,2]]]"], ["--weight must have 2 dimensions (out×in)"]),
        (["conv2d", "--x-shape", "1x1x4x4", "--weight-shape", "2x1x2x2", "--bias", "1,2,3"],
         ["--bias has shape 3", "2 output channels"]),
        (["conv2d", "--x-shape", "1x1x2x2", "--weight-shape", "1x1x3x3"],
         ["kernel is 3", "padded input is only 2"]),
        (["conv1d", "--x-shape", "1x1x4", "--weight-shape", "1x1x3", "--param", "dilation=2"],
         ["spans 5 with dilation 2"]),
        (["conv2d", "--x-shape", "1x1x4x4", "--weight-shape", "1x1x2x2", "--param", "padding=-1"],
         ["padding=", "must be ≥ 0"]),
        (["conv2d", "--x-shape", "1x1x4x4", "--weight-shape", "1x1x2x2", "--param", "stride=0"],
         ["stride=", "must be ≥ 1"]),
        (["conv2d", "--x-shape", "1x1x4x4", "--weight-shape", "1x1x2x2", "--param", "dilation=0,1"],
         ["dilation=", "≥ 1"]),
        (["conv2d", "--x-shape", "1x1x4x4", "--weight-shape", "1x1x2x2", "--param", "stride=1.5"],
         ["stride=", "an integer or a pair"]),
        (["conv1d", "--x-shape", "1x1x4", "--weight-shape", "1x1x2", "--param", "stride=1,2"],
         ["stride=", "must be an integer"]),
        (["dropout", "--x-shape", "2x2", "--param", "p=1"], ["p=", "in [0, 1)"]),
        (["dropout", "--x-shape", "2x2", "--param", "p=-0.1"], ["p=", "in [0, 1)"]),
        (["embedding", "--indices", "0,5", "--weight-shape", "3x2"],
         ["--indices[1] = 5", "out of range", "0 to 2"]),
        (["embedding", "--indices", "0,1.5", "--weight-shape", "3x2"], ["--indices[1] = 1.5"]),
        (["embedding", "--x", "0,1", "--weight-shape", "3x2"], ["--indices", "not --x"]),
        (["embedding", "--indices", "0,1"], ["embedding needs --weight"]),
        (["conv2d", "--x-shape", "2x3x5", "--weight-shape", "1x3x2x2"],
         ["--x 2×3×5 has 3 dimensions; give 4 (N×C×H×W)", "put your tensor inside one more"]),
        (["batchnorm", "--x", "1,2,3"], ["--x must have 2 to 4 dimensions"]),
        (["batchnorm", "--x", "1,2,3;", "--weight", "1,1,1"], ["more than 1 value"]),
        (["batchnorm", "--x", "1,2;3,4", "--weight", "1,2,3"],
         ["--weight has shape 3", "2 channels"]),
        ([*LIN, "--x-shape", "2x2", "--weight", "1,2"], ["either --x or --x-shape"]),
        (["linear", "--x-shape", "2x0", "--weight", "1,2"], ["--x-shape", "'0'"]),
        (["linear", "--x", "1,a", "--weight", "1,2"], ["--x", "'a'"]),
        ([*LIN, "--weight", "1,2;3,4", "--upstream", "1,2,3"],
         ["--upstream has shape 3", "2×2", "G must have y's shape"]),
        ([*LIN, "--weight", "1,2;3,4", "--upstream", "twos"], ["--upstream", "'twos'"]),
        ([*LIN, "--weight", "1,2;3,4", "--param", "eps=1"], ["linear has no parameters"]),
        ([*POOL, "--param", "kernal_size=2"], ["kernal_size", "did you mean 'kernel_size'"]),
        ([*POOL, "--param", "kernel_size"], ["must look like KEY=VALUE"]),
        ([*POOL, "--param", "kernel_size=2", "--param", "kernel_size=3"], ["given twice"]),
        (POOL, ["maxpool2d needs --param kernel_size"]),
        ([*POOL, "--param", "kernel_size=2", "--param", "padding=2"],
         ["padding=2", "more than half the kernel"]),
        (["attention", "--q-shape", "3x4", "--k-shape", "3x5"],
         ["same last dimension d", "k is 3×5"]),
        (["attention", "--q-shape", "3x4", "--k-shape", "5x4", "--v-shape", "4x4"],
         ["same number of positions S"]),
        (["attention", "--q-shape", "2x3x4", "--k-shape", "3x3x4"], ["leading (batch) dimensions"]),
        (["attention", "--q-shape", "3x4", "--param", "causal=maybe"],
         ["causal=", "true or false"]),
        (["attention", "--q-shape", "3x4", "--param", "scale=-1"], ["scale=", "> 0"]),
        (["attention", "--x", "1,2"], ["--q, --k and --v"]),
        (["layernorm", "--x", "1,2", "--param", "eps=0"], ["eps=", "> 0"]),
        ([*LIN, "--weight", "1,2;3,4", "--expect", "w=1"], ["'w' names no quantity", "weight"]),
        ([*LIN, "--weight", "1,2;3,4", "--expect", "weight"], ["KEY=VALUES", "y, x, weight"]),
        (["embedding", "--indices", "0,1", "--weight-shape", "3x2", "--expect", "indices=1,2"],
         ["no gradient"]),
        (["conv2d", "--x-shape", "1x1x3x3", "--weight-shape", "1x1x2x2", "--expect", "x=[[1,2]]"],
         ["--expect x has shape 1×2", "1×1×3×3"]),
        ([*LIN, "--weight", "none"], ["--weight cannot be 'none'"]),
        (["linear", "--x", "1,2"], ["linear needs --weight TENSOR or --weight-shape"]),
        (["rmsnorm", "--x", "1,2", "--bias", "1,2"], ["rmsnorm has no input --bias"]),
        ([*LIN, "--weight", "1,2;3,4", "--seed", "-1"], ["--seed", "'-1'"]),
        ([*LIN, "--weight", "1,2;3,4", "--frobnicate"], ["--frobnicate"]),
        (["avgpool2d", "--x-shape", "1x1x4x4", "--param", "kernel_size=2",
          "--param", "count_include_pad=perhaps"], ["count_include_pad=", "true or false"]),
        (["linear", "--x", "[[[[[1]]]]]", "--weight", "1"], ["--x", "nested 5 lists deep"]),
    ],
)  # fmt: skip
def test_every_bad_input_is_one_error_line(args, fragments):
    assert_bad_input(invoke("layer", *args), *fragments)


def test_nan_never_agrees():
    # a finite-valued layer: the verdict comes from real numbers; NaN inputs are refused
    run = invoke("layer", "linear", "--x", "nan,1", "--weight", "1,2")
    assert_bad_input(run, "--x", "not a finite number")
    assert math.isfinite(invoke(*BN, "--json").json()["max_abs_diff"])


def test_docs_page_has_the_generated_registry_table():
    """docs/layer.md's table comes from the registry (tests/test_readme.py re-runs every
    page's generated tables and console blocks)."""
    from pathlib import Path

    from gradcli.ops.layers import markdown_table

    page = Path(__file__).resolve().parent.parent / "docs" / "layer.md"
    text = page.read_text(encoding="utf-8")
    assert (
        f"<!-- BEGIN generated:layers -->\n{markdown_table()}<!-- END generated:layers -->" in text
    )


STEPS_CASES = {
    "linear": [["--x", "1,2", "--weight", "1,2;3,4"],
               ["--x-shape", "2x3x4", "--weight-shape", "2x4"]],
    "batchnorm": [["--x-shape", "3x2"], ["--x-shape", "2x2x3"], ["--x-shape", "2x2x2x2"]],
    "layernorm": [["--x", "1,2,4"], ["--x-shape", "2x2x3"]],
    "rmsnorm": [["--x", "1,2,4"], ["--x-shape", "2x3", "--weight", "none"]],
    "conv1d": [["--x-shape", "1x2x5", "--weight-shape", "2x2x2", "--param", "stride=2"]],
    "conv2d": [["--x-shape", "1x1x5x5", "--weight-shape", "2x1x3x3", "--param", "padding=1",
                "--param", "stride=2", "--param", "dilation=2"]],
    "maxpool2d": [["--x-shape", "1x2x4x5", "--param", "kernel_size=2,3", "--param", "padding=1"]],
    "avgpool2d": [["--x-shape", "1x2x4x4", "--param", "kernel_size=3",
                   "--param", "count_include_pad=false", "--param", "padding=1"]],
    "dropout": [["--x", "1,2,3"], ["--x-shape", "2x3", "--param", "p=0"]],
    "embedding": [["--indices", "[[0,1],[1,1]]", "--weight-shape", "3x2"]],
    "attention": [["--q-shape", "3x2"], ["--q-shape", "2x2x3x2", "--param", "causal=true"]],
    "rnn": [["--x-shape", "3x2x2", "--param", "hidden_size=2", "--upstream-h", "random"],
            ["--x", "1,2;3,4", "--weight-hh", "0.5", "--param", "nonlinearity=relu"]],
    "lstm": [["--x-shape", "6x2", "--param", "hidden_size=2", "--upstream-c", "ones"]],
    "gru": [["--x-shape", "2x3x2", "--h0-shape", "3x2", "--bias-hh", "none"]],
}  # fmt: skip


@pytest.mark.parametrize(
    "name, args",
    [(name, args) for name, cases in STEPS_CASES.items() for args in cases],
    ids=lambda value: value if isinstance(value, str) else " ".join(value),
)
def test_every_layer_and_rank_renders_in_every_format(name, args):
    run = invoke("layer", name, *args, "--steps")
    assert run.code == 0, run.stderr
    assert "Worked backward pass" in run.stdout and run.stderr == ""
    data = invoke("layer", name, *args, "--steps", "--json").json()
    assert data["agree"] is True and data["steps"]
    rows = list(csv.reader(io.StringIO(invoke("layer", name, *args, "--format", "csv").stdout)))
    assert len(rows) - 1 == sum(len(_flat(g["analytic"])) for g in data["grads"].values())


def test_steps_cases_cover_the_registry():
    from gradcli.ops.layers import LAYERS

    assert set(STEPS_CASES) == set(LAYERS)


WIDTH_CASES = {
    "batchnorm-steps": [*BN, "--steps"],
    "conv-steps": [*CONV, "--steps"],
    "attention-steps": [*ATTENTION, "--steps"],
    "maxpool-ties": ["layer", "maxpool2d", "--x", "[[[[1,1,0,2],[1,0,2,2],[3,0,0,1],[0,3,1,1]]]]",
                     "--param", "kernel_size=2"],
    "dropout": ["layer", "dropout", "--x-shape", "3x4", "--param", "p=0.5", "--steps"],
    "embedding": ["layer", "embedding", "--indices", "1,0,1", "--weight-shape", "3x2", "--steps"],
    "expect": [*BN, "--expect", "bias=1,2,3"],
    "lstm-steps": ["layer", "lstm", "--x-shape", "3x2x2", "--param", "hidden_size=2",
                   "--upstream-c", "random", "--steps"],
    "gru-steps": ["layer", "gru", "--x-shape", "4x2", "--param", "hidden_size=2", "--steps"],
}  # fmt: skip


@pytest.mark.parametrize("width", [40, 60, 80, 120])
@pytest.mark.parametrize("name", sorted(WIDTH_CASES))
def test_every_json_value_appears_whole_in_the_table(name, width):
    """The contract of tests/test_table_widths.py, for layer: no number cut, none missing,
    no line wider than the terminal."""
    import re

    from rich.cells import cell_len
    from typer.testing import CliRunner

    from gradcli.cli import app
    from tests.test_table_widths import numbers_in, shown

    args = WIDTH_CASES[name]
    runner = CliRunner()
    table = runner.invoke(app, args, env={"COLUMNS": str(width), "NO_COLOR": "1"})
    data = runner.invoke(app, [*args, "--json"])
    assert table.exit_code == data.exit_code and table.exit_code in (0, 1)
    text = table.stdout
    assert "…" not in re.sub(r"(?<![\d.])…(?![\d.e])", "", text)  # only as a summary mark
    missing = [
        shown(v, 6)
        for v in numbers_in(json.loads(data.stdout))
        if not re.search(rf"(?<![\w.]){re.escape(shown(v, 6))}(?![\w.])", text)
    ]
    assert not missing, f"{len(missing)} values not shown whole, e.g. {missing[:5]}"
    # cells, not code points: x̂ is x and a combining circumflex, one cell wide
    assert max(cell_len(line) for line in text.splitlines()) <= width
