"""Broken (a mean along the wrong dimension): row sums, differentiated as row means.

    gradcli check examples/bad_mean_columns_numpy.py:forward \
        --backward examples/bad_mean_columns_numpy.py:backward --numpy --input 3x5

out[n] = Σ_j x[n, j] sums each row's 5 columns, so ∂out[n]/∂x[n, j] = 1. This backward
divides by the number of columns as if the forward took the mean: 1/N × the true gradient
with N = 5, x's columns: diagnosis `mean-vs-sum`.
"""

import numpy as np


def forward(x):
    return x.sum(axis=1)


def backward(dout, x):
    columns = x.shape[1]
    return np.repeat(dout[:, None], columns, axis=1) / columns  # the bug: no / columns
