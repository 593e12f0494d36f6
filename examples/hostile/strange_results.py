"""Hostile: backwards and forwards whose results are not plain dense CPU float tensors."""

import torch


def _function(grad):
    """An autograd.Function y = 2x whose backward returns grad(grad_output)."""

    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad_output):
            return grad(grad_output)

    return Double


MetaGrad = _function(lambda g: torch.empty_like(g, device="meta"))
SparseGrad = _function(lambda g: (2 * g).to_sparse())
ComplexGrad = _function(lambda g: (2 * g).to(torch.complex128))
IntegerGrad = _function(lambda g: (1.999 * g).long())  # truncated: 1.999 → 1, not 2


def empty_forward(x):
    return x[:0]


def meta_forward(x):
    return torch.empty_like(x, device="meta")


def sparse_forward(x):
    return (2 * x).to_sparse()


def complex_forward(x):
    return x.to(torch.complex128) * 1j


def integer_forward(x):
    return (10 * x).long()
