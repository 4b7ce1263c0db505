"""The 30-day chart, drawn on the server as SVG markup: no script, no font, no fetch.

Two bars a day, missed calls and texts sent, scaled to the busiest day. Each bar carries
a `<title>`, which browsers show on hover, so exact numbers need no script either. The
markup is built from numbers and dates only, so nothing in it needs escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

__all__ = ["svg_chart"]

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 32, 22, 10


def svg_chart(days: Sequence[tuple[date, int, int]]) -> str:
    """`[(day, missed, sent), …]` → an `<svg>` element with two bars per day."""
    peak = max([1, *(max(missed, sent) for _, missed, sent in days)])
    slot = (WIDTH - LEFT) / max(len(days), 1)
    parts = [_frame(peak)]
    for index, (day, missed, sent) in enumerate(days):
        x = LEFT + index * slot
        parts.append(_bar(x + 1, slot / 2 - 1, missed, peak, "missed", f"{day}: {missed} missed"))
        parts.append(_bar(x + slot / 2, slot / 2 - 1, sent, peak, "sent", f"{day}: {sent} sent"))
        if index == len(days) - 1:
            parts.append(_label(WIDTH - 2, HEIGHT - 6, day.strftime("%d %b"), "end"))
        elif index % 5 == 0 and index < len(days) - 3:
            parts.append(_label(x + slot / 2, HEIGHT - 6, day.strftime("%d %b")))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="Missed calls and texts sent per day, last {len(days)} days" '
        f'class="chart">{"".join(parts)}</svg>'
    )


def _frame(peak: int) -> str:
    base = HEIGHT - BOTTOM
    return (
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" class="axis"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}" class="grid"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" class="tick">{peak}</text>'
        f'<text x="{LEFT - 4}" y="{base}" text-anchor="end" class="tick">0</text>'
    )


def _bar(x: float, width: float, value: int, peak: int, kind: str, title: str) -> str:
    height = (HEIGHT - BOTTOM - TOP) * value / peak
    y = HEIGHT - BOTTOM - height
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 1):.1f}" height="{height:.1f}" '
        f'class="{kind}" data-value="{value}"><title>{title}</title></rect>'
    )


def _label(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y}" text-anchor="{anchor}" class="tick">{text}</text>'
