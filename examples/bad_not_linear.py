"""Broken (not linear in dout): the upstream gradient is squared instead of multiplied once.

    gradcli check examples/bad_not_linear.py:Square --input 4

The chain rule makes every backward linear in dout: backward(2.5·dout) = 2.5·backward(dout).
This one computes grad_output * grad_output * 2x: diagnosis `not-linear`.
"""

import torch


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * grad_output * 2 * x  # the bug: grad_output * 2 * x
