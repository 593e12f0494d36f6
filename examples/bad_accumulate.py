"""Broken (non-deterministic): backward accumulates into a buffer that is never reset.

    gradcli check examples/bad_accumulate.py:forward \
        --backward examples/bad_accumulate.py:backward \
        --numpy --input 3

The first call is right; every later call adds to the previous result. Two calls with the
same inputs give different gradients: diagnosis `non-deterministic`.
"""

import numpy as np

_grad = None


def forward(x):
    return np.sin(x)


def backward(dout, x):
    global _grad
    if _grad is None:
        _grad = np.zeros_like(x)
    _grad += dout * np.cos(x)  # the bug: a fresh array each call (or reset it first)
    return _grad.copy()
