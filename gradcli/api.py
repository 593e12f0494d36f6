"""``import gradcli``: every command as a Python function (docs/python.md).

Each function takes the command's options as keyword arguments — the same names in
snake_case, the same meanings, the same defaults — and Python values where the command line
takes text: numbers, nested lists, NumPy arrays, torch tensors (any dtype; read as float64
copies, computed in ``dtype``). It goes from there through the command's own function, the
one the CLI calls after parsing its strings, and returns the result object the CLI renders:
``bool(result)``, ``result.agree``, ``result.passed``, ``result.to_dict()`` (the ``--json``
document), ``print(result)`` (the table), HTML in Jupyter, ``result.raise_for_status()``.

Bad input raises :class:`InputError` (a ValueError) with the CLI's message; gradients that
disagree are a result, never an exception. This module imports neither torch nor Typer: the
first computation does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from gradcli.errors import InputError
from gradcli.outcome import GradientMismatch, set_presenter, with_precision

if TYPE_CHECKING:
    from gradcli.results.activation import ActivationResult
    from gradcli.results.check import CheckResult
    from gradcli.results.expr import ExprResult
    from gradcli.results.failure import CheckFailure
    from gradcli.results.layer import LayerResult
    from gradcli.results.loss import LossResult
    from gradcli.results.optim import OptimRunResult, OptimStepResult
    from gradcli.results.perceptron import PerceptronResult
    from gradcli.results.softmax import SoftmaxJacobianResult
    from gradcli.settings import Settings

Values = Any  # a number, nested lists, a NumPy array, a torch tensor, or the CLI's text
Answer = Any  # an answer: numbers as Python writes them (0.235, 1, Fraction(2, 3)) or text
Dtype = Literal["float64", "float32"]
R = TypeVar("R")


class _Presenter:
    """Shows results with the CLI's renderers (imported on first use: Rich is not light)."""

    def text(self, result: Any, precision: int) -> str:
        from gradcli.render.display import text

        return text(result, precision)

    def html(self, result: Any, precision: int) -> str:
        from gradcli.render.display import html

        return html(result, precision)

    def summary(self, result: Any) -> str:
        from gradcli.render.display import summary

        return summary(result)

    def renderable(self, result: Any, precision: int) -> Any:
        from gradcli.render.display import renderable

        return renderable(result, precision)


set_presenter(_Presenter())


# ---------------------------------------------------------------- shared options


def _settings(dtype: str, atol: float | None, rtol: float | None, no_numeric: bool) -> Settings:
    """The core's Settings, from the options every command shares (the CLI's defaults)."""
    key = (dtype, atol, rtol, no_numeric)
    try:
        return _SETTINGS[key]
    except (KeyError, TypeError):  # new, or not hashable (then it is refused below)
        pass
    settings = _new_settings(dtype, atol, rtol, no_numeric)
    if len(_SETTINGS) < 64:
        _SETTINGS[key] = settings
    return settings


_SETTINGS: dict[tuple[Any, ...], Settings] = {}  # the settings of calls seen (each call builds
# the same immutable Settings from the same options: a dict lookup instead of four parsers)


def _new_settings(dtype: Any, atol: Any, rtol: Any, no_numeric: Any) -> Settings:
    from gradcli.commands.options import non_negative, settings_from

    tolerances = [
        None if value is None else _option(non_negative, value, option)
        for value, option in ((atol, "--atol"), (rtol, "--rtol"))
    ]
    if not isinstance(dtype, str):
        dtype = str(dtype).removeprefix("torch.")
    return settings_from(dtype, tolerances[0], tolerances[1], bool(no_numeric))


def _option(parser: Callable[[Any], R], value: Any, option: str) -> R:
    """An option's value through the option's own parser; its complaint as the CLI words it."""
    import typer

    from gradcli.pyvalues import number_text

    try:
        return parser(number_text(value, option) if not isinstance(value, str) else value)
    except typer.BadParameter as error:
        raise InputError(f"Invalid value for '{option}': {error.message}") from None


def _digits(precision: int) -> int:
    if type(precision) is int and 1 <= precision <= 17:
        return precision  # what digit_count accepts, checked without it
    from gradcli.commands.options import digit_count

    return _option(digit_count, precision, "--precision")


def _min_digits(min_digits: int | None) -> int | None:
    if min_digits is None:
        return None
    from gradcli.commands.options import digit_count

    return _option(digit_count, min_digits, "--min-digits")


def _shown(result: R, precision: int) -> R:
    return with_precision(result, _digits(precision))


# ---------------------------------------------------------------- the commands


def activation(
    name: str,
    x: Values,
    *,
    param: Mapping[str, Any] | None = None,
    expect: Answer | Mapping[str, Answer] | None = None,
    min_digits: int | None = None,
    steps: bool = False,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    no_numeric: bool = False,
    precision: int = 6,
) -> ActivationResult:
    """f(x) and f'(x) of an activation at each x: formula vs autograd vs finite differences.

    ``gradcli.activation("sigmoid", [0, 0.5], expect=[0.25, 0.235])``; ``param`` sets the
    activation's parameters (``{"negative_slope": 0.1}``), as ``--param``; ``expect`` is f'(x)
    (a list) or quantities of the worked solution by key (``{"f": …, "grad": …}``);
    ``steps`` shows the worked solution.
    """
    from gradcli.commands.activation import activation_result
    from gradcli.pyvalues import expect_items, key_values, vector

    settings = _settings(dtype, atol, rtol, no_numeric)
    result = activation_result(
        name,
        vector(x, "x values"),
        key_values(param, "--param"),
        expect_items(expect),
        _min_digits(min_digits),
        settings,
        bool(steps),
    )
    return _shown(result, precision)  # type: ignore[arg-type]


def loss(
    name: str,
    pred: Values,
    target: Values,
    *,
    reduction: Literal["mean", "sum", "half-sum"] = "mean",
    param: Mapping[str, Any] | None = None,
    expect: Answer | Mapping[str, Answer] | None = None,
    min_digits: int | None = None,
    steps: bool = False,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    no_numeric: bool = False,
    precision: int = 6,
) -> LossResult:
    """A loss and ∂L/∂pred: formula vs autograd vs finite differences.

    ``gradcli.loss("cross_entropy", pred=[[2, 1, 0.1]], target=[0])``: rows of ``pred`` are
    samples; ``target`` holds values, probabilities or class indices, as ``--target``;
    ``expect`` is ∂L/∂pred or quantities by key (``{"loss": 0.417, "grad": …}``).
    """
    from gradcli.commands.loss import loss_result
    from gradcli.pyvalues import expect_items, key_values, tensor_data

    settings = _settings(dtype, atol, rtol, no_numeric)
    result = loss_result(
        name,
        tensor_data(pred, "--pred", max_dims=2),
        tensor_data(target, "--target", max_dims=2),
        _text(reduction, "--reduction"),
        key_values(param, "--param"),
        expect_items(expect),
        _min_digits(min_digits),
        settings,
        bool(steps),
    )
    return _shown(result, precision)


def softmax_jacobian(
    a: Values,
    *,
    temperature: float = 1.0,
    expect: Answer | Mapping[str, Answer] | None = None,
    min_digits: int | None = None,
    heatmap: bool = False,
    steps: bool = False,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    no_numeric: bool = False,
    precision: int = 6,
) -> SoftmaxJacobianResult:
    """p = softmax(a / T) and its Jacobian ∂p_i/∂a_j = p_i(δ_ij − p_j)/T, three ways.

    ``gradcli.softmax_jacobian([1, 2, 3], temperature=2)``; ``expect`` is the Jacobian
    (rows i), or quantities by key (``{"p": …, "jacobian": …}``), as ``--expect``.
    """
    from gradcli.commands.options import number
    from gradcli.commands.softmax import softmax_result
    from gradcli.pyvalues import expect_items, vector

    settings = _settings(dtype, atol, rtol, no_numeric)
    result = softmax_result(
        vector(a, "logits"),
        _option(number, temperature, "--temperature"),
        expect_items(expect),
        _min_digits(min_digits),
        settings,
        bool(heatmap),
        bool(steps),
    )
    return _shown(result, precision)


def perceptron(
    *,
    weights: Values | Sequence[Values] | None = None,
    biases: Values | Sequence[Values | None] | None = None,
    layers: int | Sequence[int] | str | None = None,
    seed: int = 0,
    no_bias: bool = False,
    x: Values | None = None,
    x_shape: Sequence[int] | str | None = None,
    target: Values | None = None,
    activation: str | Sequence[str] = "sigmoid",
    loss: Literal["mse", "bce", "cross_entropy"] = "mse",
    reduction: Literal["mean", "sum", "half-sum"] = "mean",
    engine: Literal["grad", "backward"] = "grad",
    steps: bool = False,
    graph: bool = False,
    lr: float | None = None,
    epochs: int | None = None,
    no_bias_update: bool = False,
    optimizer: str | None = None,
    param_option: Mapping[str, Any] | None = None,
    weight_decay: float | None = None,
    expect: Answer | Mapping[str, Answer] | None = None,
    min_digits: int | None = None,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    no_numeric: bool = False,
    precision: int = 6,
) -> PerceptronResult:
    """A network's ∂E/∂W and ∂E/∂b: backprop by hand (the delta rule) vs autograd vs finite
    differences.

    ``weights`` is one matrix (out×in, like ``nn.Linear.weight``) per layer, ``biases`` one
    vector per layer (None for a layer without one) — the ``--weights`` and ``--bias``
    options, repeated. ``expect`` answers by key: ``{"layer1.weight": [[…]], "layer2.bias":
    […]}`` (``layer1.new_weight`` after one ``lr`` step).
    """
    from gradcli.commands.perceptron import perceptron_result
    from gradcli.pyvalues import expect_items, key_values, number_text, shape_text, words

    settings = _settings(dtype, atol, rtol, no_numeric)
    weight_list = _layers_of(weights, 2, "--weights")
    bias_list = _layers_of(biases, 1, "--bias")
    result = perceptron_result(
        weights=[_tensor(w, f"layer {i} --weights", 2) for i, w in enumerate(weight_list, 1)],
        bias=[
            None if b is None else _tensor(b, f"layer {i} --bias", 2)
            for i, b in enumerate(bias_list, 1)
        ],
        layers=None if layers is None else _sizes(layers),
        seed=_seed(seed),
        no_bias=bool(no_bias),
        x=None if x is None else _tensor(x, "--x", 2),
        x_shape=None if x_shape is None else shape_text(x_shape, "--x-shape"),
        target=None if target is None else _tensor(target, "--target", 2),
        activation=words(activation),
        loss=_text(loss, "--loss"),
        reduction=_text(reduction, "--reduction"),
        engine=_text(engine, "--engine"),
        steps=bool(steps),
        graph=bool(graph),
        lr=None if lr is None else number_text(lr, "--lr"),
        epochs=None if epochs is None else number_text(epochs, "--epochs"),
        no_bias_update=bool(no_bias_update),
        optimizer=None if optimizer is None else _text(optimizer, "--optimizer"),
        param_option=key_values(param_option, "--param-option"),
        weight_decay=None if weight_decay is None else number_text(weight_decay, "--weight-decay"),
        expect=expect_items(expect),
        min_digits=_min_digits(min_digits),
        settings=settings,
    )
    return _shown(result, precision)


def expr(
    *expressions: str,
    at: Mapping[str, float | str] | None = None,
    wrt: str | Sequence[str] | None = None,
    order: Literal[1, 2] = 1,
    expect: Answer | Mapping[str, Answer] | None = None,
    steps: bool = False,
    graph: bool = False,
    min_digits: int | None = None,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    no_numeric: bool = False,
    precision: int = 6,
) -> ExprResult:
    """Derivatives of formulas: symbolic (SymPy) vs autograd vs finite differences.

    ``gradcli.expr("x^2*sin(y)", at={"x": 1, "y": 2})``; several expressions give the
    Jacobian, ``order=2`` the Hessian; ``at`` values may be numbers or formulas (``"pi/4"``).
    """
    from gradcli.commands.expr import expr_result
    from gradcli.pyvalues import expect_items, number_text, words

    settings = _settings(dtype, atol, rtol, no_numeric)
    for text in expressions:
        if not isinstance(text, str):
            raise InputError(f"an expression is text such as 'x^2*sin(y)', not {text!r}")
    points = [] if at is None else _point(at)
    result = expr_result(
        list(expressions),
        points,
        None if wrt is None else words(wrt),
        number_text(order, "--order"),
        expect_items(expect),
        bool(steps),
        bool(graph),
        _min_digits(min_digits),
        settings,
    )
    return _shown(result, precision)  # type: ignore[arg-type]


LAYER_INPUTS = ("x", "weight", "bias", "q", "k", "v", "indices")
LAYER_SHAPES = ("x", "weight", "q", "k", "v")


def layer(
    name: str,
    *,
    x: Values | None = None,
    x_shape: Sequence[int] | str | None = None,
    weight: Values | None = None,
    weight_shape: Sequence[int] | str | None = None,
    bias: Values | None = None,
    q: Values | None = None,
    q_shape: Sequence[int] | str | None = None,
    k: Values | None = None,
    k_shape: Sequence[int] | str | None = None,
    v: Values | None = None,
    v_shape: Sequence[int] | str | None = None,
    indices: Values | None = None,
    h0: Values | None = None,
    h0_shape: Sequence[int] | str | None = None,
    c0: Values | None = None,
    c0_shape: Sequence[int] | str | None = None,
    weight_ih: Values | None = None,
    weight_ih_shape: Sequence[int] | str | None = None,
    weight_hh: Values | None = None,
    weight_hh_shape: Sequence[int] | str | None = None,
    bias_ih: Values | None = None,
    bias_ih_shape: Sequence[int] | str | None = None,
    bias_hh: Values | None = None,
    bias_hh_shape: Sequence[int] | str | None = None,
    param: Mapping[str, Any] | None = None,
    upstream: Values = "random",
    upstream_h: Values | None = None,
    upstream_c: Values | None = None,
    seed: int = 0,
    steps: bool = False,
    expect: Mapping[str, Answer] | None = None,
    min_digits: int | None = None,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    no_numeric: bool = False,
    precision: int = 6,
) -> LayerResult:
    """One layer's backward pass from its closed form vs autograd vs finite differences,
    for L = Σ G ⊙ y (G = ``upstream``: ``"random"``, ``"ones"`` or a tensor of y's shape).

    ``gradcli.layer("batchnorm", x=X, upstream="ones", steps=True)``; ``bias="none"`` for a
    layer without one (left out, it is drawn); ``expect={"x": …, "weight": …}``. The
    recurrent layers take ``h0``, ``c0``, ``weight_ih``… and ``upstream_h``/``upstream_c``
    for the final states: ``gradcli.layer("lstm", x_shape=(5, 2, 3), param={"hidden_size":
    4}, upstream_c="ones")``.
    """
    from gradcli.commands.layer import layer_result
    from gradcli.ops.layers import option
    from gradcli.pyvalues import expect_items, key_values, shape_text

    settings = _settings(dtype, atol, rtol, no_numeric)
    given = {"x": x, "weight": weight, "bias": bias, "q": q, "k": k, "v": v, "indices": indices}
    given |= {"h0": h0, "c0": c0, "weight_ih": weight_ih, "weight_hh": weight_hh}
    given |= {"bias_ih": bias_ih, "bias_hh": bias_hh}
    drawn = {"x": x_shape, "weight": weight_shape, "q": q_shape, "k": k_shape, "v": v_shape}
    drawn |= {"h0": h0_shape, "c0": c0_shape, "weight_ih": weight_ih_shape}
    drawn |= {"weight_hh": weight_hh_shape, "bias_ih": bias_ih_shape, "bias_hh": bias_hh_shape}
    finals = {"upstream-h": upstream_h, "upstream-c": upstream_c}
    result = layer_result(
        name,
        {key: None if value is None else _tensor(value, option(key), 4, words=True)
         for key, value in given.items()},
        {key: None if value is None else shape_text(value, f"{option(key)}-shape")
         for key, value in drawn.items()},
        key_values(param, "--param"),
        upstream if isinstance(upstream, str) else _tensor(upstream, "--upstream", 4),
        _seed(seed),
        bool(steps),
        expect_items(expect),
        _min_digits(min_digits),
        settings,
        {key: value if value is None or isinstance(value, str) else _tensor(value, f"--{key}", 3)
         for key, value in finals.items()},
    )  # fmt: skip
    return _shown(result, precision)


def check(
    target: Any,
    *inputs: Values,
    backward: Any = None,
    seed: int = 0,
    numpy: bool = False,
    order: Literal[1, 2] = 1,
    kwarg: Mapping[str, Any] | None = None,
    convention: Literal["auto", "inputs", "cs231n"] = "auto",
    timeout: float = 60,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    precision: int = 6,
) -> CheckResult | CheckFailure:
    """Your own backward against finite differences: which entries are wrong, and why.

    ``target`` is a ``torch.autograd.Function`` subclass, a function of tensors, or (with
    ``backward=``, called as ``backward(dout, *inputs)``, or CS231n's ``(dout, cache)``) the
    forward of a pair — objects defined anywhere, a notebook cell included, or
    ``"FILE.py:NAME"`` as on the command line. Each input is values (a tensor, an array,
    nested lists, a number for a 0-d input) or an ``--input`` SPEC string: ``"3x4"`` (random
    values of that shape), ``"int:8:5"`` (integers, no gradient). Your tensors are copied,
    never changed. ``kwarg``: the forward's other arguments by name (JSON-like values, as
    ``--kwarg``). Your code runs in a child process where the system can (``timeout``
    seconds per call, 0: no limit); an error in it is a result (``CheckFailure``), as on the
    command line.
    """
    import json

    from gradcli.commands.check import (
        check_result,
        parse_convention,
        parse_input_spec,
        parse_kwargs,
        parse_order,
        parse_timeout,
    )
    from gradcli.pyvalues import number_text
    from gradcli.usercode import GivenCode, UserInterrupt, parse_target

    settings = _settings(dtype, atol, rtol, False)

    def code(value: Any, what: str) -> Any:
        if isinstance(value, str):
            return parse_target(value, what)
        if not callable(value):
            raise InputError(
                f"{what}{value!r} is not a function or a torch.autograd.Function subclass"
            )
        return GivenCode.of(value)

    specs = tuple(_input_spec(value, number, parse_input_spec)
                  for number, value in enumerate(inputs, 1))  # fmt: skip
    items = []
    for name, value in (kwarg or {}).items():
        try:
            items.append(f"{name}={json.dumps(value, allow_nan=False)}")
        except (TypeError, ValueError):
            raise InputError(
                f"--kwarg {name}: {type(value).__name__} is not a JSON value (numbers, strings, "
                "booleans, None, lists and dicts of them)"
            ) from None
    try:
        result = check_result(
            code(target, ""),
            None if backward is None else code(backward, "--backward "),
            specs,
            _seed(seed),
            bool(numpy),
            parse_order(number_text(order, "--order")),
            parse_kwargs(items),
            parse_convention(_text(convention, "--convention"), backward is not None),
            parse_timeout(number_text(timeout, "--timeout")),
            settings,
        )
    except UserInterrupt:
        raise KeyboardInterrupt from None
    return _shown(result, precision)


def _input_spec(value: Any, number: int, parse: Callable[[str, int], Any]) -> Any:
    """One input of ``check``: a SPEC string, a number or 0-d tensor (a scalar input), or
    values of any shape."""
    from gradcli.pyvalues import is_array, tensor_data
    from gradcli.results.check import InputSpec

    if isinstance(value, str):
        return parse(value, number)
    what = f"--input {number}"
    if getattr(value, "ndim", None) == 0 or (
        not is_array(value) and not isinstance(value, (list, tuple))
    ):
        data = tensor_data(value, what)
        return InputSpec("scalar", "literal", (), (data.values[0],))
    data = tensor_data(value, what, max_dims=4)
    text = "given " + "×".join(str(n) for n in data.shape)
    return InputSpec(text, "literal", tuple(data.shape), tuple(data.values))


def optim(
    name: str,
    *,
    param: Values | None = None,
    grad: Values | None = None,
    lr: float | None = None,
    state: Mapping[str, Any] | None = None,
    param_option: Mapping[str, Any] | None = None,
    convention: Literal["torch", "cs231n"] = "torch",
    steps: bool = False,
    expect: Answer | Mapping[str, Answer] | None = None,
    expr: str | None = None,
    at: Mapping[str, float | str] | None = None,
    iterations: int | None = None,
    min_digits: int | None = None,
    dtype: Dtype = "float64",
    atol: float | None = None,
    rtol: float | None = None,
    precision: int = 6,
) -> OptimStepResult | OptimRunResult:
    """One optimizer step by hand vs ``torch.optim``, or a formula minimised step by step.

    ``gradcli.optim("adam", param=[1, -2, 3], grad=[0.1, 0.2, -0.3], lr=1e-3)``; ``state``
    under torch's names (``{"exp_avg": […], "step": 10}``); ``expect`` is the new parameter
    (a list) or answers by key (``{"new_param": …, "exp_avg": …}``).
    """
    from gradcli.commands.optim import optim_result
    from gradcli.pyvalues import expect_items, key_values, number_text

    settings = _settings(dtype, atol, rtol, False)
    result = optim_result(
        name=name,
        param=None if param is None else _tensor(param, "--param", 2),
        grad=None if grad is None else _tensor(grad, "--grad", 2),
        lr=None if lr is None else number_text(lr, "--lr"),
        state=key_values(state, "--state"),
        param_option=key_values(param_option, "--param-option"),
        convention=_text(convention, "--convention"),
        steps=bool(steps),
        expect=expect_items(expect),
        expr=expr,
        at=None if at is None else _point(at),
        iterations=None if iterations is None else number_text(iterations, "--iterations"),
        min_digits=_min_digits(min_digits),
        settings=settings,
    )
    return _shown(result, precision)


# ---------------------------------------------------------------- conversions


def _tensor(value: Any, what: str, max_dims: int, words: bool = False) -> Any:
    """A tensor option's value (``words``: a word such as ``none`` passes through)."""
    from gradcli.pyvalues import tensor_data

    if words and isinstance(value, str):
        return value
    return tensor_data(value, what, max_dims=max_dims)


def _text(value: Any, option: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{option} takes a name, not {value!r}")
    return value


def _seed(seed: Any) -> int:
    from gradcli.commands.options import seed_value

    return _option(seed_value, seed, "--seed")


def _sizes(layers: Any) -> str:
    from gradcli.pyvalues import number_text

    if isinstance(layers, (list, tuple)):
        return ",".join(number_text(n, "--layers") for n in layers)
    return number_text(layers, "--layers")


def _point(at: Mapping[str, Any]) -> list[str]:
    """``{"x": 1, "y": "pi/4"}`` as ``--at`` items."""
    from gradcli.pyvalues import number_text

    if not isinstance(at, Mapping):
        raise InputError(f"--at takes a dict {{NAME: VALUE}}, e.g. {{'x': 1}}; got {at!r}")
    return [f"{name}={number_text(value, f'--at {name}')}" for name, value in at.items()]


def _layers_of(value: Any, depth: int, option: str) -> list[Any]:
    """One layer's tensor, or a list of them: ``weights=W`` or ``weights=[W1, W2]``
    (``depth`` is one layer's: 2 for weights, 1 for biases)."""
    from gradcli.pyvalues import is_array

    if value is None:
        return []
    if isinstance(value, str) or is_array(value):
        return [value]
    if not isinstance(value, (list, tuple)) or not value:
        return [value]
    if _depth(value) > depth or (depth == 1 and any(item is None for item in value)):
        return list(value)
    return [value]


def _depth(value: Any) -> int:
    """Nesting of lists (an array counts its dimensions)."""
    from gradcli.pyvalues import is_array

    if is_array(value):
        return int(getattr(value, "ndim", 0))
    if isinstance(value, (list, tuple)):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


__all__ = [
    "GradientMismatch",
    "InputError",
    "activation",
    "check",
    "expr",
    "layer",
    "loss",
    "optim",
    "perceptron",
    "softmax_jacobian",
]
