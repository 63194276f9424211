"""Usage history as an SVG bar chart drawn on the router.

No chart library: the page must work offline, weigh little, and render on
any phone; a few rectangles in a viewBox scale to any width by themselves.
Colours come from the stylesheet (classes), so the strict CSP holds.
"""

from __future__ import annotations

from typing import Callable

from markupsafe import Markup, escape

from routerguard.units import format_size

WIDTH, HEIGHT = 640, 240
BOTTOM, TOP = 30, 24  # room for the time labels below and the top size label above
GRID = (0.0, 0.5, 1.0)
LABELS_SHOWN = 6  # about this many time labels, whatever the number of bars: they must fit a phone
LABEL_HALF_WIDTH = 32  # about half of "08:00" at the phone's font size


def bar_chart(points: list[dict], label: Callable[[str], str], title: str) -> Markup:
    """Stacked down (below) and up (above) bars of `points` ({"time", "up_bytes", "down_bytes"})."""
    plot_h = HEIGHT - BOTTOM - TOP
    base = TOP + plot_h
    peak = max((p["up_bytes"] + p["down_bytes"] for p in points), default=0) or 1
    slot = WIDTH / max(len(points), 1)
    every = max(1, round(len(points) / LABELS_SHOWN))
    grid, bars, labels = [], [], []
    for fraction in GRID:
        y = TOP + plot_h * (1 - fraction)
        grid.append(f'<line class="grid" x1="0" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}"/>')
        if fraction:  # a size sits just above its line, drawn over the bars: the plot keeps its whole width
            labels.append(f'<text class="axis" x="2" y="{y - 5:.1f}">{format_size(int(peak * fraction))}</text>')
    for i, point in enumerate(points):
        x, when = i * slot, label(point["time"])
        down_h, up_h = plot_h * point["down_bytes"] / peak, plot_h * point["up_bytes"] / peak
        width = max(slot - 2, 1)
        tip = escape(f"{when}: ↓ {format_size(point['down_bytes'])} ↑ {format_size(point['up_bytes'])}")
        bars.append(f'<g><title>{tip}</title>'
                    f'<rect class="down" x="{x + 1:.1f}" y="{base - down_h:.1f}" width="{width:.1f}" height="{down_h:.1f}"/>'
                    f'<rect class="up" x="{x + 1:.1f}" y="{base - down_h - up_h:.1f}" width="{width:.1f}" height="{up_h:.1f}"/>'
                    f'<rect class="hit" x="{x:.1f}" y="{TOP}" width="{slot:.1f}" height="{plot_h}"/></g>')
        if (len(points) - 1 - i) % every == 0:  # counted from the newest bar, which always has its label
            labels.append(_time_label(x + slot / 2, when))
    return Markup(f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
                  + "".join(grid + bars + labels) + "</svg>")


def _time_label(middle: float, text: str) -> str:
    """A time under its bar; at the chart's edges aligned to the edge, so that it stays whole."""
    x, anchor = (0.0, "start") if middle < LABEL_HALF_WIDTH else \
        (float(WIDTH), "end") if middle > WIDTH - LABEL_HALF_WIDTH else (middle, "middle")
    return f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{escape(text)}</text>'
