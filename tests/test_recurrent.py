"""`gradcli layer rnn | lstm | gru`: backpropagation through time by hand.

Every gradient is checked against three independent computations written here: a NumPy
BPTT (the course-assignment step functions, written out below with NumPy alone), autograd
through ``torch.nn.RNN/LSTM/GRU`` modules built the ordinary way with the weights copied
in, and the command's own finite differences. The GRU's textbook variant (r on h before
the product) and the no-BPTT slip are NumPy too.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.commands.layer import require_limits
from gradcli.core.layer import LayerRequest, layer_gradients
from gradcli.errors import InputError
from gradcli.expect import parse_expected
from gradcli.ops.layers import Given, get_layer, plan
from gradcli.ops.layers.recurrent import STEP_TIMES, evaluate, quantities, shown_times
from gradcli.results.grid import nested
from gradcli.settings import Dtype, Settings, tolerance_for

FLOAT64 = Settings()
FLOAT32 = Settings(Dtype.float32, tolerance_for(Dtype.float32), numeric=True)
NO_NUMERIC = Settings(numeric=False)
GRADS = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")


# ---------------------------------------------------------------- NumPy references


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_rnn(v, relu=False, through_time=True):
    """Elman RNN forward and BPTT, one time step at a time (CS231n's rnn_step_backward)."""
    x, h0, wx, wh, bx, bh, g = (v[k] for k in ("x", "h0", "wx", "wh", "bx", "bh", "g"))
    steps = x.shape[0]
    hs, pre = [h0], []
    for t in range(steps):
        a = x[t] @ wx.T + bx + hs[-1] @ wh.T + bh
        pre.append(a)
        hs.append(np.maximum(a, 0) if relu else np.tanh(a))
    out = {k: np.zeros_like(v[k]) for k in ("x", "h0", "wx", "wh", "bx")}
    back = np.zeros_like(h0)
    for t in reversed(range(steps)):
        dh = g[t] + back + (v["gh"] if t == steps - 1 else 0)
        da = dh * ((pre[t] > 0) if relu else (1 - hs[t + 1] ** 2))
        out["x"][t] = da @ wx
        out["wx"] += da.T @ x[t]
        out["wh"] += da.T @ hs[t]
        out["bx"] += da.sum(axis=0)
        back = da @ wh if through_time or t == 0 else np.zeros_like(h0)
    out["h0"] = back
    return np.stack(hs[1:]), out


def np_lstm(v, through_time=True):
    x, h, c, wx, wh, bx, bh, g = (v[k] for k in ("x", "h0", "c0", "wx", "wh", "bx", "bh", "g"))
    size = h.shape[-1]
    cache, ys = [], []
    for t in range(x.shape[0]):
        a = x[t] @ wx.T + bx + h @ wh.T + bh
        i, f = sigmoid(a[:, :size]), sigmoid(a[:, size : 2 * size])
        gg, o = np.tanh(a[:, 2 * size : 3 * size]), sigmoid(a[:, 3 * size :])
        c_next = f * c + i * gg
        h_next = o * np.tanh(c_next)
        cache.append((h, c, i, f, gg, o, c_next))
        h, c = h_next, c_next
        ys.append(h)
    out = {k: np.zeros_like(v[k]) for k in ("x", "wx", "wh", "bx")}
    dh_next, dc_next = np.zeros_like(h), v["gc"] + 0.0
    dcs, dhs = {}, {}
    for t in reversed(range(x.shape[0])):
        h_prev, c_prev, i, f, gg, o, c_t = cache[t]
        dh = g[t] + dh_next + (v["gh"] if t == x.shape[0] - 1 else 0)
        dc = dc_next + dh * o * (1 - np.tanh(c_t) ** 2)
        dhs[t + 1], dcs[t + 1] = dh, dc
        da = np.concatenate(
            [
                dc * gg * i * (1 - i),
                dc * c_prev * f * (1 - f),
                dc * i * (1 - gg**2),
                dh * np.tanh(c_t) * o * (1 - o),
            ],
            axis=1,
        )
        out["x"][t] = da @ wx
        out["wx"] += da.T @ x[t]
        out["wh"] += da.T @ h_prev
        out["bx"] += da.sum(axis=0)
        keep = through_time or t == 0
        dh_next = da @ wh if keep else np.zeros_like(h)
        dc_next = dc * f if keep else np.zeros_like(c)
    out["h0"], out["c0"] = dh_next, dc_next
    return np.stack(ys), out, {"dh": dhs, "dc": dcs}


def np_gru(v, textbook=False):
    """torch's GRU (r on W_hn h + b_hn) or the textbook one (r on h), gate by gate."""
    x, h, wx, wh, bx, bh, g = (v[k] for k in ("x", "h0", "wx", "wh", "bx", "bh", "g"))
    size = h.shape[-1]
    blocks = [slice(k * size, (k + 1) * size) for k in range(3)]
    wir, wiz, win = (wx[b] for b in blocks)
    whr, whz, whn = (wh[b] for b in blocks)
    bir, biz, bin_ = (bx[b] for b in blocks)
    bhr, bhz, bhn = (bh[b] for b in blocks)
    cache, ys = [], []
    for t in range(x.shape[0]):
        r = sigmoid(x[t] @ wir.T + bir + h @ whr.T + bhr)
        z = sigmoid(x[t] @ wiz.T + biz + h @ whz.T + bhz)
        if textbook:
            n = np.tanh(x[t] @ win.T + bin_ + (r * h) @ whn.T + bhn)
        else:
            n = np.tanh(x[t] @ win.T + bin_ + r * (h @ whn.T + bhn))
        cache.append((h, r, z, n))
        h = (1 - z) * n + z * h
        ys.append(h)
    grads = {k: np.zeros_like(v[k]) for k in ("x", "wx", "wh", "bx", "bh")}
    back = np.zeros_like(h)
    for t in reversed(range(x.shape[0])):
        h_prev, r, z, n = cache[t]
        dh = g[t] + back + (v["gh"] if t == x.shape[0] - 1 else 0)
        dn, dz = dh * (1 - z), dh * (h_prev - n)
        back = dh * z
        dan = dn * (1 - n**2)
        if textbook:
            s = r * h_prev
            ds = dan @ whn
            grads["wh"][blocks[2]] += dan.T @ s
            grads["bh"][blocks[2]] += dan.sum(axis=0)
            dr = ds * h_prev
            back = back + ds * r
        else:
            q = h_prev @ whn.T + bhn
            dq = dan * r
            grads["wh"][blocks[2]] += dq.T @ h_prev
            grads["bh"][blocks[2]] += dq.sum(axis=0)
            dr = dan * q
            back = back + dq @ whn
        dar, daz = dr * r * (1 - r), dz * z * (1 - z)
        for k, da in ((0, dar), (1, daz)):
            grads["wh"][blocks[k]] += da.T @ h_prev
            grads["bh"][blocks[k]] += da.sum(axis=0)
            back = back + da @ wh[blocks[k]]
        for k, da in ((0, dar), (1, daz), (2, dan)):
            grads["x"][t] += da @ wx[blocks[k]]
            grads["wx"][blocks[k]] += da.T @ x[t]
            grads["bx"][blocks[k]] += da.sum(axis=0)
    grads["h0"] = back
    return np.stack(ys), grads


def reference(kind: str, v: dict, **options) -> tuple[np.ndarray, dict]:
    """y and {gradient name: value} from NumPy, in the command's names."""
    if kind == "rnn":
        y, out = np_rnn(v, **options)
        out["bh"] = out["bx"]
    elif kind == "lstm":
        y, out, _ = np_lstm(v, **options)
        out["bh"] = out["bx"]
    else:
        y, out = np_gru(v, **options)
    names = {"wx": "weight_ih", "wh": "weight_hh", "bx": "bias_ih", "bh": "bias_hh"}
    return y, {names.get(k, k): value for k, value in out.items()}


# ---------------------------------------------------------------- running the command's core


def run(
    kind,
    shapes=None,
    values=None,
    params=(),
    upstream="random",
    finals=None,
    seed=0,
    settings_=FLOAT64,
    steps=False,
    expected=None,
):
    inputs = {k: Given(shape=tuple(s)) for k, s in (shapes or {}).items()}
    for k, value in (values or {}).items():
        if value == "none":
            inputs[k] = Given(none=True)
        else:
            array = np.asarray(value, dtype=float)
            inputs[k] = Given(values=tuple(array.reshape(-1).tolist()), shape=array.shape)
    checked = plan(get_layer(kind), inputs, list(params), settings_.dtype.value)
    if not isinstance(upstream, str):
        array = np.asarray(upstream, dtype=float)
        upstream = Given(values=tuple(array.reshape(-1).tolist()), shape=array.shape)
    wanted = {}
    for name, value in (finals or {}).items():
        if isinstance(value, str):
            wanted[name] = value
        else:
            array = np.asarray(value, dtype=float)
            wanted[name] = Given(values=tuple(array.reshape(-1).tolist()), shape=array.shape)
    request = LayerRequest(checked, upstream, seed, steps, wanted)
    return layer_gradients(request, settings_, expected)


def arrays(result) -> dict:
    """The inputs, G, G_h and G_c the command used, as NumPy arrays (N = 1 added for one
    sequence), in the reference's names."""
    values = {i.name: np.asarray(nested(i.value), dtype=float) for i in result.inputs if i.value}
    finals = {i.name: np.asarray(nested(i.value), dtype=float) for i in result.final_upstreams}
    one = values["x"].ndim == 2

    def batched(a, lead=0):
        return np.expand_dims(a, lead) if one else a

    zeros = np.zeros_like(values["h0"])
    rows = values["weight_hh"].shape[0]
    return {
        "x": batched(values["x"], 1),
        "h0": batched(values["h0"]),
        "c0": batched(values.get("c0", zeros)),
        "wx": values["weight_ih"],
        "wh": values["weight_hh"],
        "bx": values.get("bias_ih", np.zeros(rows)),
        "bh": values.get("bias_hh", np.zeros(rows)),
        "g": batched(np.asarray(nested(result.upstream.value), dtype=float), 1),
        "gh": batched(finals.get("G_h", zeros)),
        "gc": batched(finals.get("G_c", zeros)),
    }


def unbatch(value: np.ndarray, name: str, one: bool) -> np.ndarray:
    if not one:
        return value
    if name == "x":
        return value[:, 0]
    if name in ("h0", "c0"):
        return value[0]
    return value


def analytic(result) -> dict:
    return {g.name: np.asarray(nested(g.check.analytic), dtype=float) for g in result.grads}


def assert_matches_numpy(kind, result, params=(), tol=1e-9):
    v = arrays(result)
    one = np.asarray(nested(result.inputs[0].value)).ndim == 2
    y, want = reference(kind, v, **({"relu": True} if "nonlinearity=relu" in params else {}))
    got = analytic(result)
    np.testing.assert_allclose(
        np.asarray(nested(result.output.value)), unbatch(y, "x", one), rtol=tol, atol=tol
    )
    for name, value in got.items():
        np.testing.assert_allclose(
            value, unbatch(want[name], name, one), rtol=tol, atol=tol, err_msg=name
        )
    return got


def torch_module_gradients(kind, result, params=()):
    """Autograd through torch.nn.RNN/LSTM/GRU built as a user builds it, weights copied in."""
    v = {
        i.name: torch.tensor(nested(i.value), dtype=torch.float64)
        for i in result.inputs
        if i.value is not None
    }
    d, size = v["weight_ih"].shape[1], v["weight_hh"].shape[1]
    bias = "bias_ih" in v and "bias_hh" in v
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    extra = {"nonlinearity": "relu"} if "nonlinearity=relu" in params else {}
    module = cls(d, size, bias=bias, dtype=torch.float64, **extra)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if name in v:
                getattr(module, f"{name}_l0").copy_(v[name])
    leaves = {k: t.clone().requires_grad_(True) for k, t in v.items() if k in ("x", "h0", "c0")}
    h0 = leaves["h0"].unsqueeze(0)
    state = (h0, leaves["c0"].unsqueeze(0)) if kind == "lstm" else h0
    y, final = module(leaves["x"], state)
    g = torch.tensor(nested(result.upstream.value), dtype=torch.float64)
    loss = (g * y).sum()
    for info in result.final_upstreams:
        value = torch.tensor(nested(info.value), dtype=torch.float64)
        out = (final[0] if info.name == "G_h" else final[1]) if kind == "lstm" else final
        loss = loss + (value * out[0]).sum()
    loss.backward()
    out = {k: t.grad for k, t in leaves.items()}
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        if name in v:
            out[name] = getattr(module, f"{name}_l0").grad
    return out


# ---------------------------------------------------------------- every layer, many shapes

SHAPES = [(1, 1, 1, 1), (3, 2, 4, 3), (5, 1, 2, 2), (2, 3, 1, 4), (6, 0, 3, 2)]  # N = 0: T×D
CASES = [
    (kind, shape, params, state)
    for kind, params in (("rnn", ()), ("rnn", ("nonlinearity=relu",)), ("lstm", ()), ("gru", ()))
    for shape in SHAPES
    for state in ("given", "left out")
]


def case_id(case) -> str:
    kind, (t, n, d, h), params, state = case
    return f"{kind}{'-relu' if params else ''}[T{t},N{n},D{d},H{h}]-h0 {state}"


def case_inputs(kind, shape, state):
    t, n, d, h = shape
    shapes = {"x": (t, n, d) if n else (t, d)}
    params = (f"hidden_size={h}",)
    if state == "given":
        shapes["h0"] = (n, h) if n else (h,)
        if kind == "lstm":
            shapes["c0"] = shapes["h0"]
    return shapes, params


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bptt_equals_numpy_autograd_modules_and_finite_differences(case):
    kind, shape, params, state = case
    shapes, size = case_inputs(kind, shape, state)
    result = run(kind, shapes, params=(*size, *params), seed=7)
    assert result.agree, [(g.name, g.check.max_abs_diff) for g in result.grads]
    got = assert_matches_numpy(kind, result, params)
    modules = torch_module_gradients(kind, result, params)
    assert set(got) == set(modules)
    for name, value in modules.items():
        np.testing.assert_allclose(got[name], value.numpy(), rtol=1e-9, atol=1e-10, err_msg=name)
    names = [g.name for g in result.grads]
    assert names == [n for n in GRADS if n in names]
    assert ("c0" in names) == (kind == "lstm")
    sources = {i.name: i.source for i in result.inputs}
    assert sources["h0"] == ("drawn" if state == "given" else "default")
    for grad in result.grads:
        assert not grad.numeric_sampled and grad.numeric_checked == grad.numeric_total


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_final_state_upstreams_enter_l(kind):
    finals = {"h_n": "random"} | ({"c_n": "random"} if kind == "lstm" else {})
    result = run(kind, {"x": (4, 2, 3)}, params=("hidden_size=2",), finals=finals, seed=2)
    assert result.agree
    assert [i.name for i in result.final_upstreams] == ["G_h", "G_c"][: len(finals)]
    got = assert_matches_numpy(kind, result)
    modules = torch_module_gradients(kind, result)
    for name, value in modules.items():
        np.testing.assert_allclose(got[name], value.numpy(), rtol=1e-9, atol=1e-10)
    without = run(kind, {"x": (4, 2, 3)}, params=("hidden_size=2",), seed=2)
    assert not np.allclose(analytic(without)["h0"], got["h0"])  # the terms count
    # h_n is y's last time step; c_n is the last cell state of the steps
    states = {i.name: np.asarray(nested(i.value)) for i in result.final_states}
    np.testing.assert_allclose(states["h_n"], np.asarray(nested(result.output.value))[-1])


def test_upstream_h_is_the_same_as_adding_it_to_g_at_the_last_step():
    g = np.arange(12.0).reshape(3, 2, 2) / 10 - 0.5
    g_h = np.array([[1.0, -2.0], [0.5, 0.25]])
    plus = g.copy()
    plus[-1] += g_h
    common = {"shapes": {"x": (3, 2, 3)}, "params": ("hidden_size=2",), "seed": 4}
    a = run("gru", **common, upstream=g, finals={"h_n": g_h})
    b = run("gru", **common, upstream=plus)
    for name, value in analytic(a).items():
        np.testing.assert_allclose(value, analytic(b)[name], rtol=1e-12, atol=1e-13)


def test_biases_left_out_are_zero_and_have_no_gradient():
    result = run(
        "lstm",
        {"x": (3, 2, 2)},
        values={"bias_ih": "none", "bias_hh": "none"},
        params=("hidden_size=2",),
    )
    assert result.agree
    assert [g.name for g in result.grads] == ["x", "h0", "c0", "weight_ih", "weight_hh"]
    assert_matches_numpy("lstm", result)
    assert "a bias left out is 0" in " ".join(result.notes)
    one = run("gru", {"x": (3, 2, 2)}, values={"bias_hh": "none"}, params=("hidden_size=2",))
    assert one.agree and "bias_hh" not in analytic(one)
    assert_matches_numpy("gru", one)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_float32_mode(kind):
    result = run(kind, {"x": (4, 2, 3)}, params=("hidden_size=3",), settings_=FLOAT32, seed=1)
    assert result.agree and result.dtype == "float32"
    # the same numbers as float64 (drawn in float64, then cast), to float32's precision
    wide = run(kind, {"x": (4, 2, 3)}, params=("hidden_size=3",), seed=1)
    for name, value in analytic(result).items():
        np.testing.assert_allclose(value, analytic(wide)[name], rtol=1e-4, atol=1e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["rnn", "lstm", "gru"]),
    t=st.integers(1, 6),
    n=st.integers(0, 3),
    d=st.integers(1, 4),
    h=st.integers(1, 4),
    state=st.sampled_from(["given", "left out"]),
    relu=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_shape_matches_numpy_and_autograd(kind, t, n, d, h, state, relu, seed):
    shapes, size = case_inputs(kind, (t, n, d, h), state)
    params = (*size, "nonlinearity=relu") if kind == "rnn" and relu else size
    result = run(kind, shapes, params=params, seed=seed, settings_=NO_NUMERIC)
    assert result.agree
    assert result.output.shape == ([t, n, h] if n else [t, h])
    assert_matches_numpy(kind, result, params, tol=1e-8)


# ---------------------------------------------------------------- hand-checked numbers


def test_rnn_by_hand():
    # H = 1, D = 2, T = 3, W_ih = [0.5, −0.5], W_hh = 0.3, b_ih = 0, b_hh = 0.1, G = 1
    x = [[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]]
    result = run(
        "rnn",
        values={
            "x": x,
            "weight_ih": [[0.5, -0.5]],
            "weight_hh": [[0.3]],
            "bias_ih": [0.0],
            "bias_hh": [0.1],
        },
        upstream=[[1], [1], [1]],
    )
    a1 = 0.5 * 1 - 0.5 * 2 + 0.1
    h1 = np.tanh(a1)
    h2 = np.tanh(0.5 * 0 - 0.5 * 1 + 0.3 * h1 + 0.1)
    h3 = np.tanh(0.5 * -1 - 0.5 * 0.5 + 0.3 * h2 + 0.1)
    np.testing.assert_allclose(np.asarray(nested(result.output.value)).ravel(), [h1, h2, h3])
    da3 = 1 - h3**2
    da2 = (1 + 0.3 * da3) * (1 - h2**2)
    da1 = (1 + 0.3 * da2) * (1 - h1**2)
    got = analytic(result)
    np.testing.assert_allclose(got["h0"], [0.3 * da1])
    np.testing.assert_allclose(got["bias_hh"], [da1 + da2 + da3])
    np.testing.assert_allclose(got["weight_hh"], [[da2 * h1 + da3 * h2]])
    np.testing.assert_allclose(got["x"], np.outer([da1, da2, da3], [0.5, -0.5]))


# ---------------------------------------------------------------- draws


def test_draws_are_torchs_init_from_the_seed_in_float64():
    result = run("lstm", {"x": (2, 1, 3)}, params=("hidden_size=2",), seed=11)
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 1, 3, generator=gen, dtype=torch.float64)
    bound = 1 / np.sqrt(2)
    want = {"x": x}
    for name, shape in (
        ("weight_ih", (8, 3)),
        ("weight_hh", (8, 2)),
        ("bias_ih", (8,)),
        ("bias_hh", (8,)),
    ):
        want[name] = torch.empty(*shape, dtype=torch.float64).uniform_(-bound, bound, generator=gen)
    values = {i.name: np.asarray(nested(i.value)) for i in result.inputs}
    for name, value in want.items():
        np.testing.assert_array_equal(values[name], value.numpy())
    assert (values["h0"] == 0).all() and (values["c0"] == 0).all()
    notes = " ".join(result.notes)
    assert "nn.LSTM's init of its weights and biases, H = 2" in notes
    assert "h0 (h₀) = torch.zeros(1, 2) and c0 (c₀) = torch.zeros(1, 2)" in notes


def test_shape_draws_of_weights_are_uniform_too():
    result = run("gru", {"x": (2, 3), "weight_hh": (6, 2)})
    values = {i.name: np.asarray(nested(i.value)) for i in result.inputs}
    assert np.abs(values["weight_hh"]).max() <= 1 / np.sqrt(2)
    assert result.params["hidden_size"] == 2


# ---------------------------------------------------------------- slips


def answer_text(values) -> str:
    values = np.asarray(values, dtype=float)
    rows = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None]
    return ";".join(",".join(f"{v:.12g}" for v in row) for row in rows)


GRU_VALUES = {
    "x": [[[0.5, -1.0]], [[1.5, 0.25]], [[-0.75, 2.0]]],
    "h0": [[0.3, -0.6]],
    "weight_ih": [[0.2, -0.4], [0.5, 0.1], [-0.3, 0.6], [0.7, 0.2], [-0.5, 0.4], [0.1, -0.8]],
    "weight_hh": [[0.6, -0.2], [0.3, 0.5], [-0.4, 0.9], [0.2, 0.1], [0.8, -0.7], [-0.6, 0.3]],
    "bias_ih": [0.1, -0.2, 0.3, 0.0, 0.2, -0.1],
    "bias_hh": [0.4, 0.1, -0.3, 0.2, 0.5, -0.4],
}
GRU_G = [[[1.0, -0.5]], [[0.25, 2.0]], [[-1.0, 0.75]]]


@pytest.mark.parametrize("name", ["weight_hh", "x", "h0", "bias_hh"])
def test_the_textbook_gru_is_named(name):
    base = run("gru", values=GRU_VALUES, upstream=GRU_G)
    _, textbook = reference("gru", arrays(base), textbook=True)
    truth = analytic(base)[name]
    assert not np.allclose(textbook[name], truth)  # the variant really differs
    result = run(
        "gru",
        values=GRU_VALUES,
        upstream=GRU_G,
        expected={name: parse_expected(answer_text(textbook[name]))},
    )
    part = result.answer.parts[name]
    assert not part.passed
    assert "textbook GRU" in part.hint and "W_hn (r⊙h)" in part.hint, part.hint
    right = run(
        "gru",
        values=GRU_VALUES,
        upstream=GRU_G,
        expected={name: parse_expected(answer_text(truth))},
    )
    assert right.answer.passed


def test_the_gru_formula_says_where_r_goes():
    layer = get_layer("gru")
    assert "r⊙(h_{t−1} W_hnᵀ + b_hn)" in layer.forward_formula
    assert "not on h" in layer.forward_formula


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_no_backpropagation_through_time_is_named(kind):
    base = run(kind, {"x": (4, 2, 3)}, params=("hidden_size=2",), seed=3)
    v = arrays(base)
    wrong = np_rnn(v, through_time=False)[1] if kind == "rnn" else np_lstm(v, through_time=False)[1]
    assert not np.allclose(wrong["wh"], analytic(base)["weight_hh"])
    result = run(
        kind,
        {"x": (4, 2, 3)},
        params=("hidden_size=2",),
        seed=3,
        expected={"weight_hh": parse_expected(answer_text(wrong["wh"]))},
    )
    assert "without backpropagation through time" in result.answer.parts["weight_hh"].hint


def test_lstm_gate_order_ifog_is_named():
    base = run("lstm", {"x": (3, 2, 2)}, params=("hidden_size=2",), seed=5)
    dw = analytic(base)["weight_ih"]
    swapped = np.concatenate([dw[0:2], dw[2:4], dw[6:8], dw[4:6]])  # i, f, o, g
    result = run(
        "lstm",
        {"x": (3, 2, 2)},
        params=("hidden_size=2",),
        seed=5,
        expected={"weight_ih": parse_expected(answer_text(swapped))},
    )
    assert "i, f, o, g" in result.answer.parts["weight_ih"].hint


def test_batch_slip_uses_n_not_t():
    base = run("rnn", {"x": (5, 3, 2)}, params=("hidden_size=2",))
    dx = analytic(base)["weight_ih"]
    result = run(
        "rnn",
        {"x": (5, 3, 2)},
        params=("hidden_size=2",),
        expected={"weight_ih": parse_expected(answer_text(dx / 3))},
    )
    assert "divided by N = 3" in result.answer.parts["weight_ih"].hint


# ---------------------------------------------------------------- steps and keys


def step_keys(result) -> list[str]:
    return [s.key for s in result.steps if s.key]


@pytest.mark.parametrize(
    "kind, per_step",
    [
        ("rnn", ["a", "h", "dh", "da"]),
        ("lstm", ["i", "f", "g", "o", "c", "h", "dh", "dc", "da"]),
        ("gru", ["r", "z", "nh", "n", "h", "dh", "da", "dah"]),
    ],
)
def test_steps_name_every_quantity_of_every_short_sequence(kind, per_step):
    result = run(kind, {"x": (3, 2, 2)}, params=("hidden_size=2",), steps=True)
    keys = step_keys(result)
    for t in (1, 2, 3):
        for what in per_step:
            assert f"t{t}.{what}" in keys
    assert [k for k in keys if "." not in k] == [g.name for g in result.grads]
    assert not any("not shown" in s.label for s in result.steps)
    # forward t = 1…T, then backward from T down
    assert keys.index("t3.h") < keys.index("t3.dh") < keys.index("t2.dh") < keys.index("t1.dh")


def test_steps_of_a_long_sequence_are_truncated_with_the_count():
    result = run("lstm", {"x": (9, 1, 2)}, params=("hidden_size=1",), steps=True)
    keys = step_keys(result)
    shown = {int(k[1 : k.index(".")]) for k in keys if k.startswith("t")}
    assert shown == {1, 2, 8, 9} == set(shown_times(9))
    skipped = [s for s in result.steps if "not shown" in s.label]
    assert len(skipped) == 2  # once in the forward pass, once in the backward pass
    assert "t3 to t7: 5 of 9 time steps not shown" in skipped[0].label
    assert STEP_TIMES == 4


def test_step_values_are_what_their_keys_say():
    """t{k}.h is y[k−1]; t{k}.dh and t{k}.dc are NumPy's ∂L/∂h_k and ∂L/∂c_k."""
    result = run(
        "lstm",
        {"x": (3, 2, 2)},
        params=("hidden_size=2",),
        steps=True,
        seed=9,
        finals={"c_n": "random"},
    )
    values = {s.key: np.asarray(nested(s.value)) for s in result.steps if s.key}
    y = np.asarray(nested(result.output.value))
    _, _, back = np_lstm(arrays(result))
    for t in (1, 2, 3):
        np.testing.assert_allclose(values[f"t{t}.h"], y[t - 1], rtol=1e-12)
        np.testing.assert_allclose(values[f"t{t}.dh"], back["dh"][t], rtol=1e-10)
        np.testing.assert_allclose(values[f"t{t}.dc"], back["dc"][t], rtol=1e-10)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_every_quantity_depends_only_on_earlier_keys_and_recomputes_from_them(kind):
    layer = get_layer(kind)
    gen = torch.Generator().manual_seed(0)
    size = {"rnn": 1, "lstm": 4, "gru": 3}[kind] * 2
    t = {
        "x": torch.randn(4, 2, 3, generator=gen, dtype=torch.float64),
        "h0": torch.randn(2, 2, generator=gen, dtype=torch.float64),
        "c0": torch.randn(2, 2, generator=gen, dtype=torch.float64),
        "weight_ih": torch.randn(size, 3, generator=gen, dtype=torch.float64),
        "weight_hh": torch.randn(size, 2, generator=gen, dtype=torch.float64),
        "bias_ih": torch.randn(size, generator=gen, dtype=torch.float64),
        "bias_hh": torch.randn(size, generator=gen, dtype=torch.float64),
    }
    g = torch.randn(4, 2, 2, generator=gen, dtype=torch.float64)
    params = layer.resolve_params([])
    items = quantities(kind, t, params, g)
    values = evaluate(items)
    seen: set[str] = set()
    for q in items:
        assert set(q.depends_on) <= seen, (q.key, set(q.depends_on) - seen)
        assert re.fullmatch(r"t\d+\.[a-z]+|x|h0|c0|weight_ih|weight_hh|bias_ih|bias_hh", q.key)
        seen.add(q.key)
    # t3.h from another t2.h: the step's own formula applied to the value given
    other = values["t2.h"] + 0.5
    step = {q.key: q for q in items}
    later = {"t2.h": other}
    for q in items:
        if q.time == 3 and not q.backward:
            later[q.key] = q.compute({k: later.get(k, values[k]) for k in q.depends_on})
    if kind == "rnn":
        a = t["x"][2] @ t["weight_ih"].T + t["bias_ih"] + other @ t["weight_hh"].T + t["bias_hh"]
        torch.testing.assert_close(later["t3.h"], torch.tanh(a))
    assert not torch.allclose(later["t3.h"], values["t3.h"])
    assert step["t3.h"].depends_on  # a state depends on the step's gates or pre-activation


# ---------------------------------------------------------------- relu kinks


def test_relu_kinks_are_left_out_of_the_numeric_verdict_where_they_reach():
    # a₁ = 0 exactly (x₁ = 0, h₀ = 0, no bias); a₂ = 1 is far from the kink
    values = {
        "x": [[0.0], [1.0]],
        "weight_ih": [[1.0]],
        "weight_hh": [[1.0]],
        "bias_ih": "none",
        "bias_hh": "none",
    }
    result = run("rnn", values=values, params=("nonlinearity=relu",), upstream=[[1.0], [1.0]])
    assert result.agree
    by_name = {g.name: g for g in result.grads}
    trusted_x = np.asarray(nested(by_name["x"].check.trusted)).ravel().tolist()
    assert trusted_x == [False, True]  # x₁ reaches the kink at t = 1, x₂ does not
    assert not np.asarray(nested(by_name["weight_hh"].check.trusted)).any()
    assert any("left out of the verdict" in note for note in by_name["x"].notes)
    tanh = run("rnn", values=values, upstream=[[1.0], [1.0]])
    assert all(np.asarray(nested(g.check.trusted)).all() for g in tanh.grads)


def test_an_answer_at_a_relu_kink_may_take_either_side():
    # a₁ = 0: right of it da₁ = dh₁ = G₁ + da₂·W_hh = 2, left of it (and torch) 0
    values = {"x": [[0.0], [1.0]], "weight_ih": [[1.0]], "weight_hh": [[1.0]],
              "bias_ih": "none", "bias_hh": "none"}  # fmt: skip
    for answer in ("2;1", "0;1"):
        result = run("rnn", values=values, params=("nonlinearity=relu",), upstream=[[1.0], [1.0]],
                     expected={"x": parse_expected(answer)})  # fmt: skip
        assert result.answer.passed, answer
    wrong = run("rnn", values=values, params=("nonlinearity=relu",), upstream=[[1.0], [1.0]],
                expected={"x": parse_expected("3;1")})  # fmt: skip
    assert not wrong.answer.passed


# ---------------------------------------------------------------- planning and bounds


def test_hidden_size_comes_from_whatever_gives_it():
    layer = get_layer("lstm")
    for given_ in (
        {"weight_hh": Given(shape=(12, 3))},
        {"h0": Given(shape=(2, 3))},
        {"bias_ih": Given(shape=(12,))},
    ):
        checked = plan(layer, {"x": Given(shape=(4, 2, 5)), **given_}, [])
        assert checked.params["hidden_size"] == 3
        assert checked.shapes["weight_ih"] == (12, 5) and checked.output_shape == (4, 2, 3)


@pytest.mark.parametrize(
    "kind, inputs, params, message",
    [
        ("lstm", {"x": (3, 2, 4)}, [], "the hidden size H is not known"),
        (
            "lstm",
            {"x": (3, 2, 4), "weight_hh": (16, 4), "weight_ih": (12, 4)},
            [],
            "--weight-ih has shape 12×4 but weight_ih is 4H×D (4 gates (i, f, g, o) of H rows "
            "each; D = x's features): x is 3×2×4, with H = 4 (from --weight-hh 16×4), so it must "
            "be 16×4",
        ),
        ("rnn", {"x": (3, 2, 4), "h0": (3, 5)}, [], "--h0 has shape 3×5 but it is N×H"),
        ("gru", {"x": (3, 4), "h0": (2, 5)}, [], "it is H (one sequence: x is T×D)"),
        ("rnn", {"x": (2, 2, 2, 2)}, ["hidden_size=2"], "--x must have 3 dimensions"),
        (
            "gru",
            {"x": (3, 2, 4), "bias_ih": (4,)},
            ["hidden_size=2"],
            "--bias-ih has 4 values but bias_ih stacks 3 gates (r, z, n) of H rows each: with "
            "H = 2 (from --param hidden_size=2) it needs 6",
        ),
        ("rnn", {"x": (3, 2, 4), "weight_hh": (2, 3)}, [], "--weight-hh has shape 2×3"),
        ("lstm", {"x": (3, 2, 4)}, ["hidden_size=0"], "hidden_size='0' must be ≥ 1"),
        (
            "rnn",
            {"x": (3, 2, 4)},
            ["nonlinearity=sigmoid"],
            "rnn: --param nonlinearity='sigmoid' must be tanh or relu",
        ),
        ("rnn", {"x": (3, 2, 4)}, ["nonlinearity=tahn"], "(did you mean 'tanh'?)"),
        ("lstm", {"x": (3, 2, 4)}, ["nonlinearity=relu"], "unknown parameter for lstm"),
    ],
)
def test_plan_refuses_bad_shapes_before_any_tensor(kind, inputs, params, message):
    given_ = {k: Given(shape=s) for k, s in inputs.items()}
    with pytest.raises(InputError) as error:
        plan(get_layer(kind), given_, params)
    assert message in str(error.value)


def test_big_sequences_are_refused_with_size_and_limit(monkeypatch):
    checked = plan(get_layer("lstm"), {"x": Given(shape=(100000, 64, 100))}, ["hidden_size=512"])
    with pytest.raises(InputError, match=r"needs [\d.]+ [KMGT]B; the limit is 2 GB"):
        require_limits(checked)
    monkeypatch.setenv("GRADCLI_MAX_MEMORY", "1000G")  # memory binds first otherwise
    work = plan(get_layer("rnn"), {"x": Given(shape=(1000, 1, 2000))}, ["hidden_size=2000"])
    with pytest.raises(InputError, match=r"needs about .* operations; the limit is"):
        require_limits(work)
    monkeypatch.delenv("GRADCLI_MAX_MEMORY")
    # a long thin sequence: little memory, but the derivation's Python loop visits every step
    thin = plan(get_layer("lstm"), {"x": Given(shape=(100000, 1))}, ["hidden_size=1"])
    assert thin.fixed_work >= 100000 * 1_000_000
    with pytest.raises(InputError, match=r"needs about .* operations; the limit is"):
        require_limits(thin)
    # the estimate grows with T·N·H·(D + H)
    small = plan(get_layer("lstm"), {"x": Given(shape=(10, 2, 3))}, ["hidden_size=4"])
    double = plan(get_layer("lstm"), {"x": Given(shape=(20, 2, 3))}, ["hidden_size=4"])
    assert double.multiply_adds == 2 * small.multiply_adds
    assert double.bytes_needed > small.bytes_needed


# ---------------------------------------------------------------- the command


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_cli_json_carries_final_states_and_upstreams():
    run_ = invoke(
        "layer",
        "lstm",
        "--x-shape",
        "3x2x2",
        "--param",
        "hidden_size=2",
        "--upstream-h",
        "ones",
        "--upstream-c",
        "[[1,2],[3,4]]",
        "--json",
    )
    assert run_.exit_code == 0, run_.output
    data = json.loads(run_.stdout)
    assert data["agree"] and data["params"] == {"hidden_size": 2}
    assert set(data["final_states"]) == {"h_n", "c_n"}
    assert data["final_upstreams"]["G_c"]["value"] == [[1.0, 2.0], [3.0, 4.0]]
    assert data["final_upstreams"]["G_h"]["source"] == "ones"


def test_cli_table_and_expect_of_a_weight():
    base = json.loads(
        invoke(
            "layer", "rnn", "--x", "1,2;3,4", "--weight-hh", "0.5", "--weight-ih", "1,-1", "--json"
        ).stdout
    )
    answer = ",".join(f"{v:.10g}" for v in base["grads"]["weight_ih"]["analytic"][0])
    ok = invoke(
        "layer",
        "rnn",
        "--x",
        "1,2;3,4",
        "--weight-hh",
        "0.5",
        "--weight-ih",
        "1,-1",
        "--expect",
        f"weight_ih={answer}",
    )
    assert ok.exit_code == 0, ok.output
    assert "L = Σ G ⊙ y with G" in ok.stdout


def test_cli_upstream_h_of_a_layer_without_final_states_is_refused():
    run_ = invoke("layer", "linear", "--x", "1,2", "--weight-shape", "2x2", "--upstream-h", "1")
    assert run_.exit_code == 2
    assert "linear has no final hidden state; --upstream-h is for rnn, lstm and gru" in (
        run_.stderr
    )


def test_list_shows_the_recurrent_layers():
    text = " ".join(invoke("layer", "--list").stdout.split())  # wrapped lines joined
    for kind in ("rnn", "lstm", "gru"):
        assert f"{kind} — " in text
    assert "nonlinearity=tanh" in text and "(or relu)" in text
    assert "tK.dh" in text and "tK.dc" in text and "tK.dah" in text


# ---------------------------------------------------------------- the worked solution's keys

HAND = {"x": [[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5]], "weight_ih": [[0.5, -0.5]],
        "weight_hh": [[0.3]], "bias_ih": [0.0], "bias_hh": [0.1]}  # fmt: skip


def hand_run(answers: dict):
    expected = {key: parse_expected(text) for key, text in answers.items()}
    return run("rnn", values=HAND, upstream=[[1], [1], [1]], expected=expected,
               settings_=NO_NUMERIC)  # fmt: skip


def test_every_step_key_takes_an_answer_and_a_chain_is_carried_forward():
    # the truth by hand (test_rnn_by_hand): h₂, h₃, then dh₂ = 1 + 0.3·(1 − h₃²)
    h1 = np.tanh(-0.4)
    h2 = np.tanh(-0.5 + 0.3 * h1 + 0.1)
    h3 = np.tanh(-0.75 + 0.3 * h2 + 0.1)
    dh2 = 1 + 0.3 * (1 - h3**2)
    right = hand_run({"t3.h": f"{h3:.8f}", "t2.dh": f"{dh2:.8f}"})
    assert right.answer.passed
    # dh₂ = 2 is wrong; da₂ and dh₁ worked from it are carried forward, not wrong
    da2 = 2 * (1 - h2**2)
    dh1 = 1 + 0.3 * da2
    marks = hand_run({"t2.dh": "2", "t2.da": f"{da2:.6f}", "t1.dh": f"{dh1:.6f}"}).marks
    assert [m.status for m in marks] == ["wrong", "carried forward", "carried forward"]
    assert marks.get("t1.dh").sources == ("t2.da",)  # the nearest answer it follows from
    # a da₂ that follows from nothing given is wrong
    alone = hand_run({"t2.da": f"{da2:.6f}"}).marks
    assert [m.status for m in alone] == ["wrong"]


def test_steps_left_out_of_a_long_sequence_still_take_answers():
    base = run("lstm", {"x": (7, 1, 2)}, params=("hidden_size=1",), steps=True, seed=4)
    solution = {q.key: q for q in base.solution}
    assert {f"t{t}.dc" for t in range(1, 8)} <= set(solution)
    assert "t4.dc" not in step_keys(base)  # not written out, a quantity still
    value = np.asarray(nested(solution["t4.dc"].value)).ravel()
    answer = ",".join(f"{v:.10g}" for v in value)
    result = run("lstm", {"x": (7, 1, 2)}, params=("hidden_size=1",), seed=4,
                 expected={"t4.dc": parse_expected(answer)})  # fmt: skip
    assert result.answer.passed


def test_the_textbook_gru_is_named_at_a_step():
    base = run("gru", values=GRU_VALUES, upstream=GRU_G)
    y_textbook, _ = np_gru(arrays(base), textbook=True)
    result = run("gru", values=GRU_VALUES, upstream=GRU_G,
                 expected={"t2.h": parse_expected(answer_text(y_textbook[1]))})  # fmt: skip
    part = result.answer.parts["t2.h"]
    assert not part.passed and "t2.h of the textbook GRU" in part.hint, part.hint


def test_no_bptt_is_named_at_a_step():
    base = run("rnn", {"x": (4, 2, 3)}, params=("hidden_size=2",), seed=3)
    g2 = arrays(base)["g"][1]  # without BPTT dh₂ = G₂ exactly
    result = run("rnn", {"x": (4, 2, 3)}, params=("hidden_size=2",), seed=3,
                 expected={"t2.dh": parse_expected(answer_text(g2))})  # fmt: skip
    hint = result.answer.parts["t2.dh"].hint
    assert "t2.dh without backpropagation through time" in hint, hint


def test_keys_follow_the_sequence_length():
    layer = get_layer("gru")
    checked = plan(layer, {"x": Given(shape=(3, 2, 4))}, ["hidden_size=2"])
    keys = [key for key, _ in layer.keys(checked.shapes, checked.params)]
    assert keys[:5] == ["t1.r", "t1.z", "t1.nh", "t1.n", "t1.h"]
    assert keys[15:18] == ["t3.dh", "t3.da", "t3.dah"]
    assert keys[-1] == "t1.dah" and len(keys) == 3 * 5 + 3 * 3
    run_ = invoke("layer", "gru", "--x-shape", "3x2x4", "--param", "hidden_size=2",
                  "--expect", "t4.h=1,2")  # fmt: skip
    assert run_.exit_code == 2 and "t4.h" in run_.stderr and "t3.h" in run_.stderr


def test_json_solution_has_every_time_step():
    run_ = invoke("layer", "rnn", "--x-shape", "6x2", "--param", "hidden_size=2", "--steps",
                  "--json")  # fmt: skip
    data = json.loads(run_.stdout)
    keys = [q["key"] for q in data["solution"]]
    assert [f"t{t}.h" for t in range(1, 7)] == [k for k in keys if k.endswith(".h")]
    shown = [step["key"] for step in data["steps"] if step["key"]]
    assert "t3.h" in keys and "t3.h" not in shown and "t6.h" in shown
