"""The layer registry: every layer whose backward pass people derive by hand, defined once.

Each record holds torch's forward (whose backward is what autograd reports), the backward
pass written from its closed form with plain tensor algebra (never ``torch.autograd``,
never ``torch.nn.grad``, never an aten ``*_backward`` op), the formulas as text, the
parameters with torch's defaults and their checks, the inputs and the shape rules, the
quantities ``--steps`` shows and the slips ``--expect`` looks for. The CLI, ``--list``,
the docs table and the tests all iterate over :data:`LAYERS`.

One module per family holds its layers' records next to their maths: ``linear``, ``norm``
(batchnorm, layernorm, rmsnorm), ``conv``, ``pool``, ``dropout``, ``embedding``,
``attention``, ``recurrent`` (rnn, lstm, gru); ``base`` holds the record types and shared
helpers, ``plan`` the checks and estimates made before any tensor exists. This module joins
them into one table, in the order ``--list`` and the docs show.

The scalar differentiated is L = Σ G ⊙ y, with y the layer's output and G the upstream
gradient, so every backward maps G to ∂L/∂input.

Importing this package does not import torch: shapes and parameters are checked in plain
Python, before any tensor exists.
"""

from __future__ import annotations

from typing import Any

from gradcli.errors import unknown
from gradcli.ops.layers.attention import ATTENTION
from gradcli.ops.layers.base import (
    FLOAT_EPS,
    MAX_DIMS,
    STEP_LINES,
    FinalOutput,
    Layer,
    LayerInput,
    LayerParam,
    Params,
    Shape,
    Shapes,
    Step,
    Tensors,
    dims_text,
    option,
)
from gradcli.ops.layers.conv import (
    CONV1D,
    CONV2D,
    conv2d_input_gradient,
    conv2d_input_parts,
    conv2d_weight_gradient,
)
from gradcli.ops.layers.dropout import DROPOUT
from gradcli.ops.layers.embedding import EMBEDDING
from gradcli.ops.layers.linear import LINEAR
from gradcli.ops.layers.norm import BATCHNORM, LAYERNORM, RMSNORM
from gradcli.ops.layers.plan import (
    LISTS_PER_ENTRY,
    PYTHON_FLOAT_BYTES,
    Given,
    Plan,
    memory_estimate,
    plan,
    slice_cost,
    slice_elements,
)
from gradcli.ops.layers.pool import AVGPOOL2D, MAXPOOL2D, POOL_WINDOW
from gradcli.ops.layers.recurrent import GRU, LSTM, RNN

__all__ = [
    "FLOAT_EPS",
    "LAYERS",
    "LAYER_LIST",
    "LISTS_PER_ENTRY",
    "MAX_DIMS",
    "POOL_WINDOW",
    "PYTHON_FLOAT_BYTES",
    "STEP_LINES",
    "FinalOutput",
    "Given",
    "Layer",
    "LayerInput",
    "LayerParam",
    "Params",
    "Plan",
    "Shape",
    "Shapes",
    "Step",
    "Tensors",
    "conv2d_input_gradient",
    "conv2d_input_parts",
    "conv2d_weight_gradient",
    "dims_text",
    "get_layer",
    "listing",
    "listing_entries",
    "markdown_table",
    "memory_estimate",
    "option",
    "plan",
    "slice_cost",
    "slice_elements",
    "solution_keys",
]


LAYER_LIST: tuple[Layer, ...] = (
    LINEAR,
    BATCHNORM,
    LAYERNORM,
    RMSNORM,
    CONV1D,
    CONV2D,
    MAXPOOL2D,
    AVGPOOL2D,
    DROPOUT,
    EMBEDDING,
    ATTENTION,
    RNN,
    LSTM,
    GRU,
)
LAYERS: dict[str, Layer] = {layer.name: layer for layer in LAYER_LIST}


def get_layer(name: str) -> Layer:
    """The registry record called ``name``; an InputError with a suggestion otherwise."""
    key = name.strip().lower()
    if key not in LAYERS:
        raise unknown("layer", name, LAYERS)
    return LAYERS[key]


# ---------------------------------------------------------------- listing and docs


def listing() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(name, summary, [(label, text)…]) per layer: inputs, parameters, forward, backward."""
    blocks = []
    for layer in LAYER_LIST:
        inputs = ", ".join(
            f"{i.name} ({i.shape}{', or none' if i.none_allowed else ''})" for i in layer.inputs
        )
        lines = [
            ("inputs", inputs),
            ("parameters", ", ".join(p.describe() for p in layer.params) or "—"),
            ("forward", layer.forward_formula),
        ]
        lines += [("backward", layer.backward_formulas[n]) for n in layer.gradient_names]
        lines.append(("--expect keys", ", ".join(solution_keys(layer))))
        blocks.append((layer.name, layer.summary, lines))
    return blocks


def solution_keys(layer: Layer) -> list[str]:
    """The keys ``--expect KEY=`` takes for this layer: y, the intermediates of --steps (some
    only with some parameters, e.g. conv's x_pad with padding), the gradients by input name."""
    return ["y", *(key for key, _ in layer.step_keys), *layer.gradient_names]


def listing_entries() -> list[dict[str, Any]]:
    """One machine-readable entry per layer (``layer --list --json``)."""
    return [
        {
            "name": layer.name,
            "summary": layer.summary,
            "inputs": [
                f"{i.name} ({i.shape}{', or none' if i.none_allowed else ''})" for i in layer.inputs
            ],
            "params": {p.name: _entry_default(p) for p in layer.params},
            "formula": layer.forward_formula,
            "backward": {n: layer.backward_formulas[n] for n in layer.gradient_names},
            "keys": {
                "y": "the output",
                **dict(layer.step_keys),
                **{n: f"∂L/∂{n}" for n in layer.gradient_names},
            },
        }
        for layer in LAYER_LIST
    ]


def _entry_default(param: LayerParam) -> Any:
    if param.required:
        return "required"
    if param.default is None:
        return param.default_text or None
    return list(param.default) if isinstance(param.default, tuple) else param.default


def markdown_table() -> str:
    """The layers as a Markdown table (docs/layer.md is generated from it)."""
    lines = [
        "| name | inputs | parameters (torch defaults) | forward | backward (analytic side) |",
        "|---|---|---|---|---|",
    ]
    for layer in LAYER_LIST:
        inputs = ", ".join(
            f"`{i.name}` ({i.shape}{', or none' if i.none_allowed else ''})" for i in layer.inputs
        )
        params = ", ".join(p.describe() for p in layer.params) or "—"
        backward = "<br>".join(layer.backward_formulas[n] for n in layer.gradient_names)
        cells = (layer.name, inputs, params, layer.forward_formula, backward)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
