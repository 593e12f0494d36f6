"""The normalisation layers: batchnorm (training mode), layernorm and rmsnorm.

∂L/∂x carries the terms of μ's and σ's dependence on x; the slips are the answers that
forgot one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradcli._torch import F, torch
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
    FLOAT_EPS,
    Layer,
    LayerInput,
    LayerParam,
    Params,
    Shape,
    Shapes,
    Step,
    Tensors,
    _names,
    _need_rank,
    _need_vector,
    _prod,
    dims_text,
    staged,
)

if TYPE_CHECKING:
    from torch import Tensor


def _gamma(shape: str, dim: str, owner: str) -> LayerInput:
    """γ, ones when left out, as ``owner`` starts it."""
    return LayerInput(
        "weight", shape, "γ, or 'none'", _names((dim,)), none_allowed=True, symbol="γ",
        init="ones", init_owner=owner,
    )  # fmt: skip


def _beta(shape: str, dim: str, owner: str) -> LayerInput:
    """β, zeros when left out, as ``owner`` starts it."""
    return LayerInput(
        "bias", shape, "β, or 'none'", _names((dim,)), none_allowed=True, symbol="β",
        init="zeros", init_owner=owner,
    )  # fmt: skip


def _bn_shape(shapes: Shapes, params: Params) -> Shape:
    x = shapes["x"]
    _need_rank("batchnorm", "x", x, (2, 3, 4), "N×C, N×C×L or N×C×H×W")
    c = x[1]
    why = f"x is {dims_text(x)} ({c} channels, dimension 1)"
    _need_vector("batchnorm", "weight", shapes.get("weight"), c, why)
    _need_vector("batchnorm", "bias", shapes.get("bias"), c, why)
    if _prod(x) // c < 2:
        raise InputError(
            f"batchnorm: each channel needs more than 1 value for batch statistics (x is "
            f"{dims_text(x)}: {_prod(x) // c} per channel), as torch requires in training mode"
        )
    return tuple(x)


def _bn_default(name: str, shapes: Shapes, params: Params) -> Shape | None:
    x = shapes["x"]
    return (x[1],) if len(x) > 1 else (1,)  # a 1-D x is refused by the shape rule


def _bn_dims(x: Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


def _per_channel(v: Tensor | None, x: Tensor) -> Tensor | float:
    """A length-C vector shaped to broadcast along x's channel dimension (1 if absent)."""
    if v is None:
        return 1.0
    return v.reshape(1, -1, *([1] * (x.dim() - 2)))


def _bn_forward(t: Tensors, p: Params) -> Tensor:
    return F.batch_norm(t["x"], None, None, t.get("weight"), t.get("bias"), True, 0.0, p["eps"])


@dataclass
class _Norm:
    """The quantities of a normalisation written out: μ, σ², σ, x̂."""

    mean: Tensor
    var: Tensor
    sigma: Tensor
    xhat: Tensor
    count: int


def _bn_stats(x: Tensor, eps: float) -> _Norm:
    dims = _bn_dims(x)
    count = x.numel() // x.shape[1]
    mean = x.sum(dim=dims, keepdim=True) / count
    var = ((x - mean) ** 2).sum(dim=dims, keepdim=True) / count  # biased, as torch normalises
    sigma = torch.sqrt(var + eps)
    return _Norm(mean, var, sigma, (x - mean) / sigma, count)


def _bn_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x = t["x"]
    s = _bn_stats(x, p["eps"])
    dims, m = _bn_dims(x), s.count
    sum_g = g.sum(dim=dims, keepdim=True)
    sum_gx = (g * s.xhat).sum(dim=dims, keepdim=True)
    gamma = _per_channel(t.get("weight"), x)
    grads = {"x": gamma / (m * s.sigma) * (m * g - sum_g - s.xhat * sum_gx)}
    if t.get("weight") is not None:
        grads["weight"] = sum_gx.flatten()
    if t.get("bias") is not None:
        grads["bias"] = sum_g.flatten()
    return grads


def _bn_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    """The staged computation (the computational graph of CS231n's batch-norm backward): each
    quantity from the ones before it."""
    x, gamma, beta, eps = t["x"], t.get("weight"), t.get("bias"), p["eps"]
    dims = _bn_dims(x)
    m = x.numel() // x.shape[1]
    names, c = _bn_x_dims(x.dim()), ("c",)
    where = "over every dimension but C" if x.dim() > 2 else "over the batch (dimension N)"

    def ch(v: Tensor | None) -> Tensor | float:  # a per-channel vector, broadcast along x
        return _per_channel(v, x)

    def total(v: Tensor) -> Tensor:  # a sum per channel
        return v.sum(dim=dims)

    steps = [
        Step("μ (per channel)", f"μ_c = (1/M) Σ x, {where}; M = {m}", dim_names=c, key="mu",
             compute=lambda v: total(x) / m),
        Step("σ² (per channel, biased)", "σ²_c = (1/M) Σ (x − μ_c)²", dim_names=c, key="var",
             depends_on=("mu",), compute=lambda v: total((x - ch(v["mu"])) ** 2) / m),
        Step("σ = √(σ² + eps)", f"eps = {eps:g}", dim_names=c, key="std", depends_on=("var",),
             compute=lambda v: torch.sqrt(v["var"] + eps)),
        Step("x̂ = (x − μ)/σ", "", dim_names=names, key="xhat", depends_on=("mu", "std"),
             compute=lambda v: (x - ch(v["mu"])) / ch(v["std"])),
        Step("y = γ·x̂ + β", "" if gamma is not None else "no γ: y = x̂ + β", dim_names=names,
             key="y", depends_on=("xhat",),
             compute=lambda v: ch(gamma) * v["xhat"] + (0.0 if beta is None else ch(beta))),
        Step("G = ∂L/∂y (upstream)", "", g, names),
        Step("dx̂ = ∂L/∂x̂ = G·γ", "" if gamma is not None else "no γ: dx̂ = G",
             dim_names=names, key="dxhat", compute=lambda v: g * ch(gamma)),
        Step("dσ² = ∂L/∂σ² (per channel)", "Σ dx̂·(x − μ)·(−½)·σ⁻³", dim_names=c, key="dvar",
             depends_on=("dxhat", "mu", "std"),
             compute=lambda v: total(v["dxhat"] * (x - ch(v["mu"]))) * -0.5 * v["std"] ** -3),
        Step("dμ = ∂L/∂μ (per channel)", "Σ −dx̂/σ + dσ²·Σ −2(x − μ)/M", dim_names=c,
             key="dmu", depends_on=("dxhat", "std", "dvar", "mu"),
             compute=lambda v: total(-v["dxhat"]) / v["std"]
             + v["dvar"] * total(-2 * (x - ch(v["mu"]))) / m),
        Step("∂L/∂x", "dx̂/σ + dσ²·2(x − μ)/M + dμ/M", dim_names=names, key="x",
             depends_on=("dxhat", "std", "dvar", "mu", "dmu"),
             compute=lambda v: v["dxhat"] / ch(v["std"])
             + ch(v["dvar"]) * 2 * (x - ch(v["mu"])) / m + ch(v["dmu"]) / m),
    ]  # fmt: skip
    if gamma is not None:
        steps.append(
            Step("Σ(G·x̂) (per channel)", "= ∂L/∂γ", dim_names=c, key="weight",
                 depends_on=("xhat",), compute=lambda v: total(g * v["xhat"]))
        )  # fmt: skip
    if beta is not None:
        steps.append(
            Step("ΣG (per channel)", "= ∂L/∂β", dim_names=c, key="bias",
                 compute=lambda v: total(g))
        )  # fmt: skip
    return staged(*steps)


BN_KEYS = (
    ("mu", "μ, the mean per channel"),
    ("var", "σ², the biased variance per channel"),
    ("std", "σ = √(σ² + eps)"),
    ("xhat", "x̂ = (x − μ)/σ"),
    ("dxhat", "dx̂ = ∂L/∂x̂ = G·γ"),
    ("dvar", "dσ² = ∂L/∂σ²"),
    ("dmu", "dμ = ∂L/∂μ"),
)


def _bn_x_dims(rank: int) -> tuple[str, ...]:
    return {2: ("n", "c"), 3: ("n", "c", "l"), 4: ("n", "c", "h", "w")}[rank]


def _norm_slips(kind: str) -> Callable[[Tensors, Params, Tensor, str], list[tuple[str, Tensor]]]:
    """Batch/layer norm answers that forgot a term of ∂L/∂x (the mean's or the variance's)."""

    def slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
        if name != "x":
            return []
        x = t["x"]
        if kind == "batchnorm":
            s, dims = _bn_stats(x, p["eps"]), _bn_dims(x)
            gamma = _per_channel(t.get("weight"), x)
            ghat = g
            scale = gamma / (s.count * s.sigma)
        else:
            s, dims = _ln_stats(x, p["eps"]), [-1]
            ghat = g if t.get("weight") is None else g * t["weight"]
            scale = 1 / (s.count * s.sigma)
        m = s.count
        sum_g = ghat.sum(dim=dims, keepdim=True)
        sum_gx = (ghat * s.xhat).sum(dim=dims, keepdim=True)
        return [
            (
                "∂L/∂x without the −ΣG term (μ's dependence on x forgotten)",
                scale * (m * ghat - s.xhat * sum_gx),
            ),
            (
                "∂L/∂x without the −x̂·Σ(G·x̂) term (σ's dependence on x forgotten)",
                scale * (m * ghat - sum_g),
            ),
            ("∂L/∂x = γ·G/σ: μ and σ treated as constants", scale * m * ghat),
        ]

    return slips


def _ln_shape(shapes: Shapes, params: Params, name: str = "layernorm") -> Shape:
    x = shapes["x"]
    _need_rank(name, "x", x, (1, 2, 3, 4), "…×D")
    d = x[-1]
    why = f"x is {dims_text(x)} (normalised over its last dimension, D = {d})"
    _need_vector(name, "weight", shapes.get("weight"), d, why)
    _need_vector(name, "bias", shapes.get("bias"), d, why)
    return tuple(x)


def _ln_default(name: str, shapes: Shapes, params: Params) -> Shape | None:
    return (shapes["x"][-1],)


def _ln_forward(t: Tensors, p: Params) -> Tensor:
    x = t["x"]
    return F.layer_norm(x, (x.shape[-1],), t.get("weight"), t.get("bias"), p["eps"])


def _ln_stats(x: Tensor, eps: float) -> _Norm:
    d = x.shape[-1]
    mean = x.sum(dim=-1, keepdim=True) / d
    var = ((x - mean) ** 2).sum(dim=-1, keepdim=True) / d
    sigma = torch.sqrt(var + eps)
    return _Norm(mean, var, sigma, (x - mean) / sigma, d)


def _rows(v: Tensor) -> Tensor:
    """Sum over every dimension but the last."""
    return v.reshape(-1, v.shape[-1]).sum(dim=0)


def _ln_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x, w = t["x"], t.get("weight")
    s = _ln_stats(x, p["eps"])
    ghat = g if w is None else g * w  # ∂L/∂x̂
    d = s.count
    sum_g = ghat.sum(dim=-1, keepdim=True)
    sum_gx = (ghat * s.xhat).sum(dim=-1, keepdim=True)
    grads = {"x": (d * ghat - sum_g - s.xhat * sum_gx) / (d * s.sigma)}
    if w is not None:
        grads["weight"] = _rows(g * s.xhat)
    if t.get("bias") is not None:
        grads["bias"] = _rows(g)
    return grads


def _row_dims(rank: int) -> tuple[str, ...]:
    return (*("n", "t", "s")[: rank - 1], "d")


def _ln_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x, w, beta, eps = t["x"], t.get("weight"), t.get("bias"), p["eps"]
    d = x.shape[-1]
    names = _row_dims(x.dim())
    rows = names[:-1] or ("row",)

    def row(v: Tensor) -> Tensor:  # a per-row value, broadcast along the last dimension
        return v.unsqueeze(-1)

    return staged(
        Step("μ (per row)", f"μ = (1/D) Σ_d x, D = {d}", dim_names=rows, key="mu",
             compute=lambda v: x.sum(dim=-1) / d),
        Step("σ² (per row, biased)", "σ² = (1/D) Σ_d (x − μ)²", dim_names=rows, key="var",
             depends_on=("mu",), compute=lambda v: ((x - row(v["mu"])) ** 2).sum(dim=-1) / d),
        Step("σ = √(σ² + eps)", f"eps = {eps:g}", dim_names=rows, key="std",
             depends_on=("var",), compute=lambda v: torch.sqrt(v["var"] + eps)),
        Step("x̂ = (x − μ)/σ", "", dim_names=names, key="xhat", depends_on=("mu", "std"),
             compute=lambda v: (x - row(v["mu"])) / row(v["std"])),
        Step("y = γ·x̂ + β", "", dim_names=names, key="y", depends_on=("xhat",),
             compute=lambda v: v["xhat"] * (1.0 if w is None else w)
             + (0.0 if beta is None else beta)),
        Step("ĝ = G·γ = ∂L/∂x̂", "" if w is not None else "no γ: ĝ = G", dim_names=names,
             key="dxhat", compute=lambda v: g if w is None else g * w),
        Step("Σ_d ĝ (per row)", "", dim_names=rows, key="sum_dxhat", depends_on=("dxhat",),
             compute=lambda v: v["dxhat"].sum(dim=-1)),
        Step("Σ_d ĝ·x̂ (per row)", "", dim_names=rows, key="sum_dxhat_xhat",
             depends_on=("dxhat", "xhat"), compute=lambda v: (v["dxhat"] * v["xhat"]).sum(dim=-1)),
        Step("∂L/∂x", "(D·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) / (D·σ)", dim_names=names, key="x",
             depends_on=("dxhat", "sum_dxhat", "xhat", "sum_dxhat_xhat", "std"),
             compute=lambda v: (d * v["dxhat"] - row(v["sum_dxhat"])
                                - v["xhat"] * row(v["sum_dxhat_xhat"])) / (d * row(v["std"]))),
    )  # fmt: skip


LN_KEYS = (
    ("mu", "μ, the mean per row"),
    ("var", "σ², the biased variance per row"),
    ("std", "σ = √(σ² + eps)"),
    ("xhat", "x̂ = (x − μ)/σ"),
    ("dxhat", "ĝ = ∂L/∂x̂ = G·γ"),
    ("sum_dxhat", "Σ_d ĝ per row"),
    ("sum_dxhat_xhat", "Σ_d ĝ·x̂ per row"),
)


def _row_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    """Each row (every index but the last) of x reaches only the same row of y."""
    rank = len(shapes["x"])
    return [{"x": i, "y": i} for i in range(rank - 1)]


def _rms_shape(shapes: Shapes, params: Params) -> Shape:
    return _ln_shape(shapes, params, "rmsnorm")


def _rms_forward(t: Tensors, p: Params) -> Tensor:
    x = t["x"]
    return F.rms_norm(x, (x.shape[-1],), t.get("weight"), p["eps"])


def _rms_parts(x: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """mean(x²), r = √(mean(x²) + eps) and x̂ = x/r, per row."""
    ms = (x * x).sum(dim=-1, keepdim=True) / x.shape[-1]
    r = torch.sqrt(ms + eps)
    return ms, r, x / r


def _rms_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x, w = t["x"], t.get("weight")
    _, r, xhat = _rms_parts(x, p["eps"])
    ghat = g if w is None else g * w
    mean_gx = (ghat * xhat).sum(dim=-1, keepdim=True) / x.shape[-1]
    grads = {"x": (ghat - xhat * mean_gx) / r}
    if w is not None:
        grads["weight"] = _rows(g * xhat)
    return grads


def _rms_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x, w, eps = t["x"], t.get("weight"), p["eps"]
    d = x.shape[-1]
    names = _row_dims(x.dim())
    rows = names[:-1] or ("row",)

    def row(v: Tensor) -> Tensor:
        return v.unsqueeze(-1)

    return staged(
        Step("mean(x²) (per row)", f"(1/D) Σ_d x², D = {d}", dim_names=rows, key="ms",
             compute=lambda v: (x * x).sum(dim=-1) / d),
        Step("r = √(mean(x²) + eps)", f"eps = {eps:g}", dim_names=rows, key="r",
             depends_on=("ms",), compute=lambda v: torch.sqrt(v["ms"] + eps)),
        Step("x̂ = x/r", "", dim_names=names, key="xhat", depends_on=("r",),
             compute=lambda v: x / row(v["r"])),
        Step("ĝ = G·γ = ∂L/∂x̂", "" if w is not None else "no γ: ĝ = G", dim_names=names,
             key="dxhat", compute=lambda v: g if w is None else g * w),
        Step("mean(ĝ·x̂) (per row)", "", dim_names=rows, key="mean_dxhat_xhat",
             depends_on=("dxhat", "xhat"),
             compute=lambda v: (v["dxhat"] * v["xhat"]).sum(dim=-1) / d),
        Step("∂L/∂x", "(ĝ − x̂·mean(ĝ·x̂)) / r", dim_names=names, key="x",
             depends_on=("dxhat", "xhat", "mean_dxhat_xhat", "r"),
             compute=lambda v: (v["dxhat"] - v["xhat"] * row(v["mean_dxhat_xhat"])) / row(v["r"])),
    )  # fmt: skip


RMS_KEYS = (
    ("ms", "mean(x²) per row"),
    ("r", "r = √(mean(x²) + eps)"),
    ("xhat", "x̂ = x/r"),
    ("dxhat", "ĝ = ∂L/∂x̂ = G·γ"),
    ("mean_dxhat_xhat", "mean(ĝ·x̂) per row"),
)


def _rms_resolve(shapes: Shapes, params: Params, dtype: str) -> dict[str, Any]:
    if params["eps"] is None:
        return {"eps": FLOAT_EPS[dtype]}
    return {}


def _rms_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    if name != "x":
        return []
    _, r, _ = _rms_parts(t["x"], p["eps"])
    ghat = g if t.get("weight") is None else g * t["weight"]
    return [("∂L/∂x = ĝ/r: r treated as a constant", ghat / r)]


def _eps(default: float | None) -> LayerParam:
    return LayerParam(
        "eps",
        "float",
        default,
        "added to the variance inside the square root",
        check=lambda v: v > 0,
        requirement="> 0",
        default_text="torch.finfo(dtype).eps" if default is None else "",
    )


BATCHNORM = Layer(
    name="batchnorm",
    summary="batch normalisation, training mode (batch statistics, F.batch_norm)",
    inputs=(
        LayerInput(
            "x",
            "N×C[×L | ×H×W]",
            "input",
            lambda rank: _bn_x_dims(rank) if 2 <= rank <= 4 else _names()(rank),
        ),
        _gamma("C", "c", "nn.BatchNorm"),
        _beta("C", "c", "nn.BatchNorm"),
    ),
    params=(_eps(1e-5),),
    forward_formula="y = γ·x̂ + β, x̂ = (x − μ)/σ, σ = √(σ² + eps); μ, σ² (biased) per "
    "channel, over every dimension but C",
    backward_formulas={
        "x": "∂L/∂x = γ/(M·σ) · (M·G − ΣG − x̂·Σ(G·x̂)), M = values per channel",
        "weight": "∂L/∂γ = Σ G·x̂",
        "bias": "∂L/∂β = Σ G",
    },
    output_shape=_bn_shape,
    default_shape=_bn_default,
    forward=_bn_forward,
    backward=_bn_backward,
    steps=_bn_steps,
    step_keys=BN_KEYS,
    output_dims=lambda shapes: _bn_x_dims(len(shapes["x"])),
    groups=lambda shapes, params: [{"x": 1, "weight": 0, "bias": 0, "y": 1}],
    slips=_norm_slips("batchnorm"),
    notes=lambda params, shapes: [
        "batch norm in training mode: the batch's own mean and biased variance "
        "normalise (running statistics are not involved)"
    ],
)


LAYERNORM = Layer(
    name="layernorm",
    summary="layer normalisation over the last dimension (F.layer_norm)",
    inputs=(
        LayerInput("x", "…×D", "input", _row_dims),
        _gamma("D", "d", "nn.LayerNorm"),
        _beta("D", "d", "nn.LayerNorm"),
    ),
    params=(_eps(1e-5),),
    forward_formula="y = γ·x̂ + β, x̂ = (x − μ)/σ, σ = √(σ² + eps); μ, σ² (biased) "
    "over the last dimension",
    backward_formulas={
        "x": "∂L/∂x = (D·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) / (D·σ), ĝ = G·γ, sums over the last dim",
        "weight": "∂L/∂γ = Σ_rows G·x̂",
        "bias": "∂L/∂β = Σ_rows G",
    },
    output_shape=_ln_shape,
    default_shape=_ln_default,
    broadcast_inputs=("x",),
    forward=_ln_forward,
    backward=_ln_backward,
    steps=_ln_steps,
    step_keys=LN_KEYS,
    output_dims=lambda shapes: _row_dims(len(shapes["x"])),
    groups=_row_groups,
    slips=_norm_slips("layernorm"),
)


RMSNORM = Layer(
    name="rmsnorm",
    summary="RMS normalisation over the last dimension (F.rms_norm)",
    inputs=(
        LayerInput("x", "…×D", "input", _row_dims),
        _gamma("D", "d", "nn.RMSNorm"),
    ),
    params=(_eps(None),),
    forward_formula="y = γ·x/r, r = √(mean(x²) + eps) over the last dimension",
    backward_formulas={
        "x": "∂L/∂x = (ĝ − x̂·mean(ĝ·x̂)) / r, ĝ = G·γ, x̂ = x/r",
        "weight": "∂L/∂γ = Σ_rows G·x̂",
    },
    output_shape=_rms_shape,
    default_shape=_ln_default,
    broadcast_inputs=("x",),
    forward=_rms_forward,
    backward=_rms_backward,
    steps=_rms_steps,
    step_keys=RMS_KEYS,
    output_dims=lambda shapes: _row_dims(len(shapes["x"])),
    groups=_row_groups,
    resolve=_rms_resolve,
    slips=_rms_slips,
)
