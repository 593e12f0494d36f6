"""Text → numbers: vectors, matrices, JSON lists and KEY=VALUE parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcli.errors import InputError
from gradcli.parsing import parse_array, parse_matrix, parse_number, parse_values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,3", [1.0, 2.0, 3.0]),
        ("1 2 3", [1.0, 2.0, 3.0]),
        (" -1e-3, 2.5 ", [-0.001, 2.5]),
        ("1,2;3,4", [[1.0, 2.0], [3.0, 4.0]]),
        ("1 2; 3 4;", [[1.0, 2.0], [3.0, 4.0]]),
        ("[[1, 2], [3, 4]]", [[1.0, 2.0], [3.0, 4.0]]),
        ("[1, -2.5]", [1.0, -2.5]),
    ],
)
def test_parse_array_accepts_every_notation(text, expected):
    assert parse_array(text, "--pred") == expected


def test_parse_matrix_lifts_a_vector_to_one_row():
    assert parse_matrix("1,2", "--x") == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1,2;3", "ragged"),
        ("[[1,2],[3]]", "ragged"),
        ("[1, 2", "not a valid JSON list"),
        ('[1, "a"]', '"a" is not a number'),
        ("[]", "empty list"),
        ("1,x", "'x' is not a number"),
        ("1,nan", "not a finite number"),
        ("", "--pred is empty"),
    ],
)
def test_parse_array_rejects_bad_text(text, fragment):
    with pytest.raises(InputError, match=None) as err:
        parse_array(text, "--pred")
    assert fragment in str(err.value)


@pytest.mark.parametrize("token", ["inf", "-inf", "nan", "1e999", "abc", "1..2"])
def test_parse_number_rejects_non_finite_and_non_numbers(token):
    with pytest.raises(InputError) as err:
        parse_number(token)
    assert f"'{token}'" in str(err.value)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_values_round_trip_through_text(values):
    text = ",".join(repr(v) for v in values)
    assert parse_values([text]) == values
    assert parse_array("[" + text + "]", "--x") == values
