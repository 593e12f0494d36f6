"""Correct: softmax over the last axis as a NumPy forward/backward pair.

    gradcli check examples/softmax_numpy.py:forward --backward examples/softmax_numpy.py:backward \
        --numpy --input 2x4

p = softmax(a) (shifted by the row maximum, so large logits do not overflow). Its Jacobian
is ∂p_i/∂a_j = p_i(δ_ij − p_j), so the vector–Jacobian product is da = p · (dout − Σ_j dout_j p_j).
"""

import numpy as np


def forward(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def backward(dout, a):
    p = forward(a)
    return p * (dout - (dout * p).sum(axis=-1, keepdims=True))
