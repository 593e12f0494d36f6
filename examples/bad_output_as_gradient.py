"""Broken (the output for its derivative): a Gaussian bump whose backward returns dout · y.

    gradcli check examples/bad_output_as_gradient.py:Bump --input 5

y = exp(−x²/2) has y' = −x·y; this backward multiplies dout by y itself, the value it saved
in forward: diagnosis `output-as-gradient`.
"""

import torch


class Bump(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.exp(-0.5 * x * x)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        _x, y = ctx.saved_tensors
        return grad_output * y  # the bug: grad_output * (-x * y)
