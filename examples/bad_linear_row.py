"""Broken (one row wrong): a loop over the output units that starts at 1, not 0.

    gradcli check examples/bad_linear_row.py:Linear --input 4x3 --input 3x3

out = x Wᵀ; dW[k] = Σ_n dout[n, k] x[n] for every output unit k. The loop skips k = 0, so
row 0 of dW stays zero: diagnosis `region` (row 0 of W).
"""

import torch


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W):
        ctx.save_for_backward(x, W)
        return x @ W.T

    @staticmethod
    def backward(ctx, grad_out):
        x, W = ctx.saved_tensors
        dW = torch.zeros_like(W)
        for k in range(1, W.shape[0]):  # the bug: range(W.shape[0])
            dW[k] = grad_out[:, k] @ x
        return grad_out @ W, dW
