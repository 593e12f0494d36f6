"""Console-script entry point: starts loading torch before anything else when it will be needed."""

from __future__ import annotations

import sys

COMPUTING_COMMANDS = {"activation", "softmax-jacobian", "loss", "perceptron", "batch"}
NON_COMPUTING_FLAGS = {"--help", "--list"}


def will_compute(args: list[str]) -> bool:
    """Whether this command line computes gradients (and so needs torch)."""
    return bool(args) and args[0] in COMPUTING_COMMANDS and not NON_COMPUTING_FLAGS & set(args)


def main() -> None:
    """Prefetch torch for computing commands, then run the Typer app."""
    if will_compute(sys.argv[1:]):
        from gradcli._torch import prefetch

        prefetch()
    from gradcli.cli import main as run

    run()
