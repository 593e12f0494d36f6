"""Correct: a 1-D convolution (cross-correlation, stride 1, no padding) as a NumPy pair.

    gradcli check examples/conv1d_numpy.py:forward --backward examples/conv1d_numpy.py:backward \
        --numpy --input 2x3x7 --input 4x3x3 --input 4

x is batch × in-channels × length, w is out-channels × in-channels × kernel, b is
out-channels; out[n, o, t] = b[o] + Σ_c Σ_k w[o, c, k] · x[n, c, t + k], as torch's conv1d.
"""

import numpy as np


def forward(x, w, b):
    n, _, length = x.shape
    o, _, k = w.shape
    out = np.empty((n, o, length - k + 1))
    for t in range(length - k + 1):
        out[:, :, t] = np.einsum("nck,ock->no", x[:, :, t : t + k], w)
    return out + b[None, :, None]


def backward(dout, x, w, b):
    k = w.shape[2]
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for t in range(dout.shape[2]):
        dx[:, :, t : t + k] += np.einsum("no,ock->nck", dout[:, :, t], w)
        dw += np.einsum("no,nck->ock", dout[:, :, t], x[:, :, t : t + k])
    db = dout.sum(axis=(0, 2))
    return dx, dw, db
