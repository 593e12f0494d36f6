"""`gradcli loss`: a registry loss and ∂L/∂pred, analytic vs autograd vs finite differences."""

from __future__ import annotations

from collections.abc import Callable

from gradcli.core.engine import (
    ListPair,
    NumericEstimate,
    as_tensor,
    flat_list,
    float64_tensor,
    judge,
    numeric_entries,
    raise_if_not_finite,
    raise_if_overflowed,
    to_grid,
    torch,
    value_and_gradient_autograd,
)
from gradcli.core.kinks import elementwise_finder
from gradcli.expect import Expected, Slip
from gradcli.marking import mark
from gradcli.ops.losses import (
    BCE_LOG_FLOOR,
    BCE_TRUST_MARGIN,
    Loss,
    Reduction,
    TargetKind,
    is_probability_target,
    stable_softmax,
    target_distribution,
)
from gradcli.params import ParamValues
from gradcli.parsing import Matrix, TensorData, Vector
from gradcli.results import GradientCheck
from gradcli.results.grid import nested
from gradcli.results.loss import LossResult
from gradcli.settings import Dtype, Settings, Tolerance
from gradcli.solution import Quantity, Solution

Tensor = torch.Tensor
LOG_PROB_TOLERANCE = 1e-6  # |logsumexp(row)| beyond this: the row is not log-probabilities


def loss_gradients(
    loss: Loss,
    pred: TensorData | Vector | Matrix,
    target: TensorData | Vector | Matrix | float,
    reduction: Reduction,
    params: ParamValues,
    settings: Settings,
    expected: dict[str, Expected] | None = None,
    steps: bool = False,
) -> LossResult:
    """The loss value and ∂L/∂pred three ways; bad input raises InputError.

    ``expected`` maps the worked solution's keys (``p``, ``loss``, ``grad``) to the user's
    answers, which are marked; ``steps`` shows the worked solution.
    """
    loss.check_reduction(reduction)
    pred_data, target_data = as_data(pred), as_data(target)
    prepared = loss.prepare_target(pred_data, target_data, params)
    y = as_tensor(pred_data.nested(), settings.dtype, "--pred")
    if loss.takes_class_indices(pred_data, prepared):
        t = torch.tensor(prepared.values, dtype=torch.long).reshape(pred_data.shape[:-1])
    else:
        t = as_tensor(prepared.nested(), Dtype.float64, "--target").to(y.dtype)
    target = target_data.nested()

    def forward(x: Tensor) -> Tensor:
        return loss.forward(x, _like(t, x), reduction, params)

    loss_value, check = _check(loss, y, t, reduction, params, forward, settings)
    raise_if_not_finite(loss_value, "the loss", None, settings.dtype.value, symbol="L")
    raise_if_overflowed(check, _describe_entry(y), settings.dtype.value)
    value = float(loss_value)
    classes = loss.target_kind is not TargetKind.values and not is_probability_target(y, t)
    solution = loss_solution(loss, y, t, reduction, params, value, check, settings)
    marks = mark(solution, expected, settings.tolerance) if expected else None
    return LossResult(
        name=loss.name,
        reduction=reduction.value,
        params=dict(params),
        formula=loss.formula,
        loss_formula=loss.reduced_formula(reduction),
        gradient_formula=loss.reduced_gradient_formula(reduction),
        divisor=loss.divisor(tuple(y.shape)) if reduction is Reduction.mean else 1,
        divisor_symbol="n" if loss.target_kind is TargetKind.values else "N",
        pred=y.double().tolist(),
        target=_given_target(target, classes),
        target_kind=_target_kind(loss, params, classes),
        target_elements=_target_elements(loss, y, t, params).double().tolist(),
        loss=value,
        check=check,
        dtype=settings.dtype.value,
        notes=[
            *_notes(loss, y, t, reduction, params, settings, value),
            *check.notes,
        ],
        answer=None if marks is None else marks.answer,
        solution=solution,
        marks=marks,
        show_steps=steps,
    )


def loss_solution(
    loss: Loss,
    y: Tensor,
    t: Tensor,
    reduction: Reduction,
    params: ParamValues,
    value: float,
    check: GradientCheck,
    settings: Settings,
) -> Solution:
    """p (softmax or σ of pred, for a loss with one inside), L, then ∂L/∂pred. L and ∂L/∂pred
    follow from p through the registry's own forward and gradient, fed a pred with that p
    (log p, logit p): a loss worked from a wrong p is carried forward."""
    link = loss.link
    depends_on: tuple[str, ...] = ("p",) if link is not None else ()
    quantities = []
    if link is not None:
        p = link.forward(y.double())
        quantities.append(Quantity("p", "p", link.symbol, to_grid(p)))

    def from_p(fn):
        def compute(values):
            z = link.inverse(torch.tensor(nested(values["p"]), dtype=torch.float64))
            return fn(z).tolist()

        return compute

    def loss_of(z: Tensor) -> Tensor:
        return loss.forward(z, _like(t, z), reduction, params)

    def gradient_of(z: Tensor) -> Tensor:
        return loss.gradient(z, _like(t, z), reduction, params)

    symbol = "E" if reduction is Reduction.half_sum else "L"
    quantities.append(
        Quantity(
            "loss",
            symbol,
            f"{loss.reduced_formula(reduction)},  {loss.formula}",
            value,
            depends_on,
            from_p(loss_of) if link is not None else None,
        )
    )
    quantities.append(
        Quantity(
            "grad",
            "∂L/∂pred",
            loss.reduced_gradient_formula(reduction),
            check.analytic,  # the grid itself: no copy of a large gradient
            depends_on,
            from_p(gradient_of) if link is not None else None,
            slips=lambda: _reduction_slips(loss, y, t, reduction, params),
            locator="∂L/∂pred",
            kinks=elementwise_finder(gradient_of, y, check.analytic.flat(), settings.tolerance),
        )
    )
    return Solution(tuple(quantities), main="grad")


def _describe_entry(y: Tensor) -> Callable[[int], str]:
    """Names flat entry k of pred: ``pred[3]`` or ``pred[1, 2]``."""
    width = y.shape[-1]
    if y.dim() == 1:
        return lambda k: f"pred[{k}] = {float(y[k]):g}"
    return lambda k: f"pred[{k // width}, {k % width}] = {float(y[k // width, k % width]):g}"


def _reduction_slips(
    loss: Loss, y: Tensor, t: Tensor, reduction: Reduction, params: ParamValues
) -> list[Slip]:
    """The gradient under each other reduction this loss allows (the commonest slip), and for
    cross-entropy, softmax(z) without the target subtracted."""
    slips = []
    if loss.name == "cross_entropy":
        scale = loss.reduction_scale(reduction, tuple(y.shape))
        p = stable_softmax(y.double())
        slips.append(
            Slip("softmax(z): the target q was not subtracted (∂L/∂z = softmax(z) − q)", p.tolist())
        )
        if scale != 1:
            slips.append(
                Slip(
                    f"softmax(z)·{scale:g}: the target q was not subtracted "
                    "(∂L/∂z = [softmax(z) − q]/N)",
                    (p * scale).tolist(),
                )
            )
    for other in Reduction:
        if other is reduction or other not in loss.reductions:
            continue
        gradient = loss.gradient(y, t, other, params).double().tolist()
        text = loss.reduced_gradient_formula(other)
        slips.append(Slip(f"the {other.value} reduction's gradient, {text}", gradient))
    return slips


def _like(target: Tensor, x: Tensor) -> Tensor:
    """The target in x's dtype (class indices stay integers)."""
    return target.to(x.dtype) if target.dtype.is_floating_point else target


def _check(
    loss: Loss,
    y: Tensor,
    t: Tensor,
    reduction: Reduction,
    params: ParamValues,
    forward: Callable[[Tensor], Tensor],
    settings: Settings,
) -> tuple[Tensor, GradientCheck]:
    """The loss (from autograd's forward pass) and the check of ∂L/∂pred."""
    analytic = loss.gradient(y, t, reduction, params)
    value, autograd = value_and_gradient_autograd(forward, y)
    if not settings.numeric:
        return value, judge(analytic, autograd, None, settings.tolerance)
    numeric = numeric_loss_gradient(loss, y, t, reduction, params, settings.tolerance)
    untrusted = loss.untrusted(y, t, params)
    trusted = None if untrusted is None else ~untrusted
    return value, judge(analytic, autograd, numeric, settings.tolerance, trusted)


def numeric_loss_gradient(
    loss: Loss,
    y: Tensor,
    t: Tensor,
    reduction: Reduction,
    params: ParamValues,
    tolerance: Tolerance | None = None,
) -> NumericEstimate:
    """∂L/∂pred by central differences in float64, using that a loss is a sum of terms.

    Moving one entry of pred changes one term only — its element's, or its row's for class
    targets — so each difference evaluates that term alone: L(y ± h) − L(y) is
    scale·(ℓ(y ± h) − ℓ(y)) exactly, and far cheaper than the whole loss.
    """
    y64 = y.detach().double()
    target = t if not t.dtype.is_floating_point else t.double()
    scale = loss.reduction_scale(reduction, tuple(y.shape))
    if loss.target_kind is TargetKind.values:
        values, targets = y64.reshape(-1), target.reshape(-1)

        def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
            base, goal = values[index], targets[index]
            return (
                scale * loss.terms(base + step, goal, params),
                scale * loss.terms(base - step, goal, params),
            )

        def on_lists(x: list[float], positions: list[int], steps: list[float]) -> ListPair:
            goal = targets[torch.tensor(positions)]  # x ± step on Python floats: the same bits
            plus = float64_tensor([x[p] + s for p, s in zip(positions, steps, strict=True)])
            minus = float64_tensor([x[p] - s for p, s in zip(positions, steps, strict=True)])
            return (
                flat_list(scale * loss.terms(plus, goal, params)),
                flat_list(scale * loss.terms(minus, goal, params)),
            )

        return numeric_entries(evaluate, y64, 1, tolerance, what="∂L/∂pred", on_lists=on_lists)
    classes = y.shape[-1]
    rows = y64.reshape(-1, classes)
    row_targets = target.reshape(rows.shape[0], -1) if target.dim() == y.dim() else target
    row_targets = row_targets.reshape(rows.shape[0], *row_targets.shape[1:])
    if row_targets.dim() == 2 and not row_targets.dtype.is_floating_point:
        row_targets = row_targets.reshape(-1)

    def evaluate_rows(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        row, column = index // classes, index % classes
        block, goal, k = rows[row].clone(), row_targets[row], torch.arange(index.numel())
        block[k, column] += step
        plus = loss.terms(block, goal, params)
        block[k, column] = rows[row, column] - step
        return scale * plus, scale * loss.terms(block, goal, params)

    def on_lists(x: list[float], positions: list[int], steps: list[float]) -> ListPair:
        """evaluate_rows with its blocks built on Python floats (the same bits)."""
        plus, minus, sample = [], [], []  # the blocks' rows, one after the other
        for position, step in zip(positions, steps, strict=True):
            row = position // classes
            start = row * classes
            at = len(plus) + position - start
            plus += x[start : start + classes]
            minus += x[start : start + classes]
            plus[at] += step
            minus[at] -= step
            sample.append(row)
        goal = row_targets[torch.tensor(sample)]
        blocks = [float64_tensor(rows).reshape(-1, classes) for rows in (plus, minus)]
        return (
            flat_list(scale * loss.terms(blocks[0], goal, params)),
            flat_list(scale * loss.terms(blocks[1], goal, params)),
        )

    return numeric_entries(
        evaluate_rows, y64, classes, tolerance, what="∂L/∂pred", row_elements=classes,
        on_lists=on_lists,
    )  # fmt: skip


def as_data(values: TensorData | Vector | Matrix | float) -> TensorData:
    """Lists (or one number) as TensorData, for callers that hold plain Python values."""
    if isinstance(values, TensorData):
        return values
    if isinstance(values, (int, float)):
        return TensorData([float(values)], (1,))
    if values and isinstance(values[0], list):
        return TensorData([float(v) for row in values for v in row], (len(values), len(values[0])))
    return TensorData([float(v) for v in values], (len(values),))


def _given_target(target: Vector | Matrix, classes: bool) -> list:
    if not classes:
        return target
    return [[int(v) for v in row] if isinstance(row, list) else int(row) for row in target]


def _target_kind(loss: Loss, params: ParamValues, classes: bool) -> str:
    if classes:
        return "class indices"
    if loss.name == "kl_div":
        return "log-probabilities" if params["log_target"] == "true" else "probabilities"
    if loss.target_kind is TargetKind.classes_or_probabilities:
        return "probabilities"
    return "values"


def _target_elements(loss: Loss, y: Tensor, t: Tensor, params: ParamValues) -> Tensor:
    """Per element of pred, the target it is compared with (q for class targets)."""
    if loss.target_kind is TargetKind.values:
        return t
    return target_distribution(y, t, float(params.get("label_smoothing", 0.0)))


def _notes(
    loss: Loss,
    y: Tensor,
    t: Tensor,
    reduction: Reduction,
    params: ParamValues,
    settings: Settings,
    value: float,
) -> list[str]:
    notes = list(loss.notes)
    if loss.name == "bce":
        notes += _bce_notes(y, settings.numeric)
    if loss.name == "l1" or (loss.name == "smooth_l1" and params["beta"] == 0):
        notes += _kink_notes(loss, y, t, params, settings.numeric)
    if loss.target_kind is not TargetKind.values:
        notes += _class_notes(loss, y, t, params)
    if loss.name in ("nll", "kl_div"):
        notes += _log_probability_notes(loss.name, y)
    if loss.name == "kl_div":
        notes += _kl_notes(y, reduction, params, value)
    return notes


def _bce_notes(y: Tensor, numeric: bool) -> list[str]:
    y64 = y.double()
    if not bool((torch.minimum(y64, 1 - y64) < BCE_TRUST_MARGIN).any()):
        return []
    note = (
        f"bce near y = 0 or 1: torch clamps log(y) and log(1 − y) at −{-BCE_LOG_FLOOR:g} and its "
        "backward divides by max(y(1 − y), 1e-12); the analytic column follows torch"
    )
    if numeric:
        note += (
            f", and finite differences within {BCE_TRUST_MARGIN:g} of 0 or 1 are shown (~) but "
            "left out of the verdict (the log's curvature there swamps the step)"
        )
    return [note + "."]


def _kink_notes(loss: Loss, y: Tensor, t: Tensor, params: ParamValues, numeric: bool) -> list[str]:
    untrusted = loss.untrusted(y, t, params)
    if untrusted is None or not bool(untrusted.any()):
        return []
    note = (
        f"{loss.name} is not differentiable at y = t; the analytic column follows torch's "
        "convention sign(0) = 0"
    )
    if numeric:
        note += (
            ", and finite differences straddling y = t are shown (~) but left out of the verdict"
        )
    return [note + "."]


def _class_notes(loss: Loss, y: Tensor, t: Tensor, params: ParamValues) -> list[str]:
    notes = []
    if y.dim() == 1:
        notes.append(
            f"A vector --pred is one sample with C = {y.shape[0]} classes (torch's unbatched "
            "input); give a matrix, one row per sample, for several samples."
        )
    smoothing = float(params.get("label_smoothing", 0.0))
    source = "the given probabilities" if is_probability_target(y, t) else "onehot(t)"
    if smoothing:
        notes.append(
            f"The target column shows q = (1 − ε)·{source} + ε/C with ε = {smoothing:g}, "
            f"C = {y.shape[-1]}."
        )
    elif not is_probability_target(y, t):
        notes.append("The target column shows q = onehot(t), one row per sample.")
    return notes


def _log_probability_notes(name: str, y: Tensor) -> list[str]:
    lse = torch.logsumexp(y.double(), dim=-1).reshape(-1)
    off = lse.abs() > LOG_PROB_TOLERANCE
    if bool(off.any()):
        first = float(lse[off][0])
        return [
            f"The rows of --pred are not log-probabilities (log Σ e^x = {first:.6g}, not 0); "
            f"{name} does not check this, and the gradient is the same."
        ]
    return []


def _kl_notes(y: Tensor, reduction: Reduction, params: ParamValues, value: float) -> list[str]:
    notes = []
    if params["log_target"] == "true":
        notes.append(
            "log_target=true: --target holds log-probabilities s, ℓ = e^s·(s − x), ∂ℓ/∂x = −e^s."
        )
    if reduction is Reduction.mean:
        rows = y.shape[0] if y.dim() == 2 else 1
        batchmean = value * y.numel() / rows
        notes.append(
            f"mean is torch's reduction='mean': it divides by all n = {y.numel()} elements. The "
            f"KL divergence per sample, torch's 'batchmean' (sum / {rows} "
            f"row{'s' if rows != 1 else ''}), is {batchmean:.10g}."
        )
    return notes
