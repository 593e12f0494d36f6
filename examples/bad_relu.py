"""Broken (missing mask): ReLU's backward passes dout through everywhere.

    gradcli check examples/bad_relu.py:relu_forward --backward examples/bad_relu.py:relu_backward \
        --numpy --input 3x4

relu'(x) is 0 where x < 0, so the gradient must be dout * (x > 0). This one is right where
x > 0 and wrong exactly where x < 0: diagnosis `region` ("where x < 0 … a missing mask").
"""

import numpy as np


def relu_forward(x):
    return np.maximum(x, 0.0)


def relu_backward(dout, x):
    return dout.copy()  # the bug: should be dout * (x > 0)
