"""The layer registry: every layer whose backward pass people derive by hand, defined once.

Each record holds torch's forward (whose backward is what autograd reports), the backward
pass written from its closed form with plain tensor algebra (never ``torch.autograd``,
never ``torch.nn.grad``, never an aten ``*_backward`` op), the formulas as text, the
parameters with torch's defaults and their checks, the inputs and the shape rules, the
quantities ``--steps`` shows and the slips ``--expect`` looks for. The CLI, ``--list``,
the docs table and the tests all iterate over :data:`LAYERS`.

The scalar differentiated is L = Σ G ⊙ y, with y the layer's output and G the upstream
gradient, so every backward below maps G to ∂L/∂input.

Importing this module does not import torch: shapes and parameters are checked here in
plain Python, before any tensor exists.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradcli._torch import F, torch
from gradcli.errors import InputError, shown, unknown

if TYPE_CHECKING:
    from torch import Tensor

Shape = tuple[int, ...]
Shapes = Mapping[str, "Shape | None"]
Params = Mapping[str, Any]
Tensors = Mapping[str, "Tensor | None"]

MAX_DIMS = 4
FLOAT_EPS = {"float64": 2.0**-52, "float32": 2.0**-23}  # torch.finfo(dtype).eps
STEP_LINES = 16  # --steps writes out at most this many sums term by term


def dims_text(shape: Sequence[int]) -> str:
    """``(2, 3, 5)`` → ``2×3×5``."""
    return "×".join(str(n) for n in shape) if len(shape) else "scalar"


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class LayerInput:
    """One input of a layer: a float tensor with a gradient, or integer indices."""

    name: str
    shape: str  # e.g. "N×C×H×W"
    help: str
    dim_names: Callable[[int], tuple[str, ...]]  # names of its dimensions, by rank
    kind: str = "float"  # "float" (differentiable) or "index" (integers, no gradient)
    none_allowed: bool = False  # `--bias none`: the layer runs without it
    symbol: str = ""  # its name in the formulas (W, b, γ, β, Q, K, V), when not its own

    @property
    def has_gradient(self) -> bool:
        return self.kind == "float"


@dataclass(frozen=True)
class LayerParam:
    """One ``--param KEY=VALUE``: torch's default and what values it accepts.

    kind: ``int`` (one integer), ``pair`` (an integer or two, ``2`` or ``1,2``),
    ``float`` or ``bool``. ``default`` None means "derived" (``default_text`` says from
    what); ``required`` parameters have no default at all, as in torch.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: int = 0  # for int and pair
    check: Callable[[float], bool] | None = None  # for float
    requirement: str = ""
    default_text: str = ""
    required: bool = False

    def parse(self, raw: str, owner: str) -> Any:
        """The value of ``KEY=raw``, checked; InputError naming the parameter otherwise."""
        text = raw.strip()
        if self.kind == "bool":
            return _parse_bool(text, self.name, owner)
        if self.kind == "float":
            return self._parse_float(text, owner)
        return self._parse_ints(text, owner)

    def _parse_float(self, text: str, owner: str) -> float | None:
        if self.default is None and text.lower() == "none":
            return None
        try:
            value = float(text)
        except ValueError:
            raise InputError(
                f"{owner}: --param {self.name}={shown(text)} is not a number"
                + (" (or none)" if self.default is None else "")
            ) from None
        if not math.isfinite(value) or (self.check is not None and not self.check(value)):
            raise InputError(
                f"{owner}: --param {self.name}={shown(text)} must be {self.requirement}"
            )
        return value

    def _parse_ints(self, text: str, owner: str) -> int | tuple[int, int]:
        pieces = [p for p in re.split(r"[,\s]+", text.strip("()[] ")) if p]
        wanted = "an integer" if self.kind == "int" else "an integer or a pair like 1,2"
        if not pieces or len(pieces) > (1 if self.kind == "int" else 2):
            raise InputError(f"{owner}: --param {self.name}={shown(text)} must be {wanted}")
        values = []
        for piece in pieces:
            if not re.fullmatch(r"[+-]?\d{1,9}", piece):
                raise InputError(f"{owner}: --param {self.name}={shown(text)} must be {wanted}")
            value = int(piece)
            if value < self.minimum:
                raise InputError(
                    f"{owner}: --param {self.name}={shown(text)} must be ≥ {self.minimum}"
                    + (" (negative padding is not allowed)" if self.name == "padding" else "")
                )
            values.append(value)
        if len(values) == 1:
            return values[0]  # one integer serves both axes, as in torch
        return (values[0], values[1])

    def describe(self) -> str:
        """``name=default`` for listings."""
        if self.required:
            return f"{self.name} (required)"
        if self.default is None:
            return f"{self.name}={self.default_text or 'none'}"
        return f"{self.name}={_show(self.default)}"


def _parse_bool(text: str, name: str, owner: str) -> bool:
    words = {"true": True, "1": True, "yes": True, "on": True}
    words |= {"false": False, "0": False, "no": False, "off": False}
    if text.lower() not in words:
        raise InputError(f"{owner}: --param {name}={shown(text)} must be true or false")
    return words[text.lower()]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Step:
    """One intermediate quantity of the hand derivation: a tensor, or lines of text."""

    label: str
    formula: str = ""
    tensor: Tensor | None = None
    dim_names: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    symbol: str = ""  # the tensor's name in slice titles (default: the label's first word)


@dataclass(frozen=True)
class Layer:
    """One layer and everything gradcli knows about it."""

    name: str
    summary: str
    inputs: tuple[LayerInput, ...]
    params: tuple[LayerParam, ...]
    forward_formula: str
    backward_formulas: Mapping[str, str]  # input name → ∂L/∂input formula
    output_shape: Callable[[Shapes, Params], Shape]  # checks every shape; torch-free
    default_shape: Callable[[str, Shapes, Params], Shape | None]  # for inputs not given
    forward: Callable[[Tensors, Params], Tensor]  # torch's own forward
    backward: Callable[[Tensors, Params, Tensor], dict[str, Tensor]]  # closed form, G → grads
    steps: Callable[[Tensors, Params, Tensor], list[Step]]
    output_dims: Callable[[Shapes], tuple[str, ...]]
    # groups of (tensor name → dimension) that move together: the entry i of one only
    # reaches the entry i of the others ("y" is the output); finite differences use them
    # to evaluate only the slice a perturbed entry can change
    groups: Callable[[Shapes, Params], list[dict[str, int]]] = lambda shapes, params: []
    # inputs the forward also takes with an extra leading (batch) dimension, broadcasting
    # the others: finite differences stack perturbed copies of them along it
    broadcast_inputs: tuple[str, ...] = ()
    workspace: Callable[[Shapes, Params, Shape], int] = lambda shapes, params, out: 0
    multiply_adds: Callable[[Shapes, Params, Shape], int] | None = None
    resolve: Callable[[Shapes, Params, str], dict[str, Any]] = lambda s, p, d: {}
    # a given tensor's shape as the layer reads it (linear: a weight vector is one row)
    reshape: Callable[[str, Shape], Shape] = lambda name, shape: shape
    check_values: Callable[[Shapes, Mapping[str, Sequence[float]]], None] | None = None
    draw_state: Callable[[Shapes, Params, Any], dict[str, Tensor]] | None = None
    state_text: Callable[[Params, Shape], str] | None = None  # how the state was drawn
    # where finite differences are not meaningful (the max of a window is tied)
    untrusted: Callable[[Tensors, Params, str], Tensor | None] | None = None
    slips: Callable[[Tensors, Params, Tensor, str], list[tuple[str, Tensor]]] = (
        lambda tensors, params, g, name: []
    )
    notes: Callable[[Params, Shapes], list[str]] = lambda params, shapes: []
    kinks_text: str = ""

    def input(self, name: str) -> LayerInput:
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.inputs)

    @property
    def gradient_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.inputs if item.has_gradient)

    def resolve_params(self, items: Sequence[str]) -> dict[str, Any]:
        """torch's defaults overridden by ``--param KEY=VALUE`` items, each checked."""
        by_name = {param.name: param for param in self.params}
        values: dict[str, Any] = {param.name: param.default for param in self.params}
        seen: set[str] = set()
        for item in items:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise InputError(f"--param {shown(item)} must look like KEY=VALUE")
            if key not in by_name:
                if not by_name:
                    raise InputError(f"{self.name} has no parameters (got --param {shown(key)})")
                raise unknown(f"parameter for {self.name}", key, by_name)
            if key in seen:
                raise InputError(f"{self.name}: --param {key} is given twice")
            seen.add(key)
            values[key] = by_name[key].parse(raw, self.name)
        for param in self.params:
            if param.required and values[param.name] is None:
                raise InputError(
                    f"{self.name} needs --param {param.name}=… ({param.help}); torch has no "
                    "default for it"
                )
        return values


# ---------------------------------------------------------------- shape helpers


def _names(*options: tuple[str, ...]) -> Callable[[int], tuple[str, ...]]:
    """Dimension names by rank, from the options given (one per possible rank)."""
    by_rank = {len(option): option for option in options}

    def names(rank: int) -> tuple[str, ...]:
        return by_rank.get(rank, tuple(f"d{i}" for i in range(rank)))

    return names


def _need_rank(layer: str, what: str, shape: Shape, ranks: Sequence[int], form: str) -> None:
    if len(shape) not in ranks:
        wanted = str(ranks[0]) if len(ranks) == 1 else f"{ranks[0]} to {ranks[-1]}"
        raise InputError(
            f"{layer}: --{what} must have {wanted} dimensions ({form}), got {len(shape)} "
            f"({what} is {dims_text(shape)})"
        )


def _need_vector(layer: str, what: str, shape: Shape | None, size: int, why: str) -> None:
    if shape is not None and tuple(shape) != (size,):
        raise InputError(
            f"{layer}: --{what} has shape {dims_text(shape)} but {why}, so it needs {size} "
            f"values (a vector of {size})"
        )


def _pair(value: Any) -> tuple[int, int]:
    return value if isinstance(value, tuple) else (value, value)


def _prod(values: Sequence[int]) -> int:
    return math.prod(values)


# ---------------------------------------------------------------- linear


def _linear_shape(shapes: Shapes, params: Params) -> Shape:
    x, w, b = shapes["x"], shapes["weight"], shapes.get("bias")
    _need_rank("linear", "x", x, (1, 2, 3, 4), "…×in")
    _need_rank("linear", "weight", w, (2,), "out×in")
    if w[1] != x[-1]:
        raise InputError(
            f"linear: --weight has {w[1]} input columns but --x has {x[-1]} features "
            f"(x is {dims_text(x)}, weight is {dims_text(w)}; weight is out×in like "
            "nn.Linear.weight)"
        )
    _need_vector("linear", "bias", b, w[0], f"weight is {dims_text(w)} ({w[0]} outputs)")
    return (*x[:-1], w[0])


def _linear_default(name: str, shapes: Shapes, params: Params) -> Shape | None:
    if name == "bias" and shapes.get("weight"):
        return (shapes["weight"][0],)
    return None


def _linear_forward(t: Tensors, p: Params) -> Tensor:
    return F.linear(t["x"], t["weight"], t.get("bias"))


def _linear_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x, w = t["x"], t["weight"]
    g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])  # rows = samples
    grads = {"x": g @ w, "weight": g2.T @ x2}
    if t.get("bias") is not None:
        grads["bias"] = g2.sum(dim=0)
    return grads


def _linear_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x, w = t["x"], t["weight"]
    x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    steps = [
        Step("y = x Wᵀ + b", "", F.linear(x, w, t.get("bias")), _linear_out_dims(x.dim())),
        Step("G = ∂L/∂y (upstream)", "", g, _linear_out_dims(x.dim())),
    ]
    out, fan_in = w.shape
    if out * fan_in <= STEP_LINES:
        lines = []
        for o in range(out):
            for i in range(fan_in):
                terms = [(float(g2[n, o]), float(x2[n, i])) for n in range(x2.shape[0])]
                lines.append(f"∂L/∂W[{o},{i}] = Σ_n G[n,{o}]·x[n,{i}] = {_sum_text(terms)}")
        steps.append(Step("∂L/∂W = Gᵀ x, entry by entry", lines=tuple(lines)))
    return steps


def _linear_out_dims(rank: int) -> tuple[str, ...]:
    return (*("n", "t", "s")[: rank - 1], "o") if rank > 1 else ("o",)


# ---------------------------------------------------------------- normalisation layers


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
    x = t["x"]
    s = _bn_stats(x, p["eps"])
    dims = _bn_dims(x)
    names = _bn_x_dims(x.dim())
    where = "over every dimension but C" if x.dim() > 2 else "over the batch (dimension N)"
    return [
        Step(
            "μ (per channel)", f"μ_c = (1/M) Σ x, {where}; M = {s.count}", s.mean.flatten(), ("c",)
        ),
        Step("σ² (per channel, biased)", "σ²_c = (1/M) Σ (x − μ_c)²", s.var.flatten(), ("c",)),
        Step("σ = √(σ² + eps)", f"eps = {p['eps']:g}", s.sigma.flatten(), ("c",)),
        Step("x̂ = (x − μ)/σ", "", s.xhat, names),
        Step("G = ∂L/∂y (upstream)", "", g, names),
        Step("ΣG (per channel)", "= ∂L/∂β", g.sum(dim=dims).flatten(), ("c",)),
        Step("Σ(G·x̂) (per channel)", "= ∂L/∂γ", (g * s.xhat).sum(dim=dims).flatten(), ("c",)),
        Step(
            "∂L/∂x",
            "γ/(M·σ) · (M·G − ΣG − x̂·Σ(G·x̂))",
            _bn_backward(t, p, g)["x"],
            names,
        ),
    ]


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
    x, w = t["x"], t.get("weight")
    s = _ln_stats(x, p["eps"])
    names = _row_dims(x.dim())
    rows = names[:-1] or ("row",)
    ghat = g if w is None else g * w
    return [
        Step("μ (per row)", f"μ = (1/D) Σ_d x, D = {s.count}", s.mean.squeeze(-1), rows),
        Step("σ² (per row, biased)", "σ² = (1/D) Σ_d (x − μ)²", s.var.squeeze(-1), rows),
        Step("σ = √(σ² + eps)", f"eps = {p['eps']:g}", s.sigma.squeeze(-1), rows),
        Step("x̂ = (x − μ)/σ", "", s.xhat, names),
        Step("ĝ = G·γ = ∂L/∂x̂", "" if w is not None else "no γ: ĝ = G", ghat, names),
        Step("Σ_d ĝ (per row)", "", ghat.sum(dim=-1), rows),
        Step("Σ_d ĝ·x̂ (per row)", "", (ghat * s.xhat).sum(dim=-1), rows),
        Step("∂L/∂x", "(D·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) / (D·σ)", _ln_backward(t, p, g)["x"], names),
    ]


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
    x, w = t["x"], t.get("weight")
    ms, r, xhat = _rms_parts(x, p["eps"])
    names = _row_dims(x.dim())
    rows = names[:-1] or ("row",)
    ghat = g if w is None else g * w
    return [
        Step("mean(x²) (per row)", f"(1/D) Σ_d x², D = {x.shape[-1]}", ms.squeeze(-1), rows),
        Step("r = √(mean(x²) + eps)", f"eps = {p['eps']:g}", r.squeeze(-1), rows),
        Step("x̂ = x/r", "", xhat, names),
        Step("ĝ = G·γ = ∂L/∂x̂", "" if w is not None else "no γ: ĝ = G", ghat, names),
        Step(
            "mean(ĝ·x̂) (per row)",
            "",
            (ghat * xhat).sum(dim=-1) / x.shape[-1],
            rows,
        ),
        Step("∂L/∂x", "(ĝ − x̂·mean(ĝ·x̂)) / r", _rms_backward(t, p, g)["x"], names),
    ]


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


# ---------------------------------------------------------------- convolution


def _conv_names(nd: int) -> tuple[str, ...]:
    return ("h", "w") if nd == 2 else ("l",)


def _conv_shape_for(nd: int) -> Callable[[Shapes, Params], Shape]:
    layer = f"conv{nd}d"
    x_form = "N×C×H×W" if nd == 2 else "N×C×L"
    w_form = "O×C×kh×kw" if nd == 2 else "O×C×K"

    def shape(shapes: Shapes, params: Params) -> Shape:
        x, w, b = shapes["x"], shapes["weight"], shapes.get("bias")
        _need_rank(layer, "x", x, (nd + 2,), x_form)
        _need_rank(layer, "weight", w, (nd + 2,), w_form)
        both = f"x is {dims_text(x)}, weight is {dims_text(w)}"
        if w[1] != x[1]:
            raise InputError(
                f"{layer}: --weight has {w[1]} input channels but --x has {x[1]} ({both})"
            )
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
        return conv(t["x"], t["weight"], t.get("bias"), p["stride"], p["padding"], p["dilation"])

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
    g: Tensor, w: Tensor, input_hw: tuple[int, int], stride: tuple, padding: tuple, dilation: tuple
) -> _InputGradientParts:
    """∂L/∂x: the correlation of G (stride-dilated, zero-padded) with the flipped kernel.

    G↑s puts s − 1 zeros between G's entries; padding it by d(k − 1) on each side and
    correlating with rot180(W), channels swapped (C×O×kh×kw), with dilation d gives
    ∂L/∂x_pad; rows and columns no window reached get 0; cropping p gives ∂L/∂x.
    (``F.conv2d`` is used here as the plain correlation it computes.)
    """
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, o, ho, wo = g.shape
    kh, kw = w.shape[2], w.shape[3]
    height, width = input_hw
    spread = g.new_zeros(n, o, (ho - 1) * sh + 1, (wo - 1) * sw + 1)
    spread[:, :, ::sh, ::sw] = g
    full = F.pad(spread, (dw * (kw - 1), dw * (kw - 1), dh * (kh - 1), dh * (kh - 1)))
    flipped = w.flip(2, 3).transpose(0, 1)
    reached = F.conv2d(full, flipped, dilation=(dh, dw))
    hp, wp = height + 2 * ph, width + 2 * pw
    padded = F.pad(reached, (0, wp - reached.shape[3], 0, hp - reached.shape[2]))
    dx = padded[:, :, ph : ph + height, pw : pw + width]
    return _InputGradientParts(spread, full, padded, dx)


def conv2d_input_gradient(
    g: Tensor, w: Tensor, input_hw: tuple[int, int], stride: tuple, padding: tuple, dilation: tuple
) -> Tensor:
    """∂L/∂x of a convolution (see :func:`conv2d_input_parts`)."""
    return conv2d_input_parts(g, w, input_hw, stride, padding, dilation).dx


def conv2d_weight_gradient(
    x: Tensor, g: Tensor, kernel: tuple[int, int], stride: tuple, padding: tuple, dilation: tuple
) -> Tensor:
    """∂L/∂W[o,c,p,q] = Σ_{n,i,j} G[n,o,i,j]·x_pad[n,c,i·s+p·d, j·s+q·d].

    ``unfold`` lists, for every output position (i, j), the input patch its window
    covers; each weight entry is then the sum over positions of G times the patch entry
    it meets: the correlation of x with G.
    """
    n, o = g.shape[0], g.shape[1]
    patches = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)
    per_sample = g.reshape(n, o, -1) @ patches.transpose(1, 2)  # N × O × C·kh·kw
    return per_sample.sum(dim=0).reshape(o, x.shape[1], *kernel)


def _conv_backward_for(nd: int) -> Callable[[Tensors, Params, Tensor], dict[str, Tensor]]:
    def backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
        x, w, stride, padding, dilation = _as_2d(t, p, nd)
        g2 = g.unsqueeze(2) if nd == 1 else g
        dx = conv2d_input_gradient(g2, w, (x.shape[2], x.shape[3]), stride, padding, dilation)
        dw = conv2d_weight_gradient(x, g2, tuple(w.shape[2:]), stride, padding, dilation)
        grads = {"x": dx.squeeze(2) if nd == 1 else dx, "weight": dw.squeeze(2) if nd == 1 else dw}
        if t.get("bias") is not None:
            grads["bias"] = g.sum(dim=[0, *range(2, g.dim())])
        return grads

    return backward


def _conv_steps_for(nd: int) -> Callable[[Tensors, Params, Tensor], list[Step]]:
    def steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
        x, w, stride, padding, dilation = _as_2d(t, p, nd)
        g2 = g.unsqueeze(2) if nd == 1 else g
        names = ("n", "c", *_conv_names(nd))
        out_names = ("n", "o", *_conv_names(nd))
        kernel_names = ("o", "c", *(("p", "q") if nd == 2 else ("p",)))
        result = [Step("G = ∂L/∂y (upstream)", "", g, out_names)]
        if any(padding):
            padded = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
            result.append(Step("x_pad (x with zero padding)", "", _back(padded, nd), names))
        result.append(_patch_step(x, g2, stride, padding, dilation, w, nd))
        parts = conv2d_input_parts(g2, w, (x.shape[2], x.shape[3]), stride, padding, dilation)
        if stride[0] > 1 or stride[1] > 1:
            result.append(
                Step("G↑s (G with s − 1 zeros between entries)", "", _back(parts.spread, nd),
                     out_names)
            )  # fmt: skip
        pad = [dilation[i] * (w.shape[2 + i] - 1) for i in range(2)]
        result.append(
            Step(
                f"G↑s zero-padded by d(k − 1) = {pad[1] if nd == 1 else _show(tuple(pad))}",
                "the input of the full correlation",
                _back(parts.full, nd),
                out_names,
                symbol="pad(G↑s)",
            )
        )
        result.append(
            Step(
                "rot180(W) (the kernel flipped in every spatial dimension)",
                "",
                _back(w.flip(2, 3), nd),
                kernel_names,
            )
        )
        target = "∂L/∂x_pad" if any(padding) else "∂L/∂x"
        result.append(
            Step(
                f"{target} = pad(G↑s) ⋆ rot180(W)",
                "correlation summed over o (channels swapped), dilation d"
                + ("; then crop the padding p to get ∂L/∂x" if any(padding) else ""),
                _back(parts.padded, nd),
                names,
            )
        )
        result.append(_weight_lines(x, g2, stride, padding, dilation, w, nd))
        return result

    return steps


def _back(v: Tensor, nd: int) -> Tensor:
    """Undo conv1d's extra height-1 dimension."""
    return v.squeeze(2) if nd == 1 else v


def _span(start: int, count: int, step: int) -> str:
    last = start + (count - 1) * step
    if count == 1:
        return f"{start}"
    return f"{start}:{last + 1}" + (f":{step}" if step > 1 else "")


def _first(limit: int, *sizes: int) -> list[tuple[int, ...]]:
    """The first ``limit`` index tuples of a grid of ``sizes``, in row-major order."""
    return list(itertools.islice(itertools.product(*(range(n) for n in sizes)), limit))


def _patch_step(x, g, stride, padding, dilation, w, nd) -> Step:
    """Which input patch meets the kernel at each output position."""
    n, o, ho, wo = g.shape
    kh, kw = w.shape[2], w.shape[3]
    (sh, sw), (dh, dw) = stride, dilation
    source = "x_pad" if any(padding) else "x"
    lines = []
    for b, k, i, j in _first(STEP_LINES, n, o, ho, wo):
        rows, cols = _span(i * sh, kh, dh), _span(j * sw, kw, dw)
        where = f"{b}, :, {cols}" if nd == 1 else f"{b}, :, {rows}, {cols}"
        out = f"{b},{k},{j}" if nd == 1 else f"{b},{k},{i},{j}"
        lines.append(f"y[{out}] = b[{k}] + Σ W[{k}] ⊙ {source}[{where}]")
    total = n * o * ho * wo
    if total > len(lines):
        lines.append(f"… {total - len(lines)} more output positions, each one window further")
    return Step("Which input patch meets the kernel (forward)", "", lines=tuple(lines))


def _weight_lines(x, g, stride, padding, dilation, w, nd) -> Step:
    """Each weight entry meets a strided sub-grid of x_pad: ∂L/∂W is x correlated with G."""
    o, c, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = g.shape[2], g.shape[3]
    grad = conv2d_weight_gradient(x, g, (kh, kw), stride, padding, dilation)
    source = "x_pad" if any(padding) else "x"
    lines = []
    for a, b, p, q in _first(STEP_LINES, o, c, kh, kw):
        rows, cols = _span(p * dh, ho, sh), _span(q * dw, wo, sw)
        value = _num(float(grad[a, b, p, q]))
        if nd == 1:
            lines.append(f"∂L/∂W[{a},{b},{q}] = Σ G[:,{a}] ⊙ {source}[:,{b},{cols}] = {value}")
        else:
            lines.append(
                f"∂L/∂W[{a},{b},{p},{q}] = Σ G[:,{a}] ⊙ {source}[:,{b},{rows},{cols}] = {value}"
            )
    total = o * c * kh * kw
    if total > len(lines):
        lines.append(f"… {total - len(lines)} more weight entries (see ∂L/∂weight)")
    return Step(
        "Which input entries each weight meets (∂L/∂W = correlation of x with G)",
        f"∂L/∂W[o,c,p,q] = Σ_n,i,j G[n,o,i,j] · {source}[n,c,i·s+p·d, j·s+q·d]",
        lines=tuple(lines),
    )


def _conv_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    return [{"x": 0, "y": 0}, {"weight": 0, "bias": 0, "y": 1}]


def _conv_workspace(shapes: Shapes, params: Params, out: Shape) -> int:
    """unfold's patches: N·C·(kernel entries)·(output positions), and G↑s padded."""
    x, w = shapes["x"], shapes["weight"]
    patches = x[0] * x[1] * _prod(w[2:]) * _prod(out[2:])
    stride = _pair(params["stride"])
    spread = (
        out[0] * out[1] * _prod(s * n + k for s, n, k in zip(stride, out[2:], w[2:], strict=False))
    )
    return patches + spread + _prod(x)


def _conv_mads(shapes: Shapes, params: Params, out: Shape) -> int:
    w = shapes["weight"]
    return _prod(out) * _prod(w[1:])


def _conv_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    if name != "x":
        return []
    nd = t["x"].dim() - 2
    x, w, stride, padding, dilation = _as_2d(t, p, nd)
    g2 = g.unsqueeze(2) if nd == 1 else g
    unflipped = conv2d_input_gradient(
        g2, w.flip(2, 3), (x.shape[2], x.shape[3]), stride, padding, dilation
    )
    return [
        (
            "∂L/∂x with the kernel not flipped (correlation instead of convolution)",
            _back(unflipped, nd),
        )
    ]


# ---------------------------------------------------------------- pooling


def _pool_geometry(params: Params) -> tuple[tuple, tuple, tuple, tuple]:
    kernel = _pair(params["kernel_size"])
    stride = _pair(params["stride"]) if params["stride"] is not None else kernel
    padding = _pair(params["padding"])
    dilation = _pair(params.get("dilation", 1))
    return kernel, stride, padding, dilation


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
            out.append((size + 2 * pad - extent) // s + 1)
        return (x[0], x[1], *out)

    return shape


def _pool_resolve(shapes: Shapes, params: Params, dtype: str) -> dict[str, Any]:
    if params["stride"] is None:
        return {"stride": params["kernel_size"]}
    return {}


def _windows(x: Tensor, params: Params, fill: float) -> tuple[Tensor, tuple]:
    """Every pooling window of x as a column: N × C × (window entries) × (positions)."""
    kernel, stride, padding, dilation = _pool_geometry(params)
    padded = F.pad(x, (padding[1], padding[1], padding[0], padding[0]), value=fill)
    n, c = x.shape[:2]
    flat = padded.reshape(n * c, 1, *padded.shape[2:])
    cols = F.unfold(flat, kernel, dilation=dilation, stride=stride)
    return cols.reshape(n, c, kernel[0] * kernel[1], -1), (kernel, stride, padding, dilation)


def _fold(cols: Tensor, x: Tensor, geometry: tuple) -> Tensor:
    """Sum window columns back onto x's grid (overlapping windows accumulate), crop padding."""
    kernel, stride, padding, dilation = geometry
    n, c, h, w = x.shape
    flat = cols.reshape(n * c, kernel[0] * kernel[1], -1)
    folded = F.fold(flat, (h, w), kernel, dilation=dilation, padding=padding, stride=stride)
    return folded.reshape(n, c, h, w)


def _maxpool_forward(t: Tensors, p: Params) -> Tensor:
    kernel, stride, padding, dilation = _pool_geometry(p)
    return F.max_pool2d(t["x"], kernel, stride, padding, dilation)


def _argmax(x: Tensor, p: Params) -> tuple[Tensor, Tensor, tuple]:
    """Each window's columns and the position of its first maximum in scan order."""
    cols, geometry = _windows(x, p, float("-inf"))
    return cols, cols.argmax(dim=2), geometry  # argmax returns the first maximal index


def _maxpool_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x = t["x"]
    cols, winner, geometry = _argmax(x, p)
    n, c = x.shape[:2]
    routed = torch.zeros_like(cols).scatter_(2, winner.unsqueeze(2), g.reshape(n, c, 1, -1))
    return {"x": _fold(routed, x, geometry)}


def _maxpool_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x = t["x"]
    _, winner, (kernel, stride, padding, dilation) = _argmax(x, p)
    n, c, ho, wo = g.shape
    lines = []
    for b, ch, i, j in _first(2 * STEP_LINES, n, c, ho, wo):
        k = int(winner[b, ch, i * wo + j])
        h = i * stride[0] + (k // kernel[1]) * dilation[0] - padding[0]
        w = j * stride[1] + (k % kernel[1]) * dilation[1] - padding[1]
        lines.append(
            f"window y[{b},{ch},{i},{j}]: max at x[{b},{ch},{h},{w}] = "
            f"{_num(float(x[b, ch, h, w]))}  →  gets G = {_num(float(g[b, ch, i, j]))}"
        )
    total = n * c * ho * wo
    if total > len(lines):
        lines.append(f"… {total - len(lines)} more windows")
    return [
        Step("G = ∂L/∂y (upstream)", "", g, ("n", "c", "i", "j")),
        Step(
            "arg-max of each window (ties: the first maximum in scan order, as torch)",
            "∂L/∂x[h,w] = Σ G over the windows whose max is x[h,w]; 0 elsewhere",
            lines=tuple(lines),
        ),
    ]


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


def _pool_workspace(shapes: Shapes, params: Params, out: Shape) -> int:
    kernel = _pair(params["kernel_size"])
    return 3 * out[0] * out[1] * _prod(out[2:]) * _prod(kernel) + 2 * _prod(shapes["x"])


def _avgpool_forward(t: Tensors, p: Params) -> Tensor:
    kernel, stride, padding, _ = _pool_geometry(p)
    return F.avg_pool2d(t["x"], kernel, stride, padding, count_include_pad=p["count_include_pad"])


def _avg_divisors(x: Tensor, p: Params) -> Tensor:
    """How many entries each window averages: kh·kw, or only the real ones."""
    ones, _ = _windows(torch.ones_like(x[:1, :1]), p, 0.0)
    if p["count_include_pad"]:
        return torch.full_like(ones[:, :, :1], ones.shape[2])
    return ones.sum(dim=2, keepdim=True)


def _avgpool_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    x = t["x"]
    n, c = x.shape[:2]
    cols, geometry = _windows(x, p, 0.0)
    share = (g.reshape(n, c, 1, -1) / _avg_divisors(x, p)).expand_as(cols)
    return {"x": _fold(share, x, geometry)}


def _avgpool_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    x = t["x"]
    divisors = _avg_divisors(x, p).reshape(g.shape[2], g.shape[3])
    return [
        Step("G = ∂L/∂y (upstream)", "", g, ("n", "c", "i", "j")),
        Step(
            "divisor of each window",
            "kh·kw"
            if p["count_include_pad"]
            else "the window's entries inside x (padding left out)",
            divisors,
            ("i", "j"),
        ),
        Step(
            "∂L/∂x",
            "each window spreads G/divisor over its entries; overlaps add up",
            _avgpool_backward(t, p, g)["x"],
            ("n", "c", "h", "w"),
        ),
    ]


def _avgpool_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    x = t["x"]
    n, c = x.shape[:2]
    cols, geometry = _windows(x, p, 0.0)
    spread = g.reshape(n, c, 1, -1).expand_as(cols)
    return [("∂L/∂x without dividing by the window size", _fold(spread, x, geometry))]


# ---------------------------------------------------------------- dropout


def _dropout_shape(shapes: Shapes, params: Params) -> Shape:
    x = shapes["x"]
    _need_rank("dropout", "x", x, (1, 2, 3, 4), "any shape")
    return tuple(x)


def _dropout_state(shapes: Shapes, params: Params, generator) -> dict[str, Tensor]:
    """The mask, drawn as torch's dropout draws it (none when p = 0, as torch)."""
    x = shapes["x"]
    if params["p"] == 0:
        return {"mask": torch.ones(x)}
    return {"mask": torch.empty(x).bernoulli_(1 - params["p"], generator=generator)}


def _dropout_state_text(params: Params, shape: Shape) -> str:
    if params["p"] == 0:
        return "mask = ones (p = 0 draws nothing, as torch)"
    keep = 1 - params["p"]
    return f"mask = torch.empty({', '.join(map(str, shape))}).bernoulli_({keep:g})"


def _dropout_forward(t: Tensors, p: Params) -> Tensor:
    """torch's F.dropout with the mask made explicit: x · (m / (1 − p))."""
    return t["x"] * (t["mask"] / (1 - p["p"]))


def _dropout_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    return {"x": g * t["mask"] / (1 - p["p"])}


def _dropout_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    names = _generic_dims(t["x"].dim())
    kept = int(t["mask"].sum())
    return [
        Step(
            "mask m (1 = kept, 0 = dropped)",
            f"{kept} of {t['mask'].numel()} kept; each kept with probability 1 − p = "
            f"{1 - p['p']:g}",
            t["mask"],
            names,
        ),
        Step("scale 1/(1 − p)", f"= {1 / (1 - p['p']):.6g}", lines=()),
        Step("G = ∂L/∂y (upstream)", "", g, names),
        Step("∂L/∂x = G·m/(1 − p)", "", g * t["mask"] / (1 - p["p"]), names),
    ]


def _dropout_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    return [("∂L/∂x = G·m, without the 1/(1 − p) scaling", g * t["mask"])]


def _elementwise_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    return [{"x": i, "mask": i, "y": i} for i in range(len(shapes["x"]))]


def _generic_dims(rank: int) -> tuple[str, ...]:
    return ("i", "j", "k", "l")[-rank:] if rank <= 2 else ("n", "c", "h", "w")[-rank:]


# ---------------------------------------------------------------- embedding


def _embedding_shape(shapes: Shapes, params: Params) -> Shape:
    idx, w = shapes["indices"], shapes["weight"]
    _need_rank("embedding", "indices", idx, (1, 2, 3), "…, integers")
    _need_rank("embedding", "weight", w, (2,), "num×dim")
    return (*idx, w[1])


def _embedding_values(shapes: Shapes, values: Mapping[str, Sequence[float]]) -> None:
    rows = shapes["weight"][0]
    for i, value in enumerate(values.get("indices", ())):
        if value != int(value):
            raise InputError(f"embedding: --indices entry {i} is {value:g}, not an integer")
        if not 0 <= value < rows:
            raise InputError(
                f"embedding: index {int(value)} (entry {i} of --indices) is out of range: "
                f"weight is {dims_text(shapes['weight'])}, so indices run from 0 to {rows - 1}"
            )


def _embedding_forward(t: Tensors, p: Params) -> Tensor:
    return F.embedding(t["indices"], t["weight"])


def _embedding_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    """Scatter-add: row r of ∂L/∂W sums the rows of G at every position holding index r."""
    w, idx = t["weight"], t["indices"]
    dw = torch.zeros_like(w).index_add_(0, idx.reshape(-1), g.reshape(-1, w.shape[1]))
    return {"weight": dw}


def _embedding_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    idx = t["indices"].reshape(-1).tolist()
    positions: dict[int, list[int]] = {}
    for position, row in enumerate(idx):
        positions.setdefault(row, []).append(position)
    shape = tuple(t["indices"].shape)
    lines = []
    for row in sorted(positions):
        where = [_index_text(pos, shape) for pos in positions[row]]
        written = " + ".join(f"G[{w}]" for w in where[:6]) + (" + …" if len(where) > 6 else "")
        lines.append(
            f"∂L/∂W[{row}] = {written}" + ("  (repeated: accumulates)" if len(where) > 1 else "")
        )
    unused = t["weight"].shape[0] - len(positions)
    if unused:
        lines.append(f"the other {unused} row(s) of W are never looked up: their gradient is 0")
    return [
        Step("G = ∂L/∂y (upstream)", "", g, (*("n", "t", "s")[: len(shape)], "d")),
        Step(
            "scatter-add of G's rows into the looked-up rows of W",
            lines=tuple(lines[: 2 * STEP_LINES]),
        ),
    ]


def _index_text(position: int, shape: Shape) -> str:
    index = []
    for size in reversed(shape):
        index.append(position % size)
        position //= size
    return ",".join(str(i) for i in reversed(index))


# ---------------------------------------------------------------- attention


def _attention_shape(shapes: Shapes, params: Params) -> Shape:
    q, k, v = shapes["q"], shapes["k"], shapes["v"]
    for what, shape, form in (("q", q, "…×L×d"), ("k", k, "…×S×d"), ("v", v, "…×S×dv")):
        _need_rank("attention", what, shape, (2, 3, 4), form)
    both = f"q is {dims_text(q)}, k is {dims_text(k)}, v is {dims_text(v)}"
    if not (len(q) == len(k) == len(v)) or q[:-2] != k[:-2] or k[:-2] != v[:-2]:
        raise InputError(f"attention: q, k and v need the same leading (batch) dimensions ({both})")
    if q[-1] != k[-1]:
        raise InputError(f"attention: q and k need the same last dimension d ({both})")
    if k[-2] != v[-2]:
        raise InputError(f"attention: k and v need the same number of positions S ({both})")
    return (*q[:-1], v[-1])


def _attention_default(name: str, shapes: Shapes, params: Params) -> Shape | None:
    if name == "k" and shapes.get("q"):
        return tuple(shapes["q"])
    if name == "v" and shapes.get("k"):
        return tuple(shapes["k"])
    return None


def _attention_resolve(shapes: Shapes, params: Params, dtype: str) -> dict[str, Any]:
    if params["scale"] is None:
        return {"scale": 1 / math.sqrt(shapes["q"][-1])}
    return {}


def _attention_forward(t: Tensors, p: Params) -> Tensor:
    return F.scaled_dot_product_attention(
        t["q"], t["k"], t["v"], is_causal=p["causal"], scale=p["scale"]
    )


@dataclass
class _Attention:
    scores: Tensor  # S = Q Kᵀ·scale, −∞ where the causal mask hides a key
    probs: Tensor  # P = softmax(S) by rows
    dprobs: Tensor  # dP = G Vᵀ
    dscores: Tensor  # dS = P ⊙ (dP − rowsum(dP ⊙ P))


def _attention_parts(t: Tensors, p: Params, g: Tensor) -> _Attention:
    from gradcli.core.softmax import softmax_vjp, stable_softmax

    q, k, v = t["q"], t["k"], t["v"]
    scores = q @ k.transpose(-2, -1) * p["scale"]
    if p["causal"]:
        length, keys = q.shape[-2], k.shape[-2]
        allowed = torch.ones(length, keys, dtype=torch.bool).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    probs = stable_softmax(scores, 1.0)
    dprobs = g @ v.transpose(-2, -1)
    return _Attention(scores, probs, dprobs, softmax_vjp(probs, dprobs))


def _attention_backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
    a = _attention_parts(t, p, g)
    return {
        "q": a.dscores @ t["k"] * p["scale"],
        "k": a.dscores.transpose(-2, -1) @ t["q"] * p["scale"],
        "v": a.probs.transpose(-2, -1) @ g,
    }


def _attention_steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
    a = _attention_parts(t, p, g)
    lead = ("b", "h")[: t["q"].dim() - 2]
    rows = (*lead, "i", "j")
    masked = "; −∞ above the diagonal (causal)" if p["causal"] else ""
    return [
        Step("S = Q Kᵀ·scale", f"scale = {p['scale']:.6g}{masked}", a.scores, rows),
        Step("P = softmax(S) by rows", "max-shifted: exp(S − max) / Σ exp(S − max)", a.probs, rows),
        Step("G = ∂L/∂y (upstream)", "", g, (*lead, "i", "e")),
        Step("dP = G Vᵀ", "", a.dprobs, rows),
        Step(
            "dS = P ⊙ (dP − rowsum(dP ⊙ P))",
            "the softmax Jacobian p_i(δ_ij − p_j) applied to each row of dP",
            a.dscores,
            rows,
        ),
    ]


def _attention_slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
    a = _attention_parts(t, p, g)
    if name == "q":
        return [
            (f"∂L/∂Q without the scale factor {p['scale']:.4g}", a.dscores @ t["k"]),
            (
                "∂L/∂Q with dP in place of dS (the softmax Jacobian skipped)",
                a.dprobs.masked_fill(a.probs == 0, 0) @ t["k"] * p["scale"],
            ),
        ]
    if name == "k":
        return [
            (
                f"∂L/∂K without the scale factor {p['scale']:.4g}",
                a.dscores.transpose(-2, -1) @ t["q"],
            ),
        ]
    if a.probs.shape[-1] == a.probs.shape[-2]:
        return [("∂L/∂V = P G instead of Pᵀ G", a.probs @ g)]
    return []


def _attention_groups(shapes: Shapes, params: Params) -> list[dict[str, int]]:
    lead = len(shapes["q"]) - 2
    groups = [{"q": i, "k": i, "v": i, "y": i} for i in range(lead)]
    if not params["causal"]:  # row i of Q reaches only row i of y (the causal mask is positional)
        groups.append({"q": lead, "y": lead})
    groups.append({"v": lead + 1, "y": lead + 1})  # column f of V reaches only column f of y
    return groups


def _attention_workspace(shapes: Shapes, params: Params, out: Shape) -> int:
    q, k = shapes["q"], shapes["k"]
    return 6 * _prod(q[:-1]) * k[-2]


def _attention_mads(shapes: Shapes, params: Params, out: Shape) -> int:
    q, k, v = shapes["q"], shapes["k"], shapes["v"]
    return _prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


# ---------------------------------------------------------------- text helpers


def _num(value: float) -> str:
    return f"{value:.6g}"


def _sum_text(terms: Sequence[tuple[float, float]]) -> str:
    total = sum(a * b for a, b in terms)
    if len(terms) > 3:
        return f"Σ over {len(terms)} samples = {_num(total)}"
    written = " + ".join(f"{_signed(a)}×{_signed(b)}" for a, b in terms)
    return f"{written} = {_num(total)}"


def _signed(value: float) -> str:
    text = _num(value)
    return f"({text})" if value < 0 else text


# ---------------------------------------------------------------- the registry

_BIAS_HELP = "bias, or 'none'"

_SIZE_PARAMS = (
    LayerParam("stride", "pair", 1, "step between windows", minimum=1),
    LayerParam("padding", "pair", 0, "zeros added on each side", minimum=0),
    LayerParam("dilation", "pair", 1, "spacing between kernel entries", minimum=1),
)


def _ints_only(params: tuple[LayerParam, ...]) -> tuple[LayerParam, ...]:
    return tuple(LayerParam(p.name, "int", p.default, p.help, minimum=p.minimum) for p in params)


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


def _conv(nd: int) -> Layer:
    x_shape, w_shape = ("N×C×H×W", "O×C×kh×kw") if nd == 2 else ("N×C×L", "O×C×K")
    spatial = _conv_names(nd)
    corr = "W[o,c] ⋆ x_pad[n,c] (correlation, stride s, dilation d)"
    return Layer(
        name=f"conv{nd}d",
        summary=f"{nd}-D convolution (cross-correlation, as torch's F.conv{nd}d)",
        inputs=(
            LayerInput("x", x_shape, "input", _names(("n", "c", *spatial))),
            LayerInput("weight", w_shape, "kernels", _names(("o", "c", *("pq"[:nd]))), symbol="W"),
            LayerInput("bias", "O", _BIAS_HELP, _names(("o",)), none_allowed=True, symbol="b"),
        ),
        params=_SIZE_PARAMS if nd == 2 else _ints_only(_SIZE_PARAMS),
        forward_formula=f"y[n,o] = b[o] + Σ_c {corr}",
        backward_formulas={
            "x": "∂L/∂x = crop_p( pad_{d(k−1)}(G↑s) ⋆ rot180(W) ), channels swapped, dilation d:"
            " G (with s − 1 zeros between entries) correlated with the flipped kernel",
            "weight": "∂L/∂W[o,c,p,q] = Σ_n,i,j G[n,o,i,j]·x_pad[n,c,i·s+p·d, j·s+q·d]:"
            " x correlated with G",
            "bias": "∂L/∂b[o] = Σ_n,i,j G[n,o,i,j]",
        },
        output_shape=_conv_shape_for(nd),
        default_shape=_conv_default,
        forward=_conv_forward_for(nd),
        backward=_conv_backward_for(nd),
        steps=_conv_steps_for(nd),
        output_dims=lambda shapes: ("n", "o", *spatial),
        groups=_conv_groups,
        workspace=_conv_workspace,
        multiply_adds=_conv_mads,
        slips=_conv_slips,
    )


POOL_WINDOW = (  # the window parameters every pooling layer takes
    LayerParam("kernel_size", "pair", None, "window size", minimum=1, required=True),
    LayerParam(
        "stride", "pair", None, "step between windows", minimum=1, default_text="kernel_size"
    ),
)


def _layers() -> tuple[Layer, ...]:
    return (
        Layer(
            name="linear",
            summary="fully connected: y = x Wᵀ + b (F.linear)",
            inputs=(
                LayerInput(
                    "x",
                    "…×in",
                    "input, rows = samples",
                    _names(("i",), ("n", "i"), ("n", "t", "i"), ("n", "t", "s", "i")),
                ),
                LayerInput(
                    "weight",
                    "out×in",
                    "weights, nn.Linear layout (a vector: one row)",
                    _names(("o", "i")),
                    symbol="W",
                ),
                LayerInput(
                    "bias", "out", _BIAS_HELP, _names(("o",)), none_allowed=True, symbol="b"
                ),
            ),
            params=(),
            forward_formula="y = x Wᵀ + b",
            backward_formulas={
                "x": "∂L/∂x = G W",
                "weight": "∂L/∂W = Gᵀ x (summed over the samples)",
                "bias": "∂L/∂b = Σ_n G[n]",
            },
            output_shape=_linear_shape,
            default_shape=_linear_default,
            forward=_linear_forward,
            backward=_linear_backward,
            steps=_linear_steps,
            output_dims=lambda shapes: _linear_out_dims(len(shapes["x"])),
            groups=lambda shapes, params: (
                [{"weight": 0, "bias": 0, "y": -1}]
                + [{"x": i, "y": i} for i in range(len(shapes["x"]) - 1)]
            ),
            multiply_adds=lambda shapes, params, out: _prod(out) * shapes["weight"][1],
            reshape=lambda name, shape: (
                (1, *shape) if name == "weight" and len(shape) == 1 else shape
            ),
            broadcast_inputs=("x",),
        ),
        Layer(
            name="batchnorm",
            summary="batch normalisation, training mode (batch statistics, F.batch_norm)",
            inputs=(
                LayerInput(
                    "x",
                    "N×C[×L | ×H×W]",
                    "input",
                    lambda rank: _bn_x_dims(rank) if 2 <= rank <= 4 else _names()(rank),
                ),
                LayerInput(
                    "weight", "C", "γ, or 'none'", _names(("c",)), none_allowed=True, symbol="γ"
                ),
                LayerInput(
                    "bias", "C", "β, or 'none'", _names(("c",)), none_allowed=True, symbol="β"
                ),
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
            output_dims=lambda shapes: _bn_x_dims(len(shapes["x"])),
            groups=lambda shapes, params: [{"x": 1, "weight": 0, "bias": 0, "y": 1}],
            slips=_norm_slips("batchnorm"),
            notes=lambda params, shapes: [
                "batch norm in training mode: the batch's own mean and biased variance "
                "normalise (running statistics are not involved)"
            ],
        ),
        Layer(
            name="layernorm",
            summary="layer normalisation over the last dimension (F.layer_norm)",
            inputs=(
                LayerInput("x", "…×D", "input", _row_dims),
                LayerInput(
                    "weight", "D", "γ, or 'none'", _names(("d",)), none_allowed=True, symbol="γ"
                ),
                LayerInput(
                    "bias", "D", "β, or 'none'", _names(("d",)), none_allowed=True, symbol="β"
                ),
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
            output_dims=lambda shapes: _row_dims(len(shapes["x"])),
            groups=_row_groups,
            slips=_norm_slips("layernorm"),
        ),
        Layer(
            name="rmsnorm",
            summary="RMS normalisation over the last dimension (F.rms_norm)",
            inputs=(
                LayerInput("x", "…×D", "input", _row_dims),
                LayerInput(
                    "weight", "D", "γ, or 'none'", _names(("d",)), none_allowed=True, symbol="γ"
                ),
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
            output_dims=lambda shapes: _row_dims(len(shapes["x"])),
            groups=_row_groups,
            resolve=_rms_resolve,
            slips=_rms_slips,
        ),
        _conv(1),
        _conv(2),
        Layer(
            name="maxpool2d",
            summary="2-D max pooling (F.max_pool2d)",
            inputs=(LayerInput("x", "N×C×H×W", "input", _names(("n", "c", "h", "w"))),),
            params=(
                *POOL_WINDOW,
                LayerParam("padding", "pair", 0, "−∞ added on each side", minimum=0),
                LayerParam("dilation", "pair", 1, "spacing inside a window", minimum=1),
            ),
            forward_formula="y[n,c,i,j] = max of x_pad[n,c] over window (i, j) (padding = −∞)",
            backward_formulas={
                "x": "∂L/∂x[h,w] = Σ G[i,j] over the windows whose first maximum (scan order) "
                "is at (h, w); 0 elsewhere",
            },
            output_shape=_pool_shape_for("maxpool2d"),
            default_shape=lambda name, shapes, params: None,
            forward=_maxpool_forward,
            backward=_maxpool_backward,
            steps=_maxpool_steps,
            output_dims=lambda shapes: ("n", "c", "i", "j"),
            groups=_pool_groups,
            workspace=_pool_workspace,
            resolve=_pool_resolve,
            untrusted=_maxpool_untrusted,
            kinks_text="ties inside a window: torch routes G to the first maximum in scan "
            "order; finite differences there are not trusted",
        ),
        Layer(
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
            ),
            forward_formula="y[n,c,i,j] = (1/divisor) Σ x_pad[n,c] over window (i, j)",
            backward_formulas={
                "x": "∂L/∂x[h,w] = Σ G[i,j]/divisor over the windows containing (h, w)",
            },
            output_shape=_pool_shape_for("avgpool2d"),
            default_shape=lambda name, shapes, params: None,
            forward=_avgpool_forward,
            backward=_avgpool_backward,
            steps=_avgpool_steps,
            output_dims=lambda shapes: ("n", "c", "i", "j"),
            groups=_pool_groups,
            workspace=_pool_workspace,
            resolve=_pool_resolve,
            slips=_avgpool_slips,
        ),
        Layer(
            name="dropout",
            summary="dropout, training mode, with the mask drawn from --seed and shown",
            inputs=(LayerInput("x", "any", "input", _generic_dims),),
            params=(
                LayerParam(
                    "p",
                    "float",
                    0.5,
                    "probability of dropping an entry",
                    check=lambda v: 0 <= v < 1,
                    requirement="in [0, 1)",
                ),
            ),
            forward_formula="y = x·m/(1 − p), m ~ Bernoulli(1 − p) per entry",
            backward_formulas={"x": "∂L/∂x = G·m/(1 − p)"},
            output_shape=_dropout_shape,
            broadcast_inputs=("x",),
            default_shape=lambda name, shapes, params: None,
            forward=_dropout_forward,
            backward=_dropout_backward,
            steps=_dropout_steps,
            output_dims=lambda shapes: _generic_dims(len(shapes["x"])),
            groups=_elementwise_groups,
            draw_state=_dropout_state,
            state_text=_dropout_state_text,
            slips=_dropout_slips,
        ),
        Layer(
            name="embedding",
            summary="lookup table: y[…] = W[indices[…]] (F.embedding)",
            inputs=(
                LayerInput(
                    "indices",
                    "… (integers)",
                    "row numbers into W",
                    _names(("n",), ("n", "t"), ("n", "t", "s")),
                    kind="index",
                ),
                LayerInput("weight", "num×dim", "the table", _names(("r", "d")), symbol="W"),
            ),
            params=(),
            forward_formula="y[…] = W[indices[…]]",
            backward_formulas={
                "weight": "∂L/∂W[r] = Σ G[…] over the positions with indices[…] = r "
                "(scatter-add: repeated indices accumulate); indices get no gradient",
            },
            output_shape=_embedding_shape,
            default_shape=lambda name, shapes, params: None,
            forward=_embedding_forward,
            backward=_embedding_backward,
            steps=_embedding_steps,
            output_dims=lambda shapes: (*("n", "t", "s")[: len(shapes["indices"])], "d"),
            check_values=_embedding_values,
        ),
        Layer(
            name="attention",
            summary="scaled dot-product attention (F.scaled_dot_product_attention)",
            inputs=(
                LayerInput(
                    "q",
                    "…×L×d",
                    "queries",
                    _names(("i", "e"), ("b", "i", "e"), ("b", "h", "i", "e")),
                    symbol="Q",
                ),
                LayerInput(
                    "k",
                    "…×S×d",
                    "keys",
                    _names(("j", "e"), ("b", "j", "e"), ("b", "h", "j", "e")),
                    symbol="K",
                ),
                LayerInput(
                    "v",
                    "…×S×dv",
                    "values",
                    _names(("j", "f"), ("b", "j", "f"), ("b", "h", "j", "f")),
                    symbol="V",
                ),
            ),
            params=(
                LayerParam(
                    "scale",
                    "float",
                    None,
                    "factor on Q Kᵀ",
                    check=lambda v: v > 0,
                    requirement="> 0",
                    default_text="1/√d",
                ),
                LayerParam("causal", "bool", False, "hide the keys after each query"),
            ),
            forward_formula="y = P V, P = softmax(S) by rows, S = Q Kᵀ·scale "
            "(−∞ above the diagonal when causal)",
            backward_formulas={
                "q": "∂L/∂Q = dS K·scale, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dP = G Vᵀ",
                "k": "∂L/∂K = dSᵀ Q·scale",
                "v": "∂L/∂V = Pᵀ G",
            },
            output_shape=_attention_shape,
            default_shape=_attention_default,
            forward=_attention_forward,
            backward=_attention_backward,
            steps=_attention_steps,
            output_dims=lambda shapes: (*("b", "h")[: len(shapes["q"]) - 2], "i", "f"),
            groups=_attention_groups,
            broadcast_inputs=("q", "k", "v"),
            workspace=_attention_workspace,
            multiply_adds=_attention_mads,
            resolve=_attention_resolve,
            slips=_attention_slips,
            notes=lambda params, shapes: (
                ["causal mask: query i sees keys 0 to i (top-left aligned, as torch's is_causal)"]
                if params["causal"]
                else []
            ),
        ),
    )


LAYER_LIST: tuple[Layer, ...] = _layers()
LAYERS: dict[str, Layer] = {layer.name: layer for layer in LAYER_LIST}


def get_layer(name: str) -> Layer:
    """The registry record called ``name``; an InputError with a suggestion otherwise."""
    key = name.strip().lower()
    if key not in LAYERS:
        raise unknown("layer", name, LAYERS)
    return LAYERS[key]


# ---------------------------------------------------------------- planning (no torch)


@dataclass(frozen=True)
class Given:
    """One input as the user gave it: values (flat, row-major) with a shape, or a shape
    to draw from the seed, or ``none``."""

    values: tuple[float, ...] | None = None
    shape: Shape | None = None
    none: bool = False


@dataclass(frozen=True)
class Plan:
    """A checked request: every shape known, parameters resolved, the work sized."""

    layer: Layer
    params: dict[str, Any]
    shapes: dict[str, Shape | None]  # None: the input is left out (`none`)
    sources: dict[str, str]  # "given", "drawn" or "none"
    values: dict[str, tuple[float, ...]]  # the given inputs' values
    output_shape: Shape
    bytes_needed: int
    multiply_adds: int  # one forward pass (finite differences have the engine's own budget)
    notes: list[str] = field(default_factory=list)


def plan(
    layer: Layer, given: Mapping[str, Given], param_items: Sequence[str], dtype: str = "float64"
) -> Plan:
    """Check every input's shape and every parameter before any tensor is made."""
    extra = set(given) - set(layer.input_names)
    if extra:
        name = sorted(extra)[0]
        raise InputError(_not_an_input(layer, name))
    params = layer.resolve_params(param_items)
    shapes: dict[str, Shape | None] = {}
    sources: dict[str, str] = {}
    values: dict[str, tuple[float, ...]] = {}
    for item in layer.inputs:
        spec = given.get(item.name)
        if spec is not None and spec.none:
            if not item.none_allowed:
                raise InputError(f"{layer.name}: --{item.name} cannot be 'none'")
            shapes[item.name], sources[item.name] = None, "none"
        elif spec is not None and spec.values is not None:
            shapes[item.name] = layer.reshape(item.name, tuple(spec.shape))
            sources[item.name] = "given"
            values[item.name] = tuple(spec.values)
        elif spec is not None and spec.shape is not None:
            if item.kind == "index":
                raise InputError(
                    f"{layer.name}: give --{item.name} as integers; they are not drawn"
                )
            shapes[item.name], sources[item.name] = tuple(spec.shape), "drawn"
        else:
            default = layer.default_shape(item.name, shapes, params)
            if default is None:
                raise InputError(_missing(layer, item))
            shapes[item.name], sources[item.name] = default, "drawn"
        shape = shapes[item.name]
        if shape is not None and (len(shape) > MAX_DIMS or 0 in shape):
            raise InputError(
                f"{layer.name}: --{item.name} has shape {dims_text(shape)}; every dimension "
                f"must be ≥ 1 and at most {MAX_DIMS} dimensions"
            )
    out = layer.output_shape(shapes, params)
    if layer.check_values is not None:
        layer.check_values(shapes, values)
    params.update(layer.resolve(shapes, params, dtype))
    forward = (layer.multiply_adds or _elementwise_mads)(shapes, params, out)
    return Plan(
        layer=layer,
        params=params,
        shapes=shapes,
        sources=sources,
        values=values,
        output_shape=out,
        bytes_needed=memory_estimate(layer, shapes, params, out),
        multiply_adds=forward,
    )


def slice_cost(
    layer: Layer, shapes: Shapes, params: Params, out: Shape, forward: int, name: str
) -> int:
    """Element evaluations (multiply-adds) of one finite-difference evaluation for input
    ``name``: the forward pass on the slice of the output one entry reaches."""
    reach = _prod(out[g["y"]] for g in layer.groups(shapes, params) if name in g)
    return max(forward // max(reach, 1), 1)


def slice_elements(layer: Layer, shapes: Shapes, params: Params, out: Shape, name: str) -> int:
    """Elements one finite-difference entry allocates when entries are evaluated by slices:
    the +step and −step slice of every stacked input, of G and of y, and its share of the
    layer's workspace (what a batch of entries may hold at once, rather than its work)."""
    groups = [g for g in layer.groups(shapes, params) if name in g]
    reach = max(_prod(out[g["y"]] for g in groups), 1)
    pieces = sum(
        _prod(shape) // max(_prod(shape[g[member]] for g in groups if member in g), 1)
        for member, shape in ((m, shapes.get(m)) for m in groups[0] if m != "y")
        if shape
    )
    y_slice = _prod(out) // reach
    return 2 * (pieces + 2 * y_slice) + layer.workspace(shapes, params, out) // reach


def _elementwise_mads(shapes: Shapes, params: Params, out: Shape) -> int:
    return 8 * (sum(_prod(s) for s in shapes.values() if s) + _prod(out))


PYTHON_FLOAT_BYTES = 32  # a float in a Python list: the object and the list's pointer
LISTS_PER_ENTRY = 8  # value, analytic, autograd, numeric, trusted, abs_diff, ok, expected…


def memory_estimate(layer: Layer, shapes: Shapes, params: Params, out: Shape) -> int:
    """Bytes the whole check needs, from shapes alone (float64 tensors; result lists).

    Counted: each input in float64 and the compute dtype, its three gradients, the output,
    G and autograd's saved graph (≈ 4 outputs), the layer's workspace (unfold's patches,
    attention's L×S matrices), finite differences' copies, and every gradient entry again
    as Python floats in the result lists.
    """
    entries = sum(_prod(s) for s in shapes.values() if s)
    grad_entries = sum(
        _prod(shapes[i.name]) for i in layer.inputs if i.has_gradient and shapes.get(i.name)
    )
    tensor_entries = 2 * entries + 4 * grad_entries + 6 * _prod(out)
    tensor_entries += 3 * layer.workspace(shapes, params, out)
    lists = LISTS_PER_ENTRY * grad_entries + 3 * _prod(out) + entries
    return 8 * tensor_entries + PYTHON_FLOAT_BYTES * lists


def _missing(layer: Layer, item: LayerInput) -> str:
    if item.kind == "index":
        return f"{layer.name} needs --{item.name} (integers, {item.shape})"
    return (
        f"{layer.name} needs --{item.name} TENSOR or --{item.name}-shape {item.shape} ({item.help})"
    )


def _not_an_input(layer: Layer, name: str) -> str:
    names = ", ".join(f"--{n}" for n in layer.input_names)
    if layer.name == "embedding" and name == "x":
        return (
            "embedding takes its integer row numbers as --indices (e.g. --indices 0,2,2), not --x"
        )
    if layer.name == "attention" and name == "x":
        return "attention takes --q, --k and --v (or --q-shape) in place of --x"
    return f"{layer.name} has no input --{name}; its inputs are {names}"


# ---------------------------------------------------------------- listing and docs


def listing() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(name, summary, [(label, text)…]) per layer: inputs, parameters, forward, backward."""
    blocks = []
    for layer in LAYER_LIST:
        inputs = ", ".join(
            f"{i.name} ({i.shape}{', or none' if i.none_allowed else ''})" for i in layer.inputs
        )
        lines = [
            ("inputs", inputs),
            ("parameters", ", ".join(p.describe() for p in layer.params) or "—"),
            ("forward", layer.forward_formula),
        ]
        lines += [("backward", layer.backward_formulas[n]) for n in layer.gradient_names]
        blocks.append((layer.name, layer.summary, lines))
    return blocks


def listing_entries() -> list[dict[str, Any]]:
    """One machine-readable entry per layer (``layer --list --json``)."""
    return [
        {
            "name": layer.name,
            "summary": layer.summary,
            "inputs": [
                f"{i.name} ({i.shape}{', or none' if i.none_allowed else ''})" for i in layer.inputs
            ],
            "params": {p.name: _entry_default(p) for p in layer.params},
            "formula": layer.forward_formula,
            "backward": {n: layer.backward_formulas[n] for n in layer.gradient_names},
        }
        for layer in LAYER_LIST
    ]


def _entry_default(param: LayerParam) -> Any:
    if param.required:
        return "required"
    if param.default is None:
        return param.default_text or None
    return list(param.default) if isinstance(param.default, tuple) else param.default


def markdown_table() -> str:
    """The layers as a Markdown table (docs/layer.md is generated from it)."""
    lines = [
        "| name | inputs | parameters (torch defaults) | forward | backward (analytic side) |",
        "|---|---|---|---|---|",
    ]
    for layer in LAYER_LIST:
        inputs = ", ".join(
            f"`{i.name}` ({i.shape}{', or none' if i.none_allowed else ''})" for i in layer.inputs
        )
        params = ", ".join(p.describe() for p in layer.params) or "—"
        backward = "<br>".join(layer.backward_formulas[n] for n in layer.gradient_names)
        cells = (layer.name, inputs, params, layer.forward_formula, backward)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
