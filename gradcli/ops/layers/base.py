"""What every layer record is made of, and the helpers the families share.

The records: :class:`LayerInput`, :class:`LayerParam` (one ``--param KEY=VALUE``),
:class:`Step` (one quantity ``--steps`` shows) and :class:`Layer`; then the shape checks and
the number formatting the family modules use. No torch here.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gradcli.errors import InputError, shown, suggest, unknown

if TYPE_CHECKING:
    from torch import Tensor

Shape = tuple[int, ...]
Shapes = Mapping[str, "Shape | None"]
Params = Mapping[str, Any]
Tensors = Mapping[str, "Tensor | None"]

MAX_DIMS = 4
FLOAT_EPS = {"float64": 2.0**-52, "float32": 2.0**-23}  # torch.finfo(dtype).eps
STEP_LINES = 16  # --steps writes out at most this many sums term by term
_BIAS_HELP = "bias, or 'none'"  # the help of every optional bias


def dims_text(shape: Sequence[int]) -> str:
    """``(2, 3, 5)`` → ``2×3×5``."""
    return "×".join(str(n) for n in shape) if len(shape) else "scalar"


def option(name: str) -> str:
    """The command-line option of input ``name``: ``weight_ih`` → ``--weight-ih``."""
    return "--" + name.replace("_", "-")


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
    # what it is when left out, as torch's module starts it (a student compares with torch):
    # "normal" (standard normal from --seed), "ones", "zeros" (a norm's γ and β), or
    # "fan_in_uniform" (uniform on ±1/√fan_in from --seed, fan_in = weight[0].numel(): the
    # bias of nn.Linear and nn.Conv*); ``init_owner`` names that module
    init: str = "normal"
    init_owner: str = ""
    # how ``--NAME-shape`` draws it: "normal", or "hidden_uniform" (uniform on ±1/√H, as
    # torch's recurrent modules start every weight and bias)
    shape_init: str = "normal"

    @property
    def has_gradient(self) -> bool:
        return self.kind == "float"


@dataclass(frozen=True)
class LayerParam:
    """One ``--param KEY=VALUE``: torch's default and what values it accepts.

    kind: ``int`` (one integer), ``pair`` (an integer or two, ``2`` or ``1,2``), ``ints``
    (one integer or more, ``3,4``: a shape), ``float``, ``floats`` (one number or more,
    ``0.1,0.2``: a vector), ``bool`` or ``choice`` (one of ``choices``, any case).
    ``default`` None means "derived" or torch's None (``default_text`` says which; ``none``
    is then accepted as a value); ``required`` parameters have no default at all, as in
    torch. ``minimum`` None lets negative integers through (a layer checks them against its
    shapes).
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: int | None = 0  # for int, pair and ints
    check: Callable[[float], bool] | None = None  # for float and floats
    requirement: str = ""
    default_text: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()  # for choice

    def parse(self, raw: str, owner: str) -> Any:
        """The value of ``KEY=raw``, checked; InputError naming the parameter otherwise."""
        text = raw.strip()
        if self.kind == "bool":
            return _parse_bool(text, self.name, owner)
        if self.kind == "choice":
            if text.lower() not in self.choices:
                raise InputError(
                    f"{owner}: --param {self.name}={shown(text)} must be "
                    f"{' or '.join(self.choices)}{suggest(text.lower(), self.choices)}"
                )
            return text.lower()
        if self.default is None and not self.required and text.lower() == "none":
            return None
        if self.kind == "float":
            return self._parse_float(text, owner)
        if self.kind == "floats":
            return self._parse_floats(text, owner)
        return self._parse_ints(text, owner)

    def _parse_float(self, text: str, owner: str) -> float:
        try:
            if not text.isascii() or "_" in text:  # float() would take '１', '٢' and '1_0'
                raise ValueError(text)
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

    def _parse_floats(self, text: str, owner: str) -> tuple[float, ...]:
        pieces = _pieces(text)
        if not pieces:
            raise InputError(
                f"{owner}: --param {self.name}={shown(text)} must be numbers like 0.1,0.2"
            )
        values = []
        for piece in pieces:
            try:
                value = float(piece)
            except ValueError:
                raise InputError(
                    f"{owner}: --param {self.name}={shown(text)}: {shown(piece)} is not a number"
                ) from None
            if not math.isfinite(value) or (self.check is not None and not self.check(value)):
                raise InputError(
                    f"{owner}: --param {self.name}={shown(text)}: {shown(piece)} must be "
                    f"{self.requirement or 'finite'}"
                )
            values.append(value)
        return tuple(values)

    def _parse_ints(self, text: str, owner: str) -> int | tuple[int, ...]:
        pieces = _pieces(text)
        most = {"int": 1, "pair": 2, "ints": MAX_DIMS}[self.kind]
        wanted = {
            "int": "an integer",
            "pair": "an integer or a pair like 1,2",
            "ints": f"one to {MAX_DIMS} integers like 3,4",
        }[self.kind]
        if self.default is None and not self.required:
            wanted += " (or none)"
        if not pieces or len(pieces) > most:
            raise InputError(f"{owner}: --param {self.name}={shown(text)} must be {wanted}")
        values = []
        for piece in pieces:
            if not re.fullmatch(r"[+-]?\d{1,9}", piece, re.ASCII):
                raise InputError(f"{owner}: --param {self.name}={shown(text)} must be {wanted}")
            value = int(piece)
            if self.minimum is not None and value < self.minimum:
                raise InputError(
                    f"{owner}: --param {self.name}={shown(text)} must be ≥ {self.minimum}"
                    + (" (negative padding is not allowed)" if self.name == "padding" else "")
                )
            values.append(value)
        if self.kind == "ints":
            return tuple(values)
        if len(values) == 1:
            return values[0]  # one integer serves both axes, as in torch
        return (values[0], values[1])

    def describe(self) -> str:
        """``name=default`` for listings."""
        if self.required:
            return f"{self.name} (required)"
        if self.default is None:
            return f"{self.name}={self.default_text or 'none'}"
        others = [c for c in self.choices if c != self.default]
        return f"{self.name}={_show(self.default)}" + (
            f" (or {', '.join(others)})" if others else ""
        )


def _pieces(text: str) -> list[str]:
    """The comma- or space-separated items of a list-valued parameter (brackets allowed)."""
    return [p for p in re.split(r"[,\s]+", text.strip("()[] ")) if p]


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
    """One intermediate quantity of the hand derivation: a tensor, or lines of text.

    A tensor step with a ``key`` is a quantity of the worked solution (``--expect KEY=``):
    ``compute`` recomputes it from the tensors of the keys in ``depends_on`` (the layer's
    inputs and G are closed over), so that an answer worked from a student's own earlier
    values can be recognised (carried forward). A step keyed by an input's name (``x``) is
    the way the derivation reaches that gradient; ``y`` the output."""

    label: str
    formula: str = ""
    tensor: Tensor | None = None
    dim_names: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    symbol: str = ""  # the tensor's name in slice titles (default: the label's first word)
    key: str = ""
    depends_on: tuple[str, ...] = ()
    compute: Callable[[Mapping[str, Tensor]], Tensor] | None = None
    # False: a quantity of the worked solution that --steps does not write out (the middle
    # time steps of a long sequence); --expect and the JSON solution still have it
    shown: bool = True


def staged(*steps: Step) -> list[Step]:
    """The steps, each keyed one without a tensor given the tensor its ``compute`` makes from
    the steps before it: the values shown and the relation that marking recomputes are one
    function."""
    values: dict[str, Tensor] = {}
    done = []
    for step in steps:
        if step.compute is not None and step.tensor is None:
            step = replace(step, tensor=step.compute({k: values[k] for k in step.depends_on}))
        if step.key and step.tensor is not None:
            values[step.key] = step.tensor
        done.append(step)
    return done


@dataclass(frozen=True)
class FinalOutput:
    """An output besides y that L may weigh too: a recurrent layer's final state h_n or c_n.

    With ``--{option}`` given, L = Σ G ⊙ y + Σ G_final ⊙ output; the layer's
    ``forward_all`` returns it, and its upstream reaches the backward in the tensors under
    ``upstream`` (``G_h``). It has the shape of input ``like`` (``h0``).
    """

    name: str  # "h_n"
    option: str  # "upstream-h"
    upstream: str  # "G_h"
    like: str  # "h0"
    formula: str  # "h_n = h_T, the last hidden state"


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
    # work of the whole check that the forward's multiply-adds do not measure (element
    # operations): a recurrent layer's Python loop over its time steps, in every hand pass
    fixed_work: Callable[[Shapes, Params], int] | None = None
    resolve: Callable[[Shapes, Params, str], dict[str, Any]] = lambda s, p, d: {}
    # parameters that follow from the inputs the user gave, checked against them before any
    # input left out is given its default (a recurrent layer's hidden size H)
    derive: Callable[[Shapes, Params], dict[str, Any]] | None = None
    # a given tensor's shape as the layer reads it (linear: a weight vector is one row)
    reshape: Callable[[str, Shape], Shape] = lambda name, shape: shape
    # inputs that, given in a shorter form than the layer reads (conv2d: an H×W image), are
    # shown in that form, with their gradients (and y and G with x)
    shown_as_given: tuple[str, ...] = ()
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
    # outputs besides y that --upstream-h/-c may weigh in L (recurrent layers' h_n, c_n),
    # and torch's forward returning them all: {"y": …, "h_n": …}
    final_outputs: tuple[FinalOutput, ...] = ()
    forward_all: Callable[[Tensors, Params], dict[str, Tensor]] | None = None
    # the batch size N, when it is not the first input's first dimension
    batch_size: Callable[[Tensors], int] | None = None
    # the keys of --steps' quantities (--expect KEY=), in the order the derivation reaches
    # them, each with what it is; y and the gradients (keys: the input names) are always
    # quantities, and may be reached by a step too
    step_keys: tuple[tuple[str, str], ...] = ()
    # the keys for these shapes, when they depend on them (a recurrent layer's t1.h … tT.h,
    # listed in step_keys as the patterns tK.h …)
    keys_for: Callable[[Shapes, Params], tuple[tuple[str, str], ...]] | None = None

    def input(self, name: str) -> LayerInput:
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.inputs)

    def keys(self, shapes: Shapes, params: Params) -> tuple[tuple[str, str], ...]:
        """The keys of --steps' quantities for these shapes and parameters."""
        return self.step_keys if self.keys_for is None else self.keys_for(shapes, params)

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


# ---------------------------------------------------------------- text helpers


def _first(limit: int, *sizes: int) -> list[tuple[int, ...]]:
    """The first ``limit`` index tuples of a grid of ``sizes``, in row-major order."""
    return list(itertools.islice(itertools.product(*(range(n) for n in sizes)), limit))


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
