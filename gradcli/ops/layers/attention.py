"""Scaled dot-product attention: y = P V, P = softmax(Q Kᵀ·scale) by rows; the
backward passes dP = G Vᵀ through the softmax Jacobian (dS) to Q and K."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradcli._torch import F, torch
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
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
    _prod,
    dims_text,
    staged,
)

if TYPE_CHECKING:
    from torch import Tensor


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
    """S, P, dP, dS, each from the ones before it; then the gradients from dS and P."""
    from gradcli.core.softmax import softmax_vjp, stable_softmax

    q, k, v = t["q"], t["k"], t["v"]
    scale = p["scale"]
    lead = ("b", "h")[: q.dim() - 2]
    rows = (*lead, "i", "j")
    masked = "; −∞ above the diagonal (causal)" if p["causal"] else ""

    def scores(values) -> Tensor:
        s = q @ k.transpose(-2, -1) * scale
        if p["causal"]:
            allowed = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
            s = s.masked_fill(~allowed, float("-inf"))
        return s

    return staged(
        Step("S = Q Kᵀ·scale", f"scale = {scale:.6g}{masked}", dim_names=rows, key="scores",
             compute=scores),
        Step("P = softmax(S) by rows", "max-shifted: exp(S − max) / Σ exp(S − max)",
             dim_names=rows, key="probs", depends_on=("scores",),
             compute=lambda values: stable_softmax(values["scores"], 1.0)),
        Step("G = ∂L/∂y (upstream)", "", g, (*lead, "i", "e")),
        Step("dP = G Vᵀ", "", dim_names=rows, key="dprobs",
             compute=lambda values: g @ v.transpose(-2, -1)),
        Step("dS = P ⊙ (dP − rowsum(dP ⊙ P))",
             "the softmax Jacobian p_i(δ_ij − p_j) applied to each row of dP", dim_names=rows,
             key="dscores", depends_on=("probs", "dprobs"),
             compute=lambda values: softmax_vjp(values["probs"], values["dprobs"])),
        Step("∂L/∂Q = dS K·scale", "", dim_names=(*lead, "i", "e"), key="q",
             depends_on=("dscores",), compute=lambda values: values["dscores"] @ k * scale),
        Step("∂L/∂K = dSᵀ Q·scale", "", dim_names=(*lead, "j", "e"), key="k",
             depends_on=("dscores",),
             compute=lambda values: values["dscores"].transpose(-2, -1) @ q * scale),
        Step("∂L/∂V = Pᵀ G", "", dim_names=(*lead, "j", "f"), key="v", depends_on=("probs",),
             compute=lambda values: values["probs"].transpose(-2, -1) @ g),
    )  # fmt: skip


ATTENTION_KEYS = (
    ("scores", "S = Q Kᵀ·scale"),
    ("probs", "P = softmax(S) by rows"),
    ("dprobs", "dP = G Vᵀ"),
    ("dscores", "dS = P ⊙ (dP − rowsum(dP ⊙ P))"),
)


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
    if name == "v" and a.probs.shape[-1] == a.probs.shape[-2]:
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


ATTENTION = Layer(
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
    step_keys=ATTENTION_KEYS,
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
)
