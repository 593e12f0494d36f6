"""`gradcli layer`: one layer's backward pass, written out by hand, vs autograd vs numeric.

The scalar is L = Σ G ⊙ y, with y = layer(inputs) and G the upstream gradient. For every
input with a gradient, ∂L/∂input is computed three ways:

- analytic: the registry's closed-form backward applied to G (no autograd anywhere);
- autograd: ``torch.autograd.grad(L, inputs)`` through torch's own forward;
- numeric: central differences of L in float64, on a seeded sample of the entries when
  there are many (said in the table and in JSON as ``numeric_sampled``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gradcli.core.engine import TORCH_DTYPES, judge, step_sizes, torch
from gradcli.errors import InputError, unknown
from gradcli.expect import AnswerSet, Expected, Slip, check_answer
from gradcli.layers import NUMERIC_SAMPLE, Given, Layer, Plan, Step
from gradcli.results import GradientCheck
from gradcli.results.layer import LayerGradient, LayerResult, LayerStep, TensorInfo
from gradcli.settings import Settings, Tolerance

Tensor = torch.Tensor


@dataclass(frozen=True)
class LayerRequest:
    """A checked plan, the upstream gradient wanted, the seed and whether to show steps."""

    plan: Plan
    upstream: str | Given = "random"  # "random", "ones", or the tensor itself
    seed: int = 0
    steps: bool = False


# ---------------------------------------------------------------- building the tensors


def _tensor(given: Given, shape: tuple[int, ...], dtype, what: str) -> Tensor:
    tensor = torch.tensor(list(given.values), dtype=dtype).reshape(shape)
    if not bool(torch.isfinite(tensor).all()):
        raise InputError(f"{what} has values that overflow {str(dtype).removeprefix('torch.')}")
    return tensor


def build_inputs(plan: Plan, dtype, generator) -> tuple[dict[str, Tensor | None], list[str]]:
    """The inputs in registry order: given, drawn (torch.randn from the generator) or None.

    Also returns how each drawn tensor was made, for the note that lets users repeat it.
    """
    tensors: dict[str, Tensor | None] = {}
    drawn: list[str] = []
    for item in plan.layer.inputs:
        source, shape = plan.sources[item.name], plan.shapes[item.name]
        if source == "none":
            tensors[item.name] = None
        elif source == "given":
            values = Given(values=plan.values[item.name], shape=shape)
            if item.kind == "index":
                tensors[item.name] = torch.tensor(list(values.values)).long().reshape(shape)
            else:
                tensors[item.name] = _tensor(values, shape, dtype, f"--{item.name}")
        else:
            # drawn like torch.randn (float32), so that torch.manual_seed(S) reproduces it
            tensors[item.name] = torch.randn(*shape, generator=generator).to(dtype)
            drawn.append(f"{item.name} = torch.randn({', '.join(map(str, shape))})")
    return tensors, drawn


def build_upstream(request: LayerRequest, dtype, generator) -> tuple[Tensor, str, str | None]:
    """G, its kind, and how it was drawn (None unless random)."""
    shape = request.plan.output_shape
    if isinstance(request.upstream, Given):
        return _tensor(request.upstream, shape, dtype, "--upstream"), "given", None
    if request.upstream == "ones":
        return torch.ones(shape, dtype=dtype), "ones", None
    g = torch.randn(*shape, generator=generator).to(dtype)
    return g, "random", f"G = torch.randn({', '.join(map(str, shape))})"


# ---------------------------------------------------------------- the three gradients


def autograd_gradients(
    layer: Layer, tensors: Mapping[str, Tensor | None], params, g: Tensor, names: list[str]
) -> dict[str, Tensor]:
    """∂L/∂input through torch: L = Σ G ⊙ forward(inputs), ``torch.autograd.grad``."""
    leaves = {name: tensors[name].detach().clone().requires_grad_(True) for name in names}
    loss = (g * layer.forward({**tensors, **leaves}, params)).sum()
    grads = torch.autograd.grad(loss, [leaves[name] for name in names])
    return dict(zip(names, grads, strict=True))


def loss_for(
    layer: Layer, tensors: Mapping[str, Tensor | None], params, g: Tensor, name: str
) -> Callable[[Tensor], Tensor]:
    """L = Σ G ⊙ y as a function of one input, the others fixed."""

    def loss(value: Tensor) -> Tensor:
        return (g * layer.forward({**tensors, name: value}, params)).sum()

    return loss


@dataclass(frozen=True)
class NumericEstimate:
    """Finite differences of L w.r.t. one input (float64); NaN where not computed."""

    value: Tensor
    checked: Tensor  # bool, where a difference was taken
    sampled: bool


def numeric_gradient(
    layer: Layer,
    tensors: Mapping[str, Tensor | None],
    params,
    g: Tensor,
    name: str,
    shapes,
    *,
    seed: int = 0,
) -> NumericEstimate:
    """Central differences (L(x + h·e_k) − L(x − h·e_k)) / 2h of L w.r.t. input ``name``.

    float64 throughout, h = 1e-6·max(1, |x_k|) (the engine's step). Above NUMERIC_SAMPLE
    entries a seeded random sample of NUMERIC_SAMPLE entries is differenced, and the
    estimate says so. The one place the numeric side of `layer` is computed.
    """
    base = tensors[name]
    count = base.numel()
    sampled = count > NUMERIC_SAMPLE
    if sampled:
        chooser = torch.Generator().manual_seed(seed)
        picked = torch.randperm(count, generator=chooser)[:NUMERIC_SAMPLE].sort().values
    else:
        picked = torch.arange(count)
    h = step_sizes(base.reshape(-1)[picked])
    differences = _differences(layer, tensors, params, g, name, shapes, picked, h)
    value = torch.full((count,), float("nan"), dtype=torch.float64)
    value[picked] = differences / (2 * h)
    checked = torch.zeros(count, dtype=torch.bool)
    checked[picked] = True
    return NumericEstimate(value.reshape(base.shape), checked.reshape(base.shape), sampled)


CHUNK_ENTRIES = 4 * 10**6  # float64 entries stacked into one batched evaluation (32 MB)


def _differences(
    layer: Layer, tensors, params, g: Tensor, name: str, shapes, picked: Tensor, h: Tensor
) -> Tensor:
    """L(x + h·e_k) − L(x − h·e_k) for each picked entry k."""
    groups = [group for group in layer.groups(shapes, params) if name in group]
    members = {member for group in groups for member in group}
    if groups and members <= set(groups[0]):
        return _differences_stacked(layer, tensors, params, g, name, groups, picked, h)
    if name in layer.broadcast_inputs:
        return _differences_broadcast(layer, tensors, params, g, name, picked, h)
    return _differences_one_by_one(layer, tensors, params, g, name, picked, h)


def _differences_one_by_one(layer, tensors, params, g, name, picked, h) -> Tensor:
    loss = loss_for(layer, tensors, params, g, name)
    shape = tensors[name].shape
    flat = tensors[name].reshape(-1)
    out = torch.empty(len(picked), dtype=torch.float64)
    for i, (k, step) in enumerate(zip(picked.tolist(), h.tolist(), strict=True)):
        bump = torch.zeros_like(flat)
        bump[k] = step
        out[i] = loss((flat + bump).reshape(shape)) - loss((flat - bump).reshape(shape))
    return out


def _differences_broadcast(layer, tensors, params, g, name, picked, h) -> Tensor:
    """Perturbed copies of the whole input stacked along a new leading dimension, which the
    layer's forward broadcasts over (attention's keys): one forward pass per chunk."""
    base = tensors[name]
    flat = base.reshape(-1)
    chunk = max(1, CHUNK_ENTRIES // (2 * (base.numel() + 2 * g.numel())))
    out = []
    for start in range(0, len(picked), chunk):
        rows = picked[start : start + chunk]
        bumps = torch.zeros(len(rows), flat.numel(), dtype=flat.dtype)
        bumps[torch.arange(len(rows)), rows] = h[start : start + chunk]
        copies = torch.cat([flat + bumps, flat - bumps]).reshape(-1, *base.shape)
        y = layer.forward({**tensors, name: copies}, params)
        per_copy = (g * y).reshape(len(copies), -1).sum(dim=1)
        out.append(per_copy[: len(rows)] - per_copy[len(rows) :])
    return torch.cat(out)


def _differences_stacked(layer, tensors, params, g, name, groups, picked, h) -> Tensor:
    """Differences from slices: an entry of ``name`` reaches only the slice of y its groups
    name (one sample, one channel, one row…), so L(x ± h·e_k) − L(x) is a sum over that
    slice alone. The slices of many perturbed entries, +h and −h, are stacked along the
    first group's dimension and evaluated in one forward pass; the terms outside the slice
    cancel exactly in the difference, so they are never computed."""
    base = tensors[name]
    rank = base.dim()
    first = groups[0]
    where = [_unravel(k, tuple(base.shape)) for k in picked.tolist()]
    chunk = max(1, CHUNK_ENTRIES // (2 * _slice_size(tensors, g, groups)))
    steps = h.tolist()
    out = []
    for start in range(0, len(where), chunk):
        entries = list(zip(where[start : start + chunk], steps[start : start + chunk], strict=True))
        slices: dict[str, list[Tensor]] = {member: [] for member in first}
        for sign in (1.0, -1.0):
            for index, step in entries:
                key = [index[group[name] % rank] for group in groups]
                for member in first:
                    source = g if member == "y" else tensors.get(member)
                    if source is None:
                        continue
                    piece = _narrow(source, member, groups, key)
                    if member == name:
                        piece = piece.clone()
                        local = [
                            0 if _narrowed(d, name, groups, rank) else i
                            for d, i in enumerate(index)
                        ]
                        piece[tuple(local)] += sign * step
                    slices[member].append(piece)
        stacked = {
            member: torch.cat(pieces, dim=first[member])
            for member, pieces in slices.items()
            if pieces and member != "y"
        }
        g_stacked = torch.cat(slices["y"], dim=first["y"])
        y = layer.forward({**tensors, **stacked}, params)
        axis = first["y"] % y.dim()
        per_slice = (g_stacked * y).movedim(axis, 0).reshape(y.shape[axis], -1).sum(dim=1)
        half = len(entries)
        out.append(per_slice[:half] - per_slice[half:])
    return torch.cat(out)


def _unravel(position: int, shape: tuple[int, ...]) -> list[int]:
    """The index of entry ``position`` of a row-major tensor of ``shape``.

    (Plain arithmetic: torch.unravel_index would import sympy, +0.4 s.)
    """
    index = []
    for size in reversed(shape):
        position, rest = divmod(position, size)
        index.append(rest)
    return index[::-1]


def _narrow(source: Tensor, member: str, groups, key: list[int]) -> Tensor:
    piece = source
    for group, index in zip(groups, key, strict=True):
        if member in group:
            piece = piece.narrow(group[member], index, 1)
    return piece


def _narrowed(dim: int, name: str, groups, rank: int) -> bool:
    return any(group[name] % rank == dim for group in groups)


def _slice_size(tensors, g: Tensor, groups) -> int:
    """Entries in one perturbed entry's slices (every member of the groups, G and y)."""
    total = 0
    for member in groups[0]:
        source = g if member == "y" else tensors.get(member)
        if source is None:
            continue
        size = source.numel()
        for group in groups:
            if member in group:
                size //= source.shape[group[member]]
        total += size * (2 if member == "y" else 1)
    return total


def compare(
    analytic: Tensor,
    autograd: Tensor,
    estimate: NumericEstimate | None,
    tolerance: Tolerance,
    untrusted: Tensor | None,
) -> GradientCheck:
    """The engine's verdict, with unsampled numeric entries left out (None in the lists)."""
    if estimate is None:
        return judge(analytic, autograd, None, tolerance)
    trusted = estimate.checked & torch.isfinite(estimate.value)
    if untrusted is not None:
        trusted &= ~untrusted
    filled = torch.where(trusted, estimate.value, autograd.double())
    check = judge(analytic, autograd, filled, tolerance, trusted)
    numeric = [
        v if ok else None
        for v, ok in zip(
            estimate.value.reshape(-1).tolist(),
            estimate.checked.reshape(-1).tolist(),
            strict=True,
        )
    ]
    return dataclasses.replace(check, numeric=_nest(numeric, tuple(analytic.shape)))


def _nest(values: list, shape: tuple[int, ...]) -> list:
    if len(shape) <= 1:
        return values
    size = len(values) // shape[0]
    return [_nest(values[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


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
    inputs, drawn = build_inputs(plan, dtype, generator)
    state: dict[str, Tensor] = {}
    if layer.draw_state is not None:
        raw = layer.draw_state(plan.shapes, plan.params, generator)
        state = {key: value.to(dtype) for key, value in raw.items()}
        drawn += [layer.state_text(plan.params, plan.shapes["x"])] if layer.state_text else []
    g, upstream_kind, g_drawn = build_upstream(request, dtype, generator)
    tensors = {**inputs, **state}
    params = plan.params
    y = layer.forward(tensors, params)
    analytic = layer.backward(tensors, params, g)
    names = [name for name in layer.gradient_names if inputs.get(name) is not None]
    autograd = autograd_gradients(layer, tensors, params, g, names)
    grads = [
        _gradient(layer, plan, tensors, g, name, analytic[name], autograd[name], settings, request)
        for name in names
    ]
    answer = _answers(layer, tensors, params, g, grads, expected, settings) if expected else None
    notes = _notes(layer, plan, drawn, g_drawn, request.seed)
    return LayerResult(
        name=layer.name,
        summary=layer.summary,
        params={key: _json_param(value) for key, value in params.items()},
        forward_formula=layer.forward_formula,
        inputs=[_info(layer, plan, name, inputs[name]) for name in layer.input_names],
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
        grads=grads,
        max_abs_diff=max((grad.check.max_abs_diff for grad in grads), default=0.0),
        agree=all(grad.check.agree for grad in grads),
        dtype=settings.dtype.value,
        atol=settings.tolerance.atol,
        rtol=settings.tolerance.rtol,
        seed=request.seed if (drawn or g_drawn) else None,
        numeric=settings.numeric,
        steps=_steps(layer.steps(tensors, params, g)) if request.steps else None,
        notes=notes,
        answer=answer,
    )


def _gradient(
    layer: Layer,
    plan: Plan,
    tensors: Mapping[str, Tensor | None],
    g: Tensor,
    name: str,
    analytic: Tensor,
    autograd: Tensor,
    settings: Settings,
    request: LayerRequest,
) -> LayerGradient:
    estimate = untrusted = None
    if settings.numeric:
        t64 = {
            key: (value.double() if value is not None and value.is_floating_point() else value)
            for key, value in tensors.items()
        }
        estimate = numeric_gradient(
            layer, t64, plan.params, g.double(), name, plan.shapes, seed=request.seed
        )
        if layer.untrusted is not None:
            untrusted = layer.untrusted(t64, plan.params, name)
    check = compare(analytic, autograd, estimate, settings.tolerance, untrusted)
    value = tensors[name]
    notes = _gradient_notes(layer, estimate, untrusted, value.numel())
    counted = 0 if estimate is None else sum(1 for t in _flat(check.trusted) if t)
    return LayerGradient(
        name=name,
        symbol=layer.input(name).symbol,
        shape=list(value.shape),
        dim_names=list(_dims(layer, name, value.dim())),
        value=_list(value),
        formula=layer.backward_formulas[name],
        check=check,
        numeric_sampled=bool(estimate is not None and estimate.sampled),
        numeric_checked=counted,
        numeric_total=value.numel(),
        notes=notes,
    )


def _gradient_notes(
    layer: Layer, estimate: NumericEstimate | None, untrusted: Tensor | None, total: int
) -> list[str]:
    if estimate is None:
        return []
    notes = []
    done = int(estimate.checked.sum())
    if estimate.sampled:
        notes.append(
            f"numeric: {done:,} of {total:,} entries checked (seeded sample; finite "
            f"differences cost two forward passes per entry, so above {NUMERIC_SAMPLE} entries "
            "a random sample is taken)"
        )
    if untrusted is not None:
        left_out = int((untrusted & estimate.checked).sum())
        if left_out:
            notes.append(
                f"numeric: {left_out} entr{'y' if left_out == 1 else 'ies'} left out of the "
                f"verdict ({layer.kinks_text})"
            )
    return notes


def _flat(values) -> list:
    if not isinstance(values, list):
        return [values]
    return [v for item in values for v in _flat(item)]


def _list(value: Tensor | None):
    if value is None:
        return None
    if value.is_floating_point():
        return (value.double() + 0.0).tolist()  # + 0.0 turns −0 into 0
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
            label=step.label,
            formula=step.formula,
            shape=None if step.tensor is None else list(step.tensor.shape),
            dim_names=list(step.dim_names),
            value=None if step.tensor is None else _list(step.tensor),
            lines=list(step.lines),
        )
        for step in steps
    ]


def _notes(layer: Layer, plan: Plan, drawn: list[str], g_drawn: str | None, seed: int) -> list[str]:
    notes = list(layer.notes(plan.params, plan.shapes))
    made = [*drawn, *([g_drawn] if g_drawn else [])]
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


def _answers(
    layer: Layer,
    tensors: Mapping[str, Tensor | None],
    params,
    g: Tensor,
    grads: list[LayerGradient],
    expected: Mapping[str, Expected],
    settings: Settings,
) -> AnswerSet:
    by_name = {grad.name: grad for grad in grads}
    parts = {}
    for key, answer in expected.items():
        if key not in by_name:
            raise unknown("--expect key", key, by_name)
        truth_tensor = torch.tensor(by_name[key].check.analytic, dtype=torch.float64)
        slips = [
            Slip(text, grid(value.reshape(truth_tensor.shape)))
            for text, value in _slips(layer, tensors, params, g, key, truth_tensor)
        ]
        parts[key] = check_answer(
            answer,
            grid(truth_tensor),
            key,
            tolerance=settings.answer_tolerance,
            slips=slips,
            noun=f"∂L/∂{key}",
        )
    return AnswerSet(parts)


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
    first = tensors[layer.inputs[0].name]
    return int(first.shape[0]) if first is not None and first.dim() > 1 else 1
