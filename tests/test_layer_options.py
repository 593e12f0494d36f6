"""The layer options of issue 25 §2: conv ``groups``, pooling ``ceil_mode``, embedding
``padding_idx``, layernorm ``normalized_shape`` and batchnorm in eval mode.

Every option is checked three ways (analytic vs autograd vs finite differences), against
torch's own module with the weights copied in (nn.Conv2d, nn.MaxPool2d, nn.Embedding,
nn.LayerNorm, nn.BatchNorm in eval mode), and, for groups, ceil_mode and padding_idx,
against a NumPy or plain-Python reference written here from the definitions (torch's
C loops for the pooling windows), never from the code under test.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcli.core.layer import _one_by_one, pair_evaluation
from gradcli.errors import InputError
from gradcli.expect import parse_expected
from gradcli.ops.layers import Given, get_layer, plan
from gradcli.results.grid import nested
from tests.conftest import invoke
from tests.test_layers import (
    FLOAT32,
    HYPOTHESIS,
    answer_text,
    assert_three_ways,
    close,
    grads,
    run,
)


def tensor(values) -> torch.Tensor:
    return torch.tensor(nested(values), dtype=torch.float64)


def array(values) -> np.ndarray:
    return np.array(nested(values), dtype=np.float64)


def inputs_of(result) -> dict[str, torch.Tensor | None]:
    """The result's inputs (given or drawn) as float64 tensors (indices as integers)."""
    found: dict[str, torch.Tensor | None] = {}
    for info in result.inputs:
        if info.value is None:
            found[info.name] = None
        elif info.name == "indices":
            found[info.name] = torch.tensor(info.value)
        else:
            found[info.name] = tensor(info.value)
    return found


def module_grads(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> dict:
    """∂(Σ G ⊙ module(x))/∂(x, weight, bias) through torch's own module."""
    x = x.clone().requires_grad_(x.is_floating_point())
    (g * module(x)).sum().backward()
    found = {"x": x.grad} if x.is_floating_point() else {}
    for name in ("weight", "bias"):
        param = getattr(module, name, None)
        if isinstance(param, torch.nn.Parameter):
            found[name] = param.grad
    return found


def assert_matches(result, reference: dict, tol: float = 1e-10) -> None:
    got = grads(result)
    assert set(reference) == set(got), (set(reference), set(got))
    for name, want in reference.items():
        want = want.tolist() if hasattr(want, "tolist") else want
        close(got[name], want, tol)


# ================================================================ conv groups


def conv_numpy(x, w, b, g, stride, padding, dilation, groups):
    """y and ∂L/∂(x, W, b) of a grouped 2-D correlation, output by output, window by
    window: y[n,o,i,j] = b[o] + Σ_c,p,q W[o,c,p,q]·x_pad[n, grp·C/groups + c, i·s+p·d, j·s+q·d]
    with grp = o // (O/groups); each gradient is the same sum read backwards."""
    n, _, h, wd = x.shape
    o, c_per, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    dxp, dwt = np.zeros_like(xp), np.zeros_like(w)
    o_per = o // groups
    for out in range(o):
        channels = np.arange(out // o_per * c_per, (out // o_per + 1) * c_per)
        for i, j in itertools.product(range(ho), range(wo)):
            rows = i * sh + dh * np.arange(kh)
            cols = j * sw + dw * np.arange(kw)
            where = np.ix_(range(n), channels, rows, cols)
            patch = xp[where]  # n × C/groups × kh × kw
            y[:, out, i, j] = (patch * w[out]).sum(axis=(1, 2, 3)) + (
                b[out] if b is not None else 0
            )
            gij = g[:, out, i, j]
            dwt[out] += np.einsum("n,nckl->ckl", gij, patch)
            dxp[where] += gij[:, None, None, None] * w[out]
    dx = dxp[:, :, ph : ph + h, pw : pw + wd]
    return y, {"x": dx, "weight": dwt, "bias": g.sum(axis=(0, 2, 3))}


GROUPED = [
    # (name, x, weight, params)
    ("conv2d", (2, 4, 5, 6), (6, 2, 3, 2), ("groups=2",)),
    ("conv2d", (1, 3, 6, 6), (3, 1, 3, 3), ("groups=3", "padding=1")),  # depthwise
    ("conv2d", (2, 3, 7, 5), (6, 1, 2, 3), ("groups=3", "stride=2,1", "dilation=1,2")),  # ×2
    ("conv2d", (1, 6, 5, 5), (4, 3, 2, 2), ("groups=2", "stride=2", "padding=1")),
    ("conv2d", (1, 4, 4, 4), (8, 1, 3, 3), ("groups=4", "padding=1,0", "dilation=2,1")),
    ("conv1d", (2, 4, 9), (4, 1, 3), ("groups=4",)),  # depthwise
    ("conv1d", (2, 6, 8), (9, 2, 3), ("groups=3", "stride=2", "padding=2", "dilation=2")),
    ("conv1d", (1, 4, 7), (2, 2, 2), ("groups=2", "padding=1")),
]  # fmt: skip


def conv_id(case) -> str:
    return f"{case[0]}-x{'x'.join(map(str, case[1]))}-w{'x'.join(map(str, case[2]))}-" + ";".join(
        case[3]
    )


@pytest.mark.parametrize("case", GROUPED, ids=conv_id)
def test_grouped_conv_agrees_three_ways_and_with_nn_conv(case):
    name, x_shape, w_shape, params = case
    result = run(name, {"x": x_shape, "weight": w_shape}, params=params, seed=4)
    assert_three_ways(result)
    t = inputs_of(result)
    p = result.params
    cls = torch.nn.Conv2d if name == "conv2d" else torch.nn.Conv1d
    module = cls(
        x_shape[1], w_shape[0], tuple(w_shape[2:]), p["stride"], p["padding"], p["dilation"],
        p["groups"], dtype=torch.float64,
    )  # fmt: skip
    with torch.no_grad():
        module.weight.copy_(t["weight"])
        module.bias.copy_(t["bias"])
    close(result.output.value, module(t["x"]).tolist())
    assert_matches(result, module_grads(module, t["x"], tensor(result.upstream.value)))


@pytest.mark.parametrize("case", GROUPED, ids=conv_id)
def test_grouped_conv_matches_numpy_loops(case):
    name, x_shape, w_shape, params = case
    result = run(name, {"x": x_shape, "weight": w_shape}, params=params, seed=8)
    t = inputs_of(result)
    p = result.params
    x, w, b = (t[k].numpy() for k in ("x", "weight", "bias"))
    g = array(result.upstream.value)
    if name == "conv1d":  # a row of height 1
        x, w, g = x[:, :, None], w[:, :, None], g[:, :, None]
        geometry = ((1, p["stride"]), (0, p["padding"]), (1, p["dilation"]))
    else:
        geometry = tuple(v if isinstance(v, list) else (v, v) for v in
                         (p["stride"], p["padding"], p["dilation"]))  # fmt: skip
    y, want = conv_numpy(x, w, b, g, *geometry, p["groups"])
    if name == "conv1d":
        y = y[:, :, 0]
        want = {k: (v[:, :, 0] if v.ndim > 1 else v) for k, v in want.items()}
    close(result.output.value, y.tolist())
    assert_matches(result, want)


def test_depthwise_conv_by_hand():
    # two channels, one 2-tap kernel each (groups = C = 2), no bias, G = ones:
    # ∂L/∂x[c, l] = Σ of the kernel taps that meet x[c, l]; ∂L/∂W[c] = Σ of the windows
    x = [[[1.0, 2.0, 3.0], [4.0, -1.0, 0.5]]]
    w = [[[1.0, 10.0]], [[-2.0, 3.0]]]
    result = run("conv1d", values={"x": x, "weight": w, "bias": "none"}, params=("groups=2",),
                 upstream="ones")  # fmt: skip
    assert_three_ways(result)
    close(result.output.value, [[[1 + 20, 2 + 30], [-8 - 3, 2 + 1.5]]])
    got = grads(result)
    close(got["x"], [[[1, 11, 10], [-2, 1, 3]]])  # ends meet one tap, the middle both
    close(got["weight"], [[[1 + 2, 2 + 3]], [[4 - 1, -1 + 0.5]]])


def test_grouped_conv_steps_name_each_groups_channels():
    result = run("conv2d", {"x": (1, 4, 4, 4), "weight": (6, 2, 2, 2)}, params=("groups=2",),
                 steps=True)  # fmt: skip
    labels = [step.label for step in result.steps]
    groups = next(s for s in result.steps if s.label.startswith("groups = 2"))
    assert groups.lines == [
        "group 0: y channels 0:3 (W rows 0:3) see x channels 0:2 only",
        "group 1: y channels 3:6 (W rows 3:6) see x channels 2:4 only",
    ]
    patches = next(s for s in result.steps if s.label.startswith("Which input patch"))
    assert patches.lines[0] == "y[0,0,0,0] = b[0] + Σ W[0] ⊙ x[0, 0:2, 0:2, 0:2]"
    weights = next(s for s in result.steps if s.label.startswith("Which input entries"))
    assert "g·C/groups + c" in weights.formula
    # W[3, 1, 0, 0] (group 1, its channel 1) meets x's channel 2 + 1 = 3
    dw = grads(result)["weight"]
    x, g = inputs_of(result)["x"], tensor(result.upstream.value)
    want = float((g[:, 3] * x[:, 3, 0:3, 0:3]).sum())
    assert abs(nested(dw)[3][1][0][0] - want) < 1e-12
    line = next(line for line in weights.lines if line.startswith("∂L/∂W[1,0,0,0]"))
    assert "x[:,0,0:3,0:3]" in line  # group 0
    assert "∂L/∂x = pad(G↑s) ⋆ rot180(W)" in labels
    depthwise = run("conv2d", {"x": (1, 3, 3, 3), "weight": (3, 1, 2, 2)}, params=("groups=3",),
                    steps=True)  # fmt: skip
    assert any("(depthwise)" in step.label for step in depthwise.steps)
    assert any("depthwise convolution (groups = C = 3)" in note for note in depthwise.notes)


def test_grouped_conv_unflipped_kernel_slip_is_named():
    values = {"x": [[[[1.0, 2, 0], [4, 5, 6], [7, 8, 9]], [[0.5, -1, 2], [1, 0, 3], [2, 2, 1]]]],
              "weight": [[[[1.0, 2], [3, 5]]], [[[-1.0, 0], [2, 1]]]], "bias": "none"}  # fmt: skip
    g = [[[[1.0, 0.5], [-1, 2]], [[0.0, 1], [1, -2]]]]
    base = run("conv2d", values=values, params=("groups=2",), upstream=g)
    x, w, gt = tensor(values["x"]), tensor(values["weight"]), tensor(g)
    unflipped = torch.zeros_like(x)  # correlate with W itself in place of rot180(W)
    for c, i, j in itertools.product(range(2), range(2), range(2)):
        unflipped[0, c, i : i + 2, j : j + 2] += gt[0, c, i, j] * w[c, 0].flip(0, 1)
    assert not torch.allclose(unflipped, tensor(grads(base)["x"]))
    answer = parse_expected(answer_text(unflipped.reshape(-1, 3).tolist()))
    result = run("conv2d", values=values, params=("groups=2",), upstream=g,
                 expected={"x": answer})  # fmt: skip
    assert "not flipped" in result.answer.parts["x"].hint


@pytest.mark.parametrize(
    "x, w, groups, words",
    [
        ((1, 3, 5, 5), (6, 1, 3, 3), 2, "does not divide the 3 input channels of --x"),
        ((1, 4, 5, 5), (3, 2, 3, 3), 2, "does not divide the 3 output channels of --weight"),
        ((1, 4, 5, 5), (4, 1, 3, 3), 2, "4 in 2 groups, 2 per group"),
        ((1, 4, 5, 5), (4, 1, 3, 3), 1, "add --param groups=4"),
        (
            (1, 4, 5, 5),
            (4, 3, 3, 3),
            1,
            "3 input channels but --x has 4 (x is 1×4×5×5, weight is 4×3×3×3)",
        ),
    ],
)
def test_groups_that_do_not_fit_are_refused_before_any_tensor(x, w, groups, words):
    with pytest.raises(InputError, match=re.escape(words) + ("$" if "4×3×3×3" in words else "")):
        plan(get_layer("conv2d"), {"x": Given(shape=x), "weight": Given(shape=w)},
             [f"groups={groups}"])  # fmt: skip


def test_groups_divide_the_work_and_the_bias_init_counts_channels_per_group():
    dense = plan(get_layer("conv2d"), {"x": Given(shape=(2, 8, 10, 10)),
                                       "weight": Given(shape=(16, 8, 3, 3))}, [])  # fmt: skip
    grouped = plan(get_layer("conv2d"), {"x": Given(shape=(2, 8, 10, 10)),
                                         "weight": Given(shape=(16, 2, 3, 3))},
                   ["groups=4"])  # fmt: skip
    assert dense.multiply_adds == 2 * 16 * 8 * 8 * (8 * 9)  # each output: C·kh·kw
    assert grouped.multiply_adds == 2 * 16 * 8 * 8 * (2 * 9)  # each output: C/groups·kh·kw
    assert grouped.bytes_needed < dense.bytes_needed
    # nn.Conv2d(8, 16, 3, groups=4) draws its bias uniform on ±1/√(2·9)
    result = run("conv2d", {"x": (1, 4, 3, 3), "weight": (4, 2, 2, 2)}, params=("groups=2",))
    assert any("fan_in = 8" in note for note in result.notes)


def test_a_depthwise_conv_fits_the_limits_where_the_dense_one_does_not(monkeypatch):
    from gradcli.commands.layer import require_limits

    monkeypatch.delenv("GRADCLI_MAX_MEMORY", raising=False)
    monkeypatch.delenv("GRADCLI_MAX_WORK", raising=False)
    x = {"x": Given(shape=(1, 512, 64, 64))}
    dense = plan(get_layer("conv2d"), x | {"weight": Given(shape=(512, 512, 3, 3))}, [])
    depthwise = plan(get_layer("conv2d"), x | {"weight": Given(shape=(512, 1, 3, 3))},
                     ["groups=512"])  # fmt: skip
    assert depthwise.multiply_adds * 512 == dense.multiply_adds
    with pytest.raises(InputError, match="GRADCLI_MAX_MEMORY"):
        require_limits(dense)
    require_limits(depthwise)
    assert depthwise.bytes_needed < dense.bytes_needed  # the weight is 512 times smaller


@HYPOTHESIS
@given(
    n=st.integers(1, 2), groups=st.integers(1, 3), c_per=st.integers(1, 2),
    o_per=st.integers(1, 2), h=st.integers(2, 6), w=st.integers(2, 6), k=st.integers(1, 3),
    s=st.integers(1, 2), p=st.integers(0, 1), d=st.integers(1, 2), seed=st.integers(0, 99),
)  # fmt: skip
def test_grouped_conv_over_shapes(n, groups, c_per, o_per, h, w, k, s, p, d, seed):
    assume(min(h, w) + 2 * p >= d * (k - 1) + 1)
    x, weight = (n, groups * c_per, h, w), (groups * o_per, c_per, k, k)
    params = (f"groups={groups}", f"stride={s}", f"padding={p}", f"dilation={d}")
    result = run("conv2d", {"x": x, "weight": weight}, params=params, seed=seed)
    assert_three_ways(result)


# ================================================================ pooling ceil_mode


def pool_size(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """torch's rule: ⌊ or ⌈(size + 2p − d(k − 1) − 1)/s⌉ + 1, and with ceil_mode one less
    when the last window would start at or past size + p (in the right padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    count = (-(-span // s) if ceil else span // s) + 1
    if ceil and (count - 1) * s >= size + p:
        count -= 1
    return count


def pool_reference(kind, x, g, k, s, p, d, ceil, count_include_pad):
    """y and ∂L/∂x of max or average pooling, window by window, as torch's CPU loops do:
    a window starts at i·s − p; max: its entries inside x (dilated), the first maximum in
    scan order gets G; avg: hend = min(hstart + k, H + p) sets the pool size counted with
    count_include_pad, then the window is clipped to x."""
    n, c, h, w = x.shape
    ho, wo = (pool_size(v, k, s, p, d, ceil) for v in (h, w))
    y, dx = np.zeros((n, c, ho, wo)), np.zeros_like(x)
    for b, ch, i, j in itertools.product(range(n), range(c), range(ho), range(wo)):
        hs, ws = i * s - p, j * s - p
        if kind == "maxpool2d":
            spots = [(hs + a * d, ws + e * d) for a in range(k) for e in range(k)]
            spots = [(r, q) for r, q in spots if 0 <= r < h and 0 <= q < w]
            best = spots[0]
            for spot in spots[1:]:
                if x[b, ch, spot[0], spot[1]] > x[b, ch, best[0], best[1]]:
                    best = spot
            y[b, ch, i, j] = x[b, ch, best[0], best[1]]
            dx[b, ch, best[0], best[1]] += g[b, ch, i, j]
            continue
        he, we = min(hs + k, h + p), min(ws + k, w + p)
        size = (he - hs) * (we - ws)
        hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
        divisor = size if count_include_pad else (he - hs) * (we - ws)
        y[b, ch, i, j] = x[b, ch, hs:he, ws:we].sum() / divisor
        dx[b, ch, hs:he, ws:we] += g[b, ch, i, j] / divisor
    return y, dx


def test_ceil_mode_output_sizes_are_torchs_over_a_grid():
    """The plan's shapes (no torch) against torch's own pooling on every small geometry."""
    for size, k, s, p, d, ceil in itertools.product(
        range(1, 8), range(1, 4), range(1, 4), range(2), range(1, 3), (False, True)
    ):
        extent = d * (k - 1) + 1
        if 2 * p > extent or size + 2 * p < extent:
            continue
        params = [f"kernel_size={k}", f"stride={s}", f"padding={p}", f"dilation={d}",
                  f"ceil_mode={str(ceil).lower()}"]  # fmt: skip
        checked = plan(get_layer("maxpool2d"), {"x": Given(shape=(1, 1, size, size + 1))}, params)
        torch_y = F.max_pool2d(torch.zeros(1, 1, size, size + 1), k, s, p, d, ceil_mode=ceil)
        assert checked.output_shape == tuple(torch_y.shape), (size, k, s, p, d, ceil)
        assert checked.output_shape[2] == pool_size(size, k, s, p, d, ceil)
        if 2 * p <= k and d == 1:
            avg = plan(get_layer("avgpool2d"), {"x": Given(shape=(1, 1, size, size + 1))},
                       params[:3] + params[4:])  # fmt: skip
            torch_avg = F.avg_pool2d(torch.zeros(1, 1, size, size + 1), k, s, p, ceil_mode=ceil)
            assert avg.output_shape == tuple(torch_avg.shape)


CEIL = [
    # (kind, x, k, s, p, d, count_include_pad)
    ("maxpool2d", (1, 1, 5, 5), 2, 2, 0, 1, True),  # last window overhangs by 1
    ("maxpool2d", (2, 2, 6, 7), 3, 2, 1, 1, True),
    ("maxpool2d", (1, 2, 5, 4), 2, 2, 1, 1, True),  # the window in the right padding dropped
    ("maxpool2d", (1, 1, 7, 6), 2, 3, 1, 2, True),  # dilated
    ("avgpool2d", (1, 1, 6, 6), 3, 2, 0, 1, True),  # divisor 6 or 4 at the edges
    ("avgpool2d", (2, 2, 5, 6), 3, 2, 1, 1, True),
    ("avgpool2d", (2, 2, 5, 6), 3, 2, 1, 1, False),
    ("avgpool2d", (1, 1, 5, 4), 2, 2, 1, 1, True),
    ("avgpool2d", (1, 3, 7, 7), 2, 3, 1, 1, False),
]


def ceil_params(k, s, p, d, kind, count_include_pad) -> tuple[str, ...]:
    params = [f"kernel_size={k}", f"stride={s}", f"padding={p}", "ceil_mode=true"]
    if kind == "maxpool2d":
        params.append(f"dilation={d}")
    else:
        params.append(f"count_include_pad={str(count_include_pad).lower()}")
    return tuple(params)


@pytest.mark.parametrize("case", CEIL, ids=lambda c: f"{c[0]}-{'x'.join(map(str, c[1]))}-{c[2:]}")
def test_ceil_mode_agrees_three_ways_with_nn_pool_and_the_reference(case):
    kind, shape, k, s, p, d, include = case
    result = run(kind, {"x": shape}, params=ceil_params(k, s, p, d, kind, include), seed=6)
    assert_three_ways(result)
    x, g = inputs_of(result)["x"], tensor(result.upstream.value)
    if kind == "maxpool2d":
        module = torch.nn.MaxPool2d(k, s, p, d, ceil_mode=True)
    else:
        module = torch.nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=include)
    close(result.output.value, module(x).tolist())
    assert_matches(result, module_grads(module, x, g))
    y, dx = pool_reference(kind, x.numpy(), g.numpy(), k, s, p, d, True, include)
    close(result.output.value, y.tolist())
    assert_matches(result, {"x": dx})


def test_ceil_mode_avgpool_divisors_by_hand():
    # 6×6, k = 3, s = 2, no padding: ⌈(6 − 3)/2⌉ + 1 = 3 windows per axis, the last starting
    # at 4 and covering rows 4, 5 (and a 6th outside): divisor 9 inside, 6 on an edge, 4 in
    # the corner, even with count_include_pad (the overhang is past the padded input)
    result = run("avgpool2d", {"x": (1, 1, 6, 6)},
                 params=("kernel_size=3", "stride=2", "ceil_mode=true"), steps=True)  # fmt: skip
    divisor = next(step for step in result.steps if step.label == "divisor of each window")
    close(divisor.value, [[9, 9, 6], [9, 9, 6], [6, 6, 4]])
    size = next(step for step in result.steps if step.label.startswith("output size"))
    assert size.lines[0].startswith("H_out = ⌈(6 + 2×0 − 2 − 1)/2⌉ + 1 = 3")
    assert "the last window starts at 4 and runs 1 past the padded input" in size.lines[0]
    dropped = run("maxpool2d", {"x": (1, 1, 5, 4)},
                  params=("kernel_size=2", "stride=2", "padding=1", "ceil_mode=true"),
                  steps=True)  # fmt: skip
    size = next(step for step in dropped.steps if step.label.startswith("output size"))
    assert "would start at 6 ≥ H + p = 6 (in the right padding), so H_out = 3" in size.lines[0]
    plain = run("maxpool2d", {"x": (1, 1, 5, 4)}, params=("kernel_size=2",), steps=True)
    assert not any(step.label.startswith("output size") for step in plain.steps)


def test_ceil_mode_max_ties_still_go_to_the_first_maximum():
    x = [[[[1.0, 1.0, 0.0, 2.0, 2.0], [1.0, 0.0, 2.0, 2.0, 2.0], [3.0, 0.0, 0.0, 1.0, 3.0]]]]
    result = run("maxpool2d", values={"x": x}, params=("kernel_size=2", "ceil_mode=true"),
                 upstream="ones")  # fmt: skip
    assert result.agree
    _, dx = pool_reference("maxpool2d", np.array(x), np.ones((1, 1, 2, 3)), 2, 2, 0, 1, True,
                           True)  # fmt: skip
    assert_matches(result, {"x": dx})


@HYPOTHESIS
@given(
    n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(2, 7), w=st.integers(2, 7),
    k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1), d=st.integers(1, 2),
    kind=st.sampled_from(["maxpool2d", "avgpool2d"]), include=st.booleans(),
    seed=st.integers(0, 99),
)  # fmt: skip
def test_ceil_mode_over_shapes(n, c, h, w, k, s, p, d, kind, include, seed):
    d = d if kind == "maxpool2d" else 1
    extent = d * (k - 1) + 1
    assume(2 * p <= (extent if kind == "maxpool2d" else k))
    assume(h + 2 * p >= extent and w + 2 * p >= extent)
    result = run(kind, {"x": (n, c, h, w)}, params=ceil_params(k, s, p, d, kind, include),
                 seed=seed)  # fmt: skip
    assert_three_ways(result)
    x, g = inputs_of(result)["x"], tensor(result.upstream.value)
    _, dx = pool_reference(kind, x.numpy(), g.numpy(), k, s, p, d, True, include)
    assert_matches(result, {"x": dx})


# ================================================================ embedding padding_idx


def embedding_reference(indices, weight, g, padding_row):
    """Row r of ∂L/∂W: Σ G over the positions holding r, and nothing for the padding row."""
    rows, dim = len(weight), len(weight[0])
    dw = [[0.0] * dim for _ in range(rows)]
    for position, row in enumerate(indices):
        if row == padding_row:
            continue
        for e in range(dim):
            dw[row][e] += g[position][e]
    return dw


@pytest.mark.parametrize(
    "indices, padding_idx, row",
    [
        ([1, 0, 1, 3], 1, 1),  # looked up twice
        ([1, 0, 1, 3], -1, 3),  # −1 is the last row
        ([1, 0, 1, 3], -4, 0),
        ([1, 0, 1, 3], 2, 2),  # never looked up
        ([[2, 2], [0, 3]], 0, 0),
    ],
)
def test_padding_idx_row_gets_no_gradient_like_nn_embedding(indices, padding_idx, row):
    weight = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [0.7, 0.8, 0.9], [-1.0, 1.1, 1.2]]
    result = run("embedding", values={"weight": weight, "indices": indices},
                 params=(f"padding_idx={padding_idx}",), seed=2)  # fmt: skip
    assert result.agree
    g = tensor(result.upstream.value)
    module = torch.nn.Embedding(4, 3, padding_idx=padding_idx, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(tensor(weight))
    assert_matches(result, module_grads(module, torch.tensor(indices), g))
    flat_idx = torch.tensor(indices).reshape(-1).tolist()
    want = embedding_reference(flat_idx, weight, g.reshape(-1, 3).tolist(), row)
    assert_matches(result, {"weight": want})
    dw = next(grad for grad in result.grads if grad.name == "weight")
    trusted = nested(dw.check.trusted)
    looked_up = row in flat_idx
    assert all(trusted[r][e] != (looked_up and r == row) for r in range(4) for e in range(3))
    if looked_up:  # the differences measure the true derivative: the scatter-add
        true = embedding_reference(flat_idx, weight, g.reshape(-1, 3).tolist(), None)
        close(nested(dw.check.numeric)[row], true[row], 1e-6)
        assert any("padding_idx row" in note for note in dw.notes)
    if padding_idx < 0:
        assert any(f"padding_idx = {padding_idx} is row {row}" in n for n in result.notes)


def test_padding_idx_steps_and_slip():
    weight = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    g = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    values = {"indices": [1, 0, 1], "weight": weight}
    result = run("embedding", values=values, params=("padding_idx=1",), upstream=g, steps=True)
    lines = result.steps[-1].lines
    assert lines[0] == "∂L/∂W[0] = G[1]"
    assert lines[1].startswith("∂L/∂W[1] = 0: the padding row (padding_idx) gets no gradient")
    kept = embedding_reference([1, 0, 1], weight, g, None)  # the padding row's sum kept
    wrong = run("embedding", values=values, params=("padding_idx=1",), upstream=g,
                expected={"weight": parse_expected(answer_text(kept))})  # fmt: skip
    assert "padding_idx ignored" in wrong.answer.parts["weight"].hint
    right = run("embedding", values=values, params=("padding_idx=1",), upstream=g,
                expected={"weight": parse_expected("3,4;0,0;0,0")})  # fmt: skip
    assert right.answer.passed


@pytest.mark.parametrize("value", ["3", "-4", "99"])
def test_padding_idx_out_of_range_is_refused(value):
    with pytest.raises(InputError, match=r"padding_idx runs from -3 to 2"):
        given = {"indices": Given(values=(0.0,), shape=(1,)), "weight": Given(shape=(3, 2))}
        plan(get_layer("embedding"), given, [f"padding_idx={value}"])


@HYPOTHESIS
@given(
    rows=st.integers(1, 5), dim=st.integers(1, 3),
    positions=st.lists(st.integers(0, 99), min_size=1, max_size=6),
    padding=st.integers(-5, 4), seed=st.integers(0, 99),
)  # fmt: skip
def test_padding_idx_over_shapes(rows, dim, positions, padding, seed):
    assume(-rows <= padding < rows)
    indices = [p % rows for p in positions]
    result = run("embedding", {"weight": (rows, dim)}, {"indices": indices},
                 params=(f"padding_idx={padding}",), seed=seed)  # fmt: skip
    assert result.agree
    weight, g = inputs_of(result)["weight"], tensor(result.upstream.value)
    want = embedding_reference(indices, weight.tolist(), g.tolist(), padding % rows)
    assert_matches(result, {"weight": want})


# ================================================================ layernorm normalized_shape


def layernorm_jacobian(x, g, gamma, beta, k, eps):
    """∂L/∂(x, γ, β) through the Jacobian of x̂ row by row (rows = the leading dims, each
    flattened to D = the normalised entries): ∂x̂_i/∂x_j = (δ_ij − 1/D − x̂_i·x̂_j/D)/σ."""
    norm = x.shape[x.ndim - k :]
    rows, d = x.reshape(-1, int(np.prod(norm))), int(np.prod(norm))
    gh = (g * (gamma if gamma is not None else 1.0)).reshape(-1, d)
    dx = np.zeros_like(rows)
    xhat = np.zeros_like(rows)
    for r, row in enumerate(rows):
        mu = row.mean()
        sigma = np.sqrt(((row - mu) ** 2).mean() + eps)
        xh = (row - mu) / sigma
        jac = (np.eye(d) - 1 / d - np.outer(xh, xh) / d) / sigma
        dx[r] = jac.T @ gh[r]
        xhat[r] = xh
    grads = {"x": dx.reshape(x.shape)}
    if gamma is not None:
        grads["weight"] = (g.reshape(-1, d) * xhat).sum(axis=0).reshape(norm)
    if beta is not None:
        grads["bias"] = g.reshape(-1, d).sum(axis=0).reshape(norm)
    return grads


NORMALIZED = [
    ((2, 3, 4), (3, 4)),
    ((3, 4), (3, 4)),  # the whole tensor
    ((2, 2, 3, 2), (2, 3, 2)),
    ((2, 3, 2, 2), (2, 2)),
    ((5,), (5,)),
]


@pytest.mark.parametrize("x_shape, norm", NORMALIZED)
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_over_the_last_dims_like_nn_layernorm(x_shape, norm, affine):
    values = {} if affine else {"weight": "none", "bias": "none"}
    shapes = {"x": x_shape} | ({"weight": norm, "bias": norm} if affine else {})
    ns = ",".join(map(str, norm))
    result = run("layernorm", shapes, values, params=(f"normalized_shape={ns}",), seed=9)
    assert_three_ways(result)
    t, g = inputs_of(result), tensor(result.upstream.value)
    module = torch.nn.LayerNorm(norm, elementwise_affine=affine, dtype=torch.float64)
    if affine:
        with torch.no_grad():
            module.weight.copy_(t["weight"])
            module.bias.copy_(t["bias"])
    close(result.output.value, module(t["x"]).tolist())
    assert_matches(result, module_grads(module, t["x"], g))
    gamma = t["weight"].numpy() if affine else None
    beta = t["bias"].numpy() if affine else None
    assert_matches(result, layernorm_jacobian(t["x"].numpy(), g.numpy(), gamma, beta,
                                              len(norm), 1e-5))  # fmt: skip


def test_layernorm_normalized_shape_defaults_gamma_and_steps():
    result = run("layernorm", {"x": (2, 3, 4)}, params=("normalized_shape=3,4",), steps=True)
    weight = next(info for info in result.inputs if info.name == "weight")
    assert weight.shape == [3, 4] and weight.source == "default"  # nn.LayerNorm's ones
    assert weight.dim_names == ["t", "d"]  # as x's (n, t, d)
    mu = next(step for step in result.steps if step.label == "μ (per row)")
    assert mu.shape == [2] and "D = 12" in mu.formula and "last 2 dims (3×4)" in mu.formula
    x = tensor(next(info for info in result.inputs if info.name == "x").value)
    close(mu.value, x.reshape(2, -1).mean(dim=1).tolist())
    assert any(step.label == "Σ ĝ (per row, over the last 2 dims)" for step in result.steps)
    whole = run("layernorm", {"x": (3, 4)}, params=("normalized_shape=3,4",), steps=True)
    mu = next(step for step in whole.steps if step.label == "μ (per row)")
    close(mu.value, x.new_tensor(nested(whole.inputs[0].value)).mean().item())


def test_layernorm_slips_over_the_last_dims():
    x = [[[1.0, 2.0], [0.5, -1.0]], [[3.0, 0.0], [1.0, 1.0]]]
    g = [[[0.1, -0.2], [0.3, 0.4]], [[-0.5, 0.6], [0.7, -0.8]]]
    params = ("normalized_shape=2,2",)
    xa, ga = np.array(x).reshape(2, 4), np.array(g).reshape(2, 4)
    mu = xa.mean(axis=1, keepdims=True)
    sigma = np.sqrt(((xa - mu) ** 2).mean(axis=1, keepdims=True) + 1e-5)
    xhat = (xa - mu) / sigma
    forgot_sum = (4 * ga - xhat * (ga * xhat).sum(axis=1, keepdims=True)) / (4 * sigma)
    answer = parse_expected(answer_text(forgot_sum.reshape(4, 2).tolist()))
    result = run("layernorm", values={"x": x}, params=params, upstream=g,
                 expected={"x": answer})  # fmt: skip
    assert "−ΣG term" in result.answer.parts["x"].hint


@pytest.mark.parametrize(
    "x, norm, weight, words",
    [
        ((2, 3, 4), "4,3", None, "must be the last 2 dimensions of x, but x is 2×3×4"),
        ((2, 3, 4), "2,2,3,4", None, "must be the last 4 dimensions"),
        ((2, 3, 4), "3,4", (12,), "has shape 12 but normalized_shape is 3×4"),
        ((2, 3, 4), None, (3, 4), "add --param normalized_shape=3,4"),
        ((2, 3, 4), None, (5,), "needs 4 values"),
    ],
)
def test_layernorm_shapes_that_do_not_fit_are_refused(x, norm, weight, words):
    given = {"x": Given(shape=x)} | ({"weight": Given(shape=weight)} if weight else {})
    params = [f"normalized_shape={norm}"] if norm else []
    with pytest.raises(InputError, match=words.replace("+", r"\+")):
        plan(get_layer("layernorm"), given, params)


@HYPOTHESIS
@given(
    lead=st.lists(st.integers(1, 3), max_size=2),
    norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    seed=st.integers(0, 99),
)
def test_layernorm_normalized_shape_over_shapes(lead, norm, seed):
    assume(int(np.prod(norm)) > 1)
    ns = ",".join(map(str, norm))
    result = run("layernorm", {"x": (*lead, *norm)}, params=(f"normalized_shape={ns}",),
                 seed=seed)  # fmt: skip
    assert_three_ways(result)


# ================================================================ batchnorm eval mode


def batchnorm_module(x_dim: int, c: int):
    cls = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}[x_dim]
    return cls(c, dtype=torch.float64)


@pytest.mark.parametrize(
    "x_shape, mean, var",
    [
        ((4, 3), None, None),  # a fresh module: mean 0, var 1
        ((4, 3), "0.1,-0.2,0.3", "1.5,0.5,2"),
        ((1, 2, 5), "1,-1", None),  # one sample: fine in eval mode
        ((2, 3, 2, 2), "0,0.5,1", "0.25,1,4"),
        ((1, 2, 1, 1), None, "0,2"),  # a zero variance: σ = √eps
    ],
)
def test_batchnorm_eval_mode_like_nn_batchnorm_eval(x_shape, mean, var):
    params = ["training=false"]
    params += [f"running_mean={mean}"] if mean else []
    params += [f"running_var={var}"] if var else []
    result = run("batchnorm", {"x": x_shape, "weight": (x_shape[1],), "bias": (x_shape[1],)},
                 params=tuple(params), seed=12)  # fmt: skip
    assert_three_ways(result)
    t, g = inputs_of(result), tensor(result.upstream.value)
    c = x_shape[1]
    module = batchnorm_module(len(x_shape), c).eval()
    with torch.no_grad():
        module.weight.copy_(t["weight"])
        module.bias.copy_(t["bias"])
        if mean:
            module.running_mean.copy_(tensor([float(v) for v in mean.split(",")]))
        if var:
            module.running_var.copy_(tensor([float(v) for v in var.split(",")]))
    assert result.params["running_mean"] == module.running_mean.tolist()
    assert result.params["running_var"] == module.running_var.tolist()
    close(result.output.value, module(t["x"]).tolist())
    assert_matches(result, module_grads(module, t["x"], g))
    # by hand: an affine map per channel, y = γ(x − μ)/σ + β
    shape = (1, c) + (1,) * (len(x_shape) - 2)
    mu = np.array(result.params["running_mean"]).reshape(shape)
    sigma = np.sqrt(np.array(result.params["running_var"]).reshape(shape) + 1e-5)
    x, gn, gamma = t["x"].numpy(), g.numpy(), t["weight"].numpy().reshape(shape)
    axes = (0, *range(2, len(x_shape)))
    assert_matches(result, {"x": gamma * gn / sigma, "weight": (gn * (x - mu) / sigma).sum(axes),
                            "bias": gn.sum(axes)})  # fmt: skip


@HYPOTHESIS
@given(
    shape=st.lists(st.integers(1, 3), min_size=2, max_size=4),
    seed=st.integers(0, 99), data=st.data(),
)  # fmt: skip
def test_batchnorm_eval_mode_over_shapes(shape, seed, data):
    c = shape[1]
    stats = st.lists(st.floats(0, 3, allow_nan=False), min_size=c, max_size=c)
    mean, var = data.draw(stats), data.draw(stats)
    params = ("training=false", "running_mean=" + ",".join(map(repr, mean)),
              "running_var=" + ",".join(map(repr, var)))  # fmt: skip
    result = run("batchnorm", {"x": tuple(shape)}, params=params, seed=seed)
    assert_three_ways(result)


def test_batchnorm_eval_mode_steps_notes_and_slips():
    x = [[1.0, 2.0], [3.0, 5.0], [4.0, 0.0]]
    g = [[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]]
    params = ("training=false", "running_mean=2,1", "running_var=4,0.25")
    result = run("batchnorm", values={"x": x}, params=params, upstream=g, steps=True)
    labels = [step.label for step in result.steps]
    assert labels[:3] == ["μ = running_mean (per channel)", "σ² = running_var (per channel)",
                          "σ = √(σ² + eps)"]  # fmt: skip
    close(result.steps[0].value, [2, 1])
    last = result.steps[-1]
    assert last.label == "∂L/∂x" and "γ·G/σ" in last.formula
    assert any("eval mode (training=false)" in note for note in result.notes)
    sigma = np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    close(grads(result)["x"], (np.array(g) / sigma).tolist())  # γ = 1 (nn.BatchNorm's)
    # the training-mode formula, batch statistics, in place of eval mode's
    xa, ga = np.array(x), np.array(g)
    batch_sigma = np.sqrt(xa.var(axis=0) + 1e-5)
    xhat = (xa - xa.mean(axis=0)) / batch_sigma
    train = (3 * ga - ga.sum(axis=0) - xhat * (ga * xhat).sum(axis=0)) / (3 * batch_sigma)
    wrong = run("batchnorm", values={"x": x}, params=params, upstream=g,
                expected={"x": parse_expected(answer_text(train.tolist()))})  # fmt: skip
    assert "training-mode ∂L/∂x" in wrong.answer.parts["x"].hint
    training = run("batchnorm", values={"x": x}, upstream=g)
    assert "running_mean" not in training.params and training.params["training"] is True


@pytest.mark.parametrize(
    "params, words",
    [
        (["running_mean=1,2,3"], "used only in eval mode; add --param training=false"),
        (["training=false", "running_mean=1,2"], "has 2 values but x is 4×3"),
        (["training=false", "running_var=1"], "has 1 value but x is 4×3"),
        (["training=false", "running_var=1,-2,3"], "'-2' must be ≥ 0"),
        (["training=false", "running_var=1,nan,3"], "'nan' must be ≥ 0"),
        (["training=false", "running_mean=1,a,3"], "'a' is not a number"),
        (["training=perhaps"], "must be true or false"),
    ],
)
def test_batchnorm_running_statistics_that_do_not_fit_are_refused(params, words):
    with pytest.raises(InputError, match=words):
        plan(get_layer("batchnorm"), {"x": Given(shape=(4, 3))}, params)


def test_batchnorm_eval_mode_allows_one_value_per_channel():
    with pytest.raises(InputError, match="more than 1 value"):
        plan(get_layer("batchnorm"), {"x": Given(shape=(1, 3))}, [])
    checked = plan(get_layer("batchnorm"), {"x": Given(shape=(1, 3))}, ["training=false"])
    assert checked.params["running_mean"] == (0.0, 0.0, 0.0)
    assert checked.params["running_var"] == (1.0, 1.0, 1.0)


# ================================================================ all options together


@pytest.mark.parametrize(
    "name, shapes, values, params",
    [
        ("conv2d", {"x": (2, 4, 5, 5), "weight": (6, 2, 3, 3)}, {}, ("groups=2", "padding=1")),
        ("conv1d", {"x": (2, 3, 6), "weight": (3, 1, 2)}, {}, ("groups=3",)),
        ("maxpool2d", {"x": (2, 3, 5, 5)}, {}, ("kernel_size=2", "ceil_mode=true")),
        ("avgpool2d", {"x": (1, 2, 5, 6)}, {},
         ("kernel_size=3", "stride=2", "padding=1", "ceil_mode=true")),
        ("embedding", {"weight": (4, 3)}, {"indices": [[1, 0], [1, 3]]}, ("padding_idx=1",)),
        ("layernorm", {"x": (2, 3, 4)}, {}, ("normalized_shape=3,4",)),
        ("batchnorm", {"x": (4, 3)}, {}, ("training=false", "running_var=2,1,0.5")),
    ],
)  # fmt: skip
def test_each_option_in_float32_mode(name, shapes, values, params):
    result = run(name, shapes, values, params=params, seed=5, settings_=FLOAT32)
    assert result.agree and result.dtype == "float32"


@pytest.mark.parametrize(
    "name, shapes, params, inputs",
    [
        ("conv2d", {"x": (2, 4, 5, 5), "weight": (4, 2, 2, 2)}, ("groups=2",), ("x",)),
        ("maxpool2d", {"x": (2, 2, 5, 5)}, ("kernel_size=2", "ceil_mode=true"), ("x",)),
        ("avgpool2d", {"x": (2, 2, 5, 5)}, ("kernel_size=2", "ceil_mode=true"), ("x",)),
        ("layernorm", {"x": (2, 3, 4)}, ("normalized_shape=3,4",), ("x",)),
        ("batchnorm", {"x": (3, 2, 4)}, ("training=false", "running_mean=1,2"), ("x",)),
        ("rmsnorm", {"x": (2, 3, 4)}, ("normalized_shape=3,4",), ("x",)),
        ("avgpool2d", {"x": (2, 2, 5, 5)}, ("kernel_size=2", "ceil_mode=true",
                                            "divisor_override=3"), ("x",)),
    ],
)  # fmt: skip
def test_fast_differences_equal_whole_evaluations_with_the_options(name, shapes, params, inputs):
    """Slices give the same L(x + h) − L(x − h) as whole evaluations under every option."""
    layer = get_layer(name)
    checked = plan(layer, {k: Given(shape=s) for k, s in shapes.items()}, list(params))
    generator = torch.Generator().manual_seed(0)
    tensors = {
        item.name: torch.randn(*checked.shapes[item.name], generator=generator,
                               dtype=torch.float64)
        for item in layer.inputs
    }  # fmt: skip
    g = torch.randn(*checked.output_shape, generator=generator, dtype=torch.float64)
    for input_name in inputs:
        fast, path = pair_evaluation(layer, tensors, checked.params, g, input_name, checked.shapes)
        assert path != "one by one", input_name
        slow = _one_by_one(layer, tensors, checked.params, g, input_name)
        index = torch.randperm(tensors[input_name].numel(), generator=generator)[:40]
        h = torch.linspace(1e-3, 1e-1, index.numel(), dtype=torch.float64)
        (fast_plus, fast_minus), (slow_plus, slow_minus) = fast(index, h), slow(index, h)
        assert torch.allclose(fast_plus - fast_minus, slow_plus - slow_minus, rtol=1e-9, atol=1e-12)


# ================================================================ the command line


def test_list_and_help_show_the_options():
    listing = invoke("layer", "--list").stdout
    for words in ("groups=1", "ceil_mode=false", "padding_idx=none", "training=true",
                  "running_mean=zeros (eval mode)", "running_var=ones (eval mode)",
                  "normalized_shape=x's last dimension", "O×C/groups×kh×kw"):  # fmt: skip
        assert words in listing, words
    entries = {e["name"]: e for e in invoke("layer", "--list", "--json").json()["list"]}
    assert entries["conv2d"]["params"]["groups"] == 1
    assert entries["embedding"]["params"]["padding_idx"] is None
    assert entries["layernorm"]["params"]["normalized_shape"] == "x's last dimension"
    text = " ".join(invoke("layer", "-h").stdout.split())
    for words in ("groups=2", "ceil_mode=true", "padding_idx=0", "normalized_shape=3,4",
                  "training=false", "running_mean=0.1,0.2"):  # fmt: skip
        assert words in text, words


def test_the_command_runs_each_option_and_says_so_in_json():
    run_ = invoke("layer", "conv2d", "--x-shape", "1x3x4x4", "--weight-shape", "6x1x2x2",
                  "--param", "groups=3", "--json")  # fmt: skip
    data = run_.json()
    assert run_.code == 0 and data["agree"] and data["params"]["groups"] == 3
    run_ = invoke("layer", "batchnorm", "--x", "1,2;3,4", "--param", "training=false",
                  "--param", "running_mean=1,1", "--json")  # fmt: skip
    data = run_.json()
    assert run_.code == 0 and data["params"]["running_mean"] == [1.0, 1.0]
    assert data["params"]["running_var"] == [1.0, 1.0]
