"""Broken (diagonal only): dividing by the row norm, differentiated as if elementwise.

    gradcli check examples/bad_normalise_diagonal_numpy.py:forward \
        --backward examples/bad_normalise_diagonal_numpy.py:backward --numpy --input 2x3

y = x / ‖x‖ per row: every y_i depends on every x_j, ∂y_i/∂x_j = (δ_ij − y_i·y_j)/‖x‖. This
backward keeps only ∂y_i/∂x_i = (1 − y_i²)/‖x‖, times dout_i: diagnosis `diagonal-only`.
"""

import numpy as np


def forward(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def backward(dout, x):
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    y = x / norm
    return dout * (1 - y**2) / norm  # the bug: (dout - y * (dout * y).sum(1, keepdims=True)) / norm
