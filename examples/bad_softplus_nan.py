"""Broken (NaN): softplus's backward written as eˣ / (1 + eˣ), which overflows for large x.

    gradcli check examples/bad_softplus_nan.py:forward \
        --backward examples/bad_softplus_nan.py:backward \
        --numpy --input 1,-3,800

The forward is the stable log(1 + eˣ) = logaddexp(0, x), finite at x = 800. Its derivative is
σ(x); but eˣ/(1 + eˣ) is ∞/∞ = NaN there (NumPy warns about the overflow on stderr). The
stable form is 1 / (1 + e⁻ˣ) or scipy.special.expit: diagnosis `non-finite`.
"""

import numpy as np


def forward(x):
    return np.logaddexp(0.0, x)


def backward(dout, x):
    return dout * np.exp(x) / (1.0 + np.exp(x))  # the bug: unstable for large x
