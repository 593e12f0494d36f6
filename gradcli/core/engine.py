"""The one comparison engine every command uses.

Given a function, its analytic derivative and the inputs, it computes the
derivative three ways — the analytic formula, torch autograd
(``torch.autograd.grad`` of scalars only, which keeps start-up cheap) and
central finite differences in float64 — and returns a :class:`GradientCheck`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gradcli._torch import load
from gradcli.errors import InputError
from gradcli.results import GradientCheck
from gradcli.settings import Dtype, Settings, Tolerance

torch = load()
Tensor = torch.Tensor

TORCH_DTYPES = {Dtype.float64: torch.float64, Dtype.float32: torch.float32}
RELATIVE_STEP = 1e-6  # central differences: h = 1e-6·max(1, |x|), error ≈ 1e-10 in float64


def as_tensor(values: Sequence, dtype: Dtype, what: str = "input") -> Tensor:
    """A tensor of ``values``; values that overflow the dtype are input errors."""
    tensor = torch.tensor(values, dtype=TORCH_DTYPES[dtype])
    if not bool(torch.isfinite(tensor).all()):
        bad = torch.tensor(values, dtype=torch.float64)[~torch.isfinite(tensor)][0].item()
        raise InputError(f"{what} value {bad:g} overflows {dtype.value}")
    return tensor


def step_sizes(x: Tensor) -> Tensor:
    """Finite-difference step for each entry, scaled to its magnitude."""
    return RELATIVE_STEP * torch.clamp(x.abs(), min=1.0)


def elementwise_autograd(forward: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """f'(x) for an elementwise f: the gradient of Σf(x) is f'(x_i) at each i."""
    leaf = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(forward(leaf).sum(), leaf)
    return grad


def elementwise_numeric(forward: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Central differences (f(x + h) − f(x − h)) / 2h in float64."""
    x64 = x.detach().double()
    h = step_sizes(x64)
    return (forward(x64 + h) - forward(x64 - h)) / (2 * h)


def jacobian_autograd(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∂f_i/∂x_j, one row per output, each the gradient of the scalar f_i."""
    leaf = x.detach().clone().requires_grad_(True)
    out = f(leaf)
    rows = [torch.autograd.grad(out[i], leaf, retain_graph=True)[0] for i in range(out.numel())]
    return torch.stack(rows)


def jacobian_numeric(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∂f_i/∂x_j by central differences; ``f`` must map the last dimension (batched)."""
    x64 = x.detach().double()
    h = step_sizes(x64)
    shifts = torch.diag(h)
    columns = (f(x64 + shifts) - f(x64 - shifts)) / (2 * h[:, None])  # row j holds ∂f/∂x_j
    return columns.T


def gradient_autograd(loss: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∂L/∂x for a scalar L."""
    leaf = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(leaf), leaf)
    return grad


def gradient_numeric(loss: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∂L/∂x for a scalar L by central differences, one entry at a time, in float64."""
    x64 = x.detach().double()
    flat = x64.reshape(-1)
    h = step_sizes(flat)
    grad = torch.empty_like(flat)
    for k in range(flat.numel()):
        bump = torch.zeros_like(flat)
        bump[k] = h[k]
        up = loss((flat + bump).reshape(x64.shape))
        down = loss((flat - bump).reshape(x64.shape))
        grad[k] = (up - down) / (2 * h[k])
    return grad.reshape(x64.shape)


def judge(
    analytic: Tensor,
    autograd: Tensor,
    numeric: Tensor | None,
    tolerance: Tolerance,
    trusted: Tensor | None = None,
) -> GradientCheck:
    """Compare the three gradients entry by entry and give the verdict.

    Analytic vs autograd always counts; analytic vs numeric counts where the
    finite difference is trusted (everywhere unless ``trusted`` says otherwise).
    """
    analytic64, autograd64 = analytic.double(), autograd.double()
    diff = (analytic64 - autograd64).abs()
    ok = diff <= tolerance.atol + tolerance.rtol * autograd64.abs()
    if numeric is not None:
        if trusted is None:
            trusted = torch.ones_like(diff, dtype=torch.bool)
        numeric_diff = torch.where(trusted, (analytic64 - numeric).abs(), torch.zeros_like(diff))
        ok &= numeric_diff <= tolerance.atol + tolerance.rtol * numeric.abs()
        diff = torch.maximum(diff, numeric_diff)
    return GradientCheck(
        analytic=analytic64.tolist(),
        autograd=autograd64.tolist(),
        numeric=None if numeric is None else numeric.tolist(),
        trusted=None if numeric is None else trusted.tolist(),
        abs_diff=diff.tolist(),
        ok=ok.tolist(),
        max_abs_diff=float(diff.max()) if diff.numel() else 0.0,
        agree=bool(ok.all()),
        tolerance=tolerance,
    )


def check_elementwise(
    forward: Callable[[Tensor], Tensor],
    derivative: Callable[[Tensor], Tensor],
    x: Tensor,
    settings: Settings,
    kinks: Sequence[float] = (),
) -> GradientCheck:
    """f'(x) for an elementwise f: formula vs autograd vs finite differences.

    Finite differences whose stencil [x − h, x + h] touches a kink are not trusted.
    """
    analytic = derivative(x)
    autograd = elementwise_autograd(forward, x)
    if not settings.numeric:
        return judge(analytic, autograd, None, settings.tolerance)
    numeric = elementwise_numeric(forward, x)
    x64 = x.double()
    trusted = torch.ones_like(x64, dtype=torch.bool)
    for kink in kinks:
        trusted &= (x64 - kink).abs() > 2 * step_sizes(x64)
    return judge(analytic, autograd, numeric, settings.tolerance, trusted)


def check_jacobian(
    f: Callable[[Tensor], Tensor],
    jacobian: Callable[[Tensor], Tensor],
    x: Tensor,
    settings: Settings,
    numeric_at: Tensor | None = None,
) -> GradientCheck:
    """∂f_i/∂x_j: formula vs autograd vs finite differences (taken at ``numeric_at``
    when given: a point where f and its Jacobian are provably the same)."""
    analytic = jacobian(x)
    autograd = jacobian_autograd(f, x)
    numeric = None
    if settings.numeric:
        numeric = jacobian_numeric(f, x if numeric_at is None else numeric_at)
    return judge(analytic, autograd, numeric, settings.tolerance)


def check_gradient(
    loss: Callable[[Tensor], Tensor],
    gradient: Callable[[Tensor], Tensor],
    x: Tensor,
    settings: Settings,
    trusted: Tensor | None = None,
) -> GradientCheck:
    """∂L/∂x of a scalar L: formula vs autograd vs finite differences."""
    analytic = gradient(x)
    autograd = gradient_autograd(loss, x)
    numeric = gradient_numeric(loss, x) if settings.numeric else None
    return judge(analytic, autograd, numeric, settings.tolerance, trusted)
