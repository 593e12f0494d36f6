"""Correct: a linear layer out = x Wᵀ + b as a torch.autograd.Function.

    gradcli check examples/linear_torch.py:Linear --input 4x3 --input 2x3 --input 2 --order 2

The same formulas as linear_numpy.py, written with differentiable torch operations, so the
backward itself has a correct derivative too (--order 2 passes).
"""

import torch


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, b):
        ctx.save_for_backward(x, W)
        return x @ W.T + b

    @staticmethod
    def backward(ctx, grad_out):
        x, W = ctx.saved_tensors
        return grad_out @ W, grad_out.T @ x, grad_out.sum(dim=0)
