"""Broken (a chain-rule factor forgotten): y = √(1 + eˣ) without the inner derivative eˣ.

    gradcli check examples/bad_missing_factor_numpy.py:forward \
        --backward examples/bad_missing_factor_numpy.py:backward --numpy --input 2x3

dy/dx = eˣ / (2√(1 + eˣ)): the outer derivative 1/(2√u) times the inner one, eˣ. This
backward forgets the inner one, a value the forward computes (np.exp(x)): diagnosis
`missing-factor`, naming exp(x).
"""

import numpy as np


def forward(x):
    e = np.exp(x)
    return np.sqrt(1 + e)


def backward(dout, x):
    return dout * 0.5 / np.sqrt(1 + np.exp(x))  # the bug: * np.exp(x) is missing
