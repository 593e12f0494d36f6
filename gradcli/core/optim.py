"""`gradcli optim NAME --param W --grad G`: one optimizer step, by hand vs torch.optim.

The hand side is the registry's update (:mod:`gradcli.ops.optimizers`), plain tensor algebra
from the papers' formulas. The reference is ``torch.optim`` itself: the class built with the
same hyper-parameters, ``optimizer.state[p]`` loaded with the same state (left empty for a
fresh optimizer, so that torch initialises it its own way), ``p.grad`` set, one ``.step()``.
Both give the new parameter and the new state, compared entry by entry; the hand side also
gives the intermediate quantities (m̂, v̂, …) as an ordered list of named values with their
formulas. Finite differences have no place here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gradcli._torch import load
from gradcli.core.engine import TORCH_DTYPES, judge, raise_if_not_finite, torch
from gradcli.expect import AnswerSet, Expected, Slip, check_answer
from gradcli.ops.optimizers import (
    Optimizer,
    Options,
    Quantity,
    State,
    Values,
    fresh_value,
)
from gradcli.parsing import TensorData
from gradcli.results.optim import OptimStepResult, QuantityRow
from gradcli.settings import Settings

Tensor = torch.Tensor


@dataclass(frozen=True)
class StepRequest:
    """One step: the optimizer, its options and convention, and the values given."""

    optimizer: Optimizer
    options: Options
    param: TensorData
    grad: TensorData
    state: Mapping[str, Any]  # state name → TensorData (a tensor entry) or int (step)
    convention: str = "torch"


# ---------------------------------------------------------------- torch.optim, the reference


def torch_optimizer(optimizer: Optimizer, params: Any, options: Options) -> Any:
    """The torch.optim class of ``optimizer`` over ``params`` (tensors or parameter groups).

    Building one imports ``torch._dynamo`` (its ``add_param_group`` and ``step`` are wrapped
    for torch.compile): about 2 s and 90 MB here, torch's own cost of torch.optim. It is
    imported first through :func:`gradcli._torch.load`, with the garbage collector paused,
    which saves some of it; the optimizer itself is used untouched.
    """
    load("torch._dynamo")
    cls = getattr(torch.optim, optimizer.torch_class)
    return cls(params, **optimizer.torch_arguments(options))


def torch_state(state: State) -> dict[str, Any]:
    """A state in the form ``optimizer.state[p]`` holds: tensors, ``step`` as a float
    tensor (torch keeps it so), absent entries left out."""
    loaded: dict[str, Any] = {}
    for name, value in state.items():
        if value is None:
            continue
        loaded[name] = torch.tensor(float(value)) if name == "step" else value.clone()
    return loaded


def read_state(state: Mapping[str, Any]) -> State:
    """``optimizer.state[p]`` back in the hand side's form (``step`` as an int)."""
    return {
        name: int(value.item()) if name == "step" else value.detach().clone()
        for name, value in state.items()
    }


def torch_step(
    optimizer: Optimizer,
    options: Options,
    w: Tensor,
    g: Tensor,
    state: State | None,
) -> tuple[Tensor, State]:
    """One ``.step()`` of the torch.optim class from ``state`` (None: a fresh optimizer)."""
    p = w.detach().clone()
    p.grad = g.detach().clone()
    reference = torch_optimizer(optimizer, [p], options)
    if state is not None:
        reference.state[p] = torch_state(state)
    reference.step()
    return p.detach(), read_state(reference.state[p])


# ---------------------------------------------------------------- the step


def full_state(
    optimizer: Optimizer, options: Options, convention: str, like: Tensor, given: Mapping
) -> tuple[State, list[str]]:
    """The state a step starts from: the given entries, the others as a fresh optimizer
    holds them; and the names of those filled in."""
    state: State = {}
    filled = []
    for entry in optimizer.state_for(options, convention):
        if entry.name in given:
            value = given[entry.name]
            state[entry.name] = value if entry.is_count else _tensor(value, like)
        else:
            state[entry.name] = fresh_value(entry, like, options)
            filled.append(entry.name)
    return state, filled


def _tensor(data: TensorData, like: Tensor) -> Tensor:
    return torch.tensor(data.values, dtype=like.dtype).reshape(like.shape)


def optim_step(
    request: StepRequest, settings: Settings, expected: Mapping[str, Expected] | None = None
) -> OptimStepResult:
    """One step by hand and by torch.optim, compared; the user's answers checked."""
    optimizer, options = request.optimizer, request.options
    form = optimizer.form_for(request.convention)
    dtype = TORCH_DTYPES[settings.dtype]
    shape = request.param.shape
    w = torch.tensor(request.param.values, dtype=dtype).reshape(shape)
    g = torch.tensor(request.grad.values, dtype=dtype).reshape(shape)
    state, filled = full_state(optimizer, options, request.convention, w, request.state)
    quantities = form.quantities(options)
    values = form.update(w, g, state, options, frozenset())
    _check_keys(quantities, values, optimizer.name)
    _raise_if_overflowed(quantities, values, shape, settings.dtype.value)
    torch_given = form.to_torch(state, options) if request.state else None
    new_param, new_torch = torch_step(optimizer, options, w, g, torch_given)
    reference = {"new_param": new_param, **form.from_torch(new_torch, options)}
    rows = [
        _row(quantity, values, state, w, reference, settings, options) for quantity in quantities
    ]
    checks = [row.check for row in rows if row.check is not None]
    answer = None
    if expected:
        slips = slip_values(optimizer, form, w, g, state, options, values, settings)
        answer = check_answers(expected, quantities, values, slips, settings)
    return OptimStepResult(
        name=optimizer.name,
        torch_class=optimizer.torch_class,
        options=options,
        convention=request.convention,
        param=w.double().tolist(),
        grad=g.double().tolist(),
        state={name: _plain(value) for name, value in state.items()},
        state_given=sorted(request.state),
        quantities=rows,
        max_abs_diff=max(check.max_abs_diff for check in checks),
        agree=all(check.agree for check in checks),
        dtype=settings.dtype.value,
        atol=settings.tolerance.atol,
        rtol=settings.tolerance.rtol,
        notes=step_notes(
            optimizer, options, request.convention, state, filled, bool(request.state)
        ),
        answer=answer,
    )


def _check_keys(quantities: Sequence[Quantity], values: Values, name: str) -> None:
    """The hand update returns exactly the quantities its record lists, in order."""
    if [q.key for q in quantities] != list(values):
        raise AssertionError(f"{name}: the update gives {list(values)}, the record lists "
                             f"{[q.key for q in quantities]}")  # fmt: skip


def _raise_if_overflowed(
    quantities: Sequence[Quantity], values: Values, shape: tuple[int, ...], dtype: str
) -> None:
    """InputError at the first quantity the step takes out of the dtype's range (from finite
    inputs): overflow, said as such, never a disagreement between inf and inf."""
    width = shape[-1] if len(shape) == 2 else 1
    for quantity in quantities:
        value = values[quantity.key]
        if isinstance(value, int):
            continue

        def where(k: int, key: str = quantity.key) -> str:
            return f"{key}[{k // width}, {k % width}]" if len(shape) == 2 else f"{key}[{k}]"

        raise_if_not_finite(
            value,
            f"the step's {quantity.key} ({quantity.symbol})",
            where,
            dtype,
            "smaller values or a smaller --lr",
        )


def _plain(value: Any) -> Any:
    """A tensor as nested floats, a count as an int, an absent entry as None."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    return value.double().tolist()


def _row(
    quantity: Quantity,
    values: Values,
    state: State,
    w: Tensor,
    reference: Mapping[str, Any],
    settings: Settings,
    options: Options,
) -> QuantityRow:
    """One quantity: its value by hand, before the step, torch.optim's, and their check."""
    value = values[quantity.key]
    before = None
    if quantity.kind == "param":
        before = _plain(w)
    elif quantity.kind == "state":
        before = _plain(state.get(quantity.key))
    check = None
    theirs = reference.get(quantity.key)
    if quantity.key in reference:
        check = judge(_as_tensor(value), _as_tensor(theirs), None, settings.tolerance)
    return QuantityRow(
        key=quantity.key,
        symbol=quantity.symbol,
        formula=quantity.formula,
        kind=quantity.kind,
        before=before,
        by_hand=_plain(value),
        torch_optim=None if theirs is None else _plain(theirs),
        check=check,
        detail=step_details(quantity.key, options, values),
    )


def _as_tensor(value: Any) -> Tensor:
    if isinstance(value, (int, float)):
        return torch.tensor([float(value)], dtype=torch.float64)
    return value.reshape(-1) if value.dim() == 0 else value


# ---------------------------------------------------------------- slips and answers


def slip_values(
    optimizer: Optimizer,
    form: Any,
    w: Tensor,
    g: Tensor,
    state: State,
    options: Options,
    truth: Values,
    settings: Settings,
) -> list[tuple[str, Values]]:
    """Each known slip that applies here, with the quantities it leads to (only those that
    differ from the true ones beyond the verdict's tolerance)."""
    found = []
    for rule in optimizer.slips:
        if not rule.when(options):
            continue
        twisted = form.update(w, g, state, options, frozenset({rule.twist}))
        differing = {
            key: value
            for key, value in twisted.items()
            if key in truth and _differs(value, truth[key], settings)
        }
        if differing:
            found.append((rule.description, differing))
    for description, value in _generic_slips(form, w, g, state, options):
        if _differs(value, truth["new_param"], settings):
            found.append((description, {"new_param": value}))
    return found


def _generic_slips(
    form: Any, w: Tensor, g: Tensor, state: State, options: Options
) -> list[tuple[str, Tensor]]:
    """New parameters any optimizer's student can write by mistake: the old ones, the
    gradient itself, the update with the learning rate left out."""
    slips = [
        ("the parameters before the step (w, not w after the update)", w),
        ("the gradient g, not the updated parameter", g),
    ]
    if options.get("lr", 1.0) != 1.0:
        unit = form.update(w, g, state, {**options, "lr": 1.0}, frozenset())
        slips.append(("the update with the learning rate left out (lr = 1)", unit["new_param"]))
    return slips


def _differs(value: Any, truth: Any, settings: Settings) -> bool:
    a, b = _as_tensor(value).double(), _as_tensor(truth).double()
    if a.shape != b.shape or not bool(torch.isfinite(a).all()):
        return False  # a slip that cannot be evaluated here (t − 1 = 0) names nothing
    bound = settings.tolerance.atol + settings.tolerance.rtol * b.abs()
    return bool(((a - b).abs() > bound).any())


def check_answers(
    expected: Mapping[str, Expected],
    quantities: Sequence[Quantity],
    values: Values,
    slips: Sequence[tuple[str, Values]],
    settings: Settings,
) -> AnswerSet:
    """Each ``--expect KEY=`` answer against the hand value of KEY, its slips named."""
    by_key = {q.key: q for q in quantities}
    parts = {}
    for key, answer in expected.items():
        quantity = by_key[key]
        truth = _plain(values[key])
        truth = [float(truth)] if isinstance(truth, (int, float)) else truth
        named = [
            Slip(description, _listed(twisted[key])) for description, twisted in slips
            if key in twisted
        ]  # fmt: skip
        parts[key] = check_answer(
            answer,
            truth,
            f"--expect {key}",
            tolerance=settings.tolerance,
            slips=named,
            noun=f"{key} ({quantity.symbol})" if quantity.symbol != key else key,
        )
    return AnswerSet(parts)


def _listed(value: Any) -> list:
    plain = _plain(value)
    return [float(plain)] if isinstance(plain, (int, float)) else plain


# ---------------------------------------------------------------- notes


def step_notes(
    optimizer: Optimizer,
    options: Options,
    convention: str,
    state: State,
    filled: Sequence[str],
    any_given: bool,
) -> list[str]:
    """What the step assumed, said out loud."""
    notes = []
    if not any_given:
        notes.append(
            "no --state: a fresh optimizer (step 0); torch.optim initialises its own state"
        )
    elif filled:
        names = ", ".join(filled)
        notes.append(f"not given, so as a fresh optimizer holds them: {names}")
    if "momentum_buffer" in state and state["momentum_buffer"] is None:
        notes.append("no momentum_buffer yet: torch's first step sets b ← g (not μ·0 + (1 − τ)·g)")
    notes += convention_notes(optimizer, options, convention)
    return notes


def convention_notes(optimizer: Optimizer, options: Options, convention: str) -> list[str]:
    """The conventions this step follows where textbooks differ."""
    notes = []
    if convention == "cs231n":
        notes.append(
            "CS231n's form: v ← μ·v − lr·g, w ← w + v; torch's buffer is b = −v/lr "
            "(torch.optim.SGD ran with it), the same steps for a constant lr"
        )
    elif options.get("momentum", 0.0) and optimizer.torch_class == "SGD":
        notes.append(
            "torch's momentum: b ← μ·b + g, w ← w − lr·b; CS231n writes v ← μ·v − lr·g, "
            "w ← w + v with v = −lr·b (--convention cs231n shows that form)"
        )
    decay = options.get("weight_decay", 0.0)
    if decay and optimizer.decay == "decoupled":
        notes.append(
            f"weight_decay λ = {decay:g} decoupled: w ← w·(1 − lr·λ) outside the adaptive "
            "step (AdamW); Adam's weight_decay would add λ·w to the gradient instead"
        )
    elif decay:
        notes.append(
            f"weight_decay λ = {decay:g} as L2: λ·w is added to the gradient (torch's "
            f"{optimizer.torch_class}), the gradient of ½λ‖w‖²"
            + ("; AdamW decays decoupled instead" if optimizer.torch_class == "Adam" else "")
        )
    if options.get("amsgrad"):
        notes.append(
            "amsgrad as torch computes it: v_max is the largest uncorrected v, then divided by "
            "1 − β₂ᵗ (Reddi et al. leave out the bias correction)"
        )
    return notes


# ---------------------------------------------------------------- --steps


def step_details(key: str, options: Options, values: Mapping[str, Any]) -> str:
    """The numbers behind a quantity's formula (bias corrections, the decayed rate)."""
    t = values.get("step")
    if key in ("m_hat", "v_hat") and isinstance(t, int):
        beta = options["betas"][0 if key == "m_hat" else 1]
        index = "₁" if key == "m_hat" else "₂"
        return f"1 − β{index}ᵗ = 1 − {beta:g}^{t} = {1 - beta**t:.6g}"
    if key == "clr" and isinstance(t, int):
        return (
            f"lr_t = {options['lr']:g} / (1 + {t - 1}·{options['lr_decay']:g}) = "
            f"{options['lr'] / (1 + (t - 1) * options['lr_decay']):.6g}"
        )
    if key == "decayed":
        factor = 1 - options["lr"] * options["weight_decay"]
        return f"1 − lr·λ = 1 − {options['lr']:g}·{options['weight_decay']:g} = {factor:.6g}"
    return ""
