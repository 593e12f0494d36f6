"""The registries: every activation, loss and layer gradcli differentiates, defined once.

One module per registry — ``activations``, ``losses``, ``layers`` (a package, one module
per family of layers behind one ``LAYERS`` table), ``network`` (the perceptron's checked
plan) and ``softmax`` (what softmax-jacobian accepts). Each record holds an op's forward,
its derivative written by hand, its formulas as text, its parameters and its slips; the
commands, ``--list``, the docs and the tests iterate over them.

Importing them does not import torch (``gradcli._torch`` loads it on first use); nothing
here imports typer or rich.
"""
