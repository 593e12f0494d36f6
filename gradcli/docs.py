"""Keep README.md and the pages in docs/ in step with the program (like ``cog --check``).

* Tables between ``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->``
  are rebuilt from the registries.
* Every ````console`` block is a list of ``$ gradcli …`` commands followed by their
  output; the outputs are re-run (from the repository's folder, at 80 columns, without
  colour) and compared.

``python -m gradcli.docs`` rewrites every page; ``--check`` only reports drift (exit 1).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from gradcli.ops.activations import ACTIVATION_LIST
from gradcli.params import describe_all

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def pages() -> list[Path]:
    """README.md and every page of the reference in docs/."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


CONSOLE_BLOCK = re.compile(r"```console\n(.*?)```", re.S)
GENERATED = re.compile(r"(<!-- BEGIN generated:(\w+) -->\n)(.*?)(<!-- END generated:\2 -->)", re.S)
WIDTH = 80


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def activation_table() -> str:
    """Markdown table of every registered activation."""
    lines = [
        "| name | f(x) | f'(x) (analytic side) | parameters (torch defaults) |",
        "|---|---|---|---|",
    ]
    for act in ACTIVATION_LIST:
        cells = (act.name, act.formula, act.derivative_formula, describe_all(act.params))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        for key, value, formula, derivative in act.variants:
            cells = (f"{act.name} ({key}={value})", formula, derivative, "")
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def generators() -> dict[str, Callable[[], str]]:
    """Generated README sections by name (registries added later join here)."""
    found: dict[str, Callable[[], str]] = {"activations": activation_table}
    try:
        from gradcli.ops.losses import markdown_table as loss_table
    except ImportError:
        pass
    else:
        found["losses"] = loss_table
    from gradcli.ops.layers import markdown_table as layer_table

    found["layers"] = layer_table
    return found


def run_console(command: str) -> str:
    """Output of one ``gradcli …`` command line, as a pipe would receive it."""
    from typer.testing import CliRunner

    from gradcli.cli import app

    args = shlex.split(command, comments=True)
    if not args or args[0] != "gradcli":
        raise ValueError(f"console blocks hold gradcli commands only: {command!r}")
    result = CliRunner().invoke(
        app, args[1:], env={"COLUMNS": str(WIDTH), "NO_COLOR": "1"}, prog_name="gradcli"
    )
    return result.stdout + result.stderr


def render_console_block(block: str) -> str:
    """Re-run every ``$ gradcli`` command of a console block and rebuild the block.

    A command may continue over several lines ending in a backslash.
    """
    out: list[str] = []
    command: list[str] = []
    for line in block.splitlines():
        if line.startswith("$ ") or command:
            out.append(line)
            command.append(line.removeprefix("$ ").rstrip("\\"))
            if not line.endswith("\\"):
                output = run_console(" ".join(command)).rstrip("\n")
                out.extend([output] if output else [])
                command = []
    return "\n".join(out) + "\n"


def refresh(text: str) -> str:
    """README text with generated tables and console outputs brought up to date."""
    tables = generators()

    def table(match: re.Match) -> str:
        make = tables.get(match.group(2))
        return match.group(0) if make is None else match.group(1) + make() + match.group(4)

    text = GENERATED.sub(table, text)
    return CONSOLE_BLOCK.sub(
        lambda m: "```console\n" + render_console_block(m.group(1)) + "```", text
    )


def main(argv: list[str]) -> int:
    import difflib
    import os

    os.chdir(ROOT)  # console examples name files relative to the repository
    drift = 0
    for path in pages():
        current = path.read_text(encoding="utf-8")
        updated = refresh(current)
        if updated == current:
            continue
        if "--check" in argv:
            name = str(path.relative_to(ROOT))
            diff = difflib.unified_diff(
                current.splitlines(), updated.splitlines(), name, "generated", lineterm=""
            )
            print("\n".join(diff))
            drift = 1
        else:
            path.write_text(updated, encoding="utf-8")
    return drift


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
