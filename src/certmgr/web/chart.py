"""The dashboard's expiry timeline drawn as inline SVG on the server: bars with SVG
presentation attributes and classes of the vendored stylesheet (the CSP allows no
inline script and no style attributes), a title and description for assistive
technology, and a table beside it with the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from certmgr.app.dashboard import TimelineBucket

__all__ = ["Bar", "Chart", "timeline_chart"]

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 36
MIN_TICK_GAP = 26  # px between the centres of two x-axis labels, so they never overlap


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    axis_y: float
    peak: int
    total: int


def timeline_chart(buckets: Sequence[TimelineBucket]) -> Chart:
    """Bars for ``buckets`` (expired, weeks..., later), scaled to the largest."""
    peak = max((b.count for b in buckets), default=0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(buckets))
    bars: list[Bar] = []
    x_ticks: list[Tick] = []
    for i, b in enumerate(buckets):
        h = 0.0 if not peak else plot_h * b.count / peak
        if b.count and h < 1:
            h = 1.0  # a non-empty week stays visible
        css = ("bar bar-expired" if b.start is None else
               "bar bar-later" if b.end is None else "bar")
        when = (f"already expired: {b.count}" if b.start is None else
                f"later than {b.start:%Y-%m-%d}: {b.count}" if b.end is None else
                f"week from {b.label}: {b.count}")
        x = LEFT + i * step
        bars.append(Bar(round(x + 1, 1), round(TOP + plot_h - h, 1), round(step - 2, 1),
                        round(h, 1), css, when))
        text = ("exp." if b.start is None else "later" if b.end is None else
                f"{b.start:%b}" if b.start.day <= 7 else None)  # the first week of a month
        centre = round(x + step / 2, 1)
        if text is not None and (not x_ticks or centre - x_ticks[-1].x >= MIN_TICK_GAP
                                 or b.end is None):
            if x_ticks and centre - x_ticks[-1].x < MIN_TICK_GAP:
                x_ticks.pop()  # "later" wins over a month label it would overlap
            x_ticks.append(Tick(centre, HEIGHT - BOTTOM + 14, text))
    # 0, the middle (when it is a whole number of its own) and the peak
    values = sorted({0, peak // 2, peak}) if peak else []
    y_ticks = tuple(Tick(LEFT - 4, round(TOP + plot_h - plot_h * v / peak, 1) + 4, str(v))
                    for v in values)
    return Chart(WIDTH, HEIGHT, tuple(bars), tuple(x_ticks), y_ticks, TOP + plot_h, peak,
                 sum(b.count for b in buckets))
