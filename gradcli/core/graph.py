"""Computation graphs with every node's adjoint: gradcli's reverse sweep, checked by autograd.

A graph is a list of nodes, each with its forward value and its local derivatives
∂node/∂input. :func:`reverse_sweep` is backpropagation written out: the output's adjoint is
1, and from the output down, for every edge

    adjoint(input) += adjoint(node) · ∂node/∂input

so a node used twice receives two contributions, whose sum is its adjoint. Every adjoint is
then compared with torch autograd's gradient of the same node (``retain_grad`` on every
intermediate tensor).

* :func:`expr_graph` — a formula of ``gradcli expr``: one node per variable, per constant
  part and per operation (identical sub-formulas are one shared node); the local
  derivatives of functions come from the step rules of :mod:`gradcli.expr.derivation`.
* :func:`network_graph` — a perceptron: the inputs, every weight and bias, one node per
  neuron's z (= X = x Wᵀ + b) and O = f(z), and the loss. The values and local derivatives
  are the network's own forward pass and backprop (f′(z), ∂E/∂O), so the adjoint of each
  z is the delta rule's δ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcli._torch import load
from gradcli.core.backprop import Backprop, Network, loss_value
from gradcli.errors import InputError
from gradcli.results.graph import MAX_NODES, Graph, GraphNode
from gradcli.settings import Settings, Tolerance

torch = load("torch")
Tensor = Any


@dataclass
class Draft:
    """A node being built: what the sweep and the check need."""

    id: str
    op: str
    label: str
    label_ascii: str
    value: float
    inputs: list[str] = field(default_factory=list)
    local: list[float | None] = field(default_factory=list)
    differentiable: bool = True
    expression: str = ""
    role: str = ""


@dataclass(frozen=True)
class Sweep:
    adjoint: dict[str, float | None]
    contributions: dict[str, list[tuple[str, float | None]]]


def reverse_sweep(nodes: Sequence[Draft], output: str) -> Sweep:
    """Adjoints of every differentiable node: from the output down (``nodes`` lists each
    node before its users), adjoint(input) += adjoint(node)·local. A local derivative that
    does not exist (None) makes the adjoints it reaches None."""
    adjoint: dict[str, float | None] = {n.id: 0.0 for n in nodes if n.differentiable}
    contributions: dict[str, list[tuple[str, float | None]]] = {n.id: [] for n in nodes}
    differentiable = {n.id for n in nodes if n.differentiable}
    adjoint[output] = 1.0
    for node in reversed(nodes):
        if not node.differentiable:
            continue
        upstream = adjoint[node.id]
        for source, local in zip(node.inputs, node.local, strict=True):
            if source not in differentiable:
                continue
            share = None if upstream is None or local is None else upstream * local
            contributions[source].append((node.id, share))
            current = adjoint[source]
            adjoint[source] = None if share is None or current is None else current + share
    return Sweep(adjoint, contributions)


def finish(
    drafts: Sequence[Draft],
    output: str,
    what: str,
    autograd: dict[str, float | None],
    tolerance: Tolerance,
    notes: list[str] | None = None,
) -> Graph:
    """Sweep, compare each adjoint with autograd's, and freeze the graph."""
    sweep = reverse_sweep(drafts, output)
    nodes, diffs = [], []
    for draft in drafts:
        grad = sweep.adjoint.get(draft.id) if draft.differentiable else None
        theirs = autograd.get(draft.id) if draft.differentiable else None
        ok, diff = None, None
        if grad is not None:
            ok, diff = _judge(grad, theirs, tolerance)
            diffs.append(diff)
        nodes.append(
            GraphNode(
                id=draft.id,
                op=draft.op,
                label=draft.label,
                label_ascii=draft.label_ascii,
                value=draft.value,
                inputs=tuple(draft.inputs),
                local=tuple(draft.local),
                differentiable=draft.differentiable,
                grad=None if grad is None else grad + 0.0,
                contributions=tuple(sweep.contributions.get(draft.id, ())),
                autograd_grad=theirs,
                abs_diff=diff,
                ok=ok,
                expression=draft.expression,
                role=draft.role,
            )
        )
    judged = [n.ok for n in nodes if n.ok is not None]
    finite = [d for d in diffs if d is not None and math.isfinite(d)]
    worst = max(finite, default=0.0) if len(finite) == len(diffs) else math.inf
    notes = list(notes or [])
    missing = [n.label_ascii for n in nodes if n.differentiable and n.grad is None]
    if missing:
        notes.append(
            f"{len(missing)} adjoint(s) do not exist here ({', '.join(missing[:5])}"
            f"{', …' if len(missing) > 5 else ''}): a local derivative on their path does not "
            "exist at this point (a kink or a tie); they are left out of the verdict."
        )
    return Graph(
        nodes=nodes,
        output=output,
        what=what,
        tolerance=tolerance,
        agree=all(judged) and bool(judged),
        max_abs_diff=worst,
        judged=len(judged),
        notes=notes,
    )


def _judge(ours: float, theirs: float | None, tolerance: Tolerance) -> tuple[bool, float | None]:
    """An adjoint agrees with autograd's when both are finite and within the tolerance."""
    if theirs is None or not (math.isfinite(ours) and math.isfinite(theirs)):
        return False, None if theirs is None else abs(ours - theirs)
    diff = abs(ours - theirs)
    return diff <= tolerance.bound(theirs), diff


def _scalar(tensor: Tensor) -> float | None:
    return None if tensor is None else float(tensor) + 0.0


# --- expr -----------------------------------------------------------------------------------


def expr_graph(
    parsed: Any, variables: Sequence[str], point: dict[str, float], settings: Settings
) -> Graph:
    """The graph of one formula at the point, differentiating ``variables`` (the others are
    constants)."""
    from gradcli.core.engine import TORCH_DTYPES

    builder = _ExprGraph(variables, point, TORCH_DTYPES[settings.dtype])
    root = builder.visit(parsed.tree)
    if builder.tensors[root].requires_grad:
        builder.tensors[root].backward()
    autograd = {
        node_id: _scalar(tensor.grad) if tensor.requires_grad else None
        for node_id, tensor in builder.tensors.items()
    }
    return finish(builder.drafts, root, "f", autograd, settings.tolerance, builder.notes)


class _ExprGraph:
    """Builds the nodes, the torch tensors (for the values and the autograd check) and the
    local derivatives of a formula, one node per distinct sub-formula."""

    def __init__(self, variables: Sequence[str], point: dict[str, float], dtype: Any) -> None:
        from gradcli.expr import derivation as dv
        from gradcli.expr.forms import Printer
        from gradcli.expr.torchfn import MATHS, TorchFunction, activation_forwards

        self.dv = dv
        self.variables = set(variables)
        self.point = point
        self.dtype = dtype
        self.drafts: list[Draft] = []
        self.tensors: dict[str, Tensor] = {}
        self.ids: dict[Any, str] = {}
        self.notes: list[str] = []
        self.text = Printer("ascii")
        self.pretty = Printer("unicode")
        everyone = sorted(point)
        self.constant = lambda node: TorchFunction(node, everyone, {})(
            torch.tensor([point[v] for v in everyone], dtype=dtype)
        )
        self.functions = {**activation_forwards(), **MATHS}
        self.builder = dv.Builder()
        self.partials: dict[tuple[str, int], list[Any]] = {}

    def depends(self, node: Any) -> bool:
        from gradcli.expr.language import Var, walk

        return any(isinstance(n, Var) and n.name in self.variables for n in walk(node))

    def add(self, node: Any, draft: Draft, tensor: Tensor) -> str:
        if len(self.drafts) >= MAX_NODES:
            raise InputError(f"the graph has more than {MAX_NODES:,} nodes (the limit)")
        draft.expression = draft.expression or self.text(node)
        self.drafts.append(draft)
        if tensor.requires_grad and not tensor.is_leaf:
            tensor.retain_grad()
        self.tensors[draft.id] = tensor
        self.ids[node] = draft.id
        draft.value = float(tensor.detach()) + 0.0
        return draft.id

    def new_id(self) -> str:
        return f"n{len(self.drafts)}"

    def visit(self, node: Any) -> str:
        from gradcli.expr.language import Call, Const, Neg, Power, Product, Sum, Var

        found = self.ids.get(node)
        if found is not None:
            return found
        if not self.depends(node):
            value = self.constant(node).detach()
            text = self.text(node)
            draft = Draft(
                self.new_id(), "const", self.pretty(node), text, 0.0, differentiable=False
            )
            return self.add(node, draft, value)
        if isinstance(node, Var):
            leaf = torch.tensor(self.point[node.name], dtype=self.dtype, requires_grad=True)
            draft = Draft(self.new_id(), "input", self.pretty(node), node.name, 0.0)
            return self.add(node, draft, leaf)
        if isinstance(node, Neg):
            (a,) = self.visit_all([node.operand])
            return self.op(node, "neg", "−", "-", [a], -self.tensors[a], lambda v: [-1.0])
        if isinstance(node, Sum):
            ids = self.visit_all(list(node.terms))
            total = self.tensors[ids[0]]
            for i in ids[1:]:
                total = total + self.tensors[i]
            return self.op(node, "+", "+", "+", ids, total, lambda v: [1.0] * len(v))
        if isinstance(node, Product):
            if node.divisors:
                top = node.factors[0] if len(node.factors) == 1 else Product(node.factors)
                bottom = node.divisors[0] if len(node.divisors) == 1 else Product(node.divisors)
                a, b = self.visit_all([top, bottom])
                value = self.tensors[a] / self.tensors[b]
                return self.op(node, "/", "/", "/", [a, b], value, _divide_locals)
            ids = self.visit_all(list(node.factors))
            value = self.tensors[ids[0]]
            for i in ids[1:]:
                value = value * self.tensors[i]
            return self.op(node, "*", "⋅", "*", ids, value, _product_locals)
        if isinstance(node, Power):
            a, b = self.visit_all([node.base, node.exponent])
            base, exponent = self.tensors[a], self.tensors[b]
            natural = node.base == Const("e")
            value = torch.exp(exponent) if natural else torch.pow(base, exponent)
            return self.op(node, "^", "^", "^", [a, b], value, _power_locals)
        if isinstance(node, Call):
            ids = self.visit_all(list(node.args))
            value = self.functions[node.name](*[self.tensors[i] for i in ids])
            return self.op(
                node, node.name, node.name, node.name, ids, value,
                lambda v, name=node.name: self.call_locals(name, v),
            )  # fmt: skip
        raise TypeError(f"no graph node for {node!r}")

    def visit_all(self, nodes: list[Any]) -> list[str]:
        return [self.visit(n) for n in nodes]

    def op(
        self,
        node: Any,
        op: str,
        label: str,
        label_ascii: str,
        inputs: list[str],
        value: Tensor,
        locals_: Callable[[list[float]], list[float | None]],
    ) -> str:
        values = [float(self.tensors[i].detach()) for i in inputs]
        varying = [self.tensors[i].requires_grad for i in inputs]
        local = [  # a local derivative that is not finite does not exist
            v if used and v is not None and math.isfinite(v) else None
            for v, used in zip(locals_(values), varying, strict=True)
        ]
        draft = Draft(self.new_id(), op, label, label_ascii, 0.0, inputs, local)
        return self.add(node, draft, value)

    def call_locals(self, name: str, values: list[float]) -> list[float | None]:
        """∂f/∂argᵢ at the arguments, from the function's step rule (None at a kink)."""
        from gradcli.expr import symbolic as sym
        from gradcli.expr.language import Var

        key = (name, len(values))
        partials = self.partials.get(key)
        if partials is None:
            dummies = tuple(Var(f"_arg{i}") for i in range(len(values)))
            forms = self.dv.rule_for(name).partials(*dummies)
            partials = [self.builder.form(form, {}) for form in forms]
            self.partials[key] = partials
        at = {sym.symbol(f"_arg{i}"): v for i, v in enumerate(values)}
        evaluator = sym.Evaluator(at, torch.float64)
        found: list[float | None] = []
        for partial in partials:
            value, hit = evaluator.value(partial)
            found.append(None if hit else value + 0.0)
        return found


def _product_locals(values: list[float]) -> list[float | None]:
    """∂(a⋅b⋅c)/∂a = b⋅c: the product of the others (no division: a factor may be 0)."""
    return [math.prod(values[:i] + values[i + 1 :]) for i in range(len(values))]


def _divide_locals(values: list[float]) -> list[float | None]:
    a, b = values
    return [1 / b, -a / (b * b)]


def _power_locals(values: list[float]) -> list[float | None]:
    """∂(a^b)/∂a = b⋅a^(b−1), ∂(a^b)/∂b = a^b⋅ln a (NaN where ln a is not real)."""
    a, b = values
    try:
        by_base = b * math.pow(a, b - 1) if b != 0 else 0.0
    except (ValueError, ZeroDivisionError, OverflowError):
        by_base = math.nan
    try:
        by_exponent = math.pow(a, b) * math.log(a) if a > 0 else math.nan
    except (ValueError, OverflowError):
        by_exponent = math.nan
    return [by_base, by_exponent]


# --- perceptron ------------------------------------------------------------------------------


def network_graph(net: Network, worked: Backprop, settings: Settings) -> Graph:
    """The network's graph from its own forward pass and backprop values."""
    samples = net.x.shape[0]
    several = samples > 1

    def at(name: str, s: int, k: int) -> str:
        return f"{name}[{s},{k}]" if several else f"{name}[{k}]"

    def draft(key: str, short: str, op: str, value: float, **more: Any) -> Draft:
        return Draft(key, op, short, short, value, **more)

    drafts: list[Draft] = []
    x = net.x.double()
    for s in range(samples):
        for j in range(x.shape[1]):
            drafts.append(draft(at("x", s, j), at("x", s, j), "input", float(x[s, j])))
    previous = [[at("x", s, j) for j in range(x.shape[1])] for s in range(samples)]
    for index, layer in enumerate(net.layers):
        name, n = f"layer{index + 1}", index + 1
        weight = layer.weight.double()
        out, fan_in = weight.shape
        for k in range(out):
            for j in range(fan_in):
                value = float(weight[k, j])
                drafts.append(draft(f"{name}.W[{k},{j}]", f"W{n}[{k},{j}]", "param", value))
        if layer.bias is not None:
            for k in range(out):
                value = float(layer.bias[k])
                drafts.append(draft(f"{name}.b[{k}]", f"b{n}[{k}]", "param", value))
        inputs = worked.inputs[index].double()
        pre = worked.pre[index].double()
        post = worked.out[index].double()
        slope = worked.derivative[index].double()
        current = []
        for s in range(samples):
            row = []
            for k in range(out):
                z_id, o_id = at(f"{name}.z", s, k), at(f"{name}.output", s, k)
                sources, local = [], []
                for j in range(fan_in):
                    sources += [f"{name}.W[{k},{j}]", previous[s][j]]
                    local += [float(inputs[s, j]), float(weight[k, j])]
                if layer.bias is not None:
                    sources.append(f"{name}.b[{k}]")
                    local.append(1.0)
                drafts.append(draft(z_id, at(f"z{n}", s, k), "linear", float(pre[s, k]),
                                    inputs=sources, local=local, role="δ",
                                    expression="Σ_j W[k,j]·x_j + b[k]"))  # fmt: skip
                drafts.append(draft(o_id, at(f"O{n}", s, k), layer.activation.name,
                                    float(post[s, k]), inputs=[z_id], local=[float(slope[s, k])],
                                    expression=f"{layer.activation.name}(z)"))  # fmt: skip
                row.append(o_id)
            current.append(row)
        previous = current
    upstream = worked.upstream[-1].double()
    sources = [o for row in previous for o in row]
    local = [float(v) for v in upstream.reshape(-1)]
    loss = float(loss_value(net, worked.out[-1]))
    drafts.append(draft("loss", "E", net.loss.name, loss, inputs=sources, local=local,
                        expression=f"{net.loss.name} ({net.reduction.value})"))  # fmt: skip
    autograd = _network_autograd(net, several)
    notes = [
        "zN[k] = X = x Wᵀ + b and ON[k] = f(z) of neuron k in layer N (JSON ids layerN.z[k], "
        "layerN.output[k]); the delta rule's δ is the adjoint of each z: ∂E/∂z."
    ]
    return finish(drafts, "loss", "E", autograd, settings.tolerance, notes)


def _network_autograd(net: Network, several: bool) -> dict[str, float | None]:
    """torch's gradient of E with respect to every node: the same network built scalar by
    scalar, ``retain_grad`` on every z and O."""
    x = net.x.detach().clone().requires_grad_(True)
    leaves = [p.detach().clone().requires_grad_(True) for p in net.parameters()]
    samples = x.shape[0]

    def at(name: str, s: int, k: int) -> str:
        return f"{name}[{s},{k}]" if several else f"{name}[{k}]"

    retained: dict[str, Tensor] = {}
    previous = [[x[s, j] for j in range(x.shape[1])] for s in range(samples)]
    pending = iter(leaves)
    tensors = []
    for index, layer in enumerate(net.layers):
        name = f"layer{index + 1}"
        weight = next(pending)
        bias = next(pending) if layer.bias is not None else None
        tensors.append((name, weight, bias))
        current = []
        for s in range(samples):
            row = []
            for k in range(weight.shape[0]):
                z = sum(weight[k, j] * previous[s][j] for j in range(weight.shape[1]))
                if bias is not None:
                    z = z + bias[k]
                z.retain_grad()
                out = layer.activation.forward(z, layer.params)
                out.retain_grad()
                retained[at(f"{name}.z", s, k)] = z
                retained[at(f"{name}.output", s, k)] = out
                row.append(out)
            current.append(row)
        previous = current
    output = torch.stack([torch.stack(row) for row in previous])
    loss = loss_value(net, output)
    loss.retain_grad()
    loss.backward()
    found: dict[str, float | None] = {"loss": _scalar(loss.grad)}
    found.update({key: _scalar(t.grad) for key, t in retained.items()})
    for s in range(samples):
        for j in range(x.shape[1]):
            found[at("x", s, j)] = _scalar(x.grad[s, j])
    for name, weight, bias in tensors:
        for k in range(weight.shape[0]):
            for j in range(weight.shape[1]):
                found[f"{name}.W[{k},{j}]"] = _scalar(weight.grad[k, j])
            if bias is not None:
                found[f"{name}.b[{k}]"] = _scalar(bias.grad[k])
    return found
