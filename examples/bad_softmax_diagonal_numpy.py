"""Broken (diagonal only): a softmax backward that keeps p_i(1 − p_i) and drops −p_i·p_j.

    gradcli check examples/bad_softmax_diagonal_numpy.py:softmax_forward \
        --backward examples/bad_softmax_diagonal_numpy.py:softmax_backward --numpy --input 2x4

Each p_i depends on every logit, so ∂p_i/∂a_j = p_i(δ_ij − p_j) is a full matrix per row;
this backward multiplies dout elementwise by its diagonal. The forward is recognised as
softmax along the last dimension and the slip named: diagnosis `known-slip`.
"""

import numpy as np


def softmax_forward(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dout, a):
    p = softmax_forward(a)
    return dout * p * (1 - p)  # the bug: p * (dout - (dout * p).sum(axis=-1, keepdims=True))
