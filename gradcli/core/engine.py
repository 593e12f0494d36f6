"""The one comparison engine every command uses.

Given a function, its analytic derivative and the inputs, it computes the derivative
three ways — the analytic formula, torch autograd and central finite differences in
float64 — and returns a :class:`GradientCheck` whose verdict is earned:

* finite differences come with their own error estimate: each entry is taken with two
  steps, h and h/2, and the estimate is their difference plus the rounding error of
  f(x ± h); an entry whose estimate is too large for the tolerance is retried with
  steps from 10⁻⁶h to 10³h, and left out of the verdict (and said so) when no step
  gives a trustworthy value — the function's own scale decides, not a fixed h;
* an entry whose function changes by a sizeable fraction of its value between the input
  and its neighbouring float64 numbers (sin at x = 1e22, where they are 2e6 apart) cannot be
  resolved by any step: such a finite difference is a chord across many periods, small and
  self-consistent but meaningless, and is left out of the verdict (and said so);
* NaN or ∞ is never agreement;
* when finite differences for every entry would cost more than :data:`WORK_BUDGET`
  element evaluations, a seeded random sample of entries is checked, and said so.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import sys
import warnings
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gradcli._torch import load
from gradcli.errors import InputError
from gradcli.limits import require_memory
from gradcli.results import GradientCheck
from gradcli.results.grid import Grid
from gradcli.settings import DEFAULT_TOLERANCE, Dtype, Settings, Tolerance

torch = load()
Tensor = torch.Tensor

TORCH_DTYPES = {Dtype.float64: torch.float64, Dtype.float32: torch.float32}
BASE_STEP = (
    1e-5  # h = 1e-5·max(1, |x|), and h/2: near-optimal for smooth f of unit scale in float64
)
# retry factors for entries whose estimate is too large: smaller steps first (curvature), then
# larger ones (rounding)
REFINE_FACTORS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e1, 1e2, 1e3)
EPS64 = 2.0**-52
FLOAT32_MAX = 3.0e38  # error estimates are stored in float32; larger ones are capped here
ROUNDING_SAFETY = 4.0  # f(x ± h) is taken to be correct to a few units in the last place
WORK_BUDGET = 1e9  # element evaluations the numeric column may spend (≈ 0.6 s, one thread)
MIN_SAMPLE = 32  # a sampled check looks at no fewer entries than this
CHUNK_ELEMENTS = 2**19  # input elements per batched evaluation (4 MB of float64)
KINK_MARGIN = 1e-9  # closer to a kink than this (relative): on it, no one-sided stencil fits
SMALL_ENTRIES = 256  # derivative entries up to which bookkeeping runs on Python floats
CALL_COST = 20_000  # a Python-level call of a small torch function costs about this many elements
# A difference whose two stencils (h and h/2) disagree by more than this fraction of its value
# is suspect: either f' is near 0 or f is not resolved at that step; suspects that the verdict
# would count are tested at the input's own spacing (one ulp either side).
SUSPECT_SPREAD = 1e-3
# f changing between x − ulp and x + ulp by more than this fraction of |f| beyond what the
# difference's own slope explains: f varies on a scale the step does not resolve (far above
# the rounding of f, ~1e-16, far below the jumps of an unresolved f, ~|f|·ulp/period).
ALIAS_FRACTION = 1e-9


# ---------------------------------------------------------------- tensors and threads


def as_tensor(values: Sequence, dtype: Dtype, what: str = "input") -> Tensor:
    """A tensor of ``values``; values that overflow the dtype are input errors."""
    if dtype is Dtype.float64 and values and type(values[0]) is float:
        tensor = float64_tensor(values)  # a flat list of floats (array refuses anything else)
    else:
        tensor = torch.tensor(values, dtype=TORCH_DTYPES[dtype])
    if not _all_finite(tensor):
        bad = torch.tensor(values, dtype=torch.float64)[~torch.isfinite(tensor)][0].item()
        raise InputError(f"{what} value {bad:g} overflows {dtype.value}")
    return tensor


def float64_tensor(values: list[float]) -> Tensor:
    """A 1-D float64 tensor of a few Python floats, made through an array's buffer: about a
    third of ``torch.tensor``'s time on a list (the tensor keeps the array alive)."""
    if not values:
        return torch.zeros(0, dtype=torch.float64)
    return torch.frombuffer(array("d", values), dtype=torch.float64)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread meanwhile.

    Finite differences evaluate many small batches (≤ CHUNK_ELEMENTS each): measured on
    this 2-core machine, a 2000×30 sigmoid layer took 1.5 ms on one thread and 46 ms on two
    when the other core was busy, and never gained more than 2× when it was idle.
    """
    before = torch.get_num_threads()
    if before == 1:  # already (batch sets it once): changing the pool is not free
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def base_steps(x64: Tensor) -> Tensor:
    """The first finite-difference step of each entry, scaled to its magnitude."""
    return BASE_STEP * torch.clamp(x64.abs(), min=1.0)


# ---------------------------------------------------------------- autograd


def elementwise_autograd(forward: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """f'(x) for an elementwise f: the gradient of Σf(x) is f'(x_i) at each i."""
    leaf = x.detach().requires_grad_(True)  # a new tensor: x keeps its flag (no copy: an
    (grad,) = torch.autograd.grad(forward(leaf).sum(), leaf)  # in-place op on a leaf raises)
    return grad


def jacobian_autograd(
    f: Callable[[Tensor], Tensor], x: Tensor, outputs: int | None = None
) -> Tensor:
    """∂f_i/∂x_j, row i the gradient of the scalar f_i, by one backward pass.

    ``f`` maps the last dimension, rows independently (as for :func:`numeric_jacobian`): row i
    of a batch of m copies of x is asked for the gradient of its own output i (grad_outputs =
    the identity), so one ``autograd.grad`` call returns every row — the same numbers as m
    separate calls, without m passes through Python. (``torch.func.jacrev``, batched grads and
    non-scalar grad_outputs would import SymPy: +1.7 s of start-up.)
    """
    n = x.numel()
    m = f(x.detach()).numel() if outputs is None else outputs
    require_memory(4 * m * n * 8, f"the {m}×{n} autograd Jacobian")
    copies = x.detach().reshape(1, n).expand(m, n).clone().requires_grad_(True)
    out = f(copies)
    # Σ (out ⊙ I) is a scalar whose backward hands out exactly the identity as grad_outputs
    # (a non-scalar grad_outputs would import SymPy through torch.fx's shape checks).
    (jacobian,) = torch.autograd.grad((out * torch.eye(m, dtype=out.dtype)).sum(), copies)
    return jacobian


def gradient_autograd(loss: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∂L/∂x for a scalar L."""
    return value_and_gradient_autograd(loss, x)[1]


def value_and_gradient_autograd(
    loss: Callable[[Tensor], Tensor], x: Tensor
) -> tuple[Tensor, Tensor]:
    """L(x) (detached: the forward autograd ran) and ∂L/∂x, for a scalar L."""
    leaf = x.detach().requires_grad_(True)  # a new tensor: x keeps its flag
    value = loss(leaf)
    (grad,) = torch.autograd.grad(value, leaf)
    return value.detach(), grad


# ---------------------------------------------------------------- finite differences


@dataclass(frozen=True)
class EntryLists:
    """A few entries' finite differences on Python floats, flat in row-major order of
    ``shape`` (the few-entry path computes them so, and the verdict reads them so)."""

    shape: tuple[int, ...]
    value: list[float]
    error: list[float]  # each rounded to float32, as the error tensor holds it
    step: list[float]  # per cell: the step of its input entry
    suspect: list[bool]

    def reshaped(self, shape: tuple[int, ...]) -> EntryLists:
        return EntryLists(shape, self.value, self.error, self.step, self.suspect)

    def transposed(self) -> EntryLists:
        """The 2-D lists with their dimensions swapped: column o of a row-major k × m list
        is its slice ``[o::m]``."""
        rows, width = self.shape

        def swap(cells: list) -> list:
            swapped: list = []
            for o in range(width):
                swapped += cells[o::width]
            return swapped

        return EntryLists(
            (width, rows), swap(self.value), swap(self.error), swap(self.step), swap(self.suspect)
        )

    def part(self, start: int, size: int, shape: tuple[int, ...]) -> EntryLists:
        cut = slice(start, start + size)
        return EntryLists(
            shape, self.value[cut], self.error[cut], self.step[cut], self.suspect[cut]
        )


class NumericEstimate:
    """Central differences with an error estimate per entry.

    ``value`` (float64, the derivative's shape) is NaN where ``checked`` is False (entries
    left out of a sample); ``error`` is the estimated absolute error (∞ where the
    differences overflowed); ``step`` is the larger step of the stencil each entry used.
    ``smooth`` is False where the stencil crossed a kink the caller watches; ``suspect`` True
    where the two stencils disagree by more than SUSPECT_SPREAD (None: not recorded);
    ``unresolved`` True where f varies on a scale finer than any step can resolve (see
    :func:`resolve`; those entries' error is ∞, and ``spacing`` is the largest input spacing
    among them); ``by_column``: the value is a Jacobian, input entry j is column j.

    A few entries are computed on Python floats and kept as :class:`EntryLists`; their
    tensors are made when something first reads them (the verdict reads the lists).
    """

    __slots__ = (
        "_checked", "_error", "_step", "_suspect", "_value", "by_column", "lists", "probe",
        "sampled", "skipped", "smooth", "spacing", "unresolved", "work",
    )  # fmt: skip

    def __init__(
        self,
        value: Tensor | None,
        error: Tensor | None,
        checked: Tensor | None,
        step: Tensor | None,
        sampled: bool = False,
        skipped: str | None = None,  # why no entry was computed at all
        work: float = 0.0,  # element evaluations all entries would have needed
        smooth: Tensor | None = None,
        suspect: Tensor | None = None,
        unresolved: Tensor | None = None,
        spacing: float = 0.0,
        probe: SpacingProbe | None = None,
        by_column: bool = False,
        lists: EntryLists | None = None,  # the few-entry path's lists (tensors made from them)
    ) -> None:
        self._value, self._error, self._checked, self._step = value, error, checked, step
        self._suspect, self.lists = suspect, lists
        self.sampled, self.skipped, self.work = sampled, skipped, work
        self.smooth, self.unresolved, self.spacing = smooth, unresolved, spacing
        self.probe, self.by_column = probe, by_column

    @property
    def value(self) -> Tensor:
        if self._value is None and self.lists is not None:
            self._value = _tensor(self.lists.value, torch.float64, self.lists.shape)
        return self._value

    @property
    def error(self) -> Tensor:
        if self._error is None and self.lists is not None:
            self._error = _tensor(self.lists.error, torch.float32, self.lists.shape)
        return self._error

    @property
    def checked(self) -> Tensor:
        if self._checked is None and self.lists is not None:
            self._checked = torch.ones(self.lists.shape, dtype=torch.bool)
        return self._checked

    @property
    def step(self) -> Tensor:
        if self._step is None and self.lists is not None:
            self._step = _tensor(self.lists.step, torch.float64, self.lists.shape)
        return self._step

    @property
    def suspect(self) -> Tensor | None:
        if self._suspect is None and self.lists is not None:
            self._suspect = _tensor(self.lists.suspect, torch.bool, self.lists.shape)
        return self._suspect

    def flat_lists(self) -> tuple[list[float], list[float], list[bool] | None]:
        """(value, error, checked) as flat lists in row-major order; checked is None when
        every entry was computed."""
        if self.lists is not None:
            return self.lists.value, self.lists.error, None
        return flat_list(self.value), flat_list(self.error), flat_list(self.checked)

    def checked_count(self) -> int:
        if self.lists is not None:
            return len(self.lists.value)
        return int(self.checked.sum())

    def replace(self, **changes: Any) -> NumericEstimate:
        """A copy with ``changes`` (field names as the constructor's); the lists are kept
        unless a tensor they hold is replaced."""
        fields = {name: getattr(self, slot) for name, slot in _ESTIMATE_FIELDS}
        if self.lists is not None and _LIST_FIELDS.intersection(changes):
            for name in _LIST_FIELDS:  # the others as tensors, before the lists go
                fields[name] = getattr(self, name)
            fields["lists"] = None
        fields.update(changes)
        return NumericEstimate(**fields)

    def part(self, start: int, size: int, shape: tuple[int, ...]) -> NumericEstimate:
        """The flat entries [start, start + size) as the estimate of a tensor of ``shape``
        (for an estimate taken over several tensors at once); its spacing probe moves those
        entries."""
        probe = self.probe
        if probe is not None:
            evaluate = probe.evaluate

            def moved(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
                return evaluate(index + start, step)

            flat = probe.flat[start : start + size]
            probe = SpacingProbe(moved, flat, probe.tolerance, probe.chunk)
        work = self.work * size / max(self._size(), 1)
        if self.lists is not None and self.smooth is None and self.unresolved is None:
            lists = self.lists.part(start, size, shape)
            return NumericEstimate(
                None, None, None, None, self.sampled, self.skipped, work, spacing=self.spacing,
                probe=probe, by_column=self.by_column, lists=lists,
            )  # fmt: skip
        part = slice(start, start + size)

        def cut(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor.reshape(-1)[part].reshape(shape)

        return self.replace(
            value=cut(self.value),
            error=cut(self.error),
            checked=cut(self.checked),
            step=cut(self.step),
            suspect=cut(self.suspect),
            smooth=cut(self.smooth),
            unresolved=cut(self.unresolved),
            work=work,
            probe=probe,
        )

    def _size(self) -> int:
        return len(self.lists.value) if self.lists is not None else self.value.numel()

    def __repr__(self) -> str:
        shape = self.lists.shape if self.lists is not None else tuple(self.value.shape)
        return f"NumericEstimate(shape={shape}, sampled={self.sampled}, skipped={self.skipped!r})"

    @staticmethod
    def exact(value: Tensor) -> NumericEstimate:
        """A numeric column known to be exact (for tests and for values computed elsewhere)."""
        value = value.double()
        zeros = torch.zeros_like(value)
        return NumericEstimate(value, zeros, torch.ones_like(value, dtype=torch.bool), zeros)


_ESTIMATE_FIELDS = (
    ("value", "_value"), ("error", "_error"), ("checked", "_checked"), ("step", "_step"),
    ("sampled", "sampled"), ("skipped", "skipped"), ("work", "work"), ("smooth", "smooth"),
    ("suspect", "_suspect"), ("unresolved", "unresolved"), ("spacing", "spacing"),
    ("probe", "probe"), ("by_column", "by_column"), ("lists", "lists"),
)  # fmt: skip
_LIST_FIELDS = frozenset({"value", "error", "checked", "step", "suspect"})


def _tensor(cells: list, dtype: torch.dtype, shape: tuple[int, ...]) -> Tensor:
    return torch.tensor(cells, dtype=dtype).reshape(shape)


# evaluate(index, step) → (f(x + step·e_index), f(x − step·e_index)), each of shape (k, *out)
PairEvaluation = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
ListPair = tuple[list[float], list[float]]
# The same for a few entries on Python values: on_lists(x, positions, steps) with x the input's
# entries → the two evaluations' values as flat lists (row r's outputs together). It must build
# the same tensors and call f the same way as its PairEvaluation, so that the values are the
# same bits (tests/test_fast_paths.py runs both).
ListEvaluation = Callable[[list[float], list[int], list[float]], ListPair]
F64 = torch.float64


@dataclass(frozen=True)
class SpacingProbe:
    """What :func:`resolve` needs to evaluate f one float64 spacing either side of an entry."""

    evaluate: PairEvaluation
    flat: Tensor  # the input's entries, float64
    tolerance: Tolerance
    chunk: int  # entries per evaluation that fit in memory


def resolve_columns(
    call: Callable[[Tensor], Tensor],
    chosen: Tensor,
    value: Tensor,
    error: Tensor,
    suspect: Tensor,
    tolerance: Tolerance,
) -> Tensor:
    """:func:`resolve` for a Jacobian (outputs × entries) whose differences were taken
    elsewhere: ``call(v)`` is f with the entries set to ``v``. Returns ``error`` with ∞ where a
    suspect difference the verdict would count does not resolve f at the input's spacing."""
    chosen = chosen.detach().double()

    def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        plus, minus = [], []
        for k, s in zip(index.tolist(), step.tolist(), strict=True):
            moved = chosen.clone()
            moved[k] += s
            plus.append(call(moved).reshape(-1))
            moved[k] = chosen[k] - s
            minus.append(call(moved).reshape(-1))
        return torch.stack(plus), torch.stack(minus)

    estimate = NumericEstimate(
        value,
        error,
        torch.ones(value.shape, dtype=torch.bool),
        torch.zeros(value.shape, dtype=torch.float64),
        suspect=suspect,
        probe=SpacingProbe(evaluate, chosen, tolerance, max(1, chosen.numel())),
        by_column=True,
    )
    return resolve(estimate).error


def resolve(estimate: NumericEstimate, cells: Tensor | None = None) -> NumericEstimate:
    """The estimate with the differences that do not resolve f marked unresolved (error ∞).

    A difference can look accurate and still be meaningless: at x = 1e22 float64 numbers are
    2e6 apart, sin goes through 300,000 periods between x − h and x + h, and the two stencils
    give values ~1e-17 that agree with each other. The step a finite difference would need
    lies below the input's spacing (x + h == x). Such a difference is suspect (its stencils
    disagree relative to its own size), and the test is f one spacing (ulp) either side of x:
    the change f(x + ulp) − f(x − ulp) must be what 2·ulp times the difference explains, to
    within the difference's error and ALIAS_FRACTION of |f|. Only suspect cells the verdict
    would count are tested — all of them, or those of ``cells`` (the verdict passes the
    disagreeing ones: where the difference agrees, tested or not, the verdict is the same).
    """
    probe, suspect = estimate.probe, estimate.suspect
    if probe is None or suspect is None:
        return estimate
    candidates = (
        suspect
        & estimate.checked
        & ~_too_uncertain(estimate.value, estimate.error, probe.tolerance)
    )
    if cells is not None:
        candidates = candidates & cells
    columns = candidates.reshape(candidates.shape[0], -1) if estimate.by_column else None
    entries = (
        (columns.any(dim=0) if columns is not None else candidates.reshape(-1))
        .nonzero()
        .reshape(-1)
    )
    if entries.numel() == 0:
        return estimate
    base = probe.flat[entries].abs()
    spacing = torch.nextafter(base, torch.full_like(base, math.inf)) - base
    marks = torch.zeros(candidates.shape, dtype=torch.bool)
    grid = marks.reshape(marks.shape[0], -1) if estimate.by_column else marks.reshape(-1)
    value = estimate.value.reshape(grid.shape)
    error = estimate.error.reshape(grid.shape)
    with one_thread():
        for start in range(0, entries.numel(), probe.chunk):
            part = entries[start : start + probe.chunk]
            s = spacing[start : start + probe.chunk]
            plus, minus = probe.evaluate(part, s)
            plus, minus = plus.double().reshape(part.numel(), -1), minus.double()
            minus = minus.reshape(plus.shape)
            if estimate.by_column:  # cells (i, j): rows of the evaluation are the columns j
                v, e = value[:, part].T, error[:, part].T.double()
            else:
                v, e = value[part].reshape(-1, 1), error[part].double().reshape(-1, 1)
            width = s.reshape(-1, 1)
            delta = plus - minus
            unexplained = (delta - 2 * width * v).abs()
            allowed = ALIAS_FRACTION * torch.maximum(plus.abs(), minus.abs()) + 2 * width * e
            aliased = torch.isfinite(delta) & (unexplained > allowed)
            if estimate.by_column:
                grid[:, part] = aliased.T & columns[:, part]
            else:
                grid[part] = aliased.reshape(-1) & candidates.reshape(-1)[part]
    if not bool(marks.any()):
        return estimate
    hit = marks.reshape(marks.shape[0], -1).any(dim=0) if estimate.by_column else grid
    widest = float(spacing[hit[entries]].max())
    unresolved = marks if estimate.unresolved is None else estimate.unresolved | marks
    return estimate.replace(
        error=estimate.error.masked_fill(marks, math.inf),
        unresolved=unresolved,
        spacing=max(widest, estimate.spacing),
    )


def numeric_elementwise(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    tolerance: Tolerance | None = None,
    max_step: Tensor | None = None,
) -> NumericEstimate:
    """f'(x_i) of an elementwise f, every entry at once; no step exceeds ``max_step`` (e.g.
    half the distance to a kink, so that stencils near one stay on its side)."""
    flat = x.detach().double().reshape(-1)

    def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        base = flat[index]
        return f(base + step), f(base - step)

    def on_lists(x: list[float], positions: list[int], steps: list[float]) -> ListPair:
        base = [x[p] for p in positions]  # x ± step on Python floats: the same bits
        plus = float64_tensor([b + s for b, s in zip(base, steps, strict=True)])
        minus = float64_tensor([b - s for b, s in zip(base, steps, strict=True)])
        return flat_list(f(plus).double()), flat_list(f(minus).double())

    cap = None if max_step is None else max_step.double().reshape(-1)
    estimate = _estimate(
        evaluate, flat, (), 1, tolerance, seed=0, what="f'(x)", max_step=cap, on_lists=on_lists
    )
    return _reshape(estimate, tuple(x.shape))


def numeric_jacobian(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    tolerance: Tolerance | None = None,
    seed: int = 0,
    outputs: int | None = None,
) -> NumericEstimate:
    """∂f_i/∂x_j by central differences; ``f`` maps the last dimension (rows are batched).
    ``outputs``: the size of f(x), when the caller knows it (else f is evaluated once)."""
    x64 = x.detach().double().reshape(-1)
    n = x64.numel()
    outputs = f(x64).numel() if outputs is None else outputs

    def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        return _shifted_pairs(f, x64, index, step)

    def on_lists(x: list[float], positions: list[int], steps: list[float]) -> ListPair:
        return _shifted_lists(f, x, positions, steps)

    estimate = _estimate(
        evaluate, x64, (outputs,), n + outputs, tolerance, seed, "the Jacobian",
        outputs_first=True, on_lists=on_lists,
    )  # fmt: skip
    return _transpose(estimate)  # rows of the estimate are inputs j; the Jacobian's are outputs i


def numeric_gradient(
    loss: Callable[[Tensor], Tensor],
    x: Tensor,
    tolerance: Tolerance | None = None,
    seed: int = 0,
    cost: int | None = None,
    batched: Callable[[Tensor], Tensor] | None = None,
    vectorize: bool = False,
) -> NumericEstimate:
    """∂L/∂x of a scalar L by central differences, in float64.

    Perturbed copies of x are evaluated in batches: by ``batched`` (a function from a batch
    ``(k, *x.shape)`` to the k losses) when the caller has one, else through
    ``torch.func.vmap`` when ``vectorize`` is set (beware: vmap runs some ops through
    Python decompositions whose checks import SymPy, +1.7 s), else one call per copy.
    ``cost`` is the element evaluations of one loss call (default: the size of x).
    """
    x64 = x.detach().double()
    shape, flat = tuple(x64.shape), x64.reshape(-1)
    if batched is not None:
        per_copy = lambda copies: batched(copies.reshape(-1, *shape))  # noqa: E731
    else:
        per_copy = _per_copy(lambda v: loss(v.reshape(shape)), vectorize)

    def evaluate(index: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        return _shifted_pairs(per_copy, flat, index, step)

    def on_lists(x: list[float], positions: list[int], steps: list[float]) -> ListPair:
        return _shifted_lists(per_copy, x, positions, steps)

    work = (cost if cost is not None else flat.numel()) + (0 if batched or vectorize else CALL_COST)
    row = max(flat.numel(), work)  # a copy of x, and the work bounds the intermediates
    return numeric_entries(evaluate, x64, work, tolerance, seed, "the gradient", row, on_lists)


ONE_CALL_ELEMENTS = 1 << 14  # copies up to this size: x + step and x − step in one call


def _shifted_pairs(
    f: Callable[[Tensor], Tensor], flat: Tensor, index: Tensor, step: Tensor
) -> tuple[Tensor, Tensor]:
    """f of the copies of ``flat`` with entry ``index[r]`` moved by ±``step[r]`` (row r): for
    small copies both signs in one call (each call costs microseconds whatever its size), else
    one sign at a time. The rows are independent; only the last bits can differ between the
    two ways (torch's vectorized kernels may round the tail of a vector differently), far
    below the estimate's own error."""
    k, n = index.numel(), flat.numel()
    rows = torch.arange(k)
    if 2 * k * n <= ONE_CALL_ELEMENTS:
        shifted = flat.expand(2 * k, n).clone()
        shifted[rows, index] += step
        shifted[rows + k, index] -= step
        both = f(shifted)
        return both[:k], both[k:]
    shifted = flat.expand(k, n).clone()
    shifted[rows, index] += step
    plus = f(shifted)
    shifted[rows, index] = flat[index] - step
    return plus, f(shifted)


def _shifted_lists(
    f: Callable[[Tensor], Tensor], x: list[float], positions: list[int], steps: list[float]
) -> ListPair:
    """:func:`_shifted_pairs` with the copies built on Python floats (x ± step rounds as
    torch's float64 addition does) and f's values as flat lists: the same tensors reach f in
    the same calls, so the values are the same bits."""
    n = len(x)
    plus_rows, minus_rows = [], []  # the copies, one after the other
    for position, step in zip(positions, steps, strict=True):
        start = len(plus_rows)
        plus_rows += x
        minus_rows += x
        plus_rows[start + position] += step
        minus_rows[start + position] -= step
    if 2 * len(positions) * n <= ONE_CALL_ELEMENTS:
        both = flat_list(f(float64_tensor(plus_rows + minus_rows).reshape(-1, n)).double())
        half = len(both) // 2
        return both[:half], both[half:]
    plus_values = f(float64_tensor(plus_rows).reshape(-1, n)).double()
    return flat_list(plus_values), flat_list(f(float64_tensor(minus_rows).reshape(-1, n)).double())


def numeric_entries(
    evaluate: PairEvaluation,
    x: Tensor,
    cost: int,
    tolerance: Tolerance | None = None,
    seed: int = 0,
    what: str = "the gradient",
    row_elements: int | None = None,
    on_lists: ListEvaluation | None = None,
) -> NumericEstimate:
    """∂L/∂x_i for every entry i of x (or a seeded sample), from ``evaluate(index, step)``,
    which returns the k values L(x ± step·e_index) — or any quantities whose differences are
    L's (a separable loss may return only the term that entry changes). ``cost`` is the
    element evaluations ``evaluate`` spends per entry and sign; ``row_elements`` the elements
    it allocates per entry (its copies and the intermediates; None: taken to be ``cost``).
    ``on_lists`` is ``evaluate`` on Python values for a few entries (see
    :data:`ListEvaluation`): it must give the same bits."""
    flat = x.detach().double().reshape(-1)
    estimate = _estimate(
        evaluate, flat, (), cost, tolerance, seed, what, row_elements, on_lists=on_lists
    )
    return _reshape(estimate, tuple(x.shape))


def _per_copy(single: Callable[[Tensor], Tensor], vectorize: bool) -> Callable[[Tensor], Tensor]:
    """``single`` applied to every row of a batch: through vmap (falling back to a loop when
    vmap cannot batch it) when ``vectorize``, else one call per row."""
    state = {"vmap": vectorize}

    def apply(batch: Tensor) -> Tensor:
        if state["vmap"]:
            try:
                with _quiet_vmap():
                    return torch.func.vmap(single)(batch).reshape(batch.shape[0])
            except (RuntimeError, ValueError, TypeError, NotImplementedError):
                state["vmap"] = False  # data-dependent Python control flow, .item(), …
        return torch.stack([single(row).reshape(()) for row in batch])

    return apply


@contextlib.contextmanager
def _quiet_vmap() -> Iterator[None]:
    """vmap warns when it falls back to a slower loop for an op; users must not see it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _estimate(
    evaluate: PairEvaluation,
    flat: Tensor,
    out_shape: tuple[int, ...],
    cost: int,
    tolerance: Tolerance | None,
    seed: int,
    what: str,
    row_elements: int | None = None,
    max_step: Tensor | None = None,
    outputs_first: bool = False,
    on_lists: ListEvaluation | None = None,
) -> NumericEstimate:
    """Central differences for every input entry (or a seeded sample), refined where needed.

    ``cost`` is the element evaluations of one call for one entry; ``row_elements`` the
    elements one entry allocates (for memory and batching; None: taken to be ``cost``). The
    value has one row per input entry; with ``outputs_first`` it is stored transposed (a
    Jacobian's layout), so that turning it around later costs no copy. Error estimates are
    kept in float32. A few entries (at most SMALL_ENTRIES cells) are refined on Python floats
    and kept as lists (``on_lists`` evaluates them, else ``evaluate``).
    """
    tolerance = tolerance or DEFAULT_TOLERANCE[Dtype.float64]
    count = flat.numel()
    per_entry = 4 * cost  # f(x ± h) and f(x ± h/2)
    work = count * per_entry
    outputs = math.prod(out_shape)
    if work <= WORK_BUDGET and count * outputs <= SMALL_ENTRIES:  # every entry, no sample
        cap = None if max_step is None else max_step.tolist()
        with one_thread():  # as the tensor path: some kernels round otherwise on two threads
            lists = _refined_small(evaluate, on_lists, flat.tolist(), tolerance, per_entry, cap)
        probe = SpacingProbe(evaluate, flat, tolerance, max(count, 1))
        shape = (count, *out_shape)
        return NumericEstimate(
            None, None, None, None, work=float(work), probe=probe, lists=lists.reshaped(shape)
        )
    index, sampled, skipped = _choose_entries(count, per_entry, seed, what)
    grid_rows = (count, *([1] * len(out_shape)))
    value, error, step, suspect, chunk = _estimate_tensors(
        evaluate, flat, index, out_shape, cost, tolerance, what, row_elements, max_step,
        outputs_first,
    )  # fmt: skip
    checked = torch.zeros(count, dtype=torch.bool)
    checked[index] = True
    probe = SpacingProbe(evaluate, flat, tolerance, chunk)
    if not out_shape:  # views shaped like the value, without reshapes
        return NumericEstimate(
            value, error, checked, step, sampled, skipped, float(work),
            suspect=suspect, probe=probe,
        )  # fmt: skip
    return NumericEstimate(
        value,
        error,
        checked.reshape(grid_rows).expand(value.shape),  # views: no copy per output entry
        step.reshape(grid_rows).expand(value.shape),
        sampled,
        skipped,
        float(work),
        suspect=suspect,
        probe=probe,
    )


def _estimate_tensors(
    evaluate: PairEvaluation,
    flat: Tensor,
    index: Tensor,
    out_shape: tuple[int, ...],
    cost: int,
    tolerance: Tolerance,
    what: str,
    row_elements: int | None,
    max_step: Tensor | None,
    outputs_first: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """The entries of ``index`` refined with whole-tensor operations, in chunks that fit;
    also which differences are suspect, and the chunk (entries per evaluation)."""
    count = flat.numel()
    per_entry = 4 * cost
    if outputs_first:
        value = torch.full((*out_shape, count), math.nan, dtype=torch.float64).T
    else:
        value = torch.full((count, *out_shape), math.nan, dtype=torch.float64)
    error = torch.full(value.shape, math.inf, dtype=torch.float32)
    suspect = torch.zeros(value.shape, dtype=torch.bool)
    step = torch.zeros(count, dtype=torch.float64)  # one step per input entry (row)
    row = max(cost if row_elements is None else row_elements, 1)
    chunk = max(1, CHUNK_ELEMENTS // row)
    if index.numel():
        require_memory(4 * min(chunk, index.numel()) * row * 8, what)
        with one_thread():
            cap = None if max_step is None else max_step[index]
            everything = index.numel() == count
            buffers = (value, error) if everything else None
            v, e, s, sus = _refined(
                evaluate, flat, index, chunk, tolerance, per_entry, cap, buffers
            )
        if not everything:
            value[index], error[index] = v, e
        suspect[index] = sus
        step[index] = s
    return value, error, step, suspect, chunk


def _choose_entries(
    count: int, per_entry: int, seed: int, what: str
) -> tuple[Tensor, bool, str | None]:
    """Every entry when the work fits the budget, else a seeded random sample (or none)."""
    if count * per_entry <= WORK_BUDGET:
        return torch.arange(count), False, None
    affordable = int(WORK_BUDGET // per_entry)
    if affordable < MIN_SAMPLE and per_entry * MIN_SAMPLE > 4 * WORK_BUDGET:
        reason = (
            f"finite differences skipped for {what}: one evaluation costs {per_entry // 4:,} "
            f"element evaluations, too many to check even {MIN_SAMPLE} entries"
        )
        return torch.arange(0), True, reason
    size = min(count, max(MIN_SAMPLE, affordable))
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(count, generator=generator)[:size].sort().values, True, None


def _refined(
    evaluate: PairEvaluation,
    flat: Tensor,
    index: Tensor,
    chunk: int,
    tolerance: Tolerance,
    per_entry: int,
    max_step: Tensor | None = None,
    out: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Differences at the base step; entries whose estimate is too large are retried with
    smaller and larger steps (never above ``max_step``), keeping the best estimate.
    ``out`` are (value, error) buffers to fill, one row per entry of ``index``; the last
    tensor returned marks the suspect differences (see :data:`SUSPECT_SPREAD`)."""
    h = base_steps(flat[index])
    if max_step is not None:
        h = torch.minimum(h, max_step)
    value, error, suspect = _differences(evaluate, index, h, chunk, out)
    step = h.clone()
    budget = WORK_BUDGET - index.numel() * per_entry
    for factor in REFINE_FACTORS:
        bad = _too_uncertain(value, error, tolerance)
        rows = bad.reshape(bad.shape[0], -1).any(dim=1).nonzero().reshape(-1)
        if rows.numel() == 0 or budget < rows.numel() * per_entry:
            break
        budget -= rows.numel() * per_entry
        trial = h[rows] * factor
        if max_step is not None:
            trial = torch.minimum(trial, max_step[rows])
        v, e, sus = _differences(evaluate, index[rows], trial, chunk)
        # a row (one input entry, every output) takes the new step when its worst error shrinks
        better = _row_max(e) < _row_max(error[rows])
        keep = rows[better]
        value[keep], error[keep], step[keep] = v[better], e[better], trial[better]
        suspect[keep] = sus[better]
    return value, error, step, suspect


def _refined_small(
    evaluate: PairEvaluation,
    on_lists: ListEvaluation | None,
    x: list[float],
    tolerance: Tolerance,
    per_entry: int,
    max_step: list[float] | None,
) -> EntryLists:
    """:func:`_refined` for a few entries, its bookkeeping in Python floats: a torch call costs
    microseconds, whatever its size, and this runs once per line of a batch. Every operation
    mirrors the tensor path's, in the same order, so the results are the same bits (a test
    runs both). Returns flat lists, one row per entry (its outputs)."""
    count = len(x)
    h = [BASE_STEP * max(abs(v), 1.0) for v in x]
    if max_step is not None:
        h = [min(a, b) for a, b in zip(h, max_step, strict=True)]
    first = _pair_differences_small(evaluate, on_lists, x, list(range(count)), h, tolerance)
    value, error, suspect, uncertain, width = first
    step = list(h)
    budget = WORK_BUDGET - count * per_entry
    for factor in REFINE_FACTORS:
        rows = [r for r in range(count) if uncertain[r]]
        if not rows or budget < len(rows) * per_entry:
            break
        budget -= len(rows) * per_entry
        trial = [h[r] * factor for r in rows]
        if max_step is not None:
            trial = [min(t, max_step[r]) for t, r in zip(trial, rows, strict=True)]
        v, e, sus, doubt, _ = _pair_differences_small(evaluate, on_lists, x, rows, trial, tolerance)
        for j, r in enumerate(rows):
            new, old = slice(j * width, (j + 1) * width), slice(r * width, (r + 1) * width)
            if max(e[new]) < max(error[old]):  # a row takes the step when its worst shrinks
                value[old], error[old], suspect[old] = v[new], e[new], sus[new]
                step[r], uncertain[r] = trial[j], doubt[j]
    cells = [s for s in step for _ in range(width)] if width > 1 else step
    return EntryLists((count * width,), value, error, cells, suspect)


def _pair_differences_small(
    evaluate: PairEvaluation,
    on_lists: ListEvaluation | None,
    x: list[float],
    positions: list[int],
    h: list[float],
    tolerance: Tolerance,
) -> tuple[list[float], list[float], list[bool], list[bool], int]:
    """:func:`_pair_differences` for a few entries: flat lists (row r: entry positions[r]'s
    outputs) of values, float32-rounded errors and suspects; per row whether the estimate is
    too uncertain (:func:`_too_uncertain` of any of its cells); the row width."""
    k = len(positions)
    if not k:
        return [], [], [], [], 0
    steps = h + [v / 2 for v in h]
    if on_lists is not None:
        plus, minus = on_lists(x, positions + positions, steps)
    else:
        pair = evaluate(torch.tensor(positions + positions), torch.tensor(steps, dtype=F64))
        plus, minus = flat_list(pair[0].double()), flat_list(pair[1].double())
    width = len(plus) // (2 * k)
    half = k * width
    cell_steps = h if width == 1 else [v for v in h for _ in range(width)]
    rounding = ROUNDING_SAFETY * EPS64
    isfinite, inf = math.isfinite, math.inf
    values, errors, suspects = [], [], []
    cells = zip(plus[:half], minus[:half], plus[half:], minus[half:], cell_steps, strict=True)
    for p, m, hp, hm, step in cells:  # step h: p, m; step h/2: hp, hm
        fine = (hp - hm) / step
        spread = abs((p - m) / (2 * step) - fine)
        if p == p and m == m and hp == hp and hm == hm:  # no NaN: max() is torch's maximum
            error = spread + rounding * max(abs(p), abs(m), abs(hp), abs(hm)) / step
            if not (isfinite(fine) and isfinite(error)):
                error = inf
            elif error > FLOAT32_MAX:
                error = FLOAT32_MAX
        else:
            error = inf
        values.append(fine)
        errors.append(error)
        suspects.append(spread > SUSPECT_SPREAD * abs(fine))
    errors = array("f", errors).tolist()  # as the float32 tensor stores them (∞ stays ∞)
    atol, rtol = tolerance.atol, tolerance.rtol
    doubtful = [not e <= 0.5 * (atol + rtol * abs(v)) for v, e in zip(values, errors, strict=True)]
    if width == 1:
        uncertain = doubtful
    else:
        uncertain = [any(doubtful[r * width : (r + 1) * width]) for r in range(k)]
    return values, errors, suspects, uncertain, width


def _row_max(values: Tensor) -> Tensor:
    return values.reshape(values.shape[0], -1).max(dim=1).values


def _too_uncertain(value: Tensor, error: Tensor, tolerance: Tolerance) -> Tensor:
    """Entries whose error estimate is too large for the numeric column to settle the verdict."""
    return ~(error <= 0.5 * (tolerance.atol + tolerance.rtol * value.abs()))


def _differences(
    evaluate: PairEvaluation,
    index: Tensor,
    h: Tensor,
    chunk: int,
    out: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """(f(x + h/2) − f(x − h/2))/h per entry, its error estimate (into ``out`` if given) and
    whether it is suspect (its two stencils disagree by more than SUSPECT_SPREAD)."""
    value = error = suspect = None
    if out is not None:
        value, error = out
    for start in range(0, index.numel(), chunk):
        part = slice(start, start + chunk)
        v, e, sus = _pair_differences(evaluate, index[part], h[part])
        if value is None:  # the first chunk tells the shape of one entry's outputs
            value = torch.empty(index.numel(), *v.shape[1:], dtype=torch.float64)
            error = torch.empty(value.shape, dtype=torch.float32)
        if suspect is None:
            suspect = torch.empty(value.shape, dtype=torch.bool)
        value[part] = v
        error[part] = torch.where(torch.isfinite(e), e.clamp(max=FLOAT32_MAX), e)  # float32
        suspect[part] = sus
    return value, error, suspect


def _pair_differences(
    evaluate: PairEvaluation, index: Tensor, h: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Both stencils in one evaluation: rows [0, k) step h, rows [k, 2k) step h/2."""
    k = index.numel()
    plus, minus = evaluate(torch.cat([index, index]), torch.cat([h, h / 2]))
    plus, minus = plus.double(), minus.double()
    width = _expand(h, plus[:k])
    coarse = (plus[:k] - minus[:k]) / (2 * width)
    fine = (plus[k:] - minus[k:]) / width
    magnitude = torch.maximum(plus.abs(), minus.abs())
    magnitude = torch.maximum(magnitude[:k], magnitude[k:])
    spread = (coarse - fine).abs_()
    suspect = spread > SUSPECT_SPREAD * fine.abs()
    error = spread.add_(ROUNDING_SAFETY * EPS64 * magnitude / width)
    error.masked_fill_(~(torch.isfinite(fine) & torch.isfinite(error)), math.inf)
    return fine, error, suspect


def _expand(h: Tensor, like: Tensor) -> Tensor:
    """Per-row steps broadcast over the rest of ``like``'s dimensions."""
    return h.reshape(h.shape[0], *([1] * (like.dim() - 1))).expand(like.shape)


def flat_list(tensor: Tensor) -> list:
    """The entries as a flat list (no reshape for a vector: each torch call costs µs)."""
    return tensor.tolist() if tensor.dim() == 1 else tensor.reshape(-1).tolist()


def _reshape(estimate: NumericEstimate, shape: tuple[int, ...]) -> NumericEstimate:
    if estimate.lists is not None:
        if estimate.lists.shape == shape:
            return estimate
        return estimate.replace(lists=estimate.lists.reshaped(shape))
    if tuple(estimate.value.shape) == shape:
        return estimate

    def shaped(tensor: Tensor | None) -> Tensor | None:
        return None if tensor is None else tensor.reshape(shape)

    return estimate.replace(
        value=estimate.value.reshape(shape),
        error=estimate.error.reshape(shape),
        checked=estimate.checked.reshape(shape),
        step=estimate.step.reshape(shape),
        smooth=shaped(estimate.smooth),
        suspect=shaped(estimate.suspect),
        unresolved=shaped(estimate.unresolved),
    )


def _transpose(estimate: NumericEstimate) -> NumericEstimate:
    """The estimate with its two dimensions swapped, as views (no copies): a Jacobian, whose
    column j holds input entry j."""
    if estimate.lists is not None:
        return estimate.replace(lists=estimate.lists.transposed(), by_column=True)
    return estimate.replace(
        value=estimate.value.T,
        error=estimate.error.T,
        checked=estimate.checked.T,
        step=estimate.step.T,
        suspect=None if estimate.suspect is None else estimate.suspect.T,
        by_column=True,
    )


# ---------------------------------------------------------------- the verdict


def judge(
    analytic: Tensor,
    autograd: Tensor,
    numeric: NumericEstimate | Tensor | None,
    tolerance: Tolerance,
    trusted: Tensor | None = None,
    defined: Tensor | None = None,
) -> GradientCheck:
    """Compare the three gradients entry by entry and give the verdict.

    Analytic vs autograd always counts, and an entry where either is NaN or ∞ never agrees.
    Analytic vs numeric counts where the finite difference was computed, is finite, has a
    small enough error estimate and is ``trusted`` by the caller (False next to a kink).
    Entries where ``defined`` is False (a derivative that does not exist there) are shown
    but left out of the verdict. A few entries are judged on Python floats (the same
    operations, the same bits; a test runs both), many with whole-tensor operations.
    """
    if isinstance(numeric, torch.Tensor):
        numeric = NumericEstimate.exact(numeric)
    a64, g64 = analytic.double(), autograd.double()
    shape = tuple(a64.shape) or (1,)
    plain = (flat_list(a64), flat_list(g64)) if a64.numel() <= SMALL_ENTRIES else None
    verdict = _verdict(a64, g64, plain, numeric, trusted, defined, tolerance)
    if not verdict.agree and numeric is not None and numeric.probe is not None:
        # a difference that disagrees must first show that it resolves f (see resolve)
        disagree = _tensor_of(verdict.usable, a64.shape) & ~_tensor_of(verdict.ok, a64.shape)
        resolved = resolve(numeric, disagree)
        if resolved is not numeric:
            numeric = resolved
            verdict = _verdict(a64, g64, plain, numeric, trusted, defined, tolerance)
    return GradientCheck(
        analytic=to_grid(a64) if plain is None else Grid(array("d", plain[0]), shape),
        autograd=to_grid(g64) if plain is None else Grid(array("d", plain[1]), shape),
        numeric=None if numeric is None else _numeric_grid(numeric),
        trusted=verdict.usable,
        abs_diff=verdict.diff,
        ok=verdict.ok,
        max_abs_diff=verdict.max_abs_diff,
        agree=verdict.agree,
        tolerance=tolerance,
        numeric_error_max=None if verdict.error_max is None else float(f"{verdict.error_max:.2g}"),
        numeric_sampled=bool(numeric is not None and numeric.sampled),
        numeric_checked=None if numeric is None else numeric.checked_count(),
        defined=None if defined is None else to_grid(defined.expand(shape)),
        notes=tuple(_numeric_notes(numeric, verdict, a64.numel())),
    )


def _numeric_grid(numeric: NumericEstimate) -> Grid:
    """The numeric column, blank where an entry was not computed."""
    lists = numeric.lists
    if lists is not None:
        return Grid(array("d", lists.value), lists.shape or (1,))
    return to_grid(numeric.value, numeric.checked)


def _verdict(
    a64: Tensor,
    g64: Tensor,
    plain: tuple[list[float], list[float]] | None,
    numeric: NumericEstimate | None,
    trusted: Tensor | None,
    defined: Tensor | None,
    tolerance: Tolerance,
) -> Verdict:
    """The verdict on whole tensors, or on Python floats when ``plain`` holds the analytic
    and autograd entries (a few of them)."""
    if plain is None:
        return _verdict_tensors(Columns.of(a64, g64, numeric, trusted, defined), tolerance)
    shape = tuple(a64.shape) or (1,)
    caller = None  # None: every entry
    if numeric is not None:
        for mask in (trusted, numeric.smooth):
            if mask is not None:
                flags = flat_list(mask.expand_as(a64))
                caller = (
                    flags
                    if caller is None
                    else [p and q for p, q in zip(caller, flags, strict=True)]
                )
    exists = None if defined is None else flat_list(defined.expand(shape))
    return _verdict_lists(plain[0], plain[1], numeric, caller, exists, shape, tolerance)


def _tensor_of(grid: Grid | None, shape: torch.Size) -> Tensor:
    """A boolean Grid as a tensor of ``shape`` (None: every entry False)."""
    if grid is None or not len(grid.data):
        return torch.zeros(shape, dtype=torch.bool)
    return torch.frombuffer(grid.data, dtype=torch.int8).bool().reshape(shape)


@dataclass(frozen=True)
class Columns:
    """What the verdict reads, each the analytic column's shape (views where possible)."""

    analytic: Tensor
    autograd: Tensor
    numeric: NumericEstimate | None
    caller_ok: Tensor | None  # the caller's trust (kinks) and the stencil's smoothness
    defined: Tensor | None

    @property
    def total(self) -> int:
        return self.analytic.numel()

    @staticmethod
    def of(
        a64: Tensor,
        g64: Tensor,
        numeric: NumericEstimate | None,
        trusted: Tensor | None,
        defined: Tensor | None,
    ) -> Columns:
        caller_ok = None  # None: every entry
        if numeric is not None:
            for mask in (trusted, numeric.smooth):
                if mask is not None:
                    mask = mask.expand_as(a64)
                    caller_ok = mask if caller_ok is None else caller_ok & mask
        return Columns(a64, g64, numeric, caller_ok, defined)


@dataclass(frozen=True)
class Verdict:
    """Per-entry results (as grids) and the counts the notes need."""

    diff: Grid
    ok: Grid
    usable: Grid | None
    max_abs_diff: float
    agree: bool
    error_max: float | None
    overflowed: int = 0
    uncertain: int = 0
    worst_uncertain: float = 0.0
    unresolved: int = 0


def _verdict_tensors(c: Columns, tolerance: Tolerance) -> Verdict:
    a64, g64, numeric = c.analytic, c.autograd, c.numeric
    diff = (a64 - g64).abs_()
    ok = torch.isfinite(a64) & torch.isfinite(g64)
    ok &= diff <= tolerance.atol + tolerance.rtol * g64.abs()
    diff.nan_to_num_(nan=math.inf)
    usable = error_max = None
    overflowed = uncertain = unresolved = 0
    worst = 0.0
    if numeric is not None:
        n64 = numeric.value
        too_uncertain = _too_uncertain(n64, numeric.error, tolerance)
        finite = torch.isfinite(n64)
        caller_ok = torch.ones_like(finite) if c.caller_ok is None else c.caller_ok
        usable = numeric.checked & finite & ~too_uncertain & caller_ok
        numeric_diff = torch.where(usable, (a64 - n64).abs_(), 0.0).nan_to_num_(nan=math.inf)
        ok &= numeric_diff <= tolerance.atol + tolerance.rtol * n64.abs().nan_to_num_(0.0)
        torch.maximum(diff, numeric_diff, out=diff)
        del numeric_diff
        error_max = float(numeric.error[usable].max()) if bool(usable.any()) else None
        looked_at = numeric.checked & caller_ok
        overflow_mask = looked_at & ~finite
        uncertain_mask = looked_at & finite & too_uncertain
        if numeric.unresolved is not None:  # their error is ∞ for another reason: noted apart
            unresolved_mask = uncertain_mask & numeric.unresolved
            unresolved = int(unresolved_mask.sum())
            uncertain_mask &= ~numeric.unresolved
        overflowed, uncertain = int(overflow_mask.sum()), int(uncertain_mask.sum())
        worst = float(numeric.error[uncertain_mask].max()) if uncertain else 0.0
    if c.defined is not None:
        ok |= ~c.defined
        diff = torch.where(c.defined, diff, 0.0)
    return Verdict(
        diff=to_grid(diff, typecode="f"),
        ok=to_grid(ok),
        usable=None if usable is None else to_grid(usable.expand_as(a64)),
        max_abs_diff=float(diff.max()) if diff.numel() else 0.0,
        agree=bool(ok.all()),
        error_max=error_max,
        overflowed=overflowed,
        uncertain=uncertain,
        worst_uncertain=worst,
        unresolved=unresolved,
    )


def _verdict_small(c: Columns, tolerance: Tolerance) -> Verdict:
    """:func:`_verdict_tensors` on Python floats, operation for operation."""
    shape = tuple(c.analytic.shape) or (1,)
    return _verdict_lists(
        flat_list(c.analytic),
        flat_list(c.autograd),
        c.numeric,
        None if c.caller_ok is None else flat_list(c.caller_ok),
        None if c.defined is None else flat_list(c.defined.expand(shape)),
        shape,
        tolerance,
    )


def _verdict_lists(
    a: list[float],
    g: list[float],
    numeric: NumericEstimate | None,
    caller: list[bool] | None,
    defined: list[bool] | None,
    shape: tuple[int, ...],
    tolerance: Tolerance,
) -> Verdict:
    """The verdict of :func:`_verdict_tensors` from flat lists, the same bits. (Tolerances
    are finite and ≥ 0, so an entry whose difference is left out changes nothing.)"""
    atol, rtol = tolerance.atol, tolerance.rtol
    isfinite, inf = math.isfinite, math.inf
    diffs, oks = [], []
    for x, y in zip(a, g, strict=True):
        d = abs(x - y)
        oks.append(isfinite(x) and isfinite(y) and d <= atol + rtol * abs(y))
        diffs.append(d if d < inf else inf if d != d else FLOAT64_MAX)  # torch.nan_to_num
    usable = error_max = None
    overflowed = uncertain = unresolved = 0
    worst = 0.0
    if numeric is not None:
        values, errors, checked = numeric.flat_lists()
        aliased = None if numeric.unresolved is None else flat_list(numeric.unresolved)
        usable = [False] * len(a)
        counted = []
        for k, (x, v, e) in enumerate(zip(a, values, errors, strict=True)):
            if (checked is not None and not checked[k]) or (caller is not None and not caller[k]):
                continue
            if not isfinite(v):
                overflowed += 1
                continue
            bound = atol + rtol * abs(v)
            if not e <= 0.5 * bound:  # too uncertain to settle the verdict
                if aliased is not None and aliased[k]:
                    unresolved += 1
                else:
                    uncertain += 1
                    worst = max(worst, e)
                continue
            usable[k] = True
            counted.append(e)
            d = abs(x - v)
            d = d if d < inf else inf if d != d else FLOAT64_MAX
            if not d <= bound:
                oks[k] = False
            if d > diffs[k]:
                diffs[k] = d
        error_max = max(counted) if counted else None
    if defined is not None:
        for k, exists in enumerate(defined):
            if not exists:
                oks[k], diffs[k] = True, 0.0
    largest = max(diffs) if diffs else 0.0
    if largest > FLOAT32_LARGEST:
        cells = array("f", [_float32_cell(d) for d in diffs])
    else:
        cells = array("f", diffs)
    return Verdict(
        diff=Grid(cells, shape),
        ok=Grid(array("b", oks), shape),
        usable=None if usable is None else Grid(array("b", usable), shape),
        max_abs_diff=largest,
        agree=all(oks),
        error_max=error_max,
        overflowed=overflowed,
        uncertain=uncertain,
        worst_uncertain=worst,
        unresolved=unresolved,
    )


FLOAT64_MAX = sys.float_info.max
FLOAT32_LARGEST = 3.4028234663852886e38


def _float32_cell(value: float) -> float:
    """What converting a float64 tensor to float32 gives for values beyond float32's range."""
    return math.copysign(math.inf, value) if abs(value) > FLOAT32_LARGEST else value


def to_grid(tensor: Tensor, present: Tensor | None = None, typecode: str = "d") -> Grid:
    """A torch tensor as a compact :class:`Grid` (a 0-dim tensor becomes one entry), copied
    in one memcpy rather than element by element; ``present`` marks the entries that exist;
    ``typecode`` "f" keeps float32 (for differences shown to two digits)."""
    shape = tuple(tensor.shape) or (1,)
    if tensor.dtype == torch.bool:
        data = _array(tensor.to(torch.int8), "b")
    elif typecode == "f":
        data = _array(tensor.detach().to(torch.float32), "f")
    else:
        data = _array(tensor.detach().to(torch.float64), "d")
    mask = None
    if present is not None and not bool(present.all()):
        mask = _array(present.to(torch.int8), "b")
    return Grid(data, shape, mask)


SMALL_GRID = 4096  # entries: below this, tolist() is faster than a memmove's set-up


def _array(tensor: Tensor, typecode: str) -> array:
    """The tensor's entries copied straight into a new array (one memmove)."""
    if tensor.numel() < SMALL_GRID:
        return array(typecode, flat_list(tensor))
    flat = tensor.contiguous().reshape(-1)
    values = array(typecode, bytes(array(typecode).itemsize)) * flat.numel()
    if flat.numel():
        address, _ = values.buffer_info()
        ctypes.memmove(address, flat.data_ptr(), flat.numel() * flat.element_size())
    return values


def _numeric_notes(numeric: NumericEstimate | None, verdict: Verdict, total: int) -> list[str]:
    """Sentences saying which finite differences were sampled or left out, and why."""
    if numeric is None:
        return []
    notes = []
    if numeric.skipped:
        notes.append(numeric.skipped + "; autograd still checks the formula.")
    elif numeric.sampled:
        checked = int(numeric.checked.sum())
        notes.append(
            f"numeric: {checked:,} of {total:,} entries computed, a seeded random sample "
            f"(all of them would take about {numeric.work:.1e} element evaluations, over the "
            f"budget of {WORK_BUDGET:.0e}); the others are left blank."
        )
    if verdict.overflowed:
        count = verdict.overflowed
        notes.append(
            f"numeric: {_entries(count)} overflowed (f(x ± h) is not finite) and "
            f"{'is' if count == 1 else 'are'} left out of the verdict (shown ~)."
        )
    if verdict.unresolved:
        count = verdict.unresolved
        notes.append(
            f"numeric: {_entries(count)} left out of the verdict (shown ~): the finite "
            "difference does not resolve the function — between the input's neighbouring "
            f"float64 numbers (up to {numeric.spacing:.2g} apart here) it changes by more than "
            "the difference's slope explains, so it varies on a scale finer than the step, and "
            "the step it would need is below the input's spacing. Analytic and autograd "
            f"decide {'it' if count == 1 else 'them'}."
        )
    if verdict.uncertain:
        count, worst = verdict.uncertain, verdict.worst_uncertain
        bound = "above 3e+38" if worst >= FLOAT32_MAX else f"up to {worst:.1e}"
        notes.append(
            f"numeric: {_entries(count)} left out of the verdict (shown ~): no step size gave a "
            f"finite difference accurate enough for the tolerance (error estimate {bound}), so "
            f"that column cannot settle {'it' if count == 1 else 'them'}."
        )
    return notes


def _entries(count: int) -> str:
    return f"{count:,} entr{'y' if count == 1 else 'ies'}"


# ---------------------------------------------------------------- overflow: one rule

# Overflow is never a disagreement and never a verdict: a value computed from finite inputs
# that is NaN or ∞ — in the forward (f(x), L, y, E) or in either gradient — means the inputs
# leave the dtype's range, so there is nothing to compare. Every command reports it the same
# way: an InputError (one ``Error:`` line, exit 2, as for any input outside the command's
# domain) naming where, and what to change.

SHOWN_PLACES = 3  # places named in an overflow message before "and N more"


def overflow_hint(dtype: str, change: str = "smaller values") -> str:
    """What to try: float64 first when computing in float32, else ``change``."""
    return "try --dtype float64" if dtype == "float32" else f"try {change}"


def raise_if_not_finite(
    values: Tensor | float | list[float],
    what: str,
    where: Callable[[int], str] | None,
    dtype: str,
    change: str = "smaller values",
    symbol: str | None = None,
) -> None:
    """InputError when ``values`` (computed from finite inputs; a tensor, a number or a flat
    list) hold NaN or ∞: ``what`` overflows the dtype at the places ``where(k)`` names (flat
    index k; None for a scalar, shown as ``symbol = inf``)."""
    if _all_finite(values):
        return
    flat = torch.as_tensor(values).detach().reshape(-1)
    bad = ~torch.isfinite(flat)
    if not bool(bad.any()):
        return
    positions = bad.nonzero().reshape(-1).tolist()
    first = float(flat[positions[0]])
    if where is None:
        found = f" ({symbol or what} = {first:g})"
    elif flat.numel() == 1:
        found = f" at {where(positions[0])} ({first:g})"
    else:
        named = ", ".join(where(k) for k in positions[:SHOWN_PLACES])
        more = len(positions) - SHOWN_PLACES
        found = (
            f" at {named}{f' and {more:,} more' if more > 0 else ''} ({len(positions):,} of "
            f"{flat.numel():,} values inf or nan; the first is {first:g})"
        )
    raise InputError(
        f"{what} overflows {dtype}{found}, so there is nothing to compare; "
        + overflow_hint(dtype, change)
    )


def _all_finite(values: Tensor | float | list[float]) -> bool:
    """Whether every value is finite: a few on Python floats (a torch call costs µs)."""
    if isinstance(values, float):
        return math.isfinite(values)
    if isinstance(values, list):
        return all(map(math.isfinite, values))
    if values.numel() <= SMALL_GRID:
        return all(map(math.isfinite, flat_list(values.detach())))
    return bool(torch.isfinite(values).all())


def raise_if_overflowed(
    check: GradientCheck, where: Callable[[int], str], dtype: str, change: str = "smaller values"
) -> None:
    """InputError when the analytic or the autograd gradient is NaN or ∞ at an entry (where
    the derivative exists): the gradient overflows the dtype there — not a disagreement.
    ``where(k)`` names flat entry k."""
    flat_a, flat_g = check.analytic.data, check.autograd.data
    if all(map(math.isfinite, flat_a)) and all(map(math.isfinite, flat_g)):
        return
    exists = [True] * len(flat_a) if check.defined is None else check.defined.flat()
    bad = [
        k
        for k, (a, g) in enumerate(zip(flat_a, flat_g, strict=True))
        if exists[k] and not (math.isfinite(a) and math.isfinite(g))
    ]
    if not bad:
        return
    first = bad[0]
    named = ", ".join(where(k) for k in bad[:SHOWN_PLACES])
    more = len(bad) - SHOWN_PLACES
    raise InputError(
        f"the gradient overflows {dtype} at {named}{f' and {more:,} more' if more > 0 else ''} "
        f"(analytic {flat_a[first]:g}, autograd {flat_g[first]:g}"
        + (f"; {len(bad):,} of {len(flat_a):,} entries" if len(bad) > 1 else "")
        + "), so there is nothing to compare; "
        + overflow_hint(dtype, change)
    )


def _flat(values: list) -> list:
    return (
        [v for row in values for v in _flat(row)]
        if values and isinstance(values[0], list)
        else values
    )


# ---------------------------------------------------------------- whole checks


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
    if not kinks:
        numeric = numeric_elementwise(forward, x, settings.tolerance)
        return judge(analytic, autograd, numeric, settings.tolerance)
    x64 = x.double()
    distance = torch.full_like(x64, math.inf)
    for kink in kinks:
        distance = torch.minimum(distance, (x64 - kink).abs())
    trusted = distance > KINK_MARGIN * torch.clamp(x64.abs(), min=1.0)
    # near a kink, stencils stay on its side (steps below half the distance to it); on one,
    # the plain step straddles it and the value is shown, flagged, outside the verdict
    cap = torch.where(trusted, distance / 2, torch.full_like(distance, math.inf))
    numeric = numeric_elementwise(forward, x, settings.tolerance, max_step=cap)
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
    outputs = analytic.shape[0]  # the formula's m × n tells f's size: no call to learn it
    autograd = jacobian_autograd(f, x, outputs)
    numeric = None
    if settings.numeric:
        point = x if numeric_at is None else numeric_at
        numeric = numeric_jacobian(f, point, settings.tolerance, outputs=outputs)
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
    numeric = numeric_gradient(loss, x, settings.tolerance) if settings.numeric else None
    return judge(analytic, autograd, numeric, settings.tolerance, trusted)
