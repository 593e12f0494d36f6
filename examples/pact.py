"""Correct: PACT's clipped activation with a learnable 0-d clipping level α.

    gradcli check examples/pact.py:PACT --input 2x5 --input scalar:0.6

y = clip(x, 0, α): ∂y/∂x = 1 where 0 < x < α (else 0), ∂y/∂α = 1 where x ≥ α. α is one
number, a 0-d tensor (--input scalar:0.6); its gradient sums over every entry and is 0-d too.
Random inputs stay away from 0, and from α here (|x| ≤ 1 drawn, α = 0.6: a few entries may
sit near the kink at α, and their finite differences are then not judged).
"""

import torch


class PACT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x, alpha)
        return torch.clamp(x, min=0.0) - torch.clamp(x - alpha, min=0.0)

    @staticmethod
    def backward(ctx, grad_output):
        x, alpha = ctx.saved_tensors
        inside = (x > 0) & (x < alpha)
        grad_x = grad_output * inside.to(grad_output.dtype)
        grad_alpha = (grad_output * (x >= alpha).to(grad_output.dtype)).sum()
        return grad_x, grad_alpha
