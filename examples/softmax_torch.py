"""Correct: softmax over the last dimension as a torch.autograd.Function.

    gradcli check examples/softmax_torch.py:Softmax --input 2x4 --order 2

da = p · (dout − Σ_j dout_j p_j), written with the saved output p.
"""

import torch


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        p = torch.softmax(a, dim=-1)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad_p):
        (p,) = ctx.saved_tensors
        return p * (grad_p - (grad_p * p).sum(dim=-1, keepdim=True))
