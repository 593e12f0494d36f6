"""Gradient descent over epochs: ``perceptron --epochs N``.

Full batch, every step from the analytic backprop (the delta rule with the registries'
closed-form derivatives), all layers stepped simultaneously: every δ is computed with the
weights as they were before the step, then W ← W − lr·∂E/∂W (and b ← b − lr·∂E/∂b unless
the biases are kept fixed).

The loop is lean — a few tensor operations per layer, fused where torch allows
(``addmm_`` applies a weight step without forming ∂E/∂W), on one thread, without autograd —
because for small networks the time of a step is the fixed cost of each torch call. The
outputs of each step are kept (a bounded buffer) and the losses computed from them in a batch,
so ``history[k]``, the loss after k steps, costs no call of its own. The last step is taken
the long way: its gradient by :func:`gradcli.core.backprop.backprop`, checked against
autograd (the first step's gradient is the one the command checks three ways).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gradcli.core.backprop import (
    Network,
    _batched_terms,
    autograd_gradients,
    backprop,
    detached_copy,
    forward,
)
from gradcli.core.engine import CHUNK_ELEMENTS, judge, one_thread, torch
from gradcli.errors import InputError
from gradcli.results.perceptron import StepCheck, Training
from gradcli.settings import Settings

Tensor = torch.Tensor


@dataclass
class _Recorder:
    """Network outputs per step (kept by reference: a step makes new tensors), turned into
    losses ``rows`` at a time."""

    net: Network
    rows: int
    scale: float

    def __post_init__(self) -> None:
        self.outputs: list[Tensor] = []
        self.losses: list[float] = []
        # the first step whose outputs left the dtype's range, and those entries (flat)
        self.overflow: tuple[int, list[int]] | None = None

    def __call__(self, output: Tensor) -> None:
        self.outputs.append(output)
        if len(self.outputs) == self.rows:
            self.flush()

    def flush(self) -> None:
        if self.outputs:
            stacked = torch.stack(self.outputs)
            if self.overflow is None:
                bad = ~torch.isfinite(stacked.reshape(stacked.shape[0], -1))
                rows = bad.any(dim=1).nonzero().reshape(-1)
                if rows.numel():
                    row = int(rows[0])
                    entries = bad[row].nonzero().reshape(-1).tolist()
                    self.overflow = (len(self.losses) + row, entries)
            terms = _batched_terms(self.net, stacked, self.net.target)
            self.losses += (self.scale * terms.sum(dim=1)).double().tolist()
        self.outputs = []


def descend(
    net: Network, epochs: int, lr: float, bias_update: bool, settings: Settings
) -> Training:
    """Take ``epochs`` steps from the network's parameters (left untouched) and return the
    loss after each, the final parameters and the check of the last step's gradient."""
    trained = detached_copy(net)
    output_shape = (net.x.shape[0], net.layers[-1].weight.shape[0])
    scale = net.loss.reduction_scale(net.reduction, output_shape)
    per_row = max(1, output_shape[0] * output_shape[1])
    record = _Recorder(trained, max(1, min(epochs + 1, CHUNK_ELEMENTS // per_row)), scale)
    with one_thread():
        with torch.inference_mode():
            _fast_steps(trained, epochs - 1, lr, bias_update, record.__call__)
        last = _checked_step(trained, lr, bias_update, settings, record)
        with torch.no_grad():
            final = forward(trained.x, trained.layers)[-1][1]
            record(final)
            record.flush()
    _raise_if_diverged(record, epochs, lr, settings.dtype.value, final.shape[-1])
    return Training(
        epochs=epochs,
        lr=lr,
        bias_update=bias_update,
        history=record.losses,
        final_outputs=final.double().tolist(),
        final_weights=[layer.weight.double().tolist() for layer in trained.layers],
        final_biases=[
            None if layer.bias is None else layer.bias.double().tolist() for layer in trained.layers
        ],
        last_step=last,
    )


def _raise_if_diverged(record: _Recorder, epochs: int, lr: float, dtype: str, width: int) -> None:
    """InputError when the outputs or the loss left the dtype's range at some step: overflow is
    reported as such (from which step, which outputs), never as a disagreement of the last
    step's gradients."""
    losses = record.losses
    step = next((k for k, loss in enumerate(losses) if not math.isfinite(loss)), None)
    if step is None and record.overflow is None:
        return
    entries: list[int] = []
    if record.overflow is not None and (step is None or record.overflow[0] <= step):
        step, entries = record.overflow
    assert step is not None
    what = []
    if entries:
        named = ", ".join(f"O[{k // width}, {k % width}]" for k in entries[:3])
        more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        what.append(f"the outputs {named}{more}")
    what.append(f"E = {losses[step]:g}")
    before = f" (E after {step - 1:,} steps: {losses[step - 1]:g})" if step > 0 else ""
    raise InputError(
        f"gradient descent overflows {dtype} from step {step:,} of {epochs:,} (lr = {lr:g}): "
        f"after {step:,} step{'s' if step != 1 else ''} {' and '.join(what)}{before}; the steps "
        "diverge, so there is nothing to compare; "
        + ("try a smaller --lr or --dtype float64" if dtype == "float32" else "try a smaller --lr")
    )


def _fast_steps(
    net: Network, count: int, lr: float, bias_update: bool, record: Callable[[Tensor], None]
) -> None:
    """``count`` steps of the delta rule, lean: transposed views made once (they follow the
    in-place updates), f′ from the output where the registry writes it so (σ′ = o(1 − o))."""
    x, target, loss = net.x, net.target, net.loss
    weights = [layer.weight for layer in net.layers]
    transposed = [w.T for w in weights]
    biases = [layer.bias for layer in net.layers]
    stepped = [b if bias_update else None for b in biases]
    acts = [(layer.activation, layer.params) for layer in net.layers]
    derivative = [
        (lambda o, p, f=act.via_output[1]: f(o)) if act.via_output else None for act, _ in acts
    ]
    depth = len(weights)
    for _ in range(count):
        inputs, pres, outs = x, [], []
        for (act, params), w_t, bias in zip(acts, transposed, biases, strict=True):
            pre = inputs @ w_t if bias is None else torch.addmm(bias, inputs, w_t)
            inputs = act.forward(pre, params)
            pres.append(pre)
            outs.append(inputs)
        record(inputs)
        upstream = loss.gradient(inputs, target, net.reduction, net.loss_params)
        deltas: list[Tensor] = [upstream] * depth
        for i in range(depth - 1, -1, -1):
            act, params = acts[i]
            slope = derivative[i]
            if slope:  # a fresh tensor: δ formed in it
                deltas[i] = slope(outs[i], params).mul_(upstream)
            else:
                deltas[i] = upstream * act.derivative(pres[i], params)
            if i:
                upstream = deltas[i] @ weights[i]
        for i in range(depth):  # W ← W − lr·δᵀx, fused: ∂E/∂W = δᵀx is never formed
            weights[i].addmm_(deltas[i].T, x if i == 0 else outs[i - 1], alpha=-lr)
            if stepped[i] is not None:
                stepped[i].sub_(deltas[i].sum(dim=0), alpha=lr)


def _checked_step(
    net: Network, lr: float, bias_update: bool, settings: Settings, record: Callable
) -> StepCheck:
    """The last step the long way: backprop's gradient, compared with autograd's."""
    with torch.no_grad():
        passes = forward(net.x, net.layers)
        record(passes[-1][1])
        worked = backprop(net, passes)
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
    with torch.no_grad():
        grads = zip(net.layers, worked.weight_grads, worked.bias_grads, strict=True)
        for layer, w_grad, b_grad in grads:
            layer.weight.sub_(w_grad, alpha=lr)
            if bias_update and layer.bias is not None and b_grad is not None:
                layer.bias.sub_(b_grad, alpha=lr)
    return StepCheck(
        max_abs_diff=max(check.max_abs_diff for check in checks),
        agree=all(check.agree for check in checks),
    )
