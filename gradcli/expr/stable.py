"""Stable forms of formulas that overflow or cancel in floating point.

When float64 fails on a formula, gradcli suggests the form numerical code uses instead —
each pattern below is a textbook identity, matched on the parsed tree and printed in the
language's own notation so the user can type it back:

=========================  ==================================  ==============================
written                    suggested                           why
=========================  ==================================  ==============================
log(1 + exp(u))            softplus(u)                         e^u overflows for u ≳ 709
log(e^a + e^b + …)         logsumexp(a, b, …)                  each e^a may overflow
log(gamma(u))              lgamma(u)                           Γ(u) overflows for u ≳ 171
log(1/(1 + exp(−u)))       logsigmoid(u)                       1 + e^(−u) overflows
log(sigmoid(u))            logsigmoid(u)                       σ(u) underflows to 0
1/(1 + exp(−u))            sigmoid(u)                          e^(−u) overflows
log(cosh(u))               abs(u) + softplus(-2*abs(u)) - log(2)  cosh overflows
1 − exp(u), exp(u) − 1     -expm1(u), expm1(u)                 cancellation near u = 0
log(1 + u)                 log1p(u)                            cancellation near u = 0
=========================  ==================================  ==============================
"""

from __future__ import annotations

from gradcli.expr.language import (
    Call,
    Const,
    Neg,
    Node,
    Num,
    Power,
    Product,
    Sum,
    to_text,
    walk,
)


def suggestions(tree: Node) -> list[str]:
    """``written → stable`` lines for every sub-tree with a known stable form."""
    found: list[str] = []
    for node in walk(tree):
        stable = _stable(node)
        if stable is not None:
            line = f"{to_text(node)} → {to_text(stable)}"
            if line not in found:
                found.append(line)
    return found


def _exp_argument(node: Node) -> Node | None:
    """u for exp(u) or e^u."""
    if isinstance(node, Call) and node.name == "exp":
        return node.args[0]
    if isinstance(node, Power) and node.base == Const("e"):
        return node.exponent
    return None


def _is_one(node: Node) -> bool:
    return isinstance(node, Num) and node.value == 1


def _one_plus(node: Node) -> Node | None:
    """u for 1 + u or u + 1."""
    if isinstance(node, Sum) and len(node.terms) == 2:
        first, second = node.terms
        if _is_one(first):
            return second
        if _is_one(second):
            return first
    return None


def _negated(node: Node) -> Node:
    return node.operand if isinstance(node, Neg) else Neg(node)


def _stable(node: Node) -> Node | None:
    if isinstance(node, Call) and node.name == "log" and len(node.args) == 1:
        return _stable_log(node.args[0])
    if isinstance(node, Product) and node.factors == (Num(1),) and len(node.divisors) == 1:
        inner = _one_plus(node.divisors[0])
        u = None if inner is None else _exp_argument(inner)
        if u is not None:
            return Call("sigmoid", (_negated(u),))
    if isinstance(node, Sum) and len(node.terms) == 2:
        return _stable_expm1(*node.terms)
    return None


def _stable_log(inner: Node) -> Node | None:
    plus = _one_plus(inner)
    if plus is not None:
        u = _exp_argument(plus)
        return Call("softplus", (u,)) if u is not None else Call("log1p", (plus,))
    if isinstance(inner, Sum) and len(inner.terms) >= 2:
        exponents = [_exp_argument(term) for term in inner.terms]
        if all(u is not None for u in exponents):
            return Call("logsumexp", tuple(exponents))  # type: ignore[arg-type]
    if isinstance(inner, Call) and inner.name == "gamma":
        return Call("lgamma", inner.args)
    if isinstance(inner, Call) and inner.name == "sigmoid":
        return Call("logsigmoid", inner.args)
    if isinstance(inner, Call) and inner.name == "cosh":
        u = Call("abs", inner.args)
        return Sum((u, Call("softplus", (Product((Neg(Num(2)), u)),)), Neg(Call("log", (Num(2),)))))
    if isinstance(inner, Product) and inner.factors == (Num(1),) and len(inner.divisors) == 1:
        plus = _one_plus(inner.divisors[0])
        u = None if plus is None else _exp_argument(plus)
        if u is not None:
            return Call("logsigmoid", (_negated(u),))
    return None


def _stable_expm1(first: Node, second: Node) -> Node | None:
    if _is_one(first) and isinstance(second, Neg):  # 1 − exp(u)
        u = _exp_argument(second.operand)
        return Neg(Call("expm1", (u,))) if u is not None else None
    if isinstance(second, Neg) and _is_one(second.operand):  # exp(u) − 1
        u = _exp_argument(first)
        return Call("expm1", (u,)) if u is not None else None
    return None
