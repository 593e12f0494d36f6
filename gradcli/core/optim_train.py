"""``perceptron --epochs N --optimizer NAME [--weight-decay λ]``: training with the optimizer
registry, every epoch's update checked against torch.optim.

Each epoch: the forward pass, the loss (E, plus ½λ‖W‖² when the decay is L2), the gradients
by backprop (the delta rule, :func:`gradcli.core.backprop.backprop`), then for every weight
matrix and bias vector the registry's update by hand (:mod:`gradcli.ops.optimizers`). A
mirror of the parameters is stepped by torch.optim with the same gradients — two parameter
groups, the weights with ``weight_decay`` λ and the biases with 0 (textbooks write ½λ‖W‖²:
biases are never decayed) — and the two are compared after every epoch. The last epoch's
gradient is checked against autograd, as plain gradient descent does.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradcli.core.backprop import (
    Network,
    autograd_gradients,
    backprop,
    detached_copy,
    forward,
)
from gradcli.core.descent import _raise_if_diverged, _Recorder
from gradcli.core.engine import CHUNK_ELEMENTS, judge, one_thread, torch
from gradcli.core.optim import torch_optimizer
from gradcli.ops.optimizers import TrainingChoice, fresh_state
from gradcli.results.perceptron import OptimizerTraining, StepCheck, Training
from gradcli.settings import Settings

Tensor = torch.Tensor


@dataclass
class _Entry:
    """One tensor the optimizer moves: where it lives, its hand state and its torch mirror."""

    layer: int
    attribute: str  # "weight" or "bias"
    state: dict
    options: dict
    mirror: Tensor


def loss_text(choice: TrainingChoice) -> str:
    """What the history's loss is under this optimizer's weight decay."""
    if choice.penalised:
        return f"E + ½λ‖W‖²  (λ = {choice.weight_decay:g}, the weights of every layer)"
    if choice.weight_decay:
        return "E  (decoupled weight decay is not part of the loss)"
    return "E"


def train(
    net: Network, epochs: int, choice: TrainingChoice, bias_update: bool, settings: Settings
) -> Training:
    """``epochs`` steps of the optimizer from the network's parameters (left untouched)."""
    trained = detached_copy(net)
    entries = _entries(trained, choice, bias_update)
    weights = [e.mirror for e in entries if e.attribute == "weight"]
    biases = [e.mirror for e in entries if e.attribute == "bias"]
    groups = [{"params": weights}] + ([{"params": biases, "weight_decay": 0.0}] if biases else [])
    reference = torch_optimizer(choice.optimizer, groups, choice.options)
    output_shape = (net.x.shape[0], net.layers[-1].weight.shape[0])
    scale = net.loss.reduction_scale(net.reduction, output_shape)
    per_row = max(1, output_shape[0] * output_shape[1])
    record = _Recorder(trained, max(1, min(epochs + 1, CHUNK_ELEMENTS // per_row)), scale)
    penalties: list[Tensor] = []
    diffs = torch.zeros(epochs, dtype=torch.float64)
    excess = torch.zeros(epochs, dtype=torch.float64)
    last = StepCheck(0.0, True)
    with one_thread():
        for epoch in range(epochs):
            with torch.no_grad():
                passes = forward(trained.x, trained.layers)
                record(passes[-1][1])
                penalties.append(_penalty(trained, choice))
                worked = backprop(trained, passes)
            if epoch == epochs - 1:
                last = _gradient_check(trained, worked, settings)
            with torch.no_grad():
                _step(trained, entries, worked, choice, reference)
                diffs[epoch], excess[epoch] = _compare(trained, entries, settings)
        with torch.no_grad():
            final = forward(trained.x, trained.layers)[-1][1]
            record(final)
            record.flush()
            penalties.append(_penalty(trained, choice))
    _raise_if_diverged(record, epochs, choice.lr, settings.dtype.value, final.shape[-1])
    history = record.losses
    if choice.penalised:
        history = [e + float(p) for e, p in zip(history, penalties, strict=True)]
    agree = bool((excess <= settings.tolerance.atol).all())  # NaN never agrees
    worst = int(torch.argmax(torch.nan_to_num(diffs, nan=float("inf")))) + 1
    return Training(
        epochs=epochs,
        lr=choice.lr,
        bias_update=bias_update,
        history=history,
        final_outputs=final.double().tolist(),
        final_weights=[layer.weight.double().tolist() for layer in trained.layers],
        final_biases=[
            None if layer.bias is None else layer.bias.double().tolist() for layer in trained.layers
        ],
        last_step=last,
        optimizer=OptimizerTraining(
            name=choice.optimizer.name,
            torch_class=choice.optimizer.torch_class,
            options=choice.options,
            weight_decay=choice.weight_decay,
            decay=choice.optimizer.decay,
            loss_formula=loss_text(choice),
            check=StepCheck(float(diffs.max()) if epochs else 0.0, agree),
            worst_epoch=worst,
        ),
    )


def _entries(net: Network, choice: TrainingChoice, bias_update: bool) -> list[_Entry]:
    """Every weight matrix, and every bias unless the biases stay fixed."""
    entries = []
    for index, layer in enumerate(net.layers):
        tensors = [("weight", layer.weight)]
        if bias_update and layer.bias is not None:
            tensors.append(("bias", layer.bias))
        for attribute, tensor in tensors:
            options = choice.options_for(attribute == "weight")
            state = fresh_state(choice.optimizer, tensor, options)
            entries.append(_Entry(index, attribute, state, options, tensor.detach().clone()))
    return entries


def _penalty(net: Network, choice: TrainingChoice) -> Tensor:
    """½λ Σ‖W‖² over every layer's weights (L2 decay), else 0."""
    if not choice.penalised:
        return torch.zeros((), dtype=torch.float64)
    return (
        0.5 * choice.weight_decay * sum((layer.weight.double() ** 2).sum() for layer in net.layers)
    )


def _step(net: Network, entries: list[_Entry], worked, choice: TrainingChoice, reference) -> None:
    """The hand update of every entry, then torch.optim's step on the mirrors."""
    form = choice.optimizer.form
    names = [entry.name for entry in choice.optimizer.state_for(choice.options)]
    for entry in entries:
        layer = net.layers[entry.layer]
        grads = worked.weight_grads if entry.attribute == "weight" else worked.bias_grads
        gradient = grads[entry.layer]
        tensor = getattr(layer, entry.attribute)
        values = form.update(tensor, gradient, entry.state, entry.options, frozenset())
        for name in names:
            entry.state[name] = values[name]
        setattr(layer, entry.attribute, values["new_param"])
        entry.mirror.grad = gradient
    reference.step()


def _compare(net: Network, entries: list[_Entry], settings: Settings) -> tuple[Tensor, Tensor]:
    """The largest |by hand − torch.optim| over every entry, and the largest excess over the
    tolerance's relative part (|a − b| − rtol·|b|, to be ≤ atol)."""
    rtol = settings.tolerance.rtol
    worst, beyond = [], []
    for entry in entries:
        ours = getattr(net.layers[entry.layer], entry.attribute)
        gap = (ours - entry.mirror).abs_()
        worst.append(gap.max())
        beyond.append(gap.sub_(entry.mirror.abs(), alpha=rtol).max())
    return torch.stack(worst).max(), torch.stack(beyond).max()


def _gradient_check(net: Network, worked, settings: Settings) -> StepCheck:
    """The last step's backprop gradient against autograd's."""
    _, autograd = autograd_gradients(net, "grad")
    analytic = [
        g
        for w, b in zip(worked.weight_grads, worked.bias_grads, strict=True)
        for g in (w, b)
        if g is not None
    ]
    checks = [
        judge(a, g, None, settings.tolerance) for a, g in zip(analytic, autograd, strict=True)
    ]
    return StepCheck(
        max_abs_diff=max(check.max_abs_diff for check in checks),
        agree=all(check.agree for check in checks),
    )
