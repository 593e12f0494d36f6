"""Broken (factor 2): out = ½x², whose derivative is x, but backward returns 2x.

    gradcli check examples/bad_square_factor2.py:forward \
        --backward examples/bad_square_factor2.py:backward --numpy --input 5

The ½ of the forward was forgotten in the backward: every entry is 2 × the true one,
diagnosis `constant-factor` (c = 2).
"""


def forward(x):
    return 0.5 * x**2


def backward(dout, x):
    return dout * 2 * x  # the bug: d(½x²)/dx = x
