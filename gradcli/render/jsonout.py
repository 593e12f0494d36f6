"""JSON output: one object per result, on one line (JSON Lines friendly)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from gradcli.results import json_safe


def to_json_text(result: Any) -> str:
    """The result's documented JSON object as one line; non-finite floats become null."""
    return json.dumps(json_safe(result.to_json()), ensure_ascii=False)


def write_json(result: Any, out: TextIO) -> None:
    out.write(to_json_text(result) + "\n")
