"""Broken (inputs swapped): the product x · y returns its two gradients in the wrong order.

    gradcli check examples/bad_mul_swapped.py:forward \
        --backward examples/bad_mul_swapped.py:backward \
        --numpy --input 2x3 --input 2x3

∂(xy)/∂x = y and ∂(xy)/∂y = x, so backward must return (dout·y, dout·x). This one returns
(dout·x, dout·y): each is the true gradient of the other input, diagnosis `wrong-input`.
"""


def forward(x, y):
    return x * y


def backward(dout, x, y):
    return dout * x, dout * y  # the bug: (dout * y, dout * x)
