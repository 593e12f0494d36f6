"""Broken by design (not a bug): a gradient reversal layer, λ = 0.5.

    gradcli check examples/gradient_reversal.py:GradReverse --input 2x3

Domain-adversarial training puts it between a feature extractor and a domain classifier:
the forward is the identity, the backward returns −λ·dout. The check fails (exit 1: the
derivative of the identity is dout) and says what the code is: diagnosis `gradient-reversal`.
"""

import torch

LAMBDA = 0.5


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -LAMBDA * grad_output
