"""Result of `gradcli check`: the user's backward vs finite differences, and why it is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.outcome import Outcome
from gradcli.results import flatten

MISMATCH_LIMIT = 20  # mismatching indices listed in JSON
DETAIL_LIMIT = 5  # mismatches shown with their values


@dataclass(frozen=True)
class InputSpec:
    """One ``--input``: random values of a shape, literal values, or integers (no gradient)."""

    text: str
    kind: str  # "random" | "literal" | "int"
    shape: tuple[int, ...]
    values: tuple[float, ...] = ()  # literal values, row-major
    high: int = 0  # integers are drawn from [0, high)

    @property
    def size(self) -> int:
        size = 1
        for n in self.shape:
            size *= n
        return size


@dataclass(frozen=True)
class InputInfo:
    """An input as passed to the user's code."""

    name: str
    shape: list[int]
    dtype: str
    spec: str
    requires_grad: bool
    values: list  # nested, the input's shape

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": self.shape,
            "dtype": self.dtype,
            "spec": self.spec,
            "requires_grad": self.requires_grad,
            "values": self.values,
        }


@dataclass(frozen=True)
class Mismatch:
    """One wrong entry: where, for which upstream vector, and the two values."""

    index: list[int]  # into the input
    probe: str  # e.g. "out[0, 1]" (one-hot dout) or "v2" (random dout)
    analytic: float
    numeric: float
    value: float  # the input's entry there


@dataclass(frozen=True)
class GradientBlock:
    """One input's gradient (order 1) or one argument's second-order gradient (order 2).

    ``analytic``/``numeric`` are nested with shape ``probes + input shape``: the full
    Jacobian (probes = the output's shape, one-hot douts) or one row per random dout.
    """

    input: str
    order: int
    shape: list[int]
    size: int
    compared: bool  # False when the returned gradient could not be compared at all
    analytic: list | None
    numeric: list | None  # None where an entry was not computed
    numeric_error: list | None
    checked: list | None  # the entries the verdict counted
    ok: list | None  # per entry: True/False where checked, None elsewhere
    entry_ok: list  # per input entry: True, False, or None (not checked)
    max_abs_diff: float
    mismatches: list[list[int]]
    mismatch_count: int
    checked_count: int
    details: list[Mismatch]
    agree: bool
    problem: str | None = None  # why it was not compared (None returned, wrong shape…)

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "order": self.order,
            "shape": self.shape,
            "size": self.size,
            "compared": self.compared,
            "analytic": self.analytic,
            "numeric": self.numeric,
            "numeric_error": self.numeric_error,
            "checked": self.checked,
            "max_abs_diff": self.max_abs_diff,
            "mismatches": self.mismatches,
            "mismatch_count": self.mismatch_count,
            "checked_count": self.checked_count,
            "agree": self.agree,
            "problem": self.problem,
        }


# code → (what it means, the example in examples/ that shows it): one definition for the
# diagnoses, their documentation table (docs/check.md) and the tests
DIAGNOSES: dict[str, tuple[str, str]] = {
    "known-slip": (
        "your forward is recognised as a registry function (an activation, softmax, a loss, a "
        "layer) and your backward makes one of the slips `--expect` names for it — e.g. "
        "`return dout * sigmoid(x)`, σ(x) itself, or `x * (1 - x)` with x where σ(x) belongs",
        "bad_sigmoid_output.py, bad_sigmoid_input_form_numpy.py, bad_softmax_diagonal_numpy.py",
    ),
    "straight-through": (
        "a straight-through estimator: the forward is piecewise constant (true gradient 0) and "
        "the backward passes dout through or clipped, a surrogate by design — e.g. "
        "`forward: x.sign()`, `backward: return dout`",
        "ste_sign.py",
    ),
    "gradient-reversal": (
        "a gradient reversal layer: forward the identity, backward −λ·dout by design — e.g. "
        "`return -lambd * grad_output`",
        "gradient_reversal.py",
    ),
    "constant-factor": (
        "yours = c × the true gradient at every entry; c named (2, ½, −1…) — e.g. "
        "`y * (y - 1)` for σ'",
        "bad_sigmoid.py, bad_square_factor2.py, bad_half_numpy.py",
    ),
    "mean-vs-sum": (
        "yours = N × or 1/N × the true gradient, N the size of one named dimension (the batch, "
        "the columns…): a sum where the forward takes a mean along it, or the reverse — e.g. "
        "no `/ N` after `dout.expand(N, -1)`",
        "bad_mean_torch.py, bad_mean_columns_numpy.py",
    ),
    "output-as-gradient": (
        "yours = dout ⊙ y, the forward's output itself instead of its derivative — e.g. "
        "`return dout * out`",
        "bad_output_as_gradient.py",
    ),
    "identity-upstream": (
        "yours = dout: the upstream gradient returned unchanged — e.g. `return grad_output`",
        "bad_identity_numpy.py",
    ),
    "diagonal-only": (
        "yours = dout_i · ∂y_i/∂x_i: only the diagonal of a full Jacobian, as if elementwise — "
        "e.g. `p * (1 - p) * dout` for a normalisation",
        "bad_normalise_diagonal_numpy.py",
    ),
    "gradient-at-output": (
        "yours is the true gradient evaluated at the output y instead of the input x — e.g. "
        "`dout * f_prime(out)`",
        "bad_gradient_at_output.py",
    ),
    "missing-factor": (
        "a chain-rule factor is missing that is a value the forward computes (named by how it "
        "was computed), or yours is the derivative of an intermediate value alone (the chain "
        "or product rule stopped early) — e.g. `dout * sigmoid(x) * (1 - t**2)` for Mish",
        "bad_mish.py, bad_missing_factor_numpy.py",
    ),
    "transposed": (
        "yours is the transpose of the true gradient (or of its Jacobian; also when that "
        "makes the shape wrong) — e.g. `x.T @ dout` where `dout.T @ x` is needed",
        "bad_linear_transposed.py",
    ),
    "upstream-ignored": (
        "backward(2.5·dout) = backward(dout): dout (grad_output) is never multiplied in — e.g. "
        "`return 1 - y**2`",
        "bad_tanh_upstream.py, bad_scale_upstream_numpy.py",
    ),
    "not-linear": (
        "backward(2.5·dout) is neither backward(dout) nor 2.5 × it (dout squared, added…) — "
        "e.g. `return dout + 2 * x`",
        "bad_not_linear.py",
    ),
    "wrong-input": (
        "the gradient returned for one input is the true gradient of another (wrong order) — "
        "e.g. `return dy, dx`",
        "bad_mul_swapped.py",
    ),
    "region": (
        "wrong exactly in one region — where an input is < 0 or > 0 (a missing mask, a kink), "
        "a row, column, channel or block — and right elsewhere — e.g. ReLU's `return dout`",
        "bad_relu.py, bad_relu_torch.py, bad_linear_row.py",
    ),
    "zero": (
        "yours is 0 everywhere, the true gradient is not — e.g. `dx = np.zeros_like(x)` never "
        "filled",
        "bad_zero_numpy.py",
    ),
    "non-finite": (
        "yours has NaN or ∞ where the true gradient is finite — e.g. `np.exp(x) / (1 + "
        "np.exp(x))` at x = 1000",
        "bad_softplus_nan.py",
    ),
    "wrong-shape": (
        "a returned gradient has another shape than its input (with the fix when one is "
        "evident: sum over the batch, drop keepdims, reshape) — e.g. `db = dout` for a batch",
        "bad_bias_shape.py",
    ),
    "wrong-dtype": (
        "a NumPy or torch pair returns a gradient of another dtype than its input (the values "
        "are still judged; for an autograd.Function, which torch casts, only a note) — e.g. "
        "`np.zeros(x.shape, dtype=int)`",
        "bad_dtype_numpy.py",
    ),
    "wrong-type": (
        "backward returned something that is not a tensor / array — e.g. `return dx.tolist()`",
        "bad_type_numpy.py",
    ),
    "none-gradient": (
        "backward returned None for an input whose true gradient is not 0 — e.g. "
        "`return grad_input, None` for a weight",
        "bad_none.py",
    ),
    "wrong-count": (
        "backward returned more or fewer values than forward has inputs — e.g. `return dx` "
        "for forward(x, w)",
        "bad_count.py",
    ),
    "detached": (
        "an input gets no gradient through autograd (a .detach(), .item(), NumPy…) though the "
        "output depends on it; at --order 2: the backward is not differentiable — e.g. "
        "`x.detach()` inside the function",
        "bad_sigmoid_second.py",
    ),
    "non-deterministic": (
        "two backward calls with the same inputs and dout differ (state kept between calls) — "
        "e.g. `self.grad += …` never reset",
        "bad_accumulate.py",
    ),
    "in-place": (
        "forward or backward changed an input, or backward its dout, in place — e.g. "
        "`dx = dout; dx[x <= 0] = 0`",
        "bad_inplace.py, bad_dout_inplace_numpy.py",
    ),
    "unexplained": (
        "some entries are wrong and no pattern above explains all of them: which ones, and by "
        "how much (relative to the true values, and the worst) — e.g. a batch norm forward "
        "using `np.std(var + eps)`",
        "",
    ),
}


@dataclass(frozen=True)
class Diagnosis:
    """A mistake that explains what was seen, in words."""

    code: str
    message: str
    input: str | None = None
    order: int = 1

    def __post_init__(self) -> None:
        if self.code not in DIAGNOSES:  # pragma: no cover  (a programming error)
            raise ValueError(f"undocumented diagnosis code {self.code!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "input": self.input,
            "order": self.order,
        }


@dataclass(frozen=True)
class CheckResult(Outcome):
    """Everything `gradcli check` found."""

    target: str
    backward: str | None
    kind: str  # "function" | "autograd.Function" | "forward/backward"
    numpy: bool
    order: int
    mode: str  # "full" (the whole Jacobian) | "projections" (random upstream vectors)
    probes: int  # backward calls per check (one per output entry, or per random dout)
    inputs: list[InputInfo]
    output_shape: list[int]
    gradients: list[GradientBlock]  # order 1, one per input that takes a gradient
    second_order: list[GradientBlock]  # order 2 (with --order 2), inputs then dout
    diagnoses: list[Diagnosis]
    agree: bool
    dtype: str
    atol: float
    rtol: float
    seed: int
    notes: list[str] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)  # {name, shape} per output
    kwargs: dict[str, Any] = field(default_factory=dict)  # --kwarg values
    convention: str | None = None  # a pair's: "inputs" or "cs231n"
    answer: None = None
    command: str = "check"
    recognised: str | None = None  # the registry function the forward is ("sigmoid"…)

    def block_for(self, name: str) -> GradientBlock | None:
        return next((block for block in self.gradients if block.input == name), None)

    def to_json(self) -> dict[str, Any]:
        inputs = []
        for info in self.inputs:
            block = self.block_for(info.name)
            entry = info.to_json()
            entry.update(block.to_json() if block is not None else {"compared": False})
            entry.pop("input", None)
            inputs.append(entry)
        return {
            "command": self.command,
            "target": self.target,
            "backward": self.backward,
            "kind": self.kind,
            "numpy": self.numpy,
            "order": self.order,
            "mode": self.mode,
            "probes": self.probes,
            "inputs": inputs,
            "output_shape": self.output_shape,
            "outputs": self.outputs,
            "convention": self.convention,
            "kwargs": self.kwargs,
            "second_order": [block.to_json() for block in self.second_order],
            "diagnoses": [d.to_json() for d in self.diagnoses],
            "agree": self.agree,
            "dtype": self.dtype,
            "atol": self.atol,
            "rtol": self.rtol,
            "seed": self.seed,
            "notes": self.notes,
            "recognised": self.recognised,
        }

    def csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        header = ["order", "input", "probe", "index", "analytic", "numeric", "checked", "ok"]
        rows: list[list[Any]] = []
        for block in [*self.gradients, *self.second_order]:
            if block.analytic is None or block.numeric is None or block.ok is None:
                continue
            analytic, numeric = flatten_all(block.analytic), flatten_all(block.numeric)
            checked, oks = flatten_all(block.checked), flatten_all(block.ok)
            size = max(block.size, 1)
            for k, (a, n, c, ok) in enumerate(zip(analytic, numeric, checked, oks, strict=True)):
                probe, entry = divmod(k, size)
                index = "/".join(str(i) for i in unravel(entry, block.shape))
                rows.append([block.order, block.input, probe, index, a, n, c, ok])
        return header, rows


def flatten_all(values: Any) -> list:
    """Row-major entries of a nested list of any depth."""
    if not isinstance(values, list):
        return [values]
    out: list = []
    for item in values:
        out.extend(flatten_all(item) if isinstance(item, list) else [item])
    return out


def unravel(flat: int, shape: list[int]) -> list[int]:
    """The multi-index of entry ``flat`` in a row-major array of ``shape``."""
    index = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        index.append(i)
    return index[::-1]


__all__ = ["CheckResult", "Diagnosis", "GradientBlock", "InputInfo", "InputSpec", "flatten"]
