"""`gradcli layer` core: every registry layer, analytic vs autograd vs finite differences.

Fixed values come from hand derivations written out in this file (plain Python loops over
the textbook definitions, never the code under test); everything else is checked against
torch autograd and central differences, over many shapes and parameter sets.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcli.core.layer import LayerRequest, _one_by_one, layer_gradients, pair_evaluation
from gradcli.core.softmax import softmax_jacobian_formula, softmax_vjp
from gradcli.errors import InputError
from gradcli.expect import parse_expected
from gradcli.ops.layers import LAYERS, Given, get_layer, plan
from gradcli.results.grid import nested
from gradcli.settings import Dtype, Settings, tolerance_for

FLOAT64 = Settings()
FLOAT32 = Settings(Dtype.float32, tolerance_for(Dtype.float32), numeric=True)
NO_NUMERIC = Settings(numeric=False)


def shape_of(values) -> tuple[int, ...]:
    shape = []
    values = nested(values)
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0]
    return tuple(shape)


def flat(values) -> list[float]:
    values = nested(values)  # a result's Grid as nested lists
    if not isinstance(values, list):
        return [values]
    return [v for item in values for v in flat(item)]


def given_values(values) -> Given:
    return Given(values=tuple(float(v) for v in flat(values)), shape=shape_of(values))


def run(
    name: str,
    shapes: dict | None = None,
    values: dict | None = None,
    params: tuple[str, ...] = (),
    upstream="random",
    seed: int = 0,
    settings_: Settings = FLOAT64,
    steps: bool = False,
    expected=None,
):
    """Plan and run one layer through the core, as the command does."""
    inputs = {key: Given(shape=tuple(shape)) for key, shape in (shapes or {}).items()}
    for key, value in (values or {}).items():
        inputs[key] = Given(none=True) if value == "none" else given_values(value)
    checked = plan(get_layer(name), inputs, list(params), settings_.dtype.value)
    if isinstance(upstream, list):
        upstream = given_values(upstream)
    request = LayerRequest(checked, upstream, seed, steps)
    return layer_gradients(request, settings_, expected)


def grads(result) -> dict[str, list]:
    return {grad.name: grad.check.analytic for grad in result.grads}


def close(got, want, tol: float = 1e-10) -> None:
    got, want = flat(got), flat(want)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert abs(a - b) <= tol * max(1.0, abs(b)), (got, want)


# ---------------------------------------------------------------- the whole registry

CASES = [
    ("linear", {"x": (3, 4), "weight": (5, 4)}, ()),
    ("linear", {"x": (2, 3, 4), "weight": (2, 4)}, ()),
    ("linear", {"x": (4,), "weight": (3, 4)}, ()),
    ("batchnorm", {"x": (4, 3)}, ()),
    ("batchnorm", {"x": (2, 3, 5)}, ("eps=1e-3",)),
    ("batchnorm", {"x": (2, 3, 3, 4)}, ()),
    ("layernorm", {"x": (3, 5)}, ()),
    ("layernorm", {"x": (2, 3, 4)}, ("eps=0.1",)),
    ("layernorm", {"x": (6,)}, ()),
    ("rmsnorm", {"x": (3, 5)}, ()),
    ("rmsnorm", {"x": (2, 2, 4)}, ("eps=1e-6",)),
    ("conv1d", {"x": (2, 3, 9), "weight": (4, 3, 3)}, ()),
    ("conv1d", {"x": (2, 3, 9), "weight": (4, 3, 3)}, ("stride=2", "padding=1", "dilation=2")),
    ("conv1d", {"x": (1, 2, 8), "weight": (3, 2, 4)}, ("stride=3", "padding=2")),
    ("conv2d", {"x": (2, 3, 6, 5), "weight": (4, 3, 3, 3)}, ()),
    ("conv2d", {"x": (2, 3, 7, 6), "weight": (4, 3, 3, 2)},
     ("stride=2,1", "padding=1,2", "dilation=2,1")),
    ("conv2d", {"x": (1, 2, 8, 8), "weight": (2, 2, 2, 2)}, ("stride=3", "padding=1")),
    ("conv2d", {"x": (1, 1, 5, 5), "weight": (1, 1, 2, 2)}, ("dilation=2", "stride=2")),
    ("maxpool2d", {"x": (2, 2, 4, 4)}, ("kernel_size=2",)),
    ("maxpool2d", {"x": (1, 3, 5, 5)}, ("kernel_size=3", "stride=2", "padding=1")),
    ("maxpool2d", {"x": (1, 2, 6, 7)}, ("kernel_size=2,3", "stride=1,2", "dilation=2,1")),
    ("avgpool2d", {"x": (2, 2, 4, 4)}, ("kernel_size=2",)),
    ("avgpool2d", {"x": (1, 2, 5, 5)}, ("kernel_size=3", "stride=2", "padding=1")),
    ("avgpool2d", {"x": (1, 2, 5, 6)},
     ("kernel_size=3,2", "stride=1", "padding=1", "count_include_pad=false")),
    ("dropout", {"x": (3, 4)}, ("p=0",)),
    ("dropout", {"x": (3, 4)}, ("p=0.3",)),
    ("dropout", {"x": (2, 2, 3)}, ("p=0.9",)),
    ("attention", {"q": (5, 4)}, ()),
    ("attention", {"q": (2, 5, 4), "k": (2, 6, 4), "v": (2, 6, 3)}, ("causal=true",)),
    ("attention", {"q": (2, 2, 4, 3)}, ("causal=true", "scale=0.5")),
    ("attention", {"q": (6, 4), "k": (3, 4), "v": (3, 2)}, ("causal=true",)),
    ("rnn", {"x": (4, 2, 3)}, ("hidden_size=3",)),
    ("rnn", {"x": (5, 3), "h0": (4,)}, ("nonlinearity=relu",)),
    ("lstm", {"x": (3, 2, 4)}, ("hidden_size=3",)),
    ("lstm", {"x": (4, 3), "h0": (2,), "c0": (2,)}, ()),
    ("gru", {"x": (3, 2, 4)}, ("hidden_size=3",)),
    ("gru", {"x": (5, 1, 2), "h0": (1, 3)}, ()),
]  # fmt: skip
EMBEDDING = ("embedding", {"weight": (4, 3)}, {"indices": [[1, 0], [1, 3], [1, 1]]})


def case_id(case) -> str:
    name, shapes, params = case
    dims = ",".join("x".join(map(str, s)) for s in shapes.values())
    return f"{name}[{dims}]{'[' + ';'.join(params) + ']' if params else ''}"


def test_every_layer_in_the_registry_has_cases():
    assert {case[0] for case in CASES} | {EMBEDDING[0]} == set(LAYERS)


def assert_three_ways(result, fully_numeric: bool = True) -> None:
    assert result.agree, [(g.name, g.check.max_abs_diff) for g in result.grads]
    for grad in result.grads:
        analytic = torch.tensor(nested(grad.check.analytic), dtype=torch.float64)
        autograd = torch.tensor(nested(grad.check.autograd), dtype=torch.float64)
        assert torch.allclose(analytic, autograd, rtol=1e-9, atol=1e-10), grad.name
        assert not grad.numeric_sampled
        if fully_numeric:
            assert grad.numeric_checked == grad.numeric_total, grad.name
            numeric = torch.tensor(flat(grad.check.numeric), dtype=torch.float64)
            assert torch.allclose(analytic.reshape(-1), numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_analytic_autograd_numeric_agree_float64(case):
    name, shapes, params = case
    result = run(name, shapes, params=params, seed=3)
    assert_three_ways(result)
    assert any(abs(v) > 1e-3 for grad in result.grads for v in flat(grad.check.analytic))


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_float32_mode_agrees_within_its_tolerance(case):
    name, shapes, params = case
    result = run(name, shapes, params=params, seed=5, settings_=FLOAT32)
    assert result.agree and result.dtype == "float32"
    assert result.atol == 1e-4


def test_embedding_repeated_indices_accumulate_and_indices_have_no_gradient():
    name, shapes, values = EMBEDDING
    g = [[[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], [[10.0, 0.0, 1.0], [2.0, 2.0, 2.0]],
         [[0.25, 0.0, 0.0], [1.0, -1.0, 4.0]]]  # fmt: skip
    result = run(name, shapes, values, upstream=g)
    assert_three_ways(result)
    assert [grad.name for grad in result.grads] == ["weight"]
    # row 1 is looked up at (0,0), (1,0), (2,0) and (2,1): its gradient sums those rows of G
    expected = [
        [0.5, 0.5, 0.5],  # row 0: position (0,1)
        [1 + 10 + 0.25 + 1, 2 + 0 + 0 + -1, 3 + 1 + 0 + 4],
        [0.0, 0.0, 0.0],  # row 2 is never looked up
        [2.0, 2.0, 2.0],  # row 3: position (1,1)
    ]
    close(grads(result)["weight"], expected)


# ---------------------------------------------------------------- hand-computed cases


def test_linear_by_hand():
    # y = x Wᵀ + b; G = [[1, 2, 3]]: ∂L/∂x = G W = [1+3, 2+3]; ∂L/∂W = Gᵀ x; ∂L/∂b = G
    result = run(
        "linear",
        values={"x": [[1.0, 2.0]], "weight": [[1, 0], [0, 1], [1, 1]], "bias": [0.5, 0, 0]},
        upstream=[[1.0, 2.0, 3.0]],
    )
    got = grads(result)
    close(got["x"], [[4, 5]])
    close(got["weight"], [[1, 2], [2, 4], [3, 6]])
    close(got["bias"], [1, 2, 3])
    close(result.output.value, [[1 + 0.5, 2, 3]])


def test_conv2d_one_by_one_by_three_by_three_with_a_two_by_two_kernel():
    # x = [[1,2,3],[4,5,6],[7,8,9]], W = [[1,2],[3,4]], G = [[1,0],[0,1]] (output 2×2).
    # ∂L/∂W[p,q] = Σ_ij G[i,j]·x[i+p, j+q] = x[p,q] + x[p+1,q+1]  → [[6, 8], [12, 14]]
    # ∂L/∂x[h,w] = Σ_ij G[i,j]·W[h−i, w−j] = W[h,w] + W[h−1,w−1] (where defined)
    #            → [[1, 2, 0], [3, 4 + 1, 2], [0, 3, 4]];   ∂L/∂b = ΣG = 2
    result = run(
        "conv2d",
        values={
            "x": [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]],
            "weight": [[[[1, 2], [3, 4]]]],
            "bias": [0.0],
        },
        upstream=[[[[1.0, 0.0], [0.0, 1.0]]]],
    )
    got = grads(result)
    close(got["weight"], [[[[6, 8], [12, 14]]]])
    close(got["x"], [[[[1, 2, 0], [3, 5, 2], [0, 3, 4]]]])
    close(got["bias"], [2])
    # forward: y[0,0] = 1·1 + 2·2 + 4·3 + 5·4 = 37
    assert result.output.value[0][0][0][0] == pytest.approx(37)


def conv2d_loops(x, w, g, stride, padding, dilation):
    """∂L/∂x, ∂L/∂W, ∂L/∂b of L = Σ G ⊙ conv2d(x, W) straight from the definition
    y[n,o,i,j] = Σ_c,p,q W[o,c,p,q]·x[n,c,i·s−pad+p·d, j·s−pad+q·d] (plain Python)."""
    n_, c_, h_, w_ = shape_of(x)
    o_, _, kh, kw = shape_of(w)
    ho, wo = len(g[0][0]), len(g[0][0][0])
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    dx = [[[[0.0] * w_ for _ in range(h_)] for _ in range(c_)] for _ in range(n_)]
    dwt = [[[[0.0] * kw for _ in range(kh)] for _ in range(c_)] for _ in range(o_)]
    db = [0.0] * o_
    for n in range(n_):
        for o in range(o_):
            for i in range(ho):
                for j in range(wo):
                    gv = g[n][o][i][j]
                    db[o] += gv
                    for c in range(c_):
                        for p in range(kh):
                            for q in range(kw):
                                r, s = i * sh - ph + p * dh, j * sw - pw + q * dw
                                if 0 <= r < h_ and 0 <= s < w_:
                                    dx[n][c][r][s] += gv * w[o][c][p][q]
                                    dwt[o][c][p][q] += gv * x[n][c][r][s]
    return dx, dwt, db


@pytest.mark.parametrize(
    "stride, padding, dilation",
    [((1, 1), (0, 0), (1, 1)), ((2, 1), (1, 2), (1, 1)), ((1, 2), (0, 1), (2, 1)),
     ((3, 3), (2, 2), (2, 2))],
)  # fmt: skip
def test_conv2d_matches_the_definition_written_as_loops(stride, padding, dilation):
    rng = random.Random(7)
    x = [[[[rng.uniform(-1, 1) for _ in range(7)] for _ in range(6)] for _ in range(2)]]
    w = [[[[rng.uniform(-1, 1) for _ in range(2)] for _ in range(3)] for _ in range(2)]
         for _ in range(3)]  # fmt: skip
    params = (
        f"stride={stride[0]},{stride[1]}",
        f"padding={padding[0]},{padding[1]}",
        f"dilation={dilation[0]},{dilation[1]}",
    )
    first = run("conv2d", values={"x": x, "weight": w}, params=params, seed=1)
    g = first.upstream.value
    dx, dwt, db = conv2d_loops(x, w, g, stride, padding, dilation)
    got = grads(first)
    close(got["x"], dx)
    close(got["weight"], dwt)
    close(got["bias"], db)


def test_conv1d_matches_the_definition_written_as_loops():
    x = [[[0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 1.0]], [[1.0, 1.0, -2.0, 0.5, 0.0, 3.0, -1.0]]]
    w = [[[1.0, -2.0, 0.5]], [[0.0, 1.0, 1.0]]]
    first = run(
        "conv1d",
        values={"x": x, "weight": w},
        params=("stride=2", "padding=1", "dilation=2"),
    )
    g = first.upstream.value
    # conv1d is conv2d on rows of height 1
    dx, dwt, db = conv2d_loops(
        [[[row] for row in n] for n in x],
        [[[row] for row in o] for o in w],
        [[[row] for row in n] for n in g],
        (1, 2),
        (0, 1),
        (1, 2),
    )
    got = grads(first)
    close(got["x"], [[row[0] for row in n] for n in dx])
    close(got["weight"], [[row[0] for row in o] for o in dwt])
    close(got["bias"], db)


BN_X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 10.0], [2.0, 0.0, 1.0]]
BN_G = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [1.0, -1.1, 1.2]]


def batchnorm_by_the_paper(x, g, gamma, eps):
    """Ioffe & Szegedy (2015), Algorithm 1 and the backward pass of §3, channel by channel:
    dx̂ = G·γ;  dσ² = Σ dx̂·(x − μ)·(−½)(σ² + ε)^(−3/2);
    dμ = Σ dx̂·(−1/√(σ² + ε)) + dσ²·Σ −2(x − μ)/m;
    dx = dx̂/√(σ² + ε) + dσ²·2(x − μ)/m + dμ/m;  dγ = Σ G·x̂;  dβ = Σ G."""
    m, channels = len(x), len(x[0])
    dx = [[0.0] * channels for _ in range(m)]
    dgamma, dbeta = [], []
    for c in range(channels):
        col = [row[c] for row in x]
        gc = [row[c] for row in g]
        mu = sum(col) / m
        var = sum((v - mu) ** 2 for v in col) / m
        inv = 1 / math.sqrt(var + eps)
        xhat = [(v - mu) * inv for v in col]
        dxhat = [gv * gamma[c] for gv in gc]
        dvar = sum(d * (v - mu) for d, v in zip(dxhat, col, strict=True)) * -0.5 * inv**3
        dmu = sum(d * -inv for d in dxhat) + dvar * sum(-2 * (v - mu) for v in col) / m
        for i in range(m):
            dx[i][c] = dxhat[i] * inv + dvar * 2 * (col[i] - mu) / m + dmu / m
        dgamma.append(sum(gv * xh for gv, xh in zip(gc, xhat, strict=True)))
        dbeta.append(sum(gc))
    return dx, dgamma, dbeta


def test_batchnorm_on_a_four_by_three_batch_from_the_paper():
    gamma, beta = [1.5, -0.5, 2.0], [0.1, 0.2, 0.3]
    result = run(
        "batchnorm",
        values={"x": BN_X, "weight": gamma, "bias": beta},
        upstream=BN_G,
        steps=True,
    )
    dx, dgamma, dbeta = batchnorm_by_the_paper(BN_X, BN_G, gamma, 1e-5)
    got = grads(result)
    close(got["x"], dx)
    close(got["weight"], dgamma)
    close(got["bias"], dbeta)
    steps = {step.label: step for step in result.steps}
    close(steps["μ (per channel)"].value, [3.5, 3.75, 5.0])
    close(steps["σ² (per channel, biased)"].value, [5.25, 9.1875, 11.5])
    close(steps["ΣG (per channel)"].value, dbeta)


def layernorm_by_the_chain_rule(x, g, gamma, eps):
    """Row by row: x̂ = (x − μ)/σ; ∂y_i/∂x_j = γ_i·(δ_ij − 1/D − x̂_i x̂_j/D)/σ."""
    out = []
    for row, grow in zip(x, g, strict=True):
        d = len(row)
        mu = sum(row) / d
        sigma = math.sqrt(sum((v - mu) ** 2 for v in row) / d + eps)
        xhat = [(v - mu) / sigma for v in row]
        out.append(
            [
                sum(
                    grow[i] * gamma[i] * ((i == j) - 1 / d - xhat[i] * xhat[j] / d) / sigma
                    for i in range(d)
                )
                for j in range(d)
            ]
        )
    return out


def test_layernorm_by_the_chain_rule():
    x = [[1.0, -2.0, 0.5, 3.0], [0.0, 0.1, 0.2, -0.3]]
    g = [[0.5, 1.0, -1.0, 2.0], [1.0, 1.0, 1.0, -1.0]]
    gamma = [1.0, 2.0, -1.0, 0.5]
    result = run("layernorm", values={"x": x, "weight": gamma, "bias": [0, 0, 0, 0]}, upstream=g)
    close(grads(result)["x"], layernorm_by_the_chain_rule(x, g, gamma, 1e-5))


def test_rmsnorm_by_its_jacobian():
    # y_i = γ_i·x_i/r, r = √(mean(x²) + ε): ∂y_i/∂x_j = γ_i·(δ_ij/r − x_i·x_j/(D·r³))
    x = [[1.0, -2.0, 0.5], [3.0, 0.0, 1.0]]
    g = [[0.5, -1.0, 2.0], [1.0, 1.0, -1.0]]
    gamma = [2.0, 0.5, -1.0]
    eps = 1e-6
    result = run("rmsnorm", values={"x": x, "weight": gamma}, upstream=g, params=(f"eps={eps}",))
    want = []
    for row, grow in zip(x, g, strict=True):
        r = math.sqrt(sum(v * v for v in row) / 3 + eps)
        want.append(
            [
                sum(
                    grow[i] * gamma[i] * ((i == j) / r - row[i] * row[j] / (3 * r**3))
                    for i in range(3)
                )
                for j in range(3)
            ]
        )
    close(grads(result)["x"], want)
    # ∂L/∂γ_i = Σ_rows G_i·x_i/r
    rs = [math.sqrt(sum(v * v for v in row) / 3 + eps) for row in x]
    close(
        grads(result)["weight"],
        [sum(g[n][i] * x[n][i] / rs[n] for n in range(2)) for i in range(3)],
    )


def test_rmsnorm_default_eps_is_torchs_machine_epsilon():
    result = run("rmsnorm", {"x": (2, 3)})
    assert result.params["eps"] == torch.finfo(torch.float64).eps
    result32 = run("rmsnorm", {"x": (2, 3)}, settings_=FLOAT32)
    assert result32.params["eps"] == torch.finfo(torch.float32).eps


def test_maxpool_routes_g_to_each_windows_maximum():
    x = [[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]]]
    g = [[[[1.0, 2.0], [3.0, 4.0]]]]
    result = run("maxpool2d", values={"x": x}, upstream=g, params=("kernel_size=2",))
    # the max of each 2×2 window is its bottom-right entry
    close(grads(result)["x"], [[[[0, 0, 0, 0], [0, 1, 0, 2], [0, 0, 0, 0], [0, 3, 0, 4]]]])


def test_maxpool_overlapping_windows_accumulate():
    # one large value at (1, 1) is the max of all four 3×3 windows (stride 1) of a 4×4 input
    x = [[[[0, 0, 0, 0], [0, 9, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]]]
    x[0][0][3][3] = 1  # the window at (1,1) also holds 9
    g = [[[[1.0, 2.0], [3.0, 4.0]]]]
    result = run("maxpool2d", values={"x": x}, upstream=g, params=("kernel_size=3", "stride=1"))
    want = [[[[0.0] * 4 for _ in range(4)]]]
    want[0][0][1][1] = 1 + 2 + 3 + 4
    close(grads(result)["x"], want)


def test_maxpool_ties_go_to_the_first_maximum_in_scan_order_like_torch():
    # all equal: G goes to the top-left entry of each window, as torch's kernel does
    x = [[[[1.0] * 4 for _ in range(4)]]]
    g = [[[[1.0, 2.0], [3.0, 4.0]]]]
    result = run("maxpool2d", values={"x": x}, upstream=g, params=("kernel_size=2",))
    close(grads(result)["x"], [[[[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]]])
    assert result.agree
    grad = result.grads[0]
    assert grad.numeric_checked == 16  # computed, and shown…
    assert grad.numeric_counted == 0  # …but every entry is tied: none counts in the verdict
    assert any("tie" in note for note in grad.notes)


@pytest.mark.parametrize(
    "params",
    [("kernel_size=2",), ("kernel_size=3", "stride=1"), ("kernel_size=3", "stride=2", "padding=1"),
     ("kernel_size=2", "dilation=2", "stride=1"), ("kernel_size=2,3", "stride=1,2", "padding=1")],
)  # fmt: skip
def test_maxpool_ties_agree_with_autograd_exactly(params):
    rng = random.Random(11)
    x = [[[[float(rng.choice([0, 1, 1, 2])) for _ in range(6)] for _ in range(5)]
          for _ in range(2)] for _ in range(2)]  # fmt: skip
    result = run("maxpool2d", values={"x": x}, params=params, seed=2)
    grad = result.grads[0]
    # the very same routing: a tie sent elsewhere moves a whole G entry (|G| ~ 1); what is left
    # is the order in which overlapping windows add up, at the last bits of float64
    analytic, autograd = flat(grad.check.analytic), flat(grad.check.autograd)
    assert max(abs(a - b) for a, b in zip(analytic, autograd, strict=True)) < 1e-12
    assert result.agree


def test_avgpool_spreads_g_over_each_window():
    x = [[[[float(i * 4 + j) for j in range(4)] for i in range(4)]]]
    g = [[[[4.0, 8.0], [12.0, 16.0]]]]
    result = run("avgpool2d", values={"x": x}, upstream=g, params=("kernel_size=2",))
    close(
        grads(result)["x"],
        [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]],
    )


def test_avgpool_without_padding_in_the_count():
    # kernel 2, stride 2, padding 1 on a 2×2 input: each window holds one real entry, so with
    # count_include_pad=false it divides by 1 (by 4 with the default)
    x = [[[[1.0, 2.0], [3.0, 4.0]]]]
    g = [[[[1.0, 2.0], [3.0, 4.0]]]]
    params = ("kernel_size=2", "stride=2", "padding=1")
    excluded = run(
        "avgpool2d", values={"x": x}, upstream=g, params=(*params, "count_include_pad=false")
    )
    close(grads(excluded)["x"], [[[[1, 2], [3, 4]]]])
    included = run("avgpool2d", values={"x": x}, upstream=g, params=params)
    close(grads(included)["x"], [[[[0.25, 0.5], [0.75, 1.0]]]])


def test_dropout_gradient_is_the_mask_scaled():
    result = run("dropout", {"x": (4, 5)}, params=("p=0.4",), seed=9)
    mask = result.state[0].value
    g = result.upstream.value
    want = [[gv * m / 0.6 for gv, m in zip(grow, mrow, strict=True)]
            for grow, mrow in zip(g, mask, strict=True)]  # fmt: skip
    close(grads(result)["x"], want)
    assert set(flat(mask)) <= {0.0, 1.0}


def test_dropout_mask_is_torchs_own_under_the_same_seed():
    result = run("dropout", {"x": (6, 7)}, params=("p=0.3",), seed=4, settings_=FLOAT32)
    torch.manual_seed(4)  # gradcli draws in float64 (the same numbers on every CPU), then casts
    x = torch.randn(6, 7, dtype=torch.float64).float()
    y = F.dropout(x, 0.3)
    g = torch.randn(6, 7, dtype=torch.float64).float()
    assert result.output.value == y.double().tolist()
    assert result.upstream.value == g.double().tolist()


def test_dropout_p_zero_draws_no_mask_like_torch():
    result = run("dropout", {"x": (3, 3)}, params=("p=0",), seed=4)
    assert flat(result.state[0].value) == [1.0] * 9
    torch.manual_seed(4)
    torch.randn(3, 3, dtype=torch.float64)
    assert result.upstream.value == torch.randn(3, 3, dtype=torch.float64).tolist()


def test_dropout_near_one_stays_finite_and_agrees():
    result = run("dropout", {"x": (8, 8)}, params=("p=0.999",), seed=1)
    assert result.agree


def attention_loops(q, k, v, g, scale, causal):
    """∂L/∂Q, ∂L/∂K, ∂L/∂V for 2-D Q, K, V with plain loops and the softmax Jacobian
    ∂p_j/∂s_m = p_j(δ_jm − p_m) written out entry by entry."""
    length, keys, dv = len(q), len(k), len(v[0])
    d = len(q[0])
    dq = [[0.0] * d for _ in range(length)]
    dk = [[0.0] * d for _ in range(keys)]
    dvv = [[0.0] * dv for _ in range(keys)]
    for i in range(length):
        seen = [j for j in range(keys) if not causal or j <= i]
        s = {j: scale * sum(q[i][e] * k[j][e] for e in range(d)) for j in seen}
        top = max(s.values())
        total = sum(math.exp(s[j] - top) for j in seen)
        p = {j: math.exp(s[j] - top) / total for j in seen}
        dp = {j: sum(g[i][f] * v[j][f] for f in range(dv)) for j in seen}
        for j in seen:
            for f in range(dv):
                dvv[j][f] += p[j] * g[i][f]
        for m in seen:
            ds = sum(dp[j] * p[j] * ((j == m) - p[m]) for j in seen)
            for e in range(d):
                dq[i][e] += ds * k[m][e] * scale
                dk[m][e] += ds * q[i][e] * scale
    return dq, dk, dvv


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_loops_with_the_softmax_jacobian(causal):
    rng = random.Random(5)
    q = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(4)]
    k = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(5)]
    v = [[rng.uniform(-1, 1) for _ in range(2)] for _ in range(5)]
    result = run(
        "attention",
        values={"q": q, "k": k, "v": v},
        params=(f"causal={str(causal).lower()}",),
        seed=8,
    )
    dq, dk, dv = attention_loops(q, k, v, result.upstream.value, 1 / math.sqrt(3), causal)
    got = grads(result)
    close(got["q"], dq)
    close(got["k"], dk)
    close(got["v"], dv)


def test_attention_with_huge_scores_is_stable():
    result = run("attention", {"q": (4, 3)}, params=("scale=1000",), seed=2)
    assert result.agree
    assert all(math.isfinite(v) for grad in result.grads for v in flat(grad.check.analytic))


def test_norms_with_a_constant_channel_or_row_stay_finite():
    bn = run("batchnorm", values={"x": [[2.0, 1.0], [2.0, 3.0], [2.0, -1.0]]})
    ln = run("layernorm", values={"x": [[5.0, 5.0, 5.0], [1.0, 2.0, 4.0]]})
    for result in (bn, ln):
        assert result.agree
        assert all(math.isfinite(v) for g in result.grads for v in flat(g.check.analytic))


def test_inputs_near_a_thousand_agree():
    for name, shapes in (("layernorm", {"x": (3, 4)}), ("batchnorm", {"x": (4, 3)})):
        base = run(name, shapes, seed=1)
        x = [[v * 1000 for v in row] for row in base.inputs[0].value]
        assert run(name, values={"x": x}, seed=1).agree


def test_softmax_vjp_is_the_jacobian_applied_row_by_row():
    a = torch.tensor([[0.5, -1.0, 2.0], [3.0, 3.0, -2.0]], dtype=torch.float64)
    u = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.0, 4.0]], dtype=torch.float64)
    p = torch.softmax(a, dim=-1)
    rows = [softmax_jacobian_formula(a[i], 1.0) @ u[i] for i in range(2)]  # J is symmetric
    assert torch.allclose(softmax_vjp(p, u), torch.stack(rows), atol=1e-15)


# ---------------------------------------------------------------- numeric sampling


SAMPLED = {"x": (4, 8, 16, 16), "weight": (16, 8, 3, 3)}  # ∂L/∂x is over the engine's budget


def test_large_inputs_are_sampled_and_say_so():
    result = run("conv2d", SAMPLED)
    x = next(grad for grad in result.grads if grad.name == "x")
    assert x.numeric_sampled and x.numeric_total == 8192
    assert 32 <= x.numeric_checked < 8192
    assert sum(v is None for v in flat(x.check.numeric)) == 8192 - x.numeric_checked
    assert (
        f"numeric: {x.numeric_checked:,} of 8,192 entries computed, a seeded random sample"
        in (x.notes[0])
    )
    data = result.to_json()
    assert data["numeric_sampled"] is True and data["grads"]["x"]["numeric_sampled"] is True
    assert data["grads"]["weight"]["numeric_sampled"] is False
    assert result.agree


def test_entries_sharing_an_input_share_forward_passes(monkeypatch):
    """∂L/∂weight of a conv whose filter slices are cheap to hold but costly to evaluate (the
    benchmark's shape): entries are batched by the memory they take, not one pass each, and
    no pass holds more than the engine's chunk."""
    import gradcli.core.layer as core_layer
    from gradcli.core.engine import CHUNK_ELEMENTS

    batches: list[int] = []
    real = core_layer.pair_evaluation

    def counted(layer, tensors, params, g, name, shapes):
        evaluate, path = real(layer, tensors, params, g, name, shapes)

        def count(index, step):
            batches.append(index.numel())
            return evaluate(index, step)

        return (count if name == "weight" else evaluate), path

    monkeypatch.setattr(core_layer, "pair_evaluation", counted)
    shapes = {"x": (8, 16, 32, 32), "weight": (32, 16, 3, 3)}
    result = run("conv2d", shapes)
    weight = next(grad for grad in result.grads if grad.name == "weight")
    assert weight.numeric_sampled and result.agree
    output_slice = 8 * 30 * 30  # one filter's share of y (and of G), per sign
    assert max(batches) * 2 * 2 * output_slice <= CHUNK_ELEMENTS
    assert sum(batches) >= weight.numeric_checked
    assert len(batches) < weight.numeric_checked / 4  # one pass per entry before


def test_the_sample_is_seeded():
    one = run("conv2d", SAMPLED, seed=2)
    two = run("conv2d", SAMPLED, seed=2)
    assert one.grads[0].check.numeric == two.grads[0].check.numeric


@pytest.mark.parametrize(
    "name, shapes, params, inputs",
    [
        ("conv2d", {"x": (2, 3, 5, 5), "weight": (4, 3, 2, 2)}, ("padding=1",),
         ("x", "weight", "bias")),
        ("conv1d", {"x": (2, 3, 6), "weight": (2, 3, 2)}, ("stride=2",), ("x", "weight", "bias")),
        ("batchnorm", {"x": (3, 2, 4)}, (), ("x", "weight", "bias")),
        ("attention", {"q": (2, 4, 3)}, (), ("q", "k", "v")),
        ("attention", {"q": (4, 3)}, ("causal=true",), ("q", "k", "v")),
        ("maxpool2d", {"x": (2, 2, 4, 4)}, ("kernel_size=2",), ("x",)),
        ("layernorm", {"x": (2, 3, 4)}, (), ("x",)),
        ("linear", {"x": (3, 4), "weight": (2, 4)}, (), ("x", "weight", "bias")),
        ("linear", {"x": (4,), "weight": (2, 4)}, (), ("x", "weight", "bias")),
        ("dropout", {"x": (3, 4)}, ("p=0.5",), ("x",)),
    ],
)  # fmt: skip
def test_fast_differences_equal_whole_evaluations(name, shapes, params, inputs):
    """Slices and broadcast copies give the same L(x + h) − L(x − h) as whole evaluations."""
    layer = get_layer(name)
    checked = plan(layer, {k: Given(shape=s) for k, s in shapes.items()}, list(params))
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for item in layer.inputs:
        shape = checked.shapes[item.name]
        tensors[item.name] = torch.randn(*shape, generator=generator, dtype=torch.float64)
    if layer.draw_state:
        state = layer.draw_state(checked.shapes, checked.params, generator)
        tensors |= {k: v.double() for k, v in state.items()}
    g = torch.randn(*checked.output_shape, generator=generator, dtype=torch.float64)
    for input_name in inputs:
        fast, path = pair_evaluation(layer, tensors, checked.params, g, input_name, checked.shapes)
        assert path != "one by one", input_name
        slow = _one_by_one(layer, tensors, checked.params, g, input_name)
        count = tensors[input_name].numel()
        index = torch.randperm(count, generator=generator)[:40]  # any order, any subset
        h = torch.linspace(1e-3, 1e-1, index.numel(), dtype=torch.float64)
        (fast_plus, fast_minus), (slow_plus, slow_minus) = fast(index, h), slow(index, h)
        assert torch.allclose(fast_plus - fast_minus, slow_plus - slow_minus, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- --expect and slips


def answer_text(values) -> str:
    values = nested(values)
    rows = values if isinstance(values[0], list) else [values]
    return ";".join(",".join(f"{v:.12g}" for v in row) for row in rows)


def test_batchnorm_slips_are_named():
    base = run(
        "batchnorm", values={"x": BN_X, "weight": [1, 1, 1], "bias": [0, 0, 0]}, upstream=BN_G
    )
    dx = torch.tensor(nested(grads(base)["x"]), dtype=torch.float64)
    x = torch.tensor(BN_X, dtype=torch.float64)
    g = torch.tensor(BN_G, dtype=torch.float64)
    mu, var = x.mean(0), x.var(0, unbiased=False)
    sigma = torch.sqrt(var + 1e-5)
    xhat = (x - mu) / sigma
    m = 4
    forgot_sum = (m * g - xhat * (g * xhat).sum(0)) / (m * sigma)
    forgot_var = (m * g - g.sum(0)) / (m * sigma)
    for wrong, words in (
        (forgot_sum, "−ΣG term"),
        (forgot_var, "x̂·Σ(G·x̂) term"),
        (dx / 4, "divided by N = 4"),
    ):
        result = run(
            "batchnorm",
            values={"x": BN_X, "weight": [1, 1, 1], "bias": [0, 0, 0]},
            upstream=BN_G,
            expected={"x": parse_expected(answer_text(wrong.tolist()))},
        )
        part = result.answer.parts["x"]
        assert not part.passed
        assert words in (part.hint or ""), part.hint


def test_right_answer_passes_and_transposed_weight_is_named():
    values = {"x": [[1.0, 2.0, 3.0]], "weight": [[1, 0, 0], [0, 1, 1]], "bias": "none"}
    base = run("linear", values=values, upstream=[[1.0, -1.0]])
    dw = nested(grads(base)["weight"])  # 2×3
    ok = run("linear", values=values, upstream=[[1.0, -1.0]],
             expected={"weight": parse_expected(answer_text(dw))})  # fmt: skip
    assert ok.answer.passed
    transposed = [list(col) for col in zip(*dw, strict=True)]
    bad = run("linear", values=values, upstream=[[1.0, -1.0]],
              expected={"weight": parse_expected(answer_text(transposed))})  # fmt: skip
    assert not bad.answer.passed
    assert "transposed" in bad.answer.parts["weight"].hint


def test_conv_unflipped_kernel_slip_is_named():
    values = {"x": [[[[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]]], "weight": [[[[1.0, 2], [3, 5]]]]}
    base = run("conv2d", values=values, upstream=[[[[1.0, 0.5], [-1, 2]]]])
    layer = get_layer("conv2d")
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()} | {"bias": None}
    slips = layer.slips(
        tensors, base.params, torch.tensor(nested(base.upstream.value), dtype=torch.float64), "x"
    )
    wrong = slips[0][1][0, 0].tolist()
    assert wrong != grads(base)["x"][0][0]
    result = run("conv2d", values=values, upstream=[[[[1.0, 0.5], [-1, 2]]]],
                 expected={"x": parse_expected(answer_text(wrong))})  # fmt: skip
    assert "not flipped" in result.answer.parts["x"].hint


# ---------------------------------------------------------------- planning (no torch)


def test_plan_refuses_mismatched_shapes_before_any_tensor():
    with pytest.raises(
        InputError, match=r"4 input channels but --x has 3 \(x is 2×3×5×5, weight is 8×4×3×3\)"
    ):
        plan(
            get_layer("conv2d"),
            {"x": Given(shape=(2, 3, 5, 5)), "weight": Given(shape=(8, 4, 3, 3))},
            [],
        )


def test_memory_estimate_grows_with_the_shapes():
    layer = get_layer("conv2d")
    small = plan(layer, {"x": Given(shape=(1, 1, 5, 5)), "weight": Given(shape=(1, 1, 3, 3))}, [])
    big = plan(
        layer, {"x": Given(shape=(8, 16, 32, 32)), "weight": Given(shape=(32, 16, 3, 3))}, []
    )
    assert big.bytes_needed > 1000 * small.bytes_needed
    assert big.multiply_adds == 8 * 32 * 30 * 30 * 16 * 9


# ---------------------------------------------------------------- hypothesis over shapes

HYPOTHESIS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(
    n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3),
    h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
    s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), seed=st.integers(0, 99),
)  # fmt: skip
def test_conv2d_over_shapes(n, c, o, h, w, kh, kw, s, p, d, seed):
    assume(h + 2 * p >= d * (kh - 1) + 1 and w + 2 * p >= d * (kw - 1) + 1)
    result = run(
        "conv2d",
        {"x": (n, c, h, w), "weight": (o, c, kh, kw)},
        params=(f"stride={s}", f"padding={p}", f"dilation={d}"),
        seed=seed,
    )
    assert_three_ways(result)


@HYPOTHESIS
@given(
    n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(2, 7), w=st.integers(2, 7),
    k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1), d=st.integers(1, 2),
    kind=st.sampled_from(["maxpool2d", "avgpool2d"]), seed=st.integers(0, 99),
)  # fmt: skip
def test_pools_over_shapes(n, c, h, w, k, s, p, d, kind, seed):
    extent = d * (k - 1) + 1 if kind == "maxpool2d" else k
    assume(2 * p <= extent and h + 2 * p >= extent and w + 2 * p >= extent)
    params = [f"kernel_size={k}", f"stride={s}", f"padding={p}"]
    if kind == "maxpool2d":
        params.append(f"dilation={d}")
    result = run(kind, {"x": (n, c, h, w)}, params=tuple(params), seed=seed)
    assert_three_ways(result)


@HYPOTHESIS
@given(
    dims=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    last=st.integers(2, 5),
    kind=st.sampled_from(["layernorm", "rmsnorm", "batchnorm", "dropout", "linear"]),
    seed=st.integers(0, 99),
)
def test_row_layers_over_shapes(dims, last, kind, seed):
    shape = (*dims, last)
    shapes: dict = {"x": shape}
    if kind == "batchnorm":
        assume(len(shape) >= 2 and math.prod(shape) // shape[1] > 1)
    if kind == "linear":
        shapes["weight"] = (3, last)
    result = run(kind, shapes, seed=seed)
    assert_three_ways(result)


@HYPOTHESIS
@given(
    batch=st.lists(st.integers(1, 2), max_size=2),
    length=st.integers(1, 5), keys=st.integers(1, 5), d=st.integers(1, 4), dv=st.integers(1, 3),
    causal=st.booleans(), seed=st.integers(0, 99),
)  # fmt: skip
def test_attention_over_shapes(batch, length, keys, d, dv, causal, seed):
    shapes = {"q": (*batch, length, d), "k": (*batch, keys, d), "v": (*batch, keys, dv)}
    result = run("attention", shapes, params=(f"causal={str(causal).lower()}",), seed=seed)
    assert_three_ways(result)
