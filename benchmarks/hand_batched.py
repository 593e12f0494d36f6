"""Hand-written torch that computes the three columns gradcli shows — the closed form, one
autograd pass, central finite differences — the way a careful person writes it: float64,
one thread, and the finite differences of every entry in ONE batched evaluation (the
perturbed copies stacked), not a Python loop over entries. No input checks, no error
estimates, no verdict beyond ``allclose``.

The four kinds of the benchmarks (docs/performance.md): tanh at 3 points, the softmax
Jacobian of 5 logits, cross-entropy on 4 logits, a 2×2 sigmoid perceptron with MSE. Used by
benchmarks/bench_api.py (per call, against ``gradcli.<command>(…)``) and, as the text of a
script, by benchmarks/bench_batch.py (per line, against ``gradcli batch``).
"""

import json
import shlex
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
D = torch.float64
H = 1e-6


def numbers(text):
    return [float(v) for v in text.replace(";", ",").split(",")]


def close(a, b):
    return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6))


def tanh(x):
    x = torch.tensor(x, dtype=D)
    analytic = 1 - torch.tanh(x) ** 2
    leaf = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(torch.tanh(leaf).sum(), leaf)
    numeric = (torch.tanh(x + H) - torch.tanh(x - H)) / (2 * H)
    return {"x": x.tolist(), "value": torch.tanh(x).tolist(), "analytic": analytic.tolist(),
            "autograd": auto.tolist(), "numeric": numeric.tolist(),
            "agree": close(analytic, auto) and close(analytic, numeric)}  # fmt: skip


def softmax_jacobian(a):
    a = torch.tensor(a, dtype=D)
    n = a.numel()
    p = torch.softmax(a, -1)
    analytic = torch.diag(p) - torch.outer(p, p)
    eye = torch.eye(n, dtype=D)
    copies = a.expand(n, n).clone().requires_grad_(True)
    (auto,) = torch.autograd.grad((torch.softmax(copies, -1) * eye).sum(), copies)
    steps = torch.cat([a + H * eye, a - H * eye])  # every entry's ± copy, one evaluation
    both = torch.softmax(steps, -1)
    numeric = ((both[:n] - both[n:]) / (2 * H)).T
    return {"probabilities": p.tolist(), "analytic": analytic.tolist(), "autograd": auto.tolist(),
            "numeric": numeric.tolist(),
            "agree": close(analytic, auto) and close(analytic, numeric)}  # fmt: skip


def cross_entropy(z, target):
    z = torch.tensor([z], dtype=D)
    t = torch.tensor([int(target)])
    n = z.shape[1]
    loss = F.cross_entropy(z, t)
    analytic = torch.softmax(z, -1) - F.one_hot(t, n).to(D)
    leaf = z.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(F.cross_entropy(leaf, t), leaf)
    eye = torch.eye(n, dtype=D)
    steps = torch.cat([z + H * eye, z - H * eye])  # 2n rows, one per entry and sign
    losses = F.cross_entropy(steps, t.expand(2 * n), reduction="none")
    numeric = ((losses[:n] - losses[n:]) / (2 * H)).reshape(1, n)
    return {"loss": float(loss), "analytic": analytic.tolist(), "autograd": auto.tolist(),
            "numeric": numeric.tolist(),
            "agree": close(analytic, auto) and close(analytic, numeric)}  # fmt: skip


def perceptron(weights, bias, x, target):
    W = torch.tensor(weights, dtype=D)
    b = torch.tensor(bias, dtype=D)
    x = torch.tensor([x], dtype=D)
    t = torch.tensor([target], dtype=D)
    out = torch.sigmoid(x @ W.T + b)
    delta = 2 * (out - t) / out.numel() * out * (1 - out)
    analytic_w, analytic_b = delta.T @ x, delta.sum(0)
    w_leaf, b_leaf = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    loss = F.mse_loss(torch.sigmoid(x @ w_leaf.T + b_leaf), t)
    auto_w, auto_b = torch.autograd.grad(loss, [w_leaf, b_leaf])
    # every parameter entry moved by ±h: a batch of 2·6 networks, one evaluation
    theta = torch.cat([W.reshape(-1), b])
    k = theta.numel()
    eye = torch.eye(k, dtype=D) * H
    thetas = torch.cat([theta + eye, theta - eye])
    Ws, bs = thetas[:, :4].reshape(-1, 2, 2), thetas[:, 4:]
    outs = torch.sigmoid(torch.einsum("j,rkj->rk", x[0], Ws) + bs)
    losses = ((outs - t) ** 2).mean(dim=1)
    numeric = (losses[:k] - losses[k:]) / (2 * H)
    numeric_w, numeric_b = numeric[:4].reshape(2, 2), numeric[4:]
    agree = all(close(a, g) and close(a, n) for a, g, n in
                [(analytic_w, auto_w, numeric_w), (analytic_b, auto_b, numeric_b)])  # fmt: skip
    return {"loss": float(loss.detach()), "weight": [analytic_w.tolist(), auto_w.tolist(),
            numeric_w.tolist()], "bias": [analytic_b.tolist(), auto_b.tolist(),
            numeric_b.tolist()], "agree": agree}  # fmt: skip


def line(words):
    """One batch line (the four kinds of benchmarks/bench_batch.py) → its JSON object."""
    kind, rest = words[0], words[1:]
    if kind == "activation":
        return tanh([float(v) for v in rest[1:]])
    if kind == "softmax-jacobian":
        return softmax_jacobian([float(v) for v in rest])
    pairs = rest[1:] if kind == "loss" else rest
    options = dict(zip(pairs[0::2], pairs[1::2], strict=False))
    if kind == "loss":
        return cross_entropy(numbers(options["--pred"]), options["--target"])
    return perceptron(
        [numbers(row) for row in options["--weights"].split(";")],
        numbers(options["--bias"]),
        numbers(options["--x"]),
        numbers(options["--target"]),
    )


def main(path):
    with open(path, encoding="utf-8") as handle:
        for text in handle:
            words = shlex.split(text)
            if words:
                print(json.dumps(line(words)))


if __name__ == "__main__":
    main(sys.argv[1])
