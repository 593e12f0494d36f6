"""Broken (upstream passed through): a cube whose backward returns dout unchanged.

    gradcli check examples/bad_identity_numpy.py:cube_forward \
        --backward examples/bad_identity_numpy.py:cube_backward --numpy --input 4

y = x³ has y' = 3x²; this backward returns dout as it came, the local derivative never
multiplied in: diagnosis `identity-upstream`.
"""

import numpy as np


def cube_forward(x):
    return np.power(x, 3)


def cube_backward(dout, x):
    dx = dout.copy()  # the bug: dx = 3 * x**2 * dout
    return dx
