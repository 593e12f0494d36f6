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

    @property
    def points(self) -> int:
        return len(self.x)

    def check_line(self) -> str:
        """One sentence: what the plotted f′ was checked against."""
        diff = f"max |diff| {self.max_abs_diff:.1e}"
        if self.agree:
            return f"✓ plotted f' agrees with autograd at all {self.points} points ({diff})"
        return (
            f"✗ plotted f' DISAGREES with autograd at {self.disagreements} of {self.points} "
            f"points ({diff})"
        )
