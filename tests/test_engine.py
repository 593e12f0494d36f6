"""The comparison engine on its own: it must catch a wrong derivative."""

from __future__ import annotations

import torch

from gradcli.core.engine import check_elementwise, check_gradient, judge
from gradcli.ops.losses import Reduction, get_loss
from gradcli.settings import Settings, Tolerance


def test_wrong_derivative_is_caught():
    x = torch.tensor([0.5, 1.0], dtype=torch.float64)
    check = check_elementwise(torch.sin, torch.sin, x, Settings())  # sin' is cos, not sin
    assert not check.agree
    assert check.ok == [False, False]
    assert check.max_abs_diff > 0.3


def test_judge_tolerance_edges():
    tol = Tolerance(atol=1e-3, rtol=0.0)
    a = torch.tensor([1.0], dtype=torch.float64)
    assert judge(a, a + 0.9e-3, None, tol).agree
    assert not judge(a, a + 1.1e-3, None, tol).agree


def test_untrusted_numeric_is_shown_but_not_judged():
    a = torch.tensor([0.0, 1.0], dtype=torch.float64)
    numeric = torch.tensor([0.5, 1.0], dtype=torch.float64)
    trusted = torch.tensor([False, True])
    check = judge(a, a, numeric, Tolerance(1e-6, 1e-6), trusted)
    assert check.agree
    assert check.numeric == [0.5, 1.0]
    assert not judge(a, a, numeric, Tolerance(1e-6, 1e-6)).agree


def test_study_notes_mse_gradient_is_two():
    # Study notes: x = 1, w = 2, mse = F.mse_loss(ones(1), x*w); torch.autograd.grad → tensor([2.])
    mse = get_loss("mse")
    x, target = torch.ones(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)

    def loss(w):
        return mse.forward(x * w, target, Reduction.mean, {})

    def gradient(w):  # chain rule: ∂L/∂w = ∂L/∂y · x
        return mse.gradient(x * w, target, Reduction.mean, {}) * x

    check = check_gradient(loss, gradient, torch.full([1], 2.0, dtype=torch.float64), Settings())
    assert check.analytic == [2.0]
    assert check.autograd == [2.0]
    assert check.agree
