"""`gradcli check` on the examples/ zoo: each broken file is diagnosed, each correct one passes.

Every example's docstring holds the command that shows it; these tests run exactly that
command (so the docstrings stay true) and compare the diagnosis with the mistake that was
planted, which is named here independently of the code under test.
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import invoke

# bad_softplus_nan.py overflows on purpose; NumPy warns (on stderr, as users see it)
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# file → the diagnosis code of the planted mistake (None: a correct implementation)
ZOO: dict[str, str | None] = {
    "sigmoid.py": None,
    "linear_numpy.py": None,
    "linear_torch.py": None,
    "batchnorm_numpy.py": None,
    "batchnorm_torch.py": None,
    "softmax_numpy.py": None,
    "softmax_torch.py": None,
    "conv1d_numpy.py": None,
    "conv1d_torch.py": None,
    "conv_naive_numpy.py": None,
    "cross_entropy_numpy.py": None,
    "cs231n_affine.py": None,
    "cs231n_batchnorm.py": None,
    "cs231n_lstm.py": None,
    "linear_function.py": None,
    "pact.py": None,
    "bad_sigmoid.py": "constant-factor",
    "bad_square_factor2.py": "constant-factor",
    "bad_half_numpy.py": "constant-factor",
    "bad_mean_torch.py": "mean-vs-sum",
    "bad_linear_transposed.py": "transposed",
    "bad_tanh_upstream.py": "upstream-ignored",
    "bad_scale_upstream_numpy.py": "upstream-ignored",
    "bad_mul_swapped.py": "wrong-input",
    "bad_relu.py": "region",
    "bad_relu_torch.py": "region",
    "bad_linear_row.py": "region",
    "bad_bias_shape.py": "wrong-shape",
    "bad_none.py": "none-gradient",
    "bad_count.py": "wrong-count",
    "bad_accumulate.py": "non-deterministic",
    "bad_inplace.py": "in-place",
    "bad_sigmoid_second.py": "detached",
    "bad_zero_numpy.py": "zero",
    "bad_softplus_nan.py": "non-finite",
    "bad_dtype_numpy.py": "wrong-dtype",
    "bad_not_linear.py": "not-linear",
    "bad_type_numpy.py": "wrong-type",
    "bad_sigmoid_output.py": "known-slip",
    "bad_sigmoid_input_form_numpy.py": "known-slip",
    "bad_softmax_diagonal_numpy.py": "known-slip",
    "ste_sign.py": "straight-through",
    "gradient_reversal.py": "gradient-reversal",
    "bad_mean_columns_numpy.py": "mean-vs-sum",
    "bad_output_as_gradient.py": "output-as-gradient",
    "bad_identity_numpy.py": "identity-upstream",
    "bad_normalise_diagonal_numpy.py": "diagonal-only",
    "bad_gradient_at_output.py": "gradient-at-output",
    "bad_mish.py": "missing-factor",
    "bad_missing_factor_numpy.py": "missing-factor",
    "bad_dout_inplace_numpy.py": "in-place",
}


def docstring_command(path: Path) -> list[str]:
    """The ``gradcli check …`` command in the example's docstring (continuation lines joined)."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^\s+gradcli (check .*?)(?<!\\)$", text, re.M | re.S)
    assert match, f"{path.name}: no 'gradcli check' command in its docstring"
    command = match.group(1).replace("\\\n", " ")
    return [arg.replace("examples/", f"{EXAMPLES}/") for arg in shlex.split(command)]


def run_example(name: str, *extra: str):
    return invoke(*docstring_command(EXAMPLES / name), *extra)


def test_the_zoo_is_complete_and_big_enough():
    files = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert files == sorted(ZOO), "every example is listed in ZOO (and every listed one exists)"
    broken = [name for name, code in ZOO.items() if code]
    assert len(broken) >= 12
    for path in EXAMPLES.glob("*.py"):
        first = path.read_text(encoding="utf-8").split('"""')[1].strip().splitlines()[0]
        assert first.startswith("Correct" if ZOO[path.name] is None else "Broken"), path.name
    # torch and NumPy forms of the mistakes
    numpy_bad = [n for n, c in ZOO.items() if c and "--numpy" in docstring_command(EXAMPLES / n)]
    torch_bad = [n for n, c in ZOO.items() if c and n not in numpy_bad]
    assert len(numpy_bad) >= 5 and len(torch_bad) >= 5


def test_every_diagnosis_has_an_example_that_shows_it():
    from gradcli.results.check import DIAGNOSES

    for code, (_, examples) in DIAGNOSES.items():
        names = [name.strip() for name in examples.split(",") if name.strip()]
        if code == "unexplained":
            assert not names  # by definition no example can show a named pattern
            continue
        assert names, f"diagnosis {code} has no example"
        for name in names:
            assert ZOO.get(name) == code, (code, name)
    assert set(ZOO.values()) - {None} <= set(DIAGNOSES)


@pytest.mark.parametrize("name", sorted(n for n, c in ZOO.items() if c is None))
def test_correct_implementations_pass(name):
    run = run_example(name, "--json")
    assert run.code == 0, run.stdout + run.stderr
    data = run.json()
    assert data["agree"] is True and data["diagnoses"] == []
    for entry in data["inputs"]:
        if entry["requires_grad"]:
            assert entry["mismatch_count"] == 0 and entry["checked_count"] == entry["size"]


@pytest.mark.parametrize("name", sorted(n for n, c in ZOO.items() if c))
def test_broken_implementations_are_diagnosed(name):
    run = run_example(name, "--json")
    assert run.code == 1, run.stdout + run.stderr
    data = run.json()
    assert data["agree"] is False
    codes = [d["code"] for d in data["diagnoses"]]
    assert ZOO[name] in codes, codes
    assert "unexplained" not in codes


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_example_renders_a_table(name):
    run = run_example(name)
    assert run.code == (0 if ZOO[name] is None else 1)
    if ZOO[name] is None:
        assert "✓ your gradients are right" in run.stdout
    else:
        assert (
            "✗ your gradients are WRONG" in run.stdout or "✗ your code has a defect" in run.stdout
        )
    if ZOO[name]:
        assert f"• {ZOO[name]}:" in run.stdout  # the diagnosis, by its code


def _input(data: dict, name: str) -> dict:
    return next(entry for entry in data["inputs"] if entry["name"] == name)


def _flat(values):
    if isinstance(values, list):
        return [v for item in values for v in _flat(item)]
    return [values]


def test_sigmoid_jacobian_is_the_hand_formula():
    data = run_example("sigmoid.py", "--json").json()
    x = _input(data, "x")
    for i, xi in enumerate(x["values"]):
        s = 1 / (1 + math.exp(-xi))
        for j in range(len(x["values"])):
            expected = s * (1 - s) if i == j else 0.0
            assert x["analytic"][i][j] == pytest.approx(expected, abs=1e-12)
            assert x["numeric"][i][j] == pytest.approx(expected, abs=1e-8)


def test_relu_mask_region_is_exactly_the_negative_entries():
    data = run_example("bad_relu.py", "--json").json()
    x = _input(data, "x")
    negative = [[i, j] for i, row in enumerate(x["values"]) for j, v in enumerate(row) if v < 0]
    assert negative and len(negative) < 12  # random signs: some of each
    assert sorted(x["mismatches"]) == sorted(negative)
    assert x["mismatch_count"] == len(negative)
    region = next(d for d in data["diagnoses"] if d["code"] == "region")
    assert "where x < 0" in region["message"] and "mask" in region["message"]


def test_one_row_wrong_names_the_row_and_only_it():
    data = run_example("bad_linear_row.py", "--json").json()
    w = _input(data, "W")
    assert sorted(w["mismatches"]) == [[0, 0], [0, 1], [0, 2]]
    assert _input(data, "x")["mismatch_count"] == 0
    region = next(d for d in data["diagnoses"] if d["code"] == "region")
    assert region["input"] == "W" and "row 0" in region["message"]


@pytest.mark.parametrize(
    ("name", "factor", "fragment"),
    [
        ("bad_sigmoid.py", -1.0, "sign flipped"),
        ("bad_square_factor2.py", 2.0, "2 ×"),
        ("bad_half_numpy.py", 0.5, "½ ×"),
        ("bad_mean_torch.py", 8.0, "N = 8"),  # the batch of --input 8x3
        ("bad_mean_columns_numpy.py", 0.2, "N = 5 (x's columns, dimension 1)"),  # --input 3x5
    ],
)
def test_constant_factor_is_named(name, factor, fragment):
    data = run_example(name, "--json").json()
    x = _input(data, "x")
    pairs = [(a, n) for a, n in zip(_flat(x["analytic"]), _flat(x["numeric"]), strict=True)]
    assert any(n != 0 for _, n in pairs)
    for a, n in pairs:  # the planted factor, entry by entry
        assert a == pytest.approx(factor * n, abs=1e-6)
    message = next(d["message"] for d in data["diagnoses"] if d["code"] == ZOO[name])
    assert fragment in message


def test_swapped_gradients_are_one_diagnosis_naming_both():
    data = run_example("bad_mul_swapped.py", "--json").json()
    swapped = [d for d in data["diagnoses"] if d["code"] == "wrong-input"]
    assert len(swapped) == 1
    assert "x and y are swapped" in swapped[0]["message"]


def test_wrong_shape_says_how_to_fix_it():
    data = run_example("bad_bias_shape.py", "--json").json()
    b = _input(data, "b")
    assert b["compared"] is False and "shape 4×2" in b["problem"]
    message = next(d["message"] for d in data["diagnoses"] if d["code"] == "wrong-shape")
    assert "sum it over the batch" in message
    assert _input(data, "x")["mismatch_count"] == 0  # the other gradients are fine


def test_second_order_is_checked_and_named():
    first_only = run_example("bad_sigmoid_second.py", "--order", "1", "--json")
    assert first_only.code == 0  # its first derivative is right
    data = run_example("bad_sigmoid_second.py", "--json").json()
    assert data["order"] == 2
    names = [block["input"] for block in data["second_order"]]
    assert names == ["x", "dout"]
    assert {d["order"] for d in data["diagnoses"]} == {2}


def test_correct_second_order_passes_with_blocks_for_inputs_and_dout():
    data = run_example("linear_torch.py", "--json").json()
    assert data["agree"] is True
    assert [b["input"] for b in data["second_order"]] == ["x", "W", "b", "dout"]
    assert all(b["agree"] for b in data["second_order"])


def test_full_jacobian_has_the_output_shape_then_the_input_shape():
    data = run_example("bad_relu.py", "--json").json()  # out = relu(x), x and out 3×4
    x = _input(data, "x")
    values = x["values"]
    for i in range(3):
        for j in range(4):
            for k in range(3):
                for m in range(4):
                    on_diagonal = (i, j) == (k, m)
                    true = (1.0 if values[k][m] > 0 else 0.0) if on_diagonal else 0.0
                    assert x["numeric"][i][j][k][m] == pytest.approx(true, abs=1e-8)
                    assert x["analytic"][i][j][k][m] == (1.0 if on_diagonal else 0.0)
