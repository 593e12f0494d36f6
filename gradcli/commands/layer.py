"""``gradcli layer NAME --x TENSOR [--weight TENSOR] [--bias TENSOR|none] [--param K=V]...``"""

from __future__ import annotations

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
        "kernel_size=3, groups=2, ceil_mode=true, padding_idx=0, normalized_shape=3,4, "
        "training=false, running_mean=0.1,0.2, p=0.3, eps=1e-3, causal=true… (see --list).",
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
    seed: SeedOpt = 0,
    steps: Annotated[
        bool, typer.Option("--steps", help="Show the hand derivation's intermediate quantities.")
    ] = False,
    expect: expect_option(
        None,
        "y, the gradients by input name: x=, weight=, bias= (q=, k=, v= for attention), and "
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
    shapes = {"x": x_shape, "weight": weight_shape, "q": q_shape, "k": k_shape, "v": v_shape}
    result = layer_result(
        name, texts, shapes, param or [], upstream, seed, steps, expect or [], min_digits,
        common.settings,
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
) -> LayerResult:
    """The check behind ``gradcli layer`` and ``gradcli.layer``: the inputs as the options'
    text or already parsed, by name (x, weight, bias, q, k, v, indices), shapes to draw by
    name; every check made before torch loads."""
    if name is None:
        raise InputError("no layer name given; run 'gradcli layer --list' to see them")
    chosen = get_layer(name)
    given = gather_inputs(chosen, texts, shapes)
    checked = plan(chosen, given, param, settings.dtype.value)
    g = parse_upstream(upstream, checked)
    expected = parse_answers(expect, layer_outline(checked), min_digits)
    require_limits(checked)

    from gradcli.core.layer import LayerRequest, layer_gradients

    return layer_gradients(LayerRequest(checked, g, seed, steps), settings, expected)


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
            raise InputError(f"give either --{key} or --{key}-shape, not both")
        if shape is not None:
            given[key] = Given(shape=parse_dims(shape, f"--{key}-shape"))
        elif isinstance(text, str) and text.strip().lower() in NO_INPUT_WORDS:
            given[key] = Given(none=True)
        else:
            data = tensor_arg(text, f"--{key}", max_entries=_input_bound(layer, key))
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
    if _without_leading_ones(data.shape) == _without_leading_ones(want):
        return Given(values=tuple(data.values), shape=tuple(want))  # y's form as shown (2-D)
    if tuple(data.shape) != tuple(want):
        raise InputError(
            f"--upstream has shape {dims_text(data.shape)} but y = {checked.layer.name}(…) has "
            f"shape {dims_text(want)}; G must have y's shape"
        )
    return Given(values=tuple(data.values), shape=tuple(data.shape))


def _without_leading_ones(shape) -> tuple[int, ...]:
    dims = list(shape)
    while len(dims) > 1 and dims[0] == 1:
        dims.pop(0)
    return tuple(dims)


def layer_outline(checked: Plan) -> Outline:
    """The keys of the worked solution: y, the intermediates --steps shows (their shapes
    known once computed) and the gradients by input name."""
    layer = checked.layer
    shapes: dict[str, tuple[int, ...] | None] = {"y": tuple(checked.output_shape)}
    shapes |= {key: None for key, _ in layer.step_keys}
    needs = {}
    for item in layer.inputs:
        if not item.has_gradient:
            needs[item.name] = f": {layer.name}'s {item.name} are integers and have no gradient"
        elif checked.shapes[item.name] is None:
            needs[item.name] = f": --{item.name} is none, so it has no gradient"
        else:
            shapes[item.name] = tuple(checked.shapes[item.name])
    names = {name: f"∂L/∂{name}" for name in layer.gradient_names}
    return Outline(shapes, command=f"layer {layer.name}", needs=needs, names=names)


def require_limits(checked: Plan) -> None:
    """Refuse, from shapes alone, a check that would not fit in memory or would take ages.

    The forward pass runs about FORWARD_PASSES times over (forward, the backward by hand,
    autograd's forward and backward, the result's conversions); finite differences keep
    within the engine's own work budget.
    """
    what = f"layer {checked.layer.name} on these shapes"
    require_memory(checked.bytes_needed, what)
    require_work(FORWARD_PASSES * checked.multiply_adds, what)


INFO = CommandInfo(
    name="layer",
    function=layer,
    summary="a layer's backward pass by hand vs autograd",
    usage="NAME (--x X | --x-shape S | --q Q... | --indices I) [--weight W] [--param K=V]...",
    examples=(
        Example('layer batchnorm --x "1,2,3;4,5,6;7,8,10;2,0,1" --steps'),
        Example("layer conv2d --x-shape 1x1x4x4 --weight-shape 1x1x2x2 --upstream ones"),
        Example("layer attention --q-shape 4x3 --param causal=true --steps"),
        Example("layer --list"),
    ),
)
