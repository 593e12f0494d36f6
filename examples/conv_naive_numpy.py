"""Correct: a naive 2-D convolution (stride 1, zero padding 1) as a NumPy pair, loops and all.

    gradcli check examples/conv_naive_numpy.py:conv_forward_naive \
        --backward examples/conv_naive_numpy.py:conv_backward_naive --numpy \
        --input 4x3x5x5 --input 2x3x3x3 --input 2

out[n, f, i, j] = Σ_{c, a, b} xp[n, c, i + a, j + b] · w[f, c, a, b] + b[f], xp = x padded
by 1 on each side. Every loop is written out, as in the CS231n assignment: each call is slow,
which is what benchmarks/bench_check.py measures the check's own cost against.
"""

import numpy as np

PAD = 1


def conv_forward_naive(x, w, b):
    n_samples, _, height, width = x.shape
    filters, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    out_h, out_w = height + 2 * PAD - kh + 1, width + 2 * PAD - kw + 1
    out = np.zeros((n_samples, filters, out_h, out_w))
    for n in range(n_samples):
        for f in range(filters):
            for i in range(out_h):
                for j in range(out_w):
                    out[n, f, i, j] = np.sum(xp[n, :, i : i + kh, j : j + kw] * w[f]) + b[f]
    return out


def conv_backward_naive(dout, x, w, b):
    n_samples, filters, out_h, out_w = dout.shape
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(n_samples):
        for f in range(filters):
            for i in range(out_h):
                for j in range(out_w):
                    g = dout[n, f, i, j]
                    dxp[n, :, i : i + kh, j : j + kw] += g * w[f]
                    dw[f] += g * xp[n, :, i : i + kh, j : j + kw]
    return dxp[:, :, PAD:-PAD, PAD:-PAD], dw, db
