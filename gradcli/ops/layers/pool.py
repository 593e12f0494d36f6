"""maxpool2d and avgpool2d: every window unfolded into a column; G goes back to each
window's first maximum, or is spread over the window divided by its size (or by
``divisor_override``, one number for every window).

With ``ceil_mode`` the output size rounds up, so a last window may run past the padded
input (torch keeps it only when it starts inside the input or the left padding); its
entries outside are left out of the max, and of avgpool's divisor as torch counts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gradcli._torch import F, torch
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
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
    _need_rank,
    _num,
    _pair,
    _prod,
    _show,
    dims_text,
    staged,
)

if TYPE_CHECKING:
    from torch import Tensor


def _pool_geometry(params: Params) -> tuple[tuple, tuple, tuple, tuple]:
    kernel = _pair(params["kernel_size"])
    stride = _pair(params["stride"]) if params["stride"] is not None else kernel
    padding = _pair(params["padding"])
    dilation = _pair(params.get("dilation", 1))
    return kernel, stride, padding, dilation


def output_size(size: int, extent: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """torch's pooling output size along one axis (ATen's ``pooling_output_shape``).

    ⌊(size + 2p − extent)/s⌋ + 1, or with ceil_mode ⌈…⌉ + 1 less one when that last
    window would start in the right padding (at or past size + p, in padded coordinates).
    """
    span = size + 2 * pad - extent
    count = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (count - 1) * stride >= size + pad:
        count -= 1
    return count


def _overhang(size: int, extent: int, stride: int, pad: int, count: int) -> int:
    """How far the last window runs past the padded input (ceil_mode only; else 0)."""
    return max(0, (count - 1) * stride + extent - (size + 2 * pad))


def _pool_shape_for(layer: str) -> Callable[[Shapes, Params], Shape]:
    def shape(shapes: Shapes, params: Params) -> Shape:
        x = shapes["x"]
        _need_rank(layer, "x", x, (4,), "N×C×H×W")
        kernel, stride, padding, dilation = _pool_geometry(params)
        out = []
        for axis, size, k, s, pad, d in zip(
            ("h", "w"), x[2:], kernel, stride, padding, dilation, strict=True
        ):
            extent = d * (k - 1) + 1
            limit = extent // 2 if layer == "maxpool2d" else k // 2
            if pad > limit:
                raise InputError(
                    f"{layer}: padding={pad} along {axis} is more than half the kernel "
                    f"({'extent ' + str(extent) if d > 1 else str(k)}, so at most {limit}), "
                    "which torch refuses"
                )
            if size + 2 * pad < extent:
                raise InputError(
                    f"{layer}: the window ({extent} along {axis}) is larger than the padded "
                    f"input ({size} + 2×{pad} = {size + 2 * pad}); x is {dims_text(x)}, "
                    f"kernel_size is {_show(params['kernel_size'])}"
                )
            out.append(output_size(size, extent, s, pad, params["ceil_mode"]))
        _check_divisor(layer, params.get("divisor_override"))
        return (x[0], x[1], *out)

    return shape


def _check_divisor(layer: str, divisor: int | None) -> None:
    """divisor_override divides every window's sum: a positive count, or none."""
    if divisor is not None and divisor < 1:
        why = "torch refuses 0" if divisor == 0 else "a negative divisor is no average"
        raise InputError(
            f"{layer}: --param divisor_override={divisor} must be ≥ 1 (every window's sum is "
            f"divided by it; {why}), or none to divide by the entries counted"
        )


def _pool_resolve(shapes: Shapes, params: Params, dtype: str) -> dict[str, Any]:
    if params["stride"] is None:
        return {"stride": params["kernel_size"]}
    return {}


def _geometry(x_hw: Sequence[int], params: Params) -> tuple:
    """kernel, stride, dilation and the padding on each side: (top, bottom, left, right),
    bottom and right grown by the overhang of a ceil_mode window."""
    kernel, stride, padding, dilation = _pool_geometry(params)
    extra = []
    for size, k, s, pad, d in zip(x_hw, kernel, stride, padding, dilation, strict=True):
        extent = d * (k - 1) + 1
        count = output_size(size, extent, s, pad, params["ceil_mode"])
        extra.append(_overhang(size, extent, s, pad, count))
    sides = (padding[0], padding[0] + extra[0], padding[1], padding[1] + extra[1])
    return kernel, stride, dilation, sides


def _pad(x: Tensor, sides: tuple, value: float) -> Tensor:
    top, bottom, left, right = sides
    return F.pad(x, (left, right, top, bottom), value=value)


def _windows(x: Tensor, params: Params, fill: float) -> tuple[Tensor, tuple]:
    """Every pooling window of x as a column: N × C × (window entries) × (positions); the
    padding (and a ceil_mode window's overhang) holds ``fill``."""
    geometry = _geometry(x.shape[2:], params)
    return _unfold(_pad(x, geometry[3], fill), geometry), geometry


def _unfold(padded: Tensor, geometry: tuple) -> Tensor:
    """The windows of an already padded tensor, as columns."""
    kernel, stride, dilation, _ = geometry
    n, c = padded.shape[:2]
    flat = padded.reshape(n * c, 1, *padded.shape[2:])
    cols = F.unfold(flat, kernel, dilation=dilation, stride=stride)
    return cols.reshape(n, c, kernel[0] * kernel[1], -1)


def _fold(cols: Tensor, x: Tensor, geometry: tuple) -> Tensor:
    """Sum window columns back onto x's grid (overlapping windows accumulate), crop padding."""
    kernel, stride, dilation, (top, bottom, left, right) = geometry
    n, c, h, w = x.shape
    flat = cols.reshape(n * c, kernel[0] * kernel[1], -1)
    size = (top + h + bottom, left + w + right)
    folded = F.fold(flat, size, kernel, dilation=dilation, stride=stride)
    return folded.reshape(n, c, *size)[:, :, top : top + h, left : left + w]


def _maxpool_forward(t: Tensors, p: Params) -> Tensor:
    kernel, stride, padding, dilation = _pool_geometry(p)
    return F.max_pool2d(t["x"], kernel, stride, padding, dilation, ceil_mode=p["ceil_mode"])


def _argmax(x: Tensor, p: Params) -> tuple[Tensor, Tensor, tuple]:
    """Each window's columns and the position of its first maximum in scan order."""
    cols, geometry = _windows(x, p, float("-inf"))
    return cols, cols.argmax(dim=2), geometry  # argmax returns the first maximal index


def _maxpool_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x = t["x"]
    _, winner, _ = _argmax(x, p)
    return {"x": _route_max(x, p, winner, g)}


def _route_max(x: Tensor, p: Params, winner: Tensor, g: Tensor) -> Tensor:
    """∂L/∂x: each window's G sent to its entry ``winner`` (the position inside the window,
    scan order, one per window in output order), summed back onto x."""
    n, c = x.shape[:2]
    geometry = _geometry(x.shape[2:], p)
    size = geometry[0][0] * geometry[0][1]
    where = winner.reshape(n, c, 1, -1)
    routed = g.new_zeros(n, c, size, where.shape[-1])
    return _fold(routed.scatter_(2, where, g.reshape(n, c, 1, -1)), x, geometry)


def _window_positions(values: Tensor, size: int) -> Tensor:
    """A student's argmax as positions: whole numbers 0 … size − 1, else ValueError (the
    answer then carries nothing forward)."""
    positions = values.round()
    if not bool(((positions == values) & (positions >= 0) & (positions < size)).all()):
        raise ValueError(f"an argmax is not a position 0 … {size - 1} inside its window")
    return positions.long()


def _maxpool_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x = t["x"]
    _, winner, (kernel, stride, dilation, sides) = _argmax(x, p)
    n, c, ho, wo = g.shape
    lines = []
    for b, ch, i, j in _first(2 * STEP_LINES, n, c, ho, wo):
        k = int(winner[b, ch, i * wo + j])
        h = i * stride[0] + (k // kernel[1]) * dilation[0] - sides[0]
        w = j * stride[1] + (k % kernel[1]) * dilation[1] - sides[2]
        lines.append(
            f"window y[{b},{ch},{i},{j}]: max at x[{b},{ch},{h},{w}] = "
            f"{_num(float(x[b, ch, h, w]))}  →  gets G = {_num(float(g[b, ch, i, j]))}"
        )
    total = n * c * ho * wo
    if total > len(lines):
        lines.append(f"… {total - len(lines)} more windows")
    size = kernel[0] * kernel[1]
    dims = ("n", "c", "i", "j")
    return staged(
        Step("G = ∂L/∂y (upstream)", "", g, dims),
        *_size_steps(x, p),
        Step(
            "argmax (where each window's first maximum sits inside it)",
            f"its position in the window, row by row: 0 … kh·kw − 1 = {size - 1}",
            dim_names=dims,
            symbol="argmax",
            key="argmax",
            compute=lambda v: winner.reshape(g.shape).to(g.dtype),
        ),
        Step(
            "arg-max of each window (ties: the first maximum in scan order, as torch)",
            "∂L/∂x[h,w] = Σ G over the windows whose max is x[h,w]; 0 elsewhere",
            lines=tuple(lines),
        ),
        Step("∂L/∂x: G routed to each window's argmax", "", dim_names=("n", "c", "h", "w"),
             key="x", depends_on=("argmax",), shown=False,
             compute=lambda v: _route_max(x, p, _window_positions(v["argmax"], size), g)),
    )  # fmt: skip


def _maxpool_untrusted(t: Tensors, p: Params, name: str) -> Tensor | None:
    """Entries within a few steps of another entry tied for their window's maximum.

    There the max is not differentiable: a central difference mixes the two sides
    (it gives G/2 to each of two tied entries, torch gives G to the first).
    """
    x = t["x"].double()
    cols, geometry = _windows(x, p, float("-inf"))
    if cols.shape[2] < 2:
        return torch.zeros_like(x, dtype=torch.bool)
    top = cols.topk(2, dim=2).values
    margin = 1e-4 * torch.clamp(top[:, :, :1].abs(), min=1.0)  # ≫ any finite-difference step
    tied = (top[:, :, :1] - top[:, :, 1:2]) <= margin
    near = tied & (cols >= top[:, :, :1] - margin)
    return _fold(near.double(), x, geometry) > 0


def _pool_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    return [{"x": 0, "y": 0}, {"x": 1, "y": 1}]


def _size_steps(x: Tensor, p: Params) -> list[Step]:
    """With ceil_mode: how each output size rounds up, and the windows that run past the
    padded input (nothing without ceil_mode: ⌊…⌋ + 1 windows, each inside)."""
    if not p["ceil_mode"]:
        return []
    kernel, stride, padding, dilation = _pool_geometry(p)
    lines = []
    for axis, size, k, s, pad, d in zip(
        ("H", "W"), x.shape[2:], kernel, stride, padding, dilation, strict=True
    ):
        extent = d * (k - 1) + 1
        up = -(-(size + 2 * pad - extent) // s) + 1
        count = output_size(size, extent, s, pad, True)
        line = f"{axis}_out = ⌈({size} + 2×{pad} − {extent - 1} − 1)/{s}⌉ + 1 = {up}"
        if count < up:
            line += (
                f", but window {up - 1} would start at {(up - 1) * s} ≥ {axis} + p = "
                f"{size + pad} (in the right padding), so {axis}_out = {count}"
            )
        over = _overhang(size, extent, s, pad, count)
        if over:
            line += (
                f"; the last window starts at {(count - 1) * s} and runs {over} past the padded "
                f"input ({size} + 2×{pad} = {size + 2 * pad}): its entries there are left out"
            )
        lines.append(line)
    return [
        Step(
            "output size, ceil_mode: ⌈(size + 2p − d(k − 1) − 1)/s⌉ + 1",
            "a window is kept only when it starts inside x or the left padding (torch's rule)",
            lines=tuple(lines),
        )
    ]


def _pool_workspace(shapes: Shapes, params: Params, out: Shape) -> int:
    """The windows as columns (three copies: the columns, the routed or shared G, the
    folded sums) and x padded twice, a ceil_mode window's overhang (< s) included."""
    kernel, stride, padding, _ = _pool_geometry(params)
    x = shapes["x"]
    padded = (
        x[0] * x[1] * _prod(n + 2 * p + s for n, p, s in zip(x[2:], padding, stride, strict=True))
    )
    return 3 * out[0] * out[1] * _prod(out[2:]) * _prod(kernel) + 2 * padded


def _avgpool_forward(t: Tensors, p: Params) -> Tensor:
    kernel, stride, padding, _ = _pool_geometry(p)
    return F.avg_pool2d(
        t["x"], kernel, stride, padding, p["ceil_mode"], p["count_include_pad"],
        divisor_override=p["divisor_override"],
    )  # fmt: skip


def _avg_divisors(x: Tensor, p: Params) -> Tensor:
    """What each window's sum is divided by: divisor_override when given, else how many
    entries the window averages, as torch counts them: its entries inside the padded input
    (kh·kw, less only where a ceil_mode window runs past it), or with
    count_include_pad=false only those inside x."""
    geometry = _geometry(x.shape[2:], p)
    _, bottom, _, right = geometry[3]
    ones = torch.ones_like(x[:1, :1])
    if p["count_include_pad"]:
        _, _, padding, _ = _pool_geometry(p)
        inside = _pad(ones, (padding[0], padding[0], padding[1], padding[1]), 1.0)
        region = _pad(inside, (0, bottom - padding[0], 0, right - padding[1]), 0.0)
    else:
        region = _pad(ones, geometry[3], 0.0)
    counted = _unfold(region, geometry).sum(dim=2, keepdim=True)
    if p.get("divisor_override") is not None:
        return torch.full_like(counted, float(p["divisor_override"]))
    return counted


def _avgpool_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x = t["x"]
    return {"x": _share_out(x, p, g, _avg_divisors(x, p))}


def _share_out(x: Tensor, p: Params, g: Tensor, divisors: Tensor) -> Tensor:
    """∂L/∂x: each window's G/divisor spread over its entries, overlaps summed
    (``divisors``: one per window, in output order)."""
    n, c = x.shape[:2]
    cols, geometry = _windows(x, p, 0.0)
    share = (g.reshape(n, c, 1, -1) / divisors.reshape(1, 1, 1, -1)).expand_as(cols)
    return _fold(share, x, geometry)


def _avgpool_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x = t["x"]
    divisors = _avg_divisors(x, p).reshape(g.shape[2], g.shape[3])
    if p["divisor_override"] is not None:
        counted = f"divisor_override = {p['divisor_override']} for every window (in place of "
        counted += "the entries count_include_pad and ceil_mode would count)"
    elif not p["count_include_pad"]:
        counted = "the window's entries inside x (padding left out)"
    elif p["ceil_mode"]:
        counted = "the window's entries inside the padded input: kh·kw, less where a ceil_mode "
        counted += "window runs past it"
    else:
        counted = "kh·kw"
    return staged(
        Step("G = ∂L/∂y (upstream)", "", g, ("n", "c", "i", "j")),
        *_size_steps(x, p),
        Step("divisor of each window", counted, dim_names=("i", "j"), key="divisor",
             compute=lambda v: divisors),
        Step(
            "∂L/∂x",
            "each window spreads G/divisor over its entries; overlaps add up",
            dim_names=("n", "c", "h", "w"),
            key="x",
            depends_on=("divisor",),
            compute=lambda v: _share_out(x, p, g, v["divisor"]),
        ),
    )  # fmt: skip


def _avgpool_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    x = t["x"]
    n, c = x.shape[:2]
    cols, geometry = _windows(x, p, 0.0)
    spread = g.reshape(n, c, 1, -1).expand_as(cols)
    slips = [("∂L/∂x without dividing by the window size", _fold(spread, x, geometry))]
    if p["divisor_override"] is not None:
        counted = _avgpool_backward(t, {**p, "divisor_override": None}, g)["x"]
        slips.append(("∂L/∂x divided by the entries counted, not by divisor_override", counted))
    return slips


def _avgpool_notes(params: Params, shapes: Shapes) -> list[str]:
    if params["divisor_override"] is None:
        return []
    return [
        f"divisor_override={params['divisor_override']}: every window's sum is divided by "
        f"{params['divisor_override']}, whatever it covers (count_include_pad then changes "
        "nothing; ceil_mode still sets the windows)"
    ]


_CEIL_MODE = LayerParam(
    "ceil_mode",
    "bool",
    False,
    "round the output size up: a last, partial window, kept when it starts inside x or the "
    "left padding",
)

POOL_WINDOW = (  # the window parameters every pooling layer takes
    LayerParam("kernel_size", "pair", None, "window size", minimum=1, required=True),
    LayerParam(
        "stride", "pair", None, "step between windows", minimum=1, default_text="kernel_size"
    ),
)


MAXPOOL2D = Layer(
    name="maxpool2d",
    summary="2-D max pooling (F.max_pool2d)",
    inputs=(LayerInput("x", "N×C×H×W", "input", _names(("n", "c", "h", "w"))),),
    params=(
        *POOL_WINDOW,
        LayerParam("padding", "pair", 0, "−∞ added on each side", minimum=0),
        LayerParam("dilation", "pair", 1, "spacing inside a window", minimum=1),
        _CEIL_MODE,
    ),
    forward_formula="y[n,c,i,j] = max of x_pad[n,c] over window (i, j) (padding = −∞; "
    "ceil_mode: a last window may run past x_pad, its entries there left out)",
    backward_formulas={
        "x": "∂L/∂x[h,w] = Σ G[i,j] over the windows whose first maximum (scan order) "
        "is at (h, w); 0 elsewhere",
    },
    output_shape=_pool_shape_for("maxpool2d"),
    default_shape=lambda name, shapes, params: None,
    forward=_maxpool_forward,
    backward=_maxpool_backward,
    steps=_maxpool_steps,
    step_keys=(("argmax", "where each window's first maximum sits inside it, 0 … kh·kw − 1"),),
    output_dims=lambda shapes: ("n", "c", "i", "j"),
    groups=_pool_groups,
    workspace=_pool_workspace,
    resolve=_pool_resolve,
    untrusted=_maxpool_untrusted,
    kinks_text="ties inside a window: torch routes G to the first maximum in scan "
    "order; finite differences there are not trusted",
)


AVGPOOL2D = Layer(
    name="avgpool2d",
    summary="2-D average pooling (F.avg_pool2d)",
    inputs=(LayerInput("x", "N×C×H×W", "input", _names(("n", "c", "h", "w"))),),
    params=(
        *POOL_WINDOW,
        LayerParam("padding", "pair", 0, "zeros added on each side", minimum=0),
        LayerParam(
            "count_include_pad",
            "bool",
            True,
            "divide by kh·kw even where the window covers padding",
        ),
        _CEIL_MODE,
        LayerParam(
            "divisor_override",
            "int",
            None,
            "divide every window's sum by this in place of the entries counted",
            minimum=None,  # checked with the shapes, to say why
        ),
    ),
    forward_formula="y[n,c,i,j] = (1/divisor) Σ x_pad[n,c] over window (i, j); divisor = "
    "kh·kw (count_include_pad; less where a ceil_mode window runs past x_pad) or the window's "
    "entries inside x; divisor_override, when given, for every window",
    backward_formulas={
        "x": "∂L/∂x[h,w] = Σ G[i,j]/divisor over the windows containing (h, w)",
    },
    output_shape=_pool_shape_for("avgpool2d"),
    default_shape=lambda name, shapes, params: None,
    forward=_avgpool_forward,
    backward=_avgpool_backward,
    steps=_avgpool_steps,
    step_keys=(("divisor", "how many entries each window averages"),),
    output_dims=lambda shapes: ("n", "c", "i", "j"),
    groups=_pool_groups,
    workspace=_pool_workspace,
    resolve=_pool_resolve,
    slips=_avgpool_slips,
    notes=_avgpool_notes,
)
