"""Usage history as an SVG bar chart drawn on the router.

No chart library: the page must work offline, weigh little, and render on
any phone; a few rectangles in a viewBox scale to any width by themselves.
Colours come from the stylesheet (classes), so the strict CSP holds.
"""

from __future__ import annotations

from typing import Callable

from markupsafe import Markup, escape

from routerguard.units import format_size

WIDTH, HEIGHT = 640, 200
LEFT, BOTTOM, TOP = 64, 22, 10  # room for the size labels, the time labels, the top label
GRID = (0.0, 0.5, 1.0)
LABELS_SHOWN = 8  # about this many time labels, whatever the number of bars


def bar_chart(points: list[dict], label: Callable[[str], str], title: str) -> Markup:
    """Stacked down (below) and up (above) bars of `points` ({"time", "up_bytes", "down_bytes"})."""
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    peak = max((p["up_bytes"] + p["down_bytes"] for p in points), default=0) or 1
    slot = plot_w / max(len(points), 1)
    every = max(1, round(len(points) / LABELS_SHOWN))
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">']
    for fraction in GRID:
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{format_size(int(peak * fraction))}</text>')
    for i, point in enumerate(points):
        x, when = LEFT + i * slot, label(point["time"])
        down_h = plot_h * point["down_bytes"] / peak
        up_h = plot_h * point["up_bytes"] / peak
        base = TOP + plot_h
        tip = escape(f"{when}: ↓ {format_size(point['down_bytes'])} ↑ {format_size(point['up_bytes'])}")
        parts.append(f'<g><title>{tip}</title>'
                     f'<rect class="down" x="{x + 1:.1f}" y="{base - down_h:.1f}" width="{max(slot - 2, 1):.1f}" height="{down_h:.1f}"/>'
                     f'<rect class="up" x="{x + 1:.1f}" y="{base - down_h - up_h:.1f}" width="{max(slot - 2, 1):.1f}" height="{up_h:.1f}"/>'
                     f'<rect class="hit" x="{x:.1f}" y="{TOP}" width="{slot:.1f}" height="{plot_h}"/></g>')
        if i % every == 0:
            parts.append(f'<text class="axis" x="{x + slot / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(when)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
