"""Level curves of a function sampled on a grid (marching squares), for the path plot of
``optim --expr … --plot``. Plain Python on lists of floats: no torch, no terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence

Segment = tuple[float, float, float, float]  # x0, y0, x1, y1

# the grid's values at these quantiles become the levels: denser towards the minimum
LEVEL_QUANTILES = (0.03, 0.1, 0.22, 0.4, 0.65)


def levels_for(values: Sequence[float]) -> list[float]:
    """Contour levels from the grid's finite values: quantiles, dense near the minimum."""
    finite = sorted(v for v in values if math.isfinite(v))
    if len(finite) < 2 or finite[0] == finite[-1]:
        return []
    chosen: list[float] = []
    for q in LEVEL_QUANTILES:
        level = finite[min(len(finite) - 1, int(q * (len(finite) - 1)))]
        if not chosen or level > chosen[-1]:
            chosen.append(level)
    return chosen


def contour_segments(
    xs: Sequence[float], ys: Sequence[float], grid: Sequence[Sequence[float]], level: float
) -> list[Segment]:
    """The segments of the curve f = level; ``grid[j][i]`` is f(xs[i], ys[j]). Cells with a
    non-finite corner are left out; a saddle cell is split by its centre's side."""
    segments = []
    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            corners = (
                (xs[i], ys[j], grid[j][i]),
                (xs[i + 1], ys[j], grid[j][i + 1]),
                (xs[i + 1], ys[j + 1], grid[j + 1][i + 1]),
                (xs[i], ys[j + 1], grid[j + 1][i]),
            )
            segments += _cell(corners, level)
    return segments


def _cell(corners: tuple[tuple[float, float, float], ...], level: float) -> list[Segment]:
    values = [c[2] for c in corners]
    if not all(math.isfinite(v) for v in values):
        return []
    above = [v > level for v in values]
    if all(above) or not any(above):
        return []
    # edge k joins corner k and corner k + 1 (bottom, right, top, left)
    points: dict[int, tuple[float, float]] = {}
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        if above[k] != above[(k + 1) % 4]:
            t = (level - a[2]) / (b[2] - a[2])
            points[k] = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    if len(points) == 2:
        (p, q) = points.values()
        pairs = [(p, q)]
    else:
        centre = sum(values) / 4 > level  # a saddle: cut off the corners on the other side
        pairs = [(points[(k - 1) % 4], points[k]) for k in range(4) if above[k] != centre]
    # a curve through a grid point meets it in two cells; the others give a point, no line
    return [(p[0], p[1], q[0], q[1]) for p, q in pairs if _key(*p) != _key(*q)]


def _key(x: float, y: float) -> tuple[float, float]:
    """A point as neighbouring cells compute it (their last bits may differ)."""
    return (round(x, 9), round(y, 9))


def plot_box(
    xs: Sequence[float], ys: Sequence[float], margin: float = 0.15
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A rectangle around a path: its bounding box widened by ``margin`` of the larger span
    each side (a path along one axis still gets some width across it)."""
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span = max(x1 - x0, y1 - y0)
    scale = max(abs(x0), abs(x1), abs(y0), abs(y1), 1.0)
    pad = max(margin * span, 1e-3 * scale)
    return (x0 - pad, x1 + pad), (y0 - pad, y1 + pad)


def linspace(low: float, high: float, count: int) -> list[float]:
    return [low + (high - low) * k / (count - 1) for k in range(count)]


def polylines(segments: Sequence[Segment]) -> list[list[tuple[float, float]]]:
    """The segments joined end to end into curves (neighbouring cells share their edge
    points), so that a curve is drawn as one line rather than as pieces."""
    key = _key
    ends: dict[tuple[float, float], list[int]] = {}
    for index, (x0, y0, x1, y1) in enumerate(segments):
        ends.setdefault(key(x0, y0), []).append(index)
        ends.setdefault(key(x1, y1), []).append(index)
    used = [False] * len(segments)
    curves = []
    for start in range(len(segments)):
        if used[start]:
            continue
        used[start] = True
        x0, y0, x1, y1 = segments[start]
        curve = [(x0, y0), (x1, y1)]
        for forward in (True, False):
            while True:
                x, y = curve[-1] if forward else curve[0]
                nxt = next((i for i in ends.get(key(x, y), []) if not used[i]), None)
                if nxt is None:
                    break
                used[nxt] = True
                a0, b0, a1, b1 = segments[nxt]
                point = (a1, b1) if key(a0, b0) == key(x, y) else (a0, b0)
                if forward:
                    curve.append(point)
                else:
                    curve.insert(0, point)
        curves.append(curve)
    return curves
