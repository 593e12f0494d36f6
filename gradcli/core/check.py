"""`gradcli check`: is the user's own backward right?

The user's code is one of three kinds:

* ``autograd.Function`` — a ``torch.autograd.Function`` subclass, called through ``.apply``;
  its ``backward`` is what is checked (through a subclass that records what it returns);
* ``function`` — a plain function of tensors; autograd through it (and through any custom
  op it uses) is checked;
* ``forward/backward`` — the course convention ``forward(*inputs) -> out`` and
  ``backward(dout, *inputs) -> grad or tuple of grads`` (torch tensors, or NumPy arrays).

The analytic side is the user's backward applied to upstream vectors ``dout`` (vector–Jacobian
products): one-hot ``dout`` for every output entry (the full Jacobian, row by row) when the
Jacobian is small, otherwise ``PROJECTIONS`` seeded random ``dout`` (like gradcheck's fast
mode). The numeric side is central differences of the forward in float64. Extra experiments
(a scaled ``dout``, repeated calls, copies of the inputs) feed the diagnoses.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcli._torch import load
from gradcli.core.diagnose import diagnose
from gradcli.core.engine import (
    BASE_STEP,
    EPS64,
    ROUNDING_SAFETY,
    SUSPECT_SPREAD,
    numeric_jacobian,
    one_thread,
    resolve_columns,
)
from gradcli.core.evidence import ArgEvidence, Evidence
from gradcli.core.intermediates import Intermediate, record_numpy, record_torch
from gradcli.errors import InputError
from gradcli.limits import FLOAT64, require_memory
from gradcli.results.check import (
    DETAIL_LIMIT,
    MISMATCH_LIMIT,
    CheckResult,
    GradientBlock,
    InputInfo,
    InputSpec,
    Mismatch,
    unravel,
)
from gradcli.settings import Dtype, Settings, Tolerance
from gradcli.usercode import Loader, Target, UserCodeError

torch = load()
Tensor = torch.Tensor

FULL_OUTPUT_LIMIT = 256  # the full Jacobian when the output has at most this many entries…
FULL_JACOBIAN_LIMIT = 65_536  # …and the Jacobian (all inputs together) at most this many
PROJECTIONS = 4  # random upstream vectors otherwise
NUMERIC_ENTRY_LIMIT = 4_096  # input entries differentiated numerically (a seeded sample above)
UPSTREAM_SCALE = 2.5  # backward(2.5·dout) must be 2.5·backward(dout)
MAGNITUDE = (0.1, 1.0)  # random inputs: |x| uniform in this range, random sign
KINK_SLOPE = 1e-3  # a slope jump this large (relative) inside a stencil is a kink
TRUST = 0.25  # a finite difference counts when its error estimate is below TRUST × tolerance
# one central difference suffices when its (pessimistic) estimate is this far below the
# tolerance: with margin for random dout, which add up the entries' errors
CHEAP_TRUST = 0.01 * TRUST
DEFAULT_SHAPE = (5,)  # the input of a one-input function when no --input is given

KIND_FUNCTION = "function"
KIND_AUTOGRAD = "autograd.Function"
KIND_PAIR = "forward/backward"
TORCH_DTYPES = {Dtype.float64: torch.float64, Dtype.float32: torch.float32}


@dataclass(frozen=True)
class CheckRequest:
    """What `gradcli check` was asked to do, parsed."""

    target: Target
    backward: Target | None = None
    inputs: tuple[InputSpec, ...] = ()
    seed: int = 0
    numpy: bool = False
    order: int = 1


# ------------------------------------------------------------------ the user's code


@dataclass
class Returned:
    """What one backward call gave for each argument, as float64 tensors in the returned shape."""

    grads: list[Tensor | None]
    states: list[str]  # per argument: "ok", "none", "missing" or "type:<name>"
    dtypes: list[str | None]
    count: int | None = None  # how many values backward returned (None: not the user's count)


class Session:
    """One forward call whose backward can be called again and again."""

    out: Tensor
    changed: list[str | None]  # per argument: "forward"/"backward" when it was changed in place

    def vjp(self, v: Tensor) -> Returned:  # pragma: no cover  (abstract)
        raise NotImplementedError


def _user_form(x: Tensor, numpy: bool) -> Any:
    """A fresh copy for the user's code: a tensor, or a NumPy array."""
    return x.detach().numpy().copy() if numpy else x.detach().clone()


def _as_tensor(value: Any) -> Tensor | None:
    """A tensor (NumPy arrays and NumPy scalars too) as a float64 copy, else None."""
    if isinstance(value, Tensor):
        return value.detach().to(torch.float64).clone()
    module = type(value).__module__
    if module == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape"):
        import numpy

        array = numpy.asarray(value)
        if array.dtype.kind not in "fiub":
            return None
        return torch.from_numpy(array.astype(numpy.float64)).clone()
    return None


def _dtype_name(value: Any) -> str | None:
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return None
    return str(dtype).removeprefix("torch.")


def _type_name(value: Any) -> str:
    if isinstance(value, Tensor):
        return "tensor"
    module, name = type(value).__module__, type(value).__name__
    return name if module == "builtins" else f"{module}.{name}"


def _output(value: Any, label: str, numpy: bool) -> Tensor:
    """The forward's output as a tensor (as computed), or a UserCodeError saying what it was."""
    if isinstance(value, Tensor):
        out = value
    elif type(value).__module__ == "numpy" and hasattr(value, "shape"):
        if not numpy:
            raise UserCodeError(
                f"{label} returned a NumPy array for tensor inputs; pass --numpy to give it "
                "NumPy arrays"
            )
        import numpy

        array = numpy.asarray(value)
        if array.dtype.kind != "f":
            raise UserCodeError(f"{label} returned a NumPy array of {array.dtype}, not floats")
        out = torch.from_numpy(array.copy())
    elif isinstance(value, (tuple, list)):
        raise UserCodeError(
            f"{label} returned a {type(value).__name__} of {len(value)} values; gradcli check "
            "needs one output tensor (check a function that returns one of them)"
        )
    else:
        raise UserCodeError(f"{label} returned {_type_name(value)}, not a tensor")
    if not (out.is_floating_point()):
        raise UserCodeError(f"{label} returned a tensor of {_dtype_name(out)}, not floats")
    return out


def _changed(before: Tensor, after: Any) -> bool:
    current = _as_tensor(after)
    if current is None or current.shape != before.shape:
        return True
    return not bool(torch.equal(current, before.to(torch.float64)))


class _TorchSession(Session):
    """A session for autograd.Function or a plain function: forward once, backward often."""

    def __init__(self, code: _TorchCode, args: list[Tensor]) -> None:
        self.code = code
        self.pristine = args
        self.changed: list[str | None] = [None] * len(args)
        self._start()
        self.changed = _changes(args, self.passed, "forward", self.changed)

    def _start(self) -> None:
        """A forward on fresh copies of the inputs."""
        code = self.code
        self.leaves = [
            x.detach().clone().requires_grad_(grad)
            for x, grad in zip(self.pristine, code.differentiable, strict=True)
        ]
        # a plain function gets non-leaf copies: in-place changes then stay legal for autograd
        self.passed = (
            self.leaves if code.kind == KIND_AUTOGRAD else [leaf.clone() for leaf in self.leaves]
        )
        with code.loader.running(f"the forward of {code.label}"):
            raw = code.call(*self.passed)
        self.out = _output(raw, f"{code.label} (forward)", numpy=False)

    def vjp(self, v: Tensor) -> Returned:
        code = self.code
        if "backward" in self.changed:
            self._start()  # backward changed an input in place: torch would refuse a 2nd call
        wanted = [leaf for leaf, grad in zip(self.leaves, code.differentiable, strict=True) if grad]
        code.recorded.clear()
        code.shapes = [tuple(leaf.shape) for leaf in self.leaves]
        grads: Sequence[Tensor | None] = [None] * len(wanted)
        if self.out.requires_grad:
            with code.loader.running(f"the backward of {code.label}"):
                grads = torch.autograd.grad(
                    (self.out * v.reshape(self.out.shape).to(self.out.dtype)).sum(),
                    wanted,
                    retain_graph=True,
                    allow_unused=True,
                )
        self.changed = _changes(self.pristine, self.passed, "backward", self.changed)
        n = len(self.leaves)
        if code.kind == KIND_AUTOGRAD:
            if code.recorded:
                return _returned(code.recorded[-1], n)
            return Returned([None] * n, ["none"] * n, [None] * n)
        per_arg = iter(grads)
        full = [next(per_arg) if grad else None for grad in code.differentiable]
        return Returned(
            [None if g is None else g.detach().to(torch.float64) for g in full],
            ["none" if g is None else "ok" for g in full],
            [_dtype_name(g) for g in full],
        )


def _changes(
    pristine: list[Tensor], passed: list[Any], where: str, before: list[str | None]
) -> list[str | None]:
    """Which arguments the user's code changed in place (the first place it happened)."""
    return [
        seen or (where if _changed(x, p) else None)
        for x, p, seen in zip(pristine, passed, before, strict=True)
    ]


def _returned(values: Any, n_args: int) -> Returned:
    """Normalise what a backward returned (one value, or a tuple) to one entry per argument."""
    items = list(values) if isinstance(values, (tuple, list)) else [values]
    out = Returned([], [], [], len(items))
    for i in range(n_args):
        item = items[i] if i < len(items) else None
        tensor = None if item is None else _as_tensor(item)
        if i >= len(items):
            state = "missing"
        elif item is None:
            state = "none"
        elif tensor is None:
            state = f"type:{_type_name(item)}"
        else:
            state = "ok"
        out.grads.append(tensor)
        out.states.append(state)
        out.dtypes.append(_dtype_name(item) if tensor is not None else None)
    return out


@dataclass
class _TorchCode:
    """An autograd.Function (through a recording subclass) or a plain function of tensors."""

    kind: str
    label: str
    call: Callable[..., Any]
    loader: Loader
    names: list[str]
    differentiable: list[bool]
    numpy: bool = False
    recorded: list[Any] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    dout_changed: bool = False  # backward changed its grad_output in place

    def open(self, args: list[Tensor]) -> Session:
        return _TorchSession(self, args)

    def record(self, args: list[Tensor]) -> list[Intermediate]:
        """The forward's intermediate values at ``args`` (best effort)."""
        with self.loader.running(f"the forward of {self.label}"):
            return record_torch(self.call, [x.clone() for x in args], self.names)

    def forward64(self, args: list[Tensor]) -> Tensor:
        with torch.no_grad(), self.loader.running(f"the forward of {self.label}"):
            out = self.call(*args)
        return _output(out, f"{self.label} (forward)", numpy=False).detach().reshape(-1)


def _recording_function(base: type, code: _TorchCode) -> type:
    """A subclass of the user's autograd.Function whose backward records what theirs returns.

    What torch receives is cleaned (wrong counts padded, unusable values replaced by None),
    so the check never trips over the mistake it is looking for.
    """

    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        before = [g.detach().clone() if isinstance(g, Tensor) else None for g in grad_outputs]
        with code.loader.running(f"the backward of {code.label}"):
            result = base.backward(ctx, *grad_outputs)
        code.dout_changed = code.dout_changed or any(
            b is not None and not torch.equal(b, g)
            for b, g in zip(before, grad_outputs, strict=False)
        )
        code.recorded.append(result)
        items = list(result) if isinstance(result, (tuple, list)) else [result]
        cleaned = []
        for i, shape in enumerate(code.shapes):
            item = items[i] if i < len(items) else None
            usable = (
                isinstance(item, Tensor)
                and item.is_floating_point()
                and _torch_accepts(item.shape, shape)
            )
            cleaned.append(item if usable else None)
        return tuple(cleaned)

    return type(base.__name__, (base,), {"backward": staticmethod(backward)})


def _torch_accepts(grad_shape: Sequence[int], input_shape: Sequence[int]) -> bool:
    """torch's rule: a gradient of the input's shape, or one the input broadcasts to (summed)."""
    if tuple(grad_shape) == tuple(input_shape):
        return True
    try:
        broadcast = torch.broadcast_shapes(tuple(input_shape), tuple(grad_shape))
    except RuntimeError:
        return False
    return tuple(broadcast) == tuple(grad_shape)


class _PairSession(Session):
    """The course convention: forward(*inputs) once, backward(dout, *inputs) per call."""

    def __init__(self, code: _PairCode, args: list[Tensor]) -> None:
        self.code = code
        self.pristine = args
        passed = [_user_form(x, code.numpy) for x in args]
        with code.loader.running(f"the forward of {code.label}"):
            raw = code.forward(*passed)
        self.out = _output(raw, f"{code.label} (forward)", code.numpy)
        self.changed = _changes(args, passed, "forward", [None] * len(args))

    def vjp(self, v: Tensor) -> Returned:
        code = self.code
        passed = [_user_form(x, code.numpy) for x in self.pristine]
        upstream = v.reshape(self.out.shape).to(self.out.dtype)
        dout = _user_form(upstream, code.numpy)
        with code.loader.running(f"the backward of {code.label}"):
            raw = code.backward(dout, *passed)
        self.changed = _changes(self.pristine, passed, "backward", self.changed)
        code.dout_changed = code.dout_changed or _changed(upstream, dout)
        items = list(raw) if isinstance(raw, (tuple, list)) else [raw]
        n_args, n_float = len(passed), sum(code.differentiable)
        if len(items) == n_args or len(items) != n_float:
            return _returned(items, n_args)
        floats = _returned(items, n_float)  # one gradient per float input: spread them out
        picks = iter(range(n_float))
        full = Returned([], [], [], len(items))
        for grad in code.differentiable:
            k = next(picks) if grad else None
            full.grads.append(None if k is None else floats.grads[k])
            full.states.append("none" if k is None else floats.states[k])
            full.dtypes.append(None if k is None else floats.dtypes[k])
        return full


@dataclass
class _PairCode:
    kind: str
    label: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    loader: Loader
    names: list[str]
    differentiable: list[bool]
    numpy: bool
    dout_changed: bool = False  # backward changed its dout in place

    def open(self, args: list[Tensor]) -> Session:
        return _PairSession(self, args)

    def record(self, args: list[Tensor]) -> list[Intermediate]:
        """The forward's intermediate values at ``args`` (best effort)."""
        with self.loader.running(f"the forward of {self.label}"):
            if self.numpy:
                passed = [_user_form(x, True) for x in args]
                return record_numpy(self.forward, passed, self.names)
            return record_torch(self.forward, [x.clone() for x in args], self.names)

    def forward64(self, args: list[Tensor]) -> Tensor:
        passed = [_user_form(x, self.numpy) for x in args]
        with self.loader.running(f"the forward of {self.label}"):
            out = self.forward(*passed)
        return _output(out, f"{self.label} (forward)", self.numpy).detach().reshape(-1)


class _SecondSession(Session):
    """Order 2: G(inputs, dout) = the user's backward, differentiated by autograd."""

    def __init__(self, code: _SecondCode, args: list[Tensor]) -> None:
        self.code = code
        self.leaves = [a.detach().clone().requires_grad_(True) for a in args]
        self.out = code.first_order(self.leaves, create_graph=True)
        self.changed = [None] * len(args)

    def vjp(self, w: Tensor) -> Returned:
        n = len(self.leaves)
        grads: Sequence[Tensor | None] = [None] * n
        if self.out.requires_grad:
            with self.code.loader.running(
                f"the backward of {self.code.first.label}, differentiated (--order 2)"
            ):
                grads = torch.autograd.grad(
                    (self.out * w.to(self.out.dtype)).sum(),
                    self.leaves,
                    retain_graph=True,
                    allow_unused=True,
                )
        return Returned(
            [None if g is None else g.detach().to(torch.float64) for g in grads],
            ["none" if g is None else "ok" for g in grads],
            [_dtype_name(g) for g in grads],
        )


@dataclass
class _SecondCode:
    """The first-order gradients as a function of (float inputs…, dout), for --order 2."""

    first: _TorchCode | _PairCode
    fixed: list[Tensor | None]  # the integer inputs (None at float positions)
    out_shape: tuple[int, ...]
    loader: Loader
    names: list[str]
    differentiable: list[bool]
    kind: str = "second order"
    numpy: bool = False

    def open(self, args: list[Tensor]) -> Session:
        return _SecondSession(self, args)

    def forward64(self, args: list[Tensor]) -> Tensor:
        leaves = [a.detach().clone().requires_grad_(True) for a in args]
        return self.first_order(leaves, create_graph=False).detach().double()

    def first_order(self, leaves: list[Tensor], create_graph: bool) -> Tensor:
        """The user's gradients for dout = leaves[-1], flattened and joined."""
        values = iter(leaves[:-1])
        inputs = [next(values) if x is None else x for x in self.fixed]
        floats = [x for x, fixed in zip(inputs, self.fixed, strict=True) if fixed is None]
        dout = leaves[-1].reshape(self.out_shape)
        first = self.first
        with torch.enable_grad():
            if isinstance(first, _PairCode):
                with self.loader.running(f"the backward of {first.label}"):
                    raw = first.backward(dout, *[x.clone() for x in inputs])
                items = list(raw) if isinstance(raw, (tuple, list)) else [raw]
                if len(items) == len(inputs) and len(inputs) != len(floats):
                    items = [g for g, fixed in zip(items, self.fixed, strict=True) if fixed is None]
                grads = [g if isinstance(g, Tensor) else None for g in items[: len(floats)]]
                grads += [None] * (len(floats) - len(grads))
            else:
                passed = inputs if first.kind == KIND_AUTOGRAD else [x.clone() for x in inputs]
                first.shapes = [tuple(x.shape) for x in inputs]
                with self.loader.running(f"the forward of {first.label}"):
                    out = first.call(*passed)
                with self.loader.running(f"the backward of {first.label}"):
                    grads = list(
                        torch.autograd.grad(
                            (out * dout.to(out.dtype)).sum(),
                            floats,
                            create_graph=create_graph,
                            allow_unused=True,
                        )
                    )
        parts = [
            (torch.zeros_like(x) if g is None else g.reshape(x.shape).to(x.dtype)).reshape(-1)
            for x, g in zip(floats, grads, strict=True)
        ]
        return torch.cat(parts)


# ------------------------------------------------------------------ loading


def _is_function_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, torch.autograd.Function)


def _input_names(func: Callable[..., Any], skip: int) -> list[str] | None:
    """Names of the positional inputs (None when it takes ``*args``)."""
    try:
        params = list(inspect.signature(func).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    names = []
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            names.append(p.name)
    return names


def _load(
    request: CheckRequest, loader: Loader
) -> tuple[str, Callable[..., Any], Any, list[str] | None]:
    """The kind, the forward callable, the backward (or None) and the input names."""
    target = request.target
    obj = loader.load(target)
    if _is_function_class(obj):
        if request.backward is not None:
            raise InputError(
                f"--backward: {target.label} is a torch.autograd.Function, which has its own "
                "backward; leave --backward out"
            )
        if request.numpy:
            raise InputError(
                f"--numpy: {target.label} is a torch.autograd.Function, which takes tensors; "
                "--numpy is for a forward/backward pair (--backward)"
            )
        own_setup = getattr(obj, "setup_context", None) is not getattr(
            torch.autograd.Function, "setup_context", None
        )
        return KIND_AUTOGRAD, obj, None, _input_names(obj.forward, 0 if own_setup else 1)
    if isinstance(obj, type):
        raise InputError(
            f"{target.label} is a class but not a torch.autograd.Function subclass; name a "
            "function or an autograd.Function"
        )
    if not callable(obj):
        raise InputError(
            f"{target.label} is {_type_name(obj)}, not a function or a torch.autograd.Function"
        )
    if request.backward is None:
        if request.numpy:
            raise InputError(
                "--numpy needs --backward FILE.py:NAME: a NumPy function has no gradient of its "
                "own to check (torch functions are checked through autograd)"
            )
        return KIND_FUNCTION, obj, None, _input_names(obj, 0)
    backward = loader.load(request.backward)
    if not callable(backward) or isinstance(backward, type):
        raise InputError(f"--backward: {request.backward.label} is not a function")
    return KIND_PAIR, obj, backward, _input_names(obj, 0)


def _specs(
    request: CheckRequest, names: list[str] | None, label: str
) -> tuple[list[str], list[InputSpec], list[str]]:
    """The input names and specs, with the default input for a one-input function."""
    notes = []
    specs = list(request.inputs)
    if not specs:
        if names is not None and len(names) == 1:
            specs = [InputSpec("5", "random", DEFAULT_SHAPE)]
            notes.append(f"no --input given: {names[0]} is 5 random values (--input SHAPE sets it)")
        else:
            wanted = f" ({', '.join(names)})" if names else ""
            count = f"{len(names)} inputs" if names else "its inputs"
            raise InputError(
                f"give one --input per input of {label}: it takes {count}{wanted}, e.g. "
                "--input 3x4 (a shape), --input 1,2;3,4 (values) or --input int:8:5"
            )
    if names is not None and len(names) != len(specs):
        listed = ", ".join(names) if names else "none"
        raise InputError(
            f"{label} takes {len(names)} input{'s' if len(names) != 1 else ''} ({listed}) but "
            f"{len(specs)} --input {'were' if len(specs) != 1 else 'was'} given"
        )
    final = names if names is not None else [f"x{i}" for i in range(len(specs))]
    return final, specs, notes


# ------------------------------------------------------------------ inputs


def _make_inputs(specs: Sequence[InputSpec], dtype: Any, generator: Any) -> list[Tensor]:
    """Tensors for the specs: random values away from 0, literal values, or integers."""
    total = sum(spec.size for spec in specs)
    require_memory(total * FLOAT64 * 8, f"holding the inputs ({total} entries) and their copies")
    tensors = []
    for spec in specs:
        if spec.kind == "int":
            tensors.append(torch.randint(0, spec.high, spec.shape, generator=generator))
        elif spec.kind == "literal":
            values = torch.tensor(spec.values, dtype=torch.float64).reshape(spec.shape)
            tensor = values.to(dtype)
            if not bool(torch.isfinite(tensor).all()):
                raise InputError(
                    f"--input {spec.text!r} overflows {str(dtype).removeprefix('torch.')}"
                )
            tensors.append(tensor)
        else:
            tensors.append(away_from_zero(spec.shape, generator).to(dtype))
    return tensors


def away_from_zero(shape: Sequence[int], generator: Any) -> Tensor:
    """Uniform magnitude in MAGNITUDE with a random sign: never on a kink at 0."""
    low, high = MAGNITUDE
    magnitude = low + (high - low) * torch.rand(
        tuple(shape), generator=generator, dtype=torch.float64
    )
    sign = torch.randint(0, 2, tuple(shape), generator=generator).to(torch.float64) * 2 - 1
    return magnitude * sign


# ------------------------------------------------------------------ numeric differentiation


@dataclass
class NumericColumns:
    """∂out/∂x_k for the sampled entries k of one argument (float64, one column each)."""

    entries: Tensor  # flat indices into the argument
    values: Tensor  # out_size × len(entries)
    error: Tensor  # out_size × len(entries); inf where the stencil straddles a kink


def numeric_columns(
    forward64: Callable[[list[Tensor]], Tensor],
    args: list[Tensor],
    index: int,
    entries: Tensor,
    copy_each_call: bool,
    tolerance: Tolerance,
    seed: int,
) -> NumericColumns:
    """∂out/∂x_k of the forward in float64, for the chosen entries k of argument ``index``.

    Evaluations are spent where the error estimate needs them (the user's forward may be a
    slow loop): first one central difference per entry, f(x ± h) with h = 1e-5·max(1, |x|),
    two calls. With the centre f(x), its error is estimated from the change of slope across
    the stencil, |f(x+h) − 2f(x) + f(x−h)|/h (an upper bound of the central difference's
    error where f is smooth; 0 for a linear forward, a conv or a matmul), plus rounding — in
    the forward's own dtype when it computes coarser than float64. An entry whose estimate
    is below CHEAP_TRUST × the tolerance is done. The others go to the engine's refinement
    (``numeric_jacobian``: steps h and h/2, their difference as the error, retried steps),
    unless the slope jumps inside the stencil: a kink, whose entries are not judged. (The one
    place `check` differentiates numerically.)
    """
    base = [a.detach().double() if a.is_floating_point() else a for a in args]
    shape = tuple(base[index].shape)
    flat = base[index].reshape(-1)
    coarsest = {"eps": EPS64}

    def call(chosen: Tensor) -> Tensor:
        full = flat.clone()
        full[entries] = chosen
        inputs = [a.clone() for a in base] if copy_each_call else list(base)
        inputs[index] = full.reshape(shape)
        out = forward64(inputs)
        coarsest["eps"] = max(coarsest["eps"], torch.finfo(out.dtype).eps)
        return out.double()

    chosen = flat[entries]
    count = chosen.numel()
    centre = call(chosen)
    h = BASE_STEP * chosen.abs().clamp(min=1.0)
    plus, minus = [], []
    for k in range(count):
        moved = chosen.clone()
        moved[k] += h[k]
        plus.append(call(moved))
        moved[k] = chosen[k] - h[k]
        minus.append(call(moved))
    if not count:
        empty = torch.zeros((centre.numel(), 0), dtype=torch.float64)
        return NumericColumns(entries, empty, empty.clone())
    up, down = torch.stack(plus, dim=1), torch.stack(minus, dim=1)  # out × entries
    value = (up - down) / (2 * h)
    jump = (up - 2 * centre[:, None] + down).abs() / h  # = h·|f''| where f is smooth
    magnitude = torch.maximum(torch.maximum(up.abs(), down.abs()), centre.abs()[:, None])
    moved = (up != centre[:, None]) | (down != centre[:, None])  # outputs the step reached
    error = jump + moved * (ROUNDING_SAFETY * coarsest["eps"] * magnitude / h)
    error = torch.where(torch.isfinite(value) & torch.isfinite(error), error, math.inf)
    kinks = (jump > KINK_SLOPE * (1 + value.abs())).any(dim=0)
    bound = tolerance.atol + tolerance.rtol * value.abs()
    refine = ~(error <= CHEAP_TRUST * bound).all(dim=0) & ~kinks
    if bool(refine.any()):
        picked = refine.nonzero().reshape(-1)
        value[:, picked], error[:, picked] = _refined_columns(
            call, chosen, picked, centre, tolerance, seed, coarsest
        )
    suspect = jump > SUSPECT_SPREAD * value.abs()  # sin at 1e22: no step resolves it
    error = resolve_columns(call, chosen, value, error, suspect & ~kinks[None, :], tolerance)
    error[:, kinks] = math.inf
    return NumericColumns(entries, value, error)


def _refined_columns(
    call: Callable[[Tensor], Tensor],
    chosen: Tensor,
    picked: Tensor,
    centre: Tensor,
    tolerance: Tolerance,
    seed: int,
    coarsest: dict[str, float],
) -> tuple[Tensor, Tensor]:
    """The engine's refined central differences for the picked entries only."""

    def sub(values: Tensor) -> Tensor:
        full = chosen.clone()
        full[picked] = values
        return call(full)

    def batched(rows: Tensor) -> Tensor:
        return sub(rows) if rows.dim() == 1 else torch.stack([sub(row) for row in rows])

    estimate = numeric_jacobian(batched, chosen[picked], tolerance, seed, outputs=centre.numel())
    error = estimate.error.double()  # the engine stores errors in float32
    if coarsest["eps"] > EPS64:  # the engine assumes float64 rounding
        error = error + (
            4 * coarsest["eps"] * centre.abs()[:, None] / estimate.step.double().clamp(min=1e-300)
        )
    error = torch.where(estimate.checked, error, torch.full_like(error, math.inf))
    return estimate.value.double(), error


def _fresh(args: list[Tensor], copy: bool) -> list[Tensor]:
    return [a.clone() for a in args] if copy else list(args)


# ------------------------------------------------------------------ the check


@dataclass
class Findings:
    """Blocks and evidence of one order of the check."""

    blocks: list[GradientBlock]
    evidence: Evidence
    notes: list[str]
    mode: str
    probes: int
    out_dtype: str


def _probes(
    out_shape: Sequence[int], mode: str, generator: Any, name: str
) -> tuple[Tensor, list[str]]:
    """Upstream vectors (P × out_size) and their labels."""
    size = math.prod(out_shape)
    if mode == "full":
        labels = [_out_label(name, unravel(o, list(out_shape))) for o in range(size)]
        return torch.eye(size, dtype=torch.float64), labels
    rows = torch.randn(PROJECTIONS, size, generator=generator, dtype=torch.float64)
    return rows, [f"v{p + 1}" for p in range(PROJECTIONS)]


def _out_label(name: str, index: list[int]) -> str:
    return name if not index else f"{name}[{', '.join(map(str, index))}]"


def _choose_mode(out_size: int, sizes: Sequence[int]) -> str:
    total = sum(sizes)
    if out_size <= FULL_OUTPUT_LIMIT and out_size * total <= FULL_JACOBIAN_LIMIT:
        return "full"
    return "projections"


def run_order(
    subject: Any,
    args: list[Tensor],
    settings: Settings,
    generator: Any,
    order: int,
    sample_seed: int,
) -> Findings:
    """Run the user's backward on upstream vectors and compare it with finite differences."""
    session = subject.open(args)
    out = session.out
    if order == 1:
        _require_finite(out)
    out_shape = list(out.shape)
    out_size = out.numel()
    float_args = [i for i, d in enumerate(subject.differentiable) if d]
    sizes = [args[i].numel() for i in float_args]
    mode = _choose_mode(out_size, sizes)
    n_probes = out_size if mode == "full" else PROJECTIONS
    per_copy = n_probes * sum(sizes) * FLOAT64
    require_memory(
        per_copy * 6 + out_size * min(sum(sizes), NUMERIC_ENTRY_LIMIT) * FLOAT64 * 2,
        f"checking {'the full Jacobian' if mode == 'full' else 'random projections'} "
        f"({n_probes} × {sum(sizes)} entries)",
    )
    probes, labels = _probes(out_shape, mode, generator, "out" if order == 1 else "grad")
    returned = [session.vjp(v) for v in probes]
    scaled = session.vjp(UPSTREAM_SCALE * probes[0])
    repeat_same = session.vjp(probes[0])
    second = subject.open(args)
    repeat_new = second.vjp(probes[0])
    changed = [a or b for a, b in zip(session.changed, second.changed, strict=True)]

    notes: list[str] = []
    copy_each_call = any(changed)
    tol = settings.tolerance
    evidence_args: list[ArgEvidence] = []
    blocks: list[GradientBlock] = []
    sample_gen = torch.Generator().manual_seed(sample_seed)
    budget = _entry_budget(sizes)
    for position in float_args:
        name = subject.names[position]
        x = args[position]
        n = x.numel()
        take = budget[float_args.index(position)]
        entries = (
            torch.arange(n)
            if take >= n
            else torch.randperm(n, generator=sample_gen)[:take].sort().values
        )
        if take < n:
            notes.append(
                f"{name}: finite differences at {take} of {n} entries (a seeded sample of "
                f"{NUMERIC_ENTRY_LIMIT} entries in all); the others are not checked"
            )
        columns = numeric_columns(
            subject.forward64, args, position, entries, copy_each_call, tol, sample_seed
        )
        arg = _evidence(
            position, name, x, returned, columns, probes, tol,
            scaled, repeat_same, repeat_new, changed[position], subject.kind,
        )  # fmt: skip
        arg.jacobian = _jacobian(columns, out_size, n)
        evidence_args.append(arg)
        block = _block(arg, labels, order, mode, out_shape)
        blocks.append(block)
        untrusted = int((arg.computed.any(dim=0) & ~arg.entry_checked).sum())
        if untrusted and arg.analytic is not None:
            notes.append(
                f"{name}: {untrusted} of {n} entries are not judged (shown ~): the finite "
                "difference there is unreliable (a kink inside the step, rounding, or a function "
                "varying on a scale finer than the input's float64 spacing)"
            )
    evidence = Evidence(
        args=evidence_args,
        order=order,
        mode=mode,
        kind=subject.kind,
        numpy=subject.numpy,
        probes=probes,
        out_shape=out_shape,
        output=out.detach().double().reshape(-1),
        tolerance=tol,
        counts=[r.count for r in returned],
        n_args=len(subject.names),
        n_float=len(float_args),
        names=subject.names,
        inputs=[a.detach().double() if a.is_floating_point() else a for a in args],
        forward_at=subject.forward64,
        record=getattr(subject, "record", None),
        dout_changed=bool(getattr(subject, "dout_changed", False)),
    )
    return Findings(blocks, evidence, notes, mode, n_probes, _dtype_name(out) or "")


def _jacobian(columns: NumericColumns, out_size: int, n: int) -> Tensor:
    """The finite-difference Jacobian (out_size × n), NaN in the columns not computed."""
    jacobian = torch.full((out_size, n), math.nan, dtype=torch.float64)
    jacobian[:, columns.entries] = columns.values
    return jacobian


def _require_finite(out: Tensor) -> None:
    bad = ~torch.isfinite(out.detach())
    if bool(bad.any()):
        where = unravel(int(bad.reshape(-1).nonzero()[0]), list(out.shape))
        count = int(bad.sum())
        raise InputError(
            f"the forward's output has NaN or ∞ at {count} of {out.numel()} entries (first at "
            f"{where}): no gradient can be checked there; choose other inputs (--input)"
        )


def _entry_budget(sizes: Sequence[int]) -> list[int]:
    """Entries per argument for finite differences: all, or shares of NUMERIC_ENTRY_LIMIT."""
    total = sum(sizes)
    if total <= NUMERIC_ENTRY_LIMIT:
        return list(sizes)
    return [max(1, min(n, NUMERIC_ENTRY_LIMIT * n // total)) for n in sizes]


def _evidence(
    position: int,
    name: str,
    x: Tensor,
    returned: list[Returned],
    columns: NumericColumns,
    probes: Tensor,
    tol: Tolerance,
    scaled: Returned,
    repeat_same: Returned,
    repeat_new: Returned,
    changed: str | None,
    kind: str,
) -> ArgEvidence:
    """Everything known about one argument's gradient."""
    shape = tuple(x.shape)
    n = x.numel()
    p = probes.shape[0]
    numeric = torch.full((p, n), math.nan, dtype=torch.float64)
    error = torch.full((p, n), math.inf, dtype=torch.float64)
    numeric[:, columns.entries] = probes @ columns.values
    error[:, columns.entries] = probes.abs() @ columns.error
    computed = torch.zeros((p, n), dtype=torch.bool)
    computed[:, columns.entries] = True
    finite = torch.isfinite(numeric) & torch.isfinite(error)
    bound = tol.atol + tol.rtol * numeric.abs()
    trusted = computed & finite & (error <= TRUST * bound)
    # an entry counts only when every dout's finite difference at it can be trusted
    checked = trusted.all(dim=0, keepdim=True).expand_as(trusted).clone()
    raw = [r.grads[position] for r in returned]
    states = [r.states[position] for r in returned]
    dtypes = [r.dtypes[position] for r in returned]
    reduced_from = None
    broadcast = all(g is not None and _torch_accepts(g.shape, shape) for g in raw)
    if kind == KIND_AUTOGRAD and raw[0] is not None and tuple(raw[0].shape) != shape and broadcast:
        reduced_from = tuple(raw[0].shape)  # torch sums a broadcast gradient: so do we
        raw = [g.sum_to_size(shape) for g in raw]  # type: ignore[union-attr]
    compared = [
        torch.zeros(shape, dtype=torch.float64) if state in ("none", "missing") else g
        for g, state in zip(raw, states, strict=True)
    ]  # None means "zero" (torch's rule); the diagnoses say when that is wrong
    usable = all(g is not None and tuple(g.shape) == shape for g in compared)
    analytic = torch.stack([g.reshape(-1) for g in compared]) if usable else None  # type: ignore[union-attr]
    if analytic is not None:
        ok = (analytic - torch.nan_to_num(numeric)).abs() <= bound
        ok = (ok & torch.isfinite(analytic)) | ~checked
    else:
        ok = ~checked
    return ArgEvidence(
        position=position,
        name=name,
        shape=shape,
        values=x.detach().double().reshape(-1),
        input_dtype=str(x.dtype).removeprefix("torch."),
        analytic=analytic,
        raw=raw,
        states=states,
        dtypes=dtypes,
        numeric=numeric,
        error=error,
        computed=computed,
        checked=checked,
        ok=ok,
        scaled=scaled.grads[position],
        repeat_same=repeat_same.grads[position],
        repeat_new=repeat_new.grads[position],
        changed=changed,
        reduced_from=reduced_from,
    )


def _nested(t: Tensor, shape: Sequence[int]) -> list:
    return t.reshape(tuple(shape)).tolist()


def _block(
    arg: ArgEvidence, labels: list[str], order: int, mode: str, out_shape: Sequence[int]
) -> GradientBlock:
    """The result block for one argument. Its nested values have the Jacobian's shape (the
    output's shape, then the input's) or, for projections, one input-shaped row per dout."""
    p, n = arg.numeric.shape
    full_shape = [*out_shape, *arg.shape] if mode == "full" else [p, *arg.shape]
    numeric = torch.where(arg.computed, arg.numeric, torch.full_like(arg.numeric, math.nan))
    numeric_list = _none_for_nan(
        _nested(numeric, full_shape), arg.computed.reshape(full_shape).tolist()
    )
    error_list = _none_for_nan(
        _nested(
            torch.where(torch.isfinite(arg.error), arg.error, torch.full_like(arg.error, math.nan)),
            full_shape,
        ),
        (arg.computed & torch.isfinite(arg.error)).reshape(full_shape).tolist(),
    )
    checked_list = _nested(arg.checked, full_shape)
    entry_checked = arg.checked.any(dim=0)
    entry_bad = (~arg.ok).any(dim=0)
    entry_ok = [
        None if not c else not b
        for c, b in zip(entry_checked.tolist(), entry_bad.tolist(), strict=True)
    ]
    problem = _problem(arg)
    if arg.analytic is None:
        return GradientBlock(
            input=arg.name, order=order, shape=list(arg.shape), size=n, compared=False,
            analytic=None, numeric=numeric_list, numeric_error=error_list, checked=checked_list,
            ok=None, entry_ok=_nest_flat([None] * n, arg.shape), max_abs_diff=math.inf,
            mismatches=[], mismatch_count=0, checked_count=int(entry_checked.sum()),
            details=[], agree=False, problem=problem,
        )  # fmt: skip
    diff = torch.where(
        arg.checked,
        (arg.analytic - torch.nan_to_num(arg.numeric)).abs(),
        torch.zeros_like(arg.numeric),
    )
    diff = torch.where(
        arg.checked & ~torch.isfinite(arg.analytic), torch.full_like(diff, math.inf), diff
    )
    bad_entries = entry_bad.nonzero().reshape(-1).tolist()
    details = []
    for k in bad_entries[:DETAIL_LIMIT]:
        probe = int((~arg.ok[:, k]).nonzero()[0])
        details.append(
            Mismatch(
                unravel(k, list(arg.shape)),
                labels[probe],
                float(arg.analytic[probe, k]),
                float(arg.numeric[probe, k]),
                float(arg.values[k]),
            )
        )
    ok_list = [[None if not c else bool(o) for c, o in zip(cr, orow, strict=True)]
               for cr, orow in zip(arg.checked.tolist(), arg.ok.tolist(), strict=True)]  # fmt: skip
    agree = not bad_entries and bool(entry_checked.any()) and problem is None
    return GradientBlock(
        input=arg.name,
        order=order,
        shape=list(arg.shape),
        size=n,
        compared=True,
        analytic=_nested(arg.analytic, full_shape),
        numeric=numeric_list,
        numeric_error=error_list,
        checked=checked_list,
        ok=_nest_rows(ok_list, full_shape),
        entry_ok=_nest_flat(entry_ok, arg.shape),
        max_abs_diff=float(diff.max()) if diff.numel() else 0.0,
        mismatches=[unravel(k, list(arg.shape)) for k in bad_entries[:MISMATCH_LIMIT]],
        mismatch_count=len(bad_entries),
        checked_count=int(entry_checked.sum()),
        details=details,
        agree=agree,
        problem=problem,
    )


def _problem(arg: ArgEvidence) -> str | None:
    """Why the returned gradient cannot count as right, whatever its values (None and a
    missing value count as zero, torch's rule: the values and the diagnoses decide)."""
    state = arg.states[0]
    if state.startswith("type:"):
        return f"a {state.removeprefix('type:')} was returned, not an array"
    raw = arg.raw[0]
    if raw is not None and tuple(raw.shape) != arg.shape and arg.reduced_from is None:
        return f"the gradient has shape {_shape(raw.shape)}, not {_shape(arg.shape)}"
    return None  # another dtype is judged by its values (and diagnosed or noted apart)


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(n) for n in shape) if len(shape) else "scalar"


def _none_for_nan(values: Any, mask: Any) -> Any:
    if isinstance(values, list):
        return [_none_for_nan(v, m) for v, m in zip(values, mask, strict=True)]
    return values if mask else None


def _nest_flat(values: list, shape: Sequence[int]) -> list:
    if len(shape) <= 1:
        return list(values) if shape else values[0]
    step = len(values) // shape[0]
    return [_nest_flat(values[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _nest_rows(rows: list[list], full_shape: Sequence[int]) -> list:
    flat = [v for row in rows for v in row]
    return _nest_flat(flat, full_shape) if full_shape else flat[0]


# ------------------------------------------------------------------ the command's entry point


def check(request: CheckRequest, settings: Settings) -> CheckResult:
    """Load the user's code, run the check (and --order 2), and diagnose what is wrong.

    Everything runs on one torch thread: the check makes hundreds of calls on small tensors,
    which two threads slow down by 50× or more when the other core is busy (measured).
    """
    with one_thread():
        return _check(request, settings)


def _check(request: CheckRequest, settings: Settings) -> CheckResult:
    if not settings.numeric:
        raise InputError(
            "--no-numeric: check compares your backward with finite differences of your "
            "forward; it cannot run without them"
        )
    if request.order == 2 and request.numpy:
        raise InputError(
            "--order 2 differentiates your backward with autograd, which NumPy code does not "
            "have; drop --numpy and write the pair with torch"
        )
    loader = Loader()
    kind, forward, backward, signature = _load(request, loader)
    label = request.target.label
    names, specs, notes = _specs(request, signature, label)
    differentiable = [spec.kind != "int" for spec in specs]
    if not any(differentiable):
        raise InputError("every --input is int:…; at least one input must take a gradient")
    generator = torch.Generator().manual_seed(request.seed)
    dtype = TORCH_DTYPES[settings.dtype]
    args = _make_inputs(specs, dtype, generator)
    code: _TorchCode | _PairCode
    if kind == KIND_PAIR:
        code = _PairCode(
            kind, label, forward, backward, loader, names, differentiable, request.numpy
        )
    else:
        code = _TorchCode(kind, label, forward, loader, names, differentiable)
        if kind == KIND_AUTOGRAD:
            code.call = _recording_function(forward, code).apply
    first = run_order(code, args, settings, generator, 1, request.seed)
    diagnoses = diagnose(first.evidence)
    notes += _input_notes(specs, names, request.seed)
    notes += _mode_notes(first, "")
    notes += first.notes
    notes += _dtype_notes(settings, first.out_dtype)
    notes += _reduced_notes(first.evidence.args)
    notes += _cast_notes(first.evidence)
    recognised = first.evidence.recognised
    if recognised is not None:
        notes.append(recognised.note())
    second: Findings | None = None
    if request.order == 2:
        blocked = [d for d in diagnoses if d.code in STRUCTURAL]
        if blocked:
            notes.append(
                "--order 2 was not run: the first-order gradients are malformed "
                f"({blocked[0].code}); fix them first"
            )
        else:
            second = _second_order(code, args, first, settings, generator, request.seed)
            diagnoses += diagnose(second.evidence)
            notes += _mode_notes(second, "second order: ")
            notes += [f"second order: {note}" for note in second.notes]
    blocks = first.blocks
    second_blocks = [] if second is None else second.blocks
    for block in [*blocks, *second_blocks]:
        if block.compared and block.checked_count == 0:
            notes.append(
                f"{block.input}{' (second order)' if block.order == 2 else ''}: no entry could "
                "be judged (every finite difference was unreliable), so no ✓"
            )
    agree = all(b.agree for b in [*blocks, *second_blocks]) and not diagnoses
    if second is None and request.order == 2:
        agree = False
    infos = [
        InputInfo(
            name=name,
            shape=list(x.shape),
            dtype=str(x.dtype).removeprefix("torch."),
            spec=spec.text,
            requires_grad=grad,
            values=x.tolist(),
        )
        for name, x, spec, grad in zip(names, args, specs, differentiable, strict=True)
    ]
    return CheckResult(
        target=request.target.text,
        backward=None if request.backward is None else request.backward.text,
        kind=kind,
        numpy=request.numpy,
        order=request.order,
        mode=first.mode,
        probes=first.probes,
        inputs=infos,
        output_shape=first.evidence.out_shape,
        gradients=blocks,
        second_order=second_blocks,
        diagnoses=diagnoses,
        agree=agree,
        dtype=settings.dtype.value,
        atol=settings.tolerance.atol,
        rtol=settings.tolerance.rtol,
        seed=request.seed,
        notes=notes,
        recognised=None if recognised is None else recognised.name,
    )


STRUCTURAL = {"wrong-count", "wrong-shape", "wrong-type", "non-deterministic"}


def _second_order(
    code: _TorchCode | _PairCode,
    args: list[Tensor],
    first: Findings,
    settings: Settings,
    generator: Any,
    seed: int,
) -> Findings:
    """gradgradcheck: the user's backward as a function of (inputs, dout), checked the same way."""
    out_shape = tuple(first.evidence.out_shape)
    floats = [x for x, d in zip(args, code.differentiable, strict=True) if d]
    fixed = [None if d else x for x, d in zip(args, code.differentiable, strict=True)]
    names = [n for n, d in zip(code.names, code.differentiable, strict=True) if d] + ["dout"]
    dout = away_from_zero(out_shape, generator).to(floats[0].dtype).reshape(-1)
    second = _SecondCode(code, fixed, out_shape, code.loader, names, [True] * len(names))
    return run_order(second, [*floats, dout], settings, generator, 2, seed + 1)


def _input_notes(specs: Sequence[InputSpec], names: Sequence[str], seed: int) -> list[str]:
    drawn = [name for name, spec in zip(names, specs, strict=True) if spec.kind == "random"]
    if not drawn:
        return []
    low, high = MAGNITUDE
    return [
        f"random inputs ({', '.join(drawn)}): |x| uniform in [{low:g}, {high:g}] with a random "
        f"sign, seed {seed} — away from 0, where kinks (ReLU, |x|) would give false alarms"
    ]


def _mode_notes(findings: Findings, prefix: str) -> list[str]:
    if findings.mode == "full":
        return [
            f"{prefix}full Jacobian: {findings.probes} backward call"
            f"{'s' if findings.probes != 1 else ''}, one per output entry (one-hot dout)"
        ]
    size = math.prod(findings.evidence.out_shape)
    return [
        f"{prefix}random projections: the output has {size} entries (the full Jacobian is used "
        f"up to {FULL_OUTPUT_LIMIT} and {FULL_JACOBIAN_LIMIT} Jacobian entries), so backward is "
        f"checked on {PROJECTIONS} seeded random dout (vᵀJ), like gradcheck's fast mode"
    ]


def _dtype_notes(settings: Settings, out_dtype: str) -> list[str]:
    notes = []
    tol = settings.tolerance
    if settings.dtype is Dtype.float64 and out_dtype != "float64":
        notes.append(
            f"the forward returns {out_dtype} for float64 inputs, so its finite differences "
            "are coarse: entries whose error estimate is too large are not judged"
        )
    if settings.dtype is Dtype.float32:
        notes.append(
            f"float32: your code ran in float32 and is compared with finite differences taken "
            f"in float64, at atol {tol.atol:g}, rtol {tol.rtol:g}; finite differences in "
            "float32 itself are too coarse to judge a gradient (gradcheck's most common false "
            "alarm)"
        )
    return notes


def _cast_notes(ev: Evidence) -> list[str]:
    """An autograd.Function's gradient of another dtype: torch casts it, so only a note."""
    if ev.kind != KIND_AUTOGRAD:
        return []
    return [
        f"{arg.name}: backward returned a {arg.dtypes[0]} gradient for a {arg.input_dtype} "
        f"input; torch casts it to {arg.input_dtype} (so do the values compared here), losing "
        "precision if it is narrower"
        for arg in ev.args
        if arg.dtypes[0] is not None and arg.dtypes[0] != arg.input_dtype
    ]


def _reduced_notes(args: Sequence[ArgEvidence]) -> list[str]:
    return [
        f"{arg.name}: backward returned a {_shape(arg.reduced_from)} gradient; torch sums it "
        f"to {arg.name}'s {_shape(arg.shape)} (broadcasting), and so does this check"
        for arg in args
        if arg.reduced_from is not None
    ]
