"""Result of `gradcli perceptron`: a small network's gradients by backprop and by autograd."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcli.expect import AnswerCheck, AnswerSet, shape_of
from gradcli.marking import Marks
from gradcli.outcome import Outcome
from gradcli.results import GradientCheck, answer_json, flatten, solution_fields, solution_rows
from gradcli.results.graph import Graph
from gradcli.solution import Solution

Matrix = list[list[float]]
Vector = list[float]


@dataclass(frozen=True)
class StepCheck:
    """Backprop's gradient against autograd's at one step of gradient descent."""

    max_abs_diff: float
    agree: bool


@dataclass(frozen=True)
class Training:
    """``--epochs N``: ``history[k]`` is the loss after k steps (N + 1 values, history[0]
    the initial loss), the parameters and outputs after the last step, and the check of the
    last step's gradient (the first step's is the command's own three-way check)."""

    epochs: int
    lr: float
    bias_update: bool
    history: list[float]
    final_outputs: Matrix
    final_weights: list[Matrix]
    final_biases: list[Vector | None]
    last_step: StepCheck
    optimizer: OptimizerTraining | None = None  # --optimizer / --weight-decay

    @property
    def agree(self) -> bool:
        """The last step's gradient, and every update against torch.optim, agree."""
        return self.last_step.agree and (self.optimizer is None or self.optimizer.check.agree)

    def to_json(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "lr": self.lr,
            "bias_update": self.bias_update,
            "full_batch": True,
            "update": "simultaneous",
            "checked_steps": sorted({1, self.epochs}),
            "last_step": {
                "step": self.epochs,
                "max_abs_diff": self.last_step.max_abs_diff,
                "agree": self.last_step.agree,
            },
            "final_loss": self.history[-1],
            "final_outputs": self.final_outputs,
            "optimizer": None if self.optimizer is None else self.optimizer.to_json(),
        }


@dataclass(frozen=True)
class OptimizerTraining:
    """How ``--optimizer`` trained: the record's name, its options, the weights' decay and
    the check of every epoch's update against torch.optim (``check.max_abs_diff`` over all
    parameters and epochs; ``worst_epoch`` where it was largest)."""

    name: str
    torch_class: str
    options: dict[str, Any]
    weight_decay: float
    decay: str  # "L2" (λ·W added to ∂E/∂W, loss E + ½λ‖W‖²) or "decoupled"
    loss_formula: str  # what history holds
    check: StepCheck
    worst_epoch: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "torch": f"torch.optim.{self.torch_class}",
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()},
            "weight_decay": self.weight_decay,
            "decay": self.decay,
            "decayed": "weights" if self.weight_decay else "none",
            "history_loss": self.loss_formula,
            "checked_epochs": "every epoch, against torch.optim",
            "max_abs_diff": self.check.max_abs_diff,
            "worst_epoch": self.worst_epoch,
            "agree": self.check.agree,
        }


@dataclass(frozen=True)
class ParameterGradient:
    """One weight matrix or bias vector: its value, ∂E/∂it three ways, and the stepped value."""

    value: list  # a Matrix for weights, a Vector for biases
    check: GradientCheck
    updated: list | None  # value − lr·analytic, when --lr was given
    final: list | None = None  # after the last of --epochs steps

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "analytic": self.check.analytic,
            "autograd": self.check.autograd,
            "numeric": self.check.numeric,
            "numeric_trusted": self.check.trusted,
            "updated": self.updated,
            "final": self.final,
            "max_abs_diff": self.check.max_abs_diff,
            "agree": self.check.agree,
        }


@dataclass(frozen=True)
class LayerGradients:
    """Layer ``index`` (numbered from 1): its activation and its parameters' gradients."""

    index: int
    activation: str
    weight: ParameterGradient
    bias: ParameterGradient | None

    @property
    def shape(self) -> tuple[int, int]:
        """(out, in), torch's nn.Linear.weight layout."""
        return len(self.weight.value), len(self.weight.value[0])

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.index,
            "activation": self.activation,
            "shape": list(self.shape),
            "weight": self.weight.to_json(),
            "bias": None if self.bias is None else self.bias.to_json(),
        }


@dataclass(frozen=True)
class LayerSteps:
    """The worked backprop of one layer, every matrix batch × nodes.

    ``upstream`` is ∂E/∂O for the output layer and Σ_k δ_k W_kj for a hidden one;
    ``delta`` is upstream · f'(X).
    """

    index: int
    is_output: bool
    activation: str
    derivative_formula: str
    inputs: Matrix  # x_j: the network input, or the previous layer's O
    pre_activation: Matrix  # X = x Wᵀ + b
    output: Matrix  # O = f(X)
    derivative: Matrix  # f'(X)
    upstream: Matrix
    upstream_formula: str
    delta: Matrix
    delta_formula: str
    weight_formula: str
    bias_formula: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.index,
            "is_output": self.is_output,
            "activation": self.activation,
            "derivative_formula": self.derivative_formula,
            "inputs": self.inputs,
            "pre_activation": self.pre_activation,
            "output": self.output,
            "derivative": self.derivative,
            "upstream": self.upstream,
            "upstream_formula": self.upstream_formula,
            "delta": self.delta,
            "delta_formula": self.delta_formula,
            "weight_formula": self.weight_formula,
            "bias_formula": self.bias_formula,
        }


@dataclass(frozen=True)
class PerceptronResult(Outcome):
    """Loss, outputs and every layer's ∂E/∂W, ∂E/∂b: backprop vs autograd (vs numeric)."""

    x: Matrix
    target: list  # a Matrix of values, or one class index per sample for cross_entropy
    outputs: Matrix
    loss: float
    loss_name: str
    reduction: str
    loss_formula: str
    engine: str
    activations: list[str]
    layers: list[LayerGradients]
    max_abs_diff: float
    agree: bool
    dtype: str
    atol: float
    rtol: float
    seed: int | None  # set when something was drawn at random
    lr: float | None
    numeric_skipped: str | None  # why there is no finite-difference column, if there is none
    steps: list[LayerSteps] | None = None
    notes: list[str] = field(default_factory=list)
    answer: AnswerCheck | AnswerSet | None = None
    command: str = "perceptron"
    bias_update: bool = True  # --no-bias-update: gradient-descent steps leave b as it is
    training: Training | None = None  # --epochs
    loss_plot: tuple[int | None, int | None] | None = None  # --plot: (width, height), not JSON
    graph: Graph | None = None  # --graph: the computation graph with every node's adjoint
    solution: Solution | None = None  # the worked solution: every quantity by key
    marks: Marks | None = None  # the user's --expect answers, marked

    @property
    def history(self) -> list[dict[str, Any]] | None:
        """``[{epoch: k, loss: E after k steps}, …]`` with --epochs."""
        if self.training is None:
            return None
        return [{"epoch": k, "loss": loss} for k, loss in enumerate(self.training.history)]

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "loss": self.loss,
            "outputs": self.outputs,
            "engine": self.engine,
            "activations": self.activations,
            "loss_name": self.loss_name,
            "reduction": self.reduction,
            "loss_formula": self.loss_formula,
            "x": self.x,
            "target": self.target,
            "seed": self.seed,
            "lr": self.lr,
            "bias_update": self.bias_update,
            "layers": [layer.to_json() for layer in self.layers],
            "max_abs_diff": self.max_abs_diff,
            "agree": self.agree,
            "numeric_skipped": self.numeric_skipped,
            "atol": self.atol,
            "rtol": self.rtol,
            "dtype": self.dtype,
            "steps": None if self.steps is None else [step.to_json() for step in self.steps],
            "training": None if self.training is None else self.training.to_json(),
            "history": self.history,
            "graph": None if self.graph is None else self.graph.to_json(),
            "notes": self.notes,
            **answer_json(self.answer),
            **solution_fields(self),
        }

    @property
    def new_loss(self) -> float | None:
        """E after one step of --lr, from the worked solution."""
        quantity = self.solution.get("new_loss") if self.solution is not None else None
        return None if quantity is None else quantity.value

    def csv_rows(self) -> tuple[list[str], Any]:
        gradients = [
            f"layer{layer.index}.{name}" for layer in self.layers for name in ("weight", "bias")
        ]
        rows = solution_rows(self, shown=gradients)
        if rows is not None:
            return rows
        header = [
            "layer",
            "tensor",
            "row",
            "col",
            "value",
            "analytic",
            "autograd",
            "numeric",
            "numeric_trusted",
            "abs_diff",
            "ok",
            "updated",
            "final",
        ]
        rows: list[list[Any]] = []
        for layer in self.layers:
            rows += _weight_rows(layer.index, layer.weight)
            if layer.bias is not None:
                rows += _bias_rows(layer.index, layer.bias)
        if self.training is None:  # the "final" column only with --epochs
            header = header[:-1]
            rows = [row[:-1] for row in rows]
        if self.answer is None:
            return header, rows
        return [*header, "expected", "expected_ok"], [row + self._expected(row) for row in rows]

    def _expected(self, row: list[Any]) -> list[Any]:
        """The user's value for this CSV row's entry and whether it matched, or blanks."""
        layer, tensor, k, j = row[:4]
        mark = self.marks.get(f"layer{layer}.{tensor}") if self.marks else None
        part = None if mark is None else mark.check
        truth = self.layers[layer - 1].weight if tensor == "weight" else self.layers[layer - 1].bias
        if part is None or truth is None or shape_of(part.ok) != shape_of(truth.value):
            return [None, None]  # no answer for this tensor, or one of another shape
        index = k * len(truth.value[0]) + j if tensor == "weight" else k
        return [flatten(part.expected)[index], flatten(part.ok)[index]]


def _weight_rows(index: int, grad: ParameterGradient) -> list[list[Any]]:
    check = grad.check
    rows = []
    for k, row in enumerate(grad.value):
        width = len(row)
        columns = [
            check.analytic[k],
            check.autograd[k],
            [None] * width if check.numeric is None else check.numeric[k],
            [None] * width if check.trusted is None else check.trusted[k],
            check.abs_diff[k],
            check.ok[k],
            [None] * width if grad.updated is None else grad.updated[k],
            [None] * width if grad.final is None else grad.final[k],
        ]
        rows += [
            [index, "weight", k, j, value, *(column[j] for column in columns)]
            for j, value in enumerate(row)
        ]
    return rows


def _bias_rows(index: int, grad: ParameterGradient) -> list[list[Any]]:
    check = grad.check
    return [
        [
            index,
            "bias",
            k,
            "",
            value,
            check.analytic[k],
            check.autograd[k],
            None if check.numeric is None else check.numeric[k],
            None if check.trusted is None else check.trusted[k],
            check.abs_diff[k],
            check.ok[k],
            None if grad.updated is None else grad.updated[k],
            None if grad.final is None else grad.final[k],
        ]
        for k, value in enumerate(grad.value)
    ]
