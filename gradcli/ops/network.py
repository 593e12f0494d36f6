"""A perceptron as the user describes it, checked without torch.

``plan_network`` turns a :class:`NetworkSpec` into a :class:`NetworkPlan`: every shape
checked against its neighbour, the activations and the loss looked up, the target filled
to the output's shape (or checked as class indices), and the memory and work the
network will take estimated from its shapes — all before torch is imported, so that a bad
or oversized network is refused at once.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gradcli.errors import InputError, shown
from gradcli.limits import FLOAT64, require_memory, require_work
from gradcli.ops.activations import Activation, get_activation
from gradcli.ops.losses import Loss, Reduction, get_loss
from gradcli.ops.optimizers import TrainingChoice
from gradcli.params import ParamValues

Matrix = list[list[float]]

SUPPORTED_LOSSES = ("mse", "bce", "cross_entropy")
DEFAULT_LR = 0.5  # --epochs without --lr (plain gradient descent), as in the classic 2-2-2 example
CLASS_INDEX_LOSSES = ("cross_entropy",)  # target: one class index per sample
ENGINES = ("grad", "backward")
# float64 copies of every weight held at once: value, three gradients, numeric estimate and
# error, the updated value, grids for output
WEIGHT_COPIES = 10
# per pre-activation entry: forward, backprop, autograd graph, steps, and the worked solution's
# X, O, f'(X), ∂E/∂O and δ (compact grids, one float64 each)
ACTIVATION_COPIES = 19
# --epochs: a step of a small network costs the fixed overhead of its torch calls — about
# 10 per layer and 4 more, each ~3.5 µs here, i.e. ~3000 element operations at the work
# limit's pace — plus about 3 forward passes of element work (forward, δ, the update)
STEP_CALLS_PER_LAYER = 10
STEP_CALLS = 4
CALL_ELEMENTS = 3000
HISTORY_BYTES = 300  # per epoch: the loss, its {epoch, loss} object for JSON, the table
# --optimizer: per weight matrix or bias vector and epoch, the hand update (~12 calls),
# torch.optim's step on its mirror (~8 calls' worth of Python) and their comparison (~5):
# measured ~330 µs per epoch for the 2-2-2 network with Adam (34 µs without an optimizer)
OPTIMIZER_CALLS_PER_TENSOR = 25


@dataclass(frozen=True)
class NetworkSpec:
    """What the user asked for, parsed but not yet checked against each other.

    Either ``weights`` (one matrix per layer, out × in) with optional ``biases``
    (aligned, None for a layer without bias), or ``layer_sizes`` with ``seed``.
    Either ``x`` (rows = samples) or ``x_shape`` (B, N) drawn from ``seed``.
    """

    weights: Sequence[Matrix] = ()
    biases: Sequence[Sequence[float] | None] | None = None
    layer_sizes: Sequence[int] = ()
    seed: int = 0
    no_bias: bool = False
    x: Matrix | None = None
    x_shape: tuple[int, int] | None = None
    target: list | None = None  # a vector or a matrix, as parsed
    activations: Sequence[str] = ("sigmoid",)
    loss: str = "mse"
    reduction: Reduction = Reduction.mean
    engine: str = "grad"
    steps: bool = False
    graph: bool = False  # --graph: the computation graph, every node's adjoint
    lr: float | None = None
    epochs: int | None = None  # gradient descent: this many full-batch steps of lr
    bias_update: bool = True  # False: the steps leave the biases as they are
    optimizer: TrainingChoice | None = None  # --optimizer/--weight-decay (None: plain descent)


@dataclass(frozen=True)
class LayerPlan:
    """One layer's shape (out × in, like nn.Linear.weight) and its activation."""

    out: int
    fan_in: int
    bias: bool
    activation: Activation
    params: ParamValues


@dataclass(frozen=True)
class NetworkPlan:
    """A network whose shapes all fit, with its target ready."""

    samples: int
    features: int
    layers: tuple[LayerPlan, ...]
    loss: Loss
    target: list  # (samples × outputs) values, or one class index per sample
    drawn: bool  # something comes from the seed

    @property
    def outputs(self) -> int:
        return self.layers[-1].out

    @property
    def graph_nodes(self) -> int:
        """Nodes of --graph: the inputs, every weight and bias, z and O per neuron and
        sample, the loss."""
        count = self.samples * self.features + 1
        for layer in self.layers:
            count += layer.out * layer.fan_in + (layer.out if layer.bias else 0)
            count += 2 * self.samples * layer.out
        return count

    @property
    def parameter_count(self) -> int:
        return sum(layer.out * layer.fan_in + layer.out * layer.bias for layer in self.layers)

    @property
    def forward_cost(self) -> int:
        """Element evaluations of one forward pass: multiply-adds and activations."""
        return sum(self.samples * (layer.out * layer.fan_in + layer.out) for layer in self.layers)


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(n) for n in shape)


def plan_network(spec: NetworkSpec) -> NetworkPlan:
    """Check the spec (InputError naming what does not fit) and size the network."""
    loss = perceptron_loss(spec.loss)
    loss.check_reduction(spec.reduction)
    if spec.engine not in ENGINES:
        raise InputError(f"unknown engine {shown(spec.engine)}; choose from: {', '.join(ENGINES)}")
    if spec.lr is not None and not (math.isfinite(spec.lr) and spec.lr > 0):
        raise InputError(f"--lr must be a finite number > 0, got {spec.lr:g}")
    if spec.epochs is not None and spec.epochs < 1:
        raise InputError(f"--epochs must be a whole number ≥ 1, got {spec.epochs}")
    samples, features = _input_shape(spec)
    shapes = _layer_shapes(spec, samples, features)
    layers = _with_activations(shapes, spec.activations)
    _require_room(spec, samples, features, layers)
    target = _target(spec.target, loss, (samples, layers[-1].out), len(layers))
    drawn = spec.x_shape is not None or bool(spec.layer_sizes)
    return NetworkPlan(samples, features, tuple(layers), loss, target, drawn)


def perceptron_loss(name: str) -> Loss:
    loss = get_loss(name)
    if loss.name not in SUPPORTED_LOSSES:
        raise InputError(
            f"loss {shown(name)} is not available for perceptron; choose from: "
            + ", ".join(SUPPORTED_LOSSES)
        )
    return loss


def _input_shape(spec: NetworkSpec) -> tuple[int, int]:
    if spec.x is not None and spec.x_shape is not None:
        raise InputError("give either --x or --x-shape, not both")
    if spec.x_shape is not None:
        return spec.x_shape
    if spec.x is None:
        raise InputError("no input: give --x VALUES|MATRIX (rows = samples) or --x-shape BxN")
    return len(spec.x), len(spec.x[0])


def _layer_shapes(spec: NetworkSpec, samples: int, features: int) -> list[tuple[int, int, bool]]:
    """(out, in, has bias) per layer, each input width checked against the previous output."""
    if spec.weights and spec.layer_sizes:
        raise InputError("give either --weights (one per layer) or --layers N,N, not both")
    if spec.layer_sizes:
        if spec.biases:
            raise InputError("--bias goes with --weights; with --layers biases are drawn")
        widths = [features, *spec.layer_sizes]
        return [(out, fan_in, not spec.no_bias) for fan_in, out in itertools.pairwise(widths)]
    if not spec.weights:
        raise InputError("no network: give --weights MATRIX once per layer, or --layers N[,N...]")
    biases = _given_biases(spec)
    shapes = []
    incoming, source = features, "input x"
    for i, (given, bias) in enumerate(zip(spec.weights, biases, strict=True), 1):
        weight = as_matrix(given)
        out, fan_in = len(weight), len(weight[0])
        if fan_in != incoming:
            raise InputError(
                f"layer {i}: weight matrix is {out}×{fan_in} (out×in) but its input ({source}) "
                f"is {samples}×{incoming}: the weight needs {incoming} columns, one per input "
                "feature"
            )
        if bias is not None and len(bias) != out:
            raise InputError(
                f"layer {i}: bias has {len(bias)} value{'s' if len(bias) != 1 else ''} but the "
                f"weight matrix is {out}×{fan_in}: the bias needs {out} values, one per row"
            )
        shapes.append((out, fan_in, bias is not None))
        incoming, source = out, f"layer {i} output"
    return shapes


def as_matrix(weight: Matrix | list[float]) -> Matrix:
    """A weight given as a vector is one row: a single output node."""
    return weight if weight and isinstance(weight[0], list) else [weight]  # type: ignore[list-item]


def _given_biases(spec: NetworkSpec) -> list[Sequence[float] | None]:
    count = len(spec.weights)
    given = list(spec.biases or [])
    if spec.no_bias and given:
        raise InputError("--no-bias cannot be combined with --bias")
    if not given:
        return [None] * count
    if len(given) != count:
        raise InputError(
            f"got {count} --weights but {len(given)} --bias; give one --bias per --weights, "
            "in the same order ('--bias none' for a layer without bias)"
        )
    return given


def _with_activations(shapes: list[tuple[int, int, bool]], names: Sequence[str]) -> list[LayerPlan]:
    names = list(names) or ["sigmoid"]
    if len(names) == 1:
        names = names * len(shapes)
    if len(names) != len(shapes):
        raise InputError(
            f"got {len(names)} activations ({','.join(names)}) for {len(shapes)} layers; "
            "give one for every layer or one per layer"
        )
    layers = []
    for (out, fan_in, bias), name in zip(shapes, names, strict=True):
        activation = get_activation(name)
        layers.append(LayerPlan(out, fan_in, bias, activation, activation.resolve_params([])))
    return layers


def _require_room(spec: NetworkSpec, samples: int, features: int, layers: list[LayerPlan]) -> None:
    """Refuse, from the shapes alone, a network that would not fit in memory or time."""
    weights = sum(layer.out * (layer.fan_in + layer.bias) for layer in layers)
    nodes = sum(layer.out for layer in layers)
    what = (
        f"--layers {','.join(map(str, spec.layer_sizes))}"
        if spec.layer_sizes
        else f"a network of {len(layers)} layer{'s' if len(layers) != 1 else ''}"
    )
    require_memory(weights * FLOAT64, what, of=f"of weights ({weights:,} float64 values)")
    require_memory(samples * features * FLOAT64 * 4, f"an input of {samples:,}×{features:,}")
    total = FLOAT64 * (
        weights * WEIGHT_COPIES + samples * features * 4 + samples * nodes * ACTIVATION_COPIES
    )
    require_memory(total, f"{what} on {samples:,} samples (estimated from its shapes)")
    cost = sum(samples * layer.out * (layer.fan_in + 1) for layer in layers)
    require_work(4 * cost, f"{what} on {samples:,} samples")
    if spec.epochs is not None:
        epochs = spec.epochs
        calls = STEP_CALLS_PER_LAYER * len(layers) + STEP_CALLS
        if spec.optimizer is not None:
            tensors = sum(1 + (layer.bias and spec.bias_update) for layer in layers)
            calls += OPTIMIZER_CALLS_PER_TENSOR * tensors
        require_memory((epochs + 1) * HISTORY_BYTES, f"--epochs {epochs:,}", of="of loss history")
        require_work(
            epochs * (3 * cost + calls * CALL_ELEMENTS),
            f"--epochs {epochs:,} of {what} on {samples:,} samples",
        )


def _target(raw: list | None, loss: Loss, shape: tuple[int, int], depth: int) -> list:
    if raw is None:
        raise InputError("no target: give --target VALUES|MATRIX (class indices for cross_entropy)")
    if loss.name in CLASS_INDEX_LOSSES:
        return _class_target(raw, shape, depth)
    flat = [v for row in raw for v in row] if isinstance(raw[0], list) else list(raw)
    given = (len(raw), len(raw[0])) if isinstance(raw[0], list) else (len(raw),)
    samples, outputs = shape
    if len(flat) == 1:  # one number fills the output, like torch.ones(B, K)
        values = flat * (samples * outputs)
    elif len(given) == 1 and len(flat) == samples * outputs and 1 in shape:
        values = flat  # a vector for one sample (1×K) or for one output node (B×1)
    elif given == shape:
        values = flat
    else:
        raise InputError(
            f"target has shape {shape_text(given)} but the network output (layer {depth}) has "
            f"shape {shape_text(shape)}"
        )
    outside = next((v for v in values if not 0 <= v <= 1), None)
    if loss.name == "bce" and outside is not None:
        raise InputError(
            f"bce: --target value {outside:g} is outside [0, 1] (targets are probabilities)"
        )
    return [values[i * outputs : (i + 1) * outputs] for i in range(samples)]


def _class_target(raw: list, shape: tuple[int, int], depth: int) -> list:
    samples, classes = shape
    if isinstance(raw[0], list) or len(raw) not in (1, samples):
        given = f"{len(raw)}×{len(raw[0])}" if isinstance(raw[0], list) else f"{len(raw)}"
        raise InputError(
            f"cross_entropy wants one class index per sample: target has shape {given} but the "
            f"network output (layer {depth}) has shape {shape_text(shape)}, so give {samples} "
            "index(es)"
        )
    if classes < 2:
        raise InputError(
            f"cross_entropy needs at least 2 classes, but layer {depth} has {classes} output; "
            "give the last layer one node per class"
        )
    for i, value in enumerate(raw):
        if value != int(value):
            raise InputError(f"class index {value:g} (sample {i}) is not an integer")
        if not 0 <= value < classes:
            raise InputError(
                f"class index {int(value)} (sample {i}) is out of range: the network output "
                f"(layer {depth}) has shape {shape_text(shape)}, so classes are 0…{classes - 1}"
            )
    return [int(v) for v in raw] * (samples if len(raw) == 1 else 1)


STEP_KEYS = ("new_weight", "new_bias", "new_loss")  # quantities after one step: need --lr


def solution_shapes(plan: NetworkPlan, stepped: bool) -> dict[str, tuple[int, ...]]:
    """The keys of perceptron's worked solution, in computation order, with their shapes
    (torch-free, from the plan): the forward pass layer by layer (z, output), the loss, the
    backward pass from the output layer down (output_grad = ∂E/∂O, fprime = f'(z), delta,
    weight and bias gradients), and with a step (``stepped``, --lr) the new parameters and
    the loss after the step."""
    samples = plan.samples
    shapes: dict[str, tuple[int, ...]] = {}
    for i, layer in enumerate(plan.layers, 1):
        shapes[f"layer{i}.z"] = (samples, layer.out)
        shapes[f"layer{i}.output"] = (samples, layer.out)
    shapes["loss"] = ()
    for i in range(len(plan.layers), 0, -1):
        layer = plan.layers[i - 1]
        for name in ("output_grad", "fprime", "delta"):
            shapes[f"layer{i}.{name}"] = (samples, layer.out)
        shapes[f"layer{i}.weight"] = (layer.out, layer.fan_in)
        if layer.bias:
            shapes[f"layer{i}.bias"] = (layer.out,)
    if stepped:
        for i, layer in enumerate(plan.layers, 1):
            shapes[f"layer{i}.new_weight"] = (layer.out, layer.fan_in)
            if layer.bias:
                shapes[f"layer{i}.new_bias"] = (layer.out,)
        shapes["new_loss"] = ()
    return shapes


def key_hint(key: str, plan: NetworkPlan) -> str:
    """Why a ``layerN.…`` key names nothing: the layer that exists, or that it has no bias;
    or that a key after the step needs --lr."""
    count = len(plan.layers)
    match = re.fullmatch(r"layer([0-9]{1,9})\.(\w+)", key, re.ASCII)
    if match is None:
        return ""
    number, name = int(match[1]), match[2]
    if not 1 <= number <= count:
        nearest = min(max(number, 1), count)
        return (
            f" (the network has {count} layer{'s' if count != 1 else ''}: did you mean "
            f"'layer{nearest}.{name}'?)"
        )
    if name in ("bias", "new_bias") and not plan.layers[number - 1].bias:
        return f" (layer {number} has no bias)"
    return ""
