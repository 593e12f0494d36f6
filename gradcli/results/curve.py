"""A function and its derivative sampled over a range, for ``--plot`` (never in --json)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Curve:
    """f and f′ at ``x`` (sorted), the kinks, the points to mark (x, f(x), f′(x)) and what
    the plotted f′ was checked against: autograd at every sampled point.

    ``width``/``height`` are the plot's size when the user chose one (else the terminal's).
    """

    title: str
    labels: tuple[str, str]
    x: list[float]
    value: list[float]
    derivative: list[float]
    kinks: list[float]
    marks: list[tuple[float, float, float]]
    x_range: tuple[float, float]
    outside: list[float]  # x values given that lie outside the range: not marked
    agree: bool  # the analytic f′ agrees with autograd at every sampled point
    disagreements: int
    max_abs_diff: float
    width: int | None = None
    height: int | None = None
    checked: int | None = None  # samples checked when f′ does not exist at some (else all)
    notes: tuple[str, ...] = ()  # what the plot leaves out, said out loud

    @property
    def points(self) -> int:
        return len(self.x)

    def check_line(self) -> str:
        """One sentence: what the plotted f′ was checked against."""
        checked = self.points if self.checked is None else self.checked
        if checked == 0:
            return "✗ f' exists at none of the plotted points: nothing to check"
        diff = f"max |diff| {self.max_abs_diff:.1e}"
        where = f"all {checked} points" if checked == self.points else f"the {checked} points"
        if self.checked is not None and checked < self.points:
            where += " where it exists"
        if self.agree:
            return f"✓ plotted f' agrees with autograd at {where} ({diff})"
        return (
            f"✗ plotted f' DISAGREES with autograd at {self.disagreements} of {checked} "
            f"points ({diff})"
        )


@dataclass(frozen=True)
class PlotOnly:
    """``--plot`` without a point to tabulate (``activation NAME --plot``, ``expr F --plot``
    without the variable's value): only the curve."""

    curve: Curve
    command: str

    @property
    def agree(self) -> bool:
        return self.curve.agree
