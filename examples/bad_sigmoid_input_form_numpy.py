"""Broken (output form on the input): σ'(x) written as x(1 − x), a NumPy pair.

    gradcli check examples/bad_sigmoid_input_form_numpy.py:sigmoid_forward \
        --backward examples/bad_sigmoid_input_form_numpy.py:sigmoid_backward --numpy --input 2x3

σ' = σ(1 − σ) is a formula in the *output* σ(x); this backward applies it to the input x.
The forward is recognised as sigmoid and the slip named: diagnosis `known-slip`.
"""

import numpy as np


def sigmoid_forward(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_backward(dout, x):
    return dout * x * (1 - x)  # the bug: s = sigmoid_forward(x); s * (1 - s) is right
