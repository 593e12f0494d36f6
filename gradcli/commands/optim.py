"""``gradcli optim NAME --param W --grad G [--state K=V]...`` and ``optim NAME --expr F --at …``"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from gradcli.commands.options import Common, MinDigitsOpt, answers, completer, computing_command
from gradcli.commands.pictures import HeightOpt, PlotOpt, WidthOpt, plot_request
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import InputError, shown, suggest, unknown
from gradcli.expect import Expected, check_shape, parse_expected
from gradcli.limits import require_entries, require_work
from gradcli.ops.optimizers import (
    CONVENTIONS,
    MAX_STEP,
    OPTIMIZER_LIST,
    OPTIMIZERS,
    Optimizer,
    Options,
    get_optimizer,
    hyper_text,
    show_value,
)
from gradcli.parsing import TensorData, parse_number, parse_tensor, tensor_arg
from gradcli.results.listing import Listing, ListingTable
from gradcli.results.optim import OptimRunResult, OptimStepResult
from gradcli.settings import Settings

MAX_ITERATIONS = 100_000
DEFAULT_ITERATIONS = 100
STATE_COPIES = 40  # float64 copies of the parameter a step holds (state, quantities, slips)
# --expr: one iteration costs two evaluations of the formula and their backward passes, the
# hand update and torch.optim's step: measured ~0.7 ms plus ~40 µs per node of the formula's
# tree (Adam, this 2-core machine), i.e. about these many torch calls of ~3.5 µs, each
# counted as ~3000 element operations at the work limit's pace (as perceptron --epochs does)
ITERATION_CALLS = 200
CALLS_PER_NODE = 12
CALL_ELEMENTS = 3000
RUN_KEYS = ("final", "f")  # --expect with --expr: the point and f after the last step


def optim_listing() -> Listing:
    """Every optimizer: its update, hyper-parameters with torch's defaults, state, slips."""
    rows = []
    entries = []
    for opt in OPTIMIZER_LIST:
        fixed = ", ".join(f"{k}={show_value(v)}" for k, v in opt.fixed.items())
        torch_name = f"torch.optim.{opt.torch_class}" + (f" ({fixed})" if fixed else "")
        state = ", ".join(entry.name for entry in opt.form.state)
        rows.append((opt.name, torch_name, opt.formula, hyper_text(opt), state))
        entries.append(
            {
                "name": opt.name,
                "torch": f"torch.optim.{opt.torch_class}",
                "fixed": dict(opt.fixed),
                "summary": opt.summary,
                "formula": opt.formula,
                "params": {
                    p.name: list(p.default) if isinstance(p.default, tuple) else p.default
                    for p in opt.params
                },
                "state": [entry.name for entry in opt.form.state],
                "weight_decay": opt.decay,
                "conventions": list(opt.conventions),
                "slips": [rule.description for rule in opt.slips],
                "reference": opt.reference,
            }
        )
    table = ListingTable(
        "Optimizers", ("name", "reference", "update", "hyper-parameters", "state"), rows
    )
    notes = [
        "weight_decay λ is L2 (λ·w added to the gradient) for every optimizer but adamw, whose "
        "decay is decoupled: w ← w·(1 − lr·λ).",
        "momentum and nesterov default to μ = 0.9; --convention cs231n writes momentum as "
        "v ← μ·v − lr·g, w ← w + v.",
    ]
    return Listing("optim", entries, [table], notes)


# ---------------------------------------------------------------- parsing (torch-free)


def parse_rate(text: str) -> float:
    if not text.strip():
        raise InputError("--lr is empty: give a learning rate > 0, e.g. --lr 0.001")
    value = parse_number(text, "--lr")
    if value <= 0:
        raise InputError(f"--lr: {shown(text)} must be a number > 0")
    return value


def parse_iterations(text: str) -> int:
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12 and int(raw) >= 1):
        raise InputError(f"--iterations {shown(text)} must be a whole number ≥ 1")
    if int(raw) > MAX_ITERATIONS:
        raise InputError(f"--iterations {int(raw):,} is beyond the bound of {MAX_ITERATIONS:,}")
    return int(raw)


def parse_convention(text: str, optimizer: Optimizer, options: Options) -> str:
    name = text.strip().lower()
    if name not in CONVENTIONS:
        raise unknown("convention", text, CONVENTIONS)
    form = optimizer.form_for(name)
    problem = form.refuse(options)
    if problem:
        raise InputError(f"{optimizer.name}: {problem}")
    return name


def parse_state(
    items: list[str], optimizer: Optimizer, options: Options, convention: str, shape: tuple
) -> dict[str, Any]:
    """``--state NAME=VALUES`` items → {name: TensorData of the parameter's shape, or the
    step count}; names checked against the state this optimizer keeps with these options."""
    entries = {entry.name: entry for entry in optimizer.state_for(options, convention)}
    given: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(
                f"--state {shown(item)} must look like NAME=VALUES, e.g. --state exp_avg=0.1,0.2"
            )
        if name not in entries:
            raise _unknown_state(name, optimizer, options, convention, list(entries))
        if name in given:
            raise InputError(f"--state {name} is given twice")
        if entries[name].is_count:
            given[name] = _step_count(text)
            continue
        data = parse_tensor(text, f"--state {name}", max_dims=2)
        if data.shape != shape:
            raise InputError(
                f"--state {name} has shape {_dims(data.shape)} but --param has shape "
                f"{_dims(shape)}: the state holds one value per parameter entry"
            )
        _check_state_values(name, data)
        given[name] = data
    _check_centered(given, options)
    return given


def _dims(shape: tuple) -> str:
    return "×".join(str(n) for n in shape)


def _step_count(text: str) -> int:
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and int(raw) <= MAX_STEP):
        raise InputError(
            f"--state step={shown(text)} must be a whole number from 0 to {MAX_STEP:,} "
            "(the steps taken so far)"
        )
    return int(raw)


def _check_state_values(name: str, data: TensorData) -> None:
    """Sums and means of squares cannot be negative."""
    if name in ("sum", "square_avg", "exp_avg_sq", "max_exp_avg_sq"):
        negative = next((v for v in data.values if v < 0), None)
        if negative is not None:
            raise InputError(
                f"--state {name}: {negative:g} is negative, but {name} is a sum or mean of "
                "squares (≥ 0)"
            )


def _check_centered(given: dict[str, Any], options: Options) -> None:
    """Centered RMSprop: v − ḡ² is a variance, so square_avg ≥ grad_avg² entry by entry."""
    mean = given.get("grad_avg")
    if mean is None:
        return
    square = given.get("square_avg")
    squares = square.values if square is not None else [0.0] * len(mean.values)
    for i, (v, m) in enumerate(zip(squares, mean.values, strict=True)):
        if v < m * m:
            raise InputError(
                f"--state: square_avg ({v:g}) is below grad_avg² ({m:g}² = {m * m:g}) at entry "
                f"{i}; centered RMSprop divides by √(square_avg − grad_avg²), a variance ≥ 0"
            )


def _unknown_state(
    name: str, optimizer: Optimizer, options: Options, convention: str, valid: list[str]
) -> InputError:
    """An unknown state name, saying when it belongs to other options or another form."""
    all_names = {entry.name: entry for entry in optimizer.form_for(convention).state}
    if name in all_names:
        why = {
            "max_exp_avg_sq": "amsgrad=true",
            "momentum_buffer": "momentum > 0",
            "grad_avg": "centered=true",
        }.get(name, "other options")
        return InputError(
            f"--state {name} is kept only with {why} (--param-option); with these options "
            f"{optimizer.name} keeps: {', '.join(valid) or 'no state'}"
        )
    other = {"momentum_buffer": "torch", "velocity": "cs231n"}.get(name)
    if other is not None and other != convention and other in optimizer.conventions:
        return InputError(
            f"--state {name} is the state of the {other} form; in the {convention} form "
            f"{optimizer.name} keeps: {', '.join(valid)}"
            + (" (add --convention cs231n for velocity)" if other == "cs231n" else "")
        )
    listed = ", ".join(valid) or "no state"
    return InputError(
        f"--state: {optimizer.name} keeps no state {shown(name)}{suggest(name, valid)}; "
        f"it keeps: {listed}"
    )


def parse_expectations(
    items: list[str], keys: list[str], shapes: dict[str, tuple[int, ...]], bare: str
) -> dict[str, Expected]:
    """``KEY=VALUES`` items (a bare answer is for ``bare``: new_param, or final with --expr)
    → {key: the answer}, each checked against its quantity's shape."""
    answers: dict[str, Expected] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            key, text = bare, item
        key = key.strip()
        if key not in keys:
            raise InputError(
                f"--expect: {shown(key)} is not a quantity of this step{suggest(key, keys)}; "
                f"write KEY=VALUES with KEY one of: {', '.join(keys)}"
            )
        if key in answers:
            raise InputError(f"--expect {key} is given twice")
        answer = parse_expected(text, f"--expect {key}")
        check_shape(answer, shapes[key], key)
        answers[key] = answer
    return answers


# ---------------------------------------------------------------- the command


@computing_command
def optim(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help=f"Optimizer: {', '.join(OPTIMIZERS)}; formulas in --list.",
            show_default=False,
            autocompletion=completer(OPTIMIZERS),
        ),
    ] = None,
    param: Annotated[
        str | None,
        typer.Option(
            "--param",
            metavar="VALUES|MATRIX",
            help="The parameter w before the step (1,-2,3 or 1,2;3,4).",
            show_default=False,
        ),
    ] = None,
    grad: Annotated[
        str | None,
        typer.Option(
            "--grad",
            metavar="VALUES|MATRIX",
            help="Its gradient ∇ at this step, of the same shape.",
            show_default=False,
        ),
    ] = None,
    lr: Annotated[
        str | None,
        typer.Option(
            "--lr",
            metavar="LR",
            help="Learning rate [default: torch's for the optimizer].",
            show_default=False,
        ),
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            metavar="NAME=VALUES",
            help="State before the step under torch's names (exp_avg=…, step=10; repeatable);"
            " missing entries as a fresh optimizer's (step 0).",
            show_default=False,
        ),
    ] = None,
    param_option: Annotated[
        list[str] | None,
        typer.Option(
            "--param-option",
            metavar="NAME=VALUE",
            help="A hyper-parameter under torch's name: betas=0.9,0.99, eps=1e-8,"
            " weight_decay=0.1, amsgrad=true… (repeatable).",
            show_default=False,
        ),
    ] = None,
    convention: Annotated[
        str,
        typer.Option(
            "--convention",
            metavar="torch|cs231n",
            help="Momentum as torch writes it (b ← μb + g, w ← w − lr·b) or as CS231n"
            " (v ← μv − lr·g, w ← w + v).",
            autocompletion=completer(CONVENTIONS),
        ),
    ] = "torch",
    steps: Annotated[
        bool,
        typer.Option(
            "--steps", help="Show the intermediate quantities (m̂, v̂…) with their numbers."
        ),
    ] = False,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            metavar="KEY=VALUES",
            help="Your answer for one quantity (new_param=…, exp_avg=…, m_hat=…; repeatable),"
            " checked to the significant digits you wrote; exit 1 if any entry is off.",
            show_default=False,
        ),
    ] = None,
    expr: Annotated[
        str | None,
        typer.Option(
            "--expr",
            metavar="FORMULA",
            help="Minimise a formula instead ('x^2 + 10*y^2'), from --at, for --iterations steps.",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            metavar="NAME=VALUE[,NAME=VALUE...]",
            help="With --expr: the starting point, a value for every variable.",
            show_default=False,
        ),
    ] = None,
    iterations: Annotated[
        str | None,
        typer.Option(
            "--iterations",
            metavar="K",
            help=f"With --expr: steps to take [default: {DEFAULT_ITERATIONS}; at most"
            f" {MAX_ITERATIONS:,}].",
            show_default=False,
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List every optimizer with its update and defaults.")
    ] = False,
    plot: PlotOpt = False,
    width: WidthOpt = None,
    height: HeightOpt = None,
    min_digits: MinDigitsOpt = None,
    *,
    common: Common,
) -> int:
    """One optimizer step by hand vs torch.optim, or a formula minimised step by step."""
    if list_:
        return common.output.show(optim_listing())
    request = plot_request(plot, None, width, height, common.output)
    result = optim_result(
        name=name,
        param=param,
        grad=grad,
        lr=lr,
        state=state or [],
        param_option=param_option or [],
        convention=convention,
        steps=steps,
        expect=expect or [],
        expr=expr,
        at=at,
        iterations=iterations,
        min_digits=min_digits,
        settings=common.settings,
        plot=None if request is None else (request.width, request.height),
    )
    return common.output.show(result)


def optim_result(
    *,
    name: str | None,
    param: str | TensorData | None,
    grad: str | TensorData | None,
    lr: str | None,
    state: list[str],
    param_option: list[str],
    convention: str,
    steps: bool,
    expect: list[str],
    expr: str | None,
    at: list[str] | None,
    iterations: str | None,
    min_digits: int | None,
    settings: Settings,
    plot: tuple[int | None, int | None] | None = None,
) -> OptimStepResult | OptimRunResult:
    """The check behind ``gradcli optim`` and ``gradcli.optim``: one step (``param``,
    ``grad``: the options' text or already parsed) or a formula minimised (``expr``); every
    check made before torch loads. ``plot``: the size of the picture asked for, if any."""
    if name is None:
        raise InputError("no optimizer name given; run 'gradcli optim --list' to see them")
    if not settings.numeric:
        raise InputError(
            "--no-numeric: optim has no finite-difference column (by hand vs torch.optim only)"
        )
    optimizer = get_optimizer(name)
    options = optimizer.resolve(param_option, None if lr is None else parse_rate(lr))
    chosen = parse_convention(convention, optimizer, options)
    if expr is not None:
        return _minimise(optimizer, options, chosen, expr, at, iterations, state, param, grad,
                         expect, steps, plot, min_digits, settings)  # fmt: skip
    for option, value in (("--at", at), ("--iterations", iterations)):
        if value is not None:
            raise InputError(f"{option} goes with --expr (minimising a formula)")
    if plot is not None:
        raise InputError("--plot draws a minimisation: add --expr FORMULA --at …")
    if param is None or grad is None:
        missing = "--param" if param is None else "--grad"
        raise InputError(
            f"no {missing}: give the parameter and its gradient, e.g. --param 1,-2,3 "
            "--grad 0.1,0.2,-0.3 (or minimise a formula with --expr)"
        )
    w = tensor_arg(param, "--param", max_dims=2)
    g = tensor_arg(grad, "--grad", max_dims=2)
    if g.shape != w.shape:
        raise InputError(
            f"--grad has shape {_dims(g.shape)} but --param has shape {_dims(w.shape)}: "
            "one gradient entry per parameter entry"
        )
    require_entries(w.shape, "--param", STATE_COPIES)
    given = parse_state(state, optimizer, options, chosen, w.shape)
    expected = answers(_step_expectations(expect, optimizer, options, chosen, w.shape), min_digits)

    from gradcli.core.optim import StepRequest, optim_step

    request = StepRequest(optimizer, options, w, g, given, chosen)
    result = optim_step(request, settings, expected)
    return replace(result, show_steps=steps)


def _step_expectations(
    items: list[str], optimizer: Optimizer, options: Options, convention: str, shape: tuple
) -> dict[str, Expected]:
    quantities = optimizer.form_for(convention).quantities(options)
    keys = [q.key for q in quantities]
    shapes = {q.key: (1,) if q.key in ("step", "clr") else shape for q in quantities}
    return parse_expectations(items, keys, shapes, "new_param")


def _minimise(
    optimizer: Optimizer,
    options: Options,
    convention: str,
    expr: str,
    at: list[str] | None,
    iterations: str | None,
    state: list[str] | None,
    param: str | None,
    grad: str | None,
    expect: list[str],
    steps: bool,
    plot: tuple[int | None, int | None] | None,
    min_digits: int | None,
    settings: Settings,
) -> OptimRunResult:
    """``--expr F --at … --iterations K``: checked before torch loads, then run."""
    for option, value in (("--param", param), ("--grad", grad), ("--state", state)):
        if value:
            raise InputError(
                f"{option} goes with one step (--param/--grad); --expr starts from --at with a "
                "fresh optimizer"
            )
    if steps:
        raise InputError("--steps shows one step's quantities: use it with --param/--grad")
    from gradcli.commands.expr import check_point, parse_point
    from gradcli.expr.language import MAX_VARIABLES, parse, walk

    parsed = parse(expr, "--expr")
    variables = list(parsed.variables)
    if not variables:
        raise InputError(f"--expr {shown(expr)} has no variables, so there is nothing to minimise")
    if len(variables) > MAX_VARIABLES:
        raise InputError(f"{len(variables)} variables; the limit is {MAX_VARIABLES}")
    point, _ = parse_point(at or [])
    check_point(variables, point)
    count = DEFAULT_ITERATIONS if iterations is None else parse_iterations(iterations)
    nodes = sum(1 for _ in walk(parsed.tree))
    calls = ITERATION_CALLS + CALLS_PER_NODE * nodes
    require_work(count * calls * CALL_ELEMENTS, f"--iterations {count:,} of {shown(expr)}")
    keys = [*RUN_KEYS, *(e.name for e in optimizer.state_for(options, convention))]
    shapes = {key: (len(variables),) for key in keys}
    shapes |= {"f": (1,), "step": (1,)}
    expected = answers(parse_expectations(expect, keys, shapes, "final"), min_digits)

    from gradcli.core.optim_run import RunRequest, optim_minimise

    run = RunRequest(
        optimizer=optimizer,
        options=options,
        convention=convention,
        parsed=parsed,
        variables=tuple(variables),
        start={name: point[name] for name in variables},
        iterations=count,
        plot=plot,
    )
    return optim_minimise(run, settings, expected)


INFO = CommandInfo(
    name="optim",
    function=optim,
    summary="an optimizer step by hand vs torch.optim",
    usage="NAME --param W --grad G [--state NAME=VALUES]...",
    examples=(
        Example("optim adam --param 1,-2,3 --grad 0.1,0.2,-0.3 --lr 1e-3"),
        Example(
            "optim adam --param 1,-2,3 --grad 0.1,0.2,-0.3 --state exp_avg=0.01,0.02,-0.03 "
            "--state exp_avg_sq=1e-4,4e-4,9e-4 --state step=10 --steps"
        ),
        Example("optim momentum --param 1,2 --grad 0.5,-1 --lr 0.1 --convention cs231n"),
        Example("optim adam --expr 'x^2 + 10*y^2' --at x=1,y=1 --lr 0.1 --iterations 100"),
    ),
)
