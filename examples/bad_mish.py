"""Broken (product rule cut short): a Mish backward that differentiates only tanh(softplus(x)).

    gradcli check examples/bad_mish.py:Mish --input 6

mish(x) = x · t with t = tanh(softplus(x)), so mish' = t + x · t', t' = σ(x)(1 − t²). This
backward (a bug once found in a public activation library) returns dout · t' alone: the
term t and the factor x are missing. The forward is recognised as mish, and the backward
as the derivative of its intermediate value t: diagnosis `missing-factor`.
"""

import torch
import torch.nn.functional as F


class Mish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.tanh(F.softplus(x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        t = torch.tanh(F.softplus(x))
        return grad_output * torch.sigmoid(x) * (1 - t * t)  # the bug: t + x * (…) is right
