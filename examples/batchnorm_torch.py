"""Correct: batch normalisation (training mode) as a torch forward/backward pair.

    gradcli check examples/batchnorm_torch.py:forward \
        --backward examples/batchnorm_torch.py:backward \
        --input 6x3 --input 3 --input 3

The same formulas as batchnorm_numpy.py with torch tensors (var with unbiased=False, as
BatchNorm uses in training).
"""

import torch

EPS = 1e-5


def forward(x, gamma, beta):
    mu = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    xhat = (x - mu) / torch.sqrt(var + EPS)
    return gamma * xhat + beta


def backward(dout, x, gamma, beta):
    mu = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    inv_std = 1.0 / torch.sqrt(var + EPS)
    xhat = (x - mu) * inv_std
    dxhat = dout * gamma
    dx = inv_std * (dxhat - dxhat.mean(dim=0) - xhat * (dxhat * xhat).mean(dim=0))
    return dx, (dout * xhat).sum(dim=0), dout.sum(dim=0)
