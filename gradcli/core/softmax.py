"""`gradcli softmax-jacobian`: p = softmax(a/T) and ∂p_i/∂a_j."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gradcli.core.engine import as_tensor, check_jacobian, raise_if_overflowed, torch
from gradcli.expect import Expected, Slip
from gradcli.marking import mark
from gradcli.ops.softmax import check_temperature
from gradcli.results.grid import nested
from gradcli.results.softmax import SoftmaxJacobianResult
from gradcli.settings import Settings
from gradcli.solution import Quantity, Solution

FORMULA = "∂p_i/∂a_j = p_i(δ_ij − p_j) / T"
SIGN_PATTERN = (
    "Diagonal entries p_i(1 − p_i)/T are positive, off-diagonal entries −p_i·p_j/T are "
    "negative, and every row sums to 0 (the probabilities always sum to 1)."
)


def stable_softmax(a: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(a/T) along the last dimension, shifted by the max so exp never overflows."""
    z = a / temperature
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_jacobian_formula(a: torch.Tensor, temperature: float) -> torch.Tensor:
    """The closed form p_i(δ_ij − p_j)/T of the logits a."""
    return jacobian_of_probabilities(stable_softmax(a, temperature), temperature)


def jacobian_of_probabilities(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """p_i(δ_ij − p_j)/T from p, built as (diag(p) − p pᵀ)/T (in place: one n×n)."""
    jacobian = torch.outer(p, p).neg_()
    jacobian.diagonal().add_(p)
    return jacobian.div_(temperature)


def _scaled_softmax(temperature: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """t ↦ softmax(t/T) (torch's); at T = 1 without the division, which changes nothing."""
    if temperature == 1:
        return lambda t: torch.softmax(t, dim=-1)
    return lambda t: torch.softmax(t / temperature, dim=-1)


def softmax_jacobian(
    a: Sequence[float],
    temperature: float,
    settings: Settings,
    expected: dict[str, Expected] | None = None,
    steps: bool = False,
) -> SoftmaxJacobianResult:
    """Probabilities and the Jacobian from the formula, autograd and finite differences.

    ``expected`` maps the worked solution's keys (``p``, ``jacobian``) to the user's
    answers, which are marked; ``steps`` shows the worked solution.
    """
    check_temperature(temperature)
    inputs = as_tensor(list(a), settings.dtype, "input")
    check = check_jacobian(
        _scaled_softmax(temperature),
        lambda t: softmax_jacobian_formula(t, temperature),
        inputs,
        settings,
        # softmax cannot tell a from a − max(a): difference there, where steps are exact
        numeric_at=inputs.double() - inputs.double().max(),
    )
    n = len(a)
    raise_if_overflowed(
        check,
        lambda k: f"∂p_{k // n}/∂a_{k % n} (T = {temperature:g})",
        settings.dtype.value,
        "a larger --temperature",
    )
    probabilities = stable_softmax(inputs, temperature)
    solution = softmax_solution(probabilities, temperature, check.analytic)
    marks = mark(solution, expected, settings.tolerance) if expected else None
    return SoftmaxJacobianResult(
        input=inputs.double().tolist(),
        temperature=temperature,
        probabilities=probabilities.double().tolist(),
        check=check,
        dtype=settings.dtype.value,
        formula=FORMULA,
        notes=[SIGN_PATTERN, *check.notes],
        answer=None if marks is None else marks.answer,
        solution=solution,
        marks=marks,
        show_steps=steps,
    )


def softmax_solution(p: torch.Tensor, temperature: float, jacobian) -> Solution:
    """p = softmax(a/T), then the Jacobian computed from p (a Jacobian worked from a wrong p is
    carried forward)."""

    def compute(values):
        given = torch.tensor(nested(values["p"]), dtype=torch.float64)
        return jacobian_of_probabilities(given, temperature).tolist()

    return Solution(
        (
            Quantity("p", "p", "p_i = exp(a_i/T) / Σ_j exp(a_j/T)", p.double().tolist()),
            Quantity(
                "jacobian",
                "J",
                FORMULA,
                jacobian,
                ("p",),
                compute,
                slips=lambda: _slips(p, temperature),
                noun="∂p_i/∂a_j",
                locator="J",
            ),
        ),
        main="jacobian",
    )


def _slips(p: torch.Tensor, temperature: float) -> list[Slip]:
    """Mistakes students make with the softmax Jacobian."""
    p64 = p.double()
    slips = [
        Slip(
            "p_i(1 − p_j) everywhere: the diagonal formula used off the diagonal too",
            (p64[:, None] * (1 - p64[None, :]) / temperature).tolist(),
        ),
        Slip(
            "−p_i·p_j everywhere: the off-diagonal formula used on the diagonal too",
            (-torch.outer(p64, p64) / temperature).tolist(),
        ),
    ]
    diagonal = p64 * (1 - p64) / temperature
    off = torch.outer(p64, p64) / temperature
    slips += [
        Slip(
            "the Jacobian with the off-diagonal signs flipped: +p_i·p_j off the diagonal, but "
            "∂p_i/∂a_j = −p_i·p_j there (raising a_j lowers every other p_i)",
            (torch.diag(diagonal) + off - torch.diag(torch.diag(off))).tolist(),
        ),
        Slip(
            "only the diagonal p_i(1 − p_i): the off-diagonal entries −p_i·p_j are missing",
            torch.diag(diagonal).tolist(),
        ),
        Slip(
            "only the diagonal p_i(1 − p_i), as a vector: the Jacobian is the whole n×n "
            "matrix, with −p_i·p_j off the diagonal",
            diagonal.tolist(),
        ),
    ]
    if temperature != 1:
        slips.append(
            Slip(
                "the Jacobian without the 1/T factor",
                (torch.diag(p64) - torch.outer(p64, p64)).tolist(),
            )
        )
    return slips


def softmax_vjp(p: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    """The softmax Jacobian p_i(δ_ij − p_j) applied to ``upstream``, row by row (batched).

    For each row, Σ_i u_i·p_i(δ_ij − p_j) = p_j·(u_j − Σ_i u_i p_i): with u = ∂L/∂p this is
    ∂L/∂a, computed without forming the n×n Jacobian. Entries with p = 0 (masked) get 0.
    """
    return p * (upstream - (upstream * p).sum(dim=-1, keepdim=True))
