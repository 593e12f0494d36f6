"""``gradcli check FILE.py:NAME [--input SPEC]... [--backward FILE.py:NAME] …``"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gradcli.commands.options import Common, SeedOpt, computing_command
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import ExitCode, InputError, shown
from gradcli.limits import FLOAT64, require_memory
from gradcli.parsing import parse_dims, parse_number, parse_tensor
from gradcli.results.check import CheckResult, InputSpec
from gradcli.settings import Settings
from gradcli.usercode import GivenCode, Target, UserCodeFailure, UserInterrupt, parse_target

if TYPE_CHECKING:
    from gradcli.results.failure import CheckFailure

MAX_DIMS = 4
DEFAULT_TIMEOUT = 60.0  # seconds one call of the user's code may take
KWARG_LIMIT = 100_000  # characters of one --kwarg value
KWARG_DEPTH = 16  # nesting of a --kwarg value's lists and objects
CONVENTIONS = ("auto", "inputs", "cs231n")
PYTHON_WORDS = {"True": True, "False": False, "None": None}
_SHAPE = re.compile(r"^\s*\d+(\s*[x×]\s*\d+)*\s*$", re.IGNORECASE)
_INT_SPEC = re.compile(r"^\s*int\s*:(?P<shape>[^:]*):(?P<high>[^:]*)$", re.IGNORECASE)
_SCALAR_SPEC = re.compile(r"^\s*scalar\s*(?::(?P<value>.*))?$", re.IGNORECASE | re.S)
_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_input_spec(text: str, number: int) -> InputSpec:
    """``3x4`` (random values of that shape), ``1,2;3,4`` / JSON / @FILE (values),
    ``int:SHAPE:HIGH`` (integers in [0, HIGH), no gradient), or ``scalar`` / ``scalar:0.5``
    (a 0-d tensor: random, or that value)."""
    what = f"--input {number}"
    scalar = _SCALAR_SPEC.match(text)
    if scalar:
        if scalar["value"] is None:
            return InputSpec(text, "random", ())
        value = parse_number(scalar["value"], f"{what} (scalar:VALUE)")
        return InputSpec(text, "literal", (), (value,))
    if text.strip().lower().startswith("scalar"):
        raise InputError(f"{what} {shown(text)} must look like scalar or scalar:VALUE")
    match = _INT_SPEC.match(text)
    if match:
        shape = parse_dims(match["shape"], f"{what} (int:SHAPE:HIGH)", max_dims=MAX_DIMS)
        high = match["high"].strip()
        if not (high.isascii() and high.isdigit() and len(high) <= 19 and 1 <= int(high) <= 2**62):
            raise InputError(
                f"{what} {shown(text)}: HIGH {shown(high)} must be a whole number ≥ 1 "
                "(integers are drawn from [0, HIGH))"
            )
        return InputSpec(text, "int", shape, high=int(high))
    if text.strip().lower().startswith("int"):
        raise InputError(f"{what} {shown(text)} must look like int:SHAPE:HIGH, e.g. int:8:5")
    if _SHAPE.match(text):
        return InputSpec(text, "random", parse_dims(text, what, max_dims=MAX_DIMS))
    data = parse_tensor(text, what, max_dims=MAX_DIMS)
    return InputSpec(text, "literal", tuple(data.shape), tuple(data.values))


def parse_order(text: str) -> int:
    value = text.strip()
    if value not in ("1", "2"):
        raise InputError(f"--order {shown(text)} must be 1 or 2")
    return int(value)


def numpy_available() -> None:
    """An InputError when --numpy is asked for and NumPy is not installed."""
    try:
        import numpy  # noqa: F401  (torch imports it anyway when it is there)
    except ImportError:
        raise InputError(
            "--numpy needs NumPy, which is not installed (pip install numpy)"
        ) from None


@computing_command
def check(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FILE.py:NAME",
            help="Your code: a torch.autograd.Function subclass, a function of tensors, or "
            "(with --backward) the forward of a forward/backward pair.",
            show_default=False,
        ),
    ],
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            metavar="SPEC",
            help="One per input, in order: a shape 3x4 (random values, |x| in [0.1, 1]), "
            "values '1,2;3,4' / JSON / @FILE, int:SHAPE:HIGH (integers, no gradient), or "
            "scalar / scalar:0.5 (a 0-d tensor).",
            show_default=False,
        ),
    ] = None,
    seed: SeedOpt = 0,
    backward: Annotated[
        str | None,
        typer.Option(
            "--backward",
            metavar="FILE.py:NAME",
            help="The backward of a pair: backward(dout, *inputs) -> grad or tuple of grads.",
            show_default=False,
        ),
    ] = None,
    numpy: Annotated[
        bool,
        typer.Option("--numpy", help="Pass float NumPy arrays to the pair instead of tensors."),
    ] = False,
    order: Annotated[
        str,
        typer.Option("--order", metavar="1|2", help="2: also check the gradient of your gradient."),
    ] = "1",
    kwarg: Annotated[
        list[str] | None,
        typer.Option(
            "--kwarg",
            metavar="NAME=VALUE",
            help="A non-tensor argument of your forward, by name; VALUE is JSON "
            '(stride=2, bn_param=\'{"mode": "train"}\') or a bare word (mode=train).',
            show_default=False,
        ),
    ] = None,
    convention: Annotated[
        str,
        typer.Option(
            "--convention",
            metavar="auto|inputs|cs231n",
            help="A pair's calling convention: backward(dout, *inputs), or CS231n's "
            "forward -> (out, cache) with backward(dout, cache); auto tells them apart.",
        ),
    ] = "auto",
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Longest one call of your code may take (0: no limit).",
        ),
    ] = "60",
    show_traceback: Annotated[
        bool,
        typer.Option("--traceback", help="On an error in your code, print its full traceback."),
    ] = False,
    *,
    common: Common,
) -> int:
    """Check your own backward against finite differences; say which entries are wrong and why.

    FILE.py is imported and run as Python: it is your own code and runs with your
    permissions, so check only code you trust; it runs in a child process, so an exit, a
    crash or a hang is reported too. Exit 0: right; 1: wrong gradients, a defect (such as
    an in-place change) or an error in your code; 2: bad input.
    """
    request_target = parse_target(target)
    request_backward = None if backward is None else parse_target(backward, "--backward ")
    specs = tuple(parse_input_spec(text, i) for i, text in enumerate(input_ or [], 1))
    kwargs = parse_kwargs(kwarg or [])
    chosen_convention = parse_convention(convention, backward is not None)
    seconds = parse_timeout(timeout)
    chosen_order = parse_order(order)
    try:
        result = check_result(
            request_target, request_backward, specs, seed, numpy, chosen_order, kwargs,
            chosen_convention, seconds, common.settings, show_traceback,
        )  # fmt: skip
    except UserInterrupt as interrupt:
        sys.stderr.write(f"Error: {interrupt}\n")
        return ExitCode.INTERRUPTED
    return common.output.show(result)


def check_result(
    target: Target | GivenCode,
    backward: Target | GivenCode | None,
    specs: tuple[InputSpec, ...],
    seed: int,
    numpy: bool,
    order: int,
    kwargs: dict[str, Any],
    convention: str,
    seconds: float,
    settings: Settings,
    show_traceback: bool = False,
    contained: bool = True,
) -> CheckResult | CheckFailure:
    """The check behind ``gradcli check`` and ``gradcli.check``: the user's code named by
    ``FILE.py:NAME`` or handed over as an object; every option checked before torch loads.
    ``contained``: in a child process when the system can (see gradcli.sandbox), else here."""
    if not settings.numeric:
        raise InputError(
            "--no-numeric: check compares your backward with finite differences of your "
            "forward; it cannot run without them"
        )
    if order == 2 and numpy:
        raise InputError(
            "--order 2 differentiates your backward with autograd, which NumPy code does not "
            "have; drop --numpy and write the pair with torch"
        )
    total = sum(spec.size for spec in specs)
    require_memory(total * FLOAT64 * 8, f"holding the inputs ({total:,} entries) and their copies")
    if numpy:
        numpy_available()
    fields = {
        "target": target,
        "backward": backward,
        "inputs": specs,
        "seed": seed,
        "numpy": numpy,
        "order": order,
        "kwargs": tuple(kwargs.items()),
        "convention": convention,
    }
    return _run(fields, seconds, settings, show_traceback, contained)


def parse_kwargs(texts: list[str]) -> dict[str, Any]:
    """``--kwarg NAME=VALUE`` (repeatable) → {name: value}; VALUE is JSON, True/False/None,
    or a bare word (a string). Never evaluated as Python."""
    found: dict[str, Any] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(
                f"--kwarg {shown(text)} must look like NAME=VALUE, e.g. stride=2 or "
                """bn_param='{"mode": "train"}'"""
            )
        if not name.isidentifier():
            raise InputError(f"--kwarg {shown(text)}: {shown(name)} is not a Python name")
        if name in found:
            raise InputError(f"--kwarg {name} is given twice")
        found[name] = _kwarg_value(name, raw.strip())
    return found


def _kwarg_value(name: str, raw: str) -> Any:
    what = f"--kwarg {name}"
    if not raw:
        raise InputError(f"{what} has no value: write {name}=VALUE (JSON, or a word)")
    if len(raw) > KWARG_LIMIT:
        raise InputError(f"{what}: the value is longer than {KWARG_LIMIT:,} characters")
    if raw in PYTHON_WORDS:
        return PYTHON_WORDS[raw]
    if _json_depth(raw) > KWARG_DEPTH:
        raise InputError(f"{what}: the value is nested more than {KWARG_DEPTH} levels deep")

    def constant(token: str) -> float:
        raise InputError(f"{what}: {token} is not a finite number (NaN and inf are not allowed)")

    try:
        value = json.loads(raw, parse_constant=constant)
    except json.JSONDecodeError as error:
        if _BARE_WORD.match(raw):
            return raw  # a word such as train or max: the string
        raise InputError(
            f"{what} {shown(raw)} is neither JSON nor a bare word ({error.msg} at character "
            f'{error.pos + 1}); quote it for your shell, e.g. {name}=\'{{"mode": "train"}}\''
        ) from None
    if not _finite(value):
        raise InputError(f"{what} {shown(raw)}: a number overflows float64 (±1.8e308)")
    return value


def _json_depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` in a JSON text (strings skipped), in one pass."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            if char == '"' and not escaped:
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def parse_convention(text: str, pair: bool) -> str:
    value = text.strip().lower()
    if value not in CONVENTIONS:
        raise InputError(f"--convention {shown(text)} must be one of: {', '.join(CONVENTIONS)}")
    if value != "auto" and not pair:
        raise InputError(
            f"--convention {value} is for a forward/backward pair: give --backward FILE.py:NAME"
        )
    return value


def parse_timeout(text: str) -> float:
    value = parse_number(text, "--timeout")
    if value < 0:
        raise InputError(f"--timeout {shown(text)} must be ≥ 0 seconds (0: no limit)")
    return value


def _run(
    fields: dict[str, Any],
    seconds: float,
    settings: Settings,
    show_traceback: bool,
    contained: bool = True,
) -> CheckResult | CheckFailure:
    """Run the check — torch and the user's code in a child process — and return what it
    found: the check, or how the user's code failed."""
    from gradcli import sandbox
    from gradcli.results.failure import CheckFailure

    inside = contained and sandbox.available()
    try:
        work = lambda: _check_in_child(fields, settings)  # noqa: E731
        result = sandbox.contain(work, seconds or None) if inside else sandbox.in_process(work)
    except UserCodeFailure as failure:
        if show_traceback and failure.failure.traceback:
            sys.stderr.write(failure.failure.traceback.rstrip("\n") + "\n")
        notes = [] if inside or not contained else [NOT_CONTAINED]
        if not fields["numpy"] and _wanted_numpy(failure.failure):
            notes.append(NUMPY_HINT)
        if not show_traceback and failure.failure.traceback:
            notes.append("--traceback shows the whole traceback")
        backward = fields["backward"]
        return CheckFailure(
            fields["target"].text,
            None if backward is None else backward.text,
            failure.failure,
            notes,
        )
    if contained and not inside:
        result.notes.append(NOT_CONTAINED)
    return result


NUMPY_HINT = (
    "your code works on NumPy arrays: gradcli passed it tensors; check a NumPy pair with "
    "--numpy (and --backward FILE.py:NAME for its backward)"
)


def _wanted_numpy(failure: Any) -> bool:
    """Whether the user's code failed because it was given tensors where it wants NumPy
    arrays (torch's "Can't call numpy() on Tensor that requires grad", NumPy refusing a
    tensor)."""
    message = failure.message or ""
    return "numpy()" in message or "__array__" in message or "ndarray" in message


def _check_in_child(fields: dict[str, Any], settings: Any) -> Any:
    """In the child process: import torch and the core, run the check."""
    from gradcli.core.check import CheckRequest, check

    return check(CheckRequest(**fields), settings)


NOT_CONTAINED = (
    "your code ran inside gradcli's own process (GRADCLI_NO_SANDBOX=1, or no os.fork on this "
    "system): an os._exit, a crash or a hang in it is not contained, and --timeout is not "
    "enforced"
)


INFO = CommandInfo(
    name="check",
    function=check,
    summary="is your own backward right? where and why not",
    usage="FILE.py:NAME [--input SPEC]...",
    examples=(
        Example("check examples/sigmoid.py:Sigmoid --input 5"),
        Example(
            "check examples/bad_relu.py:relu_forward --backward examples/bad_relu.py:relu_backward"
            " --numpy --input 3x4",
            code=1,
        ),
        Example("check examples/linear_torch.py:Linear --input 4x3 --input 2x3 --input 2"),
        Example(
            "check examples/cs231n_affine.py:affine_forward --backward "
            "examples/cs231n_affine.py:affine_backward --numpy --input 2x4x3 --input 12x5 "
            "--input 5"
        ),
    ),
)
