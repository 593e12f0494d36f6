"""gradcli: gradients three ways — analytic formula, torch autograd, finite differences."""

__version__ = "0.1.0"
