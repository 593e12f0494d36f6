"""Results shown in Python: the CLI's table as text, as HTML, and a one-line summary.

Registered with :mod:`gradcli.outcome` by :mod:`gradcli.api`, so that ``str(result)``,
``result._repr_html_()`` and ``result.raise_for_status()`` use the same renderers as the
command line; Rich is imported when a result is first shown, never by ``import gradcli``.
"""

from __future__ import annotations

import importlib
import io
from typing import Any

from gradcli.render import TABLE_RENDERERS, OutputFormat, render


def text(result: Any, precision: int) -> str:
    """The table the command prints (no colour), as text."""
    buffer = io.StringIO()
    render(result, OutputFormat.table, precision, buffer)
    return buffer.getvalue()


def renderable(result: Any, precision: int) -> Any:
    """The Rich renderable the terminal prints for ``result``."""
    from gradcli.render.table import as_renderable

    renderer = TABLE_RENDERERS.get(type(result).__module__)
    if renderer is not None:  # registers its result types with the table renderer
        importlib.import_module(renderer)
    return as_renderable(result, precision)


def html(result: Any, precision: int) -> str:
    """The same table as plain HTML with inline styles (see :mod:`gradcli.render.html`)."""
    from gradcli.render.html import to_html

    return to_html(renderable(result, precision))


def summary(result: Any) -> str:
    """``gradcli activation: …`` — why the result is not a pass, in one line."""
    reasons = []
    failure = getattr(result, "failure", None)  # check: the user's code failed while it ran
    if failure is not None:
        reasons.append(failure.summary)
    elif not result.agree:
        diagnoses = getattr(result, "diagnoses", None) or []
        reasons += [diagnosis.message for diagnosis in diagnoses]
        if not diagnoses:
            reasons.append("the gradients DISAGREE (the table marks the entries ✗)")
    marks = getattr(result, "marks", None)  # a worked solution marked quantity by quantity
    mistake = None if marks is None else marks.first_mistake
    if mistake is not None:
        reasons.append(f"first mistake: {mistake.key} ({mistake.check.summary})")
    answer = getattr(result, "answer", None)
    if mistake is None and answer is not None and not answer.passed:
        parts = getattr(answer, "parts", None)
        if parts is None:
            reasons.append(answer.summary)
        else:
            reasons += [f"{key}: {part.summary}" for key, part in parts.items() if not part.passed]
    return f"gradcli {getattr(result, 'command', '')}: " + "; ".join(reasons)
