"""Correct: batch normalisation (training mode) as a NumPy forward/backward pair.

    gradcli check examples/batchnorm_numpy.py:forward \
        --backward examples/batchnorm_numpy.py:backward \
        --numpy --input 6x3 --input 3 --input 3

x is batch × features; each feature is normalised over the batch, then scaled and shifted:
x̂ = (x − μ) / √(σ² + ε), out = γ x̂ + β, with the biased variance σ². The compact form of dx:
dx = (γ / √(σ² + ε)) · (dout − mean(dout) − x̂ · mean(dout · x̂)), means over the batch.
"""

import numpy as np

EPS = 1e-5


def forward(x, gamma, beta):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + EPS)
    return gamma * xhat + beta


def backward(dout, x, gamma, beta):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + EPS)
    xhat = (x - mu) * inv_std
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    dx = inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
    return dx, dgamma, dbeta
