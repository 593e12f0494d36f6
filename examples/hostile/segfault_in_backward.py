"""Hostile: a hard crash (a segmentation fault, as a broken extension gives) in backward."""

import ctypes

import torch


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad_output):
        ctx_crash()
        return 2 * grad_output


def ctx_crash():
    ctypes.string_at(0)  # reads address 0: SIGSEGV
