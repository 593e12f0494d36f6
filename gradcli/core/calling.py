"""How `gradcli check` calls the user's code: arguments, conventions, outputs, global state.

* **Binding** — the ``--input`` tensors and ``--kwarg`` values are bound to the forward's
  signature: inputs fill its positional parameters in order (skipping those given by
  ``--kwarg``), parameters with a default may be left out (``bias=None``), ``--kwarg`` values
  go to their parameter by name. Each call gets fresh copies of the ``--kwarg`` values (a
  CS231n forward writes running averages into its ``bn_param``).
* **Conventions** of a forward/backward pair: ``inputs`` — ``backward(dout…, *inputs)``;
  ``cs231n`` — the forward returns ``(out…, cache)`` and ``backward(dout…, cache)``.
  ``auto`` tells them apart from the backward's parameters and the forward's result.
* **Outputs** — one tensor, or several (a tuple), each a dense float tensor on the CPU;
  anything else is a finding about the user's code, said in words.
* **Global state** — torch's grad mode, default dtype, thread count, anomaly mode and
  random generator, NumPy's global random generator (``np.random.rand``…) and Python's
  ``random`` are restored after each call of the user's code (so each call starts from the
  same random state).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcli._torch import load
from gradcli.errors import InputError, suggest
from gradcli.results.failure import RESULT, Failure
from gradcli.usercode import UserCodeFailure

torch = load()
Tensor = torch.Tensor

CONVENTIONS = ("auto", "inputs", "cs231n")
INPUTS, CS231N = "inputs", "cs231n"


# ------------------------------------------------------------------ torch's global state


class TorchState:
    """Undoes what each call of the user's code changes in torch's global state, and
    remembers what it had to undo (for the notes). Called, it guards one call."""

    def __init__(self) -> None:
        self.undone: dict[str, str] = {}

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        grad = torch.is_grad_enabled()
        dtype = torch.get_default_dtype()
        threads = torch.get_num_threads()
        anomaly = torch.is_anomaly_enabled()
        rng = torch.get_rng_state()
        generators = _other_generators()
        try:
            yield
        finally:
            self._restore(grad, dtype, threads, anomaly, rng)
            self._restore_generators(generators)

    def _restore(self, grad: bool, dtype: Any, threads: int, anomaly: bool, rng: Tensor) -> None:
        if torch.is_grad_enabled() != grad:
            self.undone["grad"] = (
                f"turned autograd {'on' if not grad else 'off'} "
                f"(torch.set_grad_enabled({not grad}))"
            )
            torch.set_grad_enabled(grad)
        if (now := torch.get_default_dtype()) is not dtype:
            self.undone["dtype"] = f"set the default dtype to {str(now).removeprefix('torch.')}"
            torch.set_default_dtype(dtype)
        if (count := torch.get_num_threads()) != threads:
            self.undone["threads"] = f"set torch's thread count to {count}"
            torch.set_num_threads(threads)
        if torch.is_anomaly_enabled() != anomaly:
            self.undone["anomaly"] = "switched anomaly detection"
            torch.set_anomaly_enabled(anomaly)
        after = torch.get_rng_state()
        if not torch.equal(after, rng):
            self.undone["rng"] = "torch's"
            torch.set_rng_state(rng)

    def _restore_generators(self, before: list[tuple[_Generator, Any]]) -> None:
        for generator, state in before:
            with contextlib.suppress(Exception):  # (a generator their code replaced)
                if not _same_state(generator.get(), state):
                    self.undone.setdefault("rng", generator.name)
                    generator.set(state)

    def notes(self) -> list[str]:
        """What was undone, in words."""
        notes = []
        changes = [text for key, text in self.undone.items() if key != "rng"]
        if changes:
            notes.append(
                f"your code {'; '.join(changes)}: gradcli undid it after every call, so no "
                "call (and nothing after the check) inherits it"
            )
        if "rng" in self.undone:
            notes.append(
                f"your code uses {self.undone['rng']} random generator: every call started "
                "from the same random state, so the randomness (a dropout mask…) is the same "
                "in each call and the finite differences see one function"
            )
        return notes


@dataclass(frozen=True)
class _Generator:
    name: str
    get: Callable[[], Any]
    set: Callable[[Any], None]


def _other_generators() -> list[tuple[_Generator, Any]]:
    """The global random generators beside torch's, each with its state now: Python's
    ``random``, and NumPy's when the user's code has imported NumPy (gradcli does not
    import it for them)."""
    generators = [_Generator("Python's", random.getstate, random.setstate)]
    if (numpy := sys.modules.get("numpy")) is not None:
        generators.append(_Generator("NumPy's", numpy.random.get_state, numpy.random.set_state))
    states = []
    for generator in generators:
        with contextlib.suppress(Exception):  # (a generator their code replaced)
            states.append((generator, generator.get()))
    return states


def _same_state(a: Any, b: Any) -> bool:
    """Whether two generator states are equal (NumPy's holds an array)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "tolist"):
        return hasattr(b, "tolist") and a.tolist() == b.tolist()
    return bool(a == b)


# ------------------------------------------------------------------ binding


@dataclass(frozen=True)
class Slot:
    """One argument of a call: an input (by index), or a fixed value (a --kwarg, a default)."""

    name: str
    index: int = -1  # the input's position among the --input values; -1: a fixed value
    value: Any = None
    fresh: bool = False  # a --kwarg value: deep-copied for every call

    def resolve(self, inputs: Sequence[Any]) -> Any:
        if self.index >= 0:
            return inputs[self.index]
        return copy.deepcopy(self.value) if self.fresh else self.value


@dataclass(frozen=True)
class Binding:
    """The forward's parameters bound to inputs, --kwarg values and defaults."""

    positional: list[Slot]
    keywords: list[Slot]
    names: list[str]  # the inputs' names, in --input order
    required: int  # how many inputs the forward needs at least
    described: str = ""  # the parameters, for messages: "input, weight, bias=None"

    def args(self, inputs: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
        return (
            [slot.resolve(inputs) for slot in self.positional],
            {slot.name: slot.resolve(inputs) for slot in self.keywords},
        )

    def caller(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` as a function of the inputs alone."""

        def call(*inputs: Any) -> Any:
            args, kwargs = self.args(inputs)
            return func(*args, **kwargs)

        return call

    @property
    def given(self) -> list[Slot]:
        """The --kwarg values (positional or keyword)."""
        return [slot for slot in [*self.positional, *self.keywords] if slot.fresh]


@dataclass
class _Walk:
    """State while parameters are bound."""

    count: int
    kwargs: dict[str, Any]
    positional: list[Slot] = field(default_factory=list)
    keywords: list[Slot] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    pending: list[Slot] = field(default_factory=list)  # defaults before a later argument
    next_input: int = 0
    required: int = 0

    def take_input(self, name: str) -> Slot:
        slot = Slot(name, index=self.next_input)
        self.next_input += 1
        self.names.append(name)
        return slot


def bind(
    func: Callable[..., Any],
    skip: int,
    count: int,
    kwargs: dict[str, Any],
    label: str,
    keywords_allowed: bool = True,
) -> Binding:
    """Bind ``count`` inputs and the ``kwargs`` to ``func``'s parameters (``skip`` first
    parameters, such as ``ctx``, are not the user's); an InputError names what does not fit."""
    try:
        params = list(inspect.signature(func).parameters.values())[skip:]
    except (TypeError, ValueError):  # no signature (a builtin): inputs in order
        names = [f"x{i}" for i in range(count)]
        fixed = [Slot(k, value=v, fresh=True) for k, v in kwargs.items()]
        return Binding([Slot(n, index=i) for i, n in enumerate(names)], fixed, names, count)
    walk = _Walk(count, dict(kwargs))
    given = set(kwargs)
    for p in params:
        _bind_one(p, walk, label, keywords_allowed)
    if walk.kwargs:
        name = next(iter(walk.kwargs))
        known = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        raise InputError(
            f"--kwarg {name}: {label} has no parameter {name!r}{suggest(name, known)}"
            f" (its parameters: {_describe(params) or 'none'})"
        )
    if walk.next_input < count or count < walk.required:
        raise InputError(_count_message(label, params, count, given))
    return Binding(walk.positional, walk.keywords, walk.names, walk.required, _describe(params))


def open_parameters(
    func: Callable[..., Any], skip: int, kwargs: dict[str, Any]
) -> list[inspect.Parameter] | None:
    """The positional parameters left for inputs (None: ``*args`` or no signature)."""
    try:
        params = list(inspect.signature(func).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in kwargs
    ]


def _bind_one(p: inspect.Parameter, walk: _Walk, label: str, keywords_allowed: bool) -> None:
    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
        if p.name in walk.kwargs:
            slot = Slot(p.name, value=walk.kwargs.pop(p.name), fresh=True)
        elif walk.next_input < walk.count:
            slot = walk.take_input(p.name)
            walk.required += p.default is p.empty
        elif p.default is not p.empty:
            walk.pending.append(Slot(p.name, value=p.default))  # sent only if a later one is
            return
        else:
            walk.required += 1
            return
        walk.positional += [*walk.pending, slot]
        walk.pending = []
    elif p.kind == p.VAR_POSITIONAL:
        while walk.next_input < walk.count:
            walk.positional.append(walk.take_input(f"{p.name}{walk.next_input}"))
    elif p.kind == p.KEYWORD_ONLY:
        if p.name in walk.kwargs:
            if not keywords_allowed:
                raise InputError(
                    f"--kwarg {p.name}: {label}'s forward takes {p.name!r} by keyword only, "
                    "which torch.autograd.Function.apply cannot pass; make it positional"
                )
            walk.keywords.append(Slot(p.name, value=walk.kwargs.pop(p.name), fresh=True))
        elif p.default is p.empty:
            raise InputError(
                f"{label} needs its keyword-only parameter {p.name!r}: give it with "
                f"--kwarg {p.name}=VALUE"
            )
    elif p.kind == p.VAR_KEYWORD and keywords_allowed:
        for name in list(walk.kwargs):
            walk.keywords.append(Slot(name, value=walk.kwargs.pop(name), fresh=True))


def _describe(params: Sequence[inspect.Parameter]) -> str:
    parts = []
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
        elif p.kind == p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        elif p.default is p.empty:
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={_short_repr(p.default)}")
    return ", ".join(parts)


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # (their default's __repr__)
        text = "…"
    return text if len(text) <= 20 else text[:19] + "…"


def _count_message(label: str, params: list[inspect.Parameter], count: int, given: set[str]) -> str:
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    open_ = [p for p in positional if p.name not in given]
    low = sum(p.default is p.empty for p in open_)
    high = len(open_)
    names = ", ".join(
        p.name if p.default is p.empty else f"{p.name}={_short_repr(p.default)}" for p in open_
    )
    takes = f"{low} input{'s' if low != 1 else ''}" if low == high else f"{low} to {high} inputs"
    verb = "were" if count != 1 else "was"
    return f"{label} takes {takes} ({names or 'none'}) but {count} --input {verb} given"


# ------------------------------------------------------------------ outputs


def tensor_problem(value: Any) -> str | None:
    """Why a tensor is not a plain dense float tensor on the CPU (None when it is)."""
    if getattr(value, "is_nested", False):
        return "a nested tensor"
    if value.layout != torch.strided:
        return f"a sparse tensor ({str(value.layout).removeprefix('torch.')})"
    if value.device.type == "meta":
        return "a meta tensor (it has a shape but no values)"
    if value.device.type != "cpu":
        return f"a tensor on the {value.device.type} device, not the CPU"
    if getattr(value, "is_quantized", False):
        return "a quantized tensor"
    if value.is_complex():
        return f"a complex tensor ({str(value.dtype).removeprefix('torch.')})"
    return None


def result_failure(label: str, phase: str, what: str) -> UserCodeFailure:
    """Their forward returned something that cannot be checked: a finding (exit 1)."""
    return UserCodeFailure(Failure(RESULT, phase, label, f"your {phase} returned {what}"))


def output_tensor(value: Any, label: str, numpy: bool, item: str = "") -> Tensor:
    """One output of the forward as a tensor (as computed), or a failure saying what it was."""
    where = f" as {item}" if item else ""

    def refuse(what: str) -> UserCodeFailure:
        return result_failure(label, "forward", what)

    if isinstance(value, Tensor):
        problem = tensor_problem(value)
        if problem:
            raise refuse(f"{problem}{where}; check needs a dense float tensor on the CPU")
        out = value
    elif type(value).__module__ == "numpy" and hasattr(value, "shape"):
        if not numpy:
            raise refuse(f"a NumPy array{where} for tensor inputs; pass --numpy to give it arrays")
        import numpy as np

        array = np.asarray(value)
        if array.dtype.kind != "f":
            raise refuse(f"a NumPy array of {array.dtype}{where}, not floats")
        out = torch.from_numpy(array.copy())
    else:
        raise refuse(f"{type_name(value)}{where}, not a tensor")
    if not out.is_floating_point():
        raise refuse(f"a tensor of {str(out.dtype).removeprefix('torch.')}{where}, not floats")
    if out.numel() == 0:
        shape = "×".join(map(str, out.shape))
        raise refuse(f"an empty tensor (shape {shape}){where}: there is nothing to differentiate")
    return out


def type_name(value: Any) -> str:
    if isinstance(value, Tensor):
        return tensor_problem(value) or "a tensor"
    module, name = type(value).__module__, type(value).__name__
    return (
        f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"
        if module == "builtins"
        else (f"a {module}.{name}")
    )


def is_array(value: Any) -> bool:
    """A tensor or a NumPy array (an output), as opposed to a cache."""
    return isinstance(value, Tensor) or (
        type(value).__module__ == "numpy" and hasattr(value, "shape")
    )


# ------------------------------------------------------------------ conventions


@dataclass(frozen=True)
class Convention:
    """How a pair's backward takes what its forward gave."""

    name: str  # INPUTS or CS231N
    outputs: int  # how many outputs the forward returns (the cache not counted)
    output_names: list[str]


def positional_names(func: Callable[..., Any]) -> list[str] | None:
    """The names of ``func``'s positional parameters (None with ``*args`` or no signature)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def resolve_convention(
    asked: str, raw: Any, backward: Callable[..., Any], n_inputs: int, label: str
) -> Convention:
    """The convention of a pair, from what was asked (auto, inputs, cs231n), what the forward
    returned and the backward's parameters."""
    params = positional_names(backward)
    several = isinstance(raw, (tuple, list))
    count = len(raw) if several else 1
    if asked == "auto":
        asked = _detect(raw, params, n_inputs, count)
    if asked == CS231N:
        if not several or count < 2:
            got = f"a {type(raw).__name__} of {count}" if several else "one value"
            raise InputError(
                f"--convention cs231n: {label} returned {got}; a CS231n forward returns "
                "(out, cache) (or out1, out2, …, cache)"
            )
        outputs = count - 1
        douts = (params or [])[:outputs]
    else:
        outputs = count
        douts = (params or [])[:outputs]
    names = [_output_name(d) for d in douts] if len(douts) == outputs else []
    if len(set(names)) != len(names) or not names:
        names = ["out"] if outputs == 1 else [f"out{i}" for i in range(outputs)]
    return Convention(asked, outputs, names)


def _detect(raw: Any, params: list[str] | None, n_inputs: int, count: int) -> str:
    """cs231n when the backward takes (dout…, cache), else inputs."""
    if not isinstance(raw, (tuple, list)) or count < 2:
        return INPUTS
    if params is not None:
        if len(params) == count:
            return CS231N
        if len(params) == count + n_inputs:
            return INPUTS
        if params and "cache" in params[-1].lower():
            return CS231N
    return INPUTS if is_array(raw[-1]) else CS231N


def _output_name(dout: str) -> str:
    """``dnext_h`` → ``next_h``, ``dout`` → ``out``; other names as they are."""
    if dout.startswith("d") and len(dout) > 1 and dout[1:].isidentifier():
        return dout[1:].lstrip("_") or dout
    return dout


def split_result(raw: Any, convention: Convention) -> tuple[list[Any], Any]:
    """The forward's outputs and its cache (None in the inputs convention)."""
    if convention.name == CS231N:
        items = list(raw)
        return items[:-1], items[-1]
    if isinstance(raw, (tuple, list)):
        return list(raw), None
    return [raw], None


def fresh_cache(passed: list[Any], cache: Any) -> tuple[list[Any], Any] | None:
    """Deep copies of the inputs and the cache, sharing what they shared (None when the cache
    cannot be copied: the forward is then run again for each backward call)."""
    try:
        return copy.deepcopy((passed, cache))
    except Exception:  # (a cache holding something deepcopy refuses)
        return None
