"""Correct: CS231n's affine layer as the assignment writes it: forward -> (out, cache).

    gradcli check examples/cs231n_affine.py:affine_forward \
        --backward examples/cs231n_affine.py:affine_backward --numpy \
        --input 2x4x3 --input 12x5 --input 5

The CS231n convention: the forward returns (out, cache), the backward takes (dout, cache) and
returns one gradient per input. x of shape (N, d_1, …, d_k) is flattened to N × D rows:
out = x.reshape(N, D) @ w + b, so dx = dout @ wᵀ (back in x's shape), dw = xᵀ dout,
db = Σ_N dout. gradcli recognises the convention from the backward's (dout, cache).
"""

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, _ = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db
