"""`gradcli activation`: f(x) and f'(x) of a registry activation."""

from __future__ import annotations

from collections.abc import Sequence

from gradcli.activations import Activation
from gradcli.core.engine import as_tensor, check_elementwise, step_sizes
from gradcli.params import ParamValues
from gradcli.results.activation import ActivationResult
from gradcli.settings import Settings


def activation_gradients(
    activation: Activation, x: Sequence[float], params: ParamValues, settings: Settings
) -> ActivationResult:
    """Evaluate ``activation`` and its derivative at every x, three ways."""
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
    return ActivationResult(
        name=activation.name,
        params=dict(params),
        formula=formula,
        derivative_formula=derivative_formula,
        x=xs.double().tolist(),
        value=activation.forward(xs, params).double().tolist(),
        check=check,
        dtype=settings.dtype.value,
        notes=_kink_notes(activation, xs, kinks, settings.numeric),
    )


def _kink_notes(activation: Activation, xs, kinks: Sequence[float], numeric: bool) -> list[str]:
    """One note per kink that an input sits on or next to."""
    notes = []
    near = 2 * step_sizes(xs.double())
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
