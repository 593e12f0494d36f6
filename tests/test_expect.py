"""--expect internals: digits-based tolerance, parsing, slips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcli.errors import InputError
from gradcli.expect import Slip, check_answer, half_unit, parse_expected
from gradcli.settings import Tolerance


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("0.0822", 0.00005),
        ("0.25", 0.005),
        ("2", 0.5),
        ("-0.1", 0.05),
        ("1.5e-3", 0.00005),
        ("1e-3", 0.0005),
        ("0.250", 0.0005),
        ("1E+2", 50.0),
    ],
)
def test_half_a_unit_in_the_last_written_place(token, expected):
    assert half_unit(token) == pytest.approx(expected, rel=1e-12)


def test_parse_keeps_the_digits_of_every_notation():
    assert parse_expected("0.25, 0.2350").half_units == pytest.approx([0.005, 0.00005])
    matrix = parse_expected("0.1,0.20;0.3,4")
    assert matrix.values == [[0.1, 0.2], [0.3, 4.0]]
    assert [pytest.approx(row) for row in matrix.half_units] == [[0.05, 0.005], [0.05, 0.5]]
    json_form = parse_expected("[[0.1, 0.20], [0.3, 4]]")
    assert json_form.half_units == matrix.half_units


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0.1,abc", "'abc'"),
        ("1,nan", "'nan'"),
        ("", "empty"),
        ("[1, true]", "true"),
        ("0.1;0.2,0.3", "ragged"),
        ("[1, 2", "JSON"),
    ],
)
def test_parse_rejects_bad_answers(text, fragment):
    with pytest.raises(InputError) as err:
        parse_expected(text)
    assert fragment in str(err.value)


def test_digits_tolerance_at_its_edge():
    # "0.26" is checked to ±0.005: 0.255 is exactly on the edge (in), 0.2549 just outside
    assert check_answer(parse_expected("0.26"), [0.255], "f").passed
    assert not check_answer(parse_expected("0.26"), [0.2549], "f").passed
    # "0.0822" is checked to ±0.00005
    assert check_answer(parse_expected("0.0822"), [0.08225], "f").passed
    assert not check_answer(parse_expected("0.0822"), [0.082251], "f").passed
    # more digits, tighter check
    assert check_answer(parse_expected("0.2350"), [0.2350037], "f").passed
    assert not check_answer(parse_expected("0.235000"), [0.2350037], "f").passed


def test_explicit_tolerance_replaces_the_digits():
    loose = Tolerance(atol=0.1, rtol=0.0)
    assert check_answer(parse_expected("0.3"), [0.25], "f", loose).passed
    assert not check_answer(parse_expected("0.2500001"), [0.25], "f", Tolerance(0, 0)).passed


def test_summary_names_the_worst_entry_and_hint():
    check = check_answer(
        parse_expected("0.25,-0.10"), [0.25, -0.09], "f", labels=["x = 0", "x = 1"]
    )
    assert not check.passed
    assert check.ok == [True, False]
    assert "1 of 2 entries" in check.summary
    assert "entry 1 (x = 1): you wrote -0.1 but the gradient is -0.09" in check.summary
    # the written "-0.1" alone would pass: one decimal is checked to ±0.05
    assert check_answer(parse_expected("0.25,-0.1"), [0.25, -0.09], "f").passed
    assert check.worst_abs_diff == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("0.5,-0.18", "twice the gradient"),
        ("0.125,-0.045", "half the gradient"),
        ("-0.25,0.09", "wrong sign"),
    ],
)
def test_generic_slips_are_named(answer, fragment):
    check = check_answer(parse_expected(answer), [0.25, -0.09], "f")
    assert not check.passed
    assert fragment in check.hint


def test_specific_slips_come_first():
    slip = Slip("the sum reduction's gradient", [0.5, -0.18])
    check = check_answer(parse_expected("0.5,-0.18"), [0.25, -0.09], "f", slips=[slip])
    assert check.hint == "your answer matches the sum reduction's gradient"


def test_transposed_matrices():
    truth = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    check = check_answer(parse_expected("1,4;2,5;3,6"), truth, "layer1.weight")
    assert not check.passed
    assert "transposed" in check.hint and "transposed back your answer matches" in check.hint
    square = check_answer(parse_expected("1,3;2,4"), [[1.0, 2.0], [3.0, 4.0]], "J")
    assert "transposed matrix" in square.hint


def test_wrong_shape_is_an_input_error():
    with pytest.raises(InputError, match="shape 3 but the answer has shape 2"):
        check_answer(parse_expected("1,2,3"), [1.0, 2.0], "f'(x)")


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=6))
def test_the_exact_answer_always_passes(values):
    text = ",".join(repr(v) for v in values)
    assert check_answer(parse_expected(text), values, "f").passed
