"""`gradcli activation`: f(x) and f'(x) of a registry activation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradcli.core.engine import (
    KINK_MARGIN,
    as_tensor,
    check_elementwise,
    elementwise_autograd,
    judge,
    overflow_note,
    raise_if_overflowed,
    torch,
)
from gradcli.expect import Expected, Slip, check_answer
from gradcli.ops.activations import Activation, plot_range
from gradcli.params import ParamValues
from gradcli.results.activation import ActivationResult
from gradcli.results.curve import Curve
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


CURVE_SAMPLES = 481  # points across the range: two per braille dot of a 120-column plot


def activation_curve(
    activation: Activation,
    params: ParamValues,
    points: Sequence[float],
    settings: Settings,
    x_range: tuple[float, float] | None = None,
    size: tuple[int | None, int | None] = (None, None),
) -> Curve:
    """f and the analytic f′ sampled over ``x_range`` (default: the registry's rule, covering
    the kinks and ``points``), the kinks and the given points included exactly; f′ checked
    against autograd at every sample, in float64."""
    kinks = list(activation.kinks(params))
    low, high = x_range or plot_range(kinks, points)
    inside = [x for x in points if low <= x <= high]
    shown_kinks = sorted({k for k in kinks if low <= k <= high})
    step = (high - low) / (CURVE_SAMPLES - 1)
    grid = [low + i * step for i in range(CURVE_SAMPLES - 1)] + [high]
    xs = torch.tensor(sorted({*grid, *shown_kinks, *inside}), dtype=torch.float64)
    value = activation.forward(xs, params)
    analytic = activation.derivative(xs, params)
    check = judge(
        analytic,
        elementwise_autograd(lambda t: activation.forward(t, params), xs),
        None,
        settings.tolerance,
    )
    at = {x: i for i, x in enumerate(xs.tolist())}
    values, derivatives = value.tolist(), analytic.tolist()
    formula, derivative_formula = activation.formulas(params)
    described = ", ".join(f"{k}={v}" for k, v in params.items())
    name = f"{activation.name} ({described})" if described else activation.name
    return Curve(
        title=f"{name} on [{low:g}, {high:g}]: f and its derivative f'",
        labels=(f"f   {formula}", f"f'  {derivative_formula}"),
        x=xs.tolist(),
        value=values,
        derivative=derivatives,
        kinks=shown_kinks,
        marks=[(x, values[at[x]], derivatives[at[x]]) for x in dict.fromkeys(inside)],
        x_range=(low, high),
        outside=[x for x in points if not low <= x <= high],
        agree=check.agree,
        disagreements=sum(not ok for ok in check.ok.flat()),
        max_abs_diff=check.max_abs_diff,
        width=size[0],
        height=size[1],
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
