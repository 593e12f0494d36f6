"""``gradcli expr FORMULA --plot``: f and its symbolic derivative along one variable.

f is sampled with torch, f′ is SymPy's derivative evaluated at every sample in one
whole-vector pass (corner samples read just either side, also all at once), and the
plotted f′ is checked against autograd at every sample where it exists. Kinks (the zeros of
the arguments of abs, min/max, sign and the activations with corners) are found by a sign
change between samples and bisection, drawn as guides and sampled exactly; poles and domain
edges give gaps. Values far outside the bulk of the curves (near a pole) are left out of the
drawing, and a note says where.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gradcli._torch import load
from gradcli.core.engine import elementwise_autograd, judge
from gradcli.core.expr import ExprRequest, Settler, singular_points
from gradcli.expr import symbolic as sym
from gradcli.expr.language import Node
from gradcli.expr.torchfn import TorchFunction
from gradcli.ops.activations import plot_range
from gradcli.results.curve import Curve
from gradcli.settings import Settings, Tolerance

torch = load("torch")
Tensor = Any

SAMPLES = 481  # as for activations: two per braille dot of a 120-column plot
KINK_SOURCES = ("abs", "min", "max", "sign")  # plus the activations: f′ jumps at their zeros
MAX_KINKS = 24  # guides drawn; more are still sampled exactly and break f′
BISECTIONS = 80
TIDY_SECONDS = 1.0
LABEL_CHARACTERS = 60
JUMP_STEP = 1e-7  # relative distance from a kink at which f′'s two sides are compared
SIDES = Tolerance(atol=1e-12, rtol=1e-9)  # one-sided limits this close are one value
CLIP_SPREAD = 3.0  # the y window: the 5–95 % span of the values, widened this much each side


def expr_curve(
    request: ExprRequest,
    settings: Settings,
    x_range: tuple[float, float] | None = None,
    size: tuple[int | None, int | None] = (None, None),
) -> Curve:
    """The one expression of ``request`` and its derivative along its one differentiation
    variable, the other variables fixed at the request's point (float64)."""
    parsed = request.expressions[0]
    (name,) = request.variables
    fixed = {k: v for k, v in request.point.items() if k != name}
    given = [request.point[name]] if name in request.point else []
    low, high = x_range or plot_range([], given)
    f = TorchFunction(parsed.tree, [name], fixed)
    grid = [low + i * (high - low) / (SAMPLES - 1) for i in range(SAMPLES - 1)] + [high]
    kinks = _kinks(parsed.tree, name, fixed, grid)
    inside = [x for x in given if low <= x <= high]
    xs = torch.tensor(sorted({*grid, *kinks, *inside}), dtype=torch.float64)
    column = xs[:, None]
    with torch.no_grad():
        value = f(column)
    autograd = elementwise_autograd(lambda t: f(t[:, None]), xs)
    function = sym.to_sympy(parsed.tree)
    derivative = sym.real_forms(sym.sp.diff(function, sym.symbol(name)))
    analytic = _sampled(derivative, function, name, fixed, xs)
    defined = torch.isfinite(analytic) & torch.isfinite(value)  # no f′ where f is undefined
    analytic = torch.where(defined, analytic, math.nan)
    kinks = _jumping(derivative, function, name, fixed, kinks)
    check = judge(analytic, autograd, None, settings.tolerance, defined=defined)
    disagreements = sum(
        not ok for ok, exists in zip(check.ok.flat(), defined.tolist(), strict=True) if exists
    )
    values, derivatives = _plus_zero(value.tolist()), _plus_zero(analytic.tolist())
    drawn_values, drawn_derivatives, clipped = _clipped(values, derivatives, xs.tolist())
    at = {x: i for i, x in enumerate(xs.tolist())}
    shown_text = sym.text(sym.tidy(derivative, TIDY_SECONDS))
    fixed_text = ", ".join(f"{k} = {v:g}" for k, v in fixed.items())
    return Curve(
        title=f"f({name}) on [{low:g}, {high:g}]" + (f", {fixed_text}" if fixed_text else ""),
        labels=(_label("f  ", parsed.text), _label("f' ", shown_text)),
        x=xs.tolist(),
        value=drawn_values,
        derivative=drawn_derivatives,
        kinks=kinks[:MAX_KINKS],
        marks=[(x, values[at[x]], derivatives[at[x]]) for x in dict.fromkeys(inside)],
        x_range=(low, high),
        outside=[x for x in given if not low <= x <= high],
        agree=disagreements == 0 and bool(defined.any()),
        disagreements=disagreements,
        max_abs_diff=check.max_abs_diff,
        width=size[0],
        height=size[1],
        checked=int(defined.sum()),
        notes=tuple(_notes(kinks, clipped, _undefined_off_kinks(xs, defined, kinks), name)),
    )


def _undefined_off_kinks(xs: Tensor, defined: Tensor, kinks: list[float]) -> int:
    """Samples where f′ does not exist, other than the kinks (the guides say those)."""
    at_kinks = set(kinks)
    return sum(x not in at_kinks for x in xs[~defined].tolist())


def _label(prefix: str, text: str) -> str:
    text = text.replace("**", "^")  # the formula language's power, as the user wrote f
    if len(text) > LABEL_CHARACTERS:
        text = text[: LABEL_CHARACTERS - 1] + "…"
    return f"{prefix} {text}"


def _plus_zero(values: list[float]) -> list[float]:
    return [v + 0.0 for v in values]  # no "-0" in labels


def _kinks(tree: Node, name: str, fixed: dict[str, float], grid: Sequence[float]) -> list[float]:
    """x in the range where the argument of a corner function crosses zero."""
    from gradcli.ops.activations import ACTIVATIONS

    corners = [
        sub
        for sub, source in singular_points(tree)
        if source in KINK_SOURCES or source in ACTIVATIONS
    ]
    found: set[float] = set()
    xs = torch.tensor(grid, dtype=torch.float64)
    for sub in corners:
        u = TorchFunction(sub, [name], fixed)
        with torch.no_grad():
            signs = torch.sign(u(xs[:, None]))
        found |= {float(x) for x in xs[signs == 0]}
        crossing = (signs[:-1] * signs[1:]) < 0
        if bool(crossing.any()):
            found |= set(_bisect(u, xs[:-1][crossing], xs[1:][crossing]))
    return sorted(found)


def _bisect(u: TorchFunction, low: Tensor, high: Tensor) -> list[float]:
    """Every bracket [low, high] of a sign change of u narrowed to adjacent floats."""
    with torch.no_grad():
        low_sign = torch.sign(u(low[:, None]))
        for _ in range(BISECTIONS):
            middle = (low + high) / 2
            same = torch.sign(u(middle[:, None])) == low_sign
            low, high = torch.where(same, middle, low), torch.where(same, high, middle)
        at_low = u(low[:, None]).abs() <= u(high[:, None]).abs()
    return torch.where(at_low, low, high).tolist()


def _jumping(
    derivative: Any, function: Any, name: str, fixed: dict[str, float], kinks: list[float]
) -> list[float]:
    """The kinks where f′ really jumps (abs(x) yes; max(x, 0)² no): its values just either
    side differ by more than 10⁻³ of their size. Only the guides depend on it, not the check.
    All kinks are tried at once (a sum of 50 abs(sin(k·x)) has thousands)."""
    if not kinks:
        return []
    at = torch.tensor(kinks, dtype=torch.float64)
    step = JUMP_STEP * at.abs().clamp(min=1.0)
    both = _sampled(derivative, function, name, fixed, torch.cat([at - step, at + step]))
    left, right = both[: len(kinks)], both[len(kinks) :]
    unknown = ~(torch.isfinite(left) & torch.isfinite(right))
    scale = torch.maximum(left.abs(), right.abs()).nan_to_num(0.0).clamp(min=1.0)
    jumps = unknown | ((right - left).abs() > 1e-3 * scale)
    return [k for k, jump in zip(kinks, jumps.tolist(), strict=True) if jump]


SIDE_STEP = 1e-9  # relative distance at which f′ is read either side of a corner sample
SIDE_AGREEMENT = 1e-6  # f′ values either side this close (relative) are one value
STEP_BY_STEP = 64  # samples a formula torch cannot run on vectors is evaluated one by one


def _sampled(
    derivative: Any, function: Any, name: str, fixed: dict[str, float], xs: Tensor
) -> Tensor:
    """SymPy's derivative of ``function`` at every x (one vector evaluation); NaN where it
    does not exist. Where a corner function meets its jump exactly (the kinks, which are
    sampled), f′ is read just either side: equal values are its value there, different
    ones (or a jump of f) mean no derivative."""
    symbol = sym.symbol(name)
    point = {sym.symbol(k): v for k, v in fixed.items()}
    try:
        whole = sym.Evaluator.at_samples(point, symbol, xs, torch.float64)
        value = whole.tensor(derivative).expand(xs.shape).clone()
        whole.tensor(function)
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return _one_by_one(derivative, function, symbol, point, xs)
    hits = whole.hit_mask
    if hits is None or not bool(hits.any()):
        return value
    hits = hits.expand(xs.shape)
    value[hits] = _either_side(derivative, function, symbol, point, xs[hits])
    return value


def _either_side(derivative: Any, function: Any, symbol: Any, point: dict, at: Tensor) -> Tensor:
    """f′ at corner samples from its values a relative 10⁻⁹ either side (vectorised)."""
    step = SIDE_STEP * at.abs().clamp(min=1.0)
    right = sym.Evaluator.at_samples(point, symbol, at + step, torch.float64)
    left = sym.Evaluator.at_samples(point, symbol, at - step, torch.float64)
    d_right = right.tensor(derivative).expand(at.shape)
    d_left = left.tensor(derivative).expand(at.shape)
    f_right = right.tensor(function).expand(at.shape)
    f_left = left.tensor(function).expand(at.shape)
    size = torch.maximum(f_right.abs(), f_left.abs()).clamp(min=1.0)
    continuous = (f_right - f_left).abs() <= SIDE_AGREEMENT * size
    scale = torch.maximum(d_right.abs(), d_left.abs()).clamp(min=1.0)
    agree = continuous & ((d_right - d_left).abs() <= SIDE_AGREEMENT * scale)
    middle = (d_right + d_left) / 2
    # where the sides agree, the value at the sample itself (sign(0) = 0, H(0) = ½) is the
    # limit they approach: 2·max(x, 0) is exactly 0 at 0, not the sides' mean 1e-9
    exact = sym.Evaluator.at_samples(point, symbol, at, torch.float64)
    exact.convention = True
    at_sample = exact.tensor(derivative).expand(at.shape)
    close = torch.isfinite(at_sample) & ((at_sample - middle).abs() <= SIDE_AGREEMENT * scale)
    return torch.where(agree, torch.where(close, at_sample, middle), math.nan)


def _one_by_one(derivative: Any, function: Any, symbol: Any, point: dict, xs: Tensor) -> Tensor:
    """The derivative sample by sample (a formula whose pieces do not run on vectors)."""
    samples = []
    for x in xs.tolist():
        at = {**point, symbol: x}
        plain = sym.Evaluator(at, torch.float64)
        value, hit = plain.value(derivative)
        of_value, of_hit = plain.value(function)
        if hit or of_hit:
            entry = Settler(at, torch.float64, plain, SIDES)(derivative, function, symbol, of_value)
            value = math.nan if entry.value is None else entry.value
        samples.append(value)
    return torch.tensor(samples, dtype=torch.float64)


def _clipped(
    values: list[float], derivatives: list[float], xs: list[float]
) -> tuple[list[float], list[float], list[float]]:
    """The curves with values far outside the bulk (next to a pole) left out of the drawing,
    and the x where that happened."""
    finite = sorted(v for v in values + derivatives if math.isfinite(v))
    if len(finite) < 20:
        return values, derivatives, []
    low, high = finite[len(finite) // 20], finite[-1 - len(finite) // 20]
    spread = max(high - low, 1e-12 * max(1.0, abs(high)))
    bottom, top = low - CLIP_SPREAD * spread, high + CLIP_SPREAD * spread
    clipped: list[float] = []

    def keep(series: list[float]) -> list[float]:
        kept = []
        for x, v in zip(xs, series, strict=True):
            if math.isfinite(v) and not bottom <= v <= top:
                clipped.append(x)
                v = math.nan
            kept.append(v)
        return kept

    return keep(values), keep(derivatives), sorted(set(clipped))


def _notes(kinks: list[float], clipped: list[float], undefined: int, name: str) -> list[str]:
    notes = []
    if len(kinks) > MAX_KINKS:
        notes.append(f"{len(kinks)} kinks; the first {MAX_KINKS} are drawn as guides")
    if clipped:
        notes.append(
            f"values too large to draw left out at {len(clipped)} of the samples, "
            f"{name} in [{clipped[0]:g}, {clipped[-1]:g}] (near a pole or a steep edge)"
        )
    if undefined:
        notes.append(
            f"f or f' does not exist (or is not a real number) at {undefined} of the samples "
            "(not drawn, not checked)"
        )
    return notes
