"""`gradcli layer`: one layer's backward pass, written out by hand, vs autograd vs numeric.

The scalar is L = Σ G ⊙ y, with y = layer(inputs) and G the upstream gradient. For every
input with a gradient, ∂L/∂input is computed three ways:

- analytic: the registry's closed-form backward applied to G (no autograd anywhere);
  a recurrent layer's L may also weigh its final states: + Σ G_h ⊙ h_n (+ Σ G_c ⊙ c_n);
- autograd: ``torch.autograd.grad(L, inputs)`` through torch's own forward;
- numeric: central differences of L in float64, on a seeded sample of the entries when
  there are many (said in the table and in JSON as ``numeric_sampled``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from gradcli.core import draws
from gradcli.core.engine import (
    CALL_COST,
    TORCH_DTYPES,
    NumericEstimate,
    judge,
    numeric_entries,
    raise_if_not_finite,
    raise_if_overflowed,
    to_grid,
    torch,
)
from gradcli.core.kinks import flat_nudged, probing_finder
from gradcli.errors import InputError
from gradcli.expect import Expected, KinkFinder, Slip
from gradcli.marking import mark
from gradcli.ops.layers import (
    Given,
    Layer,
    Plan,
    Step,
    dims_text,
    option,
    slice_cost,
    slice_elements,
)
from gradcli.results.grid import Grid, nested
from gradcli.results.layer import LayerGradient, LayerResult, LayerStep, TensorInfo
from gradcli.settings import Settings, Tolerance
from gradcli.solution import Quantity, Solution

Tensor = torch.Tensor
OVERFLOW_CHANGE = "smaller values (inputs, parameters, --upstream)"


@dataclass(frozen=True)
class LayerRequest:
    """A checked plan, the upstream gradient wanted, the seed and whether to show steps."""

    plan: Plan
    upstream: str | Given = "random"  # "random", "ones", or the tensor itself
    seed: int = 0
    steps: bool = False
    # upstreams of a recurrent layer's final states (--upstream-h/-c), by output name (h_n)
    final_upstreams: Mapping[str, str | Given] = field(default_factory=dict)


# ---------------------------------------------------------------- building the tensors


def _tensor(given: Given, shape: tuple[int, ...], dtype, what: str) -> Tensor:
    tensor = torch.tensor(list(given.values), dtype=dtype).reshape(shape)
    if not bool(torch.isfinite(tensor).all()):
        raise InputError(f"{what} has values that overflow {str(dtype).removeprefix('torch.')}")
    return tensor


def build_inputs(
    plan: Plan, dtype, generator
) -> tuple[dict[str, Tensor | None], list[str], list[str]]:
    """The inputs in registry order: given, drawn from the generator (standard normal, or
    torch's bias init), torch's starting value (a norm's γ = 1, β = 0) or None.

    Also returns how each drawn tensor was made and which were set to torch's starting
    values, for the notes that let users repeat it.
    """
    tensors: dict[str, Tensor | None] = {}
    drawn: list[str] = []
    defaults: list[str] = []
    owners: set[str] = set()  # modules whose init was named (once)
    for item in plan.layer.inputs:
        source, shape = plan.sources[item.name], plan.shapes[item.name]
        if source == "none":
            tensors[item.name] = None
        elif source == "given":
            values = Given(values=plan.values[item.name], shape=shape)
            if item.kind == "index":
                tensors[item.name] = torch.tensor(list(values.values)).long().reshape(shape)
            else:
                tensors[item.name] = _tensor(values, shape, dtype, option(item.name))
        else:
            tensors[item.name], text = _initial(plan, item, shape, dtype, generator, owners)
            (defaults if source == "default" else drawn).append(text)
    return tensors, drawn, defaults


def _initial(plan: Plan, item, shape, dtype, generator, owners: set[str]) -> tuple[Tensor, str]:
    """An input left out (or given only as a shape), made as its LayerInput.init says, and
    how it was made (a recurrent module's init named at its first weight only)."""
    init = plan.inits.get(item.name, "normal")
    symbol = f" ({item.symbol})" if item.symbol and item.symbol != item.name else ""
    size = ", ".join(map(str, shape))
    if init in ("ones", "zeros"):
        tensor = (torch.ones if init == "ones" else torch.zeros)(shape, dtype=dtype)
        return tensor, f"{item.name}{symbol} = torch.{init}({size})"
    if init == "hidden_uniform":
        hidden = plan.params["hidden_size"]
        tensor = draws.uniform(shape, 1 / math.sqrt(hidden), generator, dtype)
        text = draws.uniform_text(item.name, shape, hidden)
        if item.init_owner in owners:
            return tensor, text
        owners.add(item.init_owner)
        return tensor, f"{text} ({item.init_owner}'s init of its weights and biases, H = {hidden})"
    if init == "fan_in_uniform":
        weight = plan.shapes["weight"] or (1,)
        fan_in = math.prod(weight[1:]) if len(weight) > 1 else weight[0]
        tensor = draws.uniform(shape, 1 / math.sqrt(fan_in), generator, dtype)
        text = draws.uniform_text(item.name, shape, fan_in)
        return tensor, f"{text} ({item.init_owner}'s bias init, fan_in = {fan_in})"
    return draws.normal(shape, generator, dtype), draws.normal_text(item.name, shape)


def build_upstream(request: LayerRequest, dtype, generator) -> tuple[Tensor, str, str | None]:
    """G, its kind, and how it was drawn (None unless random)."""
    return _upstream(request.upstream, request.plan.output_shape, dtype, generator, "G")


def _upstream(
    wanted: str | Given, shape: tuple[int, ...], dtype, generator, symbol: str
) -> tuple[Tensor, str, str | None]:
    option_name = "--upstream" if symbol == "G" else f"--upstream-{symbol[-1]}"
    if isinstance(wanted, Given):
        return _tensor(wanted, shape, dtype, option_name), "given", None
    if wanted == "ones":
        return torch.ones(shape, dtype=dtype), "ones", None
    return draws.normal(shape, generator, dtype), "random", draws.normal_text(symbol, shape)


def build_final_upstreams(
    request: LayerRequest, dtype, generator
) -> tuple[dict[str, Tensor], list[str]]:
    """The upstreams of the final states asked for (G_h, G_c), drawn after G when random,
    keyed as the layer's backward reads them; and how each was drawn."""
    plan = request.plan
    tensors: dict[str, Tensor] = {}
    drawn: list[str] = []
    for final in plan.layer.final_outputs:
        wanted = request.final_upstreams.get(final.name)
        if wanted is None:
            continue
        shape = plan.shapes[final.like]
        tensors[final.upstream], _, text = _upstream(
            wanted, shape, dtype, generator, final.upstream
        )
        drawn += [text] if text else []
    return tensors, drawn


def layer_loss(layer: Layer, tensors: Mapping[str, Tensor | None], params, g: Tensor) -> Tensor:
    """L = Σ G ⊙ y, plus Σ G_final ⊙ output for each final state whose upstream is given."""
    finals = [f for f in layer.final_outputs if tensors.get(f.upstream) is not None]
    if not finals:
        return (g * layer.forward(tensors, params)).sum()
    outputs = layer.forward_all(tensors, params)
    loss = (g * outputs["y"]).sum()
    for final in finals:
        loss = loss + (tensors[final.upstream] * outputs[final.name]).sum()
    return loss


# ---------------------------------------------------------------- the three gradients


def autograd_gradients(
    layer: Layer, tensors: Mapping[str, Tensor | None], params, g: Tensor, names: list[str]
) -> dict[str, Tensor]:
    """∂L/∂input through torch: L = Σ G ⊙ forward(inputs), ``torch.autograd.grad``."""
    leaves = {name: tensors[name].detach().clone().requires_grad_(True) for name in names}
    loss = layer_loss(layer, {**tensors, **leaves}, params, g)
    grads = torch.autograd.grad(loss, [leaves[name] for name in names])
    return dict(zip(names, grads, strict=True))


def loss_for(
    layer: Layer, tensors: Mapping[str, Tensor | None], params, g: Tensor, name: str
) -> Callable[[Tensor], Tensor]:
    """L as a function of one input, the others fixed."""

    def loss(value: Tensor) -> Tensor:
        return layer_loss(layer, {**tensors, name: value}, params, g)

    return loss


def numeric_estimate(
    layer: Layer,
    plan: Plan,
    tensors: Mapping[str, Tensor | None],
    g: Tensor,
    name: str,
    tolerance: Tolerance,
    seed: int,
) -> NumericEstimate:
    """Central differences of L w.r.t. input ``name`` (float64), through the engine's
    ``numeric_entries`` (its steps, error estimates, refinement and work-budget sample).

    The layer's structure makes each difference cheap: an entry reaches only a slice of
    y (see :func:`pair_evaluation`), so only that slice is evaluated, and many perturbed
    entries go through one forward pass together.
    """
    evaluate, path = pair_evaluation(layer, tensors, plan.params, g, name, plan.shapes)
    cost = slice_cost(layer, plan.shapes, plan.params, plan.output_shape, plan.multiply_adds, name)
    if path == "one by one":
        cost += CALL_COST
    base = tensors[name]
    if path == "slices":  # the slices' own sizes: entries sharing a big input batch well
        row = slice_elements(layer, plan.shapes, plan.params, plan.output_shape, name)
    else:  # whole copies, and the work as a bound on the forward's intermediates
        row = max(base.numel() + g.numel(), cost)
    return numeric_entries(evaluate, base, cost, tolerance, seed, f"∂L/∂{name}", row)


PairEvaluation = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def pair_evaluation(
    layer: Layer, tensors, params, g: Tensor, name: str, shapes
) -> tuple[PairEvaluation, str]:
    """``evaluate(index, step)`` → quantities whose differences are L(x + step·e_index) −
    L(x − step·e_index), for a batch of flat entry indices, and which path computes them:

    - ``slices``: the registry's groups say an entry reaches one slice of y (a sample, a
      channel, a row…); the slices of all entries, +step and −step, are stacked along the
      first group's dimension and evaluated in one forward pass, each returning only its
      slice's share of L (the rest of L cancels exactly in the difference);
    - ``broadcast``: whole perturbed copies stacked along a new leading dimension that the
      forward broadcasts over (attention's keys);
    - ``one by one``: one forward pass per perturbed copy (always, when L also weighs a
      recurrent layer's final states).
    """
    if any(tensors.get(final.upstream) is not None for final in layer.final_outputs):
        return _one_by_one(layer, tensors, params, g, name), "one by one"
    groups = [group for group in layer.groups(shapes, params) if name in group]
    members = {member for group in groups for member in group}
    if groups and members <= set(groups[0]):
        return _sliced(layer, tensors, params, g, name, groups), "slices"
    if name in layer.broadcast_inputs:
        return _broadcast(layer, tensors, params, g, name), "broadcast"
    return _one_by_one(layer, tensors, params, g, name), "one by one"


def _one_by_one(layer, tensors, params, g, name) -> PairEvaluation:
    loss = loss_for(layer, tensors, params, g, name)
    shape = tensors[name].shape
    flat = tensors[name].reshape(-1)

    def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        plus, minus = [], []
        for k, h in zip(index.tolist(), step.tolist(), strict=True):
            bump = torch.zeros_like(flat)
            bump[k] = h
            plus.append(loss((flat + bump).reshape(shape)))
            minus.append(loss((flat - bump).reshape(shape)))
        return torch.stack(plus), torch.stack(minus)

    return evaluate


def _broadcast(layer, tensors, params, g, name) -> PairEvaluation:
    base = tensors[name]
    flat = base.reshape(-1)

    def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        rows = torch.arange(index.numel())
        bumps = torch.zeros(index.numel(), flat.numel(), dtype=flat.dtype)
        bumps[rows, index] = step
        copies = torch.cat([flat + bumps, flat - bumps]).reshape(-1, *base.shape)
        y = layer.forward({**tensors, name: copies}, params)
        per_copy = (g * y).reshape(copies.shape[0], -1).sum(dim=1)
        return per_copy[: index.numel()], per_copy[index.numel() :]

    return evaluate


def _sliced(layer, tensors, params, g, name, groups) -> PairEvaluation:
    base = tensors[name]
    shape = tuple(base.shape)
    rank = base.dim()
    first = groups[0]
    own = {group[name] % rank for group in groups}  # dims of ``name`` that are sliced

    def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        where = _unravel(index, shape)  # (k, rank)
        keys = torch.stack([where[:, group[name] % rank] for group in groups], dim=1)
        stacked: dict[str, Tensor] = {}
        for member, stack_dim in first.items():
            source = g if member == "y" else tensors.get(member)
            if source is None:
                continue
            dims = [group.get(member) for group in groups]
            piece = _gather(source, dims, keys, stack_dim)
            if member == name:
                local = [
                    torch.arange(index.numel()) if d == stack_dim % rank
                    else torch.zeros_like(index) if d in own else where[:, d]
                    for d in range(rank)
                ]  # fmt: skip
                plus, minus = piece.clone(), piece.clone()
                plus[tuple(local)] += step
                minus[tuple(local)] -= step
                piece = torch.cat([plus, minus], dim=stack_dim)
            else:
                piece = torch.cat([piece, piece], dim=stack_dim)
            stacked[member] = piece
        g_stacked = stacked.pop("y")
        y = layer.forward({**tensors, **stacked}, params)
        axis = first["y"] % y.dim()
        per_slice = (g_stacked * y).movedim(axis, 0).reshape(y.shape[axis], -1).sum(dim=1)
        return per_slice[: index.numel()], per_slice[index.numel() :]

    return evaluate


def _unravel(index: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The multi-indices (k × rank) of flat row-major positions ``index``.

    (Plain arithmetic: torch.unravel_index would import SymPy, +0.4 s.)
    """
    columns = []
    rest = index.clone()
    for size in reversed(shape):
        columns.append(rest % size)
        rest = rest // size
    return torch.stack(columns[::-1], dim=1)


def _gather(source: Tensor, dims: list[int | None], keys: Tensor, stack_dim: int) -> Tensor:
    """The slices of ``source`` at each row of ``keys`` (one column per group; ``dims[i]``
    is the source's dimension in group i, None when it is not in it), stacked along
    ``stack_dim``; the other sliced dimensions keep size 1."""
    rank = source.dim()
    stack_dim %= rank
    used = [(i, d % rank) for i, d in enumerate(dims) if d is not None]
    sliced = [d for _, d in used]
    rest = [d for d in range(rank) if d not in sliced]
    picked = source.permute(*sliced, *rest)[tuple(keys[:, i] for i, _ in used)]  # (k, *rest)
    order = [d for d in range(rank) if d == stack_dim or d not in sliced]
    picked = picked.movedim(0, order.index(stack_dim))
    target = [
        keys.shape[0] if d == stack_dim else 1 if d in sliced else source.shape[d]
        for d in range(rank)
    ]
    return picked.reshape(target)


# ---------------------------------------------------------------- the command's entry point


def layer_gradients(
    request: LayerRequest, settings: Settings, expected: Mapping[str, Expected] | None = None
) -> LayerResult:
    """Build the inputs, run the backward three ways and collect the result.

    ``expected`` maps input names (``x``, ``weight``…) to the user's answers, each laid out
    as the gradient's 2-D view (rows = every index but the last).
    """
    plan, layer = request.plan, request.plan.layer
    dtype = TORCH_DTYPES[settings.dtype]
    generator = torch.Generator().manual_seed(request.seed)
    inputs, drawn, defaults = build_inputs(plan, dtype, generator)
    state: dict[str, Tensor] = {}
    if layer.draw_state is not None:
        raw = layer.draw_state(plan.shapes, plan.params, generator)
        state = {key: value.to(dtype) for key, value in raw.items()}
        drawn += [layer.state_text(plan.params, plan.shapes["x"])] if layer.state_text else []
    g, upstream_kind, g_drawn = build_upstream(request, dtype, generator)
    finals, finals_drawn = build_final_upstreams(request, dtype, generator)
    tensors = {**inputs, **state, **finals}
    params = plan.params
    outputs = layer.forward_all(tensors, params) if layer.forward_all else None
    y = outputs["y"] if outputs else layer.forward(tensors, params)
    shape = tuple(y.shape)
    raise_if_not_finite(
        y,
        "the forward y",
        lambda k: f"y[{_index_text(k, shape)}]",
        settings.dtype.value,
        "smaller inputs or parameters",
    )
    analytic = layer.backward(tensors, params, g)
    names = [name for name in layer.gradient_names if inputs.get(name) is not None]
    autograd = autograd_gradients(layer, tensors, params, g, names)
    infos = {name: _info(layer, plan, name, inputs[name]) for name in layer.input_names}
    numeric = _Numeric(layer, plan, tensors, g, settings, request.seed)
    grads = [
        _gradient(layer, tensors, name, analytic[name], autograd[name], settings, numeric)
        for name in names
    ]
    grads = [replace(grad, value=infos[grad.name].value) for grad in grads]
    keys = dict(layer.keys(plan.shapes, plan.params))
    wanted = request.steps or any(key in keys for key in expected or {})
    steps = layer.steps(tensors, params, g) if wanted else None
    after = [*([g_drawn] if g_drawn else []), *finals_drawn]  # drawn after the inputs
    notes = _notes(layer, plan, drawn, after, request.seed, defaults)
    result = LayerResult(
        name=layer.name,
        summary=layer.summary,
        # a parameter left at torch's None (embedding's padding_idx, training-mode
        # batchnorm's running statistics) is not in force: not shown
        params={key: _json_param(value) for key, value in params.items() if value is not None},
        forward_formula=layer.forward_formula,
        inputs=list(infos.values()),
        state=[
            TensorInfo(
                key, list(value.shape), list(_dims(layer, "x", value.dim())), _list(value), "state"
            )
            for key, value in state.items()
        ],
        output=TensorInfo(
            "y", list(y.shape), list(layer.output_dims(plan.shapes)), _list(y), "computed"
        ),
        upstream=TensorInfo(
            "G", list(g.shape), list(layer.output_dims(plan.shapes)), _list(g), upstream_kind
        ),
        upstream_kind=upstream_kind,
        final_states=_final_states(layer, plan, outputs),
        final_upstreams=[
            TensorInfo(
                final.upstream,
                list(plan.shapes[final.like]),
                list(_dims(layer, final.like, len(plan.shapes[final.like]))),
                _list(finals[final.upstream]),
                _source(request.final_upstreams[final.name]),
            )
            for final in layer.final_outputs
            if final.upstream in finals
        ],
        grads=grads,
        max_abs_diff=max((grad.check.max_abs_diff for grad in grads), default=0.0),
        agree=all(grad.check.agree for grad in grads),
        dtype=settings.dtype.value,
        atol=settings.tolerance.atol,
        rtol=settings.tolerance.rtol,
        seed=request.seed if (drawn or after) else None,
        numeric=settings.numeric,
        steps=_steps(steps) if request.steps and steps is not None else None,
        notes=notes,
    )
    result = _as_given(result, plan)
    solution = _solution(layer, result, steps, tensors, params, g, expected or {}, settings)
    marks = mark(solution, expected, settings.tolerance) if expected else None
    return replace(
        result,
        solution=solution,
        marks=marks,
        answer=None if marks is None else marks.answer,
    )


def _final_states(layer: Layer, plan: Plan, outputs) -> list[TensorInfo]:
    """A recurrent layer's final states (h_n, c_n) as torch's module returns them."""
    if not outputs:
        return []
    return [
        TensorInfo(
            final.name,
            list(outputs[final.name].shape),
            list(_dims(layer, final.like, outputs[final.name].dim())),
            _list(outputs[final.name]),
            "computed",
        )
        for final in layer.final_outputs
    ]


def _source(wanted: str | Given) -> str:
    return "given" if isinstance(wanted, Given) else "drawn" if wanted == "random" else wanted


# ---------------------------------------------------------------- shown as given


def _as_given(result: LayerResult, plan: Plan) -> LayerResult:
    """Inputs given in a shorter form than the layer reads (conv2d's H×W image: 1×1×H×W)
    shown in that form, with their gradients; y and G too when x was, if their leading
    dimensions are 1 as well."""
    drop = {
        name: len(plan.shapes[name]) - len(shape)
        for name, shape in plan.given_shapes.items()
        if name in plan.layer.shown_as_given and len(shape) < len(plan.shapes[name] or ())
    }
    if not drop:
        return result
    output, upstream = result.output, result.upstream
    shown = [f"∂L/∂{name}" for name in drop]
    if "x" in drop and all(size == 1 for size in output.shape[: drop["x"]]):
        output, upstream = _info_as(output, drop["x"]), _info_as(upstream, drop["x"])
        shown = ["y", "G", *shown]
    read = [
        f"--{name} {dims_text(plan.given_shapes[name])} as {dims_text(plan.shapes[name])} "
        f"({plan.layer.input(name).shape})"
        for name in drop
    ]
    note = (
        f"{plan.layer.name} reads {' and '.join(read)}: one channel, one sample; "
        f"{', '.join(shown)} are shown in the form given."
    )
    return replace(
        result,
        notes=[note, *result.notes],
        inputs=[_info_as(info, drop.get(info.name, 0)) for info in result.inputs],
        output=output,
        upstream=upstream,
        grads=[_gradient_as(grad, drop.get(grad.name, 0)) for grad in result.grads],
    )


def _info_as(info: TensorInfo, drop: int) -> TensorInfo:
    if not drop:
        return info
    shape = info.shape[drop:]
    return replace(
        info, shape=shape, dim_names=info.dim_names[drop:], value=_regrid(info.value, shape)
    )


def _gradient_as(grad: LayerGradient, drop: int) -> LayerGradient:
    if not drop:
        return grad
    shape = grad.shape[drop:]
    check = grad.check
    fields = ("analytic", "autograd", "numeric", "trusted", "abs_diff", "ok", "defined")
    return replace(
        grad,
        shape=shape,
        dim_names=grad.dim_names[drop:],
        value=_regrid(grad.value, shape),
        check=replace(check, **{f: _regrid(getattr(check, f), shape) for f in fields}),
    )


def _regrid(value, shape: list[int]):
    """A Grid with the same entries in ``shape`` (leading 1s dropped); anything else as is."""
    if isinstance(value, Grid) and value.size == math.prod(shape):
        return Grid(value.data, tuple(shape), value.present)
    return value


class _Numeric:
    """Finite differences for the layer's inputs, in float64 (None with --no-numeric)."""

    def __init__(self, layer: Layer, plan: Plan, tensors, g: Tensor, settings: Settings, seed):
        self.layer, self.plan, self.settings, self.seed = layer, plan, settings, seed
        self.on = settings.numeric
        if self.on:
            self.tensors = {
                key: (v.double() if v is not None and v.is_floating_point() else v)
                for key, v in tensors.items()
            }
            self.g = g.double()

    def estimate(self, name: str) -> tuple[NumericEstimate | None, Tensor | None, list[str]]:
        """The estimate for input ``name``, where it is trusted, and a note on the rest."""
        if not self.on:
            return None, None, []
        layer = self.layer
        estimate = numeric_estimate(
            layer, self.plan, self.tensors, self.g, name, self.settings.tolerance, self.seed
        )
        untrusted = None
        if layer.untrusted is not None:
            untrusted = layer.untrusted(self.tensors, self.plan.params, name)
        if untrusted is None:  # no kinks for this layer, or with these parameters
            return estimate, None, []
        left_out = int((untrusted & estimate.checked).sum())
        notes = []
        if left_out:
            notes.append(
                f"numeric: {left_out} entr{'y' if left_out == 1 else 'ies'} left out of "
                f"the verdict, shown ~ ({layer.kinks_text})"
            )
        return estimate, ~untrusted, notes


def _gradient(
    layer: Layer,
    tensors: Mapping[str, Tensor | None],
    name: str,
    analytic: Tensor,
    autograd: Tensor,
    settings: Settings,
    numeric: _Numeric,
) -> LayerGradient:
    estimate, trusted, notes = numeric.estimate(name)
    # + 0.0 turns −0 into 0 (a masked softmax entry, a zero gradient times a negative)
    check = judge(analytic + 0.0, autograd + 0.0, estimate, settings.tolerance, trusted)
    value = tensors[name]
    raise_if_overflowed(
        check,
        lambda k: f"∂L/∂{name}[{_index_text(k, tuple(value.shape))}]",
        settings.dtype.value,
        OVERFLOW_CHANGE,
    )
    return LayerGradient(
        name=name,
        symbol=layer.input(name).symbol or name,
        shape=list(value.shape),
        dim_names=list(_dims(layer, name, value.dim())),
        value=None,  # the input's own value, filled in from the inputs' lists
        formula=layer.backward_formulas[name],
        check=check,
        notes=[*check.notes, *notes],
    )


def _index_text(position: int, shape: tuple[int, ...]) -> str:
    index = []
    for size in reversed(shape):
        position, rest = divmod(position, size)
        index.append(str(rest))
    return ", ".join(reversed(index))


def _list(value: Tensor | None) -> Grid | list | None:
    """A tensor for the result: a compact Grid of floats (−0 shown as 0), or a list of
    integers (embedding indices)."""
    if value is None:
        return None
    if value.is_floating_point():
        return to_grid(value.double() + 0.0)
    return value.tolist()


def _dims(layer: Layer, name: str, rank: int) -> tuple[str, ...]:
    try:
        return layer.input(name).dim_names(rank)
    except KeyError:
        return tuple(f"d{i}" for i in range(rank))


def _info(layer: Layer, plan: Plan, name: str, value: Tensor | None) -> TensorInfo:
    shape = plan.shapes[name]
    rank = 0 if shape is None else len(shape)
    return TensorInfo(
        name,
        [] if shape is None else list(shape),
        list(_dims(layer, name, rank)),
        _list(value),
        plan.sources[name],
    )


def _json_param(value):
    return list(value) if isinstance(value, tuple) else value


def _steps(steps: list[Step]) -> list[LayerStep]:
    return [
        LayerStep(
            key=step.key,
            label=step.label,
            formula=step.formula,
            shape=None if step.tensor is None else list(step.tensor.shape),
            dim_names=list(step.dim_names),
            value=_step_value(step.tensor),
            lines=list(step.lines),
            symbol=step.symbol or step.label.split(" ")[0],
        )
        for step in steps
        if step.shown
    ]


def _step_value(tensor: Tensor | None) -> Grid | list | float | None:
    """A step's tensor for the result; a single number (a 1-D input's μ) stays a number."""
    if tensor is not None and tensor.dim() == 0:
        return float(tensor) + 0.0
    return _list(tensor)


def _notes(
    layer: Layer,
    plan: Plan,
    drawn: list[str],
    after: list[str],
    seed: int,
    defaults: list[str] = (),
) -> list[str]:
    """The layer's own notes, the inputs set to torch's starting values, and everything
    drawn (the inputs, then ``after`` them: G and the final states' upstreams)."""
    notes = list(layer.notes(plan.params, plan.shapes))
    if defaults:
        owner = next(i.init_owner for i in layer.inputs if i.init in ("ones", "zeros"))
        names = [text.split(" ")[0] for text in defaults]
        options = "/".join(option(name) for name in names)
        none = " (or none)" if all(layer.input(name).none_allowed for name in names) else ""
        notes.append(
            f"{' and '.join(defaults)}: not given, so as {owner} starts "
            f"{'them' if len(defaults) > 1 else 'it'}; {options} TENSOR{none} sets others."
        )
    made = [*drawn, *after]
    if made:
        notes.append(
            f"random values as after torch.manual_seed({seed}): "
            + ", then ".join(made)
            + "; --json carries every value."
        )
    return notes


# ---------------------------------------------------------------- --expect


def grid(tensor: Tensor) -> list:
    """The 2-D view an answer is compared in: a vector stays a vector, higher ranks become
    (every index but the last) × (the last index)."""
    t = tensor.double()
    if t.dim() <= 2:
        return t.tolist()
    return t.reshape(-1, t.shape[-1]).tolist()


def _solution(
    layer: Layer,
    result: LayerResult,
    steps: list[Step] | None,
    tensors: Mapping[str, Tensor | None],
    params,
    g: Tensor,
    expected: Mapping[str, Expected],
    settings: Settings,
) -> Solution:
    """y, the keyed quantities of the steps (when computed) and ∂L/∂input for every input with
    a gradient — each in the order the derivation reaches it, the gradients' values the
    closed-form backward's (the analytic column), their ``compute`` the steps' relation."""
    by_step = {step.key: step for step in steps or [] if step.key and step.tensor is not None}
    relations = _relations(layer, by_step, tensors, params, g, settings) if expected else {}
    grads = {grad.name: grad for grad in result.grads}
    quantities: dict[str, Quantity] = {}

    def add(key: str, quantity: Quantity) -> None:
        depends_on, compute = relations.get(key, ((), None))
        quantities[key] = replace(quantity, depends_on=depends_on, compute=compute)

    output = Quantity("y", "y", layer.forward_formula, result.output.value,
                      dim_names=tuple(result.output.dim_names))  # fmt: skip
    if "y" not in by_step:
        add("y", output)
    for key, step in by_step.items():
        if key == "y":
            add("y", output)
        elif key in grads:
            add(key, _gradient_quantity(layer, grads[key], tensors, params, g, settings))
        else:
            add(key, _step_quantity(layer, step, tensors, params, g))
    for name, grad in grads.items():
        if name not in quantities:
            add(name, _gradient_quantity(layer, grad, tensors, params, g, settings))
    absent = [key for key in expected if key not in quantities]
    if absent:
        raise InputError(
            f"--expect {absent[0]}: {layer.name} has no such quantity with these parameters; "
            f"its keys here: {', '.join(quantities)}"
        )
    return Solution(tuple(quantities.values()))


def _step_quantity(layer: Layer, step: Step, tensors, params, g: Tensor) -> Quantity:
    """An intermediate of --steps, with the registry's slips for its key."""
    symbol = step.symbol or step.label.split(" ")[0]
    shape = tuple(step.tensor.shape)

    def slips() -> list[Slip]:
        found = layer.slips(tensors, params, g, step.key)
        return [
            Slip(text, grid(value.double().reshape(shape)))
            for text, value in found
            if value.numel() == step.tensor.numel()
        ]

    return Quantity(
        step.key,
        symbol,
        step.formula or step.label,
        _step_value(step.tensor),
        dim_names=tuple(step.dim_names),
        slips=slips,
        noun=symbol,
    )


def _gradient_quantity(
    layer: Layer, grad: LayerGradient, tensors, params, g: Tensor, settings: Settings
) -> Quantity:
    """∂L/∂name with the registry's slips (and the batch-mean slip) and the kinks."""
    name = grad.name
    truth = torch.tensor(nested(grad.check.analytic), dtype=torch.float64)
    shape = tuple(tensors[name].shape)

    def slips() -> list[Slip]:
        return [
            Slip(text, grid(value.reshape(truth.shape)))
            for text, value in _slips(layer, tensors, params, g, name, truth.reshape(shape))
        ]

    return Quantity(
        name,
        f"∂L/∂{grad.symbol}",
        grad.formula,
        grad.check.analytic,
        dim_names=tuple(grad.dim_names),
        slips=slips,
        kinks=_answer_kinks(layer, tensors, params, g, name, truth, settings),
        noun=f"∂L/∂{name}",
        locator=f"∂L/∂{name}",
    )


def _relations(layer: Layer, by_step, tensors, params, g: Tensor, settings: Settings) -> dict:
    """Each keyed step's dependencies and its compute on plain values (float64: the steps
    are rebuilt from float64 tensors when the layer ran in float32)."""
    if settings.dtype.value != "float64":
        doubled = {k: (v.double() if v is not None and v.is_floating_point() else v)
                   for k, v in tensors.items()}  # fmt: skip
        rebuilt = layer.steps(doubled, params, g.double())
        by_step = {s.key: s for s in rebuilt if s.key and s.tensor is not None}
    relations = {}
    for key, step in by_step.items():
        if step.compute is None:
            continue

        def compute(values, step=step):
            given = {k: torch.tensor(nested(v), dtype=torch.float64) for k, v in values.items()}
            out = step.compute(given)
            return float(out) + 0.0 if out.dim() == 0 else (out.double() + 0.0).tolist()

        relations[key] = (tuple(step.depends_on), compute)
    return relations


def _answer_kinks(
    layer: Layer, tensors, params, g: Tensor, key: str, truth: Tensor, settings: Settings
) -> KinkFinder | None:
    """For a layer with kinks (max pooling's ties): ∂L/∂key probed with the entry moved just
    left and just right, by the closed-form backward in float64."""
    if not layer.kinks_text:
        return None
    base = {
        name: (v.double() if v is not None and v.is_floating_point() else v)
        for name, v in tensors.items()
    }

    def one_sided(k: int, direction: int) -> float:
        moved = {**base, key: flat_nudged(base[key], k, direction)}
        return float(layer.backward(moved, params, g.double())[key].reshape(-1)[k])

    return probing_finder(one_sided, truth.reshape(-1).tolist(), settings.tolerance)


def _slips(
    layer: Layer, tensors, params, g: Tensor, name: str, truth: Tensor
) -> list[tuple[str, Tensor]]:
    """The registry's slips for this layer, then a factor N or 1/N (the batch-mean slip)."""
    found = [(text, value.double()) for text, value in layer.slips(tensors, params, g, name)]
    batch = _batch_size(layer, tensors)
    if batch > 1:
        found += [
            (f"the gradient divided by N = {batch} (a batch mean where L is a sum)", truth / batch),
            (f"the gradient times N = {batch}", truth * batch),
        ]
    return [(text, value) for text, value in found if text]


def _batch_size(layer: Layer, tensors) -> int:
    if layer.batch_size is not None:
        return layer.batch_size(tensors)
    first = tensors[layer.inputs[0].name]
    return int(first.shape[0]) if first is not None and first.dim() > 1 else 1
