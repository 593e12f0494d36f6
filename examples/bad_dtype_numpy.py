"""Broken (wrong dtype): the gradient array is allocated as integers.

    gradcli check examples/bad_dtype_numpy.py:forward \
        --backward examples/bad_dtype_numpy.py:backward \
        --numpy --input 2,-1,3

dx = np.zeros(x.shape, dtype=int) truncates every value written into it: the gradient of
3x² comes back as int64, its fractions dropped: diagnosis `wrong-dtype`.
"""

import numpy as np


def forward(x):
    return 3 * x**2


def backward(dout, x):
    dx = np.zeros(x.shape, dtype=int)  # the bug: np.zeros_like(x) keeps float64
    dx[:] = 6 * x * dout
    return dx
