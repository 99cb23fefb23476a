"""Charts as inline SVG made on the server: the CSP allows no script or inline style, and print needs no JS."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from xml.sax.saxutils import escape

from markupsafe import Markup

from signage_server.reports.formatting import number

# The report's font (the PDF embeds it from its font package; browsers fall back to a sans-serif).
FONT = "Be Vietnam Pro, sans-serif"
PALETTE = ("#b71c1c", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f")


def bar_chart(rows: Sequence[tuple[str, float]], *, title: str, unit: str, width: int = 640,
              text: Callable[[float], str] | None = None) -> Markup:
    """Horizontal bars, one per label, value printed at the bar's end (by `text`, else number and unit)."""
    bar, gap, left = 22, 8, 230
    height = max(1, len(rows)) * (bar + gap) + 40
    peak = max((v for _l, v in rows), default=0.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-family="{FONT}"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    span = width - left - 90
    for i, (label, value) in enumerate(rows):
        y = 30 + i * (bar + gap)
        w = max(0.0, span * value / peak)
        parts.append(f'<text x="{left - 6}" y="{y + 16}" font-size="12" text-anchor="end">{escape(label if len(label) <= 36 else label[:35] + "…")}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 16}" font-size="12">{escape(text(value) if text else f"{number(value, 1)} {unit}")}</text>')
    if not rows:
        parts.append('<text x="0" y="46" font-size="12">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text piece above is escaped


def line_chart(points: Sequence[tuple[date, float | None]], *, title: str, width: int = 640,
               height: int = 220) -> Markup:
    """Percent per day (0-100), gaps where a day had no on-hours or lies in the future."""
    left, top, bottom = 40, 28, 24
    plot_w, plot_h = width - left - 10, height - top - bottom
    n = max(1, len(points) - 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" font-family="{FONT}"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#bbb"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{pct}%</text>')
    run: list[str] = []
    runs: list[list[str]] = []
    for i, (_day, value) in enumerate(points):
        if value is None:
            if run:
                runs.append(run)
            run = []
            continue
        run.append(f"{left + plot_w * i / n:.1f},{top + plot_h * (1 - value / 100):.1f}")
    if run:
        runs.append(run)
    for r in runs:
        if len(r) == 1:
            cx, cy = r[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{PALETTE[1]}"/>')
        else:
            parts.append(f'<polyline fill="none" stroke="{PALETTE[1]}" stroke-width="2" points="{" ".join(r)}"/>')
    if points:
        parts.append(f'<text x="{left}" y="{height - 6}" font-size="11">{points[0][0].strftime("%d/%m/%Y")}</text>')
        parts.append(f'<text x="{left + plot_w}" y="{height - 6}" font-size="11" text-anchor="end">'
                     f'{points[-1][0].strftime("%d/%m/%Y")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only
