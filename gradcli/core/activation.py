"""`gradcli activation`: f(x) and f'(x) of a registry activation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradcli.activations import Activation
from gradcli.core.engine import (
    KINK_MARGIN,
    as_tensor,
    check_elementwise,
    overflow_note,
    raise_if_overflowed,
    torch,
)
from gradcli.expect import Expected, Slip, check_answer
from gradcli.params import ParamValues
from gradcli.results.activation import ActivationResult
from gradcli.settings import Settings

if TYPE_CHECKING:
    from torch import Tensor


def activation_gradients(
    activation: Activation,
    x: Sequence[float],
    params: ParamValues,
    settings: Settings,
    expected: Expected | None = None,
) -> ActivationResult:
    """Evaluate ``activation`` and its derivative at every x, three ways.

    With ``expected`` (the user's f'(x) values), the answer is checked as well.
    """
    xs = as_tensor(list(x), settings.dtype, "x")
    kinks = activation.kinks(params)
    formula, derivative_formula = activation.formulas(params)
    check = check_elementwise(
        lambda t: activation.forward(t, params),
        lambda t: activation.derivative(t, params),
        xs,
        settings,
        kinks,
    )
    x_values = xs.double().tolist()
    raise_if_overflowed(check, lambda k: f"x = {x_values[k]:g}", settings.dtype.value)
    value = activation.forward(xs, params)
    values = value.double().tolist()
    answer = None
    if expected is not None:
        answer = check_answer(
            expected,
            check.analytic,
            "f'(x)",
            tolerance=settings.tolerance,
            slips=_slips(activation, params, xs, value),
            noun="f'(x)",
            labels=[f"x = {v:g}" for v in x_values],
        )
    return ActivationResult(
        name=activation.name,
        params=dict(params),
        formula=formula,
        derivative_formula=derivative_formula,
        x=x_values,
        value=values,
        check=check,
        dtype=settings.dtype.value,
        notes=[
            *_kink_notes(activation, xs, kinks, settings.numeric),
            *overflow_note(values, "f(x)", settings.dtype.value),
            *check.notes,
        ],
        answer=answer,
    )


def _slips(activation: Activation, params: ParamValues, xs: Tensor, value: Tensor) -> list[Slip]:
    """Mistakes students make with this activation's derivative."""
    name = activation.name
    slips = [
        Slip(f"f(x) = {name}(x) itself, not its derivative", value.double().tolist()),
        Slip(
            f"{name}' evaluated at the activated value f(x) instead of at x",
            activation.derivative(value, params).double().tolist(),
        ),
    ]
    if activation.via_output is not None:
        text, via_output = activation.via_output
        slips.append(
            Slip(
                f"{text} with x in place of the activated value o = {name}(x)",
                via_output(xs).double().tolist(),
            )
        )
    return slips


def _kink_notes(activation: Activation, xs, kinks: Sequence[float], numeric: bool) -> list[str]:
    """One note per kink that an input sits on."""
    notes: list[str] = []
    if not kinks:
        return notes
    near = KINK_MARGIN * torch.clamp(xs.double().abs(), min=1.0)
    for kink in kinks:
        if bool(((xs.double() - kink).abs() <= near).any()):
            note = (
                f"{activation.name} is not differentiable at x = {kink:g}; the analytic column "
                f"follows torch's convention ({activation.convention})"
            )
            if numeric:
                note += ", and the finite difference there straddles the kink, so it is"
                note += " shown (flagged ~) but left out of the verdict"
            notes.append(note + ".")
    return notes
