"""Table rendering of `gradcli perceptron` results (registered on import)."""

from __future__ import annotations

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.text import Text

from gradcli.expect import AnswerSet
from gradcli.marking import RIGHT
from gradcli.render.fit import Column, FitTable
from gradcli.render.table import (
    EDGE,
    ELLIPSIS,
    MATRIX_LIMIT,
    VECTOR_LIMIT,
    answer_matrices,
    as_renderable,
    marks_lines,
    matrix_table,
    number,
    numeric_cell,
    pick,
    tick,
    verdict,
)
from gradcli.results import GradientCheck
from gradcli.results.perceptron import (
    LayerGradients,
    LayerSteps,
    PerceptronResult,
)
from gradcli.settings import Tolerance

PRODUCT_LIMIT = 16  # --steps lists δ·x for each weight up to this many entries per layer
TERM_LIMIT = 3  # samples written out in a Σ_batch before it is only summed


def _columns(tables: list[RenderableType]) -> Columns:
    return Columns(tables, padding=(0, 2))


NODE_INPUT = ("k", "j")  # W_kj: row k = the layer's node, column j = its input
SAMPLE_INPUT = ("s", "j")  # x: row = sample, column = input feature
SAMPLE_NODE = ("s", "k")  # O and t: row = sample, column = output node


def _summary(rows: int, cols: int) -> str:
    if rows > MATRIX_LIMIT or cols > MATRIX_LIMIT:
        return f"  (summarized: first and last {EDGE} rows/columns; --json has every entry)"
    return ""


def _data(result: PerceptronResult, precision: int) -> RenderableType:
    b, n = len(result.x), len(result.x[0])
    x_title = f"x ({b}×{n}){_summary(b, n)}"
    tables = [matrix_table(x_title, result.x, precision, labels=SAMPLE_INPUT)]
    k = len(result.outputs[0])
    o_title = f"outputs O ({b}×{k})"
    tables.append(matrix_table(o_title, result.outputs, precision, labels=SAMPLE_NODE))
    target = result.target
    if target and isinstance(target[0], list):
        values = {v for row in target for v in row}
        if len(values) == 1 and _is_big(target):
            tables.append(Text(f"target t: every entry {number(values.pop(), precision)}"))
        else:
            tables.append(matrix_table("target t", target, precision, labels=SAMPLE_NODE))
    else:
        tables.append(_vector_table("target class", [float(t) for t in target], precision))
    return _columns(tables)


def _vector_table(title: str, values: list[float], precision: int, label: str = "i") -> FitTable:
    rows = [
        [ELLIPSIS, ELLIPSIS] if i is None else [f"{label}={i}", number(values[i], precision)]
        for i in pick(len(values), VECTOR_LIMIT)
    ]
    columns = [Column("", key=True), Column("value")]
    return FitTable(columns, rows, title=Text(title), header_style="bold")


def _is_big(matrix: list[list[float]]) -> bool:
    return len(matrix) > MATRIX_LIMIT or len(matrix[0]) > MATRIX_LIMIT


def _weight_section(layer: LayerGradients, precision: int) -> list[RenderableType]:
    out, fan_in = layer.shape
    grad = layer.weight
    check = grad.check
    heading = Text(
        f"layer {layer.index} ({layer.activation}): W is {out}×{fan_in}, rows k = its nodes, "
        f"columns j = its inputs{_summary(out, fan_in)}",
        style="bold",
    )
    pair = [
        matrix_table("∂E/∂W backprop (δ rule)", check.analytic, precision, True, labels=NODE_INPUT),
        matrix_table("∂E/∂W autograd", check.autograd, precision, True, labels=NODE_INPUT),
    ]
    extra = []
    if check.numeric is not None:
        extra.append(
            matrix_table(
                "∂E/∂W finite differences",
                check.numeric,
                precision,
                True,
                labels=NODE_INPUT,
                trusted=check.trusted,
            )
        )
    if not _is_big(grad.value):  # big weights: their values are in --json
        extra.append(matrix_table("W", grad.value, precision, labels=NODE_INPUT))
    if grad.updated is not None:
        extra.append(matrix_table("W − lr·∂E/∂W", grad.updated, precision, labels=NODE_INPUT))
    parts: list[RenderableType] = [heading, _columns(pair)]
    if extra:
        parts.append(_columns(extra))
    return parts


def _bias_table(layer: LayerGradients, precision: int) -> FitTable | None:
    grad = layer.bias
    if grad is None:
        return None
    check = grad.check
    headers = ["b", "backprop", "autograd"]
    headers += ["numeric"] if check.numeric is not None else []
    headers += ["|diff|", ""]
    headers += ["b − lr·∂E/∂b"] if grad.updated is not None else []
    columns = [Column("k", key=True), *(Column(header) for header in headers)]
    rows = []
    for k in pick(len(grad.value), VECTOR_LIMIT):
        if k is None:
            rows.append([ELLIPSIS] * len(columns))
            continue
        cells: list[str | Text] = [
            str(k),
            number(grad.value[k], precision),
            number(check.analytic[k], precision),
            number(check.autograd[k], precision),
        ]
        if check.numeric is not None:
            cells.append(
                numeric_cell(check.numeric[k], check.trusted is None or check.trusted[k], precision)
            )
        cells += [f"{check.abs_diff[k]:.1e}", tick(check.ok[k])]
        if grad.updated is not None:
            cells.append(number(grad.updated[k], precision))
        rows.append(cells)
    title = Text(f"layer {layer.index} bias b and ∂E/∂b")
    return FitTable(columns, rows, title=title, header_style="bold")


def _layer_verdict(layer: LayerGradients, tolerance: Tolerance) -> Text:
    checks = [layer.weight.check] + ([layer.bias.check] if layer.bias is not None else [])
    merged = _merge(checks, tolerance)
    sides = "backprop, autograd, numeric" if merged.numeric is not None else "backprop, autograd"
    tensors = "∂E/∂W, ∂E/∂b" if layer.bias is not None else "∂E/∂W"
    return verdict(merged, f"layer {layer.index} {tensors} ({sides})")


def _merge(checks: list[GradientCheck], tolerance: Tolerance) -> GradientCheck:
    """One check standing for several tensors, enough for a one-line verdict."""
    agree = all(check.agree for check in checks)
    ok = [] if agree else [v for check in checks for v in _flat(check.ok)]
    numeric = None if any(check.numeric is None for check in checks) else []
    return GradientCheck(
        analytic=[],
        autograd=[],
        numeric=numeric,
        trusted=None,
        abs_diff=[],
        ok=ok,
        max_abs_diff=max(check.max_abs_diff for check in checks),
        agree=agree,
        tolerance=tolerance,
    )


def _flat(values: list) -> list:
    return [v for row in values for v in row] if values and isinstance(values[0], list) else values


def _product(step: LayerSteps, k: int, j: int, precision: int) -> str:
    """Σ_batch δ_k·x_j written out (for up to TERM_LIMIT samples)."""
    terms = [(row[k], inputs[j]) for row, inputs in zip(step.delta, step.inputs, strict=True)]
    total = sum(d * x for d, x in terms)
    if len(terms) > TERM_LIMIT:
        return f"Σ over {len(terms)} samples = {number(total, precision)}"
    written = " + ".join(f"{_signed(d, precision)} × {_signed(x, precision)}" for d, x in terms)
    return f"{written} = {number(total, precision)}"


def _signed(value: float, precision: int) -> str:
    """A number for a product: negatives in brackets, with a real minus sign."""
    text = number(value, precision)
    return f"(−{text[1:]})" if value < 0 else text


def _steps_section(result: PerceptronResult, precision: int) -> list[RenderableType]:
    parts: list[RenderableType] = [
        Text("Worked backprop (delta rule), from the output layer down", style="bold underline"),
        Text(
            "W_kj is torch's weight[k][j], joining input node j to node k (the study notes' "
            "W_jk); X = x Wᵀ + b, O = f(X)."
        ),
    ]
    for step in reversed(result.steps or []):
        parts += _step(step, precision)
    return parts


def _step(step: LayerSteps, precision: int) -> list[RenderableType]:
    role = "output layer" if step.is_output else "hidden layer"
    node, source = ("k", "j") if step.is_output else ("j", "i")
    upstream_name = "∂E/∂O" if step.is_output else "Σ δW"
    header = Text(
        f"layer {step.index} ({role}, {step.activation}):  {step.derivative_formula}", style="bold"
    )
    headers = ("X", "O = f(X)", "f'(X)", upstream_name, "δ")
    columns = [Column("sample", key=True), Column(node, key=True), *map(Column, headers)]
    rows = []
    for b in pick(len(step.delta), VECTOR_LIMIT):
        for k in pick(len(step.delta[0]), VECTOR_LIMIT) if b is not None else [None]:
            if b is None or k is None:
                rows.append([ELLIPSIS] * 7)
                continue
            rows.append(
                [
                    str(b),
                    str(k),
                    number(step.pre_activation[b][k], precision),
                    number(step.output[b][k], precision),
                    number(step.derivative[b][k], precision),
                    number(step.upstream[b][k], precision),
                    number(step.delta[b][k], precision),
                ]
            )
    table = FitTable(columns, rows, header_style="bold")
    formulas = [
        Text(f"  {upstream_name}:  {step.upstream_formula}"),
        Text(f"  {step.delta_formula}"),
        Text(f"  {step.weight_formula}   (x = {_inputs_name(step)})"),
    ]
    products = _products(step, node, source, precision)
    if step.bias_formula:
        formulas.append(Text(f"  {step.bias_formula}"))
    return [header, table, *formulas, *products]


def _inputs_name(step: LayerSteps) -> str:
    return "the network input" if step.index == 1 else f"O of layer {step.index - 1}"


def _products(step: LayerSteps, node: str, source: str, precision: int) -> list[Text]:
    rows, cols = len(step.delta[0]), len(step.inputs[0])
    if rows * cols > PRODUCT_LIMIT:
        return [Text(f"  ({rows * cols} weight entries: see the ∂E/∂W matrices above)", "dim")]
    lines = []
    for k in range(rows):
        for j in range(cols):
            expression = _product(step, k, j, precision)
            sigma = "δ" if len(step.delta) == 1 else "Σ_batch δ"
            lines.append(
                Text(f"    ∂E/∂W[{node}={k}, {source}={j}] = {sigma}_{k}·x_{j} = {expression}")
            )
    return lines


HISTORY_HEAD = 4  # epochs 0 … 3
HISTORY_TAIL = 3  # the last three


def history_epochs(count: int) -> list[int]:
    """Epochs the table shows out of 0 … count: the first few, every power of ten, the last
    few."""
    chosen = set(range(min(HISTORY_HEAD, count + 1)))
    chosen |= {10**k for k in range(1, len(str(count))) if 10**k <= count}
    chosen |= set(range(max(0, count - HISTORY_TAIL + 1), count + 1))
    return sorted(chosen)


def _training(result: PerceptronResult, precision: int) -> list[RenderableType]:
    training = result.training
    assert training is not None
    parts: list[RenderableType] = [_training_heading(result)]
    if result.loss_plot is not None:
        parts.append(_loss_plot(result))
    rows: list[list[str | Text]] = []
    previous = None
    for epoch in history_epochs(training.epochs):
        if previous is not None and epoch != previous + 1:
            rows.append([ELLIPSIS, ELLIPSIS])
        rows.append([f"{epoch:,}", number(training.history[epoch], max(precision, 10))])
        previous = epoch
    loss = "E" if training.optimizer is None else "loss"
    caption = Text(f"history[k] = {loss} after k steps; --json has all {training.epochs + 1:,}")
    parts.append(
        FitTable(
            [Column("epoch k", key=True), Column(f"{loss} after k steps")],
            rows,
            header_style="bold",
        )
    )
    parts.append(caption)
    final = [
        matrix_table(
            f"outputs O after {training.epochs:,} step{'s' if training.epochs != 1 else ''}",
            training.final_outputs,
            precision,
            labels=SAMPLE_NODE,
        )
    ]
    if result.target and isinstance(result.target[0], list) and not _is_big(result.target):
        final.append(matrix_table("target t", result.target, precision, labels=SAMPLE_NODE))
    parts.append(_columns(final))
    weights = []
    for layer in result.layers:
        if layer.weight.final is not None:
            weights.append(
                matrix_table(
                    f"layer {layer.index} W final", layer.weight.final, precision, labels=NODE_INPUT
                )
            )
        if layer.bias is not None and layer.bias.final is not None:
            weights.append(
                _vector_table(
                    f"layer {layer.index} b final", layer.bias.final, precision, label="k"
                )
            )
    parts.append(_columns(weights))
    return parts


def _training_heading(result: PerceptronResult) -> Text:
    """What the epochs did: plain gradient descent, or the optimizer with its options."""
    training = result.training
    assert training is not None
    samples = len(result.x)
    count = f"{training.epochs:,} step{'s' if training.epochs != 1 else ''}"
    batch = f"full batch ({samples} sample{'s' if samples != 1 else ''})"
    biases = (
        "every step moves W and b" if training.bias_update else "biases fixed (--no-bias-update)"
    )
    run = training.optimizer
    if run is None:
        return Text(
            f"Gradient descent: {count} of lr = {training.lr:g}, {batch}, all layers stepped at "
            f"once from backprop's gradient; {biases}",
            style="bold",
        )
    from gradcli.ops.optimizers import show_value

    options = ", ".join(
        f"{k}={show_value(v)}" for k, v in run.options.items() if k != "weight_decay"
    )
    if run.weight_decay and run.decay == "decoupled":
        decay = f"weights decayed by λ = {run.weight_decay:g}, decoupled (biases never)"
    elif run.weight_decay:
        decay = f"weights decayed by λ = {run.weight_decay:g} as L2, λ·W added to ∂E/∂W"
        decay += " (biases never)"
    else:
        decay = "no weight decay"
    return Text(
        f"Training: {count} of {run.name} (torch.optim.{run.torch_class}; {options}), {batch}, "
        f"from backprop's gradient; {decay}; {biases}\nloss in the history: {run.loss_formula}",
        style="bold",
    )


def _loss_plot(result: PerceptronResult) -> RenderableType:
    from gradcli.render.plot import CurvePlot, Figure, Series

    training = result.training
    assert training is not None and result.loss_plot is not None
    losses = training.history
    epochs = list(range(len(losses)))
    run = training.optimizer
    name, formula = ("E", result.loss_formula) if run is None else ("loss", run.loss_formula)
    positive = all(loss > 0 for loss in losses)
    log = positive and max(losses) > 100 * min(losses)
    figure = Figure(
        series=(Series(f"{name} after k steps ({formula})", epochs, losses),),
        title=f"loss E against the epoch k{' (log scale)' if log else ''}",
        log_y=log,
        x_integer=True,
    )
    width, height = result.loss_plot
    return CurvePlot(figure, width, height)


def _step_verdicts(result: PerceptronResult) -> list[Text]:
    training = result.training
    assert training is not None
    sides = "backprop and autograd" if result.numeric_skipped else "backprop, autograd, numeric"
    diff = f"max |diff| {result.max_abs_diff:.1e}"
    first_ok = all(
        check.agree
        for layer in result.layers
        for check in [layer.weight.check] + ([layer.bias.check] if layer.bias else [])
    )
    lines = [
        Text(
            f"{'✓' if first_ok else '✗'} step 1 gradient: {sides} "
            f"{'agree' if first_ok else 'DISAGREE'} ({diff})",
            style="bold green" if first_ok else "bold red",
        )
    ]
    run = training.optimizer
    if run is not None:
        lines.append(
            Text(
                f"{'✓' if run.check.agree else '✗'} every epoch's update: by hand and "
                f"torch.optim.{run.torch_class} {'agree' if run.check.agree else 'DISAGREE'} "
                f"(max |diff| {run.check.max_abs_diff:.1e}"
                + (")" if run.check.agree else f", epoch {run.worst_epoch:,})"),
                style="bold green" if run.check.agree else "bold red",
            )
        )
    last = training.last_step
    if training.epochs > 1:
        lines.append(
            Text(
                f"{'✓' if last.agree else '✗'} step {training.epochs:,} gradient: backprop and "
                f"autograd {'agree' if last.agree else 'DISAGREE'} (max |diff| "
                f"{last.max_abs_diff:.1e}); the steps between use the same backprop",
                style="bold green" if last.agree else "bold red",
            )
        )
    return lines


@as_renderable.register
def _(result: PerceptronResult, precision: int) -> RenderableType:
    parts: list[RenderableType] = _header_with(result, precision)
    if result.graph is not None:
        from gradcli.render.graph import GraphSection

        parts.append(GraphSection(result.graph, precision))
    if result.training is not None:
        parts += _training(result, precision)
        if result.steps is not None:
            parts += _steps_section(result, precision)
        parts += [Text(note, style="yellow") for note in result.notes]
        parts += _step_verdicts(result)
        parts += _answers(result, precision)
        return Group(*parts)
    if result.graph is not None:  # the graph is the view: its leaves hold every ∂E/∂W
        if result.steps is not None:
            parts += _steps_section(result, precision)
        parts += [Text(note, style="yellow") for note in result.notes]
        parts.append(_overall(result))
        parts += marks_lines(result, precision)
        return Group(*parts)
    parts.append(_data(result, precision))
    tolerance = Tolerance(result.atol, result.rtol)
    for layer in result.layers:
        parts += _weight_section(layer, precision)
        bias = _bias_table(layer, precision)
        if bias is not None:
            parts.append(bias)
        parts.append(_layer_verdict(layer, tolerance))
    if result.steps is not None:
        parts += _steps_section(result, precision)
    caption = f"autograd engine: {_engine_text(result.engine)};  {result.dtype}"
    if result.lr is not None:
        moved = "weights and biases" if result.bias_update else "weights; biases fixed"
        caption += f";  one gradient-descent step with lr = {result.lr:g} ({moved})"
    parts.append(Text(caption))
    if result.numeric_skipped:
        parts.append(Text(result.numeric_skipped, style="yellow"))
    parts += [Text(note, style="yellow") for note in result.notes]
    parts.append(_overall(result))
    parts += _answers(result, precision)
    return Group(*parts)


def _answers(result: PerceptronResult, precision: int) -> list[RenderableType]:
    """The user's answers: each matrix with a ✓/✗ per entry (for several quantities, only the
    ones not right), then the verdict or the mark sheet."""
    marks = result.marks
    if marks is None:
        return []
    shown = AnswerSet({m.key: m.check for m in marks if len(marks) == 1 or m.status != RIGHT})
    matrices = answer_matrices(shown, precision) if shown.parts else []
    return [*([_columns(matrices)] if matrices else []), *marks_lines(result, precision)]


def _header_with(result: PerceptronResult, precision: int) -> list[RenderableType]:
    sizes = [str(len(result.x[0]))] + [str(layer.shape[0]) for layer in result.layers]
    acts = ", ".join(result.activations)
    title = Text(
        f"perceptron {'-'.join(sizes)}  (activations: {acts};  O = f(X), X = x Wᵀ + b, W out×in)",
        style="bold",
    )
    text = (
        f"loss {result.loss_name}, reduction {result.reduction}:  {result.loss_formula}\n"
        f"E = {number(result.loss, max(precision, 9))}"
    )
    if result.new_loss is not None:
        text += (
            f";  after one step of lr = {result.lr:g}: E = "
            f"{number(result.new_loss, max(precision, 9))}"
        )
    return [title, Text(text)]


def _engine_text(engine: str) -> str:
    if engine == "backward":
        return "loss.backward(), then each parameter's .grad"
    return "torch.autograd.grad(loss, params)"


def _overall(result: PerceptronResult) -> Text:
    diff = f"max |diff| {result.max_abs_diff:.1e}"
    tol = f"(atol {result.atol:g}, rtol {result.rtol:g})"
    if result.agree:
        sides = (
            "backprop and autograd" if result.numeric_skipped else "backprop, autograd and numeric"
        )
        return Text(
            f"✓ {sides} agree on every gradient: {diff} within tolerance {tol}", style="bold green"
        )
    return Text(f"✗ gradients DISAGREE: {diff} {tol}", style="bold red")
