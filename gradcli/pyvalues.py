"""Python values (numbers, nested lists, NumPy arrays, torch tensors, strings) turned into
what the commands parse their options into — so that ``import gradcli`` takes the path the
command line takes from there on, with the same checks and the same messages.

* A tensor becomes a :class:`~gradcli.parsing.TensorData` (Python floats, row-major, and
  the shape). torch tensors of any dtype are read as float64 copies (never changed, never
  left with ``requires_grad``); the command then computes in the dtype chosen (``dtype=``).
* A string is what the option would take on the command line (``"1,2;3,4"``, ``"3x4"``).
* An answer (``expect=``) becomes the ``--expect`` text, each number written the way Python
  prints it (``0.235`` has three significant digits, ``1`` is exact, ``Fraction(2, 3)`` is
  ``2/3``), so the same rules decide it.

Nothing here imports torch or NumPy: a value's type is recognised by its module.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from gradcli.errors import InputError, shown
from gradcli.parsing import (
    MAX_DEPTH,
    TensorData,
    parse_number,
    parse_tensor,
    parse_values,
    split_numbers,
)


def _module(value: Any) -> str:
    return type(value).__module__.split(".")[0]


def is_torch_tensor(value: Any) -> bool:
    return _module(value) == "torch" and hasattr(value, "detach") and hasattr(value, "dtype")


def is_array(value: Any) -> bool:
    """A NumPy array, a NumPy scalar or a torch tensor."""
    return is_torch_tensor(value) or (
        _module(value) == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype")
    )


def _array_data(value: Any, what: str) -> tuple[list[float], tuple[int, ...]]:
    """A tensor's or array's entries as Python floats (a float64 copy) and its shape."""
    if is_torch_tensor(value):
        if value.is_complex():
            raise InputError(f"{what} holds complex numbers ({_dtype(value)}); give real ones")
        import torch

        copy = value.detach().to(device="cpu", dtype=torch.float64)
        return copy.reshape(-1).tolist(), tuple(copy.shape)
    import numpy

    array = numpy.asarray(value)
    kind = array.dtype.kind
    if kind == "c":
        raise InputError(f"{what} holds complex numbers ({array.dtype}); give real ones")
    if kind not in "fiub":
        raise InputError(f"{what} is a NumPy array of {array.dtype}, not of numbers")
    return array.astype(numpy.float64).reshape(-1).tolist(), tuple(array.shape)


def _dtype(value: Any) -> str:
    return str(getattr(value, "dtype", "")).removeprefix("torch.")


def _number(value: Any, what: str) -> float:
    """One entry: a real number (bool is not one), or a string the CLI would read."""
    if isinstance(value, str):
        return parse_number(value, what)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if is_array(value) and getattr(value, "ndim", None) == 0:
            return _number(_array_data(value, what)[0][0], what)
        raise InputError(f"{what}: {shown(_written(value))} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(
            f"{what}: {shown(_written(value))} is not a finite number (NaN and inf are not allowed)"
        )
    return number


def _written(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _check_finite(values: list[float], what: str) -> None:
    for value in values:
        if not math.isfinite(value):
            _number(value, what)


def tensor_data(value: Any, what: str, max_dims: int = 4) -> TensorData:
    """A tensor option's value: CLI text (``"1,2;3,4"``, JSON, ``@FILE``), a number (one
    entry), a nested list, a NumPy array or a torch tensor (0-d counts as one entry)."""
    if isinstance(value, TensorData):
        return value
    if isinstance(value, str):
        return parse_tensor(value, what, max_dims=max_dims)
    if is_array(value):
        values, shape = _array_data(value, what)
        _check_finite(values, what)
        shape = shape or (1,)
    elif isinstance(value, (list, tuple)):
        values, shape = _nested(value, what)
    else:
        values, shape = [_number(value, what)], (1,)
    if 0 in shape:
        raise InputError(f"{what} is empty: give numbers such as 1,2,3")
    if len(shape) > max_dims:
        raise InputError(
            f"{what} is nested {len(shape)} lists deep; at most {max_dims} "
            f"dimension{'s' if max_dims != 1 else ''} are allowed here"
        )
    return TensorData(values, shape)


_PLAIN = (int, float)  # exactly these types (not bool): a flat list of them needs no walk


def _plain_rows(value: Sequence[Any]) -> tuple[list[float], tuple[int, ...]] | None:
    """A list of Python numbers, or of equally long lists of them — the usual input — read
    without the general walk; None for anything else (or a NaN/∞: the walk names it)."""
    if all(type(item) in _PLAIN for item in value):
        values = [float(item) for item in value]
        shape: tuple[int, ...] = (len(values),)
    elif all(type(row) is list for row in value) and value and value[0]:
        width = len(value[0])
        if not all(len(row) == width and all(type(v) in _PLAIN for v in row) for row in value):
            return None
        values = [float(v) for row in value for v in row]
        shape = (len(value), width)
    else:
        return None
    if not all(map(math.isfinite, values)):
        return None
    return values, shape


def _nested(value: Sequence[Any], what: str) -> tuple[list[float], tuple[int, ...]]:
    """Entries and shape of nested lists (arrays and tensors may sit inside them)."""
    plain = _plain_rows(value) if value else None
    if plain is not None:
        return plain
    shape: list[int] = []
    node: Any = value
    while isinstance(node, (list, tuple)) or (is_array(node) and getattr(node, "ndim", 0) > 0):
        if len(shape) > MAX_DEPTH:
            raise InputError(f"{what} is nested more than {MAX_DEPTH} lists deep")
        if not len(node):
            raise InputError(f"{what} has an empty list; every row needs numbers")
        shape.append(len(node))
        node = node[0]
    out: list[float] = []
    _flatten(value, tuple(shape), out, what)
    return out, tuple(shape)


def _flatten(node: Any, shape: tuple[int, ...], out: list[float], what: str) -> None:
    if not shape:
        if isinstance(node, (list, tuple)) or (is_array(node) and getattr(node, "ndim", 0) > 0):
            raise InputError(
                f"{what} is ragged: found a list where a number is expected (every row needs "
                "the same depth)"
            )
        out.append(_number(node, what))
        return
    if is_array(node) and getattr(node, "ndim", 0) == len(shape):
        values, inner = _array_data(node, what)
        if inner != shape:
            raise _ragged(what, f"an array of shape {_dims(inner)}", shape)
        _check_finite(values, what)
        out.extend(values)
        return
    if not isinstance(node, (list, tuple)) or len(node) != shape[0]:
        found = f"a list of {len(node)}" if isinstance(node, (list, tuple)) else _written(node)
        raise _ragged(what, found, shape)
    for item in node:
        _flatten(item, shape[1:], out, what)


def _ragged(what: str, found: str, shape: tuple[int, ...]) -> InputError:
    return InputError(
        f"{what} is ragged: found {found} where a list of {shape[0]} is expected "
        "(every row needs the same length)"
    )


def _dims(shape: Sequence[int]) -> str:
    return "×".join(str(n) for n in shape) or "a single value"


def vector(value: Any, what: str) -> list[float]:
    """Numbers given one after the other on the command line (x values, logits): a number,
    a flat list, a 1-D array or tensor, or the CLI's text."""
    if isinstance(value, str):
        return parse_values([value], what)
    if isinstance(value, (list, tuple)) and not value:
        raise InputError(f"no {what} given")
    data = tensor_data(value, what, max_dims=MAX_DEPTH)
    if len(data.shape) > 1:
        raise InputError(
            f"{what} must be one number or a flat list of numbers, not of shape {_dims(data.shape)}"
        )
    return data.values


# ---------------------------------------------------------------- option text


def number_text(value: Any, what: str) -> str:
    """A number as the command line would take it (a string is passed on as written)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = _number(value, what)
    return repr(number)


def answer_text(value: Any, what: str = "--expect") -> str:
    """An answer (``expect=``) as the ``--expect`` text: numbers exactly as Python writes
    them, a matrix's rows joined by ``;``, a 3-D or 4-D answer as nested JSON."""
    if isinstance(value, str):
        return value
    if is_array(value):
        values, shape = _array_data(value, what)
        whole = _whole_dtype(value)
        tokens = [str(int(v)) if whole else number_text(v, what) for v in values]
        return _rows_text(tokens, shape or (1,))
    if isinstance(value, (list, tuple)):
        tokens, shape = _answer_tokens(value, what)
        return _rows_text(tokens, shape)
    return number_text(value, what)


def _whole_dtype(value: Any) -> bool:
    """An integer (or bool) array or tensor: its entries are exact whole numbers."""
    if is_torch_tensor(value):
        return not (value.is_floating_point() or value.is_complex())
    return getattr(getattr(value, "dtype", None), "kind", "f") in "iub"


def _answer_tokens(value: Sequence[Any], what: str) -> tuple[list[str], tuple[int, ...]]:
    shape: list[int] = []
    node: Any = value
    while isinstance(node, (list, tuple)) or (is_array(node) and getattr(node, "ndim", 0) > 0):
        if not len(node):
            raise InputError(f"{what} has an empty list; every row needs numbers")
        shape.append(len(node))
        node = node[0]
    tokens: list[str] = []

    def walk(item: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(item, (list, tuple)):
                raise InputError(f"{what} is ragged (every row needs the same length)")
            tokens.append(number_text(item, what) if not is_array(item) else answer_text(item))
            return
        if is_array(item):
            item = item.tolist()
        if not isinstance(item, (list, tuple)) or len(item) != shape[depth]:
            raise InputError(f"{what} is ragged (every row needs the same length)")
        for child in item:
            walk(child, depth + 1)

    walk(value, 0)
    return tokens, tuple(shape)


def _rows_text(tokens: list[str], shape: tuple[int, ...]) -> str:
    if len(shape) <= 1:
        return ",".join(tokens)
    if len(shape) == 2:
        width = shape[1]
        return ";".join(",".join(tokens[i : i + width]) for i in range(0, len(tokens), width))
    return json.dumps(_nest(tokens, shape)).replace('"', "")


def _nest(tokens: list[str], shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return list(tokens)
    size = len(tokens) // shape[0]
    return [_nest(tokens[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def expect_items(value: Any) -> list[str]:
    """``expect=`` as ``--expect`` items: a dict gives ``KEY=VALUES`` items (one per key);
    anything else is the bare answer (one item), for a command that takes one."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [f"{key}={answer_text(answer, f'--expect {key}')}" for key, answer in value.items()]
    return [answer_text(value)]


def key_values(value: Any, option: str) -> list[str]:
    """``{"negative_slope": 0.1}`` (or ``["negative_slope=0.1"]``) as ``KEY=VALUE`` items
    of a repeatable option such as ``--param``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [f"{key}={_value_text(item, f'{option} {key}')}" for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise InputError(
                    f"{option} takes KEY=VALUE items or a dict {{KEY: VALUE}}; got "
                    f"{shown(_written(item))}"
                )
            items.append(item)
        return items
    raise InputError(f"{option} takes a dict {{KEY: VALUE}}; got {shown(_written(value))}")


def _value_text(value: Any, what: str) -> str:
    """A parameter's value: a word, a number, true/false, or numbers (``0.9,0.999`` or rows)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) or is_array(value):
        return answer_text(value, what)
    return number_text(value, what)


def shape_text(value: Any, what: str) -> str:
    """A shape: ``(2, 3)``, ``[2, 3]``, ``5`` or the CLI's ``2x3``."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (list, tuple)) and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in value
    ):
        return "x".join(str(int(n)) for n in value) or "0"
    raise InputError(f"{what} {shown(_written(value))} must be a shape such as (2, 3)")


def words(value: Any) -> str:
    """A choice or list of choices (``"relu"``, ``["relu", "sigmoid"]``) as the CLI's text."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


__all__ = [
    "answer_text",
    "expect_items",
    "is_array",
    "is_torch_tensor",
    "key_values",
    "number_text",
    "shape_text",
    "split_numbers",
    "tensor_data",
    "vector",
    "words",
]
