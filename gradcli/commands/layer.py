"""``gradcli layer NAME --x TENSOR [--weight TENSOR] [--bias TENSOR|none] [--param K=V]...``"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer

from gradcli.answers import Outline, parse_answers
from gradcli.commands.options import (
    Common,
    MinDigitsOpt,
    SeedOpt,
    completer,
    computing_command,
    expect_option,
)
from gradcli.commands.registry import CommandInfo, Example
from gradcli.errors import InputError, unknown
from gradcli.limits import FLOAT64, max_entries, require_memory, require_work
from gradcli.ops.layers import (
    LAYERS,
    Given,
    Layer,
    Plan,
    dims_text,
    get_layer,
    listing,
    listing_entries,
    option,
    plan,
)
from gradcli.ops.layers.plan import entry_bytes
from gradcli.parsing import TensorData, parse_dims, tensor_arg
from gradcli.results.layer import LayerListing, LayerResult
from gradcli.settings import Settings

TENSOR_HELP = "numbers 1,2,3, rows 1,2;3,4, a JSON nested list (3-D/4-D), @FILE or - (stdin)"
FORWARD_PASSES = 8
NO_INPUT_WORDS = ("none",)


def _tensor_opt(name: str, help_text: str, metavar: str = "TENSOR") -> object:
    return Annotated[
        str | None,
        typer.Option(f"--{name}", metavar=metavar, help=help_text, show_default=False),
    ]


def _shape_opt(name: str, help_text: str) -> object:
    return Annotated[
        str | None,
        typer.Option(f"--{name}-shape", metavar="SHAPE", help=help_text, show_default=False),
    ]


XOpt = _tensor_opt("x", f"Input x: {TENSOR_HELP}.")
XShapeOpt = _shape_opt("x", "Random normal x of this shape from --seed, e.g. 2x3x5x5.")
WeightOpt = _tensor_opt(
    "weight", "Weight in torch's layout; 'none' for a norm without γ.", "TENSOR|none"
)
WeightShapeOpt = _shape_opt("weight", "Random normal weight of this shape, e.g. 8x3x3x3.")
BiasOpt = _tensor_opt(
    "bias", "Bias, or 'none' for a layer without one (drawn if left out).", "TENSOR|none"
)
LayerParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        metavar="KEY=VALUE",
        help="A layer parameter (repeatable): stride=2 or stride=1,2, padding=1, "
        "kernel_size=3, groups=2, ceil_mode=true, divisor_override=4, padding_idx=0, "
        "normalized_shape=3,4, training=false, running_mean=0.1,0.2, p=0.3, eps=1e-3, "
        "causal=true, hidden_size=4, nonlinearity=relu… (see --list).",
        show_default=False,
    ),
]
QOpt = _tensor_opt("q", "attention: queries Q (…×L×d).")
QShapeOpt = _shape_opt("q", "attention: random Q of this shape, e.g. 128x64.")
KOpt = _tensor_opt("k", "attention: keys K (…×S×d) [default: drawn, Q's shape].")
KShapeOpt = _shape_opt("k", "attention: random K of this shape.")
VOpt = _tensor_opt("v", "attention: values V (…×S×dv) [default: drawn, K's shape].")
VShapeOpt = _shape_opt("v", "attention: random V of this shape.")
IndicesOpt = _tensor_opt("indices", "embedding: integer row numbers into W, e.g. 0,2,2.")
H0Opt = _tensor_opt("h0", "rnn/lstm/gru: initial hidden state h_0 (N×H) [default: zeros].")
H0ShapeOpt = _shape_opt("h0", "rnn/lstm/gru: random normal h_0 of this shape.")
C0Opt = _tensor_opt("c0", "lstm: initial cell state c_0 (N×H) [default: zeros].")
C0ShapeOpt = _shape_opt("c0", "lstm: random normal c_0 of this shape.")
_RECURRENT_INIT = "drawn uniform ±1/√H as torch starts it"
WeightIhOpt = _tensor_opt(
    "weight-ih",
    f"rnn/lstm/gru: W_ih, gH×D (g = 1, 4, 3; gate blocks stacked) [default: {_RECURRENT_INIT}].",
)
WeightIhShapeOpt = _shape_opt("weight-ih", f"rnn/lstm/gru: W_ih of this shape, {_RECURRENT_INIT}.")
WeightHhOpt = _tensor_opt("weight-hh", f"rnn/lstm/gru: W_hh, gH×H [default: {_RECURRENT_INIT}].")
WeightHhShapeOpt = _shape_opt("weight-hh", f"rnn/lstm/gru: W_hh of this shape, {_RECURRENT_INIT}.")
BiasIhOpt = _tensor_opt(
    "bias-ih", f"rnn/lstm/gru: b_ih (gH), or 'none' [default: {_RECURRENT_INIT}].", "TENSOR|none"
)
BiasIhShapeOpt = _shape_opt("bias-ih", f"rnn/lstm/gru: b_ih of this shape, {_RECURRENT_INIT}.")
BiasHhOpt = _tensor_opt(
    "bias-hh", f"rnn/lstm/gru: b_hh (gH), or 'none' [default: {_RECURRENT_INIT}].", "TENSOR|none"
)
BiasHhShapeOpt = _shape_opt("bias-hh", f"rnn/lstm/gru: b_hh of this shape, {_RECURRENT_INIT}.")
UpstreamHOpt = _tensor_opt(
    "upstream-h",
    "rnn/lstm/gru: G_h = ∂L/∂h_n for the final hidden state (h_0's shape): L gains "
    "Σ G_h ⊙ h_n. A tensor, ones or random [default: not in L].",
    "TENSOR|ones|random",
)
UpstreamCOpt = _tensor_opt(
    "upstream-c",
    "lstm: G_c = ∂L/∂c_n for the final cell state: L gains Σ G_c ⊙ c_n [default: not in L].",
    "TENSOR|ones|random",
)


def layer_listing() -> LayerListing:
    """Every layer: inputs, parameters with defaults, forward and backward (no torch)."""
    return LayerListing("layer", listing_entries(), [], blocks=listing())


@computing_command
def layer(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help=f"Layer (any case): {', '.join(LAYERS)}; formulas in --list.",
            show_default=False,
            autocompletion=completer(LAYERS),
        ),
    ] = None,
    x: XOpt = None,
    x_shape: XShapeOpt = None,
    weight: WeightOpt = None,
    weight_shape: WeightShapeOpt = None,
    bias: BiasOpt = None,
    q: QOpt = None,
    q_shape: QShapeOpt = None,
    k: KOpt = None,
    k_shape: KShapeOpt = None,
    v: VOpt = None,
    v_shape: VShapeOpt = None,
    indices: IndicesOpt = None,
    h0: H0Opt = None,
    h0_shape: H0ShapeOpt = None,
    c0: C0Opt = None,
    c0_shape: C0ShapeOpt = None,
    weight_ih: WeightIhOpt = None,
    weight_ih_shape: WeightIhShapeOpt = None,
    weight_hh: WeightHhOpt = None,
    weight_hh_shape: WeightHhShapeOpt = None,
    bias_ih: BiasIhOpt = None,
    bias_ih_shape: BiasIhShapeOpt = None,
    bias_hh: BiasHhOpt = None,
    bias_hh_shape: BiasHhShapeOpt = None,
    param: LayerParamOpt = None,
    upstream: Annotated[
        str,
        typer.Option(
            "--upstream",
            "-g",
            metavar="TENSOR|ones|random",
            help="G = ∂L/∂y, of y's shape: L = Σ G ⊙ y. random (the default): standard "
            "normal from --seed, drawn after the inputs, so that every term of the backward "
            "counts (with ones a norm's ∂L/∂x is 0 and terms of its formula vanish); "
            "ones: y.sum().",
        ),
    ] = "random",
    upstream_h: UpstreamHOpt = None,
    upstream_c: UpstreamCOpt = None,
    seed: SeedOpt = 0,
    steps: Annotated[
        bool, typer.Option("--steps", help="Show the hand derivation's intermediate quantities.")
    ] = False,
    expect: expect_option(
        None,
        "y, the gradients by input name: x=, weight=, bias= (q=, k=, v= for attention; h0=, "
        "weight_ih=… for rnn/lstm/gru), and "
        "the intermediates of --steps (batchnorm: mu, var, std, xhat, dxhat, dvar, dmu; the "
        "keys per layer in --list)",
    ) = None,
    min_digits: MinDigitsOpt = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List every layer with its formulas.")
    ] = False,
    *,
    common: Common,
) -> int:
    """One layer's backward pass written from its closed form vs autograd vs finite
    differences, for L = Σ G ⊙ y (G = --upstream)."""
    if list_:
        return common.output.show(layer_listing())
    texts = {"x": x, "weight": weight, "bias": bias, "q": q, "k": k, "v": v, "indices": indices}
    texts |= {"h0": h0, "c0": c0, "weight_ih": weight_ih, "weight_hh": weight_hh}
    texts |= {"bias_ih": bias_ih, "bias_hh": bias_hh}
    shapes = {"x": x_shape, "weight": weight_shape, "q": q_shape, "k": k_shape, "v": v_shape}
    shapes |= {"h0": h0_shape, "c0": c0_shape, "weight_ih": weight_ih_shape}
    shapes |= {"weight_hh": weight_hh_shape, "bias_ih": bias_ih_shape, "bias_hh": bias_hh_shape}
    result = layer_result(
        name, texts, shapes, param or [], upstream, seed, steps, expect or [], min_digits,
        common.settings, {"upstream-h": upstream_h, "upstream-c": upstream_c},
    )  # fmt: skip
    return common.output.show(result)


def layer_result(
    name: str | None,
    texts: dict[str, str | TensorData | None],
    shapes: dict[str, str | None],
    param: list[str],
    upstream: str | TensorData,
    seed: int,
    steps: bool,
    expect: list[str],
    min_digits: int | None,
    settings: Settings,
    finals: Mapping[str, str | TensorData | None] | None = None,
) -> LayerResult:
    """The check behind ``gradcli layer`` and ``gradcli.layer``: the inputs as the options'
    text or already parsed, by name (x, weight, bias, q, k, v, indices, h0, c0, weight_ih…),
    shapes to draw by name, the final states' upstreams by option (``upstream-h``); every
    check made before torch loads."""
    if name is None:
        raise InputError("no layer name given; run 'gradcli layer --list' to see them")
    chosen = get_layer(name)
    given = gather_inputs(chosen, texts, shapes)
    checked = plan(chosen, given, param, settings.dtype.value)
    g = parse_upstream(upstream, checked)
    finals = parse_final_upstreams(finals or {}, checked)
    require_limits(checked)  # first: the outline lists every key (t1.h … tT.dh: T-long)
    expected = parse_answers(expect, layer_outline(checked), min_digits)

    from gradcli.core.layer import LayerRequest, layer_gradients

    request = LayerRequest(checked, g, seed, steps, finals)
    return layer_gradients(request, settings, expected)


def gather_inputs(
    layer: Layer, texts: dict[str, str | TensorData | None], shapes: dict[str, str | None]
) -> dict[str, Given]:
    """Each input the user gave: values, a shape to draw, or ``none``."""
    given: dict[str, Given] = {}
    for key in sorted(set(texts) | set(shapes)):
        text, shape = texts.get(key), shapes.get(key)
        if text is None and shape is None:
            continue
        if text is not None and shape is not None:
            raise InputError(f"give either {option(key)} or {option(key)}-shape, not both")
        if shape is not None:
            given[key] = Given(shape=parse_dims(shape, f"{option(key)}-shape"))
        elif isinstance(text, str) and text.strip().lower() in NO_INPUT_WORDS:
            given[key] = Given(none=True)
        else:
            data = tensor_arg(text, option(key), max_entries=_input_bound(layer, key))
            given[key] = Given(values=tuple(data.values), shape=tuple(data.shape))
    if "x" in given and layer.name == "embedding" and "indices" not in given:
        raise InputError(
            "embedding takes its integer row numbers as --indices (e.g. --indices 0,2,2), not --x"
        )
    return given


def _input_bound(layer: Layer, key: str) -> int | None:
    """How many numbers ``--KEY`` may hold: beyond this the memory check refuses the layer
    whatever the other shapes, so a file is refused as soon as its count passes it."""
    item = next((item for item in layer.inputs if item.name == key), None)
    return None if item is None else max_entries(entry_bytes(item) / FLOAT64)


def parse_upstream(text: str | TensorData, checked: Plan) -> str | Given:
    """``random``, ``ones`` or a tensor of the output's shape."""
    if isinstance(text, str):
        word = text.strip().lower()
        if word in ("random", "ones"):
            return word
        if not word:
            raise InputError("--upstream is empty: give a tensor of y's shape, ones or random")
        if word[0].isalpha():
            raise unknown("--upstream", text, ["ones", "random", "a tensor"])
    data = tensor_arg(text, "--upstream")
    want = checked.output_shape
    if _squeezed(data.shape) == _squeezed(want):  # the same entries in the same order
        return Given(values=tuple(data.values), shape=tuple(want))  # y's form as shown (2-D)
    if tuple(data.shape) != tuple(want):
        raise InputError(
            f"--upstream has shape {dims_text(data.shape)} but y = {checked.layer.name}(…) has "
            f"shape {dims_text(want)}; G must have y's shape"
        )
    return Given(values=tuple(data.values), shape=tuple(data.shape))


def parse_final_upstreams(
    texts: Mapping[str, str | TensorData | None], checked: Plan
) -> dict[str, str | Given]:
    """``--upstream-h``/``-c``: for each final state of the layer that one is given for,
    ``random``, ``ones`` or a tensor of its shape (h_0's)."""
    layer = checked.layer
    by_option = {final.option: final for final in layer.final_outputs}
    wanted: dict[str, str | Given] = {}
    for name, text in texts.items():
        if text is None:
            continue
        if name not in by_option:
            owners = "rnn, lstm and gru" if name == "upstream-h" else "lstm"
            raise InputError(
                f"--{name}: {layer.name} has no final {'hidden' if name[-1] == 'h' else 'cell'} "
                f"state; --{name} is for {owners}"
            )
        final = by_option[name]
        if isinstance(text, str):
            word = text.strip().lower()
            if word in ("random", "ones"):
                wanted[final.name] = word
                continue
            if not word or word[0].isalpha():
                raise unknown(f"--{name}", text, ["ones", "random", "a tensor"])
        data = tensor_arg(text, f"--{name}")
        shape = checked.shapes[final.like]
        if _squeezed(data.shape) != _squeezed(shape):
            raise InputError(
                f"--{name} has shape {dims_text(data.shape)} but {final.name} has shape "
                f"{dims_text(shape)} (h_0's); {final.upstream} must have {final.name}'s shape"
            )
        wanted[final.name] = Given(values=tuple(data.values), shape=tuple(shape))
    return wanted


def _squeezed(shape) -> tuple[int, ...]:
    """The shape without its dimensions of size 1: tensors with the same squeezed shape list
    the same entries in the same (row-major) order — a vector of 3 for a 3×1 or 1×3 y."""
    return tuple(n for n in shape if n != 1)


def layer_outline(checked: Plan) -> Outline:
    """The keys of the worked solution: y, the intermediates --steps shows (their shapes
    known once computed) and the gradients by input name."""
    layer = checked.layer
    shapes: dict[str, tuple[int, ...] | None] = {"y": tuple(checked.output_shape)}
    shapes |= {key: None for key, _ in layer.keys(checked.shapes, checked.params)}
    needs = {}
    for item in layer.inputs:
        if not item.has_gradient:
            needs[item.name] = f": {layer.name}'s {item.name} are integers and have no gradient"
        elif checked.shapes[item.name] is None:
            needs[item.name] = f": {option(item.name)} is none, so it has no gradient"
        else:
            shapes[item.name] = tuple(checked.shapes[item.name])
    names = {name: f"∂L/∂{name}" for name in layer.gradient_names}
    return Outline(shapes, command=f"layer {layer.name}", needs=needs, names=names)


def require_limits(checked: Plan) -> None:
    """Refuse, from shapes alone, a check that would not fit in memory or would take ages.

    The forward pass runs about FORWARD_PASSES times over (forward, the backward by hand,
    autograd's forward and backward, the result's conversions); finite differences keep
    within the engine's own work budget. A layer may add work its forward does not measure
    (a recurrent layer's Python loop over the time steps).
    """
    what = f"layer {checked.layer.name} on these shapes"
    require_memory(checked.bytes_needed, what)
    require_work(FORWARD_PASSES * checked.multiply_adds + checked.fixed_work, what)


INFO = CommandInfo(
    name="layer",
    function=layer,
    summary="a layer's backward pass by hand vs autograd",
    usage="NAME (--x X | --x-shape S | --q Q... | --indices I) [--weight W] [--param K=V]...",
    examples=(
        Example('layer batchnorm --x "1,2,3;4,5,6;7,8,10;2,0,1" --steps'),
        Example("layer conv2d --x-shape 1x1x4x4 --weight-shape 1x1x2x2 --upstream ones"),
        Example("layer lstm --x-shape 3x2x4 --param hidden_size=3 --steps"),
        Example("layer --list"),
    ),
)
