"""Broken (wrong number of gradients): backward returns one value for two inputs.

    gradcli check examples/bad_count.py:Scale --input 4 --input 4

An autograd.Function's backward returns one value per input of forward (None for those
without a gradient). This one returns only x's: diagnosis `wrong-count`.
"""

import torch


class Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, grad_output):
        _, w = ctx.saved_tensors
        return grad_output * w  # the bug: return grad_output * w, grad_output * x
