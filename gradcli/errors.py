"""Domain errors and the exit codes they map to (no terminal code here)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """What a gradcli process tells the shell."""

    OK = 0
    DISAGREE = 1  # gradients disagree, or the user's expected answer is wrong
    BAD_INPUT = 2  # bad input, or output that cannot be written
    INTERNAL = 3  # a bug in gradcli: an exception nobody expected
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


class InputError(ValueError):
    """Bad input from the user; shown as one ``Error: …`` line, exit code 2."""


SHOWN_LIMIT = 60  # characters of a user's token echoed in an error message
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape(text: str) -> str:
    """``text`` on one line: newlines, escape characters and other controls written as ``\\n``,
    ``\\x1b``…, so an error line can never be split or recoloured by what the user typed."""

    def one(match: re.Match[str]) -> str:
        char = match.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")

    return _CONTROL.sub(one, text)


def shown(token: object, limit: int = SHOWN_LIMIT) -> str:
    """A user's token quoted for an error message: escaped, and past ``limit`` characters cut
    in the middle with ``…`` (both ends stay: a path keeps its file name)."""
    text = escape(str(token))
    if len(text) > limit:
        head = (2 * limit) // 3
        text = text[:head] + "…" + text[len(text) - (limit - head - 1) :]
    return f"'{text}'"


SUGGEST_CUTOFF = 0.7  # difflib ratio: 'sigmod' → 'sigmoid' (0.92), never 'l2' → 'lr' (0.5)
PREFIX_MIN = 3  # a word this long that starts, or is a part of, exactly one choice suggests it
# ('softmax' → 'softmax-jacobian', 'slope' → 'negative_slope')


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice a typo most likely meant, or None when none is close.

    Compared case-insensitively and without leading dashes (``--`` would make every two
    options look alike); close means a difflib ratio of at least :data:`SUGGEST_CUTOFF`, two
    neighbouring letters swapped, or the word starting exactly one choice or being one part of
    its name."""
    import difflib  # only errors pay for it

    def bare(text: str) -> str:
        return text.lstrip("-").lower()

    names = {bare(choice): choice for choice in choices}
    key = bare(word)
    if not key:
        return None
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=SUGGEST_CUTOFF)
    if close:
        return names[close[0]]
    swapped = [name for name in names if _one_swap(key, name)]
    if len(swapped) == 1:  # two neighbouring letters swapped: 'mes' → 'mse'
        return names[swapped[0]]
    if len(key) < PREFIX_MIN:
        return None
    containing = [n for n in names if n.startswith(key) or key in re.split(r"[-_.]", n)]
    return names[containing[0]] if len(containing) == 1 else None


def _one_swap(word: str, name: str) -> bool:
    """``word`` is ``name`` with two neighbouring letters swapped."""
    if len(word) != len(name) or word == name:
        return False
    diff = [i for i, (a, b) in enumerate(zip(word, name, strict=True)) if a != b]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and word[diff[0]] == name[diff[1]]
        and (word[diff[1]] == name[diff[0]])
    )


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close choice, or an empty string."""
    choice = closest(word, choices)
    return f" (did you mean '{choice}'?)" if choice else ""


_DECAY = (
    "L2 weight decay is perceptron's --weight-decay λ (with --epochs) and optim's "
    "--param-option weight_decay=λ"
)
_OPTIMIZERS = (
    "optimizers are 'gradcli optim NAME' and perceptron's --optimizer NAME (with --epochs)"
)
_HYPER = (
    "an optimizer's hyper-parameters are --param-option NAME=VALUE under torch's names "
    "(betas=0.9,0.999; adagrad's lr_decay=…), in optim and perceptron --optimizer"
)
# Options other tools have and gradcli does not: said plainly instead of a far-fetched guess.
FOREIGN_OPTIONS = {
    **dict.fromkeys(
        ("weight-decay", "weight_decay", "wd", "l1", "l2", "regularization", "lambda"), _DECAY
    ),
    **dict.fromkeys(
        ("optimizer", "optim", "adam", "adamw", "sgd", "rmsprop", "momentum", "nesterov"),
        _OPTIMIZERS,
    ),
    **dict.fromkeys(("beta1", "beta2", "betas", "scheduler", "lr-decay", "decay"), _HYPER),
    **dict.fromkeys(
        ("batch-size", "batch_size", "bs"), "perceptron --epochs takes full-batch steps"
    ),
    **dict.fromkeys(
        ("device", "cuda", "gpu", "cpu"), "it computes on the CPU, in --dtype float64 or float32"
    ),
}


# Options users guess, spelled as gradcli spells them: guess → (the option, how to write it)
SPELLED_OTHERWISE = {
    **dict.fromkeys(("hessian", "second-order", "hess"), ("--order", "--order 2")),
    **dict.fromkeys(("tol", "tolerance", "eps-tol"), ("--atol", "--atol/--rtol")),
    **dict.fromkeys(("answer", "expected", "check-answer", "mine"), ("--expect", "--expect")),
    **dict.fromkeys(("csv",), ("--format", "--format csv")),
    **dict.fromkeys(
        ("explain", "derivation", "derive", "verbose", "show-steps", "working"),
        ("--steps", "--steps"),
    ),
    **dict.fromkeys(("tree", "dot", "computation-graph"), ("--graph", "--graph")),
    **dict.fromkeys(("point", "values", "subs"), ("--at", "--at x=1,y=2")),
    **dict.fromkeys(("vars", "variables", "var", "diff"), ("--wrt", "--wrt")),
    **dict.fromkeys(("learning-rate", "learning_rate", "eta"), ("--lr", "--lr")),
}


def _hyper_parameter(bare: str) -> str | None:
    """torch's name of an optimizer hyper-parameter written as an option (``--weight-decay``
    → ``weight_decay``), from the optimizers' registry; None for any other name."""
    from gradcli.ops.optimizers import OPTIMIZER_LIST

    name = bare.replace("-", "_")
    names = {p.name for optimizer in OPTIMIZER_LIST for p in optimizer.params} - {"lr"}
    return name if name in names else None


def no_such_option(name: str, options: Iterable[str], command: str | None = None) -> str:
    """``no such option '--x' (did you mean '--y'?)``, or, for an option other tools have,
    that gradcli has no such setting and why."""
    options = list(options)
    bare = name.split("=", 1)[0].lstrip("-").lower()
    if "--param-option" in options and (hyper := _hyper_parameter(bare)):
        return (
            f"no such option {shown(name)} ({hyper} is an optimizer's hyper-parameter: "
            f"--param-option {hyper}=VALUE"
            f"{' with --optimizer NAME' if command == 'perceptron' else ''})"
        )
    if bare in FOREIGN_OPTIONS and f"--{bare}" not in options:
        where = f" {command}" if command else ""
        return (
            f"no such option {shown(name)}: gradcli{where} has no such setting "
            f"({FOREIGN_OPTIONS[bare]})"
        )
    if bare in SPELLED_OTHERWISE and SPELLED_OTHERWISE[bare][0] in options:
        return f"no such option {shown(name)} (gradcli writes it {SPELLED_OTHERWISE[bare][1]})"
    doubled = f"-{name}" if name.startswith("-") and not name.startswith("--") else ""
    if doubled in options:
        return f"no such option {shown(name)} (did you mean '{doubled}'?)"
    return f"no such option {shown(name)}{suggest(name, options)}"


def unknown(kind: str, word: str, choices: Iterable[str]) -> InputError:
    """An InputError for an unknown name, with a suggestion and the valid names."""
    names = sorted(choices)
    return InputError(
        f"unknown {kind} {shown(word)}{suggest(word, names)}; choose from: {', '.join(names)}"
    )
