"""The normalisation layers: batchnorm (training or eval mode), layernorm and rmsnorm.

∂L/∂x carries the terms of μ's and σ's dependence on x; the slips are the answers that
forgot one of them. In eval mode batchnorm normalises with fixed running statistics, so
it is an affine map per channel and ∂L/∂x = γ·G/σ; layernorm and rmsnorm normalise over
the last k dimensions (``normalized_shape``), γ (and layernorm's β) of that shape.
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


# γ and β of layernorm's normalized_shape (rmsnorm's γ), named as x's trailing dims (x: n, t, d
# or n, t, s, d): k = 2 as in a 3-D x, k = 3 as in a 4-D x
_TRAILING = _names(("d",), ("t", "d"), ("t", "s", "d"), ("n", "t", "s", "d"))


def _gamma(shape: str, dim: str, owner: str) -> LayerInput:
    """γ, ones when left out, as ``owner`` starts it."""
    names = _TRAILING if shape == "normalized_shape" else _names((dim,))
    return LayerInput(
        "weight", shape, "γ, or 'none'", names, none_allowed=True, symbol="γ",
        init="ones", init_owner=owner,
    )  # fmt: skip


def _beta(shape: str, dim: str, owner: str) -> LayerInput:
    """β, zeros when left out, as ``owner`` starts it."""
    names = _TRAILING if shape == "normalized_shape" else _names((dim,))
    return LayerInput(
        "bias", shape, "β, or 'none'", names, none_allowed=True, symbol="β",
        init="zeros", init_owner=owner,
    )  # fmt: skip


def _bn_shape(shapes: Shapes, params: Params) -> Shape:
    x = shapes["x"]
    _need_rank("batchnorm", "x", x, (2, 3, 4), "N×C, N×C×L or N×C×H×W")
    c = x[1]
    why = f"x is {dims_text(x)} ({c} channels, dimension 1)"
    _need_vector("batchnorm", "weight", shapes.get("weight"), c, why)
    _need_vector("batchnorm", "bias", shapes.get("bias"), c, why)
    _check_running(params, c, why)
    if params["training"] and _prod(x) // c < 2:
        raise InputError(
            f"batchnorm: each channel needs more than 1 value for batch statistics (x is "
            f"{dims_text(x)}: {_prod(x) // c} per channel), as torch requires in training mode"
        )
    return tuple(x)


def _check_running(params: Params, c: int, why: str) -> None:
    """Running statistics belong to eval mode, one value per channel."""
    for key in ("running_mean", "running_var"):
        value = params[key]
        if value is None:
            continue
        if params["training"]:
            raise InputError(
                f"batchnorm: --param {key} is used only in eval mode; add --param "
                "training=false (in training mode the batch's own statistics normalise)"
            )
        if len(value) != c:
            raise InputError(
                f"batchnorm: --param {key} has {len(value)} value{'s' * (len(value) != 1)} "
                f"but {why}, so it needs {c}"
            )


def _bn_resolve(shapes: Shapes, params: Params, dtype: str) -> dict[str, Any]:
    """Eval mode without running statistics: a fresh nn.BatchNorm's, mean 0 and var 1."""
    if params["training"]:
        return {}
    c = shapes["x"][1]
    return {
        "running_mean": params["running_mean"] or (0.0,) * c,
        "running_var": params["running_var"] or (1.0,) * c,
    }


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


def _running(x: Tensor, p: Params) -> tuple[Tensor | None, Tensor | None]:
    """The running mean and variance as tensors of x's dtype (None in training mode)."""
    if p["training"]:
        return None, None
    return (
        torch.tensor(p["running_mean"], dtype=x.dtype),
        torch.tensor(p["running_var"], dtype=x.dtype),
    )


def _bn_forward(t: Tensors, p: Params) -> Tensor:
    x = t["x"]
    mean, var = _running(x, p)
    w, b = t.get("weight"), t.get("bias")
    return F.batch_norm(x, mean, var, w, b, p["training"], 0.0, p["eps"])


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


def _bn_eval_stats(x: Tensor, p: Params) -> _Norm:
    """Eval mode: μ and σ² are the running statistics, constants with respect to x."""
    mean, var = (_per_channel(v, x) for v in _running(x, p))
    sigma = torch.sqrt(var + p["eps"])
    return _Norm(mean, var, sigma, (x - mean) / sigma, x.numel() // x.shape[1])


def _bn_norm(x: Tensor, p: Params) -> _Norm:
    return _bn_stats(x, p["eps"]) if p["training"] else _bn_eval_stats(x, p)


def _bn_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x = t["x"]
    s = _bn_norm(x, p)
    dims, m = _bn_dims(x), s.count
    sum_g = g.sum(dim=dims, keepdim=True)
    sum_gx = (g * s.xhat).sum(dim=dims, keepdim=True)
    gamma = _per_channel(t.get("weight"), x)
    if p["training"]:
        grads = {"x": gamma / (m * s.sigma) * (m * g - sum_g - s.xhat * sum_gx)}
    else:  # y = γ·(x − μ)/σ + β with μ, σ fixed: an affine map per channel
        grads = {"x": gamma * g / s.sigma}
    if t.get("weight") is not None:
        grads["weight"] = sum_gx.flatten()
    if t.get("bias") is not None:
        grads["bias"] = sum_g.flatten()
    return grads


def _bn_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    """Training mode: the staged computation (the computational graph of CS231n's batch-norm
    backward), each quantity from the ones before it."""
    if not p["training"]:
        return _bn_eval_steps(t, p, g)
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


def _bn_eval_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x = t["x"]
    s = _bn_eval_stats(x, p)
    dims = _bn_dims(x)
    names = _bn_x_dims(x.dim())
    gamma = "γ" if t.get("weight") is not None else "1 (no γ)"
    return [
        Step("μ = running_mean (per channel)", "fixed: not computed from x", s.mean.flatten(),
             ("c",)),
        Step("σ² = running_var (per channel)", "fixed: not computed from x", s.var.flatten(),
             ("c",)),
        Step("σ = √(σ² + eps)", f"eps = {p['eps']:g}", s.sigma.flatten(), ("c",)),
        Step("x̂ = (x − μ)/σ", "", s.xhat, names, key="xhat"),
        Step("G = ∂L/∂y (upstream)", "", g, names),
        Step("ΣG (per channel)", "= ∂L/∂β", g.sum(dim=dims).flatten(), ("c",)),
        Step("Σ(G·x̂) (per channel)", "= ∂L/∂γ", (g * s.xhat).sum(dim=dims).flatten(), ("c",)),
        Step(
            "∂L/∂x",
            f"γ·G/σ with γ = {gamma}: μ and σ do not depend on x, so no −ΣG or −x̂·Σ(G·x̂) "
            "terms",
            _bn_backward(t, p, g)["x"],
            names,
            key="x",
        ),
    ]  # fmt: skip


def _bn_x_dims(rank: int) -> tuple[str, ...]:
    return {2: ("n", "c"), 3: ("n", "c", "l"), 4: ("n", "c", "h", "w")}[rank]


def _norm_slips(kind: str) -> Callable[[Tensors, Params, Tensor, str], list[tuple[str, Tensor]]]:
    """Batch/layer norm answers that forgot a term of ∂L/∂x (the mean's or the variance's)."""

    def slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
        if name in ("var", "dxhat"):
            return _step_slips(kind, t, p, g, name)
        if name != "x":
            return []
        x = t["x"]
        if kind == "batchnorm" and not p["training"]:
            return _bn_eval_slips(t, p, g)
        if kind == "batchnorm":
            s, dims = _bn_stats(x, p["eps"]), _bn_dims(x)
            gamma = _per_channel(t.get("weight"), x)
            ghat = g
            scale = gamma / (s.count * s.sigma)
        else:
            dims = _ln_dims(x, p)
            s = _ln_stats(x, p)
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


def _step_slips(kind: str, t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    """Slips in the staged intermediates (training mode): the variance divided by M − 1 (the
    unbiased one; the normalisation uses the biased), dx̂ without γ."""
    if kind == "batchnorm" and not p["training"]:
        return []
    x, w = t["x"], t.get("weight")
    if name == "dxhat":
        return [] if w is None else [("dx̂ = G: the γ factor forgotten", g)]
    if kind == "batchnorm":
        s, dims = _bn_stats(x, p["eps"]), _bn_dims(x)
        squares = ((x - s.mean) ** 2).sum(dim=dims).flatten()
    else:
        s, dims = _ln_stats(x, p), _ln_dims(x, p)
        squares = ((x - s.mean) ** 2).sum(dim=dims)
    if s.count < 2:
        return []
    return [
        ("the unbiased variance Σ(x − μ)²/(M − 1); normalising uses /M", squares / (s.count - 1))
    ]


def _bn_eval_slips(t: Tensors, p: Params, g: Tensor) -> list[tuple[str, Tensor]]:
    """Eval mode answered with the training-mode formula (the batch's own μ and σ)."""
    x = t["x"]
    train = _bn_backward(t, {**p, "training": True}, g)["x"]
    s = _bn_stats(x, p["eps"])
    gamma = _per_channel(t.get("weight"), x)
    return [
        ("the training-mode ∂L/∂x (batch statistics); eval mode uses the running ones", train),
        (
            "∂L/∂x = γ·G/σ with the batch's σ in place of the running variance's",
            gamma * g / s.sigma,
        ),
    ]


def _normalized(x: Shape, params: Params) -> Shape:
    """The trailing dimensions normalised over: normalized_shape, or x's last one."""
    given = params.get("normalized_shape")
    return tuple(given) if given else (x[-1],)


def _ln_shape(shapes: Shapes, params: Params, name: str = "layernorm") -> Shape:
    x = shapes["x"]
    _need_rank(name, "x", x, (1, 2, 3, 4), "…×D")
    norm = _normalized(x, params)
    k = len(norm)
    if k > len(x) or tuple(x[-k:]) != norm:
        raise InputError(
            f"{name}: --param normalized_shape={','.join(map(str, norm))} must be the last "
            f"{k} dimension{'s' * (k > 1)} of x, but x is {dims_text(x)} (torch expects x of "
            f"shape …×{dims_text(norm)})"
        )
    if k == 1:
        why = f"x is {dims_text(x)} (normalised over its last dimension, D = {norm[0]})"
        for key in ("weight", "bias"):
            given = shapes.get(key)
            if given is not None and len(given) > 1 and tuple(x[-len(given) :]) == tuple(given):
                raise InputError(
                    f"{name}: --{key} has shape {dims_text(given)}, x's last {len(given)} "
                    f"dimensions, but x is normalised over its last one only; add --param "
                    f"normalized_shape={','.join(map(str, given))} to normalise over them"
                )
            _need_vector(name, key, given, norm[0], why)
    else:
        for key in ("weight", "bias"):
            given = shapes.get(key)
            if given is not None and tuple(given) != norm:
                raise InputError(
                    f"{name}: --{key} has shape {dims_text(given)} but normalized_shape is "
                    f"{dims_text(norm)}, so it needs that shape (give it as rows 1,2;3,4 or "
                    "nested JSON)"
                )
    return tuple(x)


def _ln_default(name: str, shapes: Shapes, params: Params) -> Shape | None:
    return _normalized(shapes["x"], params)


def _ln_k(p: Params) -> int:
    """How many trailing dimensions are normalised."""
    given = p.get("normalized_shape")
    return len(given) if given else 1


def _ln_dims(x: Tensor, p: Params) -> list[int]:
    return list(range(-_ln_k(p), 0))


def _ln_forward(t: Tensors, p: Params) -> Tensor:
    x = t["x"]
    norm = tuple(x.shape[-_ln_k(p) :])
    return F.layer_norm(x, norm, t.get("weight"), t.get("bias"), p["eps"])


def _ln_stats(x: Tensor, p: Params) -> _Norm:
    dims = _ln_dims(x, p)
    d = _prod(x.shape[-len(dims) :])
    mean = x.sum(dim=dims, keepdim=True) / d
    var = ((x - mean) ** 2).sum(dim=dims, keepdim=True) / d
    sigma = torch.sqrt(var + p["eps"])
    return _Norm(mean, var, sigma, (x - mean) / sigma, d)


def _rows(v: Tensor, k: int = 1) -> Tensor:
    """Sum over every dimension but the last k."""
    return v.reshape(-1, *v.shape[v.dim() - k :]).sum(dim=0)


def _ln_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x, w = t["x"], t.get("weight")
    s, dims = _ln_stats(x, p), _ln_dims(x, p)
    ghat = g if w is None else g * w  # ∂L/∂x̂
    d = s.count
    sum_g = ghat.sum(dim=dims, keepdim=True)
    sum_gx = (ghat * s.xhat).sum(dim=dims, keepdim=True)
    grads = {"x": (d * ghat - sum_g - s.xhat * sum_gx) / (d * s.sigma)}
    if w is not None:
        grads["weight"] = _rows(g * s.xhat, len(dims))
    if t.get("bias") is not None:
        grads["bias"] = _rows(g, len(dims))
    return grads


def _row_dims(rank: int) -> tuple[str, ...]:
    return (*("n", "t", "s")[: rank - 1], "d")


class _RowsOf:
    """x seen as rows: every index but the last k (the normalised dims, D entries each),
    with the names and sums the steps of layernorm and rmsnorm write."""

    def __init__(self, x: Tensor, k: int) -> None:
        self.k = k
        self.dims = list(range(-k, 0))
        self.d = _prod(x.shape[-k:])
        self.lead = tuple(x.shape[: x.dim() - k])
        self.names = _row_dims(x.dim())
        self.rows = self.names[:-k] or ("row",)
        self.over = "Σ_d" if k == 1 else f"Σ over the last {k} dims ({dims_text(x.shape[-k:])})"
        self.per_row = "(per row)" if k == 1 else f"(per row, over the last {k} dims)"

    def row(self, v: Tensor) -> Tensor:
        """A per-row value, broadcast over the normalised dims."""
        return v.reshape(*self.lead, *([1] * self.k))

    def total(self, v: Tensor) -> Tensor:
        """A sum per row."""
        return v.sum(dim=self.dims).reshape(self.lead)


def _ln_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    """Each quantity from the ones before it, over the last k dimensions (normalized_shape)."""
    x, w, beta, eps = t["x"], t.get("weight"), t.get("bias"), p["eps"]
    rows_of = _RowsOf(x, _ln_k(p))
    k, d, names, rows, over = rows_of.k, rows_of.d, rows_of.names, rows_of.rows, rows_of.over
    row, total = rows_of.row, rows_of.total
    sums = ("Σ_d ĝ (per row)", "Σ_d ĝ·x̂ (per row)")
    if k > 1:
        sums = (f"Σ ĝ {rows_of.per_row}", f"Σ ĝ·x̂ {rows_of.per_row}")

    return staged(
        Step("μ (per row)", f"μ = (1/D) {over} x, D = {d}", dim_names=rows, key="mu",
             compute=lambda v: total(x) / d),
        Step("σ² (per row, biased)", f"σ² = (1/D) {over} (x − μ)²", dim_names=rows, key="var",
             depends_on=("mu",), compute=lambda v: total((x - row(v["mu"])) ** 2) / d),
        Step("σ = √(σ² + eps)", f"eps = {eps:g}", dim_names=rows, key="std",
             depends_on=("var",), compute=lambda v: torch.sqrt(v["var"] + eps)),
        Step("x̂ = (x − μ)/σ", "", dim_names=names, key="xhat", depends_on=("mu", "std"),
             compute=lambda v: (x - row(v["mu"])) / row(v["std"])),
        Step("y = γ·x̂ + β", "", dim_names=names, key="y", depends_on=("xhat",),
             compute=lambda v: v["xhat"] * (1.0 if w is None else w)
             + (0.0 if beta is None else beta)),
        Step("ĝ = G·γ = ∂L/∂x̂", "" if w is not None else "no γ: ĝ = G", dim_names=names,
             key="dxhat", compute=lambda v: g if w is None else g * w),
        Step(sums[0], "", dim_names=rows, key="sum_dxhat", depends_on=("dxhat",),
             compute=lambda v: total(v["dxhat"])),
        Step(sums[1], "", dim_names=rows, key="sum_dxhat_xhat", depends_on=("dxhat", "xhat"),
             compute=lambda v: total(v["dxhat"] * v["xhat"])),
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
    ("sum_dxhat", "Σ ĝ per row"),
    ("sum_dxhat_xhat", "Σ ĝ·x̂ per row"),
)


def _row_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    """Each row (every index but the normalised ones) of x reaches only that row of y."""
    rank = len(shapes["x"])
    return [{"x": i, "y": i} for i in range(rank - _ln_k(params))]


def _rms_shape(shapes: Shapes, params: Params) -> Shape:
    return _ln_shape(shapes, params, "rmsnorm")


def _rms_forward(t: Tensors, p: Params) -> Tensor:
    x = t["x"]
    return F.rms_norm(x, tuple(x.shape[-_ln_k(p) :]), t.get("weight"), p["eps"])


def _rms_parts(x: Tensor, p: Params) -> tuple[Tensor, Tensor, Tensor]:
    """mean(x²), r = √(mean(x²) + eps) and x̂ = x/r, per row (over the last k dims)."""
    dims = _ln_dims(x, p)
    ms = (x * x).sum(dim=dims, keepdim=True) / _prod(x.shape[-len(dims) :])
    r = torch.sqrt(ms + p["eps"])
    return ms, r, x / r


def _rms_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x, w = t["x"], t.get("weight")
    dims = _ln_dims(x, p)
    _, r, xhat = _rms_parts(x, p)
    ghat = g if w is None else g * w
    mean_gx = (ghat * xhat).sum(dim=dims, keepdim=True) / _prod(x.shape[-len(dims) :])
    grads = {"x": (ghat - xhat * mean_gx) / r}
    if w is not None:
        grads["weight"] = _rows(g * xhat, len(dims))
    return grads


def _rms_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    """Each quantity from the ones before it, over the last k dimensions (normalized_shape)."""
    x, w, eps = t["x"], t.get("weight"), p["eps"]
    rows_of = _RowsOf(x, _ln_k(p))
    d, names, rows, row, total = rows_of.d, rows_of.names, rows_of.rows, rows_of.row, rows_of.total

    return staged(
        Step(f"mean(x²) {rows_of.per_row}", f"(1/D) {rows_of.over} x², D = {d}",
             dim_names=rows, key="ms", compute=lambda v: total(x * x) / d),
        Step("r = √(mean(x²) + eps)", f"eps = {eps:g}", dim_names=rows, key="r",
             depends_on=("ms",), compute=lambda v: torch.sqrt(v["ms"] + eps)),
        Step("x̂ = x/r", "", dim_names=names, key="xhat", depends_on=("r",),
             compute=lambda v: x / row(v["r"])),
        Step("ĝ = G·γ = ∂L/∂x̂", "" if w is not None else "no γ: ĝ = G", dim_names=names,
             key="dxhat", compute=lambda v: g if w is None else g * w),
        Step(f"mean(ĝ·x̂) {rows_of.per_row}", f"(1/D) {rows_of.over} ĝ·x̂", dim_names=rows,
             key="mean_dxhat_xhat", depends_on=("dxhat", "xhat"),
             compute=lambda v: total(v["dxhat"] * v["xhat"]) / d),
        Step("∂L/∂x", "(ĝ − x̂·mean(ĝ·x̂)) / r", dim_names=names, key="x",
             depends_on=("dxhat", "xhat", "mean_dxhat_xhat", "r"),
             compute=lambda v: (v["dxhat"] - v["xhat"] * row(v["mean_dxhat_xhat"]))
             / row(v["r"])),
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
    _, r, _ = _rms_parts(t["x"], p)
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


def _normalized_shape(takes: str) -> LayerParam:
    """torch's ``normalized_shape``: the last k dims of x, the shape of γ (and β)."""
    return LayerParam(
        "normalized_shape",
        "ints",
        None,
        f"the trailing dims normalised over, e.g. 3,4; {takes} this shape",
        minimum=1,
        default_text="x's last dimension",
    )


def _bn_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    """Training: a channel of x reaches only that channel of y (its statistics are the
    channel's), with its γ and β. Eval: an entry reaches only its own sample, and a
    channel slice would not meet its running statistics, so γ and β go one at a time."""
    if params["training"]:
        return [{"x": 1, "weight": 0, "bias": 0, "y": 1}]
    return [{"x": 0, "y": 0}]


def _bn_notes(params: Params, shapes: Shapes) -> list[str]:
    if params["training"]:
        return [
            "batch norm in training mode: the batch's own mean and biased variance "
            "normalise (running statistics are not involved)"
        ]
    return [
        "batch norm in eval mode (training=false): running_mean and running_var normalise, "
        "constants with respect to x, so ∂L/∂x = γ·G/σ with no batch-statistics terms; left "
        "out, they are a fresh nn.BatchNorm's (mean 0, var 1)"
    ]


BATCHNORM = Layer(
    name="batchnorm",
    summary="batch normalisation, training mode (batch statistics) or eval mode (running "
    "statistics), F.batch_norm",
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
    params=(
        _eps(1e-5),
        LayerParam(
            "training",
            "bool",
            True,
            "true: batch statistics; false (eval): the running ones",
        ),
        LayerParam(
            "running_mean",
            "floats",
            None,
            "eval mode: μ per channel",
            default_text="zeros (eval mode)",
        ),
        LayerParam(
            "running_var",
            "floats",
            None,
            "eval mode: σ² per channel",
            check=lambda v: v >= 0,
            requirement="≥ 0 (a variance)",
            default_text="ones (eval mode)",
        ),
    ),
    forward_formula="y = γ·x̂ + β, x̂ = (x − μ)/σ, σ = √(σ² + eps); μ, σ² (biased) per "
    "channel, over every dimension but C (eval mode: μ, σ² = running_mean, running_var)",
    backward_formulas={
        "x": "∂L/∂x = γ/(M·σ) · (M·G − ΣG − x̂·Σ(G·x̂)), M = values per channel "
        "(eval mode: γ·G/σ, μ and σ fixed)",
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
    groups=_bn_groups,
    resolve=_bn_resolve,
    slips=_norm_slips("batchnorm"),
    notes=_bn_notes,
)


LAYERNORM = Layer(
    name="layernorm",
    summary="layer normalisation over the last dimension(s) (F.layer_norm)",
    inputs=(
        LayerInput("x", "…×normalized_shape", "input", _row_dims),
        _gamma("normalized_shape", "d", "nn.LayerNorm"),
        _beta("normalized_shape", "d", "nn.LayerNorm"),
    ),
    params=(
        _eps(1e-5),
        _normalized_shape("γ and β take"),
    ),
    forward_formula="y = γ·x̂ + β, x̂ = (x − μ)/σ, σ = √(σ² + eps); μ, σ² (biased) "
    "over the last dimension, or the last k = the dims of normalized_shape",
    backward_formulas={
        "x": "∂L/∂x = (D·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) / (D·σ), ĝ = G·γ, sums over the normalised "
        "dims, D = the number of entries they hold",
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
    summary="RMS normalisation over the last dimension(s) (F.rms_norm)",
    inputs=(
        LayerInput("x", "…×normalized_shape", "input", _row_dims),
        _gamma("normalized_shape", "d", "nn.RMSNorm"),
    ),
    params=(_eps(None), _normalized_shape("γ takes")),
    forward_formula="y = γ·x̂, x̂ = x/r, r = √(mean(x²) + eps); the mean over the last "
    "dimension, or the last k = the dims of normalized_shape",
    backward_formulas={
        "x": "∂L/∂x = (ĝ − x̂·mean(ĝ·x̂)) / r, ĝ = G·γ, x̂ = x/r, the mean over the normalised "
        "dims (D entries)",
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
