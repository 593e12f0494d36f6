"""Broken (sign flipped): σ'(x) written as σ(x)(σ(x) − 1) instead of σ(x)(1 − σ(x)).

    gradcli check examples/bad_sigmoid.py:Sigmoid --input 5

Every entry of the gradient is −1 × the true one: diagnosis `constant-factor` (c = −1).
"""

import torch


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y * (y - 1)  # the bug: (y - 1) where (1 - y) is right
