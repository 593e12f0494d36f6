"""Broken (missing mask): ReLU as a torch.autograd.Function whose backward forgets x > 0.

    gradcli check examples/bad_relu_torch.py:ReLU --input 3x4

Right where x > 0, wrong exactly where x < 0: diagnosis `region` (a missing mask).
"""

import torch


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.clone()  # the bug: grad_output * (x > 0)
