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
from gradcli.core.calling import (
    CS231N,
    Binding,
    Convention,
    TorchState,
    bind,
    fresh_cache,
    is_array,
    open_parameters,
    output_tensor,
    resolve_convention,
    result_failure,
    split_result,
    tensor_problem,
    type_name,
)
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
from gradcli.usercode import Loader, Target

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
    kwargs: tuple[tuple[str, Any], ...] = ()  # --kwarg NAME=VALUE, parsed
    convention: str = "auto"  # of a forward/backward pair: auto, inputs or cs231n


# ------------------------------------------------------------------ the user's code


@dataclass
class Returned:
    """What one backward call gave for each argument, as float64 tensors in the returned shape."""

    grads: list[Tensor | None]
    states: list[str]  # per argument: "ok", "none", "missing" or "type:<name>"
    dtypes: list[str | None]
    count: int | None = None  # how many values backward returned (None: not the user's count)


class Session:
    """One forward call whose backward can be called again and again.

    ``out`` is the forward's output; with several outputs, their entries joined (flat), and
    ``outputs`` names each one and its shape."""

    out: Tensor
    outputs: list[tuple[str, tuple[int, ...]]]
    changed: list[str | None]  # per argument: "forward"/"backward" when it was changed in place

    def vjp(self, v: Tensor) -> Returned:  # pragma: no cover  (abstract)
        raise NotImplementedError


def _user_form(x: Tensor, numpy: bool) -> Any:
    """A fresh copy for the user's code: a tensor, or a NumPy array."""
    return x.detach().numpy().copy() if numpy else x.detach().clone()


def _as_tensor(value: Any) -> Tensor | None:
    """A tensor (NumPy arrays and NumPy scalars too) as a float64 copy, else None (also for
    a tensor that is not dense, real and on the CPU: meta, sparse, complex…)."""
    if isinstance(value, Tensor):
        if tensor_problem(value) is not None:
            return None
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
    """What a value is, without an article: ``list``, ``meta tensor (…)``, ``numpy.str_``."""
    if isinstance(value, Tensor):
        problem = tensor_problem(value)
        return "tensor" if problem is None else problem.removeprefix("a ")
    module, name = type(value).__module__, type(value).__name__
    return name if module == "builtins" else f"{module}.{name}"


def _output(value: Any, label: str, numpy: bool) -> Tensor:
    """The forward's one output as a tensor (as computed), or a failure saying what it was."""
    if isinstance(value, (tuple, list)):
        return _join(_outputs(value, label, numpy))
    return output_tensor(value, label, numpy)


def _outputs(value: Any, label: str, numpy: bool) -> list[Tensor]:
    """The forward's outputs: one tensor, or each item of a tuple (several outputs)."""
    if not isinstance(value, (tuple, list)):
        return [output_tensor(value, label, numpy)]
    if not value:
        raise result_failure(label, "forward", f"an empty {type(value).__name__}")
    return [
        output_tensor(item, label, numpy, f"output {i} of {len(value)}")
        for i, item in enumerate(value)
    ]


def _join(outs: Sequence[Tensor]) -> Tensor:
    """Several outputs as one flat tensor (one output as it is)."""
    if len(outs) == 1:
        return outs[0]
    common = outs[0].dtype
    for o in outs[1:]:
        common = torch.promote_types(common, o.dtype)
    return torch.cat([o.reshape(-1).to(common) for o in outs])


def _split(v: Tensor, outputs: Sequence[tuple[str, tuple[int, ...]]]) -> list[Tensor]:
    """A flat upstream vector cut into one upstream per output, in each output's shape."""
    parts, start = [], 0
    for _, shape in outputs:
        size = math.prod(shape)
        parts.append(v.reshape(-1)[start : start + size].reshape(shape))
        start += size
    return parts


def _named(outs: Sequence[Tensor], names: Sequence[str]) -> list[tuple[str, tuple[int, ...]]]:
    if len(names) != len(outs):
        names = ["out"] if len(outs) == 1 else [f"out{i}" for i in range(len(outs))]
    return [(name, tuple(o.shape)) for name, o in zip(names, outs, strict=True)]


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
        code.shapes = code.slot_shapes(self.leaves)
        with code.loader.running(f"the forward of {code.label}"):
            raw = code.call(*self.passed)
        self.outs = _outputs(raw, f"{code.label}", numpy=False)
        self.outputs = _named(self.outs, [])
        self.out = _join(self.outs)

    def vjp(self, v: Tensor) -> Returned:
        code = self.code
        if "backward" in self.changed:
            self._start()  # backward changed an input in place: torch would refuse a 2nd call
        wanted = [leaf for leaf, grad in zip(self.leaves, code.differentiable, strict=True) if grad]
        code.recorded.clear()
        code.shapes = code.slot_shapes(self.leaves)
        grads: Sequence[Tensor | None] = [None] * len(wanted)
        pairs = [
            (o, u)
            for o, u in zip(self.outs, _split(v, self.outputs), strict=True)
            if o.requires_grad
        ]
        if pairs:
            with code.loader.running(f"the backward of {code.label}"):
                total = sum((o * u.to(o.dtype)).sum() for o, u in pairs)
                grads = torch.autograd.grad(total, wanted, retain_graph=True, allow_unused=True)
        self.changed = _changes(self.pristine, self.passed, "backward", self.changed)
        n = len(self.leaves)
        if code.kind == KIND_AUTOGRAD:
            if code.recorded:
                return code.per_input(code.recorded[-1], n)
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
    """An autograd.Function (through a recording subclass) or a plain function of tensors.

    ``call`` takes the inputs alone (the binding adds --kwarg values and defaults)."""

    kind: str
    label: str
    call: Callable[..., Any]
    loader: Loader
    names: list[str]
    differentiable: list[bool]
    numpy: bool = False
    recorded: list[Any] = field(default_factory=list)
    shapes: list[tuple[int, ...] | None] = field(default_factory=list)
    binding: Binding | None = None
    dout_changed: bool = False  # backward changed its grad_output in place

    def open(self, args: list[Tensor]) -> Session:
        return _TorchSession(self, args)

    def slot_shapes(self, inputs: Sequence[Tensor]) -> list[tuple[int, ...] | None]:
        """Per argument of ``apply``: the input's shape, or None for a fixed value."""
        if self.binding is None:
            return [tuple(x.shape) for x in inputs]
        return [
            tuple(inputs[slot.index].shape) if slot.index >= 0 else None
            for slot in self.binding.positional
        ]

    def per_input(self, values: Any, n_inputs: int) -> Returned:
        """What backward returned (one value per argument of ``apply``), picked per input.

        torch's rule: more values than arguments are fine when the extra ones are None (an
        optional parameter that was not given)."""
        slots = self.binding.positional if self.binding is not None else []
        arity = len(slots) if slots else n_inputs
        full = _returned(values, arity)
        if slots:
            picked = [i for i, slot in enumerate(slots) if slot.index >= 0]
            full = Returned(
                [full.grads[i] for i in picked],
                [full.states[i] for i in picked],
                [full.dtypes[i] for i in picked],
                full.count,
            )
        items = list(values) if isinstance(values, (tuple, list)) else [values]
        if full.count is not None and full.count > arity and all(v is None for v in items[arity:]):
            full.count = arity  # trailing Nones for parameters not given: torch's rule
        if full.count == arity:
            full.count = n_inputs  # one value per argument of apply: the right count
        return full

    def record(self, args: list[Tensor]) -> list[Intermediate]:
        """The forward's intermediate values at ``args`` (best effort)."""
        with self.loader.running(f"the forward of {self.label}"):
            return record_torch(self.call, [x.clone() for x in args], self.names)

    def forward64(self, args: list[Tensor]) -> Tensor:
        with torch.no_grad(), self.loader.running(f"the forward of {self.label}"):
            out = self.call(*args)
        return _output(out, f"{self.label}", numpy=False).detach().reshape(-1)

    def graph_grads(
        self, inputs: list[Tensor], floats: list[Tensor], dout: Tensor, create_graph: bool
    ) -> list[Tensor | None]:
        """The user's gradients at ``inputs`` for the flat upstream ``dout``, through autograd
        (for --order 2: differentiable in the inputs and in ``dout``)."""
        passed = inputs if self.kind == KIND_AUTOGRAD else [x.clone() for x in inputs]
        self.shapes = self.slot_shapes(inputs)
        with self.loader.running(f"the forward of {self.label}"):
            outs = _outputs(self.call(*passed), self.label, numpy=False)
        parts = _split(dout, _named(outs, []))
        with self.loader.running(f"the backward of {self.label}"):
            total = sum((o * u.to(o.dtype)).sum() for o, u in zip(outs, parts, strict=True))
            return list(
                torch.autograd.grad(total, floats, create_graph=create_graph, allow_unused=True)
            )


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
                shape is not None
                and isinstance(item, Tensor)
                and tensor_problem(item) is None
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
    """A forward/backward pair: forward once, then backward per upstream vector.

    In the inputs convention backward gets (dout…, *inputs) — fresh copies each call; in the
    CS231n convention (dout…, cache) — a deep copy of the cache each call (of the inputs too,
    sharing what the cache shares), or the cache of a new forward when it cannot be copied.
    """

    def __init__(self, code: _PairCode, args: list[Tensor]) -> None:
        self.code = code
        self.pristine = args
        self.passed, raw = code.run_forward(args)
        convention = code.convention_for(raw)
        outs, self.cache = split_result(raw, convention)
        if convention.name != CS231N and len(outs) > 1 and not is_array(outs[-1]):
            raise result_failure(
                code.label, "forward", f"{len(outs)} values whose last is {type_name(outs[-1])}"
                " — a cache? In CS231n's convention (forward -> (out, cache), backward(dout, "
                "cache)) say --convention cs231n",
            )  # fmt: skip
        self.outs = [
            output_tensor(o, code.label, code.numpy,
                          f"output {i} of {len(outs)}" if len(outs) > 1 else "")
            for i, o in enumerate(outs)
        ]  # fmt: skip
        self.outputs = _named(self.outs, convention.output_names)
        code.layout = self.outputs
        self.out = _join(self.outs)
        self.changed = _changes(args, self.passed, "forward", [None] * len(args))

    def vjp(self, v: Tensor) -> Returned:
        code = self.code
        upstreams = [u.to(o.dtype) for u, o in zip(_split(v, self.outputs), self.outs, strict=True)]
        douts = [_user_form(u, code.numpy) for u in upstreams]
        if code.convention is not None and code.convention.name == CS231N:
            copied = fresh_cache(self.passed, self.cache)
            if copied is None:
                passed, raw = code.run_forward(self.pristine)
                cache = split_result(raw, code.convention)[1]
            else:
                passed, cache = copied
            with code.loader.running(f"the backward of {code.label}"):
                raw = code.backward(*douts, cache)
        else:
            passed = [_user_form(x, code.numpy) for x in self.pristine]
            with code.loader.running(f"the backward of {code.label}"):
                raw = code.backward(*douts, *passed, **code.backward_kwargs())
        self.changed = _changes(self.pristine, passed, "backward", self.changed)
        code.dout_changed = code.dout_changed or any(
            _changed(u, d) for u, d in zip(upstreams, douts, strict=True)
        )
        return code.per_input(raw)


@dataclass
class _PairCode:
    """A forward/backward pair; ``forward`` takes the inputs alone (the binding adds the
    --kwarg values and defaults)."""

    kind: str
    label: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    loader: Loader
    names: list[str]
    differentiable: list[bool]
    numpy: bool
    asked: str = "auto"  # --convention
    binding: Binding | None = None
    convention: Convention | None = None  # known after the first forward
    layout: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # outputs
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

    def run_forward(self, args: Sequence[Tensor]) -> tuple[list[Any], Any]:
        """The inputs as passed (fresh copies) and what the forward returned."""
        passed = [_user_form(x, self.numpy) for x in args]
        with self.loader.running(f"the forward of {self.label}"):
            raw = self.forward(*passed)
        return passed, raw

    def convention_for(self, raw: Any) -> Convention:
        if self.convention is None:
            self.convention = resolve_convention(
                self.asked, raw, self.backward, len(self.names), self.label
            )
        return self.convention

    def backward_kwargs(self) -> dict[str, Any]:
        """The --kwarg values, for a backward that takes them too (by name, or **kwargs)."""
        given = [] if self.binding is None else self.binding.given
        if not given:
            return {}
        try:
            params = inspect.signature(self.backward).parameters
        except (TypeError, ValueError):
            return {}
        takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
        return {s.name: s.resolve(()) for s in given if takes_any or s.name in params}

    def per_input(self, raw: Any) -> Returned:
        """One gradient per input, in order — or one per float input, spread out."""
        items = list(raw) if isinstance(raw, (tuple, list)) else [raw]
        n_args, n_float = len(self.names), sum(self.differentiable)
        if len(items) == n_args or len(items) != n_float:
            return _returned(items, n_args)
        floats = _returned(items, n_float)  # one gradient per float input: spread them out
        picks = iter(range(n_float))
        full = Returned([], [], [], len(items))
        for grad in self.differentiable:
            k = next(picks) if grad else None
            full.grads.append(None if k is None else floats.grads[k])
            full.states.append("none" if k is None else floats.states[k])
            full.dtypes.append(None if k is None else floats.dtypes[k])
        return full

    def forward64(self, args: list[Tensor]) -> Tensor:
        _, raw = self.run_forward(args)
        outs, _ = split_result(raw, self.convention_for(raw))
        return _join(_outputs(outs, self.label, self.numpy)).detach().reshape(-1)

    def graph_grads(
        self, inputs: list[Tensor], floats: list[Tensor], dout: Tensor, create_graph: bool
    ) -> list[Tensor | None]:
        """The user's backward at ``inputs`` for the flat upstream ``dout`` (torch pairs:
        differentiable by autograd, for --order 2)."""
        if self.convention is not None and self.convention.name == CS231N:
            with self.loader.running(f"the forward of {self.label}"):
                raw = self.forward(*[x.clone() for x in inputs])
            outs, cache = split_result(raw, self.convention)
            shapes = _named([torch.as_tensor(o) for o in outs], self.convention.output_names)
            with self.loader.running(f"the backward of {self.label}"):
                result = self.backward(*_split(dout, shapes), cache)
        else:
            with self.loader.running(f"the backward of {self.label}"):
                result = self.backward(
                    *_split(dout, self.layout), *[x.clone() for x in inputs],
                    **self.backward_kwargs(),
                )  # fmt: skip
        items = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(items) == len(inputs) and len(inputs) != len(floats):
            items = [g for g, d in zip(items, self.differentiable, strict=True) if d]
        grads = [g if isinstance(g, Tensor) else None for g in items[: len(floats)]]
        return grads + [None] * (len(floats) - len(grads))


class _SecondSession(Session):
    """Order 2: G(inputs, dout) = the user's backward, differentiated by autograd."""

    def __init__(self, code: _SecondCode, args: list[Tensor]) -> None:
        self.code = code
        self.leaves = [a.detach().clone().requires_grad_(True) for a in args]
        self.out = code.first_order(self.leaves, create_graph=True)
        self.outputs = [("grad", tuple(self.out.shape))]
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
        dout = leaves[-1].reshape(-1)
        with torch.enable_grad():
            grads = self.first.graph_grads(inputs, floats, dout, create_graph)
        parts = [
            (torch.zeros_like(x) if g is None else g.reshape(x.shape).to(x.dtype)).reshape(-1)
            for x, g in zip(floats, grads, strict=True)
        ]
        return torch.cat(parts)


# ------------------------------------------------------------------ loading


def _is_function_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, torch.autograd.Function)


@dataclass
class _Loaded:
    """The user's objects and how their forward's parameters are read."""

    kind: str
    forward: Any
    backward: Any
    skip: int  # leading parameters that are not the user's (ctx)


def _load(request: CheckRequest, loader: Loader) -> _Loaded:
    """The kind, the forward (a function or an autograd.Function), the backward (or None)."""
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
        return _Loaded(KIND_AUTOGRAD, obj, None, 0 if own_setup else 1)
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
        return _Loaded(KIND_FUNCTION, obj, None, 0)
    backward = loader.load(request.backward)
    if not callable(backward) or isinstance(backward, type):
        raise InputError(f"--backward: {request.backward.label} is not a function")
    return _Loaded(KIND_PAIR, obj, backward, 0)


def _binding(
    request: CheckRequest, loaded: _Loaded, label: str
) -> tuple[Binding, list[InputSpec], list[str]]:
    """The forward's parameters bound to the --input specs and --kwarg values (the default
    input for a one-input forward when no --input is given), and notes."""
    func = loaded.forward.forward if loaded.kind == KIND_AUTOGRAD else loaded.forward
    kwargs = dict(request.kwargs)
    keywords = loaded.kind != KIND_AUTOGRAD
    specs = list(request.inputs)
    notes = []
    if not specs:
        params = open_parameters(func, loaded.skip, kwargs)
        if params is not None and sum(p.default is p.empty for p in params) == 1:
            specs = [InputSpec("5", "random", DEFAULT_SHAPE)]
            name = next(p.name for p in params if p.default is p.empty)
            notes.append(f"no --input given: {name} is 5 random values (--input SHAPE sets it)")
        else:
            wanted = [p.name for p in params or [] if p.default is p.empty]
            shown_names = f" ({', '.join(wanted)})" if wanted else ""
            count = f"{len(wanted)} inputs" if wanted else "its inputs"
            raise InputError(
                f"give one --input per input of {label}: it takes {count}{shown_names}, e.g. "
                "--input 3x4 (a shape), --input 1,2;3,4 (values) or --input int:8:5"
            )
    binding = bind(func, loaded.skip, len(specs), kwargs, label, keywords_allowed=keywords)
    return binding, specs, notes


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
    outputs: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)


def _probes(
    outputs: Sequence[tuple[str, tuple[int, ...]]], mode: str, generator: Any, name: str
) -> tuple[Tensor, list[str]]:
    """Upstream vectors (P × out_size) and their labels (``out[0, 1]``; with several outputs
    each entry is named by its output: ``next_h[0, 1]``)."""
    size = sum(math.prod(shape) for _, shape in outputs)
    if mode == "full":
        if len(outputs) == 1:
            shape = list(outputs[0][1])
            labels = [_out_label(name, unravel(o, shape)) for o in range(size)]
        else:
            labels = [
                _out_label(output, unravel(o, list(shape)))
                for output, shape in outputs
                for o in range(math.prod(shape))
            ]
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
    probes, labels = _probes(session.outputs, mode, generator, "out" if order == 1 else "grad")
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
    return Findings(
        blocks, evidence, notes, mode, n_probes, _dtype_name(out) or "", session.outputs
    )


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
        return f"a {state.removeprefix('type:')} was returned, not a dense float array or tensor"
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
    state = TorchState()
    loader = Loader(guard=state)
    loaded = _load(request, loader)
    kind = loaded.kind
    label = request.target.label
    binding, specs, notes = _binding(request, loaded, label)
    notes += _after_import()
    names = binding.names
    differentiable = [spec.kind != "int" for spec in specs]
    if not any(differentiable):
        raise InputError("every --input is int:…; at least one input must take a gradient")
    generator = torch.Generator().manual_seed(request.seed)
    dtype = TORCH_DTYPES[settings.dtype]
    args = _make_inputs(specs, dtype, generator)
    code: _TorchCode | _PairCode
    if kind == KIND_PAIR:
        code = _PairCode(
            kind, label, binding.caller(loaded.forward), loaded.backward, loader, names,
            differentiable, request.numpy, request.convention, binding,
        )  # fmt: skip
    else:
        code = _TorchCode(
            kind, label, binding.caller(loaded.forward), loader, names, differentiable,
            binding=binding,
        )  # fmt: skip
        if kind == KIND_AUTOGRAD:
            code.call = binding.caller(_recording_function(loaded.forward, code).apply)
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
    notes += state.notes()
    notes += _convention_notes(code, request.convention)
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
        outputs=[{"name": name, "shape": list(shape)} for name, shape in first.outputs],
        kwargs=dict(request.kwargs),
        convention=code.convention.name
        if isinstance(code, _PairCode) and code.convention
        else None,
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


def _after_import() -> list[str]:
    """What the import of the user's files may keep (a default dtype, a seed) and what it may
    not: autograd switched off for everyone, or more threads than the check's one."""
    notes = []
    if not torch.is_grad_enabled():
        torch.set_grad_enabled(True)
        notes.append(
            "importing your file turned autograd off (torch.set_grad_enabled(False)); the "
            "check turned it back on"
        )
    if (threads := torch.get_num_threads()) != 1:
        torch.set_num_threads(1)
        notes.append(
            f"importing your file set torch's thread count to {threads}; the check runs on one"
        )
    return notes


def _convention_notes(code: _TorchCode | _PairCode, asked: str) -> list[str]:
    convention = code.convention if isinstance(code, _PairCode) else None
    if convention is None or convention.name != CS231N:
        return []
    how = (
        "as asked (--convention cs231n)"
        if asked == CS231N
        else ("recognised from what the forward returns and the backward's parameters")
    )
    douts = ", ".join(f"d{name}" for name in convention.output_names)
    outs = ", ".join(convention.output_names)
    return [
        f"CS231n convention, {how}: forward(…) -> ({outs}, cache), backward({douts}, cache) -> "
        "one gradient per input; the cache is deep-copied for every backward call"
    ]


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
