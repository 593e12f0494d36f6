"""--expect internals: the rule decided by how an entry is written (whole numbers, fractions
and zeros exact; one-digit decimals rounded; from two digits on rounded or truncated),
--min-digits, kinks, parsing, slips."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcli.errors import InputError
from gradcli.expect import Kink, Slip, check_answer, parse_entry, parse_expected
from gradcli.settings import Tolerance

VERDICT = Tolerance(atol=1e-6, rtol=1e-5)
SIGMOID_PRIME_HALF = math.exp(-0.5) / (1 + math.exp(-0.5)) ** 2  # σ'(0.5) = 0.2350037…
TANH_PRIME_HALF = 1 - math.tanh(0.5) ** 2  # tanh'(0.5) = 0.7864477…


def passes(answer: str, truth: float) -> bool:
    return check_answer(parse_expected(answer), [truth], "f", tolerance=VERDICT).passed


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("0", False),  # a written zero has no digits: only values within atol of 0
        ("0.3", False),
        ("0.25", False),
        ("0.2", True),  # 1 digit, correctly rounded
        ("2e-1", True),
        ("0.23", True),  # truncated
        ("0.24", True),  # rounded
        ("0.235", True),
        ("0.2350", True),
        ("0.23500", True),
        ("0.2351", False),
        ("0.236", False),
        ("-0.235", False),  # the sign counts
    ],
)
def test_the_issues_examples_for_sigmoid_prime_at_one_half(answer, ok):
    assert passes(answer, SIGMOID_PRIME_HALF) is ok


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("1", False),  # a whole number is exact
        ("0.9", False),
        ("0.8", True),
        ("0.7", False),  # one digit: truncation is not enough (issue 18 §2)
        ("0.79", True),
        ("0.78", True),  # two digits: truncated
    ],
)
def test_the_issues_examples_for_tanh_prime_at_one_half(answer, ok):
    assert passes(answer, TANH_PRIME_HALF) is ok


@pytest.mark.parametrize(
    ("token", "digits", "kind"),
    [
        ("0.2350", 4, "decimal"),
        ("0.24", 2, "decimal"),
        ("-0.0650", 3, "decimal"),
        ("100.", 3, "decimal"),  # trailing zeros count, as written
        ("1e2", 1, "decimal"),
        ("1.50e-3", 3, "decimal"),
        (".5", 1, "decimal"),
        ("100", None, "whole"),  # no decimal point, no exponent: an exact value
        ("+7", None, "whole"),
        ("-1", None, "whole"),
        ("2/3", None, "fraction"),
        ("-0", None, "zero"),
        ("0.00", None, "zero"),
    ],
)
def test_significant_digits_are_counted_as_written(token, digits, kind):
    entry = parse_entry(token)
    assert (entry.digits, entry.kind) == (digits, kind)


def test_ties_pass_and_the_unit_is_at_the_truths_magnitude():
    # 0.25 to 1 digit: 0.2 and 0.3 are both half a unit away — a tie passes either way
    assert passes("0.2", 0.25) and passes("0.3", 0.25)
    assert passes("1e0", 1.5) and passes("2e0", 1.5)
    # 0.9996 rounds to 1.0 at two digits although 1.0's own magnitude is a decade higher
    assert passes("1.0", 0.9996)
    assert not passes("1.0", 0.9940)


@pytest.mark.parametrize(
    ("answer", "truth"),
    [
        ("0.5", 1.0),  # 1 rounded to one digit is 1, not 0.5 (half a unit at 0.5's magnitude)
        ("0.6", 1.0),
        ("1e2", 50.0),  # 50 is 5e1 to one digit
        ("0.50", 1.0),
    ],
)
def test_a_rounded_answer_is_a_whole_number_of_units_at_the_truths_magnitude(answer, truth):
    assert not passes(answer, truth)


@pytest.mark.parametrize(
    ("answer", "truth", "ok"),
    [
        # issue 18 §2, each computed independently here: e = 2.71828…, ∂(xy)/∂x at y = 1.9
        ("2", math.e, False),
        ("2.7", math.e, True),
        ("1", 1.9, False),
        ("1", 1.0000000001, True),  # within the verdict's tolerance of 1
        ("150", 150.0000001, True),
        ("150", 150.3, False),
        ("-1", -1.0, True),
        ("0.23", SIGMOID_PRIME_HALF, True),  # truncated, from 2 digits on
        ("0.2", 0.235, True),  # one digit, correctly rounded
        ("-0.1", -0.1628, False),  # one digit must be rounded: -0.2
        ("-0.2", -0.1628, True),
        ("-0.16", -0.1628, True),  # truncated
        ("0.7", TANH_PRIME_HALF, False),
    ],
)
def test_the_issues_rule_for_whole_numbers_and_one_digit_decimals(answer, truth, ok):
    assert passes(answer, truth) is ok


def test_each_entry_reports_the_rule_that_matched():
    truth = [math.e, SIGMOID_PRIME_HALF, SIGMOID_PRIME_HALF, 2.0, 2 / 3, 0.0, 0.5]
    check = check_answer(parse_expected("2.7,0.24,0.23,2,2/3,0,0.7"), truth, "f", tolerance=VERDICT)
    assert check.rules == ["rounded", "rounded", "truncated", "exact", "exact", "exact", None]
    assert check.ok == [True] * 6 + [False]
    assert check.digits == [2, 2, 2, None, None, None, 1]
    assert check.to_json()["rule"] == check.rules


def test_min_digits_fails_short_decimals_but_not_exact_forms():
    truth = [SIGMOID_PRIME_HALF, 2.0, 2 / 3, 0.0, SIGMOID_PRIME_HALF]
    answer = parse_expected("0.24,2,2/3,0,0.2350", min_digits=3)
    check = check_answer(
        answer, truth, "f", tolerance=VERDICT, labels=[f"x[{k}]" for k in range(5)]
    )
    assert check.ok == [False, True, True, True, True]
    assert not check.passed
    assert "x[0]: you wrote 0.24: give at least 3 significant digits (--min-digits 3)" in (
        check.summary
    )
    assert check.to_json()["min_digits"] == 3
    # a wrong value is named first; the short entries are counted after it
    wrong = check_answer(
        parse_expected("0.24,0.9", min_digits=3), [SIGMOID_PRIME_HALF, 0.5], "f", tolerance=VERDICT
    )
    assert "you wrote 0.9 but" in wrong.summary
    assert "1 other entry matches but gives fewer than 3 significant digits" in wrong.summary


def test_a_kink_accepts_either_one_sided_derivative_or_between_with_a_note():
    relu = Kink(left=0.0, right=1.0, torch=0.0)

    def at_kink(answer: str):
        return check_answer(
            parse_expected(answer),
            [0.0],
            "f'(x)",
            tolerance=VERDICT,
            labels=["x[0] = 0"],
            kinks=lambda missed: dict.fromkeys(missed, relu),
        )

    right = at_kink("1")
    assert right.passed and right.rules == ["exact"]
    assert right.warnings == ["at x[0] = 0, a kink, 1 is the right-hand derivative; torch uses 0"]
    between = at_kink("0.5")
    assert (
        between.passed and "lies between the one-sided derivatives 0 and 1" in between.warnings[0]
    )
    assert at_kink("0").passed and at_kink("0").warnings == []  # torch's own value: no note
    outside = at_kink("2")
    assert not outside.passed
    assert "any value from 0 to 1 matches" in outside.summary and "torch uses 0" in outside.summary
    assert not at_kink("-0.5").passed


def test_long_integers_are_refused_before_python_converts_them():
    # Python refuses int() on more than 4,300 digits; the answer's length is checked first
    for text in ("1/" + "1" * 5000, "1" * 5000 + "/3", "1" * 5000, "[" + "1" * 5000 + "]"):
        with pytest.raises(InputError):
            parse_expected(text)


def test_zero_matches_only_values_within_the_verdicts_tolerance():
    for zero in ("0", "0.0", "-0", "0e5", "0.000"):
        assert passes(zero, 0.0)
        assert passes(zero, 4e-7)
        assert not passes(zero, 2e-6)
    assert not passes("0", 0.235)


def test_fractions_are_exact_and_compared_to_the_verdicts_tolerance():
    assert passes("2/3", 2 / 3)
    assert passes("-1/4", -0.25)
    assert not passes("2/3", 0.6667)  # 3.3e-5 away: more than atol + rtol·|truth|
    with pytest.raises(InputError, match="divides by zero"):
        parse_expected("1/0")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0.1,abc", "'abc'"),
        ("1,nan", "'nan'"),
        ("", "empty"),
        ("[1, true]", "true"),
        ("0.1;0.2,0.3", "ragged"),
        ("[1, 2", "JSON"),
        ("0e999", "exponent beyond float64's range (at most ±330, even for zero)"),
        ("1e999", "overflows float64"),
        ("1e-999999999", "out of float64's range"),
        ("−0.5", "ASCII"),
        ("0.12345678901234567890123456789012345678901234567890", "significant digits"),
        ("[" * 5000 + "]" * 5000, "JSON"),
    ],
)
def test_parse_rejects_bad_answers(text, fragment):
    if fragment is None:
        parse_expected(text)
        return
    with pytest.raises(InputError) as err:
        parse_expected(text)
    assert fragment in str(err.value)


def test_what_was_typed_is_kept_for_display():
    answer = parse_expected("-0.0650, 0.2350, 2/3")
    assert answer.written == ["-0.0650", "0.2350", "2/3"]
    check = check_answer(answer, [-0.065, 0.235, 2 / 3], "f", tolerance=VERDICT)
    assert check.written == ["-0.0650", "0.2350", "2/3"]
    assert check.digits == [3, 4, None]
    json = check.to_json()
    assert json["rule"] == ["rounded", "rounded", "exact"]
    assert json["digits"] == [3, 4, None]


def test_the_verdict_says_what_was_checked():
    truth = [SIGMOID_PRIME_HALF, SIGMOID_PRIME_HALF]
    check = check_answer(parse_expected("0.2,0.24"), truth, "f", tolerance=VERDICT)
    assert check.passed
    assert check.checked_to == (
        "checked to 1–2 significant digits (rounded; truncated too from 2 digits on)"
    )
    assert "checked to 1–2 significant digits" in check.summary
    assert check.warnings == []
    exact = check_answer(parse_expected("1/4,2,0"), [0.25, 2, 0], "f", tolerance=VERDICT)
    assert exact.checked_to == (
        "whole numbers, fractions and zeros exact (within the verdict's tolerance)"
    )


def test_summary_names_the_worst_entry_the_rounded_truth_and_the_hint():
    check = check_answer(
        parse_expected("0.25,-0.10"),
        [0.25, -0.09],
        "f",
        tolerance=VERDICT,
        labels=["x = 0", "x = 1"],
    )
    assert not check.passed
    assert check.ok == [True, False]
    assert "1 of 2 entries" in check.summary
    assert "at x = 1: you wrote -0.10 but the gradient is -0.09 (-0.090 to 2" in check.summary
    matrix = check_answer(
        parse_expected("1.0,2.0;3.0,4.5"), [[1, 2], [3, 4]], "J", tolerance=VERDICT
    )
    assert "at J[1][1]: you wrote 4.5 but the gradient is 4" in matrix.summary
    assert check.worst_abs_diff == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ("0.50,-0.18", "twice the gradient"),
        ("0.125,-0.045", "half the gradient"),
        ("-0.25,0.09", "wrong sign"),
    ],
)
def test_generic_slips_are_named(answer, fragment):
    check = check_answer(parse_expected(answer), [0.25, -0.09], "f", tolerance=VERDICT)
    assert not check.passed
    assert fragment in check.hint


def test_a_slip_needs_firm_evidence_one_loose_digit_names_none():
    # "2e0" for tanh'(0.5) = 0.786 is wrong, and 2·0.786 = 1.57 rounds to 2 at one digit:
    # too loose to claim the student doubled it
    check = check_answer(parse_expected("2e0"), [TANH_PRIME_HALF], "f", tolerance=VERDICT)
    assert not check.passed and check.hint is None


def test_specific_slips_come_first():
    slip = Slip("the sum reduction's gradient", [0.5, -0.18])
    check = check_answer(
        parse_expected("0.50,-0.18"), [0.25, -0.09], "f", tolerance=VERDICT, slips=[slip]
    )
    assert check.hint == "your answer matches the sum reduction's gradient"


def test_a_slip_of_another_shape_fails_with_its_hint_instead_of_an_input_error():
    slip = Slip("only the diagonal", [0.1, 0.2])
    check = check_answer(
        parse_expected("0.10,0.20"),
        [[0.1, -0.05], [-0.05, 0.2]],
        "J",
        tolerance=VERDICT,
        slips=[slip],
    )
    assert not check.passed and check.hint == "your answer matches only the diagonal"


def test_transposed_matrices():
    truth = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    check = check_answer(parse_expected("1,4;2,5;3,6"), truth, "layer1.weight", tolerance=VERDICT)
    assert not check.passed
    assert "transposed" in check.hint and "transposed back your answer matches" in check.hint
    square = check_answer(
        parse_expected("1.0,3.0;2.0,4.0"), [[1.0, 2.0], [3.0, 4.0]], "J", tolerance=VERDICT
    )
    assert "transposed matrix" in square.hint


def test_wrong_shape_is_an_input_error():
    with pytest.raises(InputError, match="shape 3 but the answer has shape 2"):
        check_answer(parse_expected("1,2,3"), [1.0, 2.0], "f'(x)", tolerance=VERDICT)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=6))
def test_the_exact_answer_always_passes(values):
    text = ",".join(repr(v) for v in values)
    assert check_answer(parse_expected(text), values, "f", tolerance=VERDICT).passed


@given(
    st.floats(1e-12, 1e12).map(lambda v: v * 1.0),
    st.integers(1, 12),
    st.booleans(),
)
def test_the_truth_rounded_or_truncated_to_any_digits_passes_and_a_unit_off_fails(
    truth, digits, negative
):
    truth = -truth if negative else truth
    exact = Decimal(truth)
    places = digits - 1 - exact.adjusted()
    quantum = Decimal(1).scaleb(-places)
    for rounding in ("ROUND_HALF_EVEN", "ROUND_DOWN"):
        written = exact.quantize(quantum, rounding=rounding)
        if written.is_zero() or len(written.as_tuple().digits) != digits:
            continue  # rounding carried into a new digit (9.99 → 10.0); covered elsewhere
        text = f"{written:e}"  # a decimal, never a whole number (those are exact)
        ok = digits > 1 or 2 * abs(written - exact) <= quantum  # one digit: rounded (ties pass)
        assert passes(text, truth) is ok, (truth, digits, text)
        off = written + 2 * quantum * (1 if truth > 0 else -1)
        if len(off.as_tuple().digits) == digits:
            assert not passes(f"{off:e}", truth), (truth, digits, off)


def test_generic_slips_are_worded_for_the_quantity():
    """A divisor or a loss value is not a gradient: its factor-2 slips say so plainly, and
    only derivatives are told that a reduction (mean, sum, half-sum) may be the cause."""
    from gradcli.expect import generic_slips

    divisor = [s.description for s in generic_slips([4.0, 4.0], "divisor")]
    assert divisor[:3] == [
        "twice divisor (a factor of 2)",
        "half divisor (a factor of ½)",
        "divisor with the wrong sign",
    ]
    gradient = [s.description for s in generic_slips([1.0], "∂L/∂x")]
    assert gradient[0] == "twice ∂L/∂x (a factor of 2: mean vs sum vs half-sum?)"
    assert [s.values for s in generic_slips([1.5, -2.0], "x")][:3] == [
        [3.0, -4.0],
        [0.75, -1.0],
        [-1.5, 2.0],
    ]
