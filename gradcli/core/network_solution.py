"""perceptron's worked solution: the network's forward and backward pass, quantity by quantity.

For layer l (numbered from 1; x is the network input for l = 1, else O of layer l − 1)::

    layerl.z            X = x Wᵀ + b
    layerl.output       O = f(X)
    loss                E (the chosen loss and reduction)
    layerl.output_grad  ∂E/∂O: the loss gradient (output layer), Σ_k δ_k W_kj (hidden)
    layerl.fprime       f'(X) (written f'(O) for σ and tanh: σ(1 − σ), 1 − tanh²)
    layerl.delta        δ = ∂E/∂O · f'(X)
    layerl.weight       ∂E/∂W = δᵀ x        layerl.bias   ∂E/∂b = Σ_samples δ
    layerl.new_weight   W − lr·∂E/∂W        layerl.new_bias  b − lr·∂E/∂b   (with --lr)
    new_loss            E after that step                                   (with --lr)

The values are the ones backprop computed (:mod:`gradcli.core.backprop`); each ``compute``
reapplies the same registry code — the layer's activation and derivative, the loss and its
gradient — to the values it is given, in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from gradcli.core.backprop import Backprop, Network, forward
from gradcli.core.engine import to_grid, torch
from gradcli.expect import Kink, KinkFinder, Slip
from gradcli.ops.losses import Reduction
from gradcli.results.grid import Grid, nested
from gradcli.settings import Tolerance
from gradcli.solution import Quantity, Solution, Value

Tensor = torch.Tensor


def _t(value: Value) -> Tensor:
    return torch.tensor(nested(value), dtype=torch.float64)


def _list(tensor: Tensor) -> list:
    """A recomputed value, as plain lists."""
    return (tensor.detach().double() + 0.0).tolist()


def _grid(tensor: Tensor) -> Grid:
    """A true value, compact (8 bytes an entry: the network's size is bounded by them)."""
    return to_grid(tensor.detach().double() + 0.0)


class _Builder:
    """Collects the quantities of one network in computation order."""

    def __init__(self, net: Network, tolerance: Tolerance | None) -> None:
        self.net = net
        self.tolerance = tolerance
        self.target = net.target if net.target.dtype == torch.long else net.target.double()
        self.quantities: list[Quantity] = []

    def add(self, key: str, symbol: str, formula: str, value: Value, **extra) -> None:
        self.quantities.append(Quantity(key, symbol, formula, value, **extra))

    def inputs_key(self, i: int) -> tuple[str, ...]:
        """The key of layer i's input x (none for the network input)."""
        return () if i == 1 else (f"layer{i - 1}.output",)

    def inputs(self, i: int, values: Mapping[str, Value]) -> Tensor:
        return self.net.x.double() if i == 1 else _t(values[f"layer{i - 1}.output"])

    def loss_of(self, output: Tensor) -> Tensor:
        net = self.net
        return net.loss.forward(output, self.target, net.reduction, net.loss_params)


def network_solution(
    net: Network,
    worked: Backprop,
    loss: float,
    formulas: Mapping[str, str],
    lr: float | None = None,
    bias_update: bool = True,
    slips: Mapping[str, Callable[[], Sequence[Slip]]] | None = None,
    kinks: Mapping[str, KinkFinder | None] | None = None,
    tolerance: Tolerance | None = None,
) -> Solution:
    """The worked solution of ``net`` from backprop's ``worked`` values.

    ``formulas`` holds the output layer's ``output_grad`` and ``delta`` formulas and the loss's
    (the texts the step tables show); ``slips`` and ``kinks`` give the weight and bias keys'
    own (another reduction, the step's slips; kinks probed by the caller). With
    ``tolerance``, f'(X) and δ accept either one-sided value where X sits on a kink of its
    activation (the registry's kinks the verdict can see)."""
    build = _Builder(net, tolerance)
    count = len(net.layers)
    for i, layer in enumerate(net.layers, 1):
        _forward(build, i, layer, worked)
    build.add(
        "loss",
        "E",
        formulas["loss"],
        float(loss),
        depends_on=(f"layer{count}.output",),
        compute=lambda v: float(build.loss_of(_t(v[f"layer{count}.output"]))),
    )
    for i in range(count, 0, -1):
        _backward(build, i, worked, formulas, slips or {}, kinks or {})
    if lr is not None:
        _step(build, lr, bias_update, slips or {}, kinks or {})
    return Solution(tuple(build.quantities))


def _forward(build: _Builder, i: int, layer, worked: Backprop) -> None:
    weight, bias = layer.weight.double(), layer.bias
    source = "x = the network input" if i == 1 else f"x = O of layer {i - 1}"

    def pre(values: Mapping[str, Value]) -> list:
        z = build.inputs(i, values) @ weight.T
        return _list(z if bias is None else z + bias.double())

    build.add(
        f"layer{i}.z",
        "X",
        f"X = x Wᵀ{'' if bias is None else ' + b'}   ({source})",
        _grid(worked.pre[i - 1]),
        depends_on=build.inputs_key(i),
        compute=pre,
        dim_names=("s", "k"),
        noun=f"X of layer {i}",
    )
    formula, _ = layer.activation.formulas(layer.params)
    build.add(
        f"layer{i}.output",
        "O",
        f"O = f(X),  {formula}",
        _grid(worked.out[i - 1]),
        depends_on=(f"layer{i}.z",),
        compute=lambda v: _list(layer.activation.forward(_t(v[f"layer{i}.z"]), layer.params)),
        dim_names=("s", "k"),
        noun=f"O of layer {i}",
    )


def _backward(build, i, worked, formulas, slips, kinks) -> None:
    net = build.net
    layer = net.layers[i - 1]
    count = len(net.layers)
    key = f"layer{i}"
    output_key = f"{key}.output"
    if i == count:
        build.add(
            f"{key}.output_grad",
            "∂E/∂O",
            formulas["output_grad"],
            _grid(worked.upstream[i - 1]),
            depends_on=(output_key,),
            compute=lambda v: _list(
                net.loss.gradient(_t(v[output_key]), build.target, net.reduction, net.loss_params)
            ),
            dim_names=("s", "k"),
            noun=f"∂E/∂O of layer {i}",
        )
    else:
        above = net.layers[i].weight.double()
        build.add(
            f"{key}.output_grad",
            "Σ δW",
            f"Σ_k δ_k W_kj   (δ_k and W_kj of layer {i + 1})",
            _grid(worked.upstream[i - 1]),
            depends_on=(f"layer{i + 1}.delta",),
            compute=lambda v: _list(_t(v[f"layer{i + 1}.delta"]) @ above),
            dim_names=("s", "j"),
            noun=f"∂E/∂O of layer {i}",
        )
    act, params = layer.activation, layer.params
    _, derivative_formula = act.formulas(params)
    if act.via_output is not None:
        text, slope = act.via_output
        fprime_from: tuple[str, ...] = (output_key,)
        fprime_formula = f"f'(X) = {text} with o = O   ({derivative_formula})"

        def fprime(v: Mapping[str, Value]) -> list:
            return _list(slope(_t(v[output_key])))
    else:
        fprime_from = (f"{key}.z",)
        fprime_formula = derivative_formula

        def fprime(v: Mapping[str, Value]) -> list:
            return _list(act.derivative(_t(v[f"{key}.z"]), params))

    out = worked.out[i - 1].double()
    on_kink = _kink_finder(build, i, worked)
    build.add(
        f"{key}.fprime",
        "f'(X)",
        fprime_formula,
        _grid(worked.derivative[i - 1]),
        depends_on=fprime_from,
        compute=fprime,
        dim_names=("s", "k"),
        slips=lambda: [
            Slip(
                "f' evaluated at the output O instead of at X (f'(O) for f'(X))",
                _list(act.derivative(out, params)),
            )
        ],
        kinks=on_kink and on_kink(None, worked.derivative[i - 1]),
        noun=f"f'(X) of layer {i}",
    )
    upstream, derivative = worked.upstream[i - 1].double(), worked.derivative[i - 1].double()

    def delta_slips() -> list[Slip]:
        found = [
            Slip(
                "δ with f'(O) for f'(X): the derivative taken at the output, not the input",
                _list(upstream * act.derivative(out, params)),
            ),
            Slip("δ without the f'(X) factor (∂E/∂O alone)", _list(upstream)),
        ]
        if i < count:
            above = net.layers[i].weight.double()
            if above.shape[0] == above.shape[1]:
                transposed = worked.delta[i].double() @ above.T
                found.append(
                    Slip(
                        "δ with Σ_k δ_k W_jk: W transposed in the δ sum (Wᵀ for W)",
                        _list(transposed * derivative),
                    )
                )
        else:
            found += _reduction_slips(net, _grid(worked.delta[i - 1]))
        return found

    build.add(
        f"{key}.delta",
        "δ",
        formulas["delta"] if i == count else "δ_j = f'(X_j) · Σ_k δ_k W_kj",
        _grid(worked.delta[i - 1]),
        depends_on=(f"{key}.output_grad", f"{key}.fprime"),
        compute=lambda v: _list(_t(v[f"{key}.output_grad"]) * _t(v[f"{key}.fprime"])),
        dim_names=("s", "k"),
        slips=delta_slips,
        kinks=on_kink and on_kink(worked.upstream[i - 1], worked.delta[i - 1]),
        noun=f"δ of layer {i}",
    )
    node = "k" if i == count else "j"
    input_index = "j" if i == count else "i"
    build.add(
        f"{key}.weight",
        "∂E/∂W",
        f"∂E/∂W_{node}{input_index} = Σ_batch δ_{node} · x_{input_index}",
        _grid(worked.weight_grads[i - 1]),
        depends_on=(f"{key}.delta", *build.inputs_key(i)),
        compute=lambda v: _list(_t(v[f"{key}.delta"]).T @ build.inputs(i, v)),
        dim_names=("k", "j"),
        slips=slips.get(f"{key}.weight"),
        kinks=kinks.get(f"{key}.weight"),
        noun="∂E/∂W",
        locator="∂E/∂W",
    )
    if layer.bias is not None:
        build.add(
            f"{key}.bias",
            "∂E/∂b",
            f"∂E/∂b_{node} = Σ_batch δ_{node}",
            _grid(worked.bias_grads[i - 1]),
            depends_on=(f"{key}.delta",),
            compute=lambda v: _list(_t(v[f"{key}.delta"]).sum(dim=0)),
            dim_names=("k",),
            slips=slips.get(f"{key}.bias"),
            kinks=kinks.get(f"{key}.bias"),
            noun="∂E/∂b",
            locator="∂E/∂b",
        )


def _kink_finder(
    build: _Builder, i: int, worked: Backprop
) -> Callable[[Tensor | None, Tensor], KinkFinder] | None:
    """For the entries of layer i whose pre-activation X sits on a kink of its activation:
    ``finder(factor, truth)`` gives f'(X)'s one-sided values (times ``factor``, δ's ∂E/∂O),
    either of which — or a value between — a student may write (torch uses ``truth``'s).
    None when no X sits on a kink."""
    from gradcli.core.activation import one_sided_slopes, real_kinks
    from gradcli.core.engine import KINK_MARGIN

    layer = build.net.layers[i - 1]
    act, params = layer.activation, layer.params
    if build.tolerance is None:
        return None
    kinks = real_kinks(act, params, build.tolerance)
    at: dict[int, tuple[float, float]] = {}
    for k, value in enumerate(worked.pre[i - 1].double().reshape(-1).tolist()):
        for kink in kinks:
            if abs(value - kink) <= KINK_MARGIN * max(abs(value), 1.0):
                at[k] = one_sided_slopes(act, params, kink)
    if not at:
        return None

    def finder(factor: Tensor | None, truth: Tensor) -> KinkFinder:
        scale = [1.0] * truth.numel() if factor is None else factor.double().reshape(-1).tolist()
        values = truth.double().reshape(-1).tolist()

        def find(indices: list[int]) -> dict[int, Kink]:
            return {
                k: Kink(scale[k] * at[k][0], scale[k] * at[k][1], values[k])
                for k in indices
                if k in at
            }

        return find

    return finder


def _step(build, lr: float, bias_update: bool, slips, kinks) -> None:
    """The parameters after one gradient-descent step, then E with them."""
    net = build.net
    gradients = {q.key: q.value for q in build.quantities}
    new_keys = []
    for i, layer in enumerate(net.layers, 1):
        for name, tensor in (("weight", layer.weight), ("bias", layer.bias)):
            if tensor is None:
                continue
            rate = lr if name == "weight" or bias_update else 0.0
            start = tensor.double()
            key, grad_key = f"layer{i}.new_{name}", f"layer{i}.{name}"
            symbol = "W" if name == "weight" else "b"
            formula = f"{symbol} − lr·∂E/∂{symbol},  lr = {lr:g}"
            if rate == 0.0:
                formula = f"{symbol} (biases fixed: --no-bias-update)"
            build.add(
                key,
                f"{symbol}'",
                formula,
                _grid(start - rate * _t(gradients[grad_key])),
                depends_on=(grad_key,) if rate else (),
                compute=(
                    (lambda v, g=grad_key, s=start, r=rate: _list(s - r * _t(v[g])))
                    if rate
                    else None
                ),
                dim_names=("k", "j") if name == "weight" else ("k",),
                slips=slips.get(key),
                kinks=kinks.get(key),
                noun=f"{symbol} − lr·∂E/∂{symbol}",
            )
            new_keys.append(key)

    def new_loss(v: Mapping[str, Value]) -> float:
        params = []
        for i, layer in enumerate(net.layers, 1):
            params.append(_t(v[f"layer{i}.new_weight"]))
            if layer.bias is not None:
                params.append(_t(v[f"layer{i}.new_bias"]))
        return float(build.loss_of(forward(net.x.double(), net.layers, params)[-1][1]))

    values = {q.key: q.value for q in build.quantities}
    build.add(
        "new_loss",
        "E'",
        "E after one step: the forward pass and the loss with W' and b'",
        new_loss(values),
        depends_on=tuple(new_keys),
        compute=new_loss,
        noun="E after the step",
    )


def _reduction_slips(net: Network, truth: list) -> list[Slip]:
    """δ under the loss's other reductions (a constant factor)."""
    divisor = net.loss.divisor((net.x.shape[0], net.layers[-1].weight.shape[0]))
    factors = {Reduction.mean: 1 / divisor, Reduction.sum: 1.0, Reduction.half_sum: 0.5}
    found = []
    for other in net.loss.reductions:
        if other is net.reduction:
            continue
        scale = factors[other] / factors[net.reduction]
        found.append(
            Slip(
                f"δ with --reduction {other.value} (×{scale:g})",
                (_t(truth) * scale).tolist(),
            )
        )
    return found
