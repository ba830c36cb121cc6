"""The SVG drawer of the PDF report's charts: the same figure JSON the pages draw, as static SVG with every text
escaped."""

import re

from riskapp.charts.svg import figure_svg


def test_the_svg_drawer_draws_lines_and_escapes_every_text():
    figure = {
        "data": [
            {
                "type": "scatter",
                "name": "student <b>v1</b> & co",
                "x": [0, 0.01, 0.03],
                "y": [0.9, 0.6, 0.2],
                "line": {"color": "#0072B2", "dash": "dash"},
            },
        ],
        "layout": {
            "title": {"text": "Robust accuracy over ε"},
            "xaxis": {"title": {"text": "ε (L∞)"}},
            "yaxis": {"range": [0, 1.05]},
        },
    }
    svg = figure_svg(figure, width=400)
    assert svg.startswith("<svg") and svg.count("<circle") == 3 and 'stroke-dasharray="6 3"' in svg
    assert "student v1 &amp; co" in svg and "<b>" not in svg
    points = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3 and float(points[0].split(",")[1]) < float(points[2].split(",")[1])  # falls over ε
