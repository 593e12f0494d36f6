"""Broken (upstream ignored): tanh's backward returns 1 − tanh² without multiplying by dout.

    gradcli check examples/bad_tanh_upstream.py:Tanh --input 4

The chain rule needs grad_output · (1 − y²). Without it the result is the same whatever
dout is: diagnosis `upstream-ignored`.
"""

import torch


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return 1 - y**2  # the bug: grad_output * (1 - y**2)
