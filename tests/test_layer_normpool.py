"""rmsnorm over the last k dims (``normalized_shape``) and avgpool2d's ``divisor_override``.

Each is checked three ways (analytic vs autograd vs finite differences), against torch's own
module with the weights copied in (nn.RMSNorm, nn.AvgPool2d), and against NumPy written here
from the definitions — rmsnorm through its Jacobian row by row, average pooling window by
window as torch's CPU loop walks them — never from the code under test.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from gradcli.errors import InputError
from gradcli.expect import parse_expected
from gradcli.marking import WRONG
from gradcli.ops.layers import Given, get_layer, plan
from tests.conftest import invoke
from tests.test_layer_options import (
    array,
    assert_matches,
    inputs_of,
    module_grads,
    pool_size,
    tensor,
)
from tests.test_layers import (
    FLOAT32,
    HYPOTHESIS,
    answer_text,
    assert_three_ways,
    close,
    grads,
    run,
)

# ================================================================ rmsnorm normalized_shape


def rmsnorm_numpy(x, g, gamma, k, eps):
    """y and ∂L/∂(x, γ) of y = γ·x/r, r = √(mean(x²) + eps) over the last k dims, row by
    row (each row flattened to its D normalised entries): ∂x̂_i/∂x_j = δ_ij/r − x_i·x_j/(D·r³),
    ∂L/∂x = Jᵀ (G·γ), ∂L/∂γ = Σ_rows G·x̂."""
    norm = x.shape[x.ndim - k :]
    d = int(np.prod(norm))
    rows = x.reshape(-1, d)
    gamma_row = np.ones(d) if gamma is None else gamma.reshape(d)
    gh = g.reshape(-1, d) * gamma_row
    y, dx, xhat = np.zeros_like(rows), np.zeros_like(rows), np.zeros_like(rows)
    for n, row in enumerate(rows):
        r = np.sqrt((row**2).sum() / d + eps)
        jac = np.eye(d) / r - np.outer(row, row) / (d * r**3)
        xhat[n] = row / r
        y[n] = gamma_row * row / r
        dx[n] = jac.T @ gh[n]
    found = {"x": dx.reshape(x.shape)}
    if gamma is not None:
        found["weight"] = (g.reshape(-1, d) * xhat).sum(axis=0).reshape(norm)
    return y.reshape(x.shape), found


NORMALIZED = [
    ((2, 3, 4), (3, 4)),
    ((3, 4), (3, 4)),  # the whole tensor
    ((2, 2, 3, 2), (2, 3, 2)),
    ((2, 3, 2, 2), (2, 2)),
    ((1, 2, 3, 2), (1, 2, 3, 2)),  # k = 4, the whole 4-D tensor
    ((2, 3, 4), (4,)),  # written out, the default
    ((5,), (5,)),
]


@pytest.mark.parametrize("x_shape, norm", NORMALIZED)
@pytest.mark.parametrize("affine", [True, False])
def test_rmsnorm_over_the_last_dims_like_nn_rmsnorm_and_numpy(x_shape, norm, affine):
    values = {} if affine else {"weight": "none"}
    shapes = {"x": x_shape} | ({"weight": norm} if affine else {})
    ns = ",".join(map(str, norm))
    result = run("rmsnorm", shapes, values, params=(f"normalized_shape={ns}", "eps=1e-6"), seed=3)
    assert_three_ways(result)
    t, g = inputs_of(result), tensor(result.upstream.value)
    module = torch.nn.RMSNorm(norm, eps=1e-6, elementwise_affine=affine, dtype=torch.float64)
    if affine:
        with torch.no_grad():
            module.weight.copy_(t["weight"])
    close(result.output.value, module(t["x"]).tolist())
    assert_matches(result, module_grads(module, t["x"], g))
    gamma = t["weight"].numpy() if affine else None
    y, want = rmsnorm_numpy(t["x"].numpy(), g.numpy(), gamma, len(norm), 1e-6)
    close(result.output.value, y.tolist())
    assert_matches(result, want)


def test_rmsnorm_default_eps_over_the_last_dims_is_torchs():
    # eps left out: torch.finfo(dtype).eps, as F.rms_norm(x, normalized_shape, eps=None)
    result = run("rmsnorm", {"x": (2, 3, 4)}, params=("normalized_shape=3,4",), seed=1)
    assert_three_ways(result)
    x = inputs_of(result)["x"]
    close(result.output.value, torch.nn.functional.rms_norm(x, (3, 4)).tolist())
    _, want = rmsnorm_numpy(x.numpy(), array(result.upstream.value), np.ones((3, 4)), 2,
                            np.finfo(np.float64).eps)  # fmt: skip
    assert_matches(result, want)


def test_rmsnorm_by_hand_over_a_2x2_block():
    # one row of D = 4 entries (1, 2, 3, 5 over the 2×2 block): mean(x²) = 39/4,
    # r = √(39/4 + eps); with G = ones and γ = 1: ∂L/∂x_j = (1 − x̂_j·mean(x̂))/r
    x = [[[1.0, 2.0], [3.0, 5.0]]]
    result = run("rmsnorm", values={"x": x}, params=("normalized_shape=2,2", "eps=1e-6"),
                 upstream="ones", steps=True)  # fmt: skip
    r = (39 / 4 + 1e-6) ** 0.5
    xs = [1.0, 2.0, 3.0, 5.0]
    mean_xhat = sum(v / r for v in xs) / 4
    want = [(1 - (v / r) * mean_xhat) / r for v in xs]
    close(grads(result)["x"], [[want[:2], want[2:]]])
    ms = next(step for step in result.steps if step.key == "ms")
    close(ms.value, [39 / 4])
    assert ms.label == "mean(x²) (per row, over the last 2 dims)"
    assert "D = 4" in ms.formula and "last 2 dims (2×2)" in ms.formula


def test_rmsnorm_normalized_shape_defaults_gamma_and_steps():
    result = run("rmsnorm", {"x": (2, 3, 4)}, params=("normalized_shape=3,4",), steps=True)
    weight = next(info for info in result.inputs if info.name == "weight")
    assert weight.shape == [3, 4] and weight.source == "default"  # nn.RMSNorm's ones
    assert weight.dim_names == ["t", "d"]  # as x's (n, t, d)
    x = inputs_of(result)["x"].numpy()
    g = array(result.upstream.value)
    eps = result.params["eps"]
    ms = (x.reshape(2, -1) ** 2).mean(axis=1)
    r = np.sqrt(ms + eps)
    xhat = x / r[:, None, None]
    values = {step.key: step for step in result.steps if step.key}
    assert values["ms"].shape == [2] and "D = 12" in values["ms"].formula
    close(values["ms"].value, ms.tolist())
    close(values["r"].value, r.tolist())
    close(values["xhat"].value, xhat.tolist())
    close(values["mean_dxhat_xhat"].value, (g * xhat).reshape(2, -1).mean(axis=1).tolist())
    assert values["mean_dxhat_xhat"].label == "mean(ĝ·x̂) (per row, over the last 2 dims)"
    whole = run("rmsnorm", {"x": (3, 4)}, params=("normalized_shape=3,4",), steps=True)
    ms_whole = next(step for step in whole.steps if step.key == "ms")
    xw = inputs_of(whole)["x"].numpy()
    close(ms_whole.value, [(xw**2).mean()])


def digits(values: np.ndarray, count: int) -> str:
    """Rows ``a,b;c,d`` written to ``count`` significant digits."""
    rows = np.atleast_2d(values)
    return ";".join(",".join(f"{v:.{count}g}" for v in row) for row in rows)


RMS_ARGS = ["layer", "rmsnorm", "--x", "[[[1,2],[3,5]],[[0,1],[1,-2]]]",
            "--param", "normalized_shape=2,2", "--param", "eps=1e-6",
            "--upstream", "[[[1,-1],[0.5,2]],[[0,1],[-2,1]]]"]  # fmt: skip
RMS_X = np.array([[[1.0, 2], [3, 5]], [[0, 1], [1, -2]]])
RMS_G = np.array([[[1.0, -1], [0.5, 2]], [[0, 1], [-2, 1]]])


def test_rmsnorm_expect_keys_over_the_last_dims():
    """--expect ms=, r=, xhat=, x= worked in NumPy over each 2×2 block are marked right."""
    ms = (RMS_X**2).reshape(2, -1).mean(axis=1)
    r = np.sqrt(ms + 1e-6)
    xhat = RMS_X / r[:, None, None]
    _, want = rmsnorm_numpy(RMS_X, RMS_G, np.ones((2, 2)), 2, 1e-6)
    given_ = {"ms": ms, "r": r, "xhat": xhat.reshape(4, 2), "x": want["x"].reshape(4, 2)}
    # 8 digits: ∂L/∂x[1,1,1] ≈ 5.4e-7 is a difference of O(1) terms, its last bits noise
    args = [a for key, v in given_.items()
            for a in ("--expect", f"{key}={digits(v, 8)}")]  # fmt: skip
    data = invoke(*RMS_ARGS, *args, "--json").json()
    assert data["marks"] == {"right": 4, "wrong": 0, "carried_forward": 0, "first_mistake": None}
    # r worked over the last dimension only (normalized_shape forgotten) has one value per
    # (n, t): refused by its shape; r without the 1/D is wrong
    r_last = np.sqrt((RMS_X**2).mean(axis=-1) + 1e-6)
    refused = invoke(*RMS_ARGS, "--expect", f"r={digits(r_last, 8)}")
    assert refused.code == 2 and "--expect for r has shape 2×2 but the answer has shape 2" in (
        refused.stderr
    )
    no_mean = np.sqrt((RMS_X**2).reshape(2, -1).sum(axis=1) + 1e-6)
    wrong = invoke(*RMS_ARGS, "--expect", f"r={digits(no_mean, 8)}", "--json")
    assert wrong.code == 1
    assert {q["key"]: q["status"] for q in wrong.json()["solution"]}["r"] == WRONG


def test_rmsnorm_slip_r_treated_as_a_constant_over_the_last_dims():
    ms = (RMS_X**2).reshape(2, -1).mean(axis=1)
    r = np.sqrt(ms + 1e-6)[:, None, None]
    slip = RMS_G / r  # no −x̂·mean(ĝ·x̂) term
    answer = parse_expected(answer_text(slip.reshape(4, 2).tolist()))
    result = run("rmsnorm", values={"x": RMS_X.tolist()}, upstream=RMS_G.tolist(),
                 params=("normalized_shape=2,2", "eps=1e-6"), expected={"x": answer})  # fmt: skip
    assert "r treated as a constant" in result.answer.parts["x"].hint


@pytest.mark.parametrize(
    "x, norm, weight, words",
    [
        ((2, 3, 4), "4,3", None, "rmsnorm: --param normalized_shape=4,3 must be the last 2 "
                                 "dimensions of x, but x is 2×3×4"),
        ((2, 3, 4), "2,2,3,4", None, "must be the last 4 dimensions"),
        ((3, 4), "2,3,4", None, "must be the last 3 dimensions of x, but x is 3×4"),
        ((2, 3, 4), "3,4", (12,), "--weight has shape 12 but normalized_shape is 3×4"),
        ((2, 3, 4), "3,4", (4, 3), "--weight has shape 4×3 but normalized_shape is 3×4"),
        ((2, 3, 4), None, (3, 4), "add --param normalized_shape=3,4"),
        ((2, 3, 4), None, (5,), "needs 4 values"),
        ((2, 3, 4), "0", None, "normalized_shape='0' must be ≥ 1"),
    ],
)  # fmt: skip
def test_rmsnorm_shapes_that_do_not_fit_are_refused(x, norm, weight, words):
    given_ = {"x": Given(shape=x)} | ({"weight": Given(shape=weight)} if weight else {})
    params = [f"normalized_shape={norm}"] if norm else []
    with pytest.raises(InputError) as caught:
        plan(get_layer("rmsnorm"), given_, params)
    assert words in str(caught.value)


@HYPOTHESIS
@given(
    lead=st.lists(st.integers(1, 3), max_size=2),
    norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    affine=st.booleans(),
    seed=st.integers(0, 99),
)
def test_rmsnorm_normalized_shape_over_shapes(lead, norm, affine, seed):
    ns = ",".join(map(str, norm))
    values = {} if affine else {"weight": "none"}
    shapes = {"x": (*lead, *norm)} | ({"weight": tuple(norm)} if affine else {})
    result = run("rmsnorm", shapes, values, params=(f"normalized_shape={ns}", "eps=1e-5"),
                 seed=seed)  # fmt: skip
    assert_three_ways(result)
    t = inputs_of(result)
    gamma = t["weight"].numpy() if affine else None
    y, want = rmsnorm_numpy(t["x"].numpy(), array(result.upstream.value), gamma, len(norm), 1e-5)
    close(result.output.value, y.tolist())
    assert_matches(result, want)


# ================================================================ avgpool2d divisor_override


def avgpool_numpy(x, g, k, s, p, ceil, count_include_pad, divisor_override):
    """y and ∂L/∂x of average pooling, window by window as torch's CPU loop: a window
    starts at i·s − p, hend = min(hstart + k, H + p) sets the pool size counted with
    count_include_pad, the window is clipped to x; divisor_override replaces the count."""
    n, c, h, w = x.shape
    ho, wo = (pool_size(v, k, s, p, 1, ceil) for v in (h, w))
    y, dx = np.zeros((n, c, ho, wo)), np.zeros_like(x)
    for b, ch, i, j in itertools.product(range(n), range(c), range(ho), range(wo)):
        hs, ws = i * s - p, j * s - p
        he, we = min(hs + k, h + p), min(ws + k, w + p)
        size = (he - hs) * (we - ws)
        hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
        divisor = size if count_include_pad else (he - hs) * (we - ws)
        if divisor_override is not None:
            divisor = divisor_override
        y[b, ch, i, j] = x[b, ch, hs:he, ws:we].sum() / divisor
        dx[b, ch, hs:he, ws:we] += g[b, ch, i, j] / divisor
    return y, dx


DIVISOR = [
    # (x, k, s, p, ceil_mode, count_include_pad, divisor_override)
    ((2, 2, 4, 4), 2, 2, 0, False, True, 3),
    ((1, 2, 5, 5), 3, 2, 1, False, True, 5),
    ((1, 2, 5, 5), 3, 2, 1, False, False, 5),  # count_include_pad changes nothing
    ((1, 1, 6, 6), 3, 2, 0, True, True, 9),  # ceil_mode windows run past: still 9
    ((2, 1, 5, 6), 3, 2, 1, True, False, 2),
    ((1, 3, 7, 7), 2, 3, 1, True, True, 1),  # divisor 1: sum pooling
    ((1, 1, 3, 3), 2, 1, 0, False, True, 100),
]


def divisor_params(k, s, p, ceil, include, divisor) -> tuple[str, ...]:
    return (f"kernel_size={k}", f"stride={s}", f"padding={p}", f"ceil_mode={str(ceil).lower()}",
            f"count_include_pad={str(include).lower()}", f"divisor_override={divisor}")  # fmt: skip


@pytest.mark.parametrize("case", DIVISOR, ids=lambda c: f"{'x'.join(map(str, c[0]))}-{c[1:]}")
def test_divisor_override_agrees_three_ways_with_nn_avgpool_and_numpy(case):
    shape, k, s, p, ceil, include, divisor = case
    result = run("avgpool2d", {"x": shape}, params=divisor_params(*case[1:]), seed=7)
    assert_three_ways(result)
    assert result.params["divisor_override"] == divisor
    x, g = inputs_of(result)["x"], tensor(result.upstream.value)
    module = torch.nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=include,
                                divisor_override=divisor)  # fmt: skip
    close(result.output.value, module(x).tolist())
    assert_matches(result, module_grads(module, x, g))
    y, dx = avgpool_numpy(x.numpy(), g.numpy(), k, s, p, ceil, include, divisor)
    close(result.output.value, y.tolist())
    assert_matches(result, {"x": dx})


def test_divisor_override_by_hand():
    # 3×3 input, 2×2 windows with stride 1, divided by 3 not 4, G = ones: ∂L/∂x[h,w] is the
    # number of windows holding (h, w), over 3 — 1, 2, 1 / 2, 4, 2 / 1, 2, 1 thirds
    x = [[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0]]]]
    result = run("avgpool2d", values={"x": x}, upstream="ones", steps=True,
                 params=("kernel_size=2", "stride=1", "divisor_override=3"))  # fmt: skip
    assert_three_ways(result)
    close(result.output.value, [[[[12 / 3, 16 / 3], [24 / 3, 29 / 3]]]])
    close(grads(result)["x"], [[[[1 / 3, 2 / 3, 1 / 3], [2 / 3, 4 / 3, 2 / 3],
                                 [1 / 3, 2 / 3, 1 / 3]]]])  # fmt: skip
    divisor = next(step for step in result.steps if step.key == "divisor")
    close(divisor.value, [[3, 3], [3, 3]])
    assert "divisor_override = 3 for every window" in divisor.formula
    assert any("divisor_override=3" in note for note in result.notes)
    plain = run("avgpool2d", values={"x": x}, params=("kernel_size=2", "stride=1"), upstream="ones")
    assert not any("divisor_override" in note for note in plain.notes)
    assert plain.params.get("divisor_override") is None
    close(grads(plain)["x"], [[[[1 / 4, 2 / 4, 1 / 4], [2 / 4, 4 / 4, 2 / 4],
                                [1 / 4, 2 / 4, 1 / 4]]]])  # fmt: skip


def test_divisor_override_steps_override_the_ceil_mode_and_padding_counts():
    # with padding 1 and count_include_pad=false the corner windows would count 1 entry;
    # with ceil_mode the last ones fewer than 9: divisor_override=9 sets all of them
    result = run("avgpool2d", {"x": (1, 1, 5, 5)}, steps=True,
                 params=divisor_params(3, 2, 1, True, False, 9))  # fmt: skip
    divisor = next(step for step in result.steps if step.key == "divisor")
    ho = pool_size(5, 3, 2, 1, 1, True)
    close(divisor.value, np.full((ho, ho), 9.0).tolist())
    counted = run("avgpool2d", {"x": (1, 1, 5, 5)}, steps=True,
                  params=divisor_params(3, 2, 1, True, False, 9)[:-1])  # fmt: skip
    assert next(s for s in counted.steps if s.key == "divisor").value != divisor.value


def test_divisor_override_forgotten_is_a_named_slip():
    x = [[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0]]]]
    g = [[[[1.0, -2.0], [0.5, 3.0]]]]
    params = ("kernel_size=2", "stride=1", "divisor_override=3")
    _, by_count = avgpool_numpy(np.array(x), np.array(g), 2, 1, 0, False, True, None)
    answer = parse_expected(answer_text(by_count[0, 0].tolist()))
    result = run("avgpool2d", values={"x": x}, upstream=g, params=params, expected={"x": answer})
    assert "divided by the entries counted, not by divisor_override" in (
        result.answer.parts["x"].hint
    )
    _, right = avgpool_numpy(np.array(x), np.array(g), 2, 1, 0, False, True, 3)
    good = run("avgpool2d", values={"x": x}, upstream=g, params=params,
               expected={"x": parse_expected(answer_text(right[0, 0].tolist()))})  # fmt: skip
    assert good.answer.parts["x"].ok


@pytest.mark.parametrize(
    "layer, value, words",
    [
        ("avgpool2d", "0", "divisor_override=0 must be ≥ 1 (every window's sum is divided by "
                           "it; torch refuses 0)"),
        ("avgpool2d", "-2", "divisor_override=-2 must be ≥ 1 (every window's sum is divided "
                            "by it; a negative divisor is no average)"),
        ("avgpool2d", "1.5", "divisor_override='1.5' must be an integer (or none)"),
        ("avgpool2d", "2,2", "divisor_override='2,2' must be an integer (or none)"),
        ("maxpool2d", "2", "unknown parameter for maxpool2d 'divisor_override'"),
    ],
)  # fmt: skip
def test_bad_divisors_are_refused_before_any_tensor(layer, value, words):
    with pytest.raises(InputError) as caught:
        plan(get_layer(layer), {"x": Given(shape=(1, 1, 4, 4))},
             ["kernel_size=2", f"divisor_override={value}"])  # fmt: skip
    assert words in str(caught.value)
    unset = plan(get_layer("avgpool2d"), {"x": Given(shape=(1, 1, 4, 4))},
                 ["kernel_size=2", "divisor_override=none"])  # fmt: skip
    assert unset.params["divisor_override"] is None


@HYPOTHESIS
@given(
    n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(2, 7), w=st.integers(2, 7),
    k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1), ceil=st.booleans(),
    include=st.booleans(), divisor=st.integers(1, 12), seed=st.integers(0, 99),
)  # fmt: skip
def test_divisor_override_over_shapes(n, c, h, w, k, s, p, ceil, include, divisor, seed):
    assume(2 * p <= k and h + 2 * p >= k and w + 2 * p >= k)
    result = run("avgpool2d", {"x": (n, c, h, w)},
                 params=divisor_params(k, s, p, ceil, include, divisor), seed=seed)  # fmt: skip
    assert_three_ways(result)
    x, g = inputs_of(result)["x"].numpy(), array(result.upstream.value)
    y, dx = avgpool_numpy(x, g, k, s, p, ceil, include, divisor)
    close(result.output.value, y.tolist())
    assert_matches(result, {"x": dx})


# ================================================================ both options, every path


@pytest.mark.parametrize(
    "name, shapes, params",
    [
        ("rmsnorm", {"x": (2, 3, 4)}, ("normalized_shape=3,4",)),
        ("rmsnorm", {"x": (2, 2, 2, 3)}, ("normalized_shape=2,2,3",)),
        ("avgpool2d", {"x": (1, 2, 5, 6)},
         ("kernel_size=3", "stride=2", "padding=1", "ceil_mode=true", "divisor_override=4")),
    ],
)  # fmt: skip
def test_each_option_in_float32_mode(name, shapes, params):
    result = run(name, shapes, params=params, seed=5, settings_=FLOAT32)
    assert result.agree and result.dtype == "float32"


def test_list_help_and_json_show_the_options():
    listing = invoke("layer", "--list").stdout
    assert "divisor_override=none" in listing
    entries = {e["name"]: e for e in invoke("layer", "--list", "--json").json()["list"]}
    assert entries["rmsnorm"]["params"]["normalized_shape"] == "x's last dimension"
    assert entries["avgpool2d"]["params"]["divisor_override"] is None
    assert "divisor_override=4" in " ".join(invoke("layer", "-h").stdout.split())
    data = invoke("layer", "rmsnorm", "--x-shape", "2x3x4", "--param", "normalized_shape=3,4",
                  "--json").json()  # fmt: skip
    assert data["agree"] and data["params"]["normalized_shape"] == [3, 4]
    weight = data["inputs"]["weight"]
    assert weight["shape"] == [3, 4] and weight["source"] == "default"
    assert weight["value"] == [[1.0] * 4] * 3  # nn.RMSNorm's ones
    data = invoke("layer", "avgpool2d", "--x-shape", "1x1x4x4", "--param", "kernel_size=2",
                  "--param", "divisor_override=3", "--json").json()  # fmt: skip
    assert data["agree"] and data["params"]["divisor_override"] == 3


def test_bad_values_exit_2_with_one_error_line():
    for args in (
        ["rmsnorm", "--x-shape", "2x3x4", "--param", "normalized_shape=4,3"],
        ["rmsnorm", "--x-shape", "2x3x4", "--param", "normalized_shape=3,4", "--weight-shape",
         "4"],
        ["avgpool2d", "--x-shape", "1x1x4x4", "--param", "kernel_size=2", "--param",
         "divisor_override=0"],
        ["avgpool2d", "--x-shape", "1x1x4x4", "--param", "kernel_size=2", "--param",
         "divisor_override=-1"],
    ):  # fmt: skip
        done = invoke("layer", *args)
        assert done.code == 2 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), lines
