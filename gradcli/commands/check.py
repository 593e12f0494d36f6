"""``gradcli check FILE.py:NAME [--input SPEC]... [--backward FILE.py:NAME] …``"""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

from gradcli.commands.options import Common, SeedOpt, computing_command
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import ExitCode, InputError, shown
from gradcli.limits import FLOAT64, require_memory
from gradcli.parsing import parse_dims, parse_tensor
from gradcli.results.check import InputSpec
from gradcli.usercode import Target, UserCodeError, UserInterrupt, parse_target

MAX_DIMS = 4
_SHAPE = re.compile(r"^\s*\d+(\s*[x×]\s*\d+)*\s*$", re.IGNORECASE)
_INT_SPEC = re.compile(r"^\s*int\s*:(?P<shape>[^:]*):(?P<high>[^:]*)$", re.IGNORECASE)


def parse_input_spec(text: str, number: int) -> InputSpec:
    """``3x4`` (random values of that shape), ``1,2;3,4`` / JSON / @FILE (values), or
    ``int:SHAPE:HIGH`` (integers in [0, HIGH), no gradient)."""
    what = f"--input {number}"
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
            "values '1,2;3,4' / JSON / @FILE, or int:SHAPE:HIGH (integers, no gradient).",
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
    show_traceback: Annotated[
        bool,
        typer.Option("--traceback", help="On an error in your code, print its full traceback."),
    ] = False,
    *,
    common: Common,
) -> int:
    """Check your own backward against finite differences; say which entries are wrong and why.

    FILE.py is imported and run as Python: it is your own code and runs with your
    permissions, so check only code you trust. Exit 0: right; 1: wrong gradients (or a
    defect such as an in-place change); 2: bad input or an error in your code.
    """
    request_target = parse_target(target)
    request_backward = None if backward is None else parse_target(backward, "--backward ")
    specs = tuple(parse_input_spec(text, i) for i, text in enumerate(input_ or [], 1))
    chosen_order = parse_order(order)
    if not common.settings.numeric:
        raise InputError(
            "--no-numeric: check compares your backward with finite differences of your "
            "forward; it cannot run without them"
        )
    if chosen_order == 2 and numpy:
        raise InputError(
            "--order 2 differentiates your backward with autograd, which NumPy code does not "
            "have; drop --numpy and write the pair with torch"
        )
    total = sum(spec.size for spec in specs)
    require_memory(total * FLOAT64 * 8, f"holding the inputs ({total:,} entries) and their copies")
    if numpy:
        numpy_available()
    return _run(request_target, request_backward, specs, seed, numpy, chosen_order, common,
                show_traceback)  # fmt: skip


def _run(
    target: Target,
    backward: Target | None,
    specs: tuple[InputSpec, ...],
    seed: int,
    numpy: bool,
    order: int,
    common: Common,
    show_traceback: bool,
) -> int:
    """Import torch and the user's code now that every option is valid; run; render."""
    from gradcli.core.check import CheckRequest
    from gradcli.core.check import check as run_check

    request = CheckRequest(target, backward, specs, seed, numpy, order)
    try:
        result = run_check(request, common.settings)
    except UserCodeError as error:
        if show_traceback:
            files = [target.path] + ([backward.path] if backward else [])
            sys.stderr.write(error.traceback_text(files))
        raise
    except UserInterrupt as interrupt:
        sys.stderr.write(f"Error: {interrupt}\n")
        return ExitCode.INTERRUPTED
    return common.output.show(result)


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
    ),
)
