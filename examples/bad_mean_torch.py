"""Broken (factor N): the mean over the batch, whose backward forgets to divide by N.

    gradcli check examples/bad_mean_torch.py:BatchMean --input 8x3

out = x.mean(dim=0) averages N = 8 samples, so each sample's gradient is dout / N. This
backward returns dout for every sample: N × the true gradient, diagnosis `constant-factor`
(c = N = 8, the batch size).
"""

import torch


class BatchMean(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.batch = x.shape[0]
        return x.mean(dim=0)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.expand(ctx.batch, -1).clone()  # the bug: / ctx.batch is missing
