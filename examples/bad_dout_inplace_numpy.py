"""Broken (dout overwritten): a ReLU backward that masks the caller's dout in place.

    gradcli check examples/bad_dout_inplace_numpy.py:relu_forward \
        --backward examples/bad_dout_inplace_numpy.py:relu_backward --numpy --input 3x4

dx = dout makes dx another name for the same array, so dx[x <= 0] = 0 also zeroes the
caller's dout, which the layer before may still need. The gradient is right; the side
effect is the bug: diagnosis `in-place`.
"""

import numpy as np


def relu_forward(x):
    return np.maximum(x, 0)


def relu_backward(dout, x):
    dx = dout  # the bug: dx = dout.copy()
    dx[x <= 0] = 0
    return dx
