"""Correct: a 1-D convolution as a torch.autograd.Function built on torch's conv1d.

    gradcli check examples/conv1d_torch.py:Conv1d --input 2x3x7 --input 4x3x3 --input 4

The input gradient is a transposed convolution of dout with w; the weight gradient
correlates x with dout (torch.nn.grad does both); the bias gradient sums dout.
"""

import torch
import torch.nn.functional as F


class Conv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return F.conv1d(x, w, b)

    @staticmethod
    def backward(ctx, dout):
        x, w = ctx.saved_tensors
        dx = torch.nn.grad.conv1d_input(x.shape, w, dout)
        dw = torch.nn.grad.conv1d_weight(x, w.shape, dout)
        return dx, dw, dout.sum(dim=(0, 2))
