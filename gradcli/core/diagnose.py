"""Why a backward is wrong: patterns that explain every mismatching entry, named.

Each diagnosis is offered only when it explains the evidence: a constant factor must hold at
every checked entry, a region must be exactly the set of wrong entries, and so on. When no
pattern explains the mismatches, ``unexplained`` says so instead of guessing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradcli._torch import load
from gradcli.core.evidence import (
    ArgEvidence,
    Evidence,
    all_close,
    close,
    finding,
    nonzero,
    partial,
)
from gradcli.results.check import Diagnosis
from gradcli.settings import Tolerance

torch = load()
Tensor = torch.Tensor

NICE_FACTORS = (2.0, 0.5, -1.0, -2.0, -0.5, 3.0, 1 / 3, 4.0, 0.25)
SHOWN_ENTRIES = 4  # entries listed in a "no pattern" message
DIM_NAMES = {
    1: ("entry",),
    2: ("row", "column"),
    3: ("sample", "channel", "position"),
    4: ("sample", "channel", "row", "column"),
}


def diagnose(evidence: Evidence) -> list[Diagnosis]:
    """Every diagnosis the evidence supports, most fundamental first."""
    from gradcli.core.recognise import recognise

    found: list[Diagnosis] = []
    order = evidence.order
    if evidence.recognised is None:
        evidence.recognised = recognise(evidence)
    found += _count(evidence)
    unstable = _non_deterministic(evidence)
    found += unstable
    for arg in evidence.args:
        if arg.changed:
            found.append(finding("in-place", _in_place(arg), arg, order))
    if evidence.dout_changed:
        found.append(
            finding(
                "in-place",
                "backward changed its upstream gradient dout (grad_output) in place (dx = dout; "
                "dx[x <= 0] = 0 writes into dout): the caller's dout, which other layers still "
                "use, is modified; work on a copy (dx = dout.copy())",
                None,
                order,
            )
        )
    for arg in evidence.args:
        structural = _structural(arg, evidence)
        found += structural
        if unstable or arg.analytic is None or _named_by_a_swap(arg, found):
            continue
        found += _values(arg, evidence, bool(structural))
    return found


def _named_by_a_swap(arg: ArgEvidence, found: list[Diagnosis]) -> bool:
    """The other half of a swap already diagnosed ("the gradients of x and y are swapped")."""
    return any(
        d.code == "wrong-input" and f" and {arg.name} are swapped" in d.message for d in found
    )


# ------------------------------------------------------------------ structure


def _count(ev: Evidence) -> list[Diagnosis]:
    if ev.kind == "function" or ev.order == 2:
        return []
    count = next((c for c in ev.counts if c is not None), None)
    allowed = {ev.n_args} if ev.kind == "autograd.Function" else {ev.n_args, ev.n_float}
    if count is None or count in allowed:
        return []
    names = ", ".join(ev.names)
    rule = (
        "one per input of forward, None for those without one"
        if ev.kind == "autograd.Function"
        else "one per input, in order (or one per float input)"
    )
    plural = "value" if count == 1 else "values"
    return [
        finding(
            "wrong-count",
            f"backward returned {count} {plural} for {ev.n_args} input"
            f"{'s' if ev.n_args != 1 else ''} ({names}): return {rule}",
            None,
            ev.order,
        )
    ]


def _structural(arg: ArgEvidence, ev: Evidence) -> list[Diagnosis]:
    """None, wrong type, wrong shape (transposed, another input's gradient), wrong dtype."""
    order = ev.order
    state = arg.states[0]
    if state in ("none", "missing"):
        if not nonzero(arg.numeric, arg.checked, ev.tolerance):
            return []
        if ev.kind == "function" or order == 2:
            what = (
                f"{arg.name} gets no gradient: the output does not depend on it through autograd"
                if order == 1
                else f"your backward's result does not depend on {arg.name} through autograd, so "
                f"its derivative ∂(backward)/∂{arg.name} is missing"
            )
            return [
                finding(
                    "detached",
                    f"{what}, yet the numbers do depend on {arg.name} (a .detach(), .item(), "
                    ".numpy(), .data or torch.no_grad() in the way?)",
                    arg,
                    order,
                )
            ]
        what = "returned None" if state == "none" else "returned no value"
        return [
            finding(
                "none-gradient",
                f"backward {what} for {arg.name}, whose true gradient is not zero",
                arg,
                order,
            )
        ]
    if state.startswith("type:"):
        kind = state.removeprefix("type:")
        noun = "a NumPy array" if ev.numpy else "a dense float tensor on the CPU"
        return [
            finding(
                "wrong-type",
                f"backward returned a {kind} for {arg.name}, not {noun}",
                arg,
                order,
            )
        ]
    found = []
    raw = arg.raw[0]
    if raw is not None and tuple(raw.shape) != arg.shape and arg.reduced_from is None:
        found.append(_wrong_shape(arg, raw, ev))
    dtype = arg.dtypes[0]
    if dtype is not None and dtype != arg.input_dtype and ev.kind != "autograd.Function":
        found.append(
            finding(
                "wrong-dtype",
                f"the gradient for {arg.name} is {dtype}, but {arg.name} is {arg.input_dtype}: "
                "return it in the input's dtype (the caller gets what you return; torch would "
                "cast it only for an autograd.Function)"
                + (" (an integer array drops the fractions)" if "int" in dtype else ""),
                arg,
                order,
            )
        )
    return found


def _wrong_shape(arg: ArgEvidence, raw: Tensor, ev: Evidence) -> Diagnosis:
    got, want = _shape(raw.shape), _shape(arg.shape)
    base = f"the gradient for {arg.name} has shape {got}, but {arg.name} is {want}"
    tol = ev.tolerance
    raws = arg.raw
    same_shape = all(r is not None and r.shape == raw.shape for r in raws)
    if same_shape and len(arg.shape) == 2 and tuple(raw.shape) == arg.shape[::-1]:
        flipped = torch.stack([r.T.reshape(-1) for r in raws])  # type: ignore[union-attr]
        if close(flipped, arg.numeric, arg.checked, tol):
            return finding(
                "transposed",
                f"{base}: it is the transpose of the true gradient (e.g. x.T @ dout where "
                "dout.T @ x is needed)",
                arg,
                ev.order,
            )
    for other in ev.args:
        if other is arg or tuple(raw.shape) != other.shape or not same_shape:
            continue
        stacked = torch.stack([r.reshape(-1) for r in raws])  # type: ignore[union-attr]
        if close(stacked, other.numeric, other.checked, tol):
            return finding(
                "wrong-input",
                f"{base}: it is the true gradient of {other.name} — the gradients are returned "
                "in the wrong order",
                arg,
                ev.order,
            )
    extra = raw.dim() - len(arg.shape)
    if same_shape and extra > 0 and tuple(raw.shape[extra:]) == arg.shape:
        if all(n == 1 for n in raw.shape[:extra]):
            stacked = torch.stack([r.reshape(-1) for r in raws])  # type: ignore[union-attr]
            if close(stacked, arg.numeric, arg.checked, tol):
                return finding(
                    "wrong-shape",
                    f"{base}; its values are right, with an extra leading dimension of size 1 "
                    "(a sum with keepdims=True?): drop keepdims, or reshape it to "
                    f"{want}",
                    arg,
                    ev.order,
                )
        summed = torch.stack([r.sum(dim=tuple(range(extra))).reshape(-1) for r in raws])  # type: ignore[union-attr]
        if close(summed, arg.numeric, arg.checked, tol):
            return finding(
                "wrong-shape",
                f"{base}; summed over its first {_dims(extra)} it is right: sum it over the "
                "batch (e.g. dout.sum(axis=0))",
                arg,
                ev.order,
            )
    if same_shape and raw.numel() == arg.n:
        stacked = torch.stack([r.reshape(-1) for r in raws])  # type: ignore[union-attr]
        if close(stacked, arg.numeric, arg.checked, tol):
            return finding(
                "wrong-shape",
                f"{base}; its values are right in row-major order: reshape it to {want}",
                arg,
                ev.order,
            )
    return finding("wrong-shape", base, arg, ev.order)


def _in_place(arg: ArgEvidence) -> str:
    where = arg.changed
    return (
        f"{where} changed its input {arg.name} in place (x *= …, x[…] = …, x.relu_(), "
        f"out=x…): the caller's {arg.name} is modified; work on a copy"
    )


def _non_deterministic(ev: Evidence) -> list[Diagnosis]:
    tol = ev.tolerance
    for arg in ev.args:
        first = arg.raw[0]
        for again, how in (
            (arg.repeat_same, "backward called twice after one forward"),
            (arg.repeat_new, "a new forward and backward"),
        ):
            if first is None or again is None or first.shape != again.shape:
                continue
            diff = (first - again).abs()
            bound = tol.atol + tol.rtol * first.abs()
            if bool((diff > bound).any()) or not bool(torch.equal(first.isnan(), again.isnan())):
                return [
                    finding(
                        "non-deterministic",
                        f"the same inputs and dout gave different gradients for {arg.name} "
                        f"({how}; max difference {float(diff.nan_to_num(math.inf).max()):.3g}): "
                        "backward keeps state between calls (a buffer never reset, a cache "
                        "overwritten, randomness), so its other results cannot be trusted",
                        arg,
                        ev.order,
                    )
                ]
    return []


# ------------------------------------------------------------------ values


def _values(arg: ArgEvidence, ev: Evidence, structural: bool) -> list[Diagnosis]:
    """Patterns in the values: upstream ignored, zero, factor, transpose, order, region."""
    order = ev.order
    a, checked = arg.analytic, arg.checked
    assert a is not None
    nonfinite = checked & ~torch.isfinite(a)
    if bool(nonfinite.any()):
        wrong = nonfinite.any(dim=0)
        return [
            finding(
                "non-finite",
                f"{partial(arg, order)} has NaN or ∞ at {int(wrong.sum())} of {arg.n} entries "
                f"(first at {_index(int(wrong.nonzero()[0]), arg.shape)}) where the true "
                "gradient is finite",
                arg,
                order,
            )
        ]
    upstream = _upstream(arg, ev)
    if upstream is not None:
        return [upstream]
    bad = arg.entry_bad
    if not bool(bad.any()):
        return []
    if structural and arg.states[0] in ("none", "missing"):
        return []
    from gradcli.core import patterns
    from gradcli.core.recognise import known_slip

    checks = (
        patterns.by_design, known_slip, _zero, _factor, _transposed, _swapped, _region,
        patterns.generic,
    )  # fmt: skip
    for check in checks:
        diagnosis = check(arg, ev)
        if diagnosis is not None:
            return [diagnosis]
    count = int(bad.sum())
    first = ", ".join(
        _index(k, arg.shape) for k in bad.nonzero().reshape(-1)[:SHOWN_ENTRIES].tolist()
    )
    more = ", …" if count > SHOWN_ENTRIES else ""
    total = int(arg.entry_checked.sum())
    where = f"all {total} checked entries" if count == total else f"{count} of {total} entries"
    return [
        finding(
            "unexplained",
            f"no known pattern explains the {count} wrong entr{'y' if count == 1 else 'ies'} "
            f"of {partial(arg, order)} ({where}: {first}{more}){_how_far(arg)}",
            arg,
            order,
        )
    ]


def _how_far(arg: ArgEvidence) -> str:
    """By how much the wrong entries are off: relative to the true values, and the worst."""
    a = arg.analytic
    assert a is not None
    wrong = ~arg.ok
    diff = (a - torch.nan_to_num(arg.numeric)).abs()
    true = arg.numeric.abs()
    relative = (diff / true)[wrong & (true > 0)]
    worst = int(torch.where(wrong, diff, torch.zeros_like(diff)).reshape(-1).argmax())
    probe, entry = divmod(worst, arg.n)
    mine, theirs = float(a[probe, entry]), float(arg.numeric[probe, entry])
    text = f"; the worst at {_index(entry, arg.shape)}: yours {mine:.4g}, true {theirs:.4g}"
    if relative.numel():
        low, high = float(relative.min()), float(relative.max())
        median = float(relative.median())
        text = (
            f"; off by {_percent(low)} to {_percent(high)} of the true value (median "
            f"{_percent(median)})" + text
        )
    return text


def _percent(value: float) -> str:
    if not math.isfinite(value):
        return "∞"
    return f"{100 * value:.2g}%" if value < 10 else f"{value:.3g}×"


def _upstream(arg: ArgEvidence, ev: Evidence) -> Diagnosis | None:
    """backward(s·dout) must be s·backward(dout); backward(dout) again means dout is ignored."""
    first, scaled, tol = arg.raw[0], arg.scaled, ev.tolerance
    if first is None or scaled is None or first.shape != scaled.shape:
        return None
    if not nonzero(arg.numeric[:1], arg.checked[:1], tol):
        return None  # a zero gradient is linear in anything
    linear = all_close(scaled, ev.scale * first, tol)
    if linear:
        return None
    if all_close(scaled, first, tol):
        ones = _ones_hint(arg, ev)
        return finding(
            "upstream-ignored",
            f"{partial(arg, ev.order)} is the same for dout and {ev.scale:g}·dout: backward "
            f"ignores the upstream gradient{ones} — multiply by dout (grad_output)",
            arg,
            ev.order,
        )
    return finding(
        "not-linear",
        f"{partial(arg, ev.order)} for {ev.scale:g}·dout is not {ev.scale:g} × the one for dout: "
        "a backward must be linear in dout (is dout squared, or added instead of multiplied?)",
        arg,
        ev.order,
    )


def _ones_hint(arg: ArgEvidence, ev: Evidence) -> str:
    if ev.mode != "full" or arg.analytic is None:
        return ""
    column_sums = torch.nansum(arg.numeric, dim=0)
    checked = arg.checked.all(dim=0)
    if bool(checked.any()) and close(
        arg.analytic[:1], column_sums[None], checked[None], ev.tolerance
    ):
        return " (it returns the gradient for dout = ones, e.g. of out.sum())"
    return ""


def _zero(arg: ArgEvidence, ev: Evidence) -> Diagnosis | None:
    a, checked, tol = arg.analytic, arg.checked, ev.tolerance
    assert a is not None
    if bool((a[checked].abs() <= tol.atol).all()) and nonzero(arg.numeric, checked, tol):
        return finding(
            "zero",
            f"{partial(arg, ev.order)} is 0 everywhere, the true one is not (never computed, or "
            "cut from the graph with .detach(), .data or NumPy?)",
            arg,
            ev.order,
        )
    return None


def _factor(arg: ArgEvidence, ev: Evidence, where: Tensor | None = None) -> Diagnosis | None:
    """analytic ≈ c · numeric at every checked entry (of ``where``, when given)."""
    c = fitted_factor(arg, ev, where)
    if c is None:
        return None
    code, text = _factor_text(c, arg, ev)
    return finding(code, f"{partial(arg, ev.order)} is {text}", arg, ev.order)


def fitted_factor(arg: ArgEvidence, ev: Evidence, where: Tensor | None = None) -> float | None:
    """The constant c with analytic = c · numeric at every checked entry, named when nice."""
    a, n, tol = arg.analytic, arg.numeric, ev.tolerance
    assert a is not None
    mask = arg.checked if where is None else arg.checked & where[None, :]
    if not bool(mask.any()):
        return None
    av, nv = a[mask], n[mask]
    norm = float((nv * nv).sum())
    if norm == 0 or not nonzero(n, mask, tol):
        return None
    fitted = float((av * nv).sum()) / norm
    for c in _candidates(ev):
        if _fits(av, nv, c, tol):
            return c
    if abs(fitted - 1) > 1e-3 and fitted != 0 and _fits(av, nv, fitted, tol):
        return fitted
    return None


def _fits(a: Tensor, n: Tensor, c: float, tol: Tolerance) -> bool:
    target = c * n
    return bool(((a - target).abs() <= tol.atol + tol.rtol * target.abs()).all())


def _candidates(ev: Evidence) -> list[float]:
    sizes = _batch_sizes(ev)
    out = list(NICE_FACTORS)
    for size in sorted(sizes):
        out += [float(size), 1.0 / size, -float(size), -1.0 / size]
    return out


def _batch_sizes(ev: Evidence) -> dict[int, str]:
    """Sizes N that a mean/sum mix-up multiplies a gradient by, and where N comes from: the
    batch first, then every named dimension of the output and the inputs, then the counts."""
    found: dict[int, str] = {}
    for arg in ev.args:
        if len(arg.shape) >= 2 and arg.shape[0] > 2:
            found.setdefault(arg.shape[0], f"{arg.name}'s first dimension, the batch size")
    if len(ev.out_shape) >= 2 and ev.out_shape[0] > 2:
        found.setdefault(ev.out_shape[0], "the output's first dimension, the batch size")
    named = [("the output", ev.out_shape)] + [(arg.name, list(arg.shape)) for arg in ev.args]
    for owner, shape in named:
        if len(shape) < 2:
            continue
        names = DIM_NAMES.get(len(shape), tuple(f"dimension {d}" for d in range(len(shape))))
        for d, size in enumerate(shape):
            if size > 2:
                whose = "the output's" if owner == "the output" else f"{owner}'s"
                found.setdefault(size, f"{whose} {names[d]}s, dimension {d}")
    size = math.prod(ev.out_shape)
    if size > 2:
        found.setdefault(size, "the number of output entries")
    for arg in ev.args:
        if arg.n > 2:
            found.setdefault(arg.n, f"the number of entries of {arg.name}")
    return found


def _factor_text(c: float, arg: ArgEvidence, ev: Evidence) -> tuple[str, str]:
    """The diagnosis code and its words for yours = c × the true gradient."""
    sizes = _batch_sizes(ev)
    if c == -1.0:
        return "constant-factor", (
            "the true gradient with its sign flipped (−1 ×): check the sign in backward"
        )
    if c == 2.0:
        return "constant-factor", (
            "2 × the true gradient: a factor 2 too many (a ½ dropped, or added twice?)"
        )
    if c == 0.5:
        return "constant-factor", "½ × the true gradient: a factor 2 missing (d(x²)/dx = 2x?)"
    for size, where in sizes.items():
        if c == float(size):
            return "mean-vs-sum", (
                f"N × the true gradient with N = {size} ({where}): a sum where the forward "
                "takes a mean along it — divide by N"
            )
        if c == 1.0 / size:
            return "mean-vs-sum", (
                f"1/N × the true gradient with N = {size} ({where}): a mean along it where the "
                "forward sums, or divided twice"
            )
        if c in (-float(size), -1.0 / size):
            return "mean-vs-sum", (
                f"{_number(c)} × the true gradient (N = {size}, {where}, and the sign flipped)"
            )
    return "constant-factor", f"{_number(c)} × the true gradient at every entry: a constant factor"


def _transposed(arg: ArgEvidence, ev: Evidence) -> Diagnosis | None:
    a, tol = arg.analytic, ev.tolerance
    assert a is not None
    p = a.shape[0]
    if len(arg.shape) == 2 and arg.shape[0] == arg.shape[1]:
        m = arg.shape[0]
        flipped = a.reshape(p, m, m).transpose(1, 2).reshape(p, -1)
        if close(flipped, arg.numeric, arg.checked, tol):
            return finding(
                "transposed",
                f"{partial(arg, ev.order)} is the transpose of the true gradient (e.g. x.T @ dout "
                "where dout.T @ x is needed)",
                arg,
                ev.order,
            )
    square = ev.mode == "full" and p == arg.n and p > 1 and bool(arg.checked.all())
    if square and close(a.T, arg.numeric, arg.checked, tol):
        return finding(
            "transposed",
            f"the Jacobian behind {partial(arg, ev.order)} is transposed: backward computes "
            "J·dout instead of Jᵀ·dout (e.g. W @ dout where W.T @ dout is needed)",
            arg,
            ev.order,
        )
    return None


def _swapped(arg: ArgEvidence, ev: Evidence) -> Diagnosis | None:
    a, tol = arg.analytic, ev.tolerance
    assert a is not None
    for other in ev.args:
        if other is arg or other.shape != arg.shape:
            continue
        if close(a, other.numeric, other.checked, tol):
            both = other.analytic is not None and close(
                other.analytic, arg.numeric, arg.checked, tol
            )
            message = (
                f"the gradients of {arg.name} and {other.name} are swapped: backward returns "
                "them in the wrong order"
                if both
                else f"the gradient returned for {arg.name} is the true gradient of {other.name} "
                "(the returned values are in the wrong order?)"
            )
            return finding("wrong-input", message, arg, ev.order)
    return None


def _region(arg: ArgEvidence, ev: Evidence) -> Diagnosis | None:
    """The wrong entries are exactly one described region: a sign, a slice, a block."""
    bad, checked = arg.entry_bad, arg.entry_checked
    if bool((bad == checked).all()):
        return None  # everything checked is wrong: not a region
    for text, mask in _regions(arg, ev):
        if bool(((mask & checked) == bad).all()):
            count, total = int(bad.sum()), int(checked.sum())
            detail = _inside(arg, ev, mask)
            return finding(
                "region",
                f"{partial(arg, ev.order)} is wrong exactly {text} ({count} of {total} entries) "
                f"and right elsewhere{detail}",
                arg,
                ev.order,
            )
    return None


def _inside(arg: ArgEvidence, ev: Evidence, mask: Tensor) -> str:
    """What the wrong entries have in common (a factor, or a true gradient of 0)."""
    n = arg.numeric
    where = arg.checked & mask[None, :]
    tol = ev.tolerance
    if not nonzero(n, where, tol):
        return (
            "; there the true gradient is 0 and yours is not: a missing mask "
            "(as in ReLU's backward, dout · (x > 0))?"
        )
    a = arg.analytic
    assert a is not None
    if bool((a[where].abs() <= tol.atol).all()):
        return "; there yours is 0 (never written? a loop that skips it?)"
    c = fitted_factor(arg, ev, mask)
    if c is not None:
        return f"; there yours is {_number(c)} × the true one"
    return ""


def _regions(arg: ArgEvidence, ev: Evidence) -> list[tuple[str, Tensor]]:
    x = arg.values
    name = arg.name
    regions = [(f"where {name} < 0", x < 0), (f"where {name} > 0", x > 0)]
    if ev.order == 1 and ev.out_shape == list(arg.shape):
        regions += [
            ("where the output < 0", ev.output < 0),
            ("where the output > 0", ev.output > 0),
        ]
    shape = arg.shape
    if not shape:
        return regions
    index = torch.stack(torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij")).reshape(
        len(shape), -1
    )
    names = DIM_NAMES.get(len(shape), tuple(f"index {d}" for d in range(len(shape))))
    if len(shape) >= 2:
        for d, size in enumerate(shape):
            for i in range(size):
                regions.append((f"in {names[d]} {i} of {name}", index[d] == i))
    bad = arg.entry_bad
    if bool(bad.any()):
        idx = index[:, bad]
        low, high = idx.min(dim=1).values, idx.max(dim=1).values
        box = torch.ones(arg.n, dtype=torch.bool)
        for d in range(len(shape)):
            box &= (index[d] >= low[d]) & (index[d] <= high[d])
        if int(box.sum()) == 1:
            regions.append((f"at {name}{_index(int(box.nonzero()[0]), shape)} only", box))
        else:
            spans = ", ".join(
                f"{int(lo)}" if lo == hi else f"{int(lo)}:{int(hi) + 1}"
                for lo, hi in zip(low, high, strict=True)
            )
            regions.append((f"in the block {name}[{spans}]", box))
    return regions


# ------------------------------------------------------------------ helpers


def _index(flat: int, shape: Sequence[int]) -> str:
    index = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        index.append(i)
    return "[" + ", ".join(str(i) for i in reversed(index)) + "]"


def _dims(count: int) -> str:
    return "dimension" if count == 1 else f"{count} dimensions"


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(int(n)) for n in shape) if len(shape) else "a scalar"


def _number(c: float) -> str:
    for text, value in (("½", 0.5), ("⅓", 1 / 3), ("¼", 0.25), ("−½", -0.5)):
        if c == value:
            return text
    if float(c).is_integer():
        return f"{int(c)}".replace("-", "−")
    return f"{c:.4g}".replace("-", "−")
