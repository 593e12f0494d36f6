"""Hostile: exceptions and returned objects that misbehave when gradcli looks at them."""

import time

import torch


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def raises_unprintable(x):
    raise Unprintable()


class Grads(tuple):
    """A tuple of gradients that refuses to be iterated."""

    def __iter__(self):
        raise ValueError("my gradients cannot be iterated")


class OddTuple(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad_output):
        return Grads((2 * grad_output,))


def announced_sleep(x):
    print("about to sleep", flush=True)
    time.sleep(3600)
    return x
