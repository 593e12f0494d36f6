"""Hostile: os._exit(0) inside an autograd.Function's backward."""

import os

import torch


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad_output):
        os._exit(0)
