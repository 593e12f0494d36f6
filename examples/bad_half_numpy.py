"""Broken (factor ½): the sum of squares, whose backward drops the 2 of d(x²)/dx = 2x.

    gradcli check examples/bad_half_numpy.py:forward \
        --backward examples/bad_half_numpy.py:backward \
        --numpy --input 2x3

out = Σ x² (a scalar). The gradient is 2x; this backward returns x: ½ × the true one,
diagnosis `constant-factor` (c = ½).
"""


def forward(x):
    return (x**2).sum()


def backward(dout, x):
    return dout * x  # the bug: dout * 2 * x
