"""Broken (upstream ignored): a scaling layer out = 3x whose backward returns 3 everywhere.

    gradcli check examples/bad_scale_upstream_numpy.py:forward \
        --backward examples/bad_scale_upstream_numpy.py:backward --numpy --input 3

dx must be 3 · dout; returning the local derivative alone ignores the upstream gradient:
diagnosis `upstream-ignored` (it returns the gradient for dout = ones).
"""

import numpy as np


def forward(x):
    return 3.0 * x


def backward(dout, x):
    return np.full_like(x, 3.0)  # the bug: 3.0 * dout
