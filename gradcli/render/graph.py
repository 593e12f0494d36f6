"""``--graph``: the computation graph as a tree in the terminal, or as Graphviz DOT text.

The tree is drawn from the output down; a node used by several others is drawn in full the
first time and referenced after that (``→ x (above)``). Each row below the output is an
edge: its ``local ∂`` is ∂(the node above)/∂(this node), and a reference row's adjoint
cell shows what that edge passes back. The last column is the check against autograd.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from gradcli.render.fit import Column, FitTable
from gradcli.render.plain import wants_ascii
from gradcli.render.table import number, tick
from gradcli.results.graph import Graph, GraphNode

SHOWN_CONTRIBUTIONS = 4  # a shared node's adjoint shows up to this many terms of its sum
MAX_PATH_LINES = 8
BRANCH, LAST, PIPE, BLANK = "├─ ", "└─ ", "│  ", "   "


def _adjoint(node: GraphNode, precision: int) -> str:
    if node.grad is None:
        return "does not exist" if node.differentiable else ""
    text = number(node.grad, precision)
    return f"{text} ({node.role})" if node.role else text


PATHS = {2: "two", 3: "three", 4: "four"}


def path_lines(graph: Graph, precision: int, plain: bool) -> list[str]:
    """For each node used more than once: its adjoint as the sum of what each path passed
    back ("∂f/∂x = 2 + 0.540302 = 2.5403 (two paths)")."""
    d = "d" if plain else "∂"
    lines = []
    for node in graph.nodes:
        shares = [share for _, share in node.contributions]
        if len(shares) < 2 or node.grad is None or any(s is None for s in shares):
            continue
        ordered = list(reversed(shares))  # in the order the users were built
        parts = [number(share, precision) for share in ordered[:SHOWN_CONTRIBUTIONS]]
        joined = " + ".join(p if not p.startswith("-") else f"({p})" for p in parts)
        if len(ordered) > SHOWN_CONTRIBUTIONS:
            joined += " + …"
        count = PATHS.get(len(ordered), str(len(ordered)))
        name = node.label_ascii if plain else node.label
        lines.append(
            f"{d}{graph.what}/{d}{name} = {joined} = {number(node.grad, precision)} ({count} paths)"
        )
    if len(lines) > MAX_PATH_LINES:
        more = len(lines) - MAX_PATH_LINES
        lines = [*lines[:MAX_PATH_LINES], f"… and {more} more shared nodes (--json has each path)"]
    return lines


def _check(node: GraphNode, precision: int) -> Text | str:
    if node.ok is None:
        return ""
    if node.ok:
        return tick(True)
    theirs = "none" if node.autograd_grad is None else number(node.autograd_grad, precision)
    return Text.assemble(tick(False), f" autograd {theirs}")


class GraphView:
    """The graph as a FitTable: one row per edge from the output down."""

    def __init__(self, graph: Graph, precision: int) -> None:
        self.graph, self.precision = graph, precision

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        graph, precision = self.graph, self.precision
        plain = wants_ascii(console)
        nodes = graph.by_id
        shared = {key for key, users in graph.users().items() if len(users) > 1}
        labels = [node.label for node in graph.nodes]
        rows: list[list[str | Text]] = []
        drawn: set[str] = set()

        def label(node: GraphNode) -> str:
            text = node.label_ascii if plain else node.label
            if node.id in shared and labels.count(node.label) > 1:
                text += f" [{node.id}]"  # a name to refer to it by
            return text

        def visit(node_id: str, prefix: str, last: bool, user: GraphNode | None, edge: int):
            node = nodes[node_id]
            branch = "" if user is None else prefix + (LAST if last else BRANCH)
            local = ""
            if user is not None and node.differentiable:
                local = _local(user.local[edge], precision)
            if node_id in drawn:
                passed = _passed(user, node, edge, precision)
                rows.append([f"{branch}→ {label(node)} (above)", "", local, passed, ""])
                return
            drawn.add(node_id)
            rows.append(
                [
                    branch + label(node),
                    number(node.value, precision),
                    local,
                    _adjoint(node, precision),
                    _check(node, precision),
                ]
            )
            inner = prefix if user is None else prefix + (BLANK if last else PIPE)
            count = len(node.inputs)
            for k, source in enumerate(node.inputs):
                visit(source, inner, k == count - 1, node, k)

        visit(graph.output, "", True, None, 0)
        what = graph.what
        columns = [
            Column("node", justify="left", key=True),
            Column("value"),
            Column("local ∂"),
            Column(f"∂{what}/∂node"),
            Column(""),
        ]
        if plain:
            columns = [Column(c.header.replace("∂", "d"), c.justify, c.key) for c in columns]
        yield FitTable(columns, rows)


def _local(value: float | None, precision: int) -> str:
    return "does not exist" if value is None else number(value, precision)


def _passed(user: GraphNode | None, node: GraphNode, edge: int, precision: int) -> str:
    """What the edge from ``node`` into ``user`` passes back: adjoint(user)·local."""
    if user is None or not node.differentiable:
        return ""
    local = user.local[edge]
    if user.grad is None or local is None:
        return ""
    passed = number(user.grad * local, precision)
    return f"({passed})" if passed.startswith("-") else f"(+{passed})"


def graph_title(graph: Graph, plain: bool = False) -> str:
    d = "d" if plain else "∂"
    return (
        f"computation graph of {graph.what} ({len(graph.nodes)} nodes): value forward, "
        f"{d}{graph.what}/{d}node backward by gradcli's sweep (adjoint(input) += "
        f"adjoint(node)·local {d}; local {d} = {d}(node above)/{d}(this node)); ✓: torch "
        "autograd agrees"
    )


def graph_verdict(graph: Graph) -> Text:
    tol = f"(atol {graph.tolerance.atol:g}, rtol {graph.tolerance.rtol:g})"
    diff = f"max |diff| {graph.max_abs_diff:.1e}"
    if graph.judged == 0:
        return Text("no adjoint exists at this point; nothing to compare", style="bold")
    if graph.agree:
        return Text(
            f"✓ the {graph.judged} adjoints agree with torch autograd (retain_grad on every "
            f"node): {diff} within tolerance {tol}",
            style="bold green",
        )
    bad = sum(node.ok is False for node in graph.nodes)
    return Text(
        f"✗ adjoints DISAGREE with torch autograd at {bad} of {graph.judged} nodes: {diff} {tol}",
        style="bold red",
    )


class GraphSection:
    """Title, tree, notes and verdict, in the console's notation."""

    def __init__(self, graph: Graph, precision: int) -> None:
        self.graph, self.precision = graph, precision

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        plain = wants_ascii(console)
        yield Text(graph_title(self.graph, plain), style="bold")
        yield GraphView(self.graph, self.precision)
        for line in path_lines(self.graph, self.precision, plain):
            yield Text(line)
        for note in self.graph.notes:
            yield Text(note, style="yellow")
        yield graph_verdict(self.graph)


# --- DOT ---------------------------------------------------------------------------------

_RECORD_SPECIAL = str.maketrans({c: f"\\{c}" for c in '{}|<>"\\'})


def _field(text: str) -> str:
    """Text inside a record label: the characters DOT reads as structure escaped."""
    return text.translate(_RECORD_SPECIAL).replace("\n", " ")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_text(graph: Graph, precision: int = 6) -> str:
    """A Graphviz digraph: one record node per graph node (its op, value and adjoint), one
    edge per input, labelled with the local derivative; inputs on the left."""
    lines = [
        "digraph gradcli {",
        "  rankdir=LR;",
        '  node [shape=record, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        f"  label={_quoted(graph_title(graph))};",
        "  labelloc=t;",
    ]
    for node in graph.nodes:
        fields = [_field(node.label), f"value {number(node.value, precision)}"]
        if node.differentiable:
            grad = "none" if node.grad is None else number(node.grad, precision)
            check = {True: " ✓", False: " ✗", None: ""}[node.ok]
            fields.append(_field(f"grad {grad}{check}"))
        attributes = [f"label={_quoted('{ ' + ' | '.join(fields) + ' }')}"]
        if node.expression and node.expression != node.label_ascii:
            attributes.append(f"tooltip={_quoted(node.expression)}")
        if node.id == graph.output:
            attributes.append("peripheries=2")
        if node.ok is False:
            attributes.append("color=red")
        lines.append(f"  {_quoted(node.id)} [{', '.join(attributes)}];")
    for node in graph.nodes:
        for source, local in zip(node.inputs, node.local, strict=True):
            label = "" if local is None else f" [label={_quoted(number(local, precision))}]"
            lines.append(f"  {_quoted(source)} -> {_quoted(node.id)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(graph: Graph | None, out: TextIO) -> None:
    if graph is None:
        raise TypeError("--format dot needs a result with a graph")
    out.write(dot_text(graph))
