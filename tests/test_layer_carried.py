"""Carried forward through conv and pooling: every intermediate (x_pad, G↑s, pad(G↑s),
rot180(W), ∂L/∂x_pad, argmax, divisor) and gradient is recomputed from a student's own
earlier values, so an answer worked correctly from a wrong earlier step is marked carried
forward, not wrong. The hand values come from NumPy loops written here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import invoke

from gradcli.marking import CARRIED, RIGHT, WRONG


def view_text(value) -> str:
    """A value as its 2-D answer view (rows = every index but the last), 15 digits."""
    array = np.asarray(value, dtype=float)
    array = array.reshape(-1, array.shape[-1]) if array.ndim > 1 else np.atleast_2d(array)
    array = np.where(np.abs(array) < 1e-14, 0.0, array)
    return ";".join(",".join(f"{v:.15g}" for v in row) for row in array)


def expect(**answers) -> list[str]:
    return [
        arg for key, value in answers.items() for arg in ("--expect", f"{key}={view_text(value)}")
    ]


def marked(args: list[str], answers: dict) -> tuple[int, dict, dict]:
    run = invoke(*args, *expect(**answers), "--json")
    data = run.json()
    statuses = {q["key"]: q["status"] for q in data["solution"] if q["status"] is not None}
    return run.code, data["marks"], statuses


def counts(right: int = 0, wrong: int = 0, carried: int = 0, first: str | None = None) -> dict:
    return {"right": right, "wrong": wrong, "carried_forward": carried, "first_mistake": first}


# ---------------------------------------------------------------- convolution by hand (NumPy)


def pad2(a: np.ndarray, ph: int, pw: int, value: float = 0.0) -> np.ndarray:
    out = np.full((a.shape[0] + 2 * ph, a.shape[1] + 2 * pw), value)
    out[ph : ph + a.shape[0], pw : pw + a.shape[1]] = a
    return out


def conv_by_hand(x, w, g, stride, padding, dilation) -> dict:
    """One image, one kernel (2-D arrays; a 1-D conv is height 1): the forward, and ∂L/∂x,
    ∂L/∂W, ∂L/∂b as sums over the windows (each G[i,j] sends G·W to the entries its window
    met) — not the full-correlation recipe the layer uses."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    x_pad = pad2(x, ph, pw)
    kh, kw = w.shape
    ho, wo = g.shape
    dx_pad = np.zeros_like(x_pad)
    dw_ = np.zeros_like(w)
    y = np.zeros_like(g)
    for i in range(ho):
        for j in range(wo):
            for p in range(kh):
                for q in range(kw):
                    r, c = i * sh + p * dh, j * sw + q * dw
                    y[i, j] += w[p, q] * x_pad[r, c]
                    dx_pad[r, c] += g[i, j] * w[p, q]
                    dw_[p, q] += g[i, j] * x_pad[r, c]
    dx = dx_pad[ph : ph + x.shape[0], pw : pw + x.shape[1]]
    return {"y": y, "x_pad": x_pad, "dx_pad": dx_pad, "x": dx, "weight": dw_, "bias": g.sum()}


def full_recipe(g, w_rot, stride, dilation, padded_shape) -> dict:
    """The student's recipe for ∂L/∂x_pad with the kernel they wrote as rot180(W): spread G
    by the stride, pad it by d(k − 1), correlate with w_rot (dilated); rows past the last
    window are 0."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = w_rot.shape
    ho, wo = g.shape
    spread = np.zeros(((ho - 1) * sh + 1, (wo - 1) * sw + 1))
    spread[::sh, ::sw] = g
    full = pad2(spread, dh * (kh - 1), dw * (kw - 1))
    out = np.zeros(padded_shape)
    reached = (full.shape[0] - dh * (kh - 1), full.shape[1] - dw * (kw - 1))
    for r in range(reached[0]):
        for c in range(reached[1]):
            out[r, c] = sum(
                full[r + p * dh, c + q * dw] * w_rot[p, q] for p in range(kh) for q in range(kw)
            )
    return {"g_spread": spread, "g_full": full, "dx_pad": out}


def weight_from(x_pad, g, kernel, stride, dilation) -> np.ndarray:
    """∂L/∂W[p,q] = Σ G[i,j]·x_pad[i·s + p·d, j·s + q·d], from whatever x_pad is given."""
    (sh, sw), (dh, dw) = stride, dilation
    out = np.zeros(kernel)
    for p in range(kernel[0]):
        for q in range(kernel[1]):
            for i in range(g.shape[0]):
                for j in range(g.shape[1]):
                    out[p, q] += g[i, j] * x_pad[i * sh + p * dh, j * sw + q * dw]
    return out


# conv2d: a 4×4 image, a 2×2 kernel, stride 2, padding 1, dilation 2: y is 2×2
X2 = np.array([[1.0, 2, 0, -1], [3, -2, 1, 0.5], [0, 1, 2, 1], [-1, 0.5, 1, 3]])
W2 = np.array([[1.0, -2], [0.5, 3]])
G2 = np.array([[1.0, -1], [2, 0.5]])
GEOMETRY2 = ((2, 2), (1, 1), (2, 2))  # stride, padding, dilation
CONV2D = ["layer", "conv2d", "--x", view_text(X2), "--weight", view_text(W2), "--bias", "0.5",
          "--upstream", view_text(G2), "--param", "stride=2", "--param", "padding=1",
          "--param", "dilation=2", "--no-numeric"]  # fmt: skip

# conv1d: a signal of 7, a kernel of 3, stride 2, padding 1, dilation 2: y has 3 entries
X1 = np.array([[1.0, -2, 0.5, 3, 1, -1, 2]])
W1 = np.array([[2.0, -1, 0.5]])
G1 = np.array([[1.0, -2, 0.5]])
GEOMETRY1 = ((1, 2), (0, 1), (1, 2))
CONV1D = ["layer", "conv1d", "--x", view_text(X1), "--weight", view_text(W1), "--bias", "0",
          "--upstream", "[[" + view_text(G1).join("[]") + "]]", "--param", "stride=2",
          "--param", "padding=1", "--param", "dilation=2", "--no-numeric"]  # fmt: skip


def conv_truth(x, w, g, geometry) -> dict:
    stride, padding, dilation = geometry
    hand = conv_by_hand(x, w, g, stride, padding, dilation)
    recipe = full_recipe(g, w[::-1, ::-1], stride, dilation, hand["x_pad"].shape)
    np.testing.assert_allclose(recipe["dx_pad"], hand["dx_pad"], atol=1e-12)  # the two agree
    return {**hand, **recipe, "w_rot": w[::-1, ::-1]}


CONVS = {"conv2d": (CONV2D, X2, W2, G2, GEOMETRY2), "conv1d": (CONV1D, X1, W1, G1, GEOMETRY1)}
CONV_KEYS = ("x_pad", "g_spread", "g_full", "w_rot", "dx_pad", "x", "weight", "bias")


@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_right_answers_are_right(name):
    args, x, w, g, geometry = CONVS[name]
    truth = conv_truth(x, w, g, geometry)
    code, marks, statuses = marked(args, {key: truth[key] for key in CONV_KEYS})
    assert code == 0
    assert marks == counts(right=len(CONV_KEYS))
    assert statuses == dict.fromkeys(CONV_KEYS, RIGHT)


@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_kernel_not_flipped_is_carried_into_dx(name):
    """w_rot = W (not flipped); ∂L/∂x_pad and ∂L/∂x worked from it by the recipe: carried
    forward; the weight gradient, which does not use w_rot, right."""
    args, x, w, g, geometry = CONVS[name]
    stride, padding, dilation = geometry
    truth = conv_truth(x, w, g, geometry)
    theirs = full_recipe(g, w, stride, dilation, truth["x_pad"].shape)["dx_pad"]
    ph, pw = padding
    cropped = theirs[ph : ph + x.shape[0], pw : pw + x.shape[1]]
    assert not np.allclose(cropped, truth["x"])  # the case is a real mistake
    answers = {"w_rot": w, "dx_pad": theirs, "x": cropped, "weight": truth["weight"]}
    code, marks, statuses = marked(args, answers)
    assert code == 1
    assert marks == counts(right=1, wrong=1, carried=2, first="w_rot")
    assert statuses == {"w_rot": WRONG, "dx_pad": CARRIED, "x": CARRIED, "weight": RIGHT}
    # ∂L/∂x alone from the unflipped kernel: carried through the ∂L/∂x_pad not written down
    code, marks, statuses = marked(args, {"w_rot": w, "x": cropped})
    assert statuses == {"w_rot": WRONG, "x": CARRIED}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_right_dx_with_a_wrong_kernel_and_a_wrong_dx(name):
    args, x, w, g, geometry = CONVS[name]
    truth = conv_truth(x, w, g, geometry)
    # the right ∂L/∂x with a wrong rot180(W): w_rot wrong, x right
    code, marks, statuses = marked(args, {"w_rot": w, "x": truth["x"]})
    assert code == 1
    assert marks == counts(right=1, wrong=1, first="w_rot")
    assert statuses == {"w_rot": WRONG, "x": RIGHT}
    # the right rot180(W), a ∂L/∂x that follows neither: wrong, not carried forward
    code, marks, statuses = marked(args, {"w_rot": truth["w_rot"], "x": truth["x"] + 0.5})
    assert marks == counts(right=1, wrong=1, first="x")
    assert statuses == {"w_rot": RIGHT, "x": WRONG}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_wrong_padding_is_carried_into_the_weight_gradient(name):
    """x padded with ones instead of zeros; ∂L/∂W summed from that x_pad: carried forward."""
    args, x, w, g, geometry = CONVS[name]
    stride, padding, dilation = geometry
    truth = conv_truth(x, w, g, geometry)
    ones_padded = pad2(x, *padding, value=1.0)
    theirs = weight_from(ones_padded, g, w.shape, stride, dilation)
    assert not np.allclose(theirs, truth["weight"])
    code, marks, statuses = marked(args, {"x_pad": ones_padded, "weight": theirs})
    assert code == 1
    assert marks == counts(wrong=1, carried=1, first="x_pad")
    assert statuses == {"x_pad": WRONG, "weight": CARRIED}


def test_conv_stride_spread_is_carried_into_the_full_correlation():
    """G↑s with G's entries side by side and the zeros after them, not between them:
    pad(G↑s) and ∂L/∂x_pad worked from it carried forward."""
    args, x, w, g, geometry = CONVS["conv2d"]
    _, _, dilation = geometry
    truth = conv_truth(x, w, g, geometry)
    spread = np.zeros_like(truth["g_spread"])
    spread[: g.shape[0], : g.shape[1]] = g
    kh, kw = w.shape
    full = pad2(spread, dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    dx_pad = np.zeros_like(truth["x_pad"])
    for r in range(spread.shape[0] + dilation[0] * (kh - 1)):
        for c in range(spread.shape[1] + dilation[1] * (kw - 1)):
            dx_pad[r, c] = sum(
                full[r + p * dilation[0], c + q * dilation[1]] * w[kh - 1 - p, kw - 1 - q]
                for p in range(kh)
                for q in range(kw)
            )
    assert not np.allclose(dx_pad, truth["dx_pad"])
    _, marks, statuses = marked(args, {"g_spread": spread, "g_full": full, "dx_pad": dx_pad})
    assert marks == counts(wrong=1, carried=2, first="g_spread")
    assert statuses == {"g_spread": WRONG, "g_full": CARRIED, "dx_pad": CARRIED}


def test_conv_without_padding_the_brief_case_and_the_table():
    """No padding or stride: ∂L/∂x is the full correlation itself. The kernel not flipped,
    ∂L/∂x worked from it: the table marks x carried forward and names the first mistake."""
    x = np.arange(1.0, 10.0).reshape(3, 3)
    w = np.array([[1.0, 0], [2, -1]])
    g = np.array([[1.0, -1], [2, 0.5]])
    args = ["layer", "conv2d", "--x", view_text(x), "--weight", view_text(w), "--bias", "0",
            "--upstream", view_text(g), "--no-numeric"]  # fmt: skip
    truth = conv_by_hand(x, w, g, (1, 1), (0, 0), (1, 1))
    theirs = full_recipe(g, w, (1, 1), (1, 1), x.shape)["dx_pad"]
    run = invoke(*args, *expect(w_rot=w, x=theirs))
    assert run.code == 1
    flat = " ".join(run.stdout.split())
    assert "│ w_rot │ ✗ wrong │" in flat
    assert "│ x │ → carried forward │" in flat
    assert "0 right, 1 carried forward, 1 wrong" in flat
    assert "first mistake: w_rot" in flat
    assert "x follows from it (carried forward)" in flat
    assert "but it follows from your w_rot as you wrote it (carried forward" in flat
    run = invoke(*args, *expect(w_rot=w[::-1, ::-1], x=truth["x"]))
    assert run.code == 0
    assert "✓ all 2 quantities you gave are right" in run.stdout


def test_grouped_conv_carries_forward_group_by_group():
    """groups = 2 (depthwise): each channel has its own kernel; the kernels not flipped give
    each channel's ∂L/∂x from its own kernel: carried forward."""
    x = np.array([[[1.0, 2, -1], [0, 1, 3], [2, -1, 1]], [[0.5, 1, 0], [-1, 2, 1], [1, 1, -2]]])
    w = np.array([[[1.0, -1], [2, 0.5]], [[0.5, 1], [-1, 3]]])
    g = np.array([[[1.0, 2], [-1, 0.5]], [[0.5, -1], [2, 1]]])
    args = ["layer", "conv2d", "--x", json.dumps([x.tolist()]),
            "--weight", json.dumps(w[:, None].tolist()), "--bias", "none",
            "--upstream", json.dumps([g.tolist()]), "--param", "groups=2",
            "--no-numeric"]  # fmt: skip
    theirs = np.stack([full_recipe(g[c], w[c], (1, 1), (1, 1), (3, 3))["dx_pad"] for c in range(2)])
    _, marks, statuses = marked(args, {"w_rot": w, "x": theirs})
    assert marks == counts(wrong=1, carried=1, first="w_rot")
    assert statuses == {"w_rot": WRONG, "x": CARRIED}
    truth = np.stack(
        [conv_by_hand(x[c], w[c], g[c], (1, 1), (0, 0), (1, 1))["x"] for c in range(2)]
    )
    code, marks, _ = marked(args, {"w_rot": w[:, ::-1, ::-1], "x": truth})
    assert code == 0 and marks == counts(right=2)


# ---------------------------------------------------------------- pooling by hand (NumPy)

# 5×5, 3×3 windows, stride 2, padding 1: 3×3 overlapping windows
XP = np.array([[1.0, 3, 2, 0, 1], [4, 2, 1, 5, 0], [0, 1, 3, 2, 2],
               [2, 6, 1, 0, 4], [1, 0, 2, 3, 1]])  # fmt: skip
GP = np.array([[1.0, -2, 0.5], [3, 1, -1], [2, 0.5, 4]])
POOL = ["--x", json.dumps([[XP.tolist()]]), "--upstream", json.dumps([[GP.tolist()]]),
        "--param", "kernel_size=3", "--param", "stride=2", "--param", "padding=1",
        "--no-numeric"]  # fmt: skip
K, S, P = 3, 2, 1


def windows():
    """Each output position (i, j) and the padded coordinates of its window, row by row."""
    for i in range(GP.shape[0]):
        for j in range(GP.shape[1]):
            yield i, j, [(i * S + a, j * S + b) for a in range(K) for b in range(K)]


def argmax_by_hand() -> np.ndarray:
    padded = pad2(XP, P, P, value=-np.inf)
    out = np.zeros_like(GP)
    for i, j, cells in windows():
        values = [padded[r, c] for r, c in cells]
        out[i, j] = values.index(max(values))  # the first maximum, row by row
    return out


def routed_by_hand(argmax: np.ndarray) -> np.ndarray:
    """∂L/∂x: G[i,j] added to the entry at position argmax[i,j] of window (i, j)."""
    dx = np.zeros((XP.shape[0] + 2 * P, XP.shape[1] + 2 * P))
    for i, j, cells in windows():
        r, c = cells[int(argmax[i, j])]
        dx[r, c] += GP[i, j]
    return dx[P:-P, P:-P]


def test_maxpool_right_wrong_and_carried_forward():
    args = ["layer", "maxpool2d", *POOL]
    truth = argmax_by_hand()
    dx = routed_by_hand(truth)
    code, marks, statuses = marked(args, {"argmax": truth, "x": dx})
    assert code == 0
    assert marks == counts(right=2) and statuses == {"argmax": RIGHT, "x": RIGHT}
    # window (1, 1) covers x[1:4, 1:4]: its max 6 sits at position 6 (row 2, column 0); a
    # student takes the 5 of x[1,3] (position 2) and routes G there: x carried forward
    assert truth[1, 1] == 6
    theirs = truth.copy()
    theirs[1, 1] = 2
    code, marks, statuses = marked(args, {"argmax": theirs, "x": routed_by_hand(theirs)})
    assert code == 1
    assert marks == counts(wrong=1, carried=1, first="argmax")
    assert statuses == {"argmax": WRONG, "x": CARRIED}
    # the right argmax and a ∂L/∂x routed elsewhere: wrong
    code, marks, statuses = marked(args, {"argmax": truth, "x": routed_by_hand(theirs)})
    assert marks == counts(right=1, wrong=1, first="x")
    assert statuses == {"argmax": RIGHT, "x": WRONG}
    # a wrong argmax and the right ∂L/∂x: the argmax wrong, x right
    code, marks, statuses = marked(args, {"argmax": theirs, "x": dx})
    assert statuses == {"argmax": WRONG, "x": RIGHT}


@pytest.mark.parametrize("argmax", ["9", "1.5", "-1"])
def test_maxpool_an_argmax_that_is_no_position_carries_nothing(argmax):
    """Outside 0 … kh·kw − 1 or not whole: marked wrong, and x is not recomputed from it."""
    args = ["layer", "maxpool2d", *POOL]
    theirs = argmax_by_hand().tolist()
    theirs[0][0] = argmax
    sheet = ";".join(",".join(str(v) for v in row) for row in theirs)
    run = invoke(*args, "--expect", f"argmax={sheet}", "--expect",
                 f"x={view_text(routed_by_hand(argmax_by_hand()) + 1)}", "--json")  # fmt: skip
    assert run.code == 1
    assert run.json()["marks"] == counts(wrong=2, first="argmax")


def divisors_by_hand(include_pad: bool) -> np.ndarray:
    inside = pad2(np.ones_like(XP), P, P, value=1.0 if include_pad else 0.0)
    out = np.zeros_like(GP)
    for i, j, cells in windows():
        out[i, j] = sum(inside[r, c] for r, c in cells)
    return out


def shared_by_hand(divisor: np.ndarray) -> np.ndarray:
    """∂L/∂x: G[i,j]/divisor[i,j] added to every entry of window (i, j)."""
    dx = np.zeros((XP.shape[0] + 2 * P, XP.shape[1] + 2 * P))
    for i, j, cells in windows():
        for r, c in cells:
            dx[r, c] += GP[i, j] / divisor[i, j]
    return dx[P:-P, P:-P]


def test_avgpool_right_wrong_and_carried_forward():
    """count_include_pad=false: a corner window averages 4 entries, an edge window 6; the
    student who divides by 9 everywhere (the padding counted) carries it into ∂L/∂x."""
    args = ["layer", "avgpool2d", *POOL, "--param", "count_include_pad=false"]
    truth = divisors_by_hand(include_pad=False)
    assert truth[0, 0] == 4 and truth[0, 1] == 6 and truth[1, 1] == 9
    code, marks, statuses = marked(args, {"divisor": truth, "x": shared_by_hand(truth)})
    assert code == 0
    assert marks == counts(right=2) and statuses == {"divisor": RIGHT, "x": RIGHT}
    nine = divisors_by_hand(include_pad=True)
    assert (nine == 9).all()
    code, marks, statuses = marked(args, {"divisor": nine, "x": shared_by_hand(nine)})
    assert code == 1
    assert marks == counts(wrong=1, carried=1, first="divisor")
    assert statuses == {"divisor": WRONG, "x": CARRIED}
    code, marks, statuses = marked(args, {"divisor": truth, "x": shared_by_hand(nine)})
    assert marks == counts(right=1, wrong=1, first="x")
    assert statuses == {"divisor": RIGHT, "x": WRONG}


def test_avgpool_divisor_override_forgotten_is_carried_forward():
    """divisor_override=4: the student divides by the 9 entries of each window instead and
    carries it into ∂L/∂x."""
    args = ["layer", "avgpool2d", *POOL, "--param", "divisor_override=4"]
    four, nine = np.full_like(GP, 4.0), divisors_by_hand(include_pad=True)
    code, marks, statuses = marked(args, {"divisor": four, "x": shared_by_hand(four)})
    assert code == 0 and statuses == {"divisor": RIGHT, "x": RIGHT}
    code, marks, statuses = marked(args, {"divisor": nine, "x": shared_by_hand(nine)})
    assert marks == counts(wrong=1, carried=1, first="divisor")
    assert statuses == {"divisor": WRONG, "x": CARRIED}


def test_avgpool_a_zero_divisor_is_marked_not_a_crash():
    args = ["layer", "avgpool2d", *POOL]
    zero = np.zeros_like(GP)
    run = invoke(*args, *expect(divisor=zero, x=shared_by_hand(divisors_by_hand(True)) + 1),
                 "--json")  # fmt: skip
    assert run.code == 1
    assert run.json()["marks"] == counts(wrong=2, first="divisor")


def test_pooling_carried_forward_in_the_table():
    args = ["layer", "maxpool2d", *POOL]
    theirs = argmax_by_hand()
    theirs[1, 1] = 2
    run = invoke(*args, *expect(argmax=theirs, x=routed_by_hand(theirs)))
    assert run.code == 1
    flat = " ".join(run.stdout.split())
    assert "│ argmax │ ✗ wrong │" in flat
    assert "│ x │ → carried forward │" in flat
    assert "0 right, 1 carried forward, 1 wrong" in flat


# ---------------------------------------------------------------- one chain, every geometry

CHAIN_CASES = [
    ("conv2d", {"x": (2, 4, 5, 6), "weight": (6, 2, 2, 3), "bias": (6,)},
     {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2}),
    ("conv2d", {"x": (1, 3, 5, 5), "weight": (3, 1, 3, 3), "bias": None},
     {"stride": 3, "padding": 0, "dilation": 1, "groups": 3}),
    ("conv1d", {"x": (2, 2, 9), "weight": (4, 2, 3), "bias": (4,)},
     {"stride": 2, "padding": 2, "dilation": 3, "groups": 1}),
    ("maxpool2d", {"x": (2, 2, 5, 6)},
     {"kernel_size": (3, 2), "stride": (2, 3), "padding": 1, "dilation": 1, "ceil_mode": True}),
    ("maxpool2d", {"x": (1, 1, 7, 7)},
     {"kernel_size": 2, "stride": 1, "padding": 0, "dilation": 2, "ceil_mode": False}),
    ("avgpool2d", {"x": (2, 1, 5, 6)},
     {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False,
      "ceil_mode": True}),
    ("avgpool2d", {"x": (1, 2, 4, 4)}, {"kernel_size": 2, "stride": 1, "divisor_override": 3}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "shapes", "params"), CHAIN_CASES)
def test_the_steps_chain_reaches_the_backwards_gradients(name, shapes, params):
    """The keyed steps, each computed from the steps before it, end in the closed-form
    backward's ∂L/∂x, ∂L/∂W, ∂L/∂b: marking recomputes through the same chain."""
    import torch

    from gradcli.ops.layers import LAYERS

    layer = LAYERS[name]
    params = {param.name: param.default for param in layer.params} | params
    generator = torch.Generator().manual_seed(7)
    tensors = {key: None if shape is None else torch.randn(*shape, generator=generator,
                                                           dtype=torch.float64)
               for key, shape in shapes.items()}  # fmt: skip
    y = layer.forward(tensors, params)
    g = torch.randn(y.shape, generator=generator, dtype=torch.float64)
    grads = layer.backward(tensors, params, g)
    steps = {step.key: step for step in layer.steps(tensors, params, g) if step.key}
    for key, grad in grads.items():
        assert key in steps, key
        torch.testing.assert_close(steps[key].tensor.reshape(grad.shape), grad)
    for step in steps.values():
        assert step.compute is not None, step.key
        again = step.compute({k: steps[k].tensor for k in step.depends_on})
        torch.testing.assert_close(again, step.tensor)


@pytest.mark.parametrize(
    ("answer", "slip"),
    [
        (lambda w: w, "W itself: the kernel not flipped"),
        (lambda w: w[::-1, :], "W flipped upside down only"),
        (lambda w: w[:, ::-1], "W mirrored left to right only"),
        (lambda w: w.T, "W transposed (kh and kw swapped) instead of rotated"),
    ],
)
def test_a_wrong_rotation_of_the_kernel_is_named(answer, slip):
    """rot180(W) is W reversed in both spatial dimensions (NumPy's w[::-1, ::-1]); the
    half-done rotations students write are named."""
    run = invoke(*CONV2D, *expect(w_rot=answer(W2)), "--json")
    assert run.code == 1
    part = run.json()["check"]["parts"]["w_rot"]
    assert not part["passed"]
    assert part["hint"].startswith(f"your answer matches {slip}")
