"""Hostile: a forward that switches autograd off for everyone (and other global state)."""

import torch


def forward(x):
    torch.set_grad_enabled(False)
    return x * 3


def forward_state(x):
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    return x * 3


def noisy(x):
    """A forward that draws random numbers: each call must start from the same state."""
    return x + 0.5 * x * torch.rand(())
