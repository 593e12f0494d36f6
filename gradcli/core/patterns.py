"""Generic mistakes in a backward, recognised without knowing what the forward is.

Each pattern builds the values a backward with that mistake would return for the same
upstream vectors (``P × n``, like the user's) and is offered only when those values explain
every checked entry:

* the forward's output returned as the gradient (``dout ⊙ y``);
* the upstream returned unchanged (``dout``);
* only the diagonal of a full Jacobian (``dout_i · ∂y_i/∂x_i``);
* the true gradient evaluated at the output instead of the input;
* a chain-rule factor forgotten that is one of the forward's intermediate values (or the
  derivative of an intermediate value alone, the chain rule stopped early; a product rule
  with a term missing);
* intentional non-gradients: a straight-through estimator, a gradient reversal layer.
"""

from __future__ import annotations

import math

import gradcli.core.evidence as base
from gradcli._torch import load
from gradcli.core.intermediates import Intermediate
from gradcli.results.check import Diagnosis

torch = load()
Tensor = torch.Tensor

DIAGONAL_LIMIT = 64  # the gradient at the output of a non-elementwise function: 2n forwards
STEP = 1e-5  # relative step of the few extra finite differences the patterns take


# ------------------------------------------------------------------ by design


def by_design(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    """A straight-through estimator or a gradient reversal layer: surrogates on purpose."""
    if not _elementwise_shape(arg, ev) or arg.analytic is None:
        return None
    return _straight_through(arg, ev) or _reversal(arg, ev)


def _straight_through(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    checked, tol = arg.checked, ev.tolerance
    if not bool(checked.any()) or base.nonzero(arg.numeric, checked, tol):
        return None  # the true gradient is not 0: the forward is not piecewise constant
    a, v = arg.analytic, ev.probes
    assert a is not None
    surrogate = _elementwise_factor(a, v)
    if surrogate is None or not bool((surrogate.abs() > tol.atol).any()):
        return None
    ones = (surrogate - 1).abs() <= tol.atol + tol.rtol
    zeros = surrogate.abs() <= tol.atol
    x = arg.values
    if bool(ones.all()):
        how = "passes dout through unchanged"
    elif bool((ones | zeros).all()):
        inside = x.abs() <= 1
        how = (
            "passes dout where |x| ≤ 1 and 0 elsewhere (clipped)"
            if bool((ones == inside).all())
            else f"passes dout at {int(ones.sum())} of {arg.n} entries and 0 elsewhere (clipped)"
        )
    else:
        how = "returns dout times a smooth surrogate of the step's derivative"
    grad = base.partial(arg, ev.order)
    return base.finding(
        "straight-through",
        f"a straight-through estimator: the forward is piecewise constant (its true gradient "
        f"is 0 wherever it is defined), and {grad} {how}: the backward is a surrogate by design "
        "— not the derivative, so the check still fails",
        arg,
        ev.order,
    )


def _reversal(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    a, v, tol = arg.analytic, ev.probes, ev.tolerance
    assert a is not None
    if not base.close(v, arg.numeric, arg.checked, tol):
        return None  # the forward is not the identity
    norm = float((v * v)[arg.checked].sum())
    if norm == 0:
        return None
    lam = -float((a * v)[arg.checked].sum()) / norm
    if lam <= 0 or not base.close(a, -lam * v, arg.checked, tol):
        return None
    return base.finding(
        "gradient-reversal",
        f"a gradient reversal layer (λ = {_round(lam):g}): the forward is the "
        f"identity and {base.partial(arg, ev.order)} is −λ·dout by design (as in "
        "domain-adversarial "
        "training) — not the derivative, which is dout, so the check still fails",
        arg,
        ev.order,
    )


# ------------------------------------------------------------------ generic mistakes


def generic(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    """The first generic mistake that explains every checked entry, or None."""
    if arg.analytic is None or ev.order != 1:
        return None
    for pattern in (_output_as_gradient, _identity, _diagonal_only, _at_output, _missing_factor):
        found = pattern(arg, ev)
        if found is not None:
            return found
    return None


def _explains(candidate: Tensor | None, arg: base.ArgEvidence, ev: base.Evidence) -> bool:
    if candidate is None or arg.analytic is None:
        return False
    if base.close(candidate, arg.numeric, arg.checked, ev.tolerance):
        return False  # that would be the true gradient
    return base.close(arg.analytic, candidate, arg.checked, ev.tolerance)


def _elementwise_shape(arg: base.ArgEvidence, ev: base.Evidence) -> bool:
    return ev.order == 1 and list(arg.shape) == list(ev.out_shape)


def _output_as_gradient(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    if not _elementwise_shape(arg, ev):
        return None
    if not _explains(ev.probes * ev.output[None, :], arg, ev):
        return None
    return base.finding(
        "output-as-gradient",
        f"{base.partial(arg, ev.order)} is dout ⊙ y, with y the forward's output itself: backward "
        "multiplies dout by the function, not by its derivative (e.g. grad_output * out where "
        "grad_output * f'(x) is needed)",
        arg,
        ev.order,
    )


def _identity(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    if not _elementwise_shape(arg, ev) or not _explains(ev.probes, arg, ev):
        return None
    return base.finding(
        "identity-upstream",
        f"{base.partial(arg, ev.order)} is dout itself: backward returns the upstream gradient "
        "unchanged, the local derivative never multiplied in (e.g. return grad_output)",
        arg,
        ev.order,
    )


def _true_jacobian(arg: base.ArgEvidence, ev: base.Evidence) -> Tensor | None:
    """The finite-difference Jacobian (m × n) when it was computed for every entry."""
    jacobian = arg.jacobian
    if jacobian is None or not bool(torch.isfinite(jacobian).all()):
        return None
    return jacobian


def _diagonal_only(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    if not _elementwise_shape(arg, ev):
        return None
    jacobian = _true_jacobian(arg, ev)
    if jacobian is None:
        return None
    diagonal = jacobian.diagonal()
    off = jacobian - torch.diag(diagonal)
    if not bool((off.abs() > 10 * ev.tolerance.atol).any()):
        return None  # an elementwise function: its diagonal is all there is
    if not _explains(ev.probes * diagonal[None, :], arg, ev):
        return None
    return base.finding(
        "diagonal-only",
        f"{base.partial(arg, ev.order)} uses only the diagonal of the Jacobian, "
        "dout_i · ∂y_i/∂x_i, "
        "as if the function were elementwise; every output depends on every input here, so "
        "the off-diagonal terms Σ_j dout_j · ∂y_j/∂x_i (j ≠ i) are missing (softmax: "
        "p_i(1 − p_i) alone, without the −p_i·p_j)",
        arg,
        ev.order,
    )


def _at_output(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    if not _elementwise_shape(arg, ev) or ev.forward_at is None:
        return None
    jacobian = _true_jacobian(arg, ev)
    if jacobian is None:
        return None
    y = ev.output
    if not bool(torch.isfinite(y).all()):
        return None
    at_y = _jacobian_at(arg, ev, y, elementwise=_is_diagonal(jacobian, ev))
    if at_y is None or not _explains(ev.probes @ at_y, arg, ev):
        return None
    return base.finding(
        "gradient-at-output",
        f"{base.partial(arg, ev.order)} is the true gradient evaluated at the output y instead of "
        f"at the input {arg.name}: backward passes f's result where its input belongs (e.g. "
        "f'(out) where f'(x) is needed)",
        arg,
        ev.order,
    )


def _is_diagonal(jacobian: Tensor, ev: base.Evidence) -> bool:
    off = jacobian - torch.diag(jacobian.diagonal())
    return not bool((off.abs() > 10 * ev.tolerance.atol).any())


def _jacobian_at(
    arg: base.ArgEvidence, ev: base.Evidence, point: Tensor, elementwise: bool
) -> Tensor | None:
    """The forward's Jacobian with ``arg`` moved to ``point`` (central differences)."""
    forward = ev.forward_at
    assert forward is not None
    h = STEP * point.abs().clamp(min=1.0)

    def at(values: Tensor) -> Tensor:
        inputs = list(ev.inputs)
        inputs[arg.position] = values.reshape(arg.shape)
        return forward(inputs).double()

    try:
        if elementwise:
            slope = (at(point + h) - at(point - h)) / (2 * h)
            return torch.diag(slope)
        if arg.n > DIAGONAL_LIMIT:
            return None
        columns = []
        for k in range(arg.n):
            step = torch.zeros_like(point)
            step[k] = h[k]
            columns.append((at(point + step) - at(point - step)) / (2 * h[k]))
        return torch.stack(columns, dim=1)
    except Exception:
        return None


# ------------------------------------------------------------------ forgotten factors


def _missing_factor(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    a = arg.analytic
    assert a is not None
    values = [*_inputs_as_intermediates(ev), *ev.recorded()]
    seen: set[str] = set()
    for item in values:
        if item.label in seen:
            continue
        seen.add(item.label)
        t = _broadcast(item, arg)
        if t is None or _constant(t, ev):
            continue
        if base.close(a * t[None, :], arg.numeric, arg.checked, ev.tolerance):
            return base.finding(
                "missing-factor",
                f"{base.partial(arg, ev.order)} × {_shown(item.label)} is the true gradient: the "
                f"chain-rule factor {_shown(item.label)}, a value your forward computes, is "
                "missing (multiply by it)",
                arg,
                ev.order,
            )
    return _derivative_of_intermediate(arg, ev)


def _derivative_of_intermediate(arg: base.ArgEvidence, ev: base.Evidence) -> Diagnosis | None:
    """Yours = dout ⊙ t'(x) for an intermediate t (an elementwise forward of one input)."""
    if not _elementwise_shape(arg, ev) or ev.record is None or len(ev.inputs) != 1:
        return None
    jacobian = _true_jacobian(arg, ev)
    if jacobian is None or not _is_diagonal(jacobian, ev):
        return None
    x = ev.inputs[0].double()
    h = STEP * x.abs().clamp(min=1.0)
    here = ev.recorded()
    plus = ev.recorded([x + h], "at x + h")
    minus = ev.recorded([x - h], "at x − h")
    if not (len(here) == len(plus) == len(minus)):
        return None
    slopes: dict[str, Tensor] = {}
    flat_h = h.reshape(-1)
    for now, up, down in zip(here, plus, minus, strict=True):
        if now.label != up.label or up.label != down.label or now.value.numel() != arg.n:
            continue
        slopes.setdefault(now.label, (up.value - down.value) / (2 * flat_h))
    v = ev.probes
    values = {item.label: item.value for item in here if item.value.numel() == arg.n}
    values[arg.name] = x.reshape(-1)
    slopes[arg.name] = torch.ones(arg.n, dtype=torch.float64)
    last = here[-1] if here else None
    product = (
        last if last is not None and last.op in _PRODUCTS and len(last.operands) >= 2 else None
    )
    for label, slope in slopes.items():
        if label == arg.name or (last is not None and label == last.label):
            continue
        if not _explains(v * slope[None, :], arg, ev):
            continue
        grad = base.partial(arg, ev.order)
        if product is not None and label in product.operands[:2]:
            other = product.operands[1] if product.operands[0] == label else product.operands[0]
            second = label if other == arg.name else f"({other})' · {label}"
            message = (
                f"{grad} is d({label})/d{arg.name} alone, but the output is "
                f"{other} · {label}: "
                f"by the product rule its derivative is {other} · ({label})' + {second} — the "
                f"factor {other} and the term {second} are missing"
            )
        else:
            message = (
                f"{grad} is the derivative of {_shown(label)}, an intermediate value of your "
                "forward, not of its output: the chain rule stops there (the factors after it "
                "are missing)"
            )
        return base.finding("missing-factor", message, arg, ev.order)
    if product is not None:
        return _product_term(arg, ev, product.operands[:2], values, slopes)
    return None


_PRODUCTS = {"mul", "multiply", "__mul__", "__rmul__"}


def _product_term(
    arg: base.ArgEvidence,
    ev: base.Evidence,
    operands: tuple[str, ...],
    values: dict[str, Tensor],
    slopes: dict[str, Tensor],
) -> Diagnosis | None:
    """y = u · w, yours = u'·w (or u·w'): one term of the product rule missing."""
    u, w = operands
    if not all(name in values and name in slopes for name in (u, w)):
        return None
    for kept, lost in ((u, w), (w, u)):
        term = slopes[kept] * values[lost]
        if _explains(ev.probes * term[None, :], arg, ev):
            return base.finding(
                "missing-factor",
                f"{base.partial(arg, ev.order)} has only one term of the product rule for "
                f"{_shown(u)} · {_shown(w)}: ({_shown(kept)})' · {_shown(lost)} is there, "
                f"{_shown(kept)} · ({_shown(lost)})' is missing",
                arg,
                ev.order,
            )
    return None


def _inputs_as_intermediates(ev: base.Evidence) -> list[Intermediate]:
    found = []
    for name, x in zip(ev.names, ev.inputs, strict=False):
        if x.is_floating_point():
            value = x.detach().double().reshape(-1)
            found.append(Intermediate(name, "input", (), value, tuple(x.shape)))
    return found


def _broadcast(item: Intermediate, arg: base.ArgEvidence) -> Tensor | None:
    try:
        return torch.broadcast_to(item.value.reshape(item.shape), arg.shape).reshape(-1)
    except RuntimeError:
        return None


def _constant(t: Tensor, ev: base.Evidence) -> bool:
    return bool(((t - t[0]).abs() <= ev.tolerance.atol).all()) if t.numel() else True


def _shown(label: str) -> str:
    return label


# ------------------------------------------------------------------ helpers


def _elementwise_factor(a: Tensor, v: Tensor) -> Tensor | None:
    """s with a = v ⊙ s at every probe (one value per entry), or None."""
    _p, n = a.shape
    if v.shape != a.shape:
        return None
    factor = torch.full((n,), math.nan, dtype=torch.float64)
    for k in range(n):
        column = v[:, k]
        pick = int(column.abs().argmax())
        if column[pick] == 0:
            return None
        factor[k] = a[pick, k] / column[pick]
    if not bool(torch.allclose(a, v * factor[None, :], rtol=1e-9, atol=1e-12)):
        return None
    return factor


def _round(value: float) -> float:
    nearest = round(value, 6)
    return float(nearest) if abs(nearest - value) <= 1e-9 * max(1.0, abs(value)) else value
