"""What a check found out about a backward, for the diagnoses to read (no terminal code).

``ArgEvidence`` per argument and ``Evidence`` for the whole check, plus the comparisons and the
finding constructor every diagnosis module shares (diagnose, patterns, recognise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradcli._torch import load
from gradcli.results.check import Diagnosis
from gradcli.settings import Tolerance

if TYPE_CHECKING:
    from gradcli.core.intermediates import Intermediate
    from gradcli.core.recognise import Recognition

torch = load()
Tensor = torch.Tensor


@dataclass
class ArgEvidence:
    """What is known about one argument's gradient. Tensors are float64, ``P × n``
    (P upstream vectors, n entries of the argument, flattened), unless said otherwise."""

    position: int
    name: str
    shape: tuple[int, ...]
    values: Tensor  # the argument itself, flat
    input_dtype: str
    analytic: Tensor | None  # the user's gradients (None when they cannot be compared)
    raw: list[Tensor | None]  # per upstream vector, as returned (any shape)
    states: list[str]  # per upstream vector: "ok", "none", "missing", "type:<name>"
    dtypes: list[str | None]
    numeric: Tensor  # NaN where not computed
    error: Tensor
    computed: Tensor  # bool
    checked: Tensor  # bool: counted by the verdict
    ok: Tensor  # bool: True where right or not checked
    scaled: Tensor | None  # the gradient for UPSTREAM_SCALE × the first upstream vector
    repeat_same: Tensor | None  # the first upstream vector again, same forward
    repeat_new: Tensor | None  # the first upstream vector again, after a new forward
    changed: str | None  # "forward" or "backward" changed this argument in place
    reduced_from: tuple[int, ...] | None = None  # torch summed a broadcast gradient of this shape
    jacobian: Tensor | None = None  # out_size × n finite differences, NaN where not computed

    @property
    def n(self) -> int:
        return self.values.numel()

    @property
    def entry_bad(self) -> Tensor:
        return (~self.ok).any(dim=0)

    @property
    def entry_checked(self) -> Tensor:
        return self.checked.any(dim=0)


@dataclass
class Evidence:
    """Every argument's evidence and what is shared."""

    args: list[ArgEvidence]
    order: int
    mode: str
    kind: str
    numpy: bool
    probes: Tensor  # P × out_size
    out_shape: list[int]
    output: Tensor  # flat
    tolerance: Tolerance
    counts: list[int | None]  # how many values each backward call returned
    n_args: int
    n_float: int
    names: list[str]
    scale: float = 2.5
    inputs: list[Tensor] = field(default_factory=list)  # every argument, float64 (ints as given)
    # the user's forward at other inputs (flat float64 output), and its intermediate values
    forward_at: Callable[[list[Tensor]], Tensor] | None = None
    record: Callable[[list[Tensor]], list[Intermediate]] | None = None
    dout_changed: bool = False  # backward changed its dout (grad_output) in place
    recognised: Recognition | None = None  # set by diagnose(): the registry function it is
    cache: dict[str, Any] = field(default_factory=dict)  # values computed once per check

    def recorded(self, inputs: list[Tensor] | None = None, key: str = "at x") -> list[Intermediate]:
        """The forward's intermediate values at ``inputs`` (default: the checked ones)."""
        if key not in self.cache:
            run = self.record
            self.cache[key] = [] if run is None else run(inputs or self.inputs)
        return self.cache[key]


def finding(code: str, message: str, arg: ArgEvidence | None, order: int) -> Diagnosis:
    prefix = "second order: " if order == 2 else ""
    return Diagnosis(code, prefix + message, None if arg is None else arg.name, order)


def partial(arg: ArgEvidence, order: int) -> str:
    return f"∂/∂{arg.name}" if order == 1 else f"∂(backward)/∂{arg.name}"


def close(a: Tensor, b: Tensor, mask: Tensor, tol: Tolerance) -> bool:
    """a ≈ b at every masked entry (and at least one is masked)."""
    if a.shape != b.shape or not bool(mask.any()):
        return False
    diff = (a - b).abs()[mask]
    return bool((diff <= tol.atol + tol.rtol * b[mask].abs()).all())


def all_close(a: Tensor, b: Tensor, tol: Tolerance) -> bool:
    if a.shape != b.shape:
        return False
    return bool(((a - b).abs() <= tol.atol + tol.rtol * b.abs()).all())


def nonzero(values: Tensor, mask: Tensor, tol: Tolerance) -> bool:
    """Some masked entry is clearly not zero."""
    picked = values[mask]
    return bool((picked.abs() > 10 * tol.atol).any()) if picked.numel() else False
