"""Server-built Plotly figures drawn as static SVG, for the PDF report (WeasyPrint runs no scripts).

A small drawer for the report's own charts, not a Plotly renderer: heatmaps (the risk grid, a confusion matrix)
and line charts (robustness curves), from the same figure JSON the pages draw with plotly.js. Every text is
escaped; the SVG fetches nothing.
"""

import re
from html import escape
from typing import Any

FONT = 'font-family="DejaVu Sans, sans-serif"'


def _text(value: Any) -> str:
    """A Plotly label as plain text: its <br> become spaces, other tags go."""
    return escape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", " ", str(value))))


def _hex(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def _colour_at(scale: list, t: float) -> str:
    """The colour of a Plotly colourscale ([[position, "#rrggbb"], ...]) at t in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    for (p0, c0), (p1, c1) in zip(scale, scale[1:], strict=False):
        if p0 <= t <= p1:
            share = 0.0 if p1 == p0 else (t - p0) / (p1 - p0)
            rgb = [round(a + (b - a) * share) for a, b in zip(_hex(c0), _hex(c1), strict=True)]
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return scale[-1][1]


def _title(layout: dict, key: str) -> str:
    part = layout.get(key) or {}
    title = part.get("title") if key != "title" else part
    return _text(title.get("text", "")) if isinstance(title, dict) else _text(title or "")


def _heatmap(trace: dict, layout: dict, width: int) -> str:
    z = trace["z"]
    rows, cols = len(z), len(z[0]) if z else 0
    flat = [v for row in z for v in row]
    low, high = trace.get("zmin", min(flat, default=0)), trace.get("zmax", max(flat, default=1))
    left, top, bottom = 90, 30, 40
    cell_w = (width - left - 10) / max(cols, 1)
    cell_h = min(cell_w, 48)
    height = top + rows * cell_h + bottom
    reversed_y = (layout.get("yaxis") or {}).get("autorange") == "reversed"
    texts = trace.get("text") or [[str(v) for v in row] for row in z]
    parts = []
    for r in range(rows):
        y = top + (r if reversed_y else rows - 1 - r) * cell_h
        parts.append(
            f'<text x="{left - 6}" y="{y + cell_h / 2 + 3:.1f}" text-anchor="end" font-size="9">'
            f"{_text(trace['y'][r])}</text>"
        )
        for c in range(cols):
            x = left + c * cell_w
            t = 0.0 if high == low else (z[r][c] - low) / (high - low)
            fill = _colour_at(trace.get("colorscale") or [[0, "#ffffff"], [1, "#0072b2"]], t)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell_w - 1:.1f}" height="{cell_h - 1:.1f}" fill="{fill}" '
                f'stroke="#ffffff"/><text x="{x + cell_w / 2:.1f}" y="{y + cell_h / 2 + 3:.1f}" '
                f'text-anchor="middle" font-size="8">{_text(texts[r][c])}</text>'
            )
    for c in range(cols):
        parts.append(
            f'<text x="{left + (c + 0.5) * cell_w:.1f}" y="{top + rows * cell_h + 12:.1f}" text-anchor="middle" '
            f'font-size="9">{_text(trace["x"][c])}</text>'
        )
    middle = top + rows * cell_h / 2
    parts.append(
        f'<text x="{left + (width - left) / 2:.1f}" y="{height - 8:.1f}" text-anchor="middle" font-size="9">'
        f"{_title(layout, 'xaxis')}</text>"
        f'<text x="12" y="{middle:.1f}" font-size="9" transform="rotate(-90 12 {middle:.1f})" '
        f'text-anchor="middle">{_title(layout, "yaxis")}</text>'
    )
    return _svg(width, height, layout, parts)


def _lines(traces: list[dict], layout: dict, width: int) -> str:
    height, left, right, top, bottom = 260, 50, 10, 30, 60
    xs = [x for t in traces for x in t["x"]]
    y_range = (layout.get("yaxis") or {}).get("range") or [0, max((y for t in traces for y in t["y"]), default=1)]
    x0, x1 = min(xs, default=0), max(xs, default=1)
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return top + (1 - (y - y_range[0]) / (y_range[1] - y_range[0])) * (height - top - bottom)

    parts = [
        f'<line x1="{left}" y1="{py(y_range[0]):.1f}" x2="{width - right}" y2="{py(y_range[0]):.1f}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{py(y_range[0]):.1f}" stroke="#333"/>',
    ]
    for i in range(5):
        y = y_range[0] + (y_range[1] - y_range[0]) * i / 4
        x = x0 + (x1 - x0) * i / 4
        parts.append(f'<text x="{left - 4}" y="{py(y) + 3:.1f}" text-anchor="end" font-size="8">{y:.2g}</text>')
        parts.append(
            f'<text x="{px(x):.1f}" y="{py(y_range[0]) + 11:.1f}" text-anchor="middle" font-size="8">{x:.3g}</text>'
        )
    dashes = {"dash": "6 3", "dot": "2 2", "dashdot": "6 2 2 2", "longdash": "10 3", "longdashdot": "10 3 2 3"}
    for i, trace in enumerate(traces):
        line = trace.get("line") or {}
        colour, dash = escape(line.get("color", "#0072b2")), dashes.get(line.get("dash", "solid"), "")
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(trace["x"], trace["y"], strict=False))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{line.get("width", 2)}"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
        )
        parts += [
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>'
            for x, y in zip(trace["x"], trace["y"], strict=False)
        ]
        legend_y = height - 28 + 11 * (i // 2)
        legend_x = left + (i % 2) * (width - left) / 2
        parts.append(
            f'<line x1="{legend_x:.1f}" y1="{legend_y - 3}" x2="{legend_x + 18:.1f}" y2="{legend_y - 3}" '
            f'stroke="{colour}" stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
            f'<text x="{legend_x + 22:.1f}" y="{legend_y}" font-size="8">{_text(trace.get("name", ""))}</text>'
        )
    parts.append(
        f'<text x="{left + (width - left) / 2:.1f}" y="{py(y_range[0]) + 24:.1f}" text-anchor="middle" '
        f'font-size="9">{_title(layout, "xaxis")}</text>'
    )
    return _svg(width, height + 11 * (len(traces) // 2), layout, parts)


def _svg(width: int, height: float, layout: dict, parts: list[str]) -> str:
    title = _title(layout, "title")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" role="img" aria-label="{title}" {FONT}>'
        f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="11" font-weight="bold">{title}</text>'
        + "".join(parts)
        + "</svg>"
    )


def figure_svg(figure: dict[str, Any], *, width: int = 480) -> str:
    """A server-built Plotly figure (a heatmap, or scatter lines) as an SVG document string."""
    traces, layout = figure.get("data") or [], figure.get("layout") or {}
    if traces and traces[0].get("type") == "heatmap":
        return _heatmap(traces[0], layout, width)
    return _lines([t for t in traces if t.get("type") == "scatter"], layout, width)
