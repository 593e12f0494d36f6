"""A layer check planned before any tensor exists: every input's shape checked, the
parameters resolved, the memory and the work estimated from shapes alone (no torch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcli.errors import InputError
from gradcli.ops.layers.base import (
    MAX_DIMS,
    Layer,
    LayerInput,
    Params,
    Shape,
    Shapes,
    _prod,
    dims_text,
    option,
)


@dataclass(frozen=True)
class Given:
    """One input as the user gave it: values (flat, row-major) with a shape, or a shape
    to draw from the seed, or ``none``."""

    values: tuple[float, ...] | None = None
    shape: Shape | None = None
    none: bool = False


@dataclass(frozen=True)
class Plan:
    """A checked request: every shape known, parameters resolved, the work sized."""

    layer: Layer
    params: dict[str, Any]
    shapes: dict[str, Shape | None]  # None: the input is left out (`none`)
    sources: dict[str, str]  # "given", "drawn", "default" (torch's ones/zeros) or "none"
    values: dict[str, tuple[float, ...]]  # the given inputs' values
    output_shape: Shape
    bytes_needed: int
    multiply_adds: int  # one forward pass (finite differences have the engine's own budget)
    notes: list[str] = field(default_factory=list)
    given_shapes: dict[str, Shape] = field(default_factory=dict)  # as written, before reshape
    # how each drawn or default input is made (LayerInput.init; "normal" for --x-shape & co.)
    inits: dict[str, str] = field(default_factory=dict)
    fixed_work: int = 0  # beyond the forward passes (Layer.fixed_work)


def plan(
    layer: Layer, given: Mapping[str, Given], param_items: Sequence[str], dtype: str = "float64"
) -> Plan:
    """Check every input's shape and every parameter before any tensor is made."""
    extra = set(given) - set(layer.input_names)
    if extra:
        name = sorted(extra)[0]
        raise InputError(_not_an_input(layer, name))
    params = layer.resolve_params(param_items)
    shapes: dict[str, Shape | None] = {}
    sources: dict[str, str] = {}
    values: dict[str, tuple[float, ...]] = {}
    given_shapes: dict[str, Shape] = {}
    inits: dict[str, str] = {}
    for item in layer.inputs:  # what the user gave first: defaults may follow from it
        spec = given.get(item.name)
        if spec is not None and spec.none:
            if not item.none_allowed:
                raise InputError(f"{layer.name}: {option(item.name)} cannot be 'none'")
            shapes[item.name], sources[item.name] = None, "none"
        elif spec is not None and spec.values is not None:
            shapes[item.name] = layer.reshape(item.name, tuple(spec.shape))
            given_shapes[item.name] = tuple(spec.shape)
            sources[item.name] = "given"
            values[item.name] = tuple(spec.values)
        elif spec is not None and spec.shape is not None:
            if item.kind == "index":
                raise InputError(
                    f"{layer.name}: give {option(item.name)} as integers; they are not drawn"
                )
            shapes[item.name] = layer.reshape(item.name, tuple(spec.shape))
            given_shapes[item.name] = tuple(spec.shape)
            sources[item.name] = "drawn"
            inits[item.name] = item.shape_init
        else:
            continue
        _check_size(layer, item, shapes[item.name])
    if layer.derive is not None:
        params.update(layer.derive(shapes, params))
    for item in layer.inputs:  # then the inputs left out, in registry order
        if item.name in sources:
            continue
        default = layer.default_shape(item.name, shapes, params)
        if default is None:
            raise InputError(_missing(layer, item))
        inits[item.name] = item.init
        fixed = item.init in ("ones", "zeros")
        shapes[item.name], sources[item.name] = default, "default" if fixed else "drawn"
        _check_size(layer, item, shapes[item.name])
    shapes = {item.name: shapes[item.name] for item in layer.inputs}  # registry order
    sources = {item.name: sources[item.name] for item in layer.inputs}
    out = layer.output_shape(shapes, params)
    if layer.check_values is not None:
        layer.check_values(shapes, values)
    params.update(layer.resolve(shapes, params, dtype))
    forward = (layer.multiply_adds or _elementwise_mads)(shapes, params, out)
    return Plan(
        layer=layer,
        params=params,
        shapes=shapes,
        sources=sources,
        values=values,
        output_shape=out,
        bytes_needed=memory_estimate(layer, shapes, params, out),
        multiply_adds=forward,
        given_shapes=given_shapes,
        inits=inits,
        fixed_work=layer.fixed_work(shapes, params) if layer.fixed_work else 0,
    )


def _check_size(layer: Layer, item: LayerInput, shape: Shape | None) -> None:
    if shape is not None and (len(shape) > MAX_DIMS or 0 in shape):
        raise InputError(
            f"{layer.name}: {option(item.name)} has shape {dims_text(shape)}; every dimension "
            f"must be ≥ 1 and at most {MAX_DIMS} dimensions"
        )


def slice_cost(
    layer: Layer, shapes: Shapes, params: Params, out: Shape, forward: int, name: str
) -> int:
    """Element evaluations (multiply-adds) of one finite-difference evaluation for input
    ``name``: the forward pass on the slice of the output one entry reaches."""
    reach = _prod(out[g["y"]] for g in layer.groups(shapes, params) if name in g)
    return max(forward // max(reach, 1), 1)


def slice_elements(layer: Layer, shapes: Shapes, params: Params, out: Shape, name: str) -> int:
    """Elements one finite-difference entry allocates when entries are evaluated by slices:
    the +step and −step slice of every stacked input, of G and of y, and its share of the
    layer's workspace (what a batch of entries may hold at once, rather than its work)."""
    groups = [g for g in layer.groups(shapes, params) if name in g]
    reach = max(_prod(out[g["y"]] for g in groups), 1)
    pieces = sum(
        _prod(shape) // max(_prod(shape[g[member]] for g in groups if member in g), 1)
        for member, shape in ((m, shapes.get(m)) for m in groups[0] if m != "y")
        if shape
    )
    y_slice = _prod(out) // reach
    return 2 * (pieces + 2 * y_slice) + layer.workspace(shapes, params, out) // reach


def _elementwise_mads(shapes: Shapes, params: Params, out: Shape) -> int:
    return 8 * (sum(_prod(s) for s in shapes.values() if s) + _prod(out))


PYTHON_FLOAT_BYTES = 32  # a float in a Python list: the object and the list's pointer
LISTS_PER_ENTRY = 8  # value, analytic, autograd, numeric, trusted, abs_diff, ok, expected…


def memory_estimate(layer: Layer, shapes: Shapes, params: Params, out: Shape) -> int:
    """Bytes the whole check needs, from shapes alone (float64 tensors; result lists).

    Counted: each input in float64 and the compute dtype, its three gradients, the output,
    G and autograd's saved graph (≈ 4 outputs), the layer's workspace (unfold's patches,
    attention's L×S matrices), finite differences' copies, and every gradient entry again
    as Python floats in the result lists.
    """
    entries = sum(_prod(s) for s in shapes.values() if s)
    grad_entries = sum(
        _prod(shapes[i.name]) for i in layer.inputs if i.has_gradient and shapes.get(i.name)
    )
    tensor_entries = 2 * entries + 4 * grad_entries + 6 * _prod(out)
    tensor_entries += 3 * layer.workspace(shapes, params, out)
    lists = LISTS_PER_ENTRY * grad_entries + 3 * _prod(out) + entries
    return 8 * tensor_entries + PYTHON_FLOAT_BYTES * lists


def entry_bytes(item: LayerInput) -> int:
    """The least :func:`memory_estimate` counts for each entry of the input ``item`` (its
    copies, and for an input with a gradient the gradients and their result lists; nothing of
    the output's): a file with more than limit / this numbers would be refused anyway, so it
    is refused while it is read."""
    if item.has_gradient:
        return 8 * (2 + 4) + PYTHON_FLOAT_BYTES * (LISTS_PER_ENTRY + 1)
    return 8 * 2 + PYTHON_FLOAT_BYTES


def _missing(layer: Layer, item: LayerInput) -> str:
    if item.kind == "index":
        return f"{layer.name} needs {option(item.name)} (integers, {item.shape})"
    flag = option(item.name)
    return f"{layer.name} needs {flag} TENSOR or {flag}-shape {item.shape} ({item.help})"


def _not_an_input(layer: Layer, name: str) -> str:
    names = ", ".join(option(n) for n in layer.input_names)
    if layer.name == "embedding" and name == "x":
        return (
            "embedding takes its integer row numbers as --indices (e.g. --indices 0,2,2), not --x"
        )
    if layer.name == "attention" and name == "x":
        return "attention takes --q, --k and --v (or --q-shape) in place of --x"
    return f"{layer.name} has no input {option(name)}; its inputs are {names}"
