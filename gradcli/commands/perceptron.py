"""``gradcli perceptron --weights W [--bias B]... --x X --target T``"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Annotated

import typer

from gradcli.answers import Outline, parse_answers
from gradcli.commands.options import (
    TEXT_FORMATS,
    Common,
    MinDigitsOpt,
    SeedOpt,
    choose,
    completer,
    computing_command,
    expect_option,
)
from gradcli.commands.pictures import HeightOpt, PlotOpt, WidthOpt, plot_request
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import InputError, shown
from gradcli.ops.activations import ACTIVATIONS
from gradcli.ops.losses import Reduction
from gradcli.ops.network import (
    DEFAULT_LR,
    ENGINES,
    STEP_KEYS,
    SUPPORTED_LOSSES,
    NetworkPlan,
    NetworkSpec,
    key_hint,
    plan_network,
    solution_shapes,
)
from gradcli.ops.optimizers import OPTIMIZERS, TrainingChoice, get_optimizer
from gradcli.parsing import (
    Matrix,
    TensorData,
    Vector,
    number_tokens,
    parse_array,
    parse_matrix,
    parse_number,
    tensor_arg,
    whole_number,
)
from gradcli.render import OutputFormat
from gradcli.results.perceptron import PerceptronResult
from gradcli.settings import Settings

NO_BIAS_WORDS = ("none",)  # `--bias none` leaves that layer without a bias
_SHAPE = re.compile(r"^\s*(\d+)\s*[x×,]\s*(\d+)\s*$", re.ASCII)


def parse_bias(text: str | TensorData | None, layer: int) -> Vector | None:
    """A bias vector, or None for ``none`` (or None, from Python)."""
    if text is None or (isinstance(text, str) and text.strip().lower() in NO_BIAS_WORDS):
        return None
    what = f"layer {layer} --bias"
    array = parse_array(text, what) if isinstance(text, str) else tensor_arg(text, what).nested()
    if isinstance(array[0], list):
        raise InputError(f"layer {layer} --bias must be a vector, got a matrix")
    return array


def parse_layer_sizes(text: str) -> list[int]:
    """``256,10`` → [256, 10]; every size a positive integer."""
    sizes = []
    for piece in number_tokens(text, "--layers") or [""]:
        if not whole_number(piece, "--layers"):  # None or 0
            raise InputError(f"--layers '{text}': '{piece}' is not a positive whole number")
        sizes.append(int(piece))
    return sizes


def parse_shape(text: str) -> tuple[int, int]:
    """``64x784`` → (64, 784): samples × input features."""
    match = _SHAPE.match(text)
    if not match or not (
        whole_number(match[1], "--x-shape") and whole_number(match[2], "--x-shape")
    ):
        raise InputError(f"--x-shape '{text}' must look like BxN with positive B and N, e.g. 1x10")
    return int(match[1]), int(match[2])


def parse_lr(text: str) -> float:
    if not text.strip():
        raise InputError("--lr is empty: give a learning rate > 0, e.g. --lr 0.5")
    value = parse_number(text, "--lr")
    if value <= 0:
        raise InputError(f"--lr: {shown(text)} must be a number > 0")
    return value


EPOCHS_DIGITS = 15  # the work limit refuses long before; this only keeps the number sane


def parse_epochs(text: str) -> int:
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= EPOCHS_DIGITS and int(raw) >= 1):
        raise InputError(f"--epochs {shown(text)} must be a whole number ≥ 1, e.g. --epochs 1000")
    return int(raw)


def parse_target(text: str | TensorData) -> Vector | Matrix:
    if isinstance(text, str):
        return parse_array(text, "--target")
    return tensor_arg(text, "--target", max_dims=2).nested()


def check_graph(graph: bool, plan: NetworkPlan, fmt: OutputFormat) -> None:
    """--graph's formats and size, from the plan (before torch loads)."""
    if fmt is OutputFormat.dot and not graph:
        raise InputError("--format dot writes the computation graph: add --graph")
    if not graph:
        return
    if fmt is OutputFormat.csv:
        raise InputError("--graph has no CSV form; use --format table, json or dot")
    from gradcli.results.graph import MAX_NODES, TERMINAL_NODES

    count = plan.graph_nodes
    if count > MAX_NODES:
        raise InputError(
            f"--graph: this network's graph has {count:,} nodes; the limit is {MAX_NODES:,} "
            "(fewer samples or smaller layers)"
        )
    if count > TERMINAL_NODES and fmt is OutputFormat.table:
        raise InputError(
            f"--graph: this network's graph has {count:,} nodes, more than the terminal view "
            f"draws ({TERMINAL_NODES}); use --format dot (Graphviz text, e.g. | dot -Tsvg > "
            "graph.svg) or --json"
        )


@computing_command(formats=(*TEXT_FORMATS, OutputFormat.dot))
def perceptron(
    weights: Annotated[
        list[str] | None,
        typer.Option(
            "--weights",
            "-w",
            metavar="MATRIX",
            help="One layer's weights, out×in like nn.Linear.weight ('0.1,0.2;0.3,0.4' or JSON);"
            " repeat once per layer, in order.",
            show_default=False,
        ),
    ] = None,
    bias: Annotated[
        list[str] | None,
        typer.Option(
            "--bias",
            "-b",
            metavar="VECTOR|none",
            help="That layer's bias; repeat in step with --weights, 'none' for a layer without"
            " one. Leave out entirely for no biases.",
            show_default=False,
        ),
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers",
            metavar="N[,N...]",
            help="Layer sizes after the input, weights drawn with torch.randn (instead of"
            " --weights).",
            show_default=False,
        ),
    ] = None,
    seed: SeedOpt = 0,
    no_bias: Annotated[
        bool, typer.Option("--no-bias", help="No biases (with --layers or --weights).")
    ] = False,
    x: Annotated[
        str | None,
        typer.Option(
            "--x", metavar="VALUES|MATRIX", help="Input, rows = samples.", show_default=False
        ),
    ] = None,
    x_shape: Annotated[
        str | None,
        typer.Option(
            "--x-shape",
            metavar="BxN",
            help="Random normal input of B samples × N features from --seed (instead of --x).",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            metavar="VALUES|MATRIX",
            help="Target of the output's shape (one number fills it), or one class index per"
            " sample for cross_entropy.",
            show_default=False,
        ),
    ] = None,
    activation: Annotated[
        str,
        typer.Option(
            "--activation",
            "-a",
            metavar="NAME[,NAME...]",
            help="One activation for every layer, or one per layer: "
            f"{', '.join(ACTIVATIONS)} (see 'gradcli activation --list').",
            autocompletion=completer(ACTIVATIONS, lists=True),
        ),
    ] = "sigmoid",
    loss: Annotated[
        str,
        typer.Option(
            "--loss",
            metavar="mse|bce|cross_entropy",
            help="Loss E.",
            autocompletion=completer(SUPPORTED_LOSSES),
        ),
    ] = "mse",
    reduction: Annotated[
        str,
        typer.Option(
            "--reduction",
            metavar="mean|sum|half-sum",
            help="half-sum is the E = ½Σ(O − t)² of hand derivations; mean is torch's default.",
            autocompletion=completer(r.value for r in Reduction),
        ),
    ] = "mean",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="grad|backward",
            help="Autograd via torch.autograd.grad(loss, params) or loss.backward() and .grad.",
            autocompletion=completer(ENGINES),
        ),
    ] = "grad",
    steps: Annotated[
        bool,
        typer.Option(
            "--steps",
            help="Show the worked backprop: X, O, f'(X), δ, δ·x (every quantity's key in --json).",
        ),
    ] = False,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph",
            help="The computation graph: every neuron's z and O, the loss, each node's adjoint"
            " (δ is z's), checked against autograd; --format dot for Graphviz.",
        ),
    ] = False,
    lr: Annotated[
        str | None,
        typer.Option(
            "--lr",
            metavar="LR",
            help="Also show W − lr·∂E/∂W and b − lr·∂E/∂b after one gradient-descent step.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        str | None,
        typer.Option(
            "--epochs",
            metavar="N",
            help="Gradient descent: N full-batch steps of --lr (default 0.5), every gradient by"
            " backprop (autograd checks the first and the last); a table of the loss per epoch.",
            show_default=False,
        ),
    ] = None,
    no_bias_update: Annotated[
        bool,
        typer.Option(
            "--no-bias-update", help="Gradient-descent steps keep the biases fixed (tutorials)."
        ),
    ] = False,
    optimizer: Annotated[
        str | None,
        typer.Option(
            "--optimizer",
            metavar="NAME",
            help="Train with an optimizer of 'gradcli optim --list' (adam, momentum…), its"
            " update checked against torch.optim every epoch [default: plain gradient"
            " descent]; --lr defaults to torch's for it.",
            autocompletion=completer(OPTIMIZERS),
            show_default=False,
        ),
    ] = None,
    param_option: Annotated[
        list[str] | None,
        typer.Option(
            "--param-option",
            metavar="NAME=VALUE",
            help="A hyper-parameter of --optimizer under torch's name (betas=0.9,0.99;"
            " repeatable).",
            show_default=False,
        ),
    ] = None,
    weight_decay: Annotated[
        str | None,
        typer.Option(
            "--weight-decay",
            metavar="λ",
            help="Decay the weights (never the biases) by λ: L2 (λ·W added to ∂E/∂W, loss"
            " E + ½λ‖W‖²) for every optimizer but adamw, whose decay is decoupled.",
            show_default=False,
        ),
    ] = None,
    plot: PlotOpt = False,
    width: WidthOpt = None,
    height: HeightOpt = None,
    expect: expect_option(
        None,
        "layerN.z, layerN.output, loss, layerN.output_grad, layerN.fprime, layerN.delta, "
        "layerN.weight, layerN.bias; with --lr layerN.new_weight, layerN.new_bias, new_loss",
    ) = None,
    min_digits: MinDigitsOpt = None,
    *,
    common: Common,
) -> int:
    """Perceptron gradients: backprop by hand (delta rule) vs autograd vs finite differences."""
    request = plot_request(plot, None, width, height, common.output)
    result = perceptron_result(
        weights=weights or [],
        bias=bias or [],
        layers=layers,
        seed=seed,
        no_bias=no_bias,
        x=x,
        x_shape=x_shape,
        target=target,
        activation=activation,
        loss=loss,
        reduction=reduction,
        engine=engine,
        steps=steps,
        graph=graph,
        lr=lr,
        epochs=epochs,
        no_bias_update=no_bias_update,
        optimizer=optimizer,
        param_option=param_option or [],
        weight_decay=weight_decay,
        expect=expect or [],
        min_digits=min_digits,
        settings=common.settings,
        fmt=common.output.format,
        plot=plot,
    )
    if request is not None:
        result = dataclasses.replace(result, loss_plot=(request.width, request.height))
    return common.output.show(result)


def perceptron_result(
    *,
    weights: Sequence[str | TensorData],
    bias: Sequence[str | TensorData | None],
    layers: str | None,
    seed: int,
    no_bias: bool,
    x: str | TensorData | None,
    x_shape: str | None,
    target: str | TensorData | None,
    activation: str,
    loss: str,
    reduction: str,
    engine: str,
    steps: bool,
    graph: bool,
    lr: str | None,
    epochs: str | None,
    no_bias_update: bool,
    optimizer: str | None,
    param_option: list[str],
    weight_decay: str | None,
    expect: list[str],
    min_digits: int | None,
    settings: Settings,
    fmt: OutputFormat = OutputFormat.table,
    plot: bool = False,
) -> PerceptronResult:
    """The check behind ``gradcli perceptron`` and ``gradcli.perceptron``: tensors as the
    options' text or already parsed, the rest as the options' text; every check made before
    torch loads."""
    epoch_count = None if epochs is None else parse_epochs(epochs)
    if no_bias_update and lr is None and epoch_count is None:
        raise InputError("--no-bias-update changes gradient-descent steps: add --lr or --epochs")
    if plot and epoch_count is None:
        raise InputError("--plot draws the loss over the epochs: add --epochs N")
    choice = training_choice(optimizer, param_option, weight_decay, lr, epoch_count)
    chosen_reduction = choose(Reduction, reduction, "reduction")
    engine_name = engine.strip().lower()
    if engine_name not in ("grad", "backward"):
        raise InputError(f"unknown engine '{engine}'; choose from: backward, grad")
    weight_list = [matrix_arg(value, f"layer {i} --weights") for i, value in enumerate(weights, 1)]
    bias_list = [parse_bias(value, i) for i, value in enumerate(bias, 1)]
    names = [name.strip().lower() for name in activation.split(",")]
    if not all(names):
        raise InputError(
            f"--activation {shown(activation)} has an empty name; give NAME or NAME,NAME,… "
            "(see 'gradcli activation --list')"
        )
    spec = NetworkSpec(
        weights=weight_list,
        biases=bias_list or None,
        layer_sizes=parse_layer_sizes(layers) if layers is not None else (),
        seed=seed,
        no_bias=no_bias,
        x=None if x is None else matrix_arg(x, "--x"),
        x_shape=None if x_shape is None else parse_shape(x_shape),
        target=None if target is None else parse_target(target),
        activations=names,
        loss=loss.strip(),
        reduction=chosen_reduction,
        engine=engine_name,
        steps=steps,
        graph=graph,
        lr=None if lr is None else parse_lr(lr),
        epochs=epoch_count,
        bias_update=not no_bias_update,
        optimizer=choice,
    )
    plan = plan_network(spec)
    expected = {}  # no --expect: nothing to parse, no outline to build
    if expect or min_digits is not None:
        expected = parse_answers(expect, perceptron_outline(plan, lr is not None), min_digits)
    stepped = next((key for key in expected if key.rpartition(".")[2] in STEP_KEYS), None)
    if choice is not None and stepped:
        raise InputError(
            f"--expect {stepped} checks one plain gradient-descent step W − lr·∂E/∂W, not a "
            f"step of {choice.optimizer.name} with its options: check that step with 'gradcli "
            f"optim {choice.optimizer.name} --param W --grad ∂E/∂W --expect new_param=…'"
        )
    check_graph(graph, plan, fmt)

    from gradcli.core.perceptron import perceptron_gradients

    return perceptron_gradients(spec, settings, expected, plan)


def matrix_arg(value: str | TensorData, what: str) -> Matrix:
    """A matrix option (a vector is one row): its text, or a tensor already read."""
    if isinstance(value, str):
        return parse_matrix(value, what)
    array = tensor_arg(value, what, max_dims=2).nested()
    return array if isinstance(array[0], list) else [array]


def perceptron_outline(plan: NetworkPlan, stepped: bool) -> Outline:
    """The keys of the worked solution (torch-free, from the plan); the quantities after a
    step need --lr."""
    shapes = solution_shapes(plan, stepped)
    needs = {}
    if not stepped:
        for key in solution_shapes(plan, True):
            if key.split(".")[-1] in STEP_KEYS:
                what = "the loss" if key == "new_loss" else "the parameters"
                needs[key] = (
                    f" checks {what} after one gradient-descent step: give the learning rate "
                    "with --lr"
                )
    return Outline(shapes, command="perceptron", needs=needs, hint=lambda key: key_hint(key, plan))


def training_choice(
    name: str | None,
    items: list[str],
    weight_decay: str | None,
    lr: str | None,
    epochs: int | None,
) -> TrainingChoice | None:
    """The optimizer ``--epochs`` trains with (None: plain gradient descent, as without these
    options), its hyper-parameters resolved and checked before torch loads."""
    if name is None and not items and weight_decay is None:
        return None
    optimizer = get_optimizer(name or "sgd")
    given = "--optimizer" if name is not None else "--param-option" if items else "--weight-decay"
    if epochs is None:
        raise InputError(f"{given} changes how the network trains: add --epochs N")
    if items and name is None:
        raise InputError("--param-option sets a hyper-parameter of --optimizer: add --optimizer")
    if any(item.partition("=")[0].strip() == "weight_decay" for item in items):
        raise InputError(
            "weight decay is --weight-decay λ here (the weights only, never the biases), not "
            "--param-option weight_decay=…"
        )
    rate = parse_lr(lr) if lr is not None else None if name is not None else DEFAULT_LR
    options = optimizer.resolve(items, rate)
    if weight_decay is not None:
        decay = parse_number(weight_decay, "--weight-decay")
        if decay < 0:
            raise InputError(f"--weight-decay: {shown(weight_decay)} must be a number ≥ 0")
        if "weight_decay" not in options:
            raise InputError(f"{optimizer.name} has no weight decay")
        options["weight_decay"] = decay
    return TrainingChoice(optimizer, options)


INFO = CommandInfo(
    name="perceptron",
    function=perceptron,
    summary="a network's ∂E/∂W: backprop by hand vs autograd",
    usage="(--weights W... | --layers N,N) (--x X | --x-shape BxN) --target T",
    examples=(
        Example(
            'perceptron --weights "0.15,0.20;0.25,0.30" --bias 0.35,0.35 '
            '--weights "0.40,0.45;0.50,0.55" --bias 0.60,0.60 --x 0.05,0.10 '
            "--target 0.01,0.99 --reduction half-sum --lr 0.5"
        ),
        Example("perceptron --layers 4,2 --x-shape 8x3 --target 1 --activation relu,sigmoid"),
        Example(
            "perceptron --weights 1,2 --x 0.5,-1 --target 1 --activation identity "
            "--expect layer1.weight=-2.5,5 --steps"
        ),
        Example(
            'perceptron --weights "0.15,0.20;0.25,0.30" --bias 0.35,0.35 '
            '--weights "0.40,0.45;0.50,0.55" --bias 0.60,0.60 --x 0.05,0.10 '
            "--target 0.01,0.99 --reduction half-sum --epochs 10000 --no-bias-update"
        ),
    ),
)
