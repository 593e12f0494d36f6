"""The optimizer registry (gradcli.ops.optimizers), checked three ways.

* against torch.optim itself: every optimizer × several hyper-parameter sets × 1 and 50
  steps, float64, from a fresh and from a given state;
* against an independent NumPy implementation written here from the papers' and the
  documentation's formulas (Kingma & Ba, Algorithm 1; Loshchilov & Hutter, Algorithm 2;
  Duchi et al.; Hinton's RMSprop; Polyak's and Nesterov's momentum as torch documents them;
  CS231n's optim.py), which also computes every slip the registry names;
* the registry's own promises: torch's hyper-parameter names and defaults, torch's state
  names, the quantities listed in the order the update computes them.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from gradcli.core.optim import StepRequest, optim_step
from gradcli.expect import parse_expected
from gradcli.ops.optimizers import (
    OPTIMIZER_LIST,
    OPTIMIZERS,
    fresh_state,
    get_optimizer,
)
from gradcli.parsing import TensorData
from gradcli.settings import Dtype, Settings, tolerance_for

FLOAT64 = Settings()
FLOAT32 = Settings(Dtype.float32, tolerance_for(Dtype.float32))

# hyper-parameter sets per optimizer (lr included), chosen so that every option is exercised
OPTION_SETS: dict[str, list[dict]] = {
    "sgd": [
        {"lr": 0.1},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1},
        {"lr": 0.02, "momentum": 0.5, "nesterov": True, "weight_decay": 0.01},
        {"lr": 0.1, "maximize": True, "weight_decay": 0.2},
    ],
    "momentum": [
        {"lr": 0.01},
        {"lr": 0.1, "momentum": 0.5, "dampening": 0.5},
        {"lr": 0.03, "weight_decay": 0.1, "maximize": True},
    ],
    "nesterov": [
        {"lr": 0.01},
        {"lr": 0.05, "momentum": 0.99, "weight_decay": 0.05},
        {"lr": 0.01, "maximize": True},
    ],
    "adagrad": [
        {"lr": 0.1},
        {"lr": 0.5, "lr_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6},
        {"lr": 0.1, "weight_decay": 0.1, "maximize": True},
    ],
    "rmsprop": [
        {"lr": 0.01},
        {"lr": 0.01, "centered": True},
        {"lr": 0.01, "momentum": 0.9},
        {
            "lr": 0.02,
            "centered": True,
            "momentum": 0.5,
            "weight_decay": 0.1,
            "alpha": 0.9,
            "eps": 1e-4,
        },
        {"lr": 0.01, "maximize": True},
    ],
    "adam": [
        {"lr": 0.001},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.1},
        {"lr": 0.01, "amsgrad": True, "maximize": True, "weight_decay": 0.01},
    ],
    "adamw": [
        {"lr": 0.001},
        {"lr": 0.01, "weight_decay": 0.5, "amsgrad": True},
        {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.0},
        {"lr": 0.01, "maximize": True},
    ],
}
CASES = [(name, i) for name in OPTION_SETS for i in range(len(OPTION_SETS[name]))]
STEPS = (1, 50)
SHAPE = (3, 4)


def options_for(name: str, index: int) -> dict:
    """The registry's options for one set: torch's defaults overridden by the set."""
    opt = get_optimizer(name)
    chosen = dict(OPTION_SETS[name][index])
    lr = chosen.pop("lr")
    items = []
    for key, value in chosen.items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value).lower()
        items.append(f"{key}={text}")
    return opt.resolve(items, lr)


def gradients(count: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(SHAPE, generator=generator, dtype=torch.float64) for _ in range(count)]


def start(seed: int = 1) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def hand_run(name: str, options: dict, w: torch.Tensor, grads, convention: str = "torch"):
    opt = OPTIMIZERS[name]
    form = opt.form_for(convention)
    state = fresh_state(opt, w, options, convention)
    names = [entry.name for entry in opt.state_for(options, convention)]
    for g in grads:
        values = form.update(w, g, state, options, frozenset())
        state = {n: values[n] for n in names} | {n: v for n, v in state.items() if n not in names}
        w = values["new_param"]
    return w, state


def torch_run(name: str, options: dict, w: torch.Tensor, grads, state: dict | None = None):
    """torch.optim, written here without gradcli: the class, p.grad, .step()."""
    opt = OPTIMIZERS[name]
    kwargs = dict(options)
    p = w.clone()
    reference = getattr(torch.optim, opt.torch_class)([p], **kwargs)
    if state is not None:
        reference.state[p] = state
    for g in grads:
        p.grad = g.clone()
        reference.step()
    return p.detach(), reference.state[p]


def close(a, b, rtol=1e-10, atol=1e-13):
    torch.testing.assert_close(
        torch.as_tensor(a, dtype=torch.float64),
        torch.as_tensor(b, dtype=torch.float64),
        rtol=rtol,
        atol=atol,
    )


# ---------------------------------------------------------------- torch.optim


def test_every_optimizer_has_option_sets():
    assert set(OPTION_SETS) == set(OPTIMIZERS)


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize(("name", "index"), CASES)
def test_by_hand_equals_torch_optim_from_a_fresh_state(name, index, steps):
    options = options_for(name, index)
    grads = gradients(steps)
    ours, state = hand_run(name, options, start(), grads)
    theirs, torch_state = torch_run(name, options, start(), grads)
    close(ours, theirs)
    for key, value in torch_state.items():
        expected = int(value.item()) if key == "step" else value
        close(state[key], expected)


@pytest.mark.parametrize(("name", "index"), CASES)
def test_one_step_from_a_given_state_through_the_core(name, index):
    """optim_step loads the state into torch.optim; the test's own torch.optim agrees."""
    opt = OPTIMIZERS[name]
    options = options_for(name, index)
    w, g = start(3), gradients(1, 4)[0]
    generator = torch.Generator().manual_seed(5)
    given: dict = {}
    torch_state: dict = {}
    for entry in opt.state_for(options):
        if entry.is_count:
            given[entry.name] = 7
            torch_state[entry.name] = torch.tensor(7.0)
            continue
        value = torch.rand(SHAPE, generator=generator, dtype=torch.float64)
        if entry.name == "grad_avg":  # a mean whose square stays below square_avg
            value = value * 0.1
        given[entry.name] = TensorData(value.reshape(-1).tolist(), SHAPE)
        torch_state[entry.name] = value.clone()
    request = StepRequest(
        opt,
        options,
        TensorData(w.reshape(-1).tolist(), SHAPE),
        TensorData(g.reshape(-1).tolist(), SHAPE),
        given,
    )
    result = optim_step(request, FLOAT64)
    theirs, after = torch_run(name, options, w, [g], torch_state)
    assert result.agree and result.max_abs_diff < 1e-12
    close(result.row("new_param").by_hand, theirs)
    for key, value in after.items():
        close(result.row(key).by_hand, int(value.item()) if key == "step" else value)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_float32_by_hand_and_torch_optim_agree(name):
    options = options_for(name, 0)
    grads = [g.float() for g in gradients(10)]
    ours, _ = hand_run(name, options, start().float(), grads)
    theirs, _ = torch_run(name, options, start().float(), grads)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the registry's promises


TORCH_DEFAULT_DIFFERS = {("momentum", "momentum"), ("nesterov", "momentum")}  # μ = 0.9


@pytest.mark.parametrize("opt", OPTIMIZER_LIST, ids=lambda o: o.name)
def test_hyper_parameters_have_torch_names_and_defaults(opt):
    signature = inspect.signature(getattr(torch.optim, opt.torch_class))
    for param in opt.params:
        assert param.name in signature.parameters, param.name
        default = signature.parameters[param.name].default
        if (opt.name, param.name) in TORCH_DEFAULT_DIFFERS:
            assert param.default == 0.9 and default == 0
            continue
        assert param.default == default, (param.name, param.default, default)
    for key, value in opt.fixed.items():
        assert key in signature.parameters and value != signature.parameters[key].default


@pytest.mark.parametrize(("name", "index"), CASES)
def test_state_names_are_torch_names(name, index):
    opt = OPTIMIZERS[name]
    options = options_for(name, index)
    _, torch_state = torch_run(name, options, start(), gradients(2))
    assert {e.name for e in opt.state_for(options)} == set(torch_state)


def forms() -> list[tuple[str, int, str]]:
    """Every (optimizer, option set, convention) that has a form: cs231n's only where it exists."""
    return [
        (name, index, convention)
        for name, index in CASES
        for convention in ("torch", "cs231n")
        if convention in OPTIMIZERS[name].conventions
        and not OPTIMIZERS[name].form_for(convention).refuse(options_for(name, index))
    ]


@pytest.mark.parametrize(("name", "index", "convention"), forms())
def test_quantities_are_listed_in_the_order_the_update_computes_them(name, index, convention):
    opt = OPTIMIZERS[name]
    options = options_for(name, index)
    form = opt.form_for(convention)
    w = start()
    values = form.update(w, gradients(1)[0], fresh_state(opt, w, options, convention), options,
                         frozenset())  # fmt: skip
    quantities = form.quantities(options)
    assert [q.key for q in quantities] == list(values)
    assert quantities[-1].key == "new_param"
    state_keys = {q.key for q in quantities if q.kind == "state"}
    assert state_keys == {e.name for e in opt.state_for(options, convention)}
    assert all(q.formula for q in quantities)


def test_importing_the_registry_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, gradcli.ops.optimizers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- an independent NumPy side


def np_step(name: str, o: dict, w, g, s: dict, slip: str = ""):
    """One step written from the formulas (not from gradcli), with an optional slip.

    ``s`` holds the state (NumPy arrays, ``t`` the step count, ``b`` SGD's buffer or None);
    returns the new parameter and the new state.
    """
    w, g = np.array(w, dtype=float), np.array(g, dtype=float)
    s = dict(s)
    lr, lam = o["lr"], o.get("weight_decay", 0.0)
    if slip == "no_decay":
        lam = 0.0
    sign = -1.0 if slip == "sign_flipped" else 1.0
    if o.get("maximize"):
        g = -g
    if name in ("sgd", "momentum", "nesterov"):
        # torch.optim.SGD documentation: g ← g + λθ; b ← μb + (1 − τ)g (b₁ = g); θ ← θ − γb
        # (Nesterov: θ ← θ − γ(g + μb))
        g = g + lam * w
        mu, tau = o.get("momentum", 0.0), o.get("dampening", 0.0)
        nesterov = o.get("nesterov", False)
        if slip == "nesterov_flipped":
            nesterov = not nesterov
        if mu == 0:
            return w - sign * lr * g, s
        old = s.get("b")
        if slip == "no_dampening":
            tau = 0.0
        b = g.copy() if old is None else mu * old + (1 - tau) * g
        s["b"] = b
        if nesterov:
            step = g + mu * (old if slip == "old_velocity" and old is not None else b)
        else:
            step = old if slip == "old_velocity" and old is not None else b
        return w - sign * lr * step, s
    if name == "adagrad":
        # Duchi, Hazan & Singer; torch.optim.Adagrad: γ̃ = γ/(1 + (t − 1)η); G ← G + g²;
        # θ ← θ − γ̃ g/(√G + ε)
        t = s["t"] + 1
        g = g + lam * w
        decay = 0.0 if slip == "no_lr_decay" else o["lr_decay"]
        rate = lr / (1 + (t - 1) * decay)
        total = s["G"] + g**2
        seen = s["G"] if slip == "old_sum" else total
        denom = np.sqrt(seen + o["eps"]) if slip == "eps_inside_sqrt" else np.sqrt(seen) + o["eps"]
        return w - sign * rate * g / denom, {"t": t, "G": total}
    if name == "rmsprop":
        # Hinton's RMSprop as torch documents it: v ← αv + (1 − α)g²; centered: ḡ ← αḡ +
        # (1 − α)g, ṽ = v − ḡ²; b ← μb + g/(√ṽ + ε); θ ← θ − γb (or θ − γ g/(√ṽ + ε))
        t = s["t"] + 1
        g = g + lam * w
        a = o["alpha"] if slip != "alpha_swapped" else 1 - o["alpha"]
        v = a * s["v"] + (1 - a) * g**2
        new = {"t": t, "v": v}
        var = v
        if o["centered"]:
            mean = a * s["gbar"] + (1 - a) * g
            new["gbar"] = mean
            if slip != "not_centered":
                var = v - mean**2
        denom = np.sqrt(var + o["eps"]) if slip == "eps_inside_sqrt" else np.sqrt(var) + o["eps"]
        if o["momentum"] > 0:
            new["b"] = o["momentum"] * s["b"] + g / denom
            return w - sign * lr * new["b"], new
        return w - sign * lr * g / denom, new
    # Adam: Kingma & Ba, Algorithm 1 (torch adds λθ to g); AdamW: Loshchilov & Hutter,
    # Algorithm 2, θ ← θ − η(α m̂/(√v̂ + ε) + λθ) with α = 1 and the schedule η = lr, as
    # torch.optim.AdamW scales it; AMSGrad: v̂_max = max(v̂_max, v) as torch keeps it
    t = s["t"] + 1
    decoupled = (name == "adamw") != (slip == "decay_flipped")
    if not decoupled:
        g = g + lam * w
    b1, b2 = o["betas"]
    if slip == "betas_swapped":
        b1, b2 = b2, b1
    m = b1 * s["m"] + (1 - b1) * g
    v = b2 * s["v"] + (1 - b2) * g**2
    new = {"t": t, "m": m, "v": v}
    second = v
    if o["amsgrad"]:
        second = np.maximum(s["vmax"], v)
        new["vmax"] = second
    power = t - 1 if slip == "old_step" else t
    if slip == "no_bias_correction":
        m_hat, v_hat = m, second
    else:
        m_hat, v_hat = m / (1 - b1**power), second / (1 - b2**power)
    denom = np.sqrt(v_hat + o["eps"]) if slip == "eps_inside_sqrt" else np.sqrt(v_hat) + o["eps"]
    decay = 0.0
    if decoupled:
        decay = lam * w if slip == "decay_without_lr" else lr * lam * w
    return w - decay - sign * lr * m_hat / denom, new


def np_fresh(name: str, o: dict, shape) -> dict:
    zeros = np.zeros(shape)
    if name in ("sgd", "momentum", "nesterov"):
        return {"b": None}
    if name == "adagrad":
        return {"t": 0, "G": np.full(shape, o["initial_accumulator_value"])}
    if name == "rmsprop":
        return {"t": 0, "v": zeros, "gbar": zeros, "b": zeros}
    return {"t": 0, "m": zeros, "v": zeros, "vmax": zeros}


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize(("name", "index"), CASES)
def test_by_hand_equals_an_independent_numpy_implementation(name, index, steps):
    options = options_for(name, index)
    grads = gradients(steps)
    ours, _ = hand_run(name, options, start(), grads)
    w, s = start().numpy(), np_fresh(name, options, SHAPE)
    for g in grads:
        w, s = np_step(name, options, w, g.numpy(), s)
    close(ours, w)


def test_adam_first_step_moves_every_entry_by_about_lr():
    """Kingma & Ba §2.1: at t = 1 the bias-corrected step is lr·g/(|g| + ε) ≈ ±lr."""
    options = get_optimizer("adam").resolve([], 0.01)
    w = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    g = torch.tensor([0.1, -20.0, 1e-3], dtype=torch.float64)
    ours, _ = hand_run("adam", options, w, [g])
    close(
        w - ours, [0.01 * 0.1 / (0.1 + 1e-8), -0.01 * 20 / (20 + 1e-8), 0.01 * 1e-3 / (1e-3 + 1e-8)]
    )


# ---------------------------------------------------------------- CS231n's momentum


def cs231n_momentum(w, dw, config):
    """CS231n assignment 2, optim.py sgd_momentum, as written there."""
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    return next_w, config


def cs231n_nesterov(w, dw, config):
    """Nesterov in CS231n's form: v_prev = v; v = μv − lr·dw; w += −μ·v_prev + (1 + μ)·v."""
    v_prev = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - config["momentum"] * v_prev + (1 + config["momentum"]) * v, config


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
@pytest.mark.parametrize("steps", STEPS)
def test_cs231n_form_equals_torch_form_for_a_constant_lr(name, steps):
    options = get_optimizer(name).resolve([], 0.05)
    grads = gradients(steps)
    cs231n, state = hand_run(name, options, start(), grads, convention="cs231n")
    theirs, torch_state = torch_run(name, options, start(), grads)
    close(cs231n, theirs)
    close(state["velocity"], -options["lr"] * torch_state["momentum_buffer"])
    step = cs231n_momentum if name == "momentum" else cs231n_nesterov
    w, config = start().numpy(), {"momentum": 0.9, "learning_rate": 0.05}
    for g in grads:
        w, config = step(w, g.numpy(), config)
    close(cs231n, w)
    close(state["velocity"], config["velocity"])


# ---------------------------------------------------------------- slips


# (optimizer, hyper-parameters, state given as in np_fresh's names) chosen so that each
# slip changes the new parameter; every slip of the registry must appear in one case
SLIP_CASES = [
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}, {"b": 0.5}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, {"b": 0.5}),
    ("momentum", {"lr": 0.1, "dampening": 0.3, "weight_decay": 0.1}, {"b": 0.5}),
    ("nesterov", {"lr": 0.1, "weight_decay": 0.1}, {"b": 0.5}),
    ("adagrad", {"lr": 0.5, "lr_decay": 0.2, "weight_decay": 0.1, "eps": 0.01}, {"t": 3, "G": 0.2}),
    (
        "rmsprop",
        {"lr": 0.1, "alpha": 0.8, "centered": True, "weight_decay": 0.1, "eps": 0.01},
        {"t": 3, "v": 0.9, "gbar": 0.3},
    ),
    ("adam", {"lr": 0.1, "betas": (0.8, 0.95), "eps": 0.01, "weight_decay": 0.1},
     {"t": 4, "m": 0.2, "v": 0.3}),
    ("adamw", {"lr": 0.1, "betas": (0.8, 0.95), "eps": 0.01, "weight_decay": 0.5},
     {"t": 4, "m": 0.2, "v": 0.3}),
]  # fmt: skip
STATE_NAMES = {"b": "momentum_buffer", "G": "sum", "v": None, "gbar": "grad_avg", "m": "exp_avg"}


def _state_items(name: str, state: dict) -> dict:
    mapping = {"t": "step", **STATE_NAMES}
    mapping["v"] = "square_avg" if name == "rmsprop" else "exp_avg_sq"
    return {mapping[k]: v for k, v in state.items()}


W, G = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.4, -0.6])


def _np_state(name: str, o: dict, state: dict) -> dict:
    given = {k: v if k == "t" else np.full(3, v) for k, v in state.items()}
    return np_fresh(name, o, W.shape) | given


def _slip_runs():
    """(case, slip) pairs where the slip changes the new parameter (NumPy's word for it)."""
    for name, hyper, state in SLIP_CASES:
        opt = OPTIMIZERS[name]
        o = options_for_dict(name, hyper)
        s = _np_state(name, o, state)
        right, _ = np_step(name, o, W, G, s)
        for rule in opt.slips:
            slipped, _ = np_step(name, o, W, G, s, rule.twist)
            if rule.when(o) and not np.allclose(right, slipped, rtol=1e-6, atol=0):
                yield pytest.param(name, hyper, state, rule, id=f"{name}-{rule.twist}")


def options_for_dict(name: str, hyper: dict) -> dict:
    hyper = dict(hyper)
    lr = hyper.pop("lr")
    items = [
        f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else str(v).lower()}"
        for k, v in hyper.items()
    ]
    return get_optimizer(name).resolve(items, lr)


def test_every_slip_of_the_registry_has_a_case():
    covered = {(run.values[0], run.values[3].twist) for run in _slip_runs()}
    for opt in OPTIMIZER_LIST:
        for rule in opt.slips:
            assert (opt.name, rule.twist) in covered, (opt.name, rule.twist)


@pytest.mark.parametrize(("name", "hyper", "state", "rule"), list(_slip_runs()))
def test_each_slip_is_reproduced_and_named(name, hyper, state, rule):
    """The slip's new parameter, computed by the NumPy side, written to 7 digits: the
    answer is wrong, and the hint names exactly this slip."""
    from tests.conftest import invoke

    o = options_for_dict(name, hyper)
    s = _np_state(name, o, state)
    right, _ = np_step(name, o, W, G, s)
    slipped, _ = np_step(name, o, W, G, s, rule.twist)
    args = ["optim", name, "--param", "1,-2,0.5", "--grad", "0.3,0.4,-0.6", "--lr", str(o["lr"])]
    for key, value in hyper.items():
        if key != "lr":
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value).lower()
            args += ["--param-option", f"{key}={text}"]
    for key, value in _state_items(name, state).items():
        args += ["--state", f"{key}={value if key == 'step' else ','.join([str(value)] * 3)}"]
    answer = ",".join(f"{v:.7g}" for v in slipped)
    run = invoke(*args, "--expect", f"new_param={answer}", "--json")
    assert run.code == 1, run.stderr
    check = run.json()["check"]
    assert not check["passed"]
    assert check["hint"] == f"your answer matches {rule.description}", check["hint"]
    close(run.json()["new_param"], right)


def test_a_right_answer_names_no_slip():
    from tests.conftest import invoke

    run = invoke("optim", "adam", "--param", "1", "--grad", "0.5", "--lr", "0.1",
                 "--expect", "new_param=0.9", "--json")  # fmt: skip
    assert run.code == 0 and run.json()["check"]["passed"]


def test_slips_are_found_by_the_core_for_every_key():
    """A slip of a state entry (m without bias correction is m itself) names the slip."""
    opt = get_optimizer("adam")
    options = opt.resolve([], 0.1)
    w = TensorData([1.0, 2.0], (2,))
    g = TensorData([0.5, -0.25], (2,))
    state = {"step": 3, "exp_avg": TensorData([0.1, 0.2], (2,)),
             "exp_avg_sq": TensorData([0.3, 0.4], (2,))}  # fmt: skip
    result = optim_step(StepRequest(opt, options, w, g, state), FLOAT64)
    m = result.row("exp_avg").by_hand
    answer = {"m_hat": parse_expected(",".join(f"{v:.8g}" for v in m))}
    checked = optim_step(StepRequest(opt, options, w, g, state), FLOAT64, answer)
    part = checked.answer.parts["m_hat"]
    assert not part.passed and "no bias correction" in part.hint


def _generic_answer(which: str, w: np.ndarray, g: np.ndarray, name: str, o: dict, s: dict):
    if which == "old":
        return w
    if which == "gradient":
        return g
    unit, _ = np_step(name, {**o, "lr": 1.0}, w, g, s)  # the NumPy side with lr = 1
    return unit


GENERIC = {
    "old": "the parameters before the step (w, not w after the update)",
    "gradient": "the gradient g, not the updated parameter",
    "no_lr": "the update with the learning rate left out (lr = 1)",
}


@pytest.mark.parametrize("which", sorted(GENERIC))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_names_the_generic_slips(name, which):
    """Whatever the optimizer: the old parameters, the gradient, or the update without the
    learning rate written as the new parameter is named (NumPy computes the answer)."""
    from tests.conftest import invoke

    lr = 0.1 if name != "adagrad" else 0.5
    o = options_for_dict(name, {"lr": lr})
    s = np_fresh(name, o, W.shape)
    answer = _generic_answer(which, W, G, name, o, s)
    args = ["optim", name, "--param", "1,-2,0.5", "--grad", "0.3,0.4,-0.6", "--lr", str(lr)]
    text = ",".join(f"{v:.7g}" for v in answer)
    run = invoke(*args, "--expect", f"new_param={text}", "--json")
    assert run.code == 1, run.stderr
    assert run.json()["check"]["hint"] == f"your answer matches {GENERIC[which]}"
