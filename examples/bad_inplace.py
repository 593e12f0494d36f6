"""Broken (in-place): ReLU's forward clips its input array in place.

    gradcli check examples/bad_inplace.py:forward --backward examples/bad_inplace.py:backward \
        --numpy --input 2x3

x[x < 0] = 0 changes the caller's x: its gradient check passes, but the layer below (or
the caller's next use of x) sees different numbers. Diagnosis `in-place`.
"""


def forward(x):
    x[x < 0] = 0.0  # the bug: work on a copy, e.g. np.maximum(x, 0)
    return x


def backward(dout, x):
    return dout * (x > 0)
