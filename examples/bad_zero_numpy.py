"""Broken (zero): exp's backward returns a fresh zero array instead of filling it in.

    gradcli check examples/bad_zero_numpy.py:forward \
        --backward examples/bad_zero_numpy.py:backward \
        --numpy --input 4

dx = np.zeros_like(x) is created, then the line that should fill it writes to another name.
The gradient is 0 everywhere while the true one, dout · eˣ, is not: diagnosis `zero`.
"""

import numpy as np


def forward(x):
    return np.exp(x)


def backward(dout, x):
    dx = np.zeros_like(x)
    dX = dout * np.exp(x)  # noqa: F841  (the bug: dx = …)
    return dx
