"""softmax(a/T) and its Jacobian p_i(δ_ij − p_j)/T: formula vs autograd vs finite differences."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.core.softmax import softmax_jacobian
from gradcli.errors import InputError
from gradcli.settings import DEFAULT_TOLERANCE, Dtype, Settings

logits = st.lists(st.floats(-50, 50), min_size=1, max_size=12)


def torch_jacobian(a: list[float], temperature: float) -> torch.Tensor:
    """Reference Jacobian from torch.autograd.functional, independent of the engine."""
    x = torch.tensor(a, dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda t: torch.softmax(t / temperature, 0), x)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
@pytest.mark.parametrize("a", [[1, 2, 3], [0.0], [-1, 0, 1, 2], [5, -5, 0.25, 10, -10]])
def test_formula_matches_autograd_and_numeric(a, temperature):
    result = softmax_jacobian(a, temperature, Settings())
    assert result.check.agree
    torch.testing.assert_close(
        torch.tensor(result.check.analytic, dtype=torch.float64),
        torch_jacobian(a, temperature),
        rtol=1e-12,
        atol=1e-15,
    )


def test_study_notes_row_has_its_own_entry_positive():
    # Study notes: torch.autograd.grad(p[1], a) printed (-0.1029, 0.2287, -0.1258) for some a.
    # Row 1 is (−p1·p0, p1(1 − p1), −p1·p2): p1(1 − p1) = 0.2287 gives p1 = (1 − √(1 − 4·0.2287))/2,
    # then p0 = 0.1029/p1 and p2 = 0.1258/p1; softmax(ln p) = p.
    p1 = (1 - math.sqrt(1 - 4 * 0.2287)) / 2
    a = [math.log(0.1029 / p1), math.log(p1), math.log(0.1258 / p1)]
    row = softmax_jacobian(a, 1.0, Settings()).check.autograd[1]
    assert row == pytest.approx([-0.1029, 0.2287, -0.1258], abs=1e-9)
    assert row[1] > 0 > max(row[0], row[2])


@settings(max_examples=60, deadline=None)
@given(a=logits, temperature=st.floats(0.1, 10))
def test_property_sign_pattern_and_rows_sum_to_zero(a, temperature):
    result = softmax_jacobian(a, temperature, Settings(numeric=False))
    jac = torch.tensor(result.check.analytic, dtype=torch.float64)
    assert result.check.agree
    assert math.isclose(sum(result.probabilities), 1.0, rel_tol=1e-12)
    assert torch.allclose(jac.sum(dim=1), torch.zeros(len(a), dtype=torch.float64), atol=1e-13)
    assert bool((jac.diagonal() >= 0).all())
    off = jac - torch.diag(jac.diagonal())
    assert bool((off <= 0).all())


def test_shifted_inputs_give_exactly_the_same_result():
    base = softmax_jacobian([0, 1, 2], 1.0, Settings())
    shifted = softmax_jacobian([1000, 1001, 1002], 1.0, Settings())
    assert shifted.probabilities == base.probabilities
    assert shifted.check.analytic == base.check.analytic
    assert shifted.check.autograd == base.check.autograd
    assert shifted.check.numeric == base.check.numeric


@pytest.mark.parametrize("a", [[-1000, 0, 1000], [1000, 1000], [-1000, -1000.5]])
def test_extreme_logits_stay_finite_and_agree(a):
    result = softmax_jacobian(a, 1.0, Settings())
    values = [v for row in result.check.analytic + result.check.autograd for v in row]
    assert all(math.isfinite(v) for v in values + result.probabilities)
    assert result.check.agree


def test_float32_reproduces_torch_default_rounding():
    tol = DEFAULT_TOLERANCE[Dtype.float32]
    result = softmax_jacobian([1, 2, 3], 1.0, Settings(Dtype.float32, tol))
    x = torch.tensor([1.0, 2.0, 3.0])
    assert result.probabilities == torch.softmax(x, 0).double().tolist()
    assert result.check.agree


def test_large_input_is_fast_enough_to_compute_and_complete():
    result = softmax_jacobian([i / 100 for i in range(600)], 1.0, Settings())
    assert len(result.check.analytic) == 600
    assert len(result.check.analytic[0]) == 600
    assert result.check.agree


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(InputError, match="--temperature must be > 0"):
        softmax_jacobian([1, 2], temperature, Settings())


@pytest.mark.parametrize("numeric", [True, False])
@pytest.mark.parametrize("answer", [None, "0.2,-0.1,0;-0.1,0.2,-0.1;0,-0.1,0.1"])
def test_csv_rows_carry_the_json_values(numeric, answer):
    """CSV is written a matrix row at a time, column by column: every cell is the JSON value
    (floats exactly, blanks where there is no numeric entry, the answer's numbers)."""
    import csv
    import io

    from gradcli.expect import parse_expected
    from gradcli.render.csvout import write_csv

    settings = Settings(numeric=numeric)
    expected = None if answer is None else {"jacobian": parse_expected(answer)}
    result = softmax_jacobian([0.5, -1.25, 3.0], 1.0, settings, expected)
    out = io.StringIO()
    write_csv(result, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    data = result.to_json()
    assert len(rows) == 9
    for row in rows:
        i, j = int(row["i"]), int(row["j"])
        assert float(row["a_j"]) == data["input"][j]
        assert float(row["p_i"]) == data["probabilities"][i]
        assert float(row["analytic"]) == data["analytic"][i][j]
        assert float(row["autograd"]) == data["autograd"][i][j]
        if numeric:
            assert float(row["numeric"]) == data["numeric"][i][j]
        else:
            assert row["numeric"] == ""
        assert row["ok"] == "true"
        if answer is not None:
            assert float(row["expected"]) == float(answer.split(";")[i].split(",")[j])
            assert row["expected_ok"] in ("true", "false")
