"""Hostile: the import switches autograd off for everyone and asks for many threads."""

import torch

torch.set_grad_enabled(False)
torch.set_num_threads(4)


def forward(x):
    return x * x
