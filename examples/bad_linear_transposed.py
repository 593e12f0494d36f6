"""Broken (transposed): the weight gradient of a linear layer computed as xᵀ dout.

    gradcli check examples/bad_linear_transposed.py:forward \
        --backward examples/bad_linear_transposed.py:backward --numpy \
        --input 5x4 --input 4x4 --input 4

For out = x Wᵀ + b with W of shape out × in, dW = doutᵀ x. Writing xᵀ dout gives the
transpose; with a square W the shape still fits, so only the values betray it:
diagnosis `transposed`.
"""


def forward(x, W, b):
    return x @ W.T + b


def backward(dout, x, W, b):
    dx = dout @ W
    dW = x.T @ dout  # the bug: dout.T @ x
    db = dout.sum(axis=0)
    return dx, dW, db
