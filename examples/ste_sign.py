"""Broken by design (not a bug): a straight-through estimator for sign(x), clipped.

    gradcli check examples/ste_sign.py:SignSTE --input=-2,-0.7,-0.2,0.4,0.9,1.6

sign(x) is piecewise constant: its true gradient is 0 wherever it is defined. Binary
networks train through it with a surrogate: dout where |x| ≤ 1, 0 elsewhere. The check
fails (exit 1: the backward is not the derivative) and says what the code is: diagnosis
`straight-through`.
"""

import torch


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype)
