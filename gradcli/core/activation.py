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
    raise_if_not_finite,
    raise_if_overflowed,
    torch,
)
from gradcli.expect import Expected, Kink, KinkFinder, Slip
from gradcli.marking import mark
from gradcli.ops.activations import Activation, plot_range
from gradcli.params import ParamValues
from gradcli.results.activation import ActivationResult
from gradcli.results.curve import Curve
from gradcli.settings import Settings, Tolerance
from gradcli.solution import Quantity, Solution

if TYPE_CHECKING:
    from torch import Tensor

    from gradcli.results import GradientCheck

KINK_PROBE = 1e-9  # one-sided slopes are read this far (relative) either side of a kink


def one_sided_slopes(
    activation: Activation, params: ParamValues, kink: float
) -> tuple[float, float]:
    """f' just left and just right of ``kink``, from the registry's analytic derivative."""
    delta = KINK_PROBE * max(1.0, abs(kink))
    points = torch.tensor([kink - delta, kink + delta], dtype=torch.float64)
    left, right = activation.derivative(points, params).tolist()
    return left, right


def real_kinks(
    activation: Activation, params: ParamValues, tolerance: Tolerance
) -> tuple[float, ...]:
    """The registry's kinks whose jump the verdict can see: f' (or f) jumping there by more
    than the tolerance. softplus's switch to x at βx = threshold jumps by ~2e-9 at the default
    threshold 20: no kink for the verdict, the notes or the plot."""
    kept = []
    for kink in activation.kinks(params):
        left, right = one_sided_slopes(activation, params, kink)
        delta = KINK_PROBE * max(1.0, abs(kink))
        points = torch.tensor([kink - delta, kink + delta], dtype=torch.float64)
        below, above = activation.forward(points, params).tolist()
        value_jump = abs(above - below - delta * (left + right))
        allowed = tolerance.atol + tolerance.rtol * max(abs(left), abs(right))
        if abs(right - left) > allowed or value_jump > allowed:
            kept.append(kink)
    return tuple(kept)


def kink_text(activation: Activation, params: ParamValues, kink: float) -> str:
    """``relu's kink at x = 0, where its one-sided slopes are 0 and 1``."""
    left, right = one_sided_slopes(activation, params, kink)
    return (
        f"{activation.name}'s kink at x = {kink:g}, where its one-sided slopes are "
        f"{left + 0.0:.6g} (left) and {right + 0.0:.6g} (right)"
    )


def activation_gradients(
    activation: Activation,
    x: Sequence[float],
    params: ParamValues,
    settings: Settings,
    expected: dict[str, Expected] | None = None,
    steps: bool = False,
    curve: Curve | None = None,
) -> ActivationResult:
    """Evaluate ``activation`` and its derivative at every x, three ways.

    ``expected`` maps the worked solution's keys (``f``, ``grad``) to the user's answers,
    which are marked; ``steps`` shows the worked solution; ``curve`` is the --plot drawn
    above the table.
    """
    xs = as_tensor(list(x), settings.dtype, "x")
    kinks = activation.kinks(params)  # every one: no stencil may straddle even a tiny jump
    formula, derivative_formula = activation.formulas(params)
    check = check_elementwise(
        lambda t: activation.forward(t, params),
        lambda t: activation.derivative(t, params),
        xs,
        settings,
        kinks,
    )
    x_values = xs.double().tolist()
    value = activation.forward(xs, params)
    values = value.double().tolist()
    raise_if_not_finite(values, "f(x)", lambda k: f"x[{k}] = {x_values[k]:g}", settings.dtype.value)
    raise_if_overflowed(check, lambda k: f"x[{k}] = {x_values[k]:g}", settings.dtype.value)
    solution = activation_solution(activation, params, xs, value, check, settings, x_values, values)
    marks = mark(solution, expected, settings.tolerance) if expected else None
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
            *_kink_notes(activation, params, xs, settings),
            *check.notes,
        ],
        answer=None if marks is None else marks.answer,
        solution=solution,
        marks=marks,
        show_steps=steps,
        curve=curve,
    )


def activation_solution(
    activation: Activation,
    params: ParamValues,
    xs: Tensor,
    value: Tensor,
    check: GradientCheck,
    settings: Settings,
    x_values: list[float] | None = None,
    values: list[float] | None = None,
) -> Solution:
    """f(x), then f'(x) — computed from f(x) when the registry writes f' through the output
    (σ' = σ(1 − σ)), so that a derivative worked from a wrong f(x) is carried forward.
    ``x_values`` and ``values`` are x and f(x) as float64 lists, when the caller has them."""
    x_values = xs.double().tolist() if x_values is None else x_values
    values = value.double().tolist() if values is None else values
    labels = tuple(f"x[{k}] = {v:g}" for k, v in enumerate(x_values))
    formula, derivative_formula = activation.formulas(params)
    f = Quantity("f", "f(x)", formula, values, labels=labels)
    depends_on: tuple[str, ...] = ()
    compute = None
    if activation.via_output is not None:
        slope = activation.via_output[1]
        depends_on = ("f",)

        def compute(values):
            return slope(torch.tensor(values["f"], dtype=torch.float64)).tolist()

    grad = Quantity(
        "grad",
        "f'(x)",
        derivative_formula,
        check.analytic.flat(),
        depends_on,
        compute,
        slips=lambda: _slips(activation, params, xs, value),
        kinks=_answer_kinks(activation, params, x_values, check.analytic.flat(), settings),
        labels=labels,
    )
    return Solution((f, grad), main="grad")


def _answer_kinks(
    activation: Activation,
    params: ParamValues,
    x: list[float],
    computed: list[float],
    settings: Settings,
) -> KinkFinder:
    """For ``--expect``: the entries whose x sits on one of the registry's kinks (those the
    verdict can see), with that kink's one-sided slopes and torch's value there."""
    real = real_kinks(activation, params, settings.tolerance)

    def find(indices: list[int]) -> dict[int, Kink]:
        found = {}
        for k in indices:
            for kink in real:
                if abs(x[k] - kink) <= KINK_MARGIN * max(abs(x[k]), 1.0):
                    found[k] = Kink(*one_sided_slopes(activation, params, kink), computed[k])
        return found

    return find


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
    kinks = list(real_kinks(activation, params, settings.tolerance))
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


def _kink_notes(activation: Activation, params: ParamValues, xs, settings: Settings) -> list[str]:
    """One note per kink that an input sits on (the registry's kinks: a stencil straddling
    even a jump too small to be a kink is left out of the verdict, and said so)."""
    notes: list[str] = []
    kinks = activation.kinks(params)
    if not kinks:
        return notes
    real = real_kinks(activation, params, settings.tolerance)
    near = KINK_MARGIN * torch.clamp(xs.double().abs(), min=1.0)
    for kink in kinks:
        if not bool(((xs.double() - kink).abs() <= near).any()):
            continue
        left, right = one_sided_slopes(activation, params, kink)
        if kink in real:
            note = (
                f"{activation.name} is not differentiable at x = {kink:g} (a kink: its one-sided "
                f"slopes are {left + 0.0:.6g} and {right + 0.0:.6g}); the analytic column "
                f"follows torch's convention ({activation.convention})"
            )
            if settings.numeric:
                note += ", and the finite difference there straddles the kink, so it is"
                note += " shown (flagged ~) but left out of the verdict"
        else:
            note = (
                f"at x = {kink:g} {activation.convention}: f' jumps there by only "
                f"{abs(right - left):.2g}, below the tolerance, so it is no kink for the verdict"
            )
            if settings.numeric:
                note += (
                    ", but a finite difference straddling the switch is off by f's own small "
                    "jump divided by the step, so it is shown (flagged ~) and left out of the "
                    "verdict"
                )
        notes.append(note + ".")
    return notes
