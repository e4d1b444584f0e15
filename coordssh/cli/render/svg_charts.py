"""Small inline SVG charts for the HTML report: stacked vertical bars and horizontal bars.

Our own code, no library and no script: each function returns one `<svg>` element as text.
Every label is escaped (issue titles, model and machine names are data, never markup). Bars
are whole-pixel rectangles drawn with crispEdges, so their colours are exact on screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

WIDTH = 1000
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
AXIS = "#555555"
GRID = "#e5e5e5"
LABEL_W = 84         # pixels one label under a bar may take (a date, or 14 characters)

Fmt = Callable[[float], str]


def _text(x: float, y: float, label: str, *, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}" {FONT} fill="#222"{extra}>'
            f"{escape(label)}</text>")


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str) -> str:
    return (f'<rect x="{round(x)}" y="{round(y)}" width="{max(1, round(w))}" '
            f'height="{max(1, round(h))}" fill="{color}" shape-rendering="crispEdges">'
            f"<title>{escape(tip)}</title></rect>")


def nice_max(value: float, *, counts: bool = False) -> float:
    """A round top for an axis at or above `value` (1, 2, 2.5 or 5 times a power of ten); for
    counts a multiple of 4, so the quarter lines fall on whole numbers."""
    if counts:
        return float(max(4, math.ceil(value / 4) * 4))
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(f * magnitude for f in (1, 2, 2.5, 5, 10) if f * magnitude >= value)


def stacked_bars(title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]],
                 colors: Mapping[str, str], fmt: Fmt, *, height: int = 320,
                 css_class: str = "chart", counts: bool = False) -> str:
    """One bar per category, stacked by series (each series: one value per category)."""
    left, right, top, bottom = 70, 20, 34, 70
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    totals = [sum(s[i] for s in series.values()) for i in range(len(categories))]
    top_value = nice_max(max(totals, default=0), counts=counts)
    parts = [f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
             f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(title)}">', _text(left, 20, title, extra=' font-weight="bold"')]
    for n in range(5):  # grid lines and the value axis
        y = top + plot_h - plot_h * n / 4
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.0f}" y2="{y:.0f}" '
                     f'stroke="{GRID}" shape-rendering="crispEdges"/>')
        parts.append(_text(left - 6, y + 4, fmt(top_value * n / 4), anchor="end"))
    slot = plot_w / max(1, len(categories))
    bar_w = max(2, min(80, slot * 0.7))
    every = max(1, math.ceil(LABEL_W / slot))  # labels that do not run into each other
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        for name, values in series.items():
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            parts.append(_rect(x, base - h, bar_w, h, colors[name],
                               f"{category} · {name}: {fmt(value)}"))
            base -= h
        if i % every == 0:
            parts.append(_text(x + bar_w / 2, top + plot_h + 16, _short(category, 14),
                               anchor="middle"))
    parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}" stroke="{AXIS}" shape-rendering="crispEdges"/>')
    parts.append(_legend(list(series), colors, height - 22, left))
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(title: str, labels: Sequence[str], values: Sequence[float],
                    colors: Sequence[str], fmt: Fmt, *, css_class: str = "chart") -> str:
    """One horizontal bar per label (values >= 0), the value written at its end."""
    left, right, top, row = 260, 90, 34, 22
    height = top + row * max(1, len(labels)) + 16
    plot_w = WIDTH - left - right
    top_value = nice_max(max(values, default=0))
    parts = [f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
             f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(title)}">', _text(10, 20, title, extra=' font-weight="bold"')]
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + row * i
        parts.append(_text(left - 8, y + 15, _short(label, 34), anchor="end"))
        w = plot_w * value / top_value
        parts.append(_rect(left, y + 3, w, row - 6, colors[i], f"{label}: {fmt(value)}"))
        parts.append(_text(left + max(1, round(w)) + 6, y + 15, fmt(value)))
    if not labels:
        parts.append(_text(left, top + 15, "nothing yet"))
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: Sequence[str], colors: Mapping[str, str], y: int, x: int) -> str:
    parts = []
    for name in names:
        parts.append(_rect(x, y - 10, 12, 12, colors[name], name))
        label = _short(name, 24)
        parts.append(_text(x + 16, y, label))
        x += 16 + 7 * len(label) + 18
        if x > WIDTH - 120:
            break
    return "".join(parts)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
