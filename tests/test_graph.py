"""`--graph` (expr and perceptron): every node's value, local derivatives and adjoint from
gradcli's reverse sweep, each checked against torch autograd; terminal tree, JSON and DOT."""

from __future__ import annotations

import math

import pydot
import pytest

from gradcli.expr import derivation as dv
from tests.conftest import assert_bad_input, invoke

MAZUR = (
    "perceptron", "--weights", "0.15,0.20;0.25,0.30", "--bias", "0.35,0.35",
    "--weights", "0.40,0.45;0.50,0.55", "--bias", "0.60,0.60", "--x", "0.05,0.10",
    "--target", "0.01,0.99", "--reduction", "half-sum",
)  # fmt: skip


def _nodes(data: dict) -> dict:
    return {node["id"]: node for node in data["graph"]["nodes"]}


def test_two_paths_to_x_in_xy_plus_sin_x():
    # f = x·y + sin(x) at (1, 2): x feeds the product (∂(xy)/∂x = y = 2) and the sine
    # (∂sin(x)/∂x = cos 1), so ∂f/∂x = 2 + cos 1; ∂f/∂y = x = 1
    data = invoke("expr", "x*y + sin(x)", "--at", "x=1,y=2", "--graph", "--json").json()
    graph = data["graph"]
    nodes = _nodes(data)
    assert graph["agree"] is True and data["agree"] is True
    out = nodes[graph["output"]]
    assert out["op"] == "+" and out["value"] == pytest.approx(2 + math.sin(1), rel=1e-15)
    x = next(n for n in nodes.values() if n["op"] == "input" and n["label"] == "x")
    y = next(n for n in nodes.values() if n["op"] == "input" and n["label"] == "y")
    shares = sorted(c["value"] for c in x["contributions"])
    assert shares == pytest.approx(sorted([2.0, math.cos(1)]), rel=1e-15)
    assert x["grad"] == pytest.approx(2 + math.cos(1), rel=1e-15)
    assert x["autograd_grad"] == pytest.approx(2 + math.cos(1), rel=1e-15)
    assert y["grad"] == pytest.approx(1.0) and y["autograd_grad"] == pytest.approx(1.0)
    users = [n for n in nodes.values() if x["id"] in n["inputs"]]
    assert sorted(n["op"] for n in users) == ["*", "sin"]
    sine = next(n for n in users if n["op"] == "sin")
    assert sine["local"] == pytest.approx([math.cos(1)])
    assert all(n["ok"] in (True, None) for n in nodes.values())


def test_terminal_tree_draws_a_shared_node_once_and_adds_its_paths():
    run = invoke("expr", "x*y + sin(x)", "--at", "x=1,y=2", "--graph")
    assert run.code == 0, run.stderr
    out = run.stdout
    assert out.count("→ x (above)") == 1
    assert f"∂f/∂x = 2 + {math.cos(1):.6g} = {2 + math.cos(1):.6g} (two paths)" in out
    assert "✓ the 5 adjoints agree with torch autograd" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_identical_subformulas_are_one_node():
    data = invoke("expr", "sin(x)*sin(x) + sin(x)", "--at", "x=0.3", "--graph", "--json").json()
    sines = [n for n in data["graph"]["nodes"] if n["op"] == "sin"]
    assert len(sines) == 1
    # f = sin²x + sin x: ∂f/∂sin = 2 sin x + 1, passed back along three edges
    assert sines[0]["grad"] == pytest.approx(2 * math.sin(0.3) + 1, rel=1e-14)
    assert len(sines[0]["contributions"]) == 3


def test_a_kink_on_the_path_is_left_out_of_the_verdict():
    data = invoke("expr", "abs(x)*y", "--at", "x=0,y=2", "--graph", "--json").json()
    nodes = _nodes(data)
    x = next(n for n in nodes.values() if n["label"] == "x")
    assert x["grad"] is None and x["ok"] is None
    assert data["graph"]["agree"] is True
    assert any("do not exist here" in note for note in data["graph"]["notes"])


def test_a_wrong_local_derivative_fails_the_autograd_column(monkeypatch):
    wrong = dv._one("sin", "sin′ = cos", lambda u: dv._f("sin", u))
    monkeypatch.setitem(dv.RULES, "sin", wrong)
    run = invoke("expr", "x*y + sin(x)", "--at", "x=1,y=2", "--graph")
    assert run.code == 1
    assert "✗ adjoints DISAGREE with torch autograd at 1 of 5 nodes" in run.stdout
    assert "✗ autograd 2.5403" in run.stdout


def test_dot_parses_back_with_every_node_and_edge():
    data = invoke("expr", "x*y + sin(x)", "--at", "x=1,y=2", "--graph", "--json").json()
    run = invoke("expr", "x*y + sin(x)", "--at", "x=1,y=2", "--graph", "--format", "dot")
    assert run.code == 0
    (graph,) = pydot.graph_from_dot_data(run.stdout)
    names = [n.get_name().strip('"') for n in graph.get_nodes()]
    names = [n for n in names if n not in ("node", "edge", "graph")]
    edges = graph.get_edges()
    expected_edges = sum(len(n["inputs"]) for n in data["graph"]["nodes"])
    assert sorted(names) == sorted(n["id"] for n in data["graph"]["nodes"])
    assert len(names) == 5 and len(edges) == expected_edges == 5
    sine = next(e for e in edges if e.get_label() and "0.540302" in e.get_label())
    assert sine.get_source().strip('"') == "n0"


def test_mazur_network_graph_deltas_equal_the_steps_deltas():
    data = invoke(*MAZUR, "--graph", "--steps", "--json").json()
    assert data["agree"] is True and data["graph"]["agree"] is True
    nodes = _nodes(data)
    for layer in data["steps"]:
        for k, delta in enumerate(layer["delta"][0]):
            z = nodes[f"layer{layer['layer']}.z[{k}]"]
            assert z["role"] == "δ"
            assert z["grad"] == pytest.approx(delta, rel=1e-12)
            assert z["autograd_grad"] == pytest.approx(delta, rel=1e-12)
    # the tutorial's published figures: δ_o1 = 0.138498562, ∂E/∂w5 = 0.082167041,
    # ∂E/∂w1 = 0.000438568
    assert nodes["layer2.z[0]"]["grad"] == pytest.approx(0.138498562, abs=1e-9)
    assert nodes["layer2.W[0,0]"]["grad"] == pytest.approx(0.082167041, abs=1e-9)
    assert nodes["layer1.W[0,0]"]["grad"] == pytest.approx(0.000438568, abs=1e-9)
    assert nodes["loss"]["value"] == pytest.approx(0.298371109, abs=1e-9)
    # every weight's adjoint is the backprop gradient of the table
    for layer in data["layers"]:
        for k, row in enumerate(layer["weight"]["analytic"]):
            for j, value in enumerate(row):
                node = nodes[f"layer{layer['layer']}.W[{k},{j}]"]
                assert node["grad"] == pytest.approx(value, rel=1e-12)


def test_network_graph_terminal_view():
    run = invoke(*MAZUR, "--graph")
    assert run.code == 0, run.stderr
    out = run.stdout
    assert "computation graph of E (23 nodes)" in out
    assert "0.138499 (δ)" in out and "→ O1[0] (above)" in out
    assert "✓ the 23 adjoints agree with torch autograd" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_network_graph_batch_shares_weights_across_samples():
    run = invoke("perceptron", "--weights", "0.5,-0.3", "--bias", "0.1", "--x", "1,2;-1,0.5",
                 "--target", "1;0", "--graph", "--json")  # fmt: skip
    data = run.json()
    assert run.code == 0 and data["graph"]["agree"] is True
    nodes = _nodes(data)
    weight = nodes["layer1.W[0,0]"]
    assert len(weight["contributions"]) == 2  # one path per sample
    assert weight["grad"] == pytest.approx(data["layers"][0]["weight"]["analytic"][0][0])


def test_network_dot_parses_back():
    run = invoke(*MAZUR, "--graph", "--format", "dot")
    (graph,) = pydot.graph_from_dot_data(run.stdout)
    names = [n.get_name() for n in graph.get_nodes() if n.get_name() not in ("node", "edge")]
    # inputs 2, weights 8, biases 4, z and O 8, loss 1; edges: 5 into each z, 1 into each O,
    # 2 into the loss
    assert len(names) == 23 and len(graph.get_edges()) == 4 * 5 + 4 + 2


def test_graph_refusals():
    assert_bad_input(invoke("expr", "x^2", "--at", "x=1", "--format", "dot"), "add --graph")
    assert_bad_input(
        invoke("expr", "x^2", "--at", "x=1", "--graph", "--format", "csv"), "CSV", "dot"
    )
    assert_bad_input(invoke("expr", "x", "x^2", "--at", "x=1", "--graph"), "one expression")
    assert_bad_input(invoke("expr", "x^2", "--at", "x=1", "--graph", "--order", "2"), "--order 2")
    assert_bad_input(invoke(*MAZUR, "--format", "dot"), "add --graph")
    big = ("perceptron", "--layers", "16,4", "--x-shape", "8x8", "--target", "1", "--graph")
    assert_bad_input(invoke(*big), "--format dot")
    assert invoke(*big, "--format", "dot").code == 0


def test_a_large_expr_graph_goes_to_dot_only():
    text = " + ".join(f"sin({k}*x)" for k in range(1, 80))
    assert_bad_input(invoke("expr", text, "--at", "x=0.1", "--graph"), "--format dot")
    run = invoke("expr", text, "--at", "x=0.1", "--graph", "--format", "dot")
    assert run.code == 0 and run.stdout.startswith("digraph")
