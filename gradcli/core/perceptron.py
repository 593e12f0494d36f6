"""`gradcli perceptron`: a fully connected network's gradients, backprop by hand vs autograd.

Layer l computes X = x Wᵀ + b and O = f(X), with W in torch's layout (out × in,
like ``nn.Linear.weight``): W[k, j] joins input node j to node k (the study
notes' W_jk). The analytic side is the delta rule, written out layer by layer:

- output layer:  δ_k = ∂E/∂O_k · f'(X_k)
- hidden layer:  δ_j = f'(X_j) · Σ_k δ_k W_kj   (δ_k, W of the layer above)
- gradients:     ∂E/∂W_kj = Σ_batch δ_k x_j,   ∂E/∂b_k = Σ_batch δ_k

with ∂E/∂O from the loss registry's analytic gradient and f'(X) from the
activation registry's analytic derivative; autograd never enters it. The network's
tensors, its forward pass and both gradients live in :mod:`gradcli.core.backprop`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from gradcli.core import draws
from gradcli.core.backprop import (
    Backprop,
    Layer,
    Network,
    _batched_terms,
    autograd_gradients,
    backprop,
    forward,
)
from gradcli.core.engine import (
    CHUNK_ELEMENTS,
    SMALL_ENTRIES,
    TORCH_DTYPES,
    WORK_BUDGET,
    NumericEstimate,
    judge,
    numeric_gradient,
    raise_if_not_finite,
    raise_if_overflowed,
    torch,
)
from gradcli.core.kinks import flat_nudged, probing_finder
from gradcli.core.network_solution import network_solution
from gradcli.errors import InputError
from gradcli.expect import Expected, KinkFinder, Slip
from gradcli.marking import mark
from gradcli.ops.losses import Reduction
from gradcli.ops.network import (
    CLASS_INDEX_LOSSES,
    DEFAULT_LR,
    NetworkPlan,
    NetworkSpec,
    as_matrix,
    plan_network,
)
from gradcli.parsing import TensorData
from gradcli.results import flatten
from gradcli.results.perceptron import (
    LayerGradients,
    LayerSteps,
    ParameterGradient,
    PerceptronResult,
    Training,
)
from gradcli.settings import Settings
from gradcli.solution import Solution

Tensor = torch.Tensor
Matrix = list[list[float]]

COMMON_LEARNING_RATES = (0.5, 0.1, 0.01, 1.0)  # tried for the "updated weights" slip without --lr


# ---------------------------------------------------------------- building and checking


def build_network(
    spec: NetworkSpec, settings: Settings, plan: NetworkPlan | None = None
) -> Network:
    """Check the spec (``plan_network``, torch-free; ``plan`` when the caller has checked it
    already) and turn it into tensors: the input and the parameters as given, or drawn like
    ``draws.normal`` after torch.manual_seed(seed) — x first, then per layer W and b."""
    plan = plan_network(spec) if plan is None else plan
    dtype = TORCH_DTYPES[settings.dtype]
    generator = torch.Generator().manual_seed(spec.seed)
    if spec.x_shape is not None:
        x = draws.normal(spec.x_shape, generator, dtype)
    else:
        x = _tensor(spec.x, dtype, "--x")
    layers = []
    for i, layer in enumerate(plan.layers, 1):
        if spec.layer_sizes:
            weight = draws.normal((layer.out, layer.fan_in), generator, dtype)
            bias = draws.normal((layer.out,), generator, dtype) if layer.bias else None
        else:
            weight = _tensor(as_matrix(spec.weights[i - 1]), dtype, f"layer {i} --weights")
            given = spec.biases[i - 1] if spec.biases else None
            bias = None if given is None else _tensor(given, dtype, f"layer {i} --bias")
        layers.append(Layer(weight, bias, layer.activation, layer.params))
    if plan.loss.name in CLASS_INDEX_LOSSES:
        target = torch.tensor(plan.target, dtype=torch.long)
    else:
        target = _tensor(plan.target, dtype, "--target")
    return Network(
        x=x,
        layers=layers,
        target=target,
        loss=plan.loss,
        loss_params=plan.loss.resolve_params([]),
        reduction=spec.reduction,
        drawn=plan.drawn,
    )


def _tensor(values: Sequence, dtype, what: str) -> Tensor:
    tensor = torch.tensor(values, dtype=dtype)
    if not bool(torch.isfinite(tensor).all()):
        raise InputError(f"{what} has values that overflow {str(dtype).removeprefix('torch.')}")
    return tensor


# ---------------------------------------------------------------- finite differences


@dataclasses.dataclass(frozen=True)
class KinkCrossing:
    """Pre-activations X of one layer that some finite difference moved across a kink of its
    activation: (sample, node, X) each."""

    layer: int  # numbered from 1
    kink: float
    nodes: list[tuple[int, int, float]]


def numeric_gradients(
    net: Network, settings: Settings, seed: int
) -> tuple[list[NumericEstimate], list[list[KinkCrossing]]]:
    """Central differences in float64 for every parameter tensor (sampled above the budget),
    and for each, the kinks its left-out differences crossed.

    Perturbed copies of one parameter tensor are evaluated together: the forward pass takes
    a leading batch of that tensor (matmul broadcasts) and the loss is the registry's
    unreduced terms summed per copy. A difference is not trusted when its stencil puts some
    pre-activation on another side of one of its activation's kinks than the unperturbed
    network does.
    """
    x64 = net.x.double()
    base = [p.double() for p in net.parameters()]
    target = net.target if net.target.dtype == torch.long else net.target.double()
    kinked = any(layer.activation.kinks(layer.params) for layer in net.layers)
    passes0 = forward(x64, net.layers, base) if kinked else []
    reference = _kink_sides(net.layers, passes0) if kinked else []
    output_shape = (net.x.shape[0], net.layers[-1].weight.shape[0])
    scale = net.loss.reduction_scale(net.reduction, output_shape)
    total = sum(value.numel() for value in base)
    if not kinked and total <= SMALL_ENTRIES and 4 * total * forward_cost(net) <= WORK_BUDGET:
        together = _numeric_together(net, x64, base, target, scale, settings, seed)
        return together, [[] for _ in base]
    estimates, crossings = [], []
    for index, value in enumerate(base):

        def passes_at(copies: Tensor, index: int = index) -> list[tuple[Tensor, Tensor]]:
            return forward(x64, net.layers, [*base[:index], copies, *base[index + 1 :]])

        def losses(copies: Tensor, passes_at=passes_at) -> Tensor:
            output = passes_at(copies)[-1][1]  # (k, samples, outputs)
            return scale * _batched_terms(net, output, target).sum(dim=1)

        estimate = numeric_gradient(
            lambda v, losses=losses: losses(v.unsqueeze(0))[0],
            value,
            settings.tolerance,
            seed,
            cost=forward_cost(net),
            batched=losses,
        )
        crossed: list[KinkCrossing] = []
        if reference:
            estimate, flipped = _watch_kinks(estimate, value, net.layers, passes_at, reference)
            crossed = _crossings(net.layers, passes0, flipped)
        estimates.append(estimate)
        crossings.append(crossed)
    return estimates, crossings


def _numeric_together(
    net: Network,
    x64: Tensor,
    base: list[Tensor],
    target: Tensor,
    scale: float,
    settings: Settings,
    seed: int,
) -> list[NumericEstimate]:
    """:func:`numeric_gradients` for a small network without kinks: every parameter entry
    of every tensor in one estimate (one batched evaluation per round of steps, the same
    differences entry by entry), then split into one estimate per tensor."""
    shapes = [tuple(value.shape) for value in base]
    sizes = [value.numel() for value in base]
    flat = torch.cat([value.reshape(-1) for value in base])

    def losses(copies: Tensor) -> Tensor:  # (k, all entries) → the k losses
        k, parts, start = copies.shape[0], [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            parts.append(copies[:, start : start + size].reshape(k, *shape))
            start += size
        output = forward(x64, net.layers, parts)[-1][1]  # (k, samples, outputs)
        return scale * _batched_terms(net, output, target).sum(dim=1)

    whole = numeric_gradient(
        lambda v: losses(v.unsqueeze(0))[0],
        flat,
        settings.tolerance,
        seed,
        cost=forward_cost(net),
        batched=losses,
    )
    estimates, start = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        estimates.append(whole.part(start, size, shape))
        start += size
    return estimates


def _kink_list(layers: Sequence[Layer]) -> list[tuple[int, float]]:
    """(layer number, kink) in the order of :func:`_kink_sides`."""
    return [
        (i, kink)
        for i, layer in enumerate(layers, 1)
        for kink in layer.activation.kinks(layer.params)
    ]


def _crossings(
    layers: Sequence[Layer], passes: list[tuple[Tensor, Tensor]], flipped: list[Tensor]
) -> list[KinkCrossing]:
    found = []
    for (number, kink), mask in zip(_kink_list(layers), flipped, strict=True):
        if bool(mask.any()):
            pre = passes[number - 1][0]
            nodes = [(s, k, float(pre[s, k])) for s, k in mask.nonzero().tolist()]
            found.append(KinkCrossing(number, kink, nodes))
    return found


def _watch_kinks(
    estimate: NumericEstimate,
    value: Tensor,
    layers: Sequence[Layer],
    passes_at: Callable[[Tensor], list[tuple[Tensor, Tensor]]],
    reference: list[Tensor],
) -> tuple[NumericEstimate, list[Tensor]]:
    """Mark entries whose stencil (value ± step) moves a pre-activation across a kink; also
    return, per kink (in :func:`_kink_sides` order), the pre-activations that crossed it."""
    flat = value.reshape(-1)
    index = estimate.checked.reshape(-1).nonzero().reshape(-1)
    steps = estimate.step.reshape(-1)
    smooth = torch.ones(flat.numel(), dtype=torch.bool)
    flipped = [torch.zeros(then.shape, dtype=torch.bool) for then in reference]
    chunk = max(1, CHUNK_ELEMENTS // max(flat.numel(), 1))
    for start in range(0, index.numel(), chunk):
        part = index[start : start + chunk]
        rows = torch.arange(part.numel())
        for sign in (1.0, -1.0):
            copies = flat.expand(part.numel(), flat.numel()).clone()
            copies[rows, part] += sign * steps[part]
            sides = _kink_sides(layers, passes_at(copies.reshape(-1, *value.shape)))
            for crossed, now, then in zip(flipped, sides, reference, strict=True):
                changed = (now != then).expand(part.numel(), *then.shape)
                smooth[part] &= ~changed.reshape(part.numel(), -1).any(dim=1)
                crossed |= changed.any(dim=0)
    return estimate.replace(smooth=smooth.reshape(value.shape)), flipped


def forward_cost(net: Network) -> int:
    """Element evaluations of one forward pass and loss (multiply-adds and activations)."""
    samples = net.x.shape[0]
    return sum(samples * (layer.weight.numel() + layer.weight.shape[0]) for layer in net.layers)


def _kink_sides(layers: Sequence[Layer], passes: list[tuple[Tensor, Tensor]]) -> list[Tensor]:
    """Which side of each kink every pre-activation lies on (−1, 0, +1)."""
    return [
        torch.sign(pre - kink)
        for layer, (pre, _) in zip(layers, passes, strict=True)
        for kink in layer.activation.kinks(layer.params)
    ]


# ---------------------------------------------------------------- the command's entry point


def perceptron_gradients(
    spec: NetworkSpec,
    settings: Settings,
    expected: dict[str, Expected] | None = None,
    plan: NetworkPlan | None = None,
) -> PerceptronResult:
    """Build the network, differentiate it three ways and collect the result.

    ``expected`` maps ``layerN.weight`` / ``layerN.bias`` to the user's answers; ``plan`` is
    the spec's checked plan when the caller has it.
    """
    net = build_network(spec, settings, plan)
    passes = forward(net.x, net.layers)
    _check_loss_input(net, passes[-1][1])
    worked = backprop(net, passes)
    loss, autograd = autograd_gradients(net, spec.engine)
    raise_if_forward_overflowed(net, passes, loss, settings.dtype.value)
    numeric, crossings, trusted, skipped = _maybe_numeric(net, settings, spec.seed)
    analytic = [
        g
        for w, b in zip(worked.weight_grads, worked.bias_grads, strict=True)
        for g in (w, b)
        if g is not None
    ]
    checks = [
        judge(
            a,
            g,
            None if numeric is None else numeric[i],
            settings.tolerance,
            trusted,
        )
        for i, (a, g) in enumerate(zip(analytic, autograd, strict=True))
    ]
    for name, check in zip(_parameter_names(net), checks, strict=True):
        width = len(check.analytic[0]) if isinstance(check.analytic[0], list) else 1
        raise_if_overflowed(
            check,
            lambda k, name=name, width=width: (
                f"{name}[{k // width}, {k % width}]"
                if width > 1 or name.endswith("W")
                else f"{name}[{k}]"
            ),
            settings.dtype.value,
            OVERFLOW_CHANGE,
        )
    lr = spec.lr if spec.lr is not None or spec.epochs is None else DEFAULT_LR
    choice = spec.optimizer
    training = None
    if spec.epochs is not None and choice is not None:
        from gradcli.core.optim_train import train  # each step asks the optimizer registry

        lr = choice.lr
        training = train(net, spec.epochs, choice, spec.bias_update, settings)
    elif spec.epochs is not None:
        from gradcli.core.descent import descend

        training = descend(net, spec.epochs, lr, spec.bias_update, settings)
    step_lr = lr if choice is None else None  # W − lr·∂E/∂W is plain descent's step only
    layers = _layer_results(net, checks, step_lr, spec.bias_update, training)
    graph = _graph(net, worked, settings) if spec.graph else None
    one_step = spec.lr if choice is None else None  # the step --expect new_… and --steps show
    solution = _solution(net, worked, float(loss), layers, settings, one_step, spec.bias_update)
    marks = mark(solution, expected, settings.tolerance) if expected else None
    return PerceptronResult(
        x=net.x.double().tolist(),
        target=net.target.tolist()
        if net.target.dtype == torch.long
        else net.target.double().tolist(),
        outputs=worked.out[-1].double().tolist(),
        loss=float(loss),
        loss_name=net.loss.name,
        reduction=net.reduction.value,
        loss_formula=loss_formula(net),
        engine=spec.engine,
        activations=[layer.activation.name for layer in net.layers],
        layers=layers,
        max_abs_diff=max(check.max_abs_diff for check in checks),
        agree=all(check.agree for check in checks)
        and (training is None or training.agree)
        and (graph is None or graph.agree),
        dtype=settings.dtype.value,
        atol=settings.tolerance.atol,
        rtol=settings.tolerance.rtol,
        seed=spec.seed if net.drawn else None,
        lr=lr,
        numeric_skipped=skipped,
        steps=_steps(net, solution) if spec.steps else None,
        graph=graph,
        notes=[
            *_notes(net, spec),
            *_spoiled_notes(net, trusted),
            *_crossing_notes(net, numeric, crossings, settings),
            *_check_notes(layers),
        ],
        answer=None if marks is None else marks.answer,
        bias_update=spec.bias_update,
        training=training,
        solution=solution,
        marks=marks,
    )


def _graph(net: Network, worked: Backprop, settings: Settings):
    """--graph: the network's computation graph from its own forward pass and backprop."""
    from gradcli.core.graph import network_graph

    return network_graph(net, worked, settings)


OVERFLOW_CHANGE = "smaller inputs or weights"


def raise_if_forward_overflowed(
    net: Network, passes: list[tuple[Tensor, Tensor]], loss: Tensor, dtype: str
) -> None:
    """InputError when a layer's output or the loss E leaves the dtype's range."""
    for i, (_, out) in enumerate(passes, 1):
        width = out.shape[-1]
        raise_if_not_finite(
            out,
            f"O of layer {i}",
            lambda k, width=width: f"O[{k // width}, {k % width}]",
            dtype,
            OVERFLOW_CHANGE,
        )
    raise_if_not_finite(loss, "the loss", None, dtype, OVERFLOW_CHANGE, symbol="E")


def _parameter_names(net: Network) -> list[str]:
    """``layer 1 ∂E/∂W``, ``layer 1 ∂E/∂b``… in the order of ``net.parameters()``."""
    names = []
    for i, layer in enumerate(net.layers, 1):
        names.append(f"layer {i} ∂E/∂W")
        if layer.bias is not None:
            names.append(f"layer {i} ∂E/∂b")
    return names


def _check_notes(layers: list[LayerGradients]) -> list[str]:
    """The engine's notes on each parameter's finite differences, naming the parameter."""
    notes = []
    for layer in layers:
        for name, grad in (("∂E/∂W", layer.weight), ("∂E/∂b", layer.bias)):
            if grad is not None:
                notes += [f"layer {layer.index} {name}: {note}" for note in grad.check.notes]
    return notes


def _solution(
    net: Network,
    worked: Backprop,
    loss: float,
    layers: list[LayerGradients],
    settings: Settings,
    lr: float | None,
    bias_update: bool,
) -> Solution:
    """The worked solution, with the slips and kinks of the weight and bias keys (another
    reduction, the parameters after a step…); the quantities after one step with --lr."""
    slips: dict[str, Callable[[], list[Slip]]] = {}
    kinks: dict[str, KinkFinder] = {}
    for layer in layers:
        for name, grad in (("weight", layer.weight), ("bias", layer.bias)):
            if grad is None:
                continue
            key = f"layer{layer.index}.{name}"
            truth = grad.check.analytic
            slips[key] = lambda truth=truth, grad=grad: [
                *_reduction_slips(net, truth),
                *_stepped_slips(grad, lr),
            ]
            kinks[key] = _lazy(lambda key=key, truth=truth: _answer_kinks(
                net, key, flatten(truth), settings.tolerance, lr
            ))  # fmt: skip
            if grad.updated is not None and lr is not None:
                stepped = key.replace(".", ".new_")
                slips[stepped] = lambda grad=grad: _update_slips(grad, lr)
                kinks[stepped] = _lazy(lambda stepped=stepped, grad=grad: _answer_kinks(
                    net, stepped, flatten(grad.updated), settings.tolerance, lr
                ))  # fmt: skip
    formulas = {
        "loss": loss_formula(net),
        "output_grad": output_gradient_formula(net),
        "delta": output_delta_formula(net),
    }
    return network_solution(
        net, worked, loss, formulas, lr, bias_update, slips, kinks, settings.tolerance
    )


def _lazy(make: Callable[[], KinkFinder | None]) -> KinkFinder:
    """A kink finder made only when an answer needs it (it runs the network again)."""
    made: list[KinkFinder | None] = []

    def find(indices: list[int]) -> dict:
        if not made:
            made.append(make())
        return {} if made[0] is None else dict(made[0](indices))

    return find


def _answer_kinks(
    net: Network, key: str, computed: list[float], tolerance, lr: float | None
) -> KinkFinder | None:
    """Entries of ``layerN.weight`` (or bias, or their values after a step) where a
    pre-activation sits on a kink of its activation: the gradient there is probed with that
    parameter moved just left and just right, in float64 (None when no pre-activation sits
    on a kink)."""
    base = _float64(net)
    sides = _kink_sides(base.layers, forward(base.x, base.layers))
    if not any(bool((side == 0).any()) for side in sides):
        return None
    index = int(key[len("layer") : key.index(".")]) - 1
    tensor = "weight" if key.endswith("weight") else "bias"
    stepped = ".new_" in key
    start = getattr(base.layers[index], tensor).reshape(-1).tolist()

    def one_sided(k: int, direction: int) -> float:
        layers = list(base.layers)
        moved = flat_nudged(getattr(layers[index], tensor), k, direction)
        layers[index] = dataclasses.replace(layers[index], **{tensor: moved})
        worked = backprop(dataclasses.replace(base, layers=layers))
        grads = worked.weight_grads if tensor == "weight" else worked.bias_grads
        gradient = float(grads[index].reshape(-1)[k])
        return start[k] - (lr or 0.0) * gradient if stepped else gradient

    return probing_finder(one_sided, computed, tolerance)


def _float64(net: Network) -> Network:
    """The network in float64 (probing a kink needs steps float32 cannot hold)."""
    layers = [
        dataclasses.replace(
            layer,
            weight=layer.weight.double(),
            bias=None if layer.bias is None else layer.bias.double(),
        )
        for layer in net.layers
    ]
    target = net.target if net.target.dtype == torch.long else net.target.double()
    return dataclasses.replace(net, x=net.x.double(), layers=layers, target=target)


def _stepped_slips(grad: ParameterGradient, lr: float | None) -> list[Slip]:
    """The parameter after one step W − lr·g, written instead of the gradient g."""
    rates = [lr] if lr is not None else list(COMMON_LEARNING_RATES)
    value = torch.tensor(grad.value, dtype=torch.float64)
    step = torch.tensor(grad.check.analytic, dtype=torch.float64)
    return [
        Slip(
            f"the updated parameters W − {rate:g}·∂E/∂W after one step, not the gradient",
            (value - rate * step).tolist(),
        )
        for rate in rates
    ]


def _update_slips(grad: ParameterGradient, lr: float | None) -> list[Slip]:
    """Slips in one gradient-descent step: a + instead of a −, the gradient itself, or the
    parameters before the step."""
    value = torch.tensor(grad.value, dtype=torch.float64)
    step = torch.tensor(grad.check.analytic, dtype=torch.float64)
    rate = lr or 0.0
    return [
        Slip(
            f"W + {rate:g}·∂E/∂W: the step went uphill (the sign of the update)",
            (value + rate * step).tolist(),
        ),
        Slip("the gradient ∂E/∂W itself, not the updated parameters", grad.check.analytic),
        Slip("the parameters before the step (W, not W − lr·∂E/∂W)", value.tolist()),
    ]


def _reduction_slips(net: Network, truth: list) -> list[Slip]:
    """The same gradient under the loss's other reductions (all scale it by a constant)."""
    divisor = net.loss.divisor((net.x.shape[0], net.layers[-1].weight.shape[0]))

    def factor(reduction: Reduction) -> float:
        return {Reduction.mean: 1 / divisor, Reduction.sum: 1.0, Reduction.half_sum: 0.5}[reduction]

    slips = []
    for other in net.loss.reductions:
        if other is net.reduction:
            continue
        scale = factor(other) / factor(net.reduction)
        values = (torch.tensor(truth, dtype=torch.float64) * scale).tolist()
        slips.append(Slip(f"the gradient with --reduction {other.value} (×{scale:g})", values))
    return slips


def _check_loss_input(net: Network, output: Tensor) -> None:
    """Our own message for outputs bce cannot take, then the registry's own checks."""
    if net.loss.name == "bce" and bool(((output < 0) | (output > 1)).any()):
        last = net.layers[-1].activation.name
        raise InputError(
            f"bce needs network outputs in [0, 1], but layer {len(net.layers)} ({last}) gives "
            "values outside it; use a sigmoid last layer, e.g. --activation tanh,sigmoid"
        )
    pred = TensorData(output.detach().double().reshape(-1).tolist(), tuple(output.shape))
    given = TensorData(net.target.double().reshape(-1).tolist(), tuple(net.target.shape))
    prepared = net.loss.prepare_target(pred, given, net.loss_params)
    if net.loss.takes_class_indices(pred, prepared):
        net.target = torch.tensor(prepared.values, dtype=torch.long).reshape(pred.shape[:-1])


def _maybe_numeric(
    net: Network, settings: Settings, seed: int
) -> tuple[list[NumericEstimate] | None, list[list[KinkCrossing]], Tensor | None, str | None]:
    """The numeric gradients and the kinks they crossed, whether the loss spoils them all, or
    why there are none."""
    if not settings.numeric:
        return None, [], None, "finite differences off (--no-numeric)"
    trusted = None
    if net.loss.can_distrust:
        # the loss's own untrusted entries (bce next to 0 or 1) spoil every difference
        params64 = [p.double() for p in net.parameters()]
        output = forward(net.x.double(), net.layers, params64)[-1][1]
        target = net.target if net.target.dtype == torch.long else net.target.double()
        spoiled = net.loss.untrusted(output, target, net.loss_params)
        trusted = ~torch.tensor(spoiled is not None and bool(spoiled.any()))
    numeric, crossings = numeric_gradients(net, settings, seed)
    return numeric, crossings, trusted, None


def _spoiled_notes(net: Network, trusted: Tensor | None) -> list[str]:
    """Why every finite difference is left out when the loss spoils them (bce at 0 or 1)."""
    if trusted is None or bool(trusted.all()):
        return []
    return [
        f"numeric: every finite difference is left out of the verdict (shown ~): the network's "
        f"output sits where {net.loss.name}'s own finite differences mislead — a kink of the "
        "loss (l1, smooth_l1 at O = t) or the edge of its domain (bce at O = 0 or 1, where "
        "torch clamps the log) — and every parameter moves the output; backprop and autograd "
        "decide."
    ]


def _crossing_notes(
    net: Network,
    numeric: list[NumericEstimate] | None,
    crossings: list[list[KinkCrossing]],
    settings: Settings,
) -> list[str]:
    """Per parameter tensor: which entries a kink left out of the verdict, and which
    pre-activations X sit at which kink (with the activation's one-sided slopes there)."""
    if numeric is None:
        return []
    notes = []
    names = _parameter_names(net)
    for name, estimate, crossed in zip(names, numeric, crossings, strict=True):
        if estimate.smooth is None or not crossed:
            continue
        left_out = (~estimate.smooth & estimate.checked).reshape(estimate.smooth.shape)
        entries = _entry_names(name, left_out)
        if not entries:
            continue
        reasons = [_crossing_text(net, crossing, settings) for crossing in crossed]
        notes.append(
            f"{name}: {entries} left out of the verdict (shown ~): "
            f"{'its' if entries.count('[') == 1 else 'their'} finite differences move "
            + "; also ".join(reasons)
            + "."
        )
    return notes


def _entry_names(name: str, mask: Tensor, limit: int = 4) -> str:
    """``W[0, 0] and W[0, 1]`` (``b[1]``…) for the True entries of ``mask``."""
    symbol = "W" if name.endswith("W") else "b"
    places = mask.nonzero().tolist()
    named = [f"{symbol}[{', '.join(map(str, p))}]" for p in places[:limit]]
    if len(places) > limit:
        return f"{', '.join(named)} and {len(places) - limit:,} more"
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def _crossing_text(net: Network, crossing: KinkCrossing, settings: Settings) -> str:
    """``X of layer 1 (sample 0, node k=0: X = 0) across relu's kink at x = 0, where …``."""
    from gradcli.core.activation import kink_text, one_sided_slopes, real_kinks

    layer = net.layers[crossing.layer - 1]
    nodes = ", ".join(f"sample {s}, node k={k}: X = {x:g}" for s, k, x in crossing.nodes[:3])
    more = len(crossing.nodes) - 3
    nodes += f" and {more:,} more" if more > 0 else ""
    where = f"X of layer {crossing.layer} ({nodes})"
    act, params = layer.activation, layer.params
    if crossing.kink in real_kinks(act, params, settings.tolerance):
        return (
            f"{where} across {kink_text(act, params, crossing.kink)}; backprop and autograd "
            f"use torch's convention there, {act.convention}"
        )
    left, right = one_sided_slopes(act, params, crossing.kink)
    return (
        f"{where} across x = {crossing.kink:g}, where {act.convention} (f' jumps by only "
        f"{abs(right - left):.2g}, no kink, but a difference straddling it is off by f's jump "
        "over the step)"
    )


def _layer_results(
    net: Network,
    checks: list,
    lr: float | None,
    bias_update: bool = True,
    training: Training | None = None,
) -> list[LayerGradients]:
    results = []
    pending = iter(checks)
    for i, layer in enumerate(net.layers, 1):
        final_w = None if training is None else training.final_weights[i - 1]
        final_b = None if training is None else training.final_biases[i - 1]
        weight = _parameter(layer.weight, next(pending), lr, final=final_w)
        bias = None
        if layer.bias is not None:
            rate = lr if bias_update or lr is None else 0.0
            bias = _parameter(layer.bias, next(pending), rate, final=final_b)
        results.append(LayerGradients(i, layer.activation.name, weight, bias))
    return results


def _parameter(
    value: Tensor, check, lr: float | None, final: list | None = None
) -> ParameterGradient:
    value64 = value.double()
    updated = None
    if lr is not None:  # one gradient-descent step with the backprop gradient
        updated = (value64 - lr * torch.tensor(check.analytic, dtype=torch.float64)).tolist()
    return ParameterGradient(value=value64.tolist(), check=check, updated=updated, final=final)


# ---------------------------------------------------------------- formulas and notes


def loss_formula(net: Network) -> str:
    """E as computed, with the reduction spelled out."""
    name, reduction = net.loss.name, net.reduction
    samples, outputs = net.target.shape[0], net.layers[-1].weight.shape[0]
    if name == "mse":
        return {
            Reduction.half_sum: "E = ½ Σ (O − t)²",
            Reduction.sum: "E = Σ (O − t)²",
            Reduction.mean: f"E = (1/{samples * outputs}) Σ (O − t)²   (F.mse_loss, mean)",
        }[reduction]
    if name == "bce":
        term = "−[t ln O + (1 − t) ln(1 − O)]"
        return {  # half-sum is refused for bce by the loss registry
            Reduction.sum: f"E = Σ {term}",
            Reduction.mean: f"E = (1/{samples * outputs}) Σ {term}   (F.binary_cross_entropy)",
        }[reduction]
    term = "−ln softmax(O)_t   (softmax folded into the loss; O are the logits)"
    return {  # half-sum is refused for cross_entropy by the loss registry
        Reduction.sum: f"E = Σ_samples {term}",
        Reduction.mean: f"E = (1/{samples}) Σ_samples {term}",
    }[reduction]


def _scale_text(net: Network) -> str:
    samples, outputs = net.target.shape[0], net.layers[-1].weight.shape[0]
    count = samples if net.loss.name in CLASS_INDEX_LOSSES else samples * outputs
    mean = f"(1/{count})·" if count > 1 else ""
    return {Reduction.half_sum: "½·", Reduction.sum: "", Reduction.mean: mean}[net.reduction]


def output_gradient_formula(net: Network) -> str:
    """∂E/∂O_k in words and symbols for this loss and reduction."""
    scale = _scale_text(net)
    if net.loss.name == "mse":
        if net.reduction is Reduction.half_sum:
            return "∂E/∂O_k = O_k − t_k"
        return f"∂E/∂O_k = {scale}2(O_k − t_k)"
    if net.loss.name == "bce":
        return f"∂E/∂O_k = {scale}(O_k − t_k) / (O_k(1 − O_k))"
    return f"∂E/∂O_k = {scale}(softmax(O)_k − y_k),  y = one-hot(t)"


def output_delta_formula(net: Network) -> str:
    """δ_k at the output, simplified where the textbook simplifies it."""
    act = net.layers[-1].activation.name
    grad = output_gradient_formula(net).removeprefix("∂E/∂O_k = ")
    if net.loss.name == "mse" and net.reduction is Reduction.half_sum and act == "sigmoid":
        return "δ_k = ∂E/∂O_k · f'(X_k) = (O_k − t_k) · O_k(1 − O_k)"
    if net.loss.name == "bce" and act == "sigmoid":
        return f"δ_k = ∂E/∂O_k · f'(X_k) = {_scale_text(net)}(O_k − t_k)   (O(1 − O) cancels)"
    if net.loss.name in CLASS_INDEX_LOSSES and act == "identity":
        return f"δ_k = ∂E/∂O_k · 1 = {grad}"
    derivative = "O_k(1 − O_k)" if act == "sigmoid" else "f'(X_k)"
    return f"δ_k = ∂E/∂O_k · f'(X_k) = [{grad}] · {derivative}"


def _steps(net: Network, solution: Solution) -> list[LayerSteps]:
    """--steps' tables, layer by layer, read from the worked solution."""
    count = len(net.layers)
    steps = []
    for i, layer in enumerate(net.layers, 1):
        _, derivative_formula = layer.activation.formulas(layer.params)

        def value(name: str, i: int = i) -> list:
            return solution[f"layer{i}.{name}"].value

        bias = solution.get(f"layer{i}.bias")
        steps.append(
            LayerSteps(
                index=i,
                is_output=i == count,
                activation=layer.activation.name,
                derivative_formula=derivative_formula,
                inputs=net.x.double().tolist() if i == 1 else value("output", i - 1),
                pre_activation=value("z"),
                output=value("output"),
                derivative=value("fprime"),
                upstream=value("output_grad"),
                upstream_formula=solution[f"layer{i}.output_grad"].formula,
                delta=value("delta"),
                delta_formula=solution[f"layer{i}.delta"].formula,
                weight_formula=solution[f"layer{i}.weight"].formula,
                bias_formula=None if bias is None else bias.formula,
            )
        )
    return steps


def _notes(net: Network, spec: NetworkSpec) -> list[str]:
    notes = []
    if net.loss.name in CLASS_INDEX_LOSSES:
        last = net.layers[-1].activation.name
        notes.append(
            "cross_entropy applies softmax inside the loss: the last layer's outputs O are the "
            f"logits, so the output delta is δ_k = {_scale_text(net)}(softmax(O)_k − y_k)"
            + (
                " (identity last layer: f' = 1)"
                if last == "identity"
                else f"·f'(X_k) with f = {last} (use identity for plain logits)"
            )
            + "."
        )
    if net.drawn:
        drawn = []
        if spec.x_shape is not None:
            drawn.append(draws.normal_text("x", spec.x_shape))
        if spec.layer_sizes:
            drawn.append(
                "then per layer "
                + draws.normal_text("W", ("out", "in"))
                + ("" if spec.no_bias else ", " + draws.normal_text("b", ("out",)))
            )
        notes.append(
            f"random values as after torch.manual_seed({spec.seed}): "
            + ", ".join(drawn)
            + "; --json carries them, to repeat the run with --x / --weights."
        )
    return notes
