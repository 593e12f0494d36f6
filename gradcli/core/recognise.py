"""Which registry function the user's forward is, and which of its known slips the backward
makes.

The user's forward is compared, at the checked inputs and at ``EXTRA_POINTS`` more random
draws (wider, both signs), with every registry function that takes inputs of those shapes:
the activations with their default parameters, softmax and log-softmax along the last
dimension, the losses (prediction and one target) with each reduction, and the layers whose
inputs fit the arguments. A function is recognised only when it agrees within the tolerance
at every point — one point in common (sigmoid and anything else at 0) is not enough. The
recognised record's slips (the ones ``--expect`` names) are then turned into the gradients
a backward making that slip would return for the same upstream vectors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradcli.core.evidence as base
from gradcli._torch import load
from gradcli.errors import InputError
from gradcli.results.check import Diagnosis

torch = load()
Tensor = torch.Tensor

EXTRA_POINTS = 2  # random draws besides the checked inputs
EXTRA_MAGNITUDE = (0.1, 8.0)  # their |x|, with a random sign (past relu6's 6)
SEED = 19_000  # the extra draws do not depend on --seed: the same function is always found

SlipFn = Callable[[base.ArgEvidence, base.Evidence], list[tuple[str, Tensor]]]


@dataclass
class Candidate:
    """A registry function that could be the user's forward."""

    name: str  # "sigmoid", "softmax along the last dimension"…
    command: str  # where the user reads about it: "gradcli activation sigmoid"
    forward: Callable[[list[Tensor]], Tensor]
    slips: SlipFn = lambda arg, ev: []


@dataclass
class Recognition:
    """The registry function(s) the forward agrees with at every point tried."""

    names: list[str]
    command: str
    points: int
    slips: list[SlipFn] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.names[0]

    def note(self) -> str:
        also = f" (it also matches {', '.join(self.names[1:])})" if len(self.names) > 1 else ""
        return (
            f"your forward is {self.name}{also}: it agrees with gradcli's ({self.command}) at all "
            f"{self.points} points tried (the checked inputs and {EXTRA_POINTS} more random "
            "draws)"
        )


def recognise(ev: base.Evidence) -> Recognition | None:
    """The registry function the forward is, or None (also when it cannot be evaluated)."""
    if ev.order != 1 or ev.forward_at is None or not ev.inputs:
        return None
    candidates = _candidates(ev)
    if not candidates:
        return None
    points = [ev.inputs, *_extra_points(ev)]
    outputs = [ev.output]
    for inputs in points[1:]:
        try:
            outputs.append(ev.forward_at(inputs).double().reshape(-1))
        except Exception:
            return None
    found = [c for c in candidates if _agrees(c, points, outputs, ev)]
    if not found:
        return None
    count = sum(int(o.numel()) for o in outputs)
    return Recognition([c.name for c in found], found[0].command, count, [c.slips for c in found])


def known_slip(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    """The recognised function's slip that explains every checked entry of ``arg``."""
    recognition = ev.recognised
    if recognition is None or arg.analytic is None:
        return None
    for slips in recognition.slips:
        try:
            made = slips(arg, ev)
        except (RuntimeError, ValueError, InputError):
            continue
        for text, values in made:
            if values.shape != arg.analytic.shape:
                continue
            if base.close(values, arg.numeric, arg.checked, ev.tolerance):
                continue  # this slip gives the right answer here
            if base.close(arg.analytic, values, arg.checked, ev.tolerance):
                return base.finding(
                    "known-slip",
                    f"your forward is {recognition.name}, and {base.partial(arg, ev.order)} is "
                    f"{text} (a slip `{recognition.command} --expect` names too)",
                    arg,
                    ev.order,
                )
    return None


def _agrees(
    candidate: Candidate, points: list[list[Tensor]], outputs: list[Tensor], ev: base.Evidence
) -> bool:
    tol = ev.tolerance
    for inputs, out in zip(points, outputs, strict=True):
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = candidate.forward([x.double() for x in inputs]).double().reshape(-1)
        except (RuntimeError, ValueError, IndexError, InputError):
            return False
        if theirs.shape != out.shape or not bool(torch.isfinite(theirs).all()):
            return False
        if not bool(((out - theirs).abs() <= tol.atol + tol.rtol * theirs.abs()).all()):
            return False
    return True


def _extra_points(ev: base.Evidence) -> list[list[Tensor]]:
    generator = torch.Generator().manual_seed(SEED)
    low, high = EXTRA_MAGNITUDE
    points = []
    for _ in range(EXTRA_POINTS):
        inputs = []
        for x in ev.inputs:
            if not x.is_floating_point():
                inputs.append(x)
                continue
            size = tuple(x.shape)
            magnitude = low + (high - low) * torch.rand(
                size, generator=generator, dtype=torch.float64
            )
            sign = torch.randint(0, 2, size, generator=generator).to(torch.float64) * 2 - 1
            inputs.append((magnitude * sign).to(x.dtype))
        points.append(inputs)
    return points


# ------------------------------------------------------------------ the candidates


def _candidates(ev: base.Evidence) -> list[Candidate]:
    floats = [x for x in ev.inputs if x.is_floating_point()]
    found: list[Candidate] = []
    if len(ev.inputs) == 1 and len(floats) == 1 and list(floats[0].shape) == ev.out_shape:
        found += _activations()
        if floats[0].dim() >= 1:
            found += _softmaxes()
    if len(ev.inputs) == 2 and ev.inputs[0].is_floating_point() and ev.out_shape == []:
        found += _losses(ev)
    found += _layers(ev)
    return found


def _activations() -> list[Candidate]:
    from gradcli.ops.activations import ACTIVATIONS

    found = []
    for activation in ACTIVATIONS.values():
        try:
            params = activation.resolve_params([])
        except InputError:
            continue
        found.append(
            Candidate(
                activation.name,
                f"gradcli activation {activation.name}",
                lambda xs, a=activation, p=params: a.forward(xs[0], p),
                lambda arg, ev, a=activation, p=params: _activation_slips(a, p, arg, ev),
            )
        )
    return found


def _activation_slips(activation: Any, params: Any, arg: base.ArgEvidence, ev: base.Evidence):
    """The slips `activation --expect` names, as elementwise factors of dout."""
    from gradcli.core.activation import _slips

    x = arg.values.reshape(arg.shape)
    value = activation.forward(x, params)
    return [
        (_lower(slip.description), ev.probes * torch.tensor(slip.values).reshape(1, -1).double())
        for slip in _slips(activation, params, x, value)
    ]


def _softmaxes() -> list[Candidate]:
    return [
        Candidate(
            "softmax along the last dimension",
            "gradcli softmax-jacobian",
            lambda xs: torch.softmax(xs[0], dim=-1),
            _softmax_slips,
        ),
        Candidate(
            "log-softmax along the last dimension",
            "gradcli softmax-jacobian",
            lambda xs: torch.log_softmax(xs[0], dim=-1),
        ),
    ]


def _softmax_slips(arg: base.ArgEvidence, ev: base.Evidence) -> list[tuple[str, Tensor]]:
    """The slips `softmax-jacobian --expect` names, applied row by row to each dout."""
    from gradcli.core.softmax import _slips, stable_softmax

    n = arg.shape[-1]
    rows = arg.values.reshape(-1, n)
    probes = ev.probes.reshape(ev.probes.shape[0], -1, n)
    per_row = [_slips(stable_softmax(row, 1.0), 1.0) for row in rows]
    made = []
    for k, first in enumerate(per_row[0]):
        matrices = []
        for slips in per_row:
            values = torch.tensor(slips[k].values, dtype=torch.float64)
            matrices.append(values if values.dim() == 2 else torch.diag(values))
        stacked = torch.stack(matrices)  # rows × n × n, S[i, j] = the slip's ∂p_i/∂a_j
        vjp = torch.einsum("pri,rij->prj", probes, stacked).reshape(ev.probes.shape[0], -1)
        made.append((_lower(first.description), vjp))
    return made


def _losses(ev: base.Evidence) -> list[Candidate]:
    from gradcli.ops.losses import LOSSES, TargetKind

    pred, target = ev.inputs
    found = []
    for loss in LOSSES.values():
        params = {param.name: param.default for param in loss.params}
        if loss.target_kind == TargetKind.classes:
            fits = not target.is_floating_point() and tuple(target.shape) == tuple(pred.shape[:-1])
        else:
            fits = target.is_floating_point() and target.shape == pred.shape
        if not fits:
            continue
        for reduction in loss.reductions:
            how = getattr(reduction, "value", str(reduction))
            found.append(
                Candidate(
                    f"{loss.name} loss (reduction '{how}')",
                    f"gradcli loss {loss.name}",
                    lambda xs, lo=loss, p=params, h=how: lo.functional(xs[0], _target(xs[1]), p, h),
                )
            )
    return found


def _target(t: Tensor) -> Tensor:
    return t if t.is_floating_point() else t.long()


def _layers(ev: base.Evidence) -> list[Candidate]:
    from gradcli.ops.layers import LAYERS

    found = []
    for layer in LAYERS.values():
        if layer.draw_state is not None or len(ev.inputs) > len(layer.inputs):
            continue
        try:
            params = layer.resolve_params([])
            names = [item.name for item in layer.inputs]
            given = dict(zip(names, ev.inputs, strict=False))
            missing = names[len(ev.inputs) :]
            if any(not layer.input(name).none_allowed for name in missing):
                continue
            shapes = {name: (tuple(given[name].shape) if name in given else None) for name in names}
            if list(layer.output_shape(shapes, params)) != ev.out_shape:
                continue
        except (InputError, KeyError, IndexError, TypeError, ValueError):
            continue
        found.append(
            Candidate(
                f"the {layer.name} layer",
                f"gradcli layer {layer.name}",
                lambda xs, la=layer, p=params, ns=names: la.forward(_tensors(ns, xs), p),
                lambda arg, ev, la=layer, p=params, ns=names: _layer_slips(la, p, ns, arg, ev),
            )
        )
    return found


def _tensors(names: list[str], inputs: list[Tensor]) -> dict[str, Tensor | None]:
    tensors: dict[str, Tensor | None] = {name: None for name in names}
    for name, x in zip(names, inputs, strict=False):
        tensors[name] = x if x.is_floating_point() else x.long()
    return tensors


def _layer_slips(
    layer: Any, params: Any, names: list[str], arg: base.ArgEvidence, ev: base.Evidence
) -> list[tuple[str, Tensor]]:
    """The slips `layer --expect` names for this input, for every dout."""
    name = names[arg.position]
    tensors = _tensors(names, [x.double() for x in ev.inputs])
    per_probe: dict[str, list[Tensor]] = {}
    for v in ev.probes:
        g = v.reshape(ev.out_shape)
        for text, value in layer.slips(tensors, params, g, name):
            per_probe.setdefault(text, []).append(value.double().reshape(-1))
    count = ev.probes.shape[0]
    return [
        (_lower(text), torch.stack(values))
        for text, values in per_probe.items()
        if len(values) == count and all(v.numel() == arg.n for v in values)
    ]


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
