"""The optimizer registry: every update rule defined once.

Each record holds the update written by hand in plain tensor algebra — the formulas of the
papers and of torch's documentation, never ``torch.optim`` — with its hyper-parameters under
**torch's names and defaults**, its state under torch's names (``momentum_buffer``, ``sum``,
``square_avg``, ``grad_avg``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``step``), the
ordered quantities of one step with their formulas (what ``--steps`` shows and ``--expect
KEY=`` checks), the torch.optim class and arguments that are its reference, and the slips it
recognises. The CLI, ``--list``, the docs table, ``perceptron --optimizer`` and the tests all
iterate over :data:`OPTIMIZERS`.

Conventions, spelled out rather than picked silently:

* momentum as torch writes it, ``b ← μ·b + g;  w ← w − lr·b``, or in CS231n's form
  ``v ← μ·v − lr·g;  w ← w + v`` (``convention="cs231n"``): v = −lr·b, the same steps for a
  constant lr;
* ``weight_decay`` λ as L2 — λ·w added to the gradient — for sgd, momentum, nesterov,
  adagrad, rmsprop and adam (torch's ``weight_decay``), decoupled — w ← w·(1 − lr·λ) outside
  the adaptive step — for adamw (Loshchilov & Hutter, as torch.optim.AdamW scales it by lr).

``momentum`` and ``nesterov`` are torch's SGD with μ = 0.9 by default (SGD's own default, 0,
would make them plain gradient descent).

Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradcli._torch import torch
from gradcli.errors import InputError, shown, suggest, unknown
from gradcli.parsing import parse_number

if TYPE_CHECKING:
    from torch import Tensor

Options = dict[str, Any]  # hyper-parameter name → value (floats, bools, a pair for betas)
State = dict[str, Any]  # state name → Tensor, None (absent) or int (step)
Values = dict[str, Any]  # quantity key → Tensor or number, in the order of the quantities

MAX_STEP = 10_000_000  # a state step count: torch keeps it in a float32 tensor (exact to 2**24)
CONVENTIONS = ("torch", "cs231n")


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class HyperParam:
    """One hyper-parameter: torch's name, torch's default and what it accepts.

    ``kind`` is ``float``, ``bool`` or ``pair`` (two floats, written ``0.9,0.999``).
    """

    name: str
    default: Any
    kind: str = "float"
    low: float = 0.0  # the smallest value allowed
    below: float | None = None  # values must stay below this (betas: 1)
    low_open: bool = False  # the low end itself is refused (lr > 0)
    high: float | None = None  # the largest value allowed
    help: str = ""

    @property
    def requirement(self) -> str:
        """``≥ 0``, ``in [0, 1)``… for messages and listings."""
        if self.kind == "bool":
            return "true or false"
        left = "(" if self.low_open else "["
        if self.below is not None:
            return f"in {left}{self.low:g}, {self.below:g})"
        if self.high is not None:
            return f"in {left}{self.low:g}, {self.high:g}]"
        return f"{'>' if self.low_open else '≥'} {self.low:g}"

    def parse(self, raw: str, owner: str) -> Any:
        """The value of ``NAME=raw``, checked; an InputError naming the option otherwise."""
        text = raw.strip()
        if self.kind == "bool":
            words = {"true": True, "1": True, "yes": True, "on": True}
            words |= {"false": False, "0": False, "no": False, "off": False}
            if text.lower() not in words:
                raise InputError(
                    f"{owner}: --param-option {self.name}={shown(text)} must be true or false"
                )
            return words[text.lower()]
        if self.kind == "pair":
            pieces = [piece for piece in text.replace(" ", ",").split(",") if piece]
            if len(pieces) != 2:
                raise InputError(
                    f"{owner}: --param-option {self.name}={shown(text)} must be two numbers, "
                    f"e.g. {self.name}=0.9,0.999"
                )
            return tuple(self._number(piece, owner, text) for piece in pieces)
        return self._number(text, owner, text)

    def _number(self, piece: str, owner: str, text: str) -> float:
        what = f"{owner}: --param-option {self.name}"
        value = parse_number(piece, what)
        too_low = value < self.low or (self.low_open and value == self.low)
        too_high = (self.below is not None and value >= self.below) or (
            self.high is not None and value > self.high
        )
        if too_low or too_high:
            raise InputError(f"{what}={shown(text)}: {piece} must be {self.requirement}")
        return value

    def describe(self, value: Any = None) -> str:
        return f"{self.name}={show_value(self.default if value is None else value)}"


@dataclass(frozen=True)
class StateEntry:
    """One entry of the optimizer's state, under torch's name.

    ``fresh`` says what a fresh optimizer holds: ``zeros``; ``absent`` (SGD's buffer: the
    first step sets it to g); ``initial`` (Adagrad's ``initial_accumulator_value``);
    ``count`` (``step``, a whole number, 0).
    """

    name: str
    symbol: str
    meaning: str
    fresh: str = "zeros"
    when: Callable[[Options], bool] = lambda options: True

    @property
    def is_count(self) -> bool:
        return self.fresh == "count"


@dataclass(frozen=True)
class Quantity:
    """One named quantity of a step, in the order it is computed: a state entry (its new
    value), an intermediate (m̂, v̂, the gradient used) or the new parameter."""

    key: str
    symbol: str
    formula: str
    kind: str = "intermediate"  # "state", "intermediate" or "param"


@dataclass(frozen=True)
class SlipRule:
    """A known mistake: ``twist`` names the variant of the hand update that makes it."""

    twist: str
    description: str
    when: Callable[[Options], bool] = lambda options: True


Update = Callable[["Tensor", "Tensor", State, Options, frozenset], Values]


@dataclass(frozen=True)
class Form:
    """How one convention writes the update: its state, quantities and hand update, and the
    translation of its state to torch's and back (the identity for torch's own form)."""

    state: tuple[StateEntry, ...]
    quantities: Callable[[Options], tuple[Quantity, ...]]
    update: Update
    to_torch: Callable[[State, Options], State] = lambda state, options: state
    from_torch: Callable[[State, Options], State] = lambda state, options: state
    refuse: Callable[[Options], str | None] = lambda options: None  # why it cannot apply


@dataclass(frozen=True)
class Optimizer:
    """One optimizer and everything gradcli knows about it."""

    name: str
    torch_class: str  # the torch.optim class that is the reference
    summary: str
    formula: str  # the update in one line, for listings
    params: tuple[HyperParam, ...]  # lr first, then torch's keyword arguments
    form: Form  # torch's own form
    slips: tuple[SlipRule, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)  # torch arguments set by the record
    decay: str = "L2"  # how weight_decay acts: "L2" or "decoupled"
    forms: Mapping[str, Form] = field(default_factory=dict)  # other conventions (cs231n)
    validate: Callable[[Options], str | None] = lambda options: None
    reference: str = ""  # the paper or page the formulas follow

    @property
    def conventions(self) -> tuple[str, ...]:
        return ("torch", *self.forms)

    def form_for(self, convention: str) -> Form:
        if convention == "torch":
            return self.form
        if convention not in self.forms:
            raise InputError(
                f"--convention {convention} does not apply to {self.name}: it has "
                f"{', '.join(self.conventions)} (cs231n is the momentum form v ← μ·v − lr·g)"
            )
        return self.forms[convention]

    def resolve(self, items: Sequence[str], lr: float | None = None) -> Options:
        """torch's defaults overridden by ``--param-option NAME=VALUE`` items and ``lr``."""
        by_name = {param.name: param for param in self.params}
        values: Options = {param.name: param.default for param in self.params}
        values |= self.fixed
        seen: set[str] = set()
        for item in items:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise InputError(f"--param-option {shown(item)} must look like NAME=VALUE")
            if key == "lr":
                raise InputError("the learning rate is --lr, not --param-option lr=…")
            if key not in by_name:
                names = [name for name in by_name if name != "lr"]
                raise InputError(
                    f"--param-option: unknown hyper-parameter {shown(key)} for {self.name}"
                    f"{suggest(key, names)}; {self.name} has: {', '.join(names) or 'none'}"
                    + _fixed_hint(self, key)
                )
            if key in seen:
                raise InputError(f"--param-option {key} is given twice")
            seen.add(key)
            values[key] = by_name[key].parse(raw, self.name)
        if lr is not None:
            values["lr"] = lr
        problem = self.validate(values)
        if problem:
            raise InputError(f"{self.name}: {problem}")
        return values

    def state_for(self, options: Options, convention: str = "torch") -> tuple[StateEntry, ...]:
        """The state entries this optimizer keeps with these options."""
        return tuple(entry for entry in self.form_for(convention).state if entry.when(options))

    def torch_arguments(self, options: Options) -> dict[str, Any]:
        """Keyword arguments of the torch.optim class (lr included)."""
        return dict(options)


def _fixed_hint(optimizer: Optimizer, key: str) -> str:
    if key in optimizer.fixed:
        return f" ({key}={show_value(optimizer.fixed[key])} is what makes it {optimizer.name})"
    return ""


def show_value(value: Any) -> str:
    """``true``, ``0.9,0.999``, ``0.001`` — as the user writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ---------------------------------------------------------------- shared pieces


def _lr(default: float) -> HyperParam:
    return HyperParam("lr", default, low_open=True, help="learning rate (--lr)")


def _weight_decay(default: float = 0.0, decoupled: bool = False) -> HyperParam:
    meaning = "decoupled: w ← w·(1 − lr·λ)" if decoupled else "L2: g ← ∇ + λ·w"
    return HyperParam("weight_decay", default, help=f"λ, {meaning}")


MAXIMIZE = HyperParam("maximize", False, "bool", help="ascend: g = −∇")
STEP = StateEntry("step", "t", "steps taken so far", "count")


def _gradient(w: Tensor, grad: Tensor, o: Options, twist: frozenset, decoupled: bool) -> Tensor:
    """g: ∇ (−∇ when maximizing) plus λ·w when weight decay is L2."""
    g = -grad if o.get("maximize") else grad
    l2 = not decoupled if "decay_flipped" not in twist else decoupled
    if o.get("weight_decay", 0) and l2 and "no_decay" not in twist:
        g = g + w * o["weight_decay"]
    return g


def _decayed(w: Tensor, o: Options, twist: frozenset, decoupled: bool) -> Tensor:
    """w·(1 − lr·λ) when weight decay is decoupled (w itself otherwise)."""
    apart = decoupled if "decay_flipped" not in twist else not decoupled
    if not (o.get("weight_decay", 0) and apart) or "no_decay" in twist:
        return w
    if "decay_without_lr" in twist:
        return w - w * o["weight_decay"]
    return w * (1 - o["lr"] * o["weight_decay"])


def _gradient_quantity(o: Options, decoupled: bool) -> tuple[Quantity, ...]:
    """The g row, when g is not simply ∇."""
    sign = "−∇" if o.get("maximize") else "∇"
    if o.get("weight_decay", 0) and not decoupled:
        return (Quantity("g", "g", f"g = {sign} + λ·w   (weight_decay λ as L2)"),)
    if o.get("maximize"):
        return (Quantity("g", "g", "g = −∇   (maximize)"),)
    return ()


def _decay_quantity(o: Options, decoupled: bool) -> tuple[Quantity, ...]:
    if o.get("weight_decay", 0) and decoupled:
        return (Quantity("decayed", "w'", "w' = w·(1 − lr·λ)   (decoupled weight decay)"),)
    return ()


def _with_gradient(values: Values, g: Tensor, o: Options, decoupled: bool) -> Values:
    return {"g": g, **values} if _gradient_quantity(o, decoupled) else values


SIGN_FLIP = SlipRule(
    "sign_flipped",
    "the step taken uphill: the update added instead of subtracted (a sign flipped)",
)
NO_DECAY = SlipRule(
    "no_decay", "weight decay left out (λ = 0)", when=lambda o: o.get("weight_decay", 0) > 0
)


# ---------------------------------------------------------------- SGD: sgd, momentum, nesterov


def _sgd_update(w: Tensor, grad: Tensor, state: State, o: Options, twist: frozenset) -> Values:
    """torch.optim.SGD: g ← ∇ + λw; b ← μb + (1 − τ)g (b ← g on the first step);
    w ← w − lr·b, or w ← w − lr·(g + μb) with Nesterov."""
    g = _gradient(w, grad, o, twist, decoupled=False)
    w = _decayed(w, o, twist, decoupled=False)
    mu, tau, lr = o.get("momentum", 0.0), o.get("dampening", 0.0), o["lr"]
    sign = -1 if "sign_flipped" in twist else 1
    values: Values = {}
    if mu == 0:
        return _with_gradient({"new_param": w - g * (sign * lr)}, g, o, False)
    old = state.get("momentum_buffer")
    damped = g if "no_dampening" in twist else g * (1 - tau)
    b = g.clone() if old is None else old * mu + damped
    values["momentum_buffer"] = b
    nesterov = o.get("nesterov", False) != ("nesterov_flipped" in twist)
    if nesterov:
        look = old if "old_velocity" in twist and old is not None else b
        step = g + look * mu
    else:
        step = old if "old_velocity" in twist and old is not None else b
    values["new_param"] = w - step * (sign * lr)
    return _with_gradient(values, g, o, False)


def _sgd_quantities(o: Options) -> tuple[Quantity, ...]:
    rows = _gradient_quantity(o, False)
    if o.get("momentum", 0.0) == 0:
        return (*rows, Quantity("new_param", "w", "w ← w − lr·g", "param"))
    tau = o.get("dampening", 0.0)
    damped = "(1 − τ)·g" if tau else "g"
    buffer = Quantity(
        "momentum_buffer", "b", f"b ← μ·b + {damped}   (the first step: b ← g)", "state"
    )
    if o.get("nesterov"):
        return (*rows, buffer, Quantity("new_param", "w", "w ← w − lr·(g + μ·b)", "param"))
    return (*rows, buffer, Quantity("new_param", "w", "w ← w − lr·b", "param"))


def _cs231n_update(w: Tensor, grad: Tensor, state: State, o: Options, twist: frozenset) -> Values:
    """CS231n's optim.py: v ← μ·v − lr·g; w ← w + v (Nesterov: w ← w − μ·v_prev + (1 + μ)·v),
    v starting at zero."""
    g = _gradient(w, grad, o, twist, decoupled=False)
    w = _decayed(w, o, twist, decoupled=False)
    mu, lr = o["momentum"], o["lr"]
    old = state.get("velocity")
    old = torch.zeros_like(w) if old is None else old
    v = old * mu - g * lr
    sign = -1 if "sign_flipped" in twist else 1
    nesterov = o.get("nesterov", False) != ("nesterov_flipped" in twist)
    if nesterov:  # the old velocity in the look-ahead leaves w + v (as torch's form does)
        step = v if "old_velocity" in twist else v * (1 + mu) - old * mu
    else:
        step = old if "old_velocity" in twist else v
    return _with_gradient({"velocity": v, "new_param": w + sign * step}, g, o, False)


def _cs231n_quantities(o: Options) -> tuple[Quantity, ...]:
    rows = _gradient_quantity(o, False)
    velocity = Quantity("velocity", "v", "v ← μ·v − lr·g   (v starts at 0)", "state")
    if o.get("nesterov"):
        step = Quantity("new_param", "w", "w ← w − μ·v_prev + (1 + μ)·v", "param")
    else:
        step = Quantity("new_param", "w", "w ← w + v", "param")
    return (*rows, velocity, step)


def _cs231n_to_torch(state: State, o: Options) -> State:
    """torch's buffer b = −v/lr (no velocity yet: no buffer, as torch's fresh state)."""
    v = state.get("velocity")
    return {} if v is None else {"momentum_buffer": -v / o["lr"]}


def _cs231n_from_torch(state: State, o: Options) -> State:
    b = state.get("momentum_buffer")
    return {} if b is None else {"velocity": -o["lr"] * b}


def _cs231n_refusal(o: Options) -> str | None:
    if o.get("momentum", 0.0) == 0:
        return "--convention cs231n is a form of momentum: it needs momentum > 0"
    if o.get("dampening", 0.0):
        return "--convention cs231n has no dampening (v ← μ·v − lr·g): drop dampening"
    return None


def _sgd_check(o: Options) -> str | None:
    if o.get("nesterov") and (o.get("momentum", 0.0) <= 0 or o.get("dampening", 0.0) != 0):
        return (
            "Nesterov momentum needs momentum > 0 and dampening = 0 (torch.optim.SGD refuses "
            f"momentum={o.get('momentum', 0.0):g}, dampening={o.get('dampening', 0.0):g})"
        )
    return None


BUFFER = StateEntry(
    "momentum_buffer",
    "b",
    "the velocity: b ← μ·b + (1 − τ)·g (absent before the first step, which sets b ← g)",
    "absent",
    when=lambda o: o.get("momentum", 0.0) != 0,
)
VELOCITY = StateEntry("velocity", "v", "CS231n's velocity v = −lr·b, zero at first")
MOMENTUM = HyperParam("momentum", 0.9, help="μ")
DAMPENING = HyperParam("dampening", 0.0, high=1.0, help="τ: b ← μ·b + (1 − τ)·g")
SGD_FORM = Form((BUFFER,), _sgd_quantities, _sgd_update)
CS231N_FORM = Form(
    (VELOCITY,),
    _cs231n_quantities,
    _cs231n_update,
    to_torch=_cs231n_to_torch,
    from_torch=_cs231n_from_torch,
    refuse=_cs231n_refusal,
)
OLD_VELOCITY = SlipRule(
    "old_velocity",
    "the old velocity: the step taken with v from before this gradient was added",
    when=lambda o: not o.get("nesterov"),
)
NESTEROV_OLD = SlipRule(
    "old_velocity",
    "the old instead of the new velocity in Nesterov's look-ahead, g + μ·b_prev (which is "
    "heavy-ball momentum's step w − lr·b)",
    when=lambda o: bool(o.get("nesterov")),
)
NO_DAMPENING = SlipRule(
    "no_dampening", "dampening left out: b ← μ·b + g", when=lambda o: o.get("dampening", 0) > 0
)
MOMENTUM_SLIPS = (SIGN_FLIP, OLD_VELOCITY, NO_DAMPENING, NO_DECAY)

SGD = Optimizer(
    "sgd",
    "SGD",
    "gradient descent; torch's SGD with all its options",
    "w ← w − lr·g   (with momentum μ: b ← μ·b + (1 − τ)·g, w ← w − lr·b)",
    (
        _lr(1e-3),
        HyperParam("momentum", 0.0, help="μ (0: plain gradient descent)"),
        DAMPENING,
        _weight_decay(),
        HyperParam("nesterov", False, "bool", help="Nesterov momentum"),
        MAXIMIZE,
    ),
    SGD_FORM,
    slips=(*MOMENTUM_SLIPS, NESTEROV_OLD),
    forms={"cs231n": CS231N_FORM},
    validate=_sgd_check,
    reference="torch.optim.SGD documentation",
)
MOMENTUM_SGD = Optimizer(
    "momentum",
    "SGD",
    "heavy-ball momentum (torch's SGD, μ = 0.9)",
    "b ← μ·b + g;  w ← w − lr·b",
    (_lr(1e-3), MOMENTUM, DAMPENING, _weight_decay(), MAXIMIZE),
    SGD_FORM,
    slips=(*MOMENTUM_SLIPS, SlipRule("nesterov_flipped", "Nesterov's step w − lr·(g + μ·b)")),
    forms={"cs231n": CS231N_FORM},
    reference="Polyak (1964); torch.optim.SGD; CS231n optim.py sgd_momentum",
)
NESTEROV = Optimizer(
    "nesterov",
    "SGD",
    "Nesterov momentum (torch's SGD, nesterov=True, μ = 0.9)",
    "b ← μ·b + g;  w ← w − lr·(g + μ·b)",
    (
        _lr(1e-3),
        HyperParam("momentum", 0.9, low_open=True, help="μ > 0"),
        _weight_decay(),
        MAXIMIZE,
    ),
    SGD_FORM,
    slips=(SIGN_FLIP, NESTEROV_OLD, NO_DECAY),
    fixed={"nesterov": True},
    forms={"cs231n": CS231N_FORM},
    reference="Sutskever et al. (2013); torch.optim.SGD; CS231n's Nesterov form",
)


# ---------------------------------------------------------------- Adagrad


def _adagrad_update(w: Tensor, grad: Tensor, state: State, o: Options, twist: frozenset) -> Values:
    """torch.optim.Adagrad: t ← t + 1; g ← ∇ + λw; lr_t = lr / (1 + (t − 1)·lr_decay);
    G ← G + g²; w ← w − lr_t·g / (√G + ε)."""
    t = state["step"] + 1
    g = _gradient(w, grad, o, twist, decoupled=False)
    decay = 0.0 if "no_lr_decay" in twist else o["lr_decay"]
    clr = o["lr"] / (1 + (t - 1) * decay)
    old = state["sum"]
    total = old + g * g
    seen = old if "old_sum" in twist else total
    denominator = torch.sqrt(seen + o["eps"]) if "eps_inside_sqrt" in twist else torch.sqrt(seen)
    if "eps_inside_sqrt" not in twist:
        denominator = denominator + o["eps"]
    sign = -1 if "sign_flipped" in twist else 1
    values: Values = {"step": t, "sum": total}
    if o["lr_decay"]:
        values["clr"] = clr
    values["new_param"] = w - g * (sign * clr) / denominator
    return _with_gradient(values, g, o, False)


def _adagrad_quantities(o: Options) -> tuple[Quantity, ...]:
    rows = [*_gradient_quantity(o, False), Quantity("step", "t", "t ← t + 1", "state")]
    rows.append(Quantity("sum", "G", "G ← G + g²", "state"))
    rate = "lr"
    if o["lr_decay"]:
        rows.append(Quantity("clr", "lr_t", "lr_t = lr / (1 + (t − 1)·lr_decay)"))
        rate = "lr_t"
    rows.append(Quantity("new_param", "w", f"w ← w − {rate}·g / (√G + ε)", "param"))
    return tuple(rows)


ADAGRAD = Optimizer(
    "adagrad",
    "Adagrad",
    "per-entry rates from the sum of squared gradients",
    "G ← G + g²;  w ← w − lr·g / (√G + ε)",
    (
        _lr(1e-2),
        HyperParam("lr_decay", 0.0, help="lr_t = lr / (1 + (t − 1)·lr_decay)"),
        _weight_decay(),
        HyperParam("initial_accumulator_value", 0.0, help="G before the first step"),
        HyperParam("eps", 1e-10, help="ε"),
        MAXIMIZE,
    ),
    Form(
        (
            STEP,
            StateEntry("sum", "G", "the sum of squared gradients", "initial"),
        ),
        _adagrad_quantities,
        _adagrad_update,
    ),
    slips=(
        SlipRule("eps_inside_sqrt", "ε inside the square root: √(G + ε)"),
        SlipRule("old_sum", "G from before this step's g² was added"),
        SlipRule("no_lr_decay", "lr_decay left out (lr_t = lr)", when=lambda o: o["lr_decay"] > 0),
        SIGN_FLIP,
        NO_DECAY,
    ),
    reference="Duchi, Hazan & Singer (2011); torch.optim.Adagrad",
)


# ---------------------------------------------------------------- RMSprop


def _rmsprop_update(w: Tensor, grad: Tensor, state: State, o: Options, twist: frozenset) -> Values:
    """torch.optim.RMSprop: v ← α·v + (1 − α)·g²; (centered: ḡ ← α·ḡ + (1 − α)·g, v − ḡ²);
    w ← w − lr·g / (√v + ε), or through a momentum buffer b ← μ·b + g / (√v + ε)."""
    t = state["step"] + 1
    g = _gradient(w, grad, o, twist, decoupled=False)
    alpha = 1 - o["alpha"] if "alpha_swapped" in twist else o["alpha"]
    v = state["square_avg"] * alpha + g * g * (1 - alpha)
    values: Values = {"step": t, "square_avg": v}
    variance = v
    if o["centered"]:
        mean = state["grad_avg"] * alpha + g * (1 - alpha)
        values["grad_avg"] = mean
        if "not_centered" not in twist:
            variance = v - mean * mean
    if "eps_inside_sqrt" in twist:
        denominator = torch.sqrt(variance + o["eps"])
    else:
        denominator = torch.sqrt(variance) + o["eps"]
    sign = -1 if "sign_flipped" in twist else 1
    if o["momentum"] > 0:
        b = state["momentum_buffer"] * o["momentum"] + g / denominator
        values["momentum_buffer"] = b
        values["new_param"] = w - b * (sign * o["lr"])
    else:
        values["new_param"] = w - g * (sign * o["lr"]) / denominator
    return _with_gradient(values, g, o, False)


def _rmsprop_quantities(o: Options) -> tuple[Quantity, ...]:
    rows = [*_gradient_quantity(o, False), Quantity("step", "t", "t ← t + 1", "state")]
    rows.append(Quantity("square_avg", "v", "v ← α·v + (1 − α)·g²", "state"))
    root = "√v"
    if o["centered"]:
        rows.append(Quantity("grad_avg", "ḡ", "ḡ ← α·ḡ + (1 − α)·g", "state"))
        root = "√(v − ḡ²)"
    if o["momentum"] > 0:
        rows.append(Quantity("momentum_buffer", "b", f"b ← μ·b + g / ({root} + ε)", "state"))
        rows.append(Quantity("new_param", "w", "w ← w − lr·b", "param"))
    else:
        rows.append(Quantity("new_param", "w", f"w ← w − lr·g / ({root} + ε)", "param"))
    return tuple(rows)


RMSPROP = Optimizer(
    "rmsprop",
    "RMSprop",
    "a running mean of g² scales each entry's step",
    "v ← α·v + (1 − α)·g²;  w ← w − lr·g / (√v + ε)",
    (
        _lr(1e-2),
        HyperParam("alpha", 0.99, high=1.0, help="α, the decay of the mean square"),
        HyperParam("eps", 1e-8, help="ε"),
        _weight_decay(),
        HyperParam("momentum", 0.0, help="μ of an optional buffer"),
        HyperParam("centered", False, "bool", help="divide by the variance √(v − ḡ²)"),
        MAXIMIZE,
    ),
    Form(
        (
            STEP,
            StateEntry("square_avg", "v", "the running mean of g²"),
            StateEntry(
                "momentum_buffer",
                "b",
                "the buffer of steps (momentum > 0)",
                when=lambda o: o.get("momentum", 0.0) > 0,
            ),
            StateEntry(
                "grad_avg", "ḡ", "the running mean of g (centered)", when=lambda o: o["centered"]
            ),
        ),
        _rmsprop_quantities,
        _rmsprop_update,
    ),
    slips=(
        SlipRule("eps_inside_sqrt", "ε inside the square root: √(v + ε)"),
        SlipRule("alpha_swapped", "α and 1 − α swapped: v ← (1 − α)·v + α·g²"),
        SlipRule(
            "not_centered",
            "the plain √v where centered=true divides by √(v − ḡ²)",
            when=lambda o: o["centered"],
        ),
        SIGN_FLIP,
        NO_DECAY,
    ),
    reference="Hinton, Neural Networks for Machine Learning, lecture 6e; torch.optim.RMSprop",
)


# ---------------------------------------------------------------- Adam, AdamW


def _adam_update(decoupled: bool) -> Update:
    def update(w: Tensor, grad: Tensor, state: State, o: Options, twist: frozenset) -> Values:
        """Kingma & Ba (torch.optim.Adam / AdamW): t ← t + 1; m ← β₁m + (1 − β₁)g;
        v ← β₂v + (1 − β₂)g²; m̂ = m/(1 − β₁ᵗ); v̂ = v/(1 − β₂ᵗ); w ← w − lr·m̂/(√v̂ + ε)."""
        t = state["step"] + 1
        g = _gradient(w, grad, o, twist, decoupled)
        decayed = _decayed(w, o, twist, decoupled)
        beta1, beta2 = o["betas"]
        if "betas_swapped" in twist:
            beta1, beta2 = beta2, beta1
        m = state["exp_avg"] * beta1 + g * (1 - beta1)
        v = state["exp_avg_sq"] * beta2 + g * g * (1 - beta2)
        values: Values = {"step": t}
        if _decay_quantity(o, decoupled):
            values["decayed"] = decayed
        values |= {"exp_avg": m, "exp_avg_sq": v}
        second = v
        if o["amsgrad"]:
            second = torch.maximum(state["max_exp_avg_sq"], v)
            values["max_exp_avg_sq"] = second
        power = t - 1 if "old_step" in twist else t
        if "no_bias_correction" in twist:
            m_hat, v_hat = m, second
        else:
            m_hat, v_hat = m / (1 - beta1**power), second / (1 - beta2**power)
        values |= {"m_hat": m_hat, "v_hat": v_hat}
        if "eps_inside_sqrt" in twist:
            denominator = torch.sqrt(v_hat + o["eps"])
        else:
            denominator = torch.sqrt(v_hat) + o["eps"]
        sign = -1 if "sign_flipped" in twist else 1
        values["new_param"] = decayed - m_hat * (sign * o["lr"]) / denominator
        return _with_gradient(values, g, o, decoupled)

    return update


def _adam_quantities(decoupled: bool) -> Callable[[Options], tuple[Quantity, ...]]:
    def quantities(o: Options) -> tuple[Quantity, ...]:
        rows = [*_gradient_quantity(o, decoupled), Quantity("step", "t", "t ← t + 1", "state")]
        rows += _decay_quantity(o, decoupled)
        rows += [
            Quantity("exp_avg", "m", "m ← β₁·m + (1 − β₁)·g", "state"),
            Quantity("exp_avg_sq", "v", "v ← β₂·v + (1 − β₂)·g²", "state"),
        ]
        second = "v"
        if o["amsgrad"]:
            rows.append(Quantity("max_exp_avg_sq", "v_max", "v_max ← max(v_max, v)", "state"))
            second = "v_max"
        rows += [
            Quantity("m_hat", "m̂", "m̂ = m / (1 − β₁ᵗ)"),
            Quantity("v_hat", "v̂", f"v̂ = {second} / (1 − β₂ᵗ)"),
        ]
        start = "w'" if _decay_quantity(o, decoupled) else "w"
        rows.append(Quantity("new_param", "w", f"w ← {start} − lr·m̂ / (√v̂ + ε)", "param"))
        return tuple(rows)

    return quantities


ADAM_STATE = (
    STEP,
    StateEntry("exp_avg", "m", "the first moment: a running mean of g"),
    StateEntry("exp_avg_sq", "v", "the second moment: a running mean of g²"),
    StateEntry(
        "max_exp_avg_sq",
        "v_max",
        "the largest v so far (amsgrad)",
        when=lambda o: o["amsgrad"],
    ),
)
ADAM_SLIPS = (
    SlipRule("no_bias_correction", "no bias correction: m and v used without ÷ (1 − βᵗ)"),
    SlipRule("eps_inside_sqrt", "ε inside the square root: √(v̂ + ε)"),
    SlipRule("old_step", "the bias correction with the old step count t − 1"),
    SlipRule("betas_swapped", "β₁ and β₂ swapped"),
    SIGN_FLIP,
)


def _decays(o: Options) -> bool:
    return o.get("weight_decay", 0) > 0


def _betas(help_text: str) -> HyperParam:
    return HyperParam("betas", (0.9, 0.999), "pair", below=1.0, help=help_text)


ADAM = Optimizer(
    "adam",
    "Adam",
    "Adam; weight_decay is L2 (added to the gradient)",
    "m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  w ← w − lr·m̂ / (√v̂ + ε)",
    (
        _lr(1e-3),
        _betas("β₁, β₂: the decays of m and v"),
        HyperParam("eps", 1e-8, help="ε"),
        _weight_decay(),
        HyperParam("amsgrad", False, "bool", help="divide by the largest v so far"),
        MAXIMIZE,
    ),
    Form(ADAM_STATE, _adam_quantities(False), _adam_update(False)),
    slips=(
        *ADAM_SLIPS,
        SlipRule(
            "decay_flipped",
            "decoupled weight decay w·(1 − lr·λ) (AdamW's) where Adam adds λ·w to the "
            "gradient (L2)",
            when=_decays,
        ),
        NO_DECAY,
    ),
    reference="Kingma & Ba, Adam (2015), Algorithm 1; torch.optim.Adam",
)
ADAMW = Optimizer(
    "adamw",
    "AdamW",
    "Adam with decoupled weight decay (λ = 0.01)",
    "w ← w·(1 − lr·λ) − lr·m̂ / (√v̂ + ε)   (m̂, v̂ as Adam's)",
    (
        _lr(1e-3),
        _betas("β₁, β₂: the decays of m and v"),
        HyperParam("eps", 1e-8, help="ε"),
        _weight_decay(1e-2, decoupled=True),
        HyperParam("amsgrad", False, "bool", help="divide by the largest v so far"),
        MAXIMIZE,
    ),
    Form(ADAM_STATE, _adam_quantities(True), _adam_update(True)),
    slips=(
        *ADAM_SLIPS,
        SlipRule(
            "decay_flipped",
            "L2 weight decay (λ·w added to the gradient, Adam's weight_decay) where AdamW "
            "decays decoupled",
            when=_decays,
        ),
        SlipRule(
            "decay_without_lr",
            "the decay λ·w not scaled by lr (the paper's η_t·λ with η_t = 1; torch "
            "multiplies λ by lr)",
            when=_decays,
        ),
        NO_DECAY,
    ),
    decay="decoupled",
    reference="Loshchilov & Hutter, Decoupled Weight Decay Regularization (2019), "
    "Algorithm 2; torch.optim.AdamW",
)


OPTIMIZER_LIST: tuple[Optimizer, ...] = (
    SGD,
    MOMENTUM_SGD,
    NESTEROV,
    ADAGRAD,
    RMSPROP,
    ADAM,
    ADAMW,
)
OPTIMIZERS: dict[str, Optimizer] = {opt.name: opt for opt in OPTIMIZER_LIST}


def get_optimizer(name: str) -> Optimizer:
    """The optimizer called ``name`` (any case), or an InputError listing them."""
    key = name.strip().lower()
    if key not in OPTIMIZERS:
        raise unknown("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[key]


# ---------------------------------------------------------------- listings and docs


def hyper_text(optimizer: Optimizer) -> str:
    """``lr=0.001, betas=0.9,0.999, …`` — the hyper-parameters with torch's defaults."""
    return ", ".join(param.describe() for param in optimizer.params)


def state_text(optimizer: Optimizer) -> str:
    return ", ".join(entry.name for entry in optimizer.form.state)


def markdown_table() -> str:
    """Markdown table of every optimizer (docs/optim.md)."""
    lines = [
        "| name | torch.optim | update | hyper-parameters (torch's defaults) | state |",
        "|---|---|---|---|---|",
    ]
    for opt in OPTIMIZER_LIST:
        fixed = ", ".join(f"{k}={show_value(v)}" for k, v in opt.fixed.items())
        torch_name = f"{opt.torch_class}" + (f" ({fixed})" if fixed else "")
        cells = (opt.name, torch_name, opt.formula, hyper_text(opt), state_text(opt))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def fresh_value(entry: StateEntry, like: Tensor, options: Options) -> Any:
    """What a fresh optimizer holds for ``entry`` (for a parameter like ``like``)."""
    if entry.is_count:
        return 0
    if entry.fresh == "absent":
        return None
    if entry.fresh == "initial":
        return torch.full_like(like, options["initial_accumulator_value"])
    return torch.zeros_like(like)


def fresh_state(
    optimizer: Optimizer, like: Tensor, options: Options, convention: str = "torch"
) -> State:
    """The whole state of a fresh optimizer."""
    return {
        entry.name: fresh_value(entry, like, options)
        for entry in optimizer.state_for(options, convention)
    }


@dataclass(frozen=True)
class TrainingChoice:
    """``perceptron --optimizer NAME``: the record and its options; ``weight_decay`` in the
    options is the weights' λ — biases are never decayed."""

    optimizer: Optimizer
    options: Options

    @property
    def lr(self) -> float:
        return self.options["lr"]

    @property
    def weight_decay(self) -> float:
        return self.options.get("weight_decay", 0.0)

    @property
    def decoupled(self) -> bool:
        return self.optimizer.decay == "decoupled"

    @property
    def penalised(self) -> bool:
        """Whether the loss trained on is E + ½λ‖W‖² (L2 decay) rather than E itself."""
        return self.weight_decay > 0 and not self.decoupled

    def options_for(self, is_weight: bool) -> Options:
        return self.options if is_weight else {**self.options, "weight_decay": 0.0}
