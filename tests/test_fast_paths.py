"""The engine's small-size paths (Python floats) give the same bits as its tensor paths.

A handful of entries is judged and refined on Python floats — a torch call costs
microseconds whatever its size, and batch runs thousands of small checks — so these tests
run both paths on the same inputs, including NaN, ±∞ and huge values, and demand equality.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcli.core import engine
from gradcli.core.engine import Columns, NumericEstimate, _verdict_small, _verdict_tensors
from gradcli.settings import Tolerance

SPECIAL = st.sampled_from([0.0, -0.0, 1e-300, 1e300, 1.7e308, math.inf, -math.inf, math.nan])
VALUES = st.one_of(st.floats(-1e6, 1e6), st.floats(allow_nan=True), SPECIAL)


def same(a: list, b: list) -> bool:
    return all(
        (x != x and y != y) or (x == y and math.copysign(1, x) == math.copysign(1, y))
        if isinstance(x, float)
        else x == y
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.lists(VALUES, min_size=n, max_size=n),
            st.lists(VALUES, min_size=n, max_size=n),
            st.lists(VALUES, min_size=n, max_size=n),
            st.lists(st.floats(0, 1e40) | st.just(math.inf), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(st.booleans(), min_size=n, max_size=n),
        )
    ),
    st.sampled_from([Tolerance(1e-6, 1e-5), Tolerance(0, 0), Tolerance(1e-3, 0.1)]),
    st.booleans(),
)
def test_verdicts_agree_bit_for_bit(data, tolerance, with_defined):
    a, g, n, err, checked, trusted, defined, aliased = data

    def t(values, dtype=torch.float64):
        return torch.tensor(values, dtype=dtype)

    numeric = NumericEstimate(
        t(n),
        t(err, torch.float32),
        t(checked, torch.bool),
        torch.zeros(len(a), dtype=torch.float64),
        unresolved=t(aliased, torch.bool),
    )
    columns = Columns.of(t(a), t(g), numeric, t(trusted, torch.bool),
                         t(defined, torch.bool) if with_defined else None)  # fmt: skip
    small, big = _verdict_small(columns, tolerance), _verdict_tensors(columns, tolerance)
    assert same(small.diff.flat(), big.diff.flat())
    assert small.ok.flat() == big.ok.flat() and small.usable.flat() == big.usable.flat()
    assert same(
        [small.max_abs_diff, small.worst_uncertain], [big.max_abs_diff, big.worst_uncertain]
    )
    assert small.agree == big.agree
    assert (small.error_max, small.overflowed, small.uncertain, small.unresolved) == (
        big.error_max,
        big.overflowed,
        big.uncertain,
        big.unresolved,
    )


FUNCTIONS = {
    "sin": torch.sin,
    "sigmoid": torch.sigmoid,
    "softplus-sharp": lambda x: torch.nn.functional.softplus(x, beta=1e6, threshold=1e9),
    "huge": lambda x: torch.nn.functional.softplus(x, beta=1e-300),
    "square-overflow": lambda x: x**2,
    "kinked": torch.relu,
    "cubic": lambda x: x**3 / 7,
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize(
    "points", [[0.5, -1.3, 2.0], [1e-6, 0.0, -1e-9], [1e200, -3.0, 1e-3], [1e22, -1e16, 3.0]]
)
def test_refinement_small_and_tensor_paths_agree(name, points, monkeypatch):
    f = FUNCTIONS[name]
    x = torch.tensor(points, dtype=torch.float64)
    cap = torch.tensor([math.inf, 1e-7, 0.5], dtype=torch.float64)
    runs = []
    for small in (10**6, 0):
        monkeypatch.setattr(engine, "SMALL_ENTRIES", small)
        runs.append(
            [
                engine.numeric_elementwise(f, x, Tolerance(1e-6, 1e-5), max_step=cap),
                engine.numeric_jacobian(lambda t: torch.stack([f(t).sum(-1), t.prod(-1)], -1), x),
            ]
        )
    for fast, slow in zip(*runs, strict=True):
        for field in ("value", "error", "step", "checked"):
            a, b = getattr(fast, field), getattr(slow, field)
            assert same(a.reshape(-1).tolist(), b.reshape(-1).tolist()), field
        # where f is not resolved at the input's spacing (sin at 1e22): the same entries
        marks = [
            None if e.unresolved is None else e.unresolved.reshape(-1).tolist()
            for e in (fast, slow)
        ]
        assert marks[0] == marks[1] and fast.spacing == slow.spacing
