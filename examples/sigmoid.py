"""Correct: the logistic sigmoid as a torch.autograd.Function.

    gradcli check examples/sigmoid.py:Sigmoid --input 5

σ'(x) = σ(x)(1 − σ(x)) is written with the saved output, and the forward is the stable
form (no overflow for large |x|). Its backward is differentiable too (--order 2 passes).
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
        return grad_output * y * (1 - y)
