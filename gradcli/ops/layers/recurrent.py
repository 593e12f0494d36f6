"""Recurrent layers — torch.nn.RNN, LSTM and GRU (one layer, unidirectional,
``batch_first=False``) — with backpropagation through time written time step by time step.

Time steps are t = 1…T: x_t = x[t−1], y[t−1] = h_t, h_0 = ``--h0`` (c_0 = ``--c0``).
Forward, per step (torch's formulas, torch's gate order in the stacked weights):

- rnn   a_t = x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh, h_t = tanh(a_t) (or relu);
- lstm  i, f, g, o = σ, σ, tanh, σ of the four H-wide blocks of a_t (same a_t, 4H wide);
        c_t = f⊙c_{t−1} + i⊙g, h_t = o⊙tanh(c_t);
- gru   r, z = σ of the r and z blocks of x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh;
        n = tanh(x_t W_inᵀ + b_in + r⊙(h_{t−1} W_hnᵀ + b_hn)); h_t = (1 − z)⊙n + z⊙h_{t−1}.
        torch puts r on (W_hn h + b_hn), not on h before the product as some textbooks do.

L = Σ G ⊙ y (+ Σ G_h ⊙ h_n, + Σ G_c ⊙ c_n with ``--upstream-h/-c``). The backward walks
from t = T down to 1: dh_t = ∂L/∂h_t collects G_t and what flows back from step t + 1;
each step turns it into the gradients of its pre-activations (da_t), which give ∂L/∂x_t,
the flow into h_{t−1}, and each step's share of the weight gradients.

Every quantity of the derivation is one :class:`Quantity` — a key (``t3.h``, ``t3.dh``,
``weight_ih``…), the keys it depends on and how it is computed from them (the inputs and
G are closed over). The backward pass *is* the evaluation of that list in order, so the
values ``--steps`` shows, the gradients the table checks and the relation an answer is
marked against are one definition. The forward that autograd and finite differences run
is torch's own module (``torch.func.functional_call`` with the weights swapped in).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradcli._torch import torch
from gradcli.errors import InputError
from gradcli.ops.layers.base import (
    FinalOutput,
    Layer,
    LayerInput,
    LayerParam,
    Params,
    Shape,
    Shapes,
    Step,
    Tensors,
    _names,
    dims_text,
    option,
)

if TYPE_CHECKING:
    from torch import Tensor

GATES = {"rnn": ("a",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
OWNER = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}
STEP_TIMES = 4  # --steps shows every time step up to this many, else t1, t2, t(T−1), tT
# Per time step, in element operations (≈ 1.2 ns each, the unit of GRADCLI_MAX_WORK):
# torch's module steps in C++ (~10 µs a step, measured); the derivation is a Python loop
# of small torch calls (rnn ~120 µs, lstm ~300 µs, gru ~200 µs a step to build and
# evaluate, measured), run by every hand pass: the backward, --steps, the slips, the kinks
MODULE_STEP = 10_000
HAND_STEP = {"rnn": 100_000, "lstm": 250_000, "gru": 170_000}
HAND_PASSES = 8
KINK_BAND = 1e-4  # a relu pre-activation this close to 0 is a kink for finite differences
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sub(n: int) -> str:
    """3 → ₃ (time-step subscripts in formulas)."""
    return str(n).translate(_SUB)


# ---------------------------------------------------------------- shapes (no torch)


def _count(kind: str) -> int:
    return len(GATES[kind])


def _rows(kind: str) -> str:
    """The stacked rows of the weights: H, 4H or 3H."""
    return "H" if kind == "rnn" else f"{_count(kind)}H"


def _stacked(kind: str) -> str:
    if kind == "rnn":
        return "H rows"
    return f"{_count(kind)} gates ({', '.join(GATES[kind])}) of H rows each"


def _check_ranks(kind: str, shapes: Shapes) -> None:
    x = shapes.get("x")
    if x is not None and len(x) not in (2, 3):
        raise InputError(
            f"{kind}: --x must have 3 dimensions (T×N×D: time, batch, features) or 2 (T×D, "
            f"one sequence), got {len(x)} (x is {dims_text(x)})"
        )
    for name in ("weight_ih", "weight_hh"):
        shape = shapes.get(name)
        if shape is not None and len(shape) != 2:
            form = f"{_rows(kind)}×{'D' if name == 'weight_ih' else 'H'}"
            raise InputError(
                f"{kind}: {option(name)} must have 2 dimensions ({form}, {OWNER[kind]}'s "
                f"{name}_l0), got {len(shape)} ({name} is {dims_text(shape)}); write rows "
                f"as 1,2;3,4, or JSON: {option(name)} '[[1,2]]' is one row"
            )
    for name in ("bias_ih", "bias_hh"):
        shape = shapes.get(name)
        if shape is not None and len(shape) != 1:
            raise InputError(
                f"{kind}: {option(name)} must be a vector ({_rows(kind)} values), got "
                f"{dims_text(shape)}"
            )


def hidden_size(kind: str, shapes: Shapes, params: Params) -> tuple[int, str] | None:
    """H and what says so: ``--param hidden_size``, ``--weight-hh``'s columns, ``--h0`` or
    ``--c0``'s last dimension, or a weight's or bias's rows over the gate count; None when
    nothing given says."""
    if params.get("hidden_size") is not None:
        return params["hidden_size"], f"--param hidden_size={params['hidden_size']}"
    g = _count(kind)
    found = [("weight_hh", lambda s: s[1]), ("h0", lambda s: s[-1]), ("c0", lambda s: s[-1])]
    found += [(name, lambda s: s[0] // g) for name in ("weight_hh", "weight_ih")]
    found += [(name, lambda s: s[0] // g) for name in ("bias_ih", "bias_hh")]
    for name, size in found:
        shape = shapes.get(name)
        if shape is not None and size(shape) >= 1:
            return size(shape), f"{option(name)} {dims_text(shape)}"
    return None


def _derive(kind: str) -> Callable[[Shapes, Params], dict[str, Any]]:
    """H from the inputs given (the first that says, in :func:`hidden_size`'s order), every
    other input given checked against it and x — before the ones left out are made to fit."""

    def derive(shapes: Shapes, params: Params) -> dict[str, Any]:
        if shapes.get("x") is None:
            return {}  # refused as missing
        _check_ranks(kind, shapes)
        found = hidden_size(kind, shapes, params)
        if found is None:
            raise InputError(
                f"{kind}: the hidden size H is not known: give --param hidden_size=H (as "
                f"{OWNER[kind]}(input_size, hidden_size)), or --weight-hh, or --h0"
            )
        _check_shapes(kind, shapes, *found)
        return {"hidden_size": found[0]}

    return derive


def _state_shape(x: Shape, h: int) -> Shape:
    return (x[1], h) if len(x) == 3 else (h,)


def _default_shape(kind: str) -> Callable[[str, Shapes, Params], Shape | None]:
    def default(name: str, shapes: Shapes, params: Params) -> Shape | None:
        x, h = shapes.get("x"), params.get("hidden_size")
        if x is None or h is None:
            return None
        rows = _count(kind) * h
        return {
            "h0": _state_shape(x, h),
            "c0": _state_shape(x, h),
            "weight_ih": (rows, x[-1]),
            "weight_hh": (rows, h),
            "bias_ih": (rows,),
            "bias_hh": (rows,),
        }.get(name)

    return default


def _check_shapes(kind: str, shapes: Shapes, h: int, source: str) -> None:
    """Every input present fits x (T×N×D or T×D) and H."""
    x = shapes["x"]
    rows = _count(kind) * h
    said = f"with H = {h} (from {source})"
    for name in ("h0", "c0"):
        shape = shapes.get(name)
        if shape is not None and tuple(shape) != _state_shape(x, h):
            form = "N×H" if len(x) == 3 else "H (one sequence: x is T×D)"
            raise InputError(
                f"{kind}: {option(name)} has shape {dims_text(shape)} but it is {form}: "
                f"x is {dims_text(x)}, {said}, so it must be {dims_text(_state_shape(x, h))}"
            )
    for name, want in (("weight_ih", (rows, x[-1])), ("weight_hh", (rows, h))):
        shape = shapes.get(name)
        if shape is not None and tuple(shape) != want:
            form = f"{_rows(kind)}×D" if name == "weight_ih" else f"{_rows(kind)}×H"
            what = _stacked(kind) + ("; D = x's features" if name == "weight_ih" else "")
            raise InputError(
                f"{kind}: {option(name)} has shape {dims_text(shape)} but {name} is {form} "
                f"({what}): x is {dims_text(x)}, {said}, so it must be {dims_text(want)}"
            )
    for name in ("bias_ih", "bias_hh"):
        shape = shapes.get(name)
        if shape is not None and tuple(shape) != (rows,):
            raise InputError(
                f"{kind}: {option(name)} has {shape[0]} values but {name} stacks "
                f"{_stacked(kind)}: {said} it needs {rows}"
            )


def _output_shape(kind: str) -> Callable[[Shapes, Params], Shape]:
    def output(shapes: Shapes, params: Params) -> Shape:
        x, h = shapes["x"], params["hidden_size"]
        _check_shapes(kind, shapes, h, "the inputs given")  # the defaults fit by construction
        return (x[0], x[1], h) if len(x) == 3 else (x[0], h)

    return output


def _reshape(kind: str) -> Callable[[str, Shape], Shape]:
    """A weight written as a vector, where H = 1 makes it one: rnn's W_ih is one row (1×D),
    W_hh's g values one column (g×1: one weight per gate)."""

    def reshape(name: str, shape: Shape) -> Shape:
        if len(shape) != 1:
            return shape
        if name == "weight_ih" and kind == "rnn":
            return (1, shape[0])
        if name == "weight_hh" and shape[0] == _count(kind):
            return (shape[0], 1)
        return shape

    return reshape


def _sizes(shapes: Shapes, params: Params) -> tuple[int, int, int, int]:
    """T, N, D, H (N = 1 for one sequence)."""
    x = shapes["x"]
    return x[0], (x[1] if len(x) == 3 else 1), x[-1], shapes["weight_hh"][1]


def _multiply_adds(kind: str) -> Callable[[Shapes, Params, Shape], int]:
    """One forward pass: T·N·gH·(D + H) multiply-adds, the gates' elementwise work, and
    the module's own cost per time step."""

    def mads(shapes: Shapes, params: Params, out: Shape) -> int:
        t, n, d, h = _sizes(shapes, params)
        rows = _count(kind) * h
        return t * n * rows * (d + h + 12) + t * MODULE_STEP

    return mads


def _fixed_work(kind: str) -> Callable[[Shapes, Params], int]:
    """The derivation's Python loop: every hand pass visits each time step."""

    def work(shapes: Shapes, params: Params) -> int:
        return shapes["x"][0] * HAND_STEP[kind] * HAND_PASSES

    return work


def _workspace(kind: str) -> Callable[[Shapes, Params, Shape], int]:
    """Elements held besides the inputs: every time step's gates, states and backward
    quantities (the derivation keeps them all), autograd's saved gates, and their copies in
    the result."""

    def workspace(shapes: Shapes, params: Params, out: Shape) -> int:
        t, n, _, h = _sizes(shapes, params)
        return 16 * t * n * _count(kind) * h

    return workspace


# ---------------------------------------------------------------- torch's forward


@functools.lru_cache(maxsize=16)
def _module(kind: str, d: int, h: int, nonlinearity: str) -> Any:
    """torch's module on the meta device: its forward, with no weights of its own."""
    from torch import nn

    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
    extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    return cls(d, h, device="meta", **extra)


def _torch_outputs(kind: str) -> Callable[[Tensors, Params], dict[str, Tensor]]:
    """y, h_n (and c_n) from torch.nn.RNN/LSTM/GRU, the weights swapped in (a bias left out
    is a zero vector: the same function as torch's module without it)."""

    def forward_all(t: Tensors, p: Params) -> dict[str, Tensor]:
        from torch.func import functional_call

        x, w_ih, w_hh = t["x"], t["weight_ih"], t["weight_hh"]
        h = w_hh.shape[1]
        module = _module(kind, w_ih.shape[1], h, p.get("nonlinearity", "tanh"))
        weights = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh}
        for name in ("bias_ih", "bias_hh"):
            bias = t.get(name)
            weights[f"{name}_l0"] = bias if bias is not None else w_hh.new_zeros(w_hh.shape[0])
        h0 = t["h0"].unsqueeze(0)  # torch's (num_layers, [N,] H)
        state = (h0, t["c0"].unsqueeze(0)) if kind == "lstm" else h0
        y, final = functional_call(module, weights, (x, state))
        if kind == "lstm":
            return {"y": y, "h_n": final[0][0], "c_n": final[1][0]}
        return {"y": y, "h_n": final[0]}

    return forward_all


# ---------------------------------------------------------------- the worked derivation


@dataclass(frozen=True)
class Quantity:
    """One named quantity of the derivation, computed from the keys it depends on (the
    inputs, G and the parameters are closed over)."""

    key: str  # t3.h, t3.dh, weight_ih…
    label: str  # what it is, in words
    formula: str  # its formula at this time step
    dims: tuple[str, ...]
    depends_on: tuple[str, ...]
    compute: Callable[[Mapping[str, Tensor]], Tensor]
    time: int = 0  # its time step; 0 for the gradients assembled at the end
    backward: bool = False

    @property
    def symbol(self) -> str:
        """Its name in slice titles: the formula's left side (h₃, dc₂, ∂L/∂W_ih)."""
        return self.formula.split(" = ")[0]


def evaluate(quantities: list[Quantity]) -> dict[str, Tensor]:
    """Every quantity's value, each computed from the ones before it."""
    values: dict[str, Tensor] = {}
    for q in quantities:
        values[q.key] = q.compute({key: values[key] for key in q.depends_on})
    return values


@dataclass(frozen=True)
class _Inputs:
    """The tensors of one pass, in the form given (N absent for one sequence)."""

    x: Tensor
    h0: Tensor
    c0: Tensor | None
    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    g: Tensor | None  # None: the forward pass alone
    g_h: Tensor | None
    g_c: Tensor | None
    nonlinearity: str

    @property
    def steps(self) -> int:
        return self.x.shape[0]

    def block(self, k: int) -> slice:
        """The rows of gate k in the stacked weights."""
        size = self.w_hh.shape[1]
        return slice(k * size, (k + 1) * size)

    def lin_x(self, t: int, rows: slice = slice(None)) -> Tensor:
        """x_t W_ihᵀ + b_ih (the gates in ``rows``)."""
        out = self.x[t - 1] @ self.w_ih[rows].T
        return out if self.b_ih is None else out + self.b_ih[rows]

    def lin_h(self, h: Tensor, rows: slice = slice(None)) -> Tensor:
        """h W_hhᵀ + b_hh (the gates in ``rows``)."""
        out = h @ self.w_hh[rows].T
        return out if self.b_hh is None else out + self.b_hh[rows]


def _inputs(t: Tensors, p: Params, g: Tensor | None) -> _Inputs:
    names = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = (t.get(name) for name in names)
    nonlinearity = p.get("nonlinearity", "tanh")
    return _Inputs(x, h0, c0, w_ih, w_hh, b_ih, b_hh, g, t.get("G_h"), t.get("G_c"), nonlinearity)


def _outer_sum(a: Tensor, b: Tensor) -> Tensor:
    """Σ over the samples of aᵀ b (a: …×rows, b: …×cols)."""
    return a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])


def _total(a: Tensor) -> Tensor:
    return a.reshape(-1, a.shape[-1]).sum(dim=0)


class _Builder:
    """Collects the quantities of one derivation, time step by time step."""

    def __init__(self, kind: str, inputs: _Inputs) -> None:
        self.kind, self.i = kind, inputs
        batched = inputs.x.dim() == 3
        self.state_dims = ("n", "h") if batched else ("h",)
        self.gate_dims = ("n", "gh") if batched else ("gh",)
        self.items: list[Quantity] = []
        self.time, self.backward = 0, False

    def at(self, time: int, backward: bool) -> tuple[str, str, str]:
        """Move to a time step; its subscript, the previous one's and the next one's."""
        self.time, self.backward = time, backward
        return sub(time), sub(time - 1), sub(time + 1)

    def key(self, name: str, step: int = 0) -> str | None:
        """``name`` at this time step (+ step): ``t3.h``; None at t = 0 (an input) and past
        T, or when a flow back is left out."""
        t = self.time + step
        return f"t{t}.{name}" if 1 <= t <= self.i.steps else None

    def add(self, name, label, formula, depends_on, compute, gates=False, dims=None) -> None:
        """A quantity: ``name`` at this time step, or a gradient (time 0) named by its input;
        an N×H state unless it has the gates' width (N×gH) or ``dims`` of its own."""
        key = self.key(name) if self.time else name
        dims = dims or (self.gate_dims if gates else self.state_dims)
        deps = tuple(k for k in depends_on if k is not None)
        self.items.append(
            Quantity(key, label, formula, dims, deps, compute, self.time, self.backward)
        )

    def state(self, v: Mapping[str, Tensor], key: str | None, cell: bool = False) -> Tensor:
        """The state under ``key``, or the initial one (h0, c0) when it is None."""
        if key is not None:
            return v[key]
        return self.i.c0 if cell else self.i.h0

    def direct(self) -> tuple[Tensor, str]:
        """G_t (and G_h at t = T): what reaches h_t from y directly, and its formula."""
        i, t = self.i, self.time
        if t == i.steps and i.g_h is not None:
            return i.g[t - 1] + i.g_h, f"G{sub(t)} + G_h"
        return i.g[t - 1], f"G{sub(t)}"


# ---------------------------------------------------------------- rnn


def _rnn_forward(b: _Builder, t: int) -> None:
    i, (s, p, _) = b.i, b.at(t, False)
    h_prev, a = b.key("h", -1), b.key("a")
    relu = i.nonlinearity == "relu"
    act, fn = ("relu", torch.relu) if relu else ("tanh", torch.tanh)
    formula = f"a{s} = x{s} W_ihᵀ + b_ih + h{p} W_hhᵀ + b_hh"
    b.add(
        "a", "pre-activation", formula, [h_prev], lambda v: i.lin_x(t) + i.lin_h(b.state(v, h_prev))
    )
    b.add("h", f"hidden state (y[{t - 1}])", f"h{s} = {act}(a{s})", [a], lambda v: fn(v[a]))


def _rnn_backward(b: _Builder, t: int, through_time: bool) -> None:
    i, (s, _, n) = b.i, b.at(t, True)
    direct, text = b.direct()
    da_next = b.key("da", 1) if through_time else None
    dh, a, h = b.key("dh"), b.key("a"), b.key("h")
    formula = f"dh{s} = {text}" + (f" + da{n} W_hh" if da_next else "")
    b.add("dh", f"∂L/∂h{s}", formula, [da_next],
          lambda v: direct + v[da_next] @ i.w_hh if da_next else direct)  # fmt: skip
    if i.nonlinearity == "relu":
        formula, deps = f"da{s} = dh{s}⊙[a{s} > 0]", [dh, a]
        b.add("da", f"∂L/∂a{s}", formula, deps, lambda v: v[dh] * (v[a] > 0))
    else:
        formula, deps = f"da{s} = dh{s}⊙(1 − h{s}²)", [dh, h]
        b.add("da", f"∂L/∂a{s}", formula, deps, lambda v: v[dh] * (1 - v[h] ** 2))


# ---------------------------------------------------------------- lstm


def _lstm_forward(b: _Builder, t: int) -> None:
    i, (s, p, _) = b.i, b.at(t, False)
    h_prev, c_prev = b.key("h", -1), b.key("c", -1)
    gates = (("i", "input gate", "σ"), ("f", "forget gate", "σ"),
             ("g", "cell candidate", "tanh"), ("o", "output gate", "σ"))  # fmt: skip
    for k, (name, what, act) in enumerate(gates):
        fn, rows = (torch.sigmoid if act == "σ" else torch.tanh), i.block(k)
        formula = f"{name}{s} = {act}(x{s} W_i{name}ᵀ + b_i{name} + h{p} W_h{name}ᵀ + b_h{name})"

        def gate(v, fn=fn, rows=rows):
            return fn(i.lin_x(t, rows) + i.lin_h(b.state(v, h_prev), rows))

        b.add(name, what, formula, [h_prev], gate)
    ig, fg, gg, og, c = (b.key(k) for k in ("i", "f", "g", "o", "c"))
    b.add("c", "cell state", f"c{s} = f{s}⊙c{p} + i{s}⊙g{s}", [fg, ig, gg, c_prev],
          lambda v: v[fg] * b.state(v, c_prev, cell=True) + v[ig] * v[gg])  # fmt: skip
    b.add("h", f"hidden state (y[{t - 1}])", f"h{s} = o{s}⊙tanh(c{s})", [og, c],
          lambda v: v[og] * torch.tanh(v[c]))  # fmt: skip


def _lstm_backward(b: _Builder, t: int, through_time: bool) -> None:
    i, (s, p, n) = b.i, b.at(t, True)
    direct, text = b.direct()
    da_next = b.key("da", 1) if through_time else None
    dc_next, f_next = (b.key("dc", 1), b.key("f", 1)) if through_time else (None, None)
    ig, fg, gg, og, c, dh, dc = (b.key(k) for k in ("i", "f", "g", "o", "c", "dh", "dc"))
    c_prev = b.key("c", -1)
    final = t == i.steps and i.g_c is not None
    formula = f"dh{s} = {text}" + (f" + da{n} W_hh" if da_next else "")
    b.add("dh", f"∂L/∂h{s}", formula, [da_next],
          lambda v: direct + v[da_next] @ i.w_hh if da_next else direct)  # fmt: skip

    def cell(v: Mapping[str, Tensor]) -> Tensor:
        out = v[dh] * v[og] * (1 - torch.tanh(v[c]) ** 2)
        if dc_next is not None:
            out = out + v[dc_next] * v[f_next]
        return out + i.g_c if final else out

    formula = f"dc{s} = dh{s}⊙o{s}⊙(1 − tanh²c{s})"
    formula += f" + dc{n}⊙f{n}" if dc_next else " + G_c" if final else ""
    b.add("dc", f"∂L/∂c{s}", formula, [dh, og, c, dc_next, f_next], cell)

    def pre(v: Mapping[str, Tensor]) -> Tensor:
        i_, f_, g_, o_, dc_ = v[ig], v[fg], v[gg], v[og], v[dc]
        parts = (dc_ * g_ * i_ * (1 - i_), dc_ * b.state(v, c_prev, cell=True) * f_ * (1 - f_),
                 dc_ * i_ * (1 - g_**2), v[dh] * torch.tanh(v[c]) * o_ * (1 - o_))  # fmt: skip
        return torch.cat(parts, dim=-1)

    formula = (f"da{s} = [dc⊙g⊙i(1−i) | dc⊙c{p}⊙f(1−f) | dc⊙i⊙(1−g²) | "
               f"dh⊙tanh(c{s})⊙o(1−o)]")  # fmt: skip
    deps = [ig, fg, gg, og, dh, dc, c, c_prev]
    b.add("da", f"∂L/∂a{s}, blocks i | f | g | o", formula, deps, pre, gates=True)


# ---------------------------------------------------------------- gru


def _gru_forward(b: _Builder, t: int, textbook: bool) -> None:
    i, (s, p, _) = b.i, b.at(t, False)
    h_prev = b.key("h", -1)
    for k, (name, what) in enumerate((("r", "reset gate"), ("z", "update gate"))):
        formula = f"{name}{s} = σ(x{s} W_i{name}ᵀ + b_i{name} + h{p} W_h{name}ᵀ + b_h{name})"

        def gate(v, k=k):
            rows = i.block(k)
            return torch.sigmoid(i.lin_x(t, rows) + i.lin_h(b.state(v, h_prev), rows))

        b.add(name, what, formula, [h_prev], gate)
    r, z, nh, ng = (b.key(k) for k in ("r", "z", "nh", "n"))
    rows = i.block(2)
    if textbook:  # r on h before the product
        b.add("nh", "n's hidden part, textbook form", f"nh{s} = (r{s}⊙h{p}) W_hnᵀ + b_hn",
              [r, h_prev], lambda v: i.lin_h(v[r] * b.state(v, h_prev), rows))  # fmt: skip
        b.add("n", "new gate", f"n{s} = tanh(x{s} W_inᵀ + b_in + nh{s})", [nh],
              lambda v: torch.tanh(i.lin_x(t, rows) + v[nh]))  # fmt: skip
    else:
        b.add("nh", "n's hidden part (r multiplies all of it)", f"nh{s} = h{p} W_hnᵀ + b_hn",
              [h_prev], lambda v: i.lin_h(b.state(v, h_prev), rows))  # fmt: skip
        b.add("n", "new gate", f"n{s} = tanh(x{s} W_inᵀ + b_in + r{s}⊙nh{s})", [r, nh],
              lambda v: torch.tanh(i.lin_x(t, rows) + v[r] * v[nh]))  # fmt: skip
    b.add("h", f"hidden state (y[{t - 1}])", f"h{s} = (1 − z{s})⊙n{s} + z{s}⊙h{p}",
          [z, ng, h_prev], lambda v: (1 - v[z]) * v[ng] + v[z] * b.state(v, h_prev))  # fmt: skip


def _gru_into_h(b: _Builder, v: Mapping[str, Tensor], keys: tuple, textbook: bool) -> Tensor:
    """What a step sends back into the state before it: dh⊙z + dah W_hh (textbook: the n
    rows' part times r, as r multiplied h there)."""
    i = b.i
    dh, z, dah, r = (v.get(k) for k in keys)
    if not textbook:
        return dh * z + dah @ i.w_hh
    rz, rows = slice(0, 2 * i.w_hh.shape[1]), i.block(2)
    return dh * z + dah[..., rz] @ i.w_hh[rz] + (dah[..., rows] @ i.w_hh[rows]) * r


def _gru_backward(b: _Builder, t: int, through_time: bool, textbook: bool) -> None:
    i, (s, p, n) = b.i, b.at(t, True)
    direct, text = b.direct()
    later = [b.key(k, 1) for k in ("dh", "z", "dah", "r")]
    later = later if through_time and later[0] else []
    flow = f" + dh{n}⊙z{n} + dah{n} W_hh" + ("ᵣ" if textbook else "") if later else ""

    def into(v: Mapping[str, Tensor]) -> Tensor:
        return direct + _gru_into_h(b, v, later, textbook) if later else direct

    b.add("dh", f"∂L/∂h{s}", f"dh{s} = {text}{flow}", later if textbook else later[:3], into)
    dh, r, z, ng, nh, da = (b.key(k) for k in ("dh", "r", "z", "n", "nh", "da"))
    h_prev = b.key("h", -1)

    def pre(v: Mapping[str, Tensor]) -> Tensor:
        h = b.state(v, h_prev)
        dan = v[dh] * (1 - v[z]) * (1 - v[ng] ** 2)
        daz = v[dh] * (h - v[ng]) * v[z] * (1 - v[z])
        dr = (dan @ i.w_hh[i.block(2)]) * h if textbook else dan * v[nh]
        return torch.cat([dr * v[r] * (1 - v[r]), daz, dan], dim=-1)

    dr = "(dñ W_hn)⊙h" if textbook else f"dñ⊙nh{s}"
    formula = (f"da{s} = [{dr}⊙r(1−r) | dh⊙(h{p} − n)⊙z(1−z) | dñ], "
               f"dñ = dh{s}⊙(1 − z{s})⊙(1 − n{s}²)")  # fmt: skip
    label = f"∂L/∂(x{s} W_ihᵀ + b_ih), blocks r | z | n"
    b.add("da", label, formula, [dh, r, z, ng, nh, h_prev], pre, gates=True)
    rows = i.block(2)

    def hidden(v: Mapping[str, Tensor]) -> Tensor:
        if textbook:
            return v[da]
        return torch.cat([v[da][..., : rows.start], v[da][..., rows] * v[r]], dim=-1)

    formula = f"dah{s} = [da{s}ᵣ | da{s}_z | da{s}ₙ" + ("]" if textbook else f"⊙r{s}]")
    label = f"∂L/∂(h{p} W_hhᵀ + b_hh), blocks r | z | n"
    b.add("dah", label, formula, [da, r], hidden, gates=True)


# ---------------------------------------------------------------- the gradients


def _gradients(b: _Builder, textbook: bool) -> None:
    """∂L/∂input from the per-step quantities (keys: the input names)."""
    i, kind = b.i, b.kind
    b.at(0, True)
    times = range(1, i.steps + 1)
    da = [f"t{t}.da" for t in times]
    dah = [f"t{t}.dah" for t in times] if kind == "gru" else da
    lead = b.state_dims[:-1]  # ("n",), or () for one sequence
    b.add("x", "∂L/∂x, every t", "∂L/∂x_t = da_t W_ih", da,
          lambda v: torch.stack([v[k] @ i.w_ih for k in da]), dims=("t", *lead, "d"))  # fmt: skip
    if kind == "gru":
        first = ["t1.dh", "t1.z", "t1.dah", "t1.r"]
        formula = "∂L/∂h₀ = dh₁⊙z₁ + dah₁ W_hh" + ("ᵣ" if textbook else "")
        b.add("h0", "∂L/∂h₀", formula, first if textbook else first[:3],
              lambda v: _gru_into_h(b, v, first, textbook))  # fmt: skip
    else:
        b.add("h0", "∂L/∂h₀", "∂L/∂h₀ = da₁ W_hh", ["t1.da"], lambda v: v["t1.da"] @ i.w_hh)
    if kind == "lstm":
        b.add("c0", "∂L/∂c₀", "∂L/∂c₀ = dc₁⊙f₁", ["t1.dc", "t1.f"],
              lambda v: v["t1.dc"] * v["t1.f"])  # fmt: skip

    def weight_ih(v: Mapping[str, Tensor]) -> Tensor:
        return sum(_outer_sum(v[k], i.x[t - 1]) for t, k in zip(times, da, strict=True))

    b.add("weight_ih", "∂L/∂W_ih", "∂L/∂W_ih = Σ_t da_tᵀ x_t", da, weight_ih, dims=("gh", "d"))
    states = [f"t{t}.h" for t in range(1, i.steps)]
    gates = [f"t{t}.r" for t in times] if textbook else []

    def weight_hh(v: Mapping[str, Tensor]) -> Tensor:
        total = 0
        for t, k in zip(times, dah, strict=True):
            h = b.state(v, f"t{t - 1}.h" if t > 1 else None)
            part = _outer_sum(v[k], h)
            if textbook:  # the n rows multiply r ⊙ h
                rows = i.block(2)
                part[rows] = _outer_sum(v[k][..., rows], v[f"t{t}.r"] * h)
            total = total + part
        return total

    side = "dah_t" if kind == "gru" else "da_t"
    formula = f"∂L/∂W_hh = Σ_t {side}ᵀ h_{{t−1}}"
    formula += " (n rows: Σ_t dah_tₙᵀ (r_t⊙h_{t−1}))" if textbook else ""
    deps = [*dah, *states, *gates]
    b.add("weight_hh", "∂L/∂W_hh", formula, deps, weight_hh, dims=("gh", "h"))
    for name, bias, keys in (("bias_ih", i.b_ih, da), ("bias_hh", i.b_hh, dah)):
        if bias is not None:
            formula = f"∂L/∂b_{name[-2:]} = Σ_t Σ_n {'dah_t' if keys is not da else 'da_t'}"
            b.add(name, f"∂L/∂b_{name[-2:]}", formula, keys,
                  lambda v, keys=keys: sum(_total(v[k]) for k in keys), dims=("gh",))  # fmt: skip


def quantities(
    kind: str,
    t: Tensors,
    p: Params,
    g: Tensor | None,
    *,
    textbook: bool = False,
    through_time: bool = True,
    forward_only: bool = False,
) -> list[Quantity]:
    """Every quantity of the derivation, in the order it is computed: the forward pass
    t = 1…T, the backward pass t = T…1, then the gradients.

    ``textbook`` (gru): r on h before the product, n = tanh(W_in x + b_in + W_hn(r⊙h) + b_hn);
    ``through_time`` False: dh_t = G_t alone (nothing flows back from later steps). Both
    are the slips ``--expect`` names, not what torch computes. ``forward_only``: the
    forward pass alone (G is not needed).
    """
    b = _Builder(kind, _inputs(t, p, g))
    steps = b.i.steps
    for time in range(1, steps + 1):
        if kind == "rnn":
            _rnn_forward(b, time)
        elif kind == "lstm":
            _lstm_forward(b, time)
        else:
            _gru_forward(b, time, textbook)
    if forward_only:
        return b.items
    for time in range(steps, 0, -1):
        if kind == "rnn":
            _rnn_backward(b, time, through_time)
        elif kind == "lstm":
            _lstm_backward(b, time, through_time)
        else:
            _gru_backward(b, time, through_time, textbook)
    _gradients(b, textbook)
    return b.items


def _backward(kind: str) -> Callable[[Tensors, Params, Tensor], dict[str, Tensor]]:
    def backward(t: Tensors, p: Params, g: Tensor) -> dict[str, Tensor]:
        values = evaluate(quantities(kind, t, p, g))
        names = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return {name: values[name] for name in names if name in values}

    return backward


# ---------------------------------------------------------------- --steps


def shown_times(steps: int) -> list[int]:
    """The time steps ``--steps`` writes out: all up to STEP_TIMES, else 1, 2, T−1, T."""
    if steps <= STEP_TIMES:
        return list(range(1, steps + 1))
    return [1, 2, steps - 1, steps]


def _skipped(steps: int, direction: str) -> Step:
    left = steps - STEP_TIMES
    between = "t3" if left == 1 else f"t3 to t{steps - 2}"
    return Step(
        f"… {between}: {left} of {steps} time steps not shown",
        f"the {direction} goes through them in the same way; --expect takes their keys "
        "and --json has every one",
    )


def _steps(kind: str) -> Callable[[Tensors, Params, Tensor], list[Step]]:
    """Every quantity as a keyed step, in computation order — the forward pass, y, G, the
    backward pass, the gradients — the middle time steps of a long sequence not shown."""

    def steps(t: Tensors, p: Params, g: Tensor) -> list[Step]:
        items = quantities(kind, t, p, g)
        values = evaluate(items)
        total = t["x"].shape[0]
        shown = set(shown_times(total))
        out: list[Step] = []
        for k, q in enumerate(items):
            if q.backward and not items[k - 1].backward:  # the forward pass is done
                out += [_output_step(t, values, total), _upstream_step(t, g)]
            visible = q.time in shown or not q.time
            out.append(
                Step(q.label, q.formula, values[q.key], q.dims, symbol=q.symbol, key=q.key,
                     depends_on=q.depends_on, compute=q.compute, shown=visible)
            )  # fmt: skip
            following = items[k + 1] if k + 1 < len(items) else None
            gap = total - 1 if q.backward else 2  # the skipped steps come after this one
            if total > STEP_TIMES and q.time == gap and following and following.time != gap:
                out.append(_skipped(total, "backward pass" if q.backward else "forward pass"))
        return out

    return steps


def _output_step(t: Tensors, values: Mapping[str, Tensor], total: int) -> Step:
    """y, the hidden states of every time step: shown above the steps, a quantity still."""
    keys = tuple(f"t{k}.h" for k in range(1, total + 1))
    dims = ("t", "n", "h") if t["x"].dim() == 3 else ("t", "h")

    def stack(v: Mapping[str, Tensor]) -> Tensor:
        return torch.stack([v[key] for key in keys])

    return Step("the output sequence", "y[t−1] = h_t", stack(values), dims, key="y",
                depends_on=keys, compute=stack, shown=False)  # fmt: skip


def _upstream_step(t: Tensors, g: Tensor) -> Step:
    dims = ("t", "n", "h") if g.dim() == 3 else ("t", "h")
    extra = [name for name in ("G_h", "G_c") if t.get(name) is not None]
    formula = f"y[t−1] = h_t; with {' and '.join(extra)} on the final states" if extra else ""
    return Step("G = ∂L/∂y (upstream)", formula, g, dims)


# ---------------------------------------------------------------- slips and kinks


def _gate_order(kind: str) -> tuple[str, tuple[int, ...]] | None:
    if kind == "lstm":
        return "the gate blocks in the order i, f, o, g (CS231n's); torch's is i, f, g, o", (
            0,
            1,
            3,
            2,
        )
    if kind == "gru":
        return "the gate blocks in the order z, r, n; torch's is r, z, n", (1, 0, 2)
    return None


def _forward_key(key: str) -> bool:
    """A key of the forward pass (t3.h, t3.f): the same with or without BPTT."""
    return "." in key and not key.split(".", 1)[1].startswith("d")


def _slips(kind: str) -> Callable[[Tensors, Params, Tensor, str], list[tuple[str, Tensor]]]:
    """For a gradient or a step's key: the no-BPTT value, the textbook GRU's, and for the
    weights and biases the gate blocks in another order."""

    def slips(t: Tensors, p: Params, g: Tensor, name: str) -> list[tuple[str, Tensor]]:
        what = name if "." in name else f"∂L/∂{name}"
        found = []
        if t["x"].shape[0] > 1 and not _forward_key(name):
            values = evaluate(quantities(kind, t, p, g, through_time=False))
            text = "without backpropagation through time: dh_t = G_t alone, nothing flowing"
            if name in values:
                found.append((f"{what} {text} back from step t+1", values[name]))
        if kind == "gru":
            values = evaluate(quantities(kind, t, p, g, textbook=True))
            if name in values:
                text = (
                    "of the textbook GRU, r applied to h before the product: n = tanh(W_in x + "
                    "b_in + W_hn (r⊙h) + b_hn); torch's GRU puts r on (W_hn h + b_hn)"
                )
                found.append((f"{what} {text}", values[name]))
        order = _gate_order(kind)
        if order is not None and name.startswith(("weight_", "bias_")):
            text, blocks = order
            truth = evaluate(quantities(kind, t, p, g))[name]
            h = t["weight_hh"].shape[1]
            found.append((text, torch.cat([truth[k * h : (k + 1) * h] for k in blocks])))
        return found

    return slips


def _rnn_untrusted(t: Tensors, p: Params, name: str) -> Tensor | None:
    """Entries whose central difference may straddle relu's kink: some pre-activation a_s
    within KINK_BAND of 0 that the entry reaches (x_t reaches a_s for s ≥ t in its own
    sequence, h0 its whole sequence, the weights everything)."""
    if p.get("nonlinearity") != "relu":
        return None
    values = evaluate(quantities("rnn", t, p, None, forward_only=True))
    steps = t["x"].shape[0]
    a = torch.stack([values[f"t{s}.a"] for s in range(1, steps + 1)])  # T×[N×]H
    near = (a.abs() <= KINK_BAND).reshape(steps, -1, a.shape[-1]).any(dim=-1)  # T×N
    shape = t[name].shape
    if name == "x":
        later = near.flip(0).cummax(dim=0).values.flip(0)  # a kink at step ≥ t
        return later.reshape(*shape[:-1], 1).expand(shape).clone()
    if name == "h0":
        return near.any(dim=0).reshape(*shape[:-1], 1).expand(shape).clone()
    return torch.full(shape, bool(near.any()))


# ---------------------------------------------------------------- the records


def _inputs_of(kind: str) -> tuple[LayerInput, ...]:
    g = _count(kind)
    rows = "H" if g == 1 else f"{g}H"
    owner = OWNER[kind]
    state = [
        LayerInput(
            "h0",
            "N×H",
            "initial hidden state (H for one sequence); zeros when left out",
            _names(("h",), ("n", "h")),
            symbol="h₀",
            init="zeros",
            init_owner=owner,
        )
    ]
    if kind == "lstm":
        state.append(
            LayerInput(
                "c0",
                "N×H",
                "initial cell state (H for one sequence); zeros when left out",
                _names(("h",), ("n", "h")),
                symbol="c₀",
                init="zeros",
                init_owner=owner,
            )
        )
    blocks = "" if g == 1 else f", blocks {' | '.join(GATES[kind])}"

    def weight(name: str, shape: str, what: str, dims: tuple[str, ...], symbol: str) -> LayerInput:
        return LayerInput(
            name,
            shape,
            f"{what} ({owner}.{name}_l0{blocks}); drawn uniform ±1/√H if left out",
            _names(dims),
            symbol=symbol,
            init="hidden_uniform",
            init_owner=owner,
            shape_init="hidden_uniform",
            none_allowed=name.startswith("bias"),
        )

    return (
        LayerInput(
            "x",
            "T×N×D",
            "input sequence: time, batch, features (T×D for one sequence)",
            _names(("t", "d"), ("t", "n", "d")),
        ),
        *state,
        weight("weight_ih", f"{rows}×D", "input-to-hidden weights", ("gh", "d"), "W_ih"),
        weight("weight_hh", f"{rows}×H", "hidden-to-hidden weights", ("gh", "h"), "W_hh"),
        weight("bias_ih", rows, "input-to-hidden bias, or 'none'", ("gh",), "b_ih"),
        weight("bias_hh", rows, "hidden-to-hidden bias, or 'none'", ("gh",), "b_hh"),
    )


def _params(kind: str) -> tuple[LayerParam, ...]:
    size = LayerParam(
        "hidden_size",
        "int",
        None,
        "H, the hidden size (when no weight or h0 gives it)",
        minimum=1,
        default_text="from --weight-hh or --h0",
    )
    if kind != "rnn":
        return (size,)
    return (
        size,
        LayerParam(
            "nonlinearity",
            "choice",
            "tanh",
            "the activation: tanh or relu",
            choices=("tanh", "relu"),
        ),
    )


_KEYS = {
    "rnn": (("a", "the pre-activation a_K"), ("h", "the hidden state h_K = y[K−1]")),
    "lstm": (
        ("i", "the input gate"), ("f", "the forget gate"), ("g", "the cell candidate"),
        ("o", "the output gate"), ("c", "the cell state c_K"), ("h", "the hidden state h_K"),
    ),
    "gru": (
        ("r", "the reset gate"), ("z", "the update gate"),
        ("nh", "n's hidden part h_{K−1} W_hnᵀ + b_hn"), ("n", "the new gate"),
        ("h", "the hidden state h_K"),
    ),
}  # fmt: skip
_BACK_KEYS = {
    "rnn": (("dh", "∂L/∂h_K"), ("da", "∂L/∂a_K")),
    "lstm": (("dh", "∂L/∂h_K"), ("dc", "∂L/∂c_K"), ("da", "∂L/∂a_K (blocks i | f | g | o)")),
    "gru": (
        ("dh", "∂L/∂h_K"), ("da", "∂L/∂ of x_K W_ihᵀ + b_ih (blocks r | z | n)"),
        ("dah", "∂L/∂ of h_{K−1} W_hhᵀ + b_hh (blocks r | z | n)"),
    ),
}  # fmt: skip


def _step_keys(kind: str) -> tuple[tuple[str, str], ...]:
    """The keys as patterns, for listings: tK.h at every time step K = 1…T."""
    return tuple(
        (f"tK.{name}", f"{text}, K = 1…T") for name, text in (*_KEYS[kind], *_BACK_KEYS[kind])
    )


def _keys_for(kind: str) -> Callable[[Shapes, Params], tuple[tuple[str, str], ...]]:
    """The keys for T time steps, in computation order: forward t1…tT, backward tT…t1 (y,
    whose shape is known, is every layer's key already)."""

    def keys(shapes: Shapes, params: Params) -> tuple[tuple[str, str], ...]:
        steps = shapes["x"][0]
        out = [
            (f"t{t}.{name}", text.replace("_K", sub(t)))
            for t in range(1, steps + 1)
            for name, text in _KEYS[kind]
        ]
        out += [
            (f"t{t}.{name}", text.replace("_K", sub(t)))
            for t in range(steps, 0, -1)
            for name, text in _BACK_KEYS[kind]
        ]
        return tuple(out)

    return keys


def _finals(kind: str) -> tuple[FinalOutput, ...]:
    finals = [FinalOutput("h_n", "upstream-h", "G_h", "h0", "h_n = h_T, the last hidden state")]
    if kind == "lstm":
        finals.append(FinalOutput("c_n", "upstream-c", "G_c", "c0", "c_n = c_T, the last cell"))
    return tuple(finals)


def _notes(kind: str) -> Callable[[Params, Shapes], list[str]]:
    def notes(params: Params, shapes: Shapes) -> list[str]:
        t = shapes["x"][0]
        text = (
            f"time steps t = 1 to {t}: x_t = x[t−1], y[t−1] = h_t, h₀ = --h0; one layer, "
            f"unidirectional, batch_first=False, as {OWNER[kind]}(input_size, hidden_size)"
        )
        if shapes.get("bias_ih") is None or shapes.get("bias_hh") is None:
            text += "; a bias left out is 0 (torch's bias=False drops both)"
        return [text]

    return notes


_FORWARD = {
    "rnn": "h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (relu with "
    "nonlinearity=relu); y_t = h_t, t = 1…T",
    "lstm": "i, f, g, o = σ, σ, tanh, σ of x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh (blocks "
    "i | f | g | o); c_t = f⊙c_{t−1} + i⊙g; h_t = o⊙tanh(c_t); y_t = h_t",
    "gru": "r, z = σ(x_t W_i{r,z}ᵀ + b_i{r,z} + h_{t−1} W_h{r,z}ᵀ + b_h{r,z}); "
    "n = tanh(x_t W_inᵀ + b_in + r⊙(h_{t−1} W_hnᵀ + b_hn)) — r on (W_hn h + b_hn), torch's "
    "form, not on h; h_t = (1 − z)⊙n + z⊙h_{t−1}; y_t = h_t",
}

_DH = "dh_t = G_t + da_{t+1} W_hh (+ G_h at t = T)"
_BACKWARD = {
    "rnn": {
        "x": f"∂L/∂x_t = da_t W_ih, da_t = dh_t⊙(1 − h_t²) (relu: dh_t⊙[a_t > 0]), {_DH}",
        "h0": "∂L/∂h_0 = da_1 W_hh",
    },
    "lstm": {
        "x": "∂L/∂x_t = da_t W_ih, da_t = [dc⊙g⊙i(1−i) | dc⊙c_{t−1}⊙f(1−f) | dc⊙i⊙(1−g²) | "
        "dh⊙tanh(c_t)⊙o(1−o)], dc_t = dh_t⊙o_t⊙(1 − tanh²c_t) + dc_{t+1}⊙f_{t+1} (+ G_c at "
        f"t = T), {_DH}",
        "h0": "∂L/∂h_0 = da_1 W_hh",
        "c0": "∂L/∂c_0 = dc_1⊙f_1",
    },
    "gru": {
        "x": "∂L/∂x_t = da_t W_ih, da_t = [dñ⊙nh_t⊙r(1−r) | dh⊙(h_{t−1} − n)⊙z(1−z) | dñ], "
        "dñ = dh_t⊙(1 − z)⊙(1 − n²), nh_t = h_{t−1} W_hnᵀ + b_hn; "
        "dh_t = G_t + dh_{t+1}⊙z_{t+1} + dah_{t+1} W_hh (+ G_h at t = T)",
        "h0": "∂L/∂h_0 = dh_1⊙z_1 + dah_1 W_hh, dah_t = [da_tᵣ | da_t_z | da_tₙ⊙r_t]",
    },
}


def _backward_formulas(kind: str) -> dict[str, str]:
    side = "dah_t" if kind == "gru" else "da_t"
    formulas = dict(_BACKWARD[kind])
    formulas |= {
        "weight_ih": "∂L/∂W_ih = Σ_t da_tᵀ x_t",
        "weight_hh": f"∂L/∂W_hh = Σ_t {side}ᵀ h_{{t−1}}",
        "bias_ih": "∂L/∂b_ih = Σ_t Σ_n da_t",
        "bias_hh": f"∂L/∂b_hh = Σ_t Σ_n {side}",
    }
    return formulas


def _batch_size(t: Tensors) -> int:
    x = t["x"]
    return int(x.shape[1]) if x.dim() == 3 else 1


def _record(kind: str, summary: str) -> Layer:
    outputs = _torch_outputs(kind)
    return Layer(
        name=kind,
        summary=summary,
        inputs=_inputs_of(kind),
        params=_params(kind),
        forward_formula=_FORWARD[kind],
        backward_formulas=_backward_formulas(kind),
        output_shape=_output_shape(kind),
        default_shape=_default_shape(kind),
        forward=lambda t, p: outputs(t, p)["y"],
        backward=_backward(kind),
        steps=_steps(kind),
        output_dims=lambda shapes: ("t", "n", "h") if len(shapes["x"]) == 3 else ("t", "h"),
        workspace=_workspace(kind),
        multiply_adds=_multiply_adds(kind),
        fixed_work=_fixed_work(kind),
        derive=_derive(kind),
        reshape=_reshape(kind),
        slips=_slips(kind),
        notes=_notes(kind),
        untrusted=_rnn_untrusted if kind == "rnn" else None,
        kinks_text=(
            f"a relu pre-activation a_t within {KINK_BAND:g} of 0 that the entry reaches, "
            "where relu has no derivative"
        )
        if kind == "rnn"
        else "",
        final_outputs=_finals(kind),
        forward_all=outputs,
        batch_size=_batch_size,
        step_keys=_step_keys(kind),
        keys_for=_keys_for(kind),
    )


RNN = _record("rnn", "Elman recurrent layer, backpropagation through time (nn.RNN)")
LSTM = _record("lstm", "long short-term memory, backpropagation through time (nn.LSTM)")
GRU = _record("gru", "gated recurrent unit, torch's form, backpropagation through time (nn.GRU)")

__all__ = ["GRU", "LSTM", "RNN", "Quantity", "evaluate", "hidden_size", "quantities"]
