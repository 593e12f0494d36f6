"""A fully connected network as tensors, and its gradients two ways.

Layer l computes X = x Wᵀ + b and O = f(X), with W in torch's layout (out × in, like
``nn.Linear.weight``). :func:`backprop` is the delta rule, with ∂E/∂O from the loss
registry and f'(X) from the activation registry — autograd never enters it;
:func:`autograd_gradients` is torch's answer. Shared by the perceptron check
(:mod:`gradcli.core.perceptron`) and gradient descent (:mod:`gradcli.core.descent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradcli.core.engine import torch
from gradcli.ops.activations import Activation
from gradcli.ops.losses import Loss, Reduction, TargetKind
from gradcli.params import ParamValues

Tensor = torch.Tensor


@dataclass
class Layer:
    """One layer's parameters (in the compute dtype) and its activation."""

    weight: Tensor
    bias: Tensor | None
    activation: Activation
    params: ParamValues

    def parameters(self) -> list[Tensor]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]


@dataclass
class Network:
    """A checked network, its input and its target, ready to differentiate."""

    x: Tensor
    layers: list[Layer]
    target: Tensor
    loss: Loss
    loss_params: ParamValues
    reduction: Reduction
    drawn: bool  # something came from the seed

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]


def detached_copy(net: Network) -> Network:
    """The network with copies of its parameters of its own (training leaves ``net`` as it is)."""
    layers = [
        Layer(
            layer.weight.detach().clone(),
            None if layer.bias is None else layer.bias.detach().clone(),
            layer.activation,
            layer.params,
        )
        for layer in net.layers
    ]
    return Network(net.x, layers, net.target, net.loss, net.loss_params, net.reduction, net.drawn)


def forward(
    x: Tensor, layers: Sequence[Layer], params: Sequence[Tensor] | None = None
) -> list[tuple[Tensor, Tensor]]:
    """(X, O) of every layer; ``params`` (weights and biases in order) replace the layers'."""
    tensors = (
        list(params) if params is not None else [p for layer in layers for p in layer.parameters()]
    )
    results = []
    inputs = x
    for layer in layers:
        weight = tensors.pop(0)
        bias = tensors.pop(0) if layer.bias is not None else None
        pre = inputs @ weight.transpose(-1, -2)  # a batch of weight copies broadcasts
        if bias is not None:
            pre = pre + (bias.unsqueeze(-2) if bias.dim() > 1 else bias)
        out = layer.activation.forward(pre, layer.params)
        results.append((pre, out))
        inputs = out
    return results


def loss_value(net: Network, output: Tensor) -> Tensor:
    return net.loss.forward(output, net.target, net.reduction, net.loss_params)


@dataclass
class Backprop:
    """Everything the delta rule produced, per layer (index 0 = layer 1)."""

    inputs: list[Tensor]
    pre: list[Tensor]
    out: list[Tensor]
    derivative: list[Tensor]
    upstream: list[Tensor]
    delta: list[Tensor]
    weight_grads: list[Tensor]
    bias_grads: list[Tensor | None]


def backprop(net: Network, passes: list[tuple[Tensor, Tensor]] | None = None) -> Backprop:
    """The delta rule, from the output layer down; analytic derivatives only.

    ``passes`` is the forward pass when the caller already has it.
    """
    passes = forward(net.x, net.layers) if passes is None else passes
    pre = [p for p, _ in passes]
    out = [o for _, o in passes]
    inputs = [net.x, *out[:-1]]
    derivative = [
        layer.activation.derivative(p, layer.params)
        for layer, p in zip(net.layers, pre, strict=True)
    ]
    count = len(net.layers)
    upstream: list[Tensor] = [None] * count  # type: ignore[list-item]
    delta: list[Tensor] = [None] * count  # type: ignore[list-item]
    # output layer: ∂E/∂O_k from the loss registry, δ_k = ∂E/∂O_k · f'(X_k)
    upstream[-1] = net.loss.gradient(out[-1], net.target, net.reduction, net.loss_params)
    delta[-1] = upstream[-1] * derivative[-1]
    # hidden layers: δ_j = f'(X_j) · Σ_k δ_k W_kj  (δ, W of the layer above)
    for i in range(count - 2, -1, -1):
        upstream[i] = delta[i + 1] @ net.layers[i + 1].weight
        delta[i] = upstream[i] * derivative[i]
    # ∂E/∂W_kj = Σ_batch δ_k x_j ;  ∂E/∂b_k = Σ_batch δ_k
    weight_grads = [d.T @ x for d, x in zip(delta, inputs, strict=True)]
    bias_grads = [
        None if layer.bias is None else d.sum(dim=0)
        for layer, d in zip(net.layers, delta, strict=True)
    ]
    return Backprop(inputs, pre, out, derivative, upstream, delta, weight_grads, bias_grads)


def autograd_gradients(net: Network, engine: str) -> tuple[Tensor, list[Tensor]]:
    """The loss and ∂E/∂params through torch: ``autograd.grad`` or ``backward()`` + ``.grad``."""
    leaves = [p.detach().clone().requires_grad_(True) for p in net.parameters()]
    loss = loss_value(net, forward(net.x, net.layers, leaves)[-1][1])
    if engine == "backward":
        loss.backward()
        return loss.detach(), [leaf.grad for leaf in leaves]
    return loss.detach(), list(torch.autograd.grad(loss, leaves))


def _batched_terms(net: Network, output: Tensor, target: Tensor) -> Tensor:
    """The loss's unreduced terms for k copies of the output, flattened per copy: (k, terms)."""
    copies = output.shape[0]
    if net.loss.target_kind is TargetKind.values:
        return net.loss.terms(output, target.expand_as(output), net.loss_params).reshape(copies, -1)
    flat = output.reshape(-1, output.shape[-1])  # class targets: one term per sample
    return net.loss.terms(flat, target.repeat(copies), net.loss_params).reshape(copies, -1)
