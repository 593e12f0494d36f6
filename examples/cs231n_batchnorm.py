"""Correct: CS231n's batch normalisation, with its bn_param dict given on the command line.

    gradcli check examples/cs231n_batchnorm.py:batchnorm_forward \
        --backward examples/cs231n_batchnorm.py:batchnorm_backward --numpy \
        --input 6x3 --input 3 --input 3 --kwarg bn_param='{"mode": "train", "eps": 1e-5}'

batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache), as in the assignment: bn_param
is a dict (mode, eps, momentum, running averages), given with --kwarg as JSON; every call gets
a fresh copy of it (the forward writes its running averages into it). The backward is the
staged one, node by node through the computational graph.
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    if mode != "train":
        raise ValueError(f"this example checks the training mode, not {mode!r}")
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu**2).mean(axis=0)
    sqrtvar = np.sqrt(var + eps)
    ivar = 1.0 / sqrtvar
    xhat = xmu * ivar
    out = gamma * xhat + beta
    bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
    bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    cache = (xhat, gamma, xmu, ivar, sqrtvar, var, eps)
    return out, cache


def batchnorm_backward(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / sqrtvar**2 * divar
    dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar
    dsq = np.ones_like(dout) / n * dvar
    dxmu2 = 2 * xmu * dsq
    dx1 = dxmu1 + dxmu2
    dmu = -(dx1.sum(axis=0))
    dx2 = np.ones_like(dout) / n * dmu
    return dx1 + dx2, dgamma, dbeta
