"""Correct: mean softmax cross-entropy with integer class labels, as a NumPy pair.

    gradcli check examples/cross_entropy_numpy.py:forward \
        --backward examples/cross_entropy_numpy.py:backward --numpy --input 4x3 --input int:4:3

The labels y are an int:SHAPE:HIGH input: integers, no gradient. backward returns one value
per float input (dlogits only). L = −(1/N) Σ_n log p[n, y_n], dlogits = (p − onehot(y)) / N.
"""

import numpy as np


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(logits, y):
    p = _softmax(logits)
    return -np.log(p[np.arange(len(y)), y]).mean()


def backward(dout, logits, y):
    p = _softmax(logits)
    p[np.arange(len(y)), y] -= 1.0
    return dout * p / len(y)
