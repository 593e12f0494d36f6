"""Keep README.md and the pages in docs/ in step with the program (like ``cog --check``).

* Tables between ``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->``
  are rebuilt from the registries.
* Every ````console`` block is a list of ``$ gradcli …`` commands followed by their
  output; the outputs are re-run (from the repository's folder, at 80 columns, without
  colour) and compared.
* Every ````pycon`` block is a Python session (``>>>`` and ``...`` lines, then what they
  print, as the interactive interpreter shows it); the blocks of one page run in turn in one
  namespace, from the repository's folder at 80 columns, and their outputs are compared the
  same way.

``python -m gradcli.docs`` rewrites every page and runs examples/notebook.ipynb again
(``--no-notebook`` leaves it); ``--check`` only reports drift (exit 1).

Figures at noise level differ from CPU to CPU: torch dispatches other kernels (AVX2, AVX-512,
none, ARM), whose last bits differ, and finite differences and |diff| columns show those bits.
An output that differs from the page only in such figures (any number below ``NOISE_LEVEL``
in magnitude, and the spacing and wrapping around them) is the same output: the page keeps
its text, and the run says how many outputs it kept that way. Every other figure must match
exactly as printed.
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
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def pages() -> list[Path]:
    """README.md and every page of the reference in docs/."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


CONSOLE_BLOCK = re.compile(r"```console\n(.*?)```", re.S)
PYCON_BLOCK = re.compile(r"```pycon\n(.*?)```", re.S)
GENERATED = re.compile(r"(<!-- BEGIN generated:(\w+) -->\n)(.*?)(<!-- END generated:\2 -->)", re.S)
WIDTH = 80
NOISE_LEVEL = 1e-8  # |x| below this is rounding noise next to the verdict's atol (1e-6)
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![\w.])", re.I)
SPACING = re.compile(r"[\s─━]+")


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
    from gradcli.ops.optimizers import markdown_table as optimizer_table

    found["layers"] = layer_table
    found["optimizers"] = optimizer_table
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


def _quiet(match: re.Match) -> str:
    return "~0" if abs(float(match.group(0))) < NOISE_LEVEL else match.group(0)


def without_noise(text: str) -> str:
    """``text`` with noise-level numbers replaced by one token and the spacing, box lines and
    line breaks around them collapsed: what must match whatever CPU ran the example."""
    return SPACING.sub(" ", NUMBER.sub(_quiet, text)).strip()


class Kept:
    """Counts the outputs whose only differences were noise-level figures."""

    count = 0


def console_commands(block: str) -> list[tuple[list[str], str]]:
    """The commands of a console block (each as its lines) with the output shown after each.

    A command may continue over several lines ending in a backslash.
    """
    found: list[tuple[list[str], list[str]]] = []
    command: list[str] = []
    for line in block.splitlines():
        if line.startswith("$ ") or command:
            command.append(line)
            if not line.endswith("\\"):
                found.append((command, []))
                command = []
        elif found:
            found[-1][1].append(line)
    return [(lines, "\n".join(output)) for lines, output in found]


def render_console_block(block: str) -> str:
    """Re-run every ``$ gradcli`` command of a console block and rebuild the block; where the
    new output differs from the shown one only at noise level, the shown one stays."""
    out: list[str] = []
    for lines, shown in console_commands(block):
        command = " ".join(line.removeprefix("$ ").rstrip("\\") for line in lines)
        output = run_console(command).rstrip("\n")
        if output != shown and without_noise(output) == without_noise(shown):
            Kept.count += 1
            output = shown
        out.extend(lines + ([output] if output else []))
    return "\n".join(out) + "\n"


def python_statements(block: str) -> list[tuple[list[str], str]]:
    """The statements of a pycon block (each as its ``>>>``/``...`` lines) with the output
    shown after each."""
    found: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith(">>> ") or line == ">>>":
            found.append(([line], []))
        elif (line.startswith("... ") or line == "...") and found and not found[-1][1]:
            found[-1][0].append(line)
        elif found:
            found[-1][1].append(line)
    return [(lines, "\n".join(output)) for lines, output in found]


def run_python(source: str, namespace: dict) -> str:
    """What the interactive interpreter prints for one statement: its output, the value of
    an expression (``repr``, None not shown), or the exception's last line."""
    import contextlib
    import io
    import os

    buffer = io.StringIO()
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    hook = sys.displayhook

    def display(value: object) -> None:
        if value is not None:
            namespace["_"] = value
            print(repr(value))

    sys.displayhook = display
    try:
        with contextlib.redirect_stdout(buffer):
            try:
                exec(compile(source, "<pycon>", "single"), namespace)
            except Exception as error:
                name = f"{type(error).__module__}.{type(error).__qualname__}"
                name = name.removeprefix("builtins.")
                print(f"Traceback (most recent call last):\n  ...\n{name}: {error}")
    finally:
        sys.displayhook = hook
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before
    return buffer.getvalue()


def render_pycon_block(block: str, namespace: dict) -> str:
    """Run every statement of a pycon block and rebuild the block (noise as for console
    blocks: where the new output differs only at noise level, the shown one stays)."""
    out: list[str] = []
    for lines, shown in python_statements(block):
        source = "\n".join(line[4:] for line in lines) + "\n"
        output = run_python(source, namespace).rstrip("\n")
        if output != shown and without_noise(output) == without_noise(shown):
            Kept.count += 1
            output = shown
        out.extend(lines + ([output] if output else []))
    return "\n".join(out) + "\n"


def refresh(text: str) -> str:
    """README text with generated tables, console outputs and Python sessions brought up to
    date."""
    tables = generators()

    def table(match: re.Match) -> str:
        make = tables.get(match.group(2))
        return match.group(0) if make is None else match.group(1) + make() + match.group(4)

    text = GENERATED.sub(table, text)
    text = CONSOLE_BLOCK.sub(
        lambda m: "```console\n" + render_console_block(m.group(1)) + "```", text
    )
    namespace: dict = {"__name__": "__pycon__"}
    return PYCON_BLOCK.sub(
        lambda m: "```pycon\n" + render_pycon_block(m.group(1), namespace) + "```", text
    )


def run_notebook(path: Path = NOTEBOOK, timeout: int = 600):  # -> nbformat.NotebookNode
    """The notebook executed in a real Jupyter kernel (this Python's, from the repository's
    folder): its cells' outputs as Jupyter shows them. Needs nbclient and ipykernel (the
    ``test`` extra)."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timings of an earlier run
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": ROOT}},
        record_timing=False,  # no timestamps: running it again rewrites nothing that is the same
    )
    client.execute()
    return notebook


def refresh_notebook(path: Path = NOTEBOOK) -> None:
    """Store the notebook with fresh outputs (what GitHub's viewer shows); not compared by
    ``--check``: its figures at noise level differ from CPU to CPU."""
    import nbformat

    nbformat.write(run_notebook(path), path)


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
    if "--check" not in argv and "--no-notebook" not in argv:
        refresh_notebook()
    if Kept.count:
        print(
            f"kept {Kept.count} example output(s) as the pages show them: they differ from this "
            f"run only in figures below {NOISE_LEVEL:g} (this CPU's torch kernels round otherwise)",
            file=sys.stderr,
        )
    return drift


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
