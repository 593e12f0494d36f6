"""Broken (wrong type): backward returns a number, not an array of the input's shape.

    gradcli check examples/bad_type_numpy.py:forward \
        --backward examples/bad_type_numpy.py:backward \
        --numpy --input 3

out = Σ x² is a scalar, but its gradient has one entry per x: 2x · dout. Returning
float((2 * x * dout).sum()) collapses it to one Python number: diagnosis `wrong-type`.
"""


def forward(x):
    return (x**2).sum()


def backward(dout, x):
    return float((2 * x * dout).sum())  # the bug: return 2 * x * dout
