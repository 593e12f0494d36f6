"""Table rendering of a `gradcli check` stopped by the user's code (registered on import)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from gradcli.render.table import as_renderable
from gradcli.results.failure import CRASH, EXIT, TIMEOUT, CheckFailure


@as_renderable.register
def _(result: CheckFailure, precision: int) -> RenderableType:
    pair = f" with backward {result.backward}" if result.backward else ""
    failure = result.failure
    parts: list[RenderableType] = [
        Text(f"check {result.target}{pair}", style="bold"),
        Text(f"✗ {failure.headline}", style="bold red"),
    ]
    if failure.place is not None:
        parts.append(Text(f"  at {failure.place.name}"))
    elif failure.kind in (EXIT, TIMEOUT, CRASH):
        parts.append(Text("  (where in your code is not known)", style="dim"))
    for note in result.notes:
        parts.append(Text(note, style="yellow"))
    return Group(*parts)
