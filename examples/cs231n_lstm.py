"""Correct: CS231n's LSTM step: two outputs (next_h, next_c), one upstream gradient for each.

    gradcli check examples/cs231n_lstm.py:lstm_step_forward \
        --backward examples/cs231n_lstm.py:lstm_step_backward --numpy \
        --input 2x3 --input 2x4 --input 2x4 --input 3x16 --input 4x16 --input 16

lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b) -> (next_h, next_c, cache) and
lstm_step_backward(dnext_h, dnext_c, cache) -> (dx, dprev_h, dprev_c, dWx, dWh, db): the
forward has two outputs, so the backward gets one upstream per output. gradcli names the
outputs from the backward's parameters (dnext_h → next_h) and checks the Jacobian of both.
Gates: a = x Wx + prev_h Wh + b, split into i, f, o (sigmoid) and g (tanh);
next_c = f ⊙ prev_c + i ⊙ g, next_h = o ⊙ tanh(next_c).
"""

import numpy as np


def sigmoid(x):
    z = np.exp(-np.abs(x))  # stable: never exp of a large positive number
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    h = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i = sigmoid(a[:, :h])
    f = sigmoid(a[:, h : 2 * h])
    o = sigmoid(a[:, 2 * h : 3 * h])
    g = np.tanh(a[:, 3 * h :])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tanh_c = np.tanh(next_c)
    do = dnext_h * tanh_c
    dc = dnext_c + dnext_h * o * (1 - tanh_c**2)
    df = dc * prev_c
    dprev_c = dc * f
    di = dc * g
    dg = dc * i
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)])
    dx = da.dot(Wx.T)
    dprev_h = da.dot(Wh.T)
    dWx = x.T.dot(da)
    dWh = prev_h.T.dot(da)
    db = da.sum(axis=0)
    return dx, dprev_h, dprev_c, dWx, dWh, db
