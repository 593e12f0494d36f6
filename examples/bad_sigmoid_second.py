"""Broken (wrong second derivative): the first derivative is right, its own derivative is not.

    gradcli check examples/bad_sigmoid_second.py:Sigmoid --input 5 --order 2

backward uses the output y saved with .detach(): the value is right, so the first-order check
passes, but the backward no longer depends on x through autograd, so differentiating it
(double backward, gradgradcheck) misses σ'' entirely: diagnosis `detached` at order 2.
"""

import torch


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y.detach())  # the bug: save y itself
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y * (1 - y)
