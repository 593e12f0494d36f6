"""gradcli: gradients three ways — analytic formula, torch autograd, finite differences.

From Python (docs/python.md), one function per command, returning the result the command
line renders::

    import gradcli
    r = gradcli.activation("sigmoid", [0, 0.5], expect=[0.25, 0.235])
    assert r  # everything agrees and the answer matches

Importing gradcli loads neither torch nor the command line: the first computation does.
"""

import sys as _sys
import types as _types

__version__ = "0.1.0"

from gradcli.api import (
    GradientMismatch,
    InputError,
    activation,
    check,
    expr,
    layer,
    loss,
    optim,
    perceptron,
    softmax_jacobian,
)

__all__ = [
    "GradientMismatch",
    "InputError",
    "activation",
    "check",
    "expr",
    "layer",
    "loss",
    "optim",
    "perceptron",
    "softmax_jacobian",
]


class _Package(_types.ModuleType):
    """``gradcli.expr`` is the function (``gradcli.expr("x^2", at={"x": 1})``), also after
    the subpackage of the same name (gradcli/expr/, the expression language) is imported:
    Python would otherwise set the attribute to the subpackage. The subpackage stays
    importable by its full name (``from gradcli.expr.language import parse``)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in __all__ and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
