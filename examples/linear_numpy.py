"""Correct: a linear layer out = x Wᵀ + b as a NumPy forward/backward pair (course convention).

    gradcli check examples/linear_numpy.py:forward --backward examples/linear_numpy.py:backward \
        --numpy --input 4x3 --input 2x3 --input 2

x is batch × in, W is out × in (nn.Linear's layout), b is out. For out = x Wᵀ + b:
dx = dout W, dW = doutᵀ x, db = Σ_batch dout.
"""


def forward(x, W, b):
    return x @ W.T + b


def backward(dout, x, W, b):
    dx = dout @ W
    dW = dout.T @ x
    db = dout.sum(axis=0)
    return dx, dW, db
