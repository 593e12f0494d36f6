"""A CS231n-style inverted dropout in NumPy: the mask comes from NumPy's global generator.

    gradcli check examples/hostile/numpy_dropout.py:dropout_forward \
        --backward examples/hostile/numpy_dropout.py:dropout_backward --numpy --input 2x3

Every call of the forward starts from the same NumPy random state, so the finite differences
see one function and the backward (which reuses the forward's mask) is right. Python's
``random`` gets the same treatment (``python_dropout``).
"""

import random

import numpy as np


def dropout_forward(x, p=0.5):
    mask = (np.random.rand(*x.shape) >= p) / (1 - p)
    return x * mask, mask


def dropout_backward(dout, cache):
    return dout * cache


def python_dropout_forward(x):
    mask = np.array([random.random() >= 0.5 for _ in range(x.size)]).reshape(x.shape) * 2.0
    return x * mask, mask


def relu_forward(x):
    """A NumPy forward checked without --numpy: torch refuses np.maximum on a tensor that
    requires grad, and gradcli says to add --numpy."""
    return np.maximum(0, x), x
