"""What every command's result offers in Python (``import gradcli``): the verdict as a bool,
its JSON document as a dict, its table as text and as HTML, and an exception for test suites.

The result objects are the ones the command line renders; this mixin adds no second
computation. Showing a result needs a renderer, and the results (which the maths layers
build) must not reach for the terminal libraries: the renderer registers itself here
(:func:`set_presenter`, done by :mod:`gradcli.api`, which ``import gradcli`` loads), and
imports Rich only when a result is first shown.
"""

from __future__ import annotations

import json
from typing import Any, Protocol


class GradientMismatch(AssertionError):
    """The gradients disagree, or a given answer is wrong: raised by
    ``result.raise_for_status()``; the message is the diagnosis (the result's table)."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class Presenter(Protocol):
    """Turns a result into text (the CLI's table), HTML, a one-line summary, and the Rich
    renderable the terminal prints."""

    def text(self, result: Any, precision: int) -> str: ...

    def html(self, result: Any, precision: int) -> str: ...

    def summary(self, result: Any) -> str: ...

    def renderable(self, result: Any, precision: int) -> Any: ...


_presenter: list[Presenter] = []
DEFAULT_PRECISION = 6  # significant digits in tables, as the CLI's --precision


def set_presenter(presenter: Presenter) -> None:
    """Register the renderer that shows results (the last one registered wins)."""
    _presenter[:] = [presenter]


def _present() -> Presenter:
    if not _presenter:  # pragma: no cover  (gradcli.api registers one at `import gradcli`)
        raise RuntimeError("no presenter registered: import gradcli first")
    return _presenter[0]


class Outcome:
    """The Python face of a command's result.

    ``agree`` (the result's own) says whether the analytic, autograd and numeric gradients
    agree; ``passed`` whether the answer given with ``expect`` matches (None without one);
    ``bool(result)`` is True only when both hold — the CLI's exit code 0.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # @dataclass adds a field-by-field __repr__ only where the class has none of its own:
        # a result's repr is one line, and IPython's text form (searched class by class, the
        # subclass first) is the table
        cls.__repr__ = Outcome.__repr__  # type: ignore[method-assign]
        cls._repr_pretty_ = Outcome._repr_pretty_  # type: ignore[method-assign]

    def __repr__(self) -> str:
        """``<ActivationResult activation: agree, answer right>``: the verdict in one line."""
        state = "agree" if getattr(self, "agree", False) else "DISAGREE"
        answer = {None: "", True: ", answer right", False: ", answer wrong"}[self.passed]
        return f"<{type(self).__name__} {getattr(self, 'command', '')}: {state}{answer}>"

    @property
    def passed(self) -> bool | None:
        """True/False: every answer given (``expect``, and the marks of a worked solution)
        matches or not; None: none was given."""
        given = [
            check
            for check in (getattr(self, "answer", None), getattr(self, "marks", None))
            if check is not None
        ]
        return None if not given else all(bool(check.passed) for check in given)

    def __bool__(self) -> bool:
        return bool(getattr(self, "agree", False)) and self.passed is not False

    def to_dict(self) -> dict[str, Any]:
        """Exactly the document ``--json`` prints (NaN and ∞ as None)."""
        from gradcli.render.jsonout import to_json_text

        return json.loads(to_json_text(self))

    @property
    def precision(self) -> int:
        """Significant digits of the table (``precision=`` of the call; 6 by default)."""
        return getattr(self, "_precision", DEFAULT_PRECISION)

    def __str__(self) -> str:
        return _present().text(self, self.precision).rstrip("\n")

    def _repr_html_(self) -> str:
        return _present().html(self, self.precision)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text form (a terminal, a notebook's text/plain): the table."""
        printer.text(str(self))

    def __rich__(self) -> Any:
        """``rich.print(result)``: the table in colour."""
        return _present().renderable(self, self.precision)

    def raise_for_status(self) -> None:
        """Raise :class:`GradientMismatch` (an AssertionError) unless ``bool(result)``; its
        message is the diagnosis: a summary line, then the table with every ✗ and note."""
        if self:
            return
        presenter = _present()
        message = f"{presenter.summary(self)}\n\n{presenter.text(self, self.precision)}"
        raise GradientMismatch(message.rstrip("\n"), self)


def with_precision(result: Any, precision: int) -> Any:
    """The result, shown with ``precision`` significant digits (a frozen dataclass: the
    setting rides along outside its fields, so its JSON and equality are unchanged)."""
    object.__setattr__(result, "_precision", precision)
    return result
