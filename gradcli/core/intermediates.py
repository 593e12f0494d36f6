"""The intermediate values of the user's forward, named by how they were computed.

A forward is run once more while every torch call (a ``TorchFunctionMode``) or every NumPy
ufunc and array function (an ``ndarray`` subclass wrapping the inputs) is recorded with its
result. Each result is labelled from its operands: the inputs by their names, numbers as
written, ``tanh(softplus(x))``, ``x · tanh(softplus(x))``. The diagnoses use them to name a
chain-rule factor the backward forgot. Recording is best effort: code that the recording
disturbs (a type check on its arrays, an op the mode cannot see) yields fewer values, never
an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gradcli._torch import load

torch = load()
Tensor = torch.Tensor

RECORD_LIMIT = 200  # values kept from one forward
VALUE_LIMIT = 1 << 16  # entries of one recorded value
LABEL_LIMIT = 60  # characters of a label

# operation names (torch and NumPy) written as infix operators; "r" ones swap their operands
INFIX = {
    "mul": "·", "multiply": "·", "__mul__": "·", "__rmul__": "r·",
    "add": "+", "__add__": "+", "__radd__": "r+",
    "sub": "−", "subtract": "−", "__sub__": "−", "__rsub__": "r−", "rsub": "r−",
    "div": "/", "divide": "/", "true_divide": "/", "__truediv__": "/", "__rtruediv__": "r/",
    "pow": "^", "power": "^", "__pow__": "^", "__rpow__": "r^", "float_power": "^",
    "matmul": "@", "__matmul__": "@", "__rmatmul__": "r@",
}  # fmt: skip
REDUCTIONS = {"add.reduce": "sum", "multiply.reduce": "prod", "maximum.reduce": "max"}
# operations that only re-wrap their operand: the result keeps the operand's label
PASS_THROUGH = {
    "detach", "clone", "contiguous", "double", "float", "to", "view", "reshape", "view_as",
    "reshape_as", "type", "copy", "asarray", "array", "astype", "ascontiguousarray", "squeeze",
    "unsqueeze", "flatten", "ravel", "requires_grad_", "positive", "__pos__",
}  # fmt: skip


@dataclass(frozen=True)
class Intermediate:
    """One value the forward computed, float64, flattened, with how it was computed."""

    label: str
    op: str  # the operation's name ("mul", "tanh"…)
    operands: tuple[str, ...]  # the operands' labels
    value: Tensor
    shape: tuple[int, ...]


class _Labels:
    """Labels of the values seen so far (references kept, so ids are never reused)."""

    def __init__(self, names: dict[int, str], keep: list[Any]) -> None:
        self.by_id = dict(names)
        self.keep = keep

    def of(self, value: Any) -> str:
        if id(value) in self.by_id:
            return self.by_id[id(value)]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:g}"
        if isinstance(value, (list, tuple)) and len(value) <= 3:
            return ", ".join(self.of(v) for v in value)
        if hasattr(value, "shape") and getattr(value, "ndim", 1) == 0:
            try:
                return f"{float(value):g}"
            except (TypeError, ValueError):
                return "…"
        return "…"

    def name(self, value: Any, label: str) -> None:
        self.by_id[id(value)] = label
        self.keep.append(value)


def label_of(op: str, operands: Sequence[str]) -> str:
    """``mul`` of ``x`` and ``t`` → ``x · t``; ``tanh`` of ``u`` → ``tanh(u)``."""
    symbol = INFIX.get(op)
    if symbol is not None and len(operands) >= 2:
        a, b = operands[0], operands[1]
        if symbol.startswith("r"):
            symbol, a, b = symbol[1:], b, a
        text = f"{_wrap(a)} {symbol} {_wrap(b)}"
    else:
        name = op.strip("_")
        text = f"{name}({', '.join(operands)})"
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def _wrap(label: str) -> str:
    return f"({label})" if " " in label else label


def _keep(records: list[Intermediate], op: str, operands: list[str], result: Any) -> str | None:
    """Record one result; its label, or None when it is not a float array."""
    value = _as_float64(result)
    if value is None:
        return None
    if op in PASS_THROUGH and operands:
        return operands[0]
    label = label_of(op, operands)
    if len(records) < RECORD_LIMIT and value.numel() <= VALUE_LIMIT:
        records.append(Intermediate(label, op, tuple(operands), value.reshape(-1), value.shape))
    return label


def _as_float64(value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        if not value.is_floating_point() or value.is_complex() or value.layout != torch.strided:
            return None
        if value.device.type != "cpu":
            return None
        return value.detach().to(torch.float64).clone()
    if type(value).__module__.startswith("numpy") and hasattr(value, "dtype"):
        import numpy

        array = numpy.asarray(value)
        if array.dtype.kind != "f" or array.ndim == 0:
            return None
        return torch.from_numpy(numpy.array(array, dtype=numpy.float64))
    return None


def record_torch(
    call: Callable[..., Any], args: list[Tensor], names: Sequence[str]
) -> list[Intermediate]:
    """Every float tensor a torch forward computes, in order (the inputs excluded)."""
    from torch.overrides import TorchFunctionMode

    records: list[Intermediate] = []
    keep: list[Any] = []
    labels = _Labels({id(a): n for a, n in zip(args, names, strict=True)}, keep)

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, fargs=(), kwargs=None):  # type: ignore[no-untyped-def]
            result = func(*fargs, **(kwargs or {}))
            op = getattr(func, "__name__", "op")
            if op in ("__get__", "__set__", "size", "dim", "numel", "item"):
                return result
            operands = [labels.of(a) for a in fargs]
            label = _keep(records, op, operands, result)
            if label is not None:
                labels.name(result, label)
            return result

    try:
        with torch.no_grad(), Recorder():
            call(*args)
    except Exception:
        return records
    return records


def record_numpy(
    call: Callable[..., Any], args: list[Any], names: Sequence[str]
) -> list[Intermediate]:
    """Every float array a NumPy forward computes with ufuncs and array functions."""
    import numpy

    records: list[Intermediate] = []
    keep: list[Any] = []
    labels = _Labels({}, keep)

    class Recorded(numpy.ndarray):
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):  # type: ignore[no-untyped-def]
            plain = [_plain(v) for v in inputs]
            if "out" in kwargs:
                kwargs["out"] = tuple(_plain(v) for v in kwargs["out"])
            result = getattr(ufunc, method)(*plain, **kwargs)
            op = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            op = REDUCTIONS.get(op, op)
            return _wrap_result(op, list(inputs), result)

        def __array_function__(self, func, types, fargs, kwargs):  # type: ignore[no-untyped-def]
            plain = [_plain(v) for v in fargs]
            result = func(*plain, **{k: _plain(v) for k, v in kwargs.items()})
            return _wrap_result(func.__name__, list(fargs), result)

    def _plain(value: Any) -> Any:
        if isinstance(value, Recorded):
            return value.view(numpy.ndarray)
        if isinstance(value, (list, tuple)):
            return type(value)(_plain(v) for v in value)
        return value

    def _wrap_result(op: str, operands: list[Any], result: Any) -> Any:
        if not isinstance(result, numpy.ndarray):
            return result
        label = _keep(records, op, [labels.of(v) for v in operands], result)
        wrapped = result.view(Recorded)
        if label is not None:
            labels.name(wrapped, label)
        return wrapped

    passed = []
    for value, name in zip(args, names, strict=True):
        wrapped = numpy.array(value).view(Recorded)
        labels.name(wrapped, name)
        passed.append(wrapped)
    try:
        call(*passed)
    except Exception:
        return records
    return records
