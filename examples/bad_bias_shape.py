"""Broken (wrong shape): the bias gradient is not summed over the batch.

    gradcli check examples/bad_bias_shape.py:forward \
        --backward examples/bad_bias_shape.py:backward \
        --numpy --input 4x3 --input 2x3 --input 2

b has shape (2,), so db must too: db = dout.sum(axis=0). Returning dout (4 × 2) is the
gradient of every sample separately: diagnosis `wrong-shape` (sum it over the batch).
"""


def forward(x, W, b):
    return x @ W.T + b


def backward(dout, x, W, b):
    return dout @ W, dout.T @ x, dout  # the bug: dout.sum(axis=0)
