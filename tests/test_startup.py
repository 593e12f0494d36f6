"""Start-up: a command loads its own module only (commands load on demand), so help and
listings stay close to Typer's own import. Speed is measured by benchmarks/bench.py, never by
timed tests; these tests check the structure that makes it fast."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gradcli.cli import COMMAND_LOADERS, all_commands
from tests.conftest import invoke

COMMAND_FILES = (
    "activation", "softmax", "loss", "perceptron", "optim", "layer", "expr", "check", "batch",
)  # fmt: skip
HEAVY = (  # registries and machinery another command needs, and the big libraries
    "gradcli.ops.layers", "gradcli.ops.network", "gradcli.core", "gradcli.expr",
    "gradcli.usercode", "gradcli.results.check", "gradcli.results.layer", "torch", "sympy",
)  # fmt: skip


def modules_after(argv: list[str]) -> set[str]:
    """The modules one fresh process has imported after running ``gradcli ARGV``."""
    code = (
        "import sys\n"
        "from gradcli.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(proc.stderr.split())


@pytest.mark.parametrize(
    ("argv", "own"),
    [
        (["activation", "--list"], "gradcli.commands.activation"),
        (["activation", "--help"], "gradcli.commands.activation"),
        (["loss", "--list"], "gradcli.commands.loss"),
        (["softmax-jacobian", "--help"], "gradcli.commands.softmax"),
    ],
)
def test_a_command_loads_its_own_module_and_no_other_command(argv, own):
    loaded = modules_after(argv)
    assert own in loaded
    others = {f"gradcli.commands.{name}" for name in COMMAND_FILES} - {own}
    assert not others & loaded, sorted(others & loaded)
    heavy = [
        name
        for name in loaded
        for prefix in HEAVY
        if name.split(".")[: prefix.count(".") + 1] == prefix.split(".")
    ]
    assert not heavy, heavy


def test_top_level_help_lists_every_command_in_order():
    lines = invoke("--help").stdout.split("Commands:")[1].split("\n")
    names = [line.split()[0] for line in lines if line.strip()]
    assert names == list(COMMAND_LOADERS)


def test_every_module_defines_the_command_it_is_listed_for():
    assert list(all_commands()) == list(COMMAND_LOADERS)
    assert all(info.name == name for name, info in all_commands().items())
    loaded = {info.function.__module__ for info in all_commands().values()}
    assert loaded == {f"gradcli.commands.{name}" for name in COMMAND_FILES}


def test_batch_finds_commands_through_the_lazy_table():
    run = invoke("batch", "-", input_text="softmax-jacobian 1 2\nexpr 'x^2' --at x=1\nfoo 1\n")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [record.get("command") for record in records[:2]] == ["softmax-jacobian", "expr"]
    assert "no such command 'foo'" in records[2]["error"]


def test_an_unknown_command_still_suggests_a_near_one():
    run = invoke("activaton", "relu", "1")
    assert run.code == 2 and "did you mean 'activation'" in run.stderr


def test_a_listing_prints_its_text_as_written_and_in_ascii_where_needed():
    import io

    from gradcli.render.listing import write_listing
    from gradcli.results.listing import Listing, ListingTable

    rows = [("[bold]x[/bold]", ":smile: σ(x)", "x ∈ [0, 1]")]
    listing = Listing("demo", [], [ListingTable("Demo", ("a", "b", "c"), rows)], ["note: −1"])
    out = io.StringIO()
    write_listing(listing, out)
    text = out.getvalue()
    assert "[bold]x[/bold]" in text and ":smile: σ(x)" in text and "x ∈ [0, 1]" in text
    assert text.rstrip().endswith("note: −1")

    class Latin1(io.StringIO):
        encoding = "latin-1"

    narrow = Latin1()
    write_listing(listing, narrow)
    assert ":smile: sigma(x)" in narrow.getvalue() and "note: -1" in narrow.getvalue()
