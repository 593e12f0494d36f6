"""The computation graph of ``--graph`` (expr and perceptron): every node's forward value,
its local derivatives, its adjoint from gradcli's own reverse sweep, and torch's.

Nodes are listed inputs first, each before the nodes that use it, the output last; an edge
runs from each of a node's ``inputs`` to the node, carrying the local derivative
∂node/∂input (``local``, in the same order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.settings import Tolerance

TERMINAL_NODES = 200  # the terminal view draws at most this many nodes; DOT and JSON more
MAX_NODES = 20_000  # any view


@dataclass(frozen=True)
class GraphNode:
    """One node. ``grad`` is ∂(output)/∂node by gradcli's reverse sweep (None for a constant,
    or where a local derivative on every path does not exist), ``contributions`` what each
    node that uses this one passed back: adjoint(user)·∂user/∂node."""

    id: str
    op: str  # input, param, const, +, *, /, ^, neg, a function's name, linear, a loss's name
    label: str  # as drawn (Unicode)
    label_ascii: str
    value: float
    inputs: tuple[str, ...] = ()
    local: tuple[float | None, ...] = ()  # ∂node/∂input, one per input
    differentiable: bool = True  # has an adjoint (depends on what is differentiated)
    grad: float | None = None
    contributions: tuple[tuple[str, float | None], ...] = ()
    autograd_grad: float | None = None
    abs_diff: float | None = None
    ok: bool | None = None  # None: not judged (constant, or the derivative does not exist)
    expression: str = ""  # the sub-formula it computes (expr), or its formula (perceptron)
    role: str = ""  # e.g. "δ" for a neuron's z, whose adjoint is the delta rule's δ

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "label": self.label_ascii,
            "expression": self.expression,
            "value": self.value,
            "grad": self.grad,
            "autograd_grad": self.autograd_grad,
            "inputs": list(self.inputs),
            "local": list(self.local),
            "contributions": [{"from": who, "value": v} for who, v in self.contributions],
            "abs_diff": self.abs_diff,
            "ok": self.ok,
            "role": self.role or None,
        }


@dataclass(frozen=True)
class Graph:
    """A whole graph and the verdict on its adjoints (gradcli's sweep vs torch autograd)."""

    nodes: list[GraphNode]
    output: str
    what: str  # the output's name: f, E
    tolerance: Tolerance
    agree: bool
    max_abs_diff: float
    judged: int  # nodes whose adjoint was compared
    notes: list[str] = field(default_factory=list)

    def node(self, node_id: str) -> GraphNode:
        return self.by_id[node_id]

    @property
    def by_id(self) -> dict[str, GraphNode]:
        return {node.id: node for node in self.nodes}

    def users(self) -> dict[str, list[str]]:
        """For each node, the nodes that use it (once per edge)."""
        found: dict[str, list[str]] = {node.id: [] for node in self.nodes}
        for node in self.nodes:
            for source in node.inputs:
                found[source].append(node.id)
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [node.to_json() for node in self.nodes],
            "output": self.output,
            "agree": self.agree,
            "max_abs_diff": self.max_abs_diff,
            "judged": self.judged,
            "notes": self.notes,
        }
