"""Broken (None for an input that needs a gradient): an elementwise scale x · w.

    gradcli check examples/bad_none.py:Scale --input 4 --input 4

Both x and w take gradients, but backward returns None for w (torch then treats it as
zero, silently): diagnosis `none-gradient`.
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
        return grad_output * w, None  # the bug: grad_output * x for w
