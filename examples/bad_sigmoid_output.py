"""Broken (the function for its derivative): a sigmoid whose backward multiplies by σ(x).

    gradcli check examples/bad_sigmoid_output.py:Sigmoid --input 6

The forward is recognised as sigmoid, and the backward returns dout · σ(x), the forward's
value, where dout · σ(x)(1 − σ(x)) is right: diagnosis `known-slip`.
"""

import torch


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = 1 / (1 + torch.exp(-x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return grad_output * out  # the bug: out * (1 - out) is the derivative
