"""The package's shape: every module imports, no import cycles, and the maths layers
(``gradcli.ops``, ``gradcli.core``) never reach for the terminal libraries.

The import graph is read from the source (``ast``), not from a running interpreter, so that
imports made inside functions count as much as top-level ones: a cycle closed by a lazy
import is still a cycle — it only fails later, in the middle of a command. Imports under
``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import gradcli

PACKAGE = Path(gradcli.__file__).resolve().parent
TERMINAL_LIBRARIES = ("typer", "rich", "click")
MATHS_PACKAGES = ("gradcli.ops", "gradcli.core")
NOT_IMPORTABLE = {"gradcli.__main__"}  # runs the program when imported


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of the tree, at any depth, except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


@cache
def imported_names(name: str) -> frozenset[str]:
    """Every absolute module name ``name`` imports, at module or function level: the
    targets of ``import``, of ``from … import`` (the imported name itself when it is one of
    the package's modules, else the module it comes from) and of
    ``importlib.import_module("…")`` with a literal name."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                member = f"{base}.{alias.name}"
                found.add(member if member in modules() else base)
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "importlib.import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return frozenset(found)


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Each of the package's modules → the package's modules it imports."""
    return {name: frozenset(imported_names(name) & modules().keys() - {name}) for name in modules()}


@pytest.mark.parametrize("name", sorted(set(modules()) - NOT_IMPORTABLE))
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_the_graph_sees_the_imports_it_should() -> None:
    """The reader of the sources finds lazy, aliased and module-level imports alike."""
    graph = import_graph()
    assert "gradcli.cli" in graph["gradcli.__main__"]
    assert "gradcli.commands.batch" in graph["gradcli.cli"]  # `from gradcli.commands import …`
    assert "gradcli.core.descent" in graph["gradcli.core.perceptron"]  # inside a function
    assert "gradcli.render.expr_table" in graph["gradcli.render"]  # importlib.import_module
    assert "gradcli.ops.layers.linear" in graph["gradcli.ops.layers"]
    assert len(graph) == len(modules()) > 80


def test_no_import_cycles() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as error:
        cycle = error.args[1]
        pytest.fail(f"import cycle: {' → '.join(reversed(cycle))}")


def test_a_cycle_would_be_found() -> None:
    """The cycle check on a graph made to hold one (a lazy import closing the circle)."""
    graph = dict(import_graph())
    graph["gradcli.ops.losses"] = graph["gradcli.ops.losses"] | {"gradcli.core.loss"}
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()


def terminal_imports(name: str) -> list[str]:
    """``typer (in gradcli.x)`` for every terminal library ``name`` reaches: directly, at any
    level, or through the package's modules it imports (lazily or not)."""
    graph = import_graph()
    reached, todo = {name}, [name]
    while todo:
        for target in graph[todo.pop()] - reached:
            reached.add(target)
            todo.append(target)
    return [
        f"{library} (in {module})"
        for module in sorted(reached)
        for library in sorted(imported_names(module))
        if library.split(".")[0] in TERMINAL_LIBRARIES
    ]


MATHS_MODULES = sorted(
    n
    for n in modules()
    if n in MATHS_PACKAGES or n.startswith(tuple(f"{p}." for p in MATHS_PACKAGES))
)


@pytest.mark.parametrize("name", MATHS_MODULES)
def test_maths_modules_never_import_terminal_libraries(name: str) -> None:
    assert terminal_imports(name) == []


def test_terminal_imports_are_found_directly_and_through_other_modules() -> None:
    assert "typer (in gradcli.cli)" in terminal_imports("gradcli.cli")
    assert "typer (in gradcli.cli)" in terminal_imports("gradcli.__main__")
    assert {"gradcli.ops", "gradcli.ops.layers.conv", "gradcli.core.layer"} <= set(MATHS_MODULES)
