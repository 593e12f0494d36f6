"""conv1d and conv2d (cross-correlation, as torch's): ∂L/∂x is G, spread by the stride
and padded, correlated with the flipped kernel; ∂L/∂W is x correlated with G. conv1d is
computed as conv2d with height 1.

With ``groups`` = g the C input and O output channels split into g groups; output o sees
only the C/g input channels of its group (the weight is O × C/g × k…), so each group is a
convolution of its own and both gradients are computed group by group (depthwise: g = C).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gradcli._torch import F, torch
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
    _BIAS_HELP,
    STEP_LINES,
    Layer,
    LayerInput,
    LayerParam,
    Params,
    Shape,
    Shapes,
    Step,
    Tensors,
    _first,
    _names,
    _need_vector,
    _num,
    _pair,
    _prod,
    _show,
    dims_text,
    staged,
)

if TYPE_CHECKING:
    from torch import Tensor


def _conv_names(nd: int) -> tuple[str, ...]:
    return ("h", "w") if nd == 2 else ("l",)


def _conv_reshape_for(nd: int) -> Callable[[str, Shape], Shape]:
    """A given x of nd dimensions is one single-channel sample (1×1×H×W), a given weight of
    nd dimensions one kernel (1×1×kh×kw): what a student writes for one image."""

    def reshape(name: str, shape: Shape) -> Shape:
        return (1, 1, *shape) if name in ("x", "weight") and len(shape) == nd else shape

    return reshape


# an example of each form: (the nd-D form, the full form written as JSON, its shape)
_CONV_EXAMPLES = {
    (2, "x"): ("'1,2,3;4,5,6;7,8,9' (one 3×3 image)", "'[[[[1,2,3],[4,5,6],[7,8,9]]]]'", "1×1×3×3"),
    (2, "weight"): ("'1,0;0,-1' (one 2×2 kernel)", "'[[[[1,0],[0,-1]]]]'", "1×1×2×2"),
    (1, "x"): ("'1,2,3,4' (one signal of 4)", "'[[[1,2,3,4]]]'", "1×1×4"),
    (1, "weight"): ("'1,-1' (one kernel of 2)", "'[[[1,-1]]]'", "1×1×2"),
}


def _need_conv_rank(nd: int, what: str, shape: Shape) -> None:
    """x and weight are nd + 2 dimensions (or nd, read as one channel); any other rank is an
    error that shows both forms, the full one as JSON."""
    if len(shape) == nd + 2:
        return
    full = (
        ("N×C×H×W" if nd == 2 else "N×C×L")
        if what == "x"
        else ("O×C×kh×kw" if nd == 2 else "O×C×K")
    )
    short, as_json, example_shape = _CONV_EXAMPLES[(nd, what)]
    hint = ""
    if len(shape) == nd + 1:
        hint = (
            "; for one sample, put your tensor inside one more pair of brackets"
            if what == "x"
            else "; give every (output, input) channel pair its kernel"
        )
    raise InputError(
        f"conv{nd}d: --{what} {dims_text(shape)} has {len(shape)} dimension"
        f"{'s' if len(shape) != 1 else ''}; give {nd + 2} ({full}), as JSON e.g. --{what} "
        f"{as_json} ({example_shape}), or {nd}, e.g. --{what} {short}{hint}"
    )


def _conv_shape_for(nd: int) -> Callable[[Shapes, Params], Shape]:
    layer = f"conv{nd}d"

    def shape(shapes: Shapes, params: Params) -> Shape:
        x, w, b = shapes["x"], shapes["weight"], shapes.get("bias")
        _need_conv_rank(nd, "x", x)
        _need_conv_rank(nd, "weight", w)
        _check_channels(layer, x, w, params["groups"])
        both = f"x is {dims_text(x)}, weight is {dims_text(w)}"
        _need_vector(layer, "bias", b, w[0], f"weight is {dims_text(w)} ({w[0]} output channels)")
        out = []
        for axis, size, k, s, pad, d in _conv_axes(nd, x, w, params):
            extent = d * (k - 1) + 1
            if size + 2 * pad < extent:
                spans = f" spans {extent} with dilation {d}" if d > 1 else f" is {k}"
                raise InputError(
                    f"{layer}: the kernel{spans} along {axis} but the padded input is only "
                    f"{size + 2 * pad} ({size} + 2×{pad}); {both}"
                )
            out.append((size + 2 * pad - extent) // s + 1)
        return (x[0], w[0], *out)

    return shape


def _check_channels(layer: str, x: Shape, w: Shape, groups: int) -> None:
    """C and O must split into ``groups`` groups, and W hold C/groups channels per kernel."""
    both = f"x is {dims_text(x)}, weight is {dims_text(w)}"
    if x[1] % groups:
        raise InputError(
            f"{layer}: --param groups={groups} does not divide the {x[1]} input channels of "
            f"--x ({both}); torch requires in_channels % groups == 0"
        )
    if w[0] % groups:
        raise InputError(
            f"{layer}: --param groups={groups} does not divide the {w[0]} output channels of "
            f"--weight ({both}); torch requires out_channels % groups == 0"
        )
    if w[1] == x[1] // groups:
        return
    if groups == 1:
        hint = ""
        if x[1] % w[1] == 0 and w[0] % (x[1] // w[1]) == 0:
            hint = f"; for a grouped convolution add --param groups={x[1] // w[1]}"
        raise InputError(
            f"{layer}: --weight has {w[1]} input channels but --x has {x[1]} ({both}){hint}"
        )
    raise InputError(
        f"{layer}: --weight has {w[1]} input channels per kernel but --x has {x[1]} in "
        f"{groups} groups, {x[1] // groups} per group ({both}); with groups the weight is "
        f"O×C/groups×{'kh×kw' if len(w) == 4 else 'K'}"
    )


def _conv_axes(nd: int, x: Shape, w: Shape, params: Params) -> list[tuple]:
    """(axis name, input size, kernel size, stride, padding, dilation) per spatial axis."""
    stride, padding, dilation = (
        _pair(params["stride"]),
        _pair(params["padding"]),
        _pair(params["dilation"]),
    )
    names = _conv_names(nd)
    if nd == 1:
        return [(names[0], x[2], w[2], stride[0], padding[0], dilation[0])]
    return [(names[i], x[2 + i], w[2 + i], stride[i], padding[i], dilation[i]) for i in range(2)]


def _conv_default(name: str, shapes: Shapes, params: Params) -> Shape | None:
    if name == "bias" and shapes.get("weight"):
        return (shapes["weight"][0],)
    return None


def _conv_forward_for(nd: int) -> Callable[[Tensors, Params], Tensor]:
    def forward(t: Tensors, p: Params) -> Tensor:
        conv = F.conv2d if nd == 2 else F.conv1d
        stride, padding, dilation, groups = p["stride"], p["padding"], p["dilation"], p["groups"]
        return conv(t["x"], t["weight"], t.get("bias"), stride, padding, dilation, groups)

    return forward


def _as_2d(t: Tensors, p: Params, nd: int) -> tuple[Tensor, Tensor, tuple, tuple, tuple]:
    """x, W and stride, padding, dilation as for conv2d (conv1d is conv2d with height 1)."""
    x, w = t["x"], t["weight"]
    if nd == 1:
        return (
            x.unsqueeze(2),
            w.unsqueeze(2),
            (1, p["stride"]),
            (0, p["padding"]),
            (1, p["dilation"]),
        )
    return x, w, _pair(p["stride"]), _pair(p["padding"]), _pair(p["dilation"])


@dataclass
class _InputGradientParts:
    """The stages of ∂L/∂x for a convolution, as a student writes them down."""

    spread: Tensor  # G↑s: G with s − 1 zeros between entries
    full: Tensor  # G↑s padded by d(k − 1) zeros on each side
    padded: Tensor  # ∂L/∂x_pad: full ⋆ rot180(W), zero where no window reached
    dx: Tensor  # ∂L/∂x: the padding cropped off


def conv2d_input_parts(
    g: Tensor,
    w: Tensor,
    input_hw: tuple[int, int],
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int = 1,
) -> _InputGradientParts:
    """∂L/∂x: the correlation of G (stride-dilated, zero-padded) with the flipped kernel.

    G↑s puts s − 1 zeros between G's entries; padding it by d(k − 1) on each side and
    correlating with rot180(W), channels swapped (C×O×kh×kw; with groups, swapped within
    each group: C × O/groups × kh×kw, group by group), with dilation d gives ∂L/∂x_pad;
    rows and columns no window reached get 0; cropping p gives ∂L/∂x. Each stage is a
    function of its own, so that the worked solution recomputes a stage from a student's
    values of the stages before it.
    """
    height, width = input_hw
    spread = spread_upstream(g, stride)
    full = pad_full(spread, (w.shape[2], w.shape[3]), dilation)
    hp, wp = height + 2 * padding[0], width + 2 * padding[1]
    padded = correlate_flipped(full, w.flip(2, 3), (hp, wp), dilation, groups)
    return _InputGradientParts(spread, full, padded, crop_padding(padded, padding, input_hw))


def spread_upstream(g: Tensor, stride: tuple) -> Tensor:
    """G↑s: G with s − 1 zeros between its entries along each axis."""
    (sh, sw), (n, o, ho, wo) = stride, g.shape
    spread = g.new_zeros(n, o, (ho - 1) * sh + 1, (wo - 1) * sw + 1)
    spread[:, :, ::sh, ::sw] = g
    return spread


def pad_full(spread: Tensor, kernel: tuple[int, int], dilation: tuple) -> Tensor:
    """G↑s zero-padded by d(k − 1) on each side: the input of the full correlation."""
    (kh, kw), (dh, dw) = kernel, dilation
    return F.pad(spread, (dw * (kw - 1), dw * (kw - 1), dh * (kh - 1), dh * (kh - 1)))


def correlate_flipped(
    full: Tensor, w_rot: Tensor, padded_hw: tuple[int, int], dilation: tuple, groups: int
) -> Tensor:
    """∂L/∂x_pad = pad(G↑s) ⋆ rot180(W): channels swapped (within each group), dilation d;
    the rows and columns of x_pad no window reached (a stride's leftover) are 0.
    (``F.conv2d`` is used here as the plain correlation it computes.)"""
    reached = F.conv2d(full, _swap_channels(w_rot, groups), dilation=dilation, groups=groups)
    hp, wp = padded_hw
    return F.pad(reached, (0, wp - reached.shape[3], 0, hp - reached.shape[2]))


def crop_padding(padded: Tensor, padding: tuple, input_hw: tuple[int, int]) -> Tensor:
    """∂L/∂x: ∂L/∂x_pad with the padding p cropped off."""
    (ph, pw), (height, width) = padding, input_hw
    return padded[:, :, ph : ph + height, pw : pw + width]


def _swap_channels(w: Tensor, groups: int) -> Tensor:
    """O × C/g × kh×kw → C × O/g × kh×kw: input and output channels swapped in each group."""
    o, c_per, kh, kw = w.shape
    return (
        w.reshape(groups, o // groups, c_per, kh, kw)
        .transpose(1, 2)
        .reshape(groups * c_per, o // groups, kh, kw)
    )


def conv2d_input_gradient(
    g: Tensor,
    w: Tensor,
    input_hw: tuple[int, int],
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int = 1,
) -> Tensor:
    """∂L/∂x of a convolution (see :func:`conv2d_input_parts`)."""
    return conv2d_input_parts(g, w, input_hw, stride, padding, dilation, groups).dx


def conv2d_weight_gradient(
    x: Tensor,
    g: Tensor,
    kernel: tuple[int, int],
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    groups: int = 1,
) -> Tensor:
    """∂L/∂W[o,c,p,q] = Σ_{n,i,j} G[n,o,i,j]·x_pad[n, g·C/groups + c, i·s+p·d, j·s+q·d],
    g = the group of o (g = 0 without groups).

    ``unfold`` lists, for every output position (i, j), the input patch its window
    covers; each weight entry is then the sum over samples and positions of G times the
    patch entry it meets: the correlation of x with G, within each group.
    """
    n, o, c = g.shape[0], g.shape[1], x.shape[1]
    patches = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)
    patches = patches.reshape(n, groups, -1, patches.shape[-1])  # N × g × C/g·kh·kw × P
    per_group = g.reshape(n, groups, o // groups, -1)  # N × g × O/g × P
    grad = torch.einsum("ngop,ngkp->gok", per_group, patches)  # summed over n and positions
    return grad.reshape(o, c // groups, *kernel)


def _conv_backward_for(nd: int) -> Callable[[Tensors, Params, Tensor], dict[str, Tensor]]:
    def backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
        x, w, stride, padding, dilation = _as_2d(t, p, nd)
        g2 = g.unsqueeze(2) if nd == 1 else g
        hw, groups = (x.shape[2], x.shape[3]), p["groups"]
        dx = conv2d_input_gradient(g2, w, hw, stride, padding, dilation, groups)
        dw = conv2d_weight_gradient(x, g2, tuple(w.shape[2:]), stride, padding, dilation, groups)
        grads = {"x": dx.squeeze(2) if nd == 1 else dx, "weight": dw.squeeze(2) if nd == 1 else dw}
        if t.get("bias") is not None:
            grads["bias"] = g.sum(dim=[0, *range(2, g.dim())])
        return grads

    return backward


def _conv_steps_for(nd: int) -> Callable[[Tensors, Params, Tensor], list[Step]]:
    def steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
        """The derivation, each keyed stage computed from the stages before it by the
        functions of the hand backward (``compute``): the values shown and the relation
        that marks an answer carried forward are one computation."""
        x, w, stride, padding, dilation = _as_2d(t, p, nd)
        groups, padded, strided = p["groups"], any(padding), stride[0] > 1 or stride[1] > 1
        g2 = g.unsqueeze(2) if nd == 1 else g
        hw, kernel = (x.shape[2], x.shape[3]), (w.shape[2], w.shape[3])
        padded_hw = (hw[0] + 2 * padding[0], hw[1] + 2 * padding[1])
        parts = conv2d_input_parts(g2, w, hw, stride, padding, dilation, groups)
        x_pad = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
        names = ("n", "c", *_conv_names(nd))
        out_names = ("n", "o", *_conv_names(nd))
        kernel_names = ("o", "c", *(("p", "q") if nd == 2 else ("p",)))

        def given(v: Tensor, like: Tensor) -> Tensor:  # a stage's value as the 4-D maths takes
            return v.reshape(like.shape)

        result = [Step("G = ∂L/∂y (upstream)", "", g, out_names)]
        if groups > 1:
            result.append(_groups_step(x.shape[1], w.shape[0], groups))
        if padded:
            result.append(
                Step("x_pad (x with zero padding)", "", dim_names=names, key="x_pad",
                     compute=lambda v: _back(x_pad, nd))
            )  # fmt: skip
        result.append(_patch_step(x, g2, stride, padding, dilation, w, nd, groups))
        if strided:
            result.append(
                Step("G↑s (G with s − 1 zeros between entries)", "", dim_names=out_names,
                     key="g_spread", compute=lambda v: _back(spread_upstream(g2, stride), nd))
            )  # fmt: skip
        pad = [dilation[i] * (w.shape[2 + i] - 1) for i in range(2)]
        result.append(
            Step(
                f"G↑s zero-padded by d(k − 1) = {pad[1] if nd == 1 else _show(tuple(pad))}",
                "the input of the full correlation",
                dim_names=out_names,
                symbol="pad(G↑s)",
                key="g_full",
                depends_on=("g_spread",) if strided else (),
                compute=lambda v: _back(
                    pad_full(
                        given(v["g_spread"], parts.spread) if strided else g2, kernel, dilation
                    ),
                    nd,
                ),
            )
        )
        result.append(
            Step(
                "rot180(W) (the kernel flipped in every spatial dimension)",
                "",
                dim_names=kernel_names,
                key="w_rot",
                compute=lambda v: _back(w.flip(2, 3), nd),
            )
        )
        target = "∂L/∂x_pad" if padded else "∂L/∂x"
        summed = (
            "correlation summed over o (channels swapped), dilation d"
            if groups == 1
            else "correlation summed over the outputs o of c's group only (channels swapped "
            "within each group), dilation d"
        )
        result.append(
            Step(
                f"{target} = pad(G↑s) ⋆ rot180(W)",
                summed + ("; then crop the padding p to get ∂L/∂x" if padded else ""),
                dim_names=names,
                key="dx_pad" if padded else "x",
                depends_on=("g_full", "w_rot"),
                compute=lambda v: _back(
                    correlate_flipped(
                        given(v["g_full"], parts.full),
                        given(v["w_rot"], w),
                        padded_hw,
                        dilation,
                        groups,
                    ),
                    nd,
                ),
            )
        )
        if padded:  # ∂L/∂x itself: not written out again (its table follows), but marked
            result.append(
                Step("∂L/∂x = crop_p(∂L/∂x_pad)", "", dim_names=names, key="x",
                     depends_on=("dx_pad",), shown=False,
                     compute=lambda v: _back(
                         crop_padding(given(v["dx_pad"], parts.padded), padding, hw), nd))
            )  # fmt: skip
        result.append(_weight_lines(x, g2, stride, padding, dilation, w, nd, groups))
        result.append(
            Step("∂L/∂W = x_pad ⋆ G", "", dim_names=kernel_names, key="weight",
                 depends_on=("x_pad",) if padded else (), shown=False,
                 compute=lambda v: _back(conv2d_weight_gradient(
                     given(v["x_pad"], x_pad) if padded else x, g2, kernel, stride, (0, 0),
                     dilation, groups), nd))
        )  # fmt: skip
        if t.get("bias") is not None:
            result.append(
                Step("∂L/∂b = Σ G", "", dim_names=("o",), key="bias", shown=False,
                     compute=lambda v: g.sum(dim=[0, *range(2, g.dim())]))
            )  # fmt: skip
        return staged(*result)

    return steps


def _groups_step(channels: int, outputs: int, groups: int) -> Step:
    """Which input channels each group of outputs sees."""
    c_per, o_per = channels // groups, outputs // groups
    seen = "channel" if c_per == 1 else "channels"
    lines = [
        f"group {k}: y channels {_span(k * o_per, o_per, 1)} (W rows {_span(k * o_per, o_per, 1)})"
        f" see x {seen} {_span(k * c_per, c_per, 1)} only"
        for k in range(min(groups, STEP_LINES))
    ]
    if groups > len(lines):
        lines.append(f"… {groups - len(lines)} more groups, each {c_per} channel(s) further")
    kind = " (depthwise)" if groups == channels else ""
    return Step(
        f"groups = {groups}{kind}: {channels} input channels in groups of {c_per}, "
        f"{outputs} outputs in groups of {o_per}",
        "output o belongs to group g = o // (O/groups) and sums over x channels "
        "g·C/groups … (g + 1)·C/groups − 1",
        lines=tuple(lines),
    )


def _back(v: Tensor, nd: int) -> Tensor:
    """Undo conv1d's extra height-1 dimension."""
    return v.squeeze(2) if nd == 1 else v


def _span(start: int, count: int, step: int) -> str:
    last = start + (count - 1) * step
    if count == 1:
        return f"{start}"
    return f"{start}:{last + 1}" + (f":{step}" if step > 1 else "")


def _patch_step(x, g, stride, padding, dilation, w, nd, groups) -> Step:
    """Which input patch meets the kernel at each output position."""
    n, o, ho, wo = g.shape
    kh, kw = w.shape[2], w.shape[3]
    (sh, sw), (dh, dw) = stride, dilation
    c_per, o_per = x.shape[1] // groups, o // groups
    source = "x_pad" if any(padding) else "x"
    lines = []
    for b, k, i, j in _first(STEP_LINES, n, o, ho, wo):
        rows, cols = _span(i * sh, kh, dh), _span(j * sw, kw, dw)
        channels = ":" if groups == 1 else _span((k // o_per) * c_per, c_per, 1)
        where = f"{b}, {channels}, {cols}" if nd == 1 else f"{b}, {channels}, {rows}, {cols}"
        out = f"{b},{k},{j}" if nd == 1 else f"{b},{k},{i},{j}"
        lines.append(f"y[{out}] = b[{k}] + Σ W[{k}] ⊙ {source}[{where}]")
    total = n * o * ho * wo
    if total > len(lines):
        lines.append(f"… {total - len(lines)} more output positions, each one window further")
    return Step("Which input patch meets the kernel (forward)", "", lines=tuple(lines))


def _weight_lines(x, g, stride, padding, dilation, w, nd, groups) -> Step:
    """Each weight entry meets a strided sub-grid of x_pad: ∂L/∂W is x correlated with G."""
    o, c, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = g.shape[2], g.shape[3]
    grad = conv2d_weight_gradient(x, g, (kh, kw), stride, padding, dilation, groups)
    source = "x_pad" if any(padding) else "x"
    o_per = o // groups
    lines = []
    for a, b, p, q in _first(STEP_LINES, o, c, kh, kw):
        rows, cols = _span(p * dh, ho, sh), _span(q * dw, wo, sw)
        channel = (a // o_per) * c + b  # x's channel: kernel channel b of a's group
        value = _num(float(grad[a, b, p, q]))
        if nd == 1:
            lines.append(
                f"∂L/∂W[{a},{b},{q}] = Σ G[:,{a}] ⊙ {source}[:,{channel},{cols}] = {value}"
            )
        else:
            lines.append(
                f"∂L/∂W[{a},{b},{p},{q}] = Σ G[:,{a}] ⊙ {source}[:,{channel},{rows},{cols}] "
                f"= {value}"
            )
    total = o * c * kh * kw
    if total > len(lines):
        lines.append(f"… {total - len(lines)} more weight entries (see ∂L/∂weight)")
    where = "c" if groups == 1 else "g·C/groups + c"
    return Step(
        "Which input entries each weight meets (∂L/∂W = correlation of x with G)",
        f"∂L/∂W[o,c,p,q] = Σ_n,i,j G[n,o,i,j] · {source}[n,{where},i·s+p·d, j·s+q·d]"
        + ("" if groups == 1 else ", g = o // (O/groups)"),
        lines=tuple(lines),
    )


def _conv_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    """x's sample n reaches y's sample n; a kernel (and its bias) reaches its output
    channel. With groups a slice of kernels no longer splits into the same groups, so
    kernels and biases are differenced whole-forward, one at a time."""
    if params["groups"] > 1:
        return [{"x": 0, "y": 0}]
    return [{"x": 0, "y": 0}, {"weight": 0, "bias": 0, "y": 1}]


def _conv_workspace(shapes: Shapes, params: Params, out: Shape) -> int:
    """unfold's patches, N·C·(kernel entries)·(output positions) — each group unfolds its
    own C/groups channels, so groups leave the total as it is (the grouped copy the weight
    gradient's einsum makes is within the 3 workspaces memory_estimate counts) — G↑s
    padded, and x padded."""
    x, w = shapes["x"], shapes["weight"]
    patches = x[0] * x[1] * _prod(w[2:]) * _prod(out[2:])
    stride = _pair(params["stride"])
    spread = (
        out[0] * out[1] * _prod(s * n + k for s, n, k in zip(stride, out[2:], w[2:], strict=False))
    )
    return patches + spread + _prod(x)


def _conv_mads(shapes: Shapes, params: Params, out: Shape) -> int:
    """Each output entry sums over its kernel: C/groups channels × kernel entries (the
    weight's C/groups×kh×kw), so groups divide the work by groups."""
    w = shapes["weight"]
    return _prod(out) * _prod(w[1:])


def _conv_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    if name == "w_rot":
        return _rotation_slips(t["weight"])
    if name != "x":
        return []
    nd = t["x"].dim() - 2
    x, w, stride, padding, dilation = _as_2d(t, p, nd)
    g2 = g.unsqueeze(2) if nd == 1 else g
    unflipped = conv2d_input_gradient(
        g2, w.flip(2, 3), (x.shape[2], x.shape[3]), stride, padding, dilation, p["groups"]
    )
    return [
        (
            "∂L/∂x with the kernel not flipped (correlation instead of convolution)",
            _back(unflipped, nd),
        )
    ]


def _rotation_slips(w: Tensor) -> list[tuple[str, Tensor]]:
    """rot180(W) written as W itself, or (2-D) flipped along one spatial dimension only."""
    slips = [("W itself: the kernel not flipped", w)]
    if w.dim() == 4:
        slips += [
            ("W flipped upside down only (rows reversed, not the columns)", w.flip(2)),
            ("W mirrored left to right only (columns reversed, not the rows)", w.flip(3)),
        ]
        if w.shape[2] == w.shape[3]:  # a square kernel: its transpose has rot180's shape
            slips.append(("W transposed (kh and kw swapped) instead of rotated", w.transpose(2, 3)))
    return slips


def _conv_notes(params: Params, shapes: Shapes) -> list[str]:
    groups = params["groups"]
    if groups == 1:
        return []
    c, o = shapes["x"][1], shapes["weight"][0]
    if groups == c:
        own = "kernel" if o == c else f"{o // c} kernels (channel multiplier {o // c})"
        return [
            f"depthwise convolution (groups = C = {c}): each input channel has its own {own};"
            " ∂L/∂x[:, c] comes from channel c's outputs alone"
        ]
    return [
        f"groups = {groups}: x's {c} channels and y's {o} split into {groups} groups of "
        f"{c // groups} and {o // groups}; each output sums over its own group's channels"
    ]


_SIZE_PARAMS = (
    LayerParam("stride", "pair", 1, "step between windows", minimum=1),
    LayerParam("padding", "pair", 0, "zeros added on each side", minimum=0),
    LayerParam("dilation", "pair", 1, "spacing between kernel entries", minimum=1),
)
_GROUPS = LayerParam(
    "groups", "int", 1, "channel groups; C and O divisible by it (depthwise: groups = C)",
    minimum=1,
)  # fmt: skip


def _ints_only(params: tuple[LayerParam, ...]) -> tuple[LayerParam, ...]:
    return tuple(LayerParam(p.name, "int", p.default, p.help, minimum=p.minimum) for p in params)


def _conv(nd: int) -> Layer:
    x_shape, w_shape = ("N×C×H×W", "O×C/groups×kh×kw") if nd == 2 else ("N×C×L", "O×C/groups×K")
    spatial = _conv_names(nd)
    corr = "W[o,c] ⋆ x_pad[n, g·C/groups + c] (correlation, stride s, dilation d; g = o's group"
    corr += ", c < C/groups)"
    return Layer(
        name=f"conv{nd}d",
        summary=f"{nd}-D convolution (cross-correlation, as torch's F.conv{nd}d)",
        inputs=(
            LayerInput("x", x_shape, "input", _names(("n", "c", *spatial))),
            LayerInput("weight", w_shape, "kernels", _names(("o", "c", *("pq"[:nd]))), symbol="W"),
            LayerInput(
                "bias",
                "O",
                _BIAS_HELP,
                _names(("o",)),
                none_allowed=True,
                symbol="b",
                init="fan_in_uniform",
                init_owner=f"nn.Conv{nd}d",
            ),
        ),
        params=(*(_SIZE_PARAMS if nd == 2 else _ints_only(_SIZE_PARAMS)), _GROUPS),
        forward_formula=f"y[n,o] = b[o] + Σ_c {corr}",
        backward_formulas={
            "x": "∂L/∂x = crop_p( pad_{d(k−1)}(G↑s) ⋆ rot180(W) ), channels swapped (within "
            "each group), dilation d: G (with s − 1 zeros between entries) correlated with the "
            "flipped kernel",
            "weight": "∂L/∂W[o,c,p,q] = Σ_n,i,j G[n,o,i,j]·x_pad[n, g·C/groups + c, i·s+p·d,"
            " j·s+q·d]: x correlated with G, group by group",
            "bias": "∂L/∂b[o] = Σ_n,i,j G[n,o,i,j]",
        },
        output_shape=_conv_shape_for(nd),
        default_shape=_conv_default,
        forward=_conv_forward_for(nd),
        backward=_conv_backward_for(nd),
        steps=_conv_steps_for(nd),
        step_keys=(
            ("x_pad", "x with zero padding (with padding)"),
            ("g_spread", "G↑s, G with s − 1 zeros between entries (with stride)"),
            ("g_full", "pad(G↑s), the input of the full correlation"),
            ("w_rot", "rot180(W), the kernel flipped"),
            ("dx_pad", "∂L/∂x_pad, before the padding is cropped (with padding)"),
        ),
        output_dims=lambda shapes: ("n", "o", *spatial),
        groups=_conv_groups,
        workspace=_conv_workspace,
        multiply_adds=_conv_mads,
        slips=_conv_slips,
        notes=_conv_notes,
        reshape=_conv_reshape_for(nd),
        shown_as_given=("x", "weight"),
    )


CONV1D = _conv(1)
CONV2D = _conv(2)
