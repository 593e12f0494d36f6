"""`gradcli check` calls real code as people write it (issue 19, §2): CS231n's (out, cache)
convention, --kwarg hyper-parameters, several outputs, optional parameters, 0-d inputs.

Expected values come from independent computations written here: hand derivatives, or torch
autograd through a separate implementation, evaluated at the inputs the JSON reports.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import invoke

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CALLING = Path(__file__).resolve().parent / "data" / "calling"


def check_json(*args: str, code: int = 0) -> dict:
    run = invoke("check", *args, "--json")
    assert run.code == code, (run.stdout, run.stderr)
    return run.json()


def inputs(data: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in data["inputs"]}


def pair(file: Path, forward: str, backward: str) -> list[str]:
    return [f"{file}:{forward}", "--backward", f"{file}:{backward}"]


# ------------------------------------------------------------------ CS231n's convention

AFFINE = pair(EXAMPLES / "cs231n_affine.py", "affine_forward", "affine_backward")


@pytest.mark.parametrize("convention", [[], ["--convention", "cs231n"]])
def test_cs231n_affine_pair_is_checked_as_written(convention):
    data = check_json(*AFFINE, "--numpy", "-i", "2x4x3", "-i", "12x5", "-i", "5", *convention)
    assert data["agree"] is True and data["convention"] == "cs231n"
    args = inputs(data)
    x, w = np.array(args["x"]["values"]), np.array(args["w"]["values"])
    # out[n, j] = Σ_d x[n].flat[d] w[d, j]: ∂out[n, j]/∂x[m, a, b] = δ(n, m) w[3a + b, j]
    expected = np.zeros((2, 5, 2, 4, 3))
    for n in range(2):
        for j in range(5):
            expected[n, j, n] = w[:, j].reshape(4, 3)
    assert np.allclose(np.array(args["x"]["analytic"]), expected, atol=1e-12)
    assert np.allclose(np.array(args["x"]["numeric"]), expected, atol=1e-8)
    # ∂out[n, j]/∂b[k] = δ(j, k)
    assert np.allclose(np.array(args["b"]["analytic"]), np.broadcast_to(np.eye(5), (2, 5, 5)))
    assert x.shape == (2, 4, 3)
    assert any("CS231n convention" in note for note in data["notes"])


def test_asking_for_the_other_convention_does_not_fit():
    run = invoke("check", *AFFINE, "--numpy", "-i", "2x3", "-i", "3x2", "-i", "2",
                 "--convention", "inputs")  # fmt: skip
    assert run.code == 1  # (out, cache) read as two outputs: the cache is no tensor
    text = " ".join(run.stdout.split())
    assert "your forward returned 2 values whose last is a tuple — a cache?" in text
    assert "--convention cs231n" in text


def test_kwarg_dicts_reach_the_forward_fresh_for_every_call():
    data = check_json(
        *pair(CALLING / "fresh_param.py", "forward", "backward"), "--numpy", "-i", "2x3",
        "--kwarg", 'param={"scale": 3}',
    )  # fmt: skip
    assert data["agree"] is True and data["kwargs"] == {"param": {"scale": 3}}
    x = inputs(data)["x"]
    assert np.allclose(np.array(x["analytic"]), 3 * np.eye(6).reshape(2, 3, 2, 3))


def test_cs231n_batchnorm_with_its_bn_param_on_the_command_line():
    data = check_json(
        *pair(EXAMPLES / "cs231n_batchnorm.py", "batchnorm_forward", "batchnorm_backward"),
        "--numpy", "-i", "6x3", "-i", "3", "-i", "3",
        "--kwarg", 'bn_param={"mode": "train", "eps": 1e-5}',
    )  # fmt: skip
    assert data["agree"] is True
    args = inputs(data)
    x = torch.tensor(args["x"]["values"], dtype=torch.float64)
    gamma = torch.tensor(args["gamma"]["values"], dtype=torch.float64)
    beta = torch.tensor(args["beta"]["values"], dtype=torch.float64)

    def reference(x, gamma, beta):  # batch norm written again, differentiated by autograd
        mean = x.mean(0)
        var = ((x - mean) ** 2).mean(0)
        return gamma * (x - mean) / torch.sqrt(var + 1e-5) + beta

    jacobians = torch.autograd.functional.jacobian(reference, (x, gamma, beta))
    for name, jac in zip(("x", "gamma", "beta"), jacobians, strict=True):
        assert np.allclose(np.array(args[name]["analytic"]), jac.numpy(), atol=1e-9), name


# ------------------------------------------------------------------ --kwarg values


@pytest.mark.parametrize(
    ("target", "kwargs", "factor"),
    [
        (pair(CALLING / "scaled.py", "forward", "backward"), ["scale=3"], 3.0),
        (pair(CALLING / "scaled.py", "forward", "backward"), ["scale=0.5"], 0.5),
        (pair(CALLING / "scaled.py", "forward_mode", "backward_mode"), ["mode=triple"], 3.0),
        (
            pair(CALLING / "scaled.py", "forward_mode", "backward_mode"),
            ["mode=triple", "negate=True"],
            -3.0,
        ),
        (pair(CALLING / "scaled.py", "forward_mode", "backward_mode"), ['mode="double"'], 2.0),
    ],
)
def test_kwargs_reach_the_forward_and_a_backward_that_takes_them(target, kwargs, factor):
    options = [item for kwarg in kwargs for item in ("--kwarg", kwarg)]
    data = check_json(*target, "--numpy", "-i", "4", *options)
    assert data["agree"] is True
    x = inputs(data)["x"]
    assert np.allclose(np.array(x["analytic"]), factor * np.eye(4))


def test_a_keyword_only_parameter_is_given_by_kwarg():
    data = check_json(f"{CALLING}/scaled.py:forward_keyword_only", "-i", "3", "--kwarg", "power=3")
    x = inputs(data)["x"]
    values = np.array(x["values"])
    assert np.allclose(np.array(x["analytic"]), np.diag(3 * values**2))


def test_a_missing_keyword_only_parameter_is_named():
    run = invoke("check", f"{CALLING}/scaled.py:forward_keyword_only", "-i", "3")
    assert run.code == 2 and "--kwarg power=VALUE" in run.stderr


# ------------------------------------------------------------------ several outputs


def test_lstm_step_has_two_outputs_each_with_its_upstream():
    shapes = ["2x3", "2x4", "2x4", "3x16", "4x16", "16"]
    options = [item for shape in shapes for item in ("-i", shape)]
    data = check_json(
        *pair(EXAMPLES / "cs231n_lstm.py", "lstm_step_forward", "lstm_step_backward"), "--numpy",
        *options,
    )  # fmt: skip
    assert data["agree"] is True
    assert data["outputs"] == [
        {"name": "next_h", "shape": [2, 4]},
        {"name": "next_c", "shape": [2, 4]},
    ]
    assert data["output_shape"] == [16]
    args = inputs(data)
    names = ["x", "prev_h", "prev_c", "Wx", "Wh", "b"]
    values = tuple(torch.tensor(args[n]["values"], dtype=torch.float64) for n in names)

    def reference(x, prev_h, prev_c, wx, wh, b):  # the LSTM step written again
        a = x @ wx + prev_h @ wh + b
        i, f, o, g = a.split(4, dim=1)
        next_c = torch.sigmoid(f) * prev_c + torch.sigmoid(i) * torch.tanh(g)
        next_h = torch.sigmoid(o) * torch.tanh(next_c)
        return torch.cat([next_h.reshape(-1), next_c.reshape(-1)])  # next_h first, then next_c

    jacobians = torch.autograd.functional.jacobian(reference, values)
    for name, jac in zip(names, jacobians, strict=True):
        assert np.allclose(np.array(args[name]["analytic"]), jac.numpy(), atol=1e-9), name
        assert np.allclose(np.array(args[name]["numeric"]), jac.numpy(), atol=1e-7), name


def test_a_slip_in_the_second_outputs_gradient_is_found_there():
    good = check_json(f"{CALLING}/two_outputs.py:SinCos", "-i", "3")
    assert good["agree"] is True and [o["name"] for o in good["outputs"]] == ["out0", "out1"]
    run = invoke("check", f"{CALLING}/two_outputs.py:SinCosSlip", "-i", "3", "--json")
    assert run.code == 1
    x = inputs(run.json())["x"]
    values = x["values"]
    analytic, numeric = np.array(x["analytic"]), np.array(x["numeric"])
    # rows 0-2: ∂sin(x_i)/∂x_j = cos(x_i) δij (right); rows 3-5: ∂cos(x_i)/∂x_j = −sin(x_i) δij
    assert np.allclose(analytic[:3], np.diag(np.cos(values)), atol=1e-12)
    assert np.allclose(numeric[3:], np.diag(-np.sin(values)), atol=1e-8)
    assert np.allclose(analytic[3:], np.diag(np.sin(values)), atol=1e-12)  # the slip
    table = invoke("check", f"{CALLING}/two_outputs.py:SinCosSlip", "-i", "3").stdout
    assert "∂out1[0]/∂x[0]" in table and "∂out0[" not in table
    assert "outputs: out0 3, out1 3" in table


def test_a_pair_in_the_inputs_convention_with_two_outputs():
    data = check_json(*pair(CALLING / "scaled.py", "forward_two", "backward_two"), "--numpy",
                      "-i", "3")  # fmt: skip
    assert data["agree"] is True and data["convention"] == "inputs"
    x = inputs(data)["x"]
    values = np.array(x["values"])
    assert np.allclose(np.array(x["analytic"]), np.vstack([np.diag(2 * values), 3 * np.eye(3)]))


# ------------------------------------------------------------------ optional parameters


LINEAR = f"{EXAMPLES}/linear_function.py:LinearFunction"


@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_function_with_or_without_its_optional_bias(with_bias):
    extra = ["-i", "2"] if with_bias else []
    data = check_json(LINEAR, "-i", "4x3", "-i", "2x3", *extra)
    assert data["agree"] is True and data["diagnoses"] == []
    args = inputs(data)
    assert set(args) == ({"input", "weight", "bias"} if with_bias else {"input", "weight"})
    x = np.array(args["input"]["values"])
    # out[n, o] = Σ_i x[n, i] W[o, i] (+ b[o]): ∂out[n, o]/∂W[p, i] = δ(o, p) x[n, i]
    expected = np.zeros((4, 2, 2, 3))
    for n in range(4):
        for o in range(2):
            expected[n, o, o] = x[n]
    assert np.allclose(np.array(args["weight"]["analytic"]), expected, atol=1e-12)
    if with_bias:
        assert np.allclose(np.array(args["bias"]["analytic"]),
                           np.broadcast_to(np.eye(2), (4, 2, 2)))  # fmt: skip


# ------------------------------------------------------------------ 0-d inputs


def test_a_0d_input_and_its_0d_gradient():
    data = check_json(f"{EXAMPLES}/pact.py:PACT", "-i", "2x5", "-i", "scalar:0.6")
    assert data["agree"] is True
    args = inputs(data)
    alpha = args["alpha"]
    assert alpha["shape"] == [] and alpha["values"] == 0.6 and alpha["size"] == 1
    x = np.array(args["x"]["values"])
    # y = clip(x, 0, α): ∂y/∂α = 1 where x ≥ α, else 0 (one value per output entry)
    assert np.array_equal(np.array(alpha["analytic"]), (x >= 0.6).astype(float))


def test_a_random_scalar_input():
    data = check_json(f"{EXAMPLES}/sigmoid.py:Sigmoid", "-i", "scalar")
    x = inputs(data)["x"]
    assert x["shape"] == [] and 0.1 <= abs(x["values"]) <= 1
    s = 1 / (1 + math.exp(-x["values"]))
    assert x["analytic"] == pytest.approx(s * (1 - s), abs=1e-12)
    table = invoke("check", f"{EXAMPLES}/sigmoid.py:Sigmoid", "-i", "scalar").stdout
    assert "random (scalar)" in table and "✓ 1 entry right" in table
