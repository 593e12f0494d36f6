"""Broken (derivative at the output): f(x) = x³ + x, its derivative evaluated at f(x).

    gradcli check examples/bad_gradient_at_output.py:CubicPlus --input 5

f'(x) = 3x² + 1 must be evaluated at the input; this backward evaluates it at the output
it saved, 3·f(x)² + 1: diagnosis `gradient-at-output`.
"""

import torch


class CubicPlus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x**3 + x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (3 * y**2 + 1)  # the bug: the input x belongs here, not y
