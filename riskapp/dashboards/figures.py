"""Plotly figures built on the server as plain JSON; the page only draws them. Every figure's numbers
are also shown in a table next to it. Colours: Okabe-Ito, readable with colour-blindness, and every
cell carries its band as text too."""

from typing import Any

BAND_COLOURS = {"low": "#56B4E9", "medium": "#F0E442", "high": "#E69F00", "critical": "#D55E00"}


def band_for_score(score: int) -> str:
    from riskapp.assessments.scoring import band_for

    return band_for(score)


def risk_heatmap(rows: list[Any], *, stage: str = "current") -> dict[str, Any]:
    """5×5 likelihood × impact grid; each cell lists the threats rated there at `stage`."""
    cells: dict[tuple[int, int], list[str]] = {}
    for row in rows:
        rating = getattr(row.risk, stage)
        cells.setdefault((rating.likelihood, rating.impact), []).append(row.threat.name)
    ordered_bands = list(BAND_COLOURS)
    z, text, hover = [], [], []
    for likelihood in range(1, 6):
        z_row, text_row, hover_row = [], [], []
        for impact in range(1, 6):
            band = band_for_score(likelihood * impact)
            names = cells.get((likelihood, impact), [])
            z_row.append(ordered_bands.index(band))
            text_row.append(f"{band}<br><b>{len(names)}</b>" if names else band)
            hover_row.append("<br>".join(names) or "no threat")
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    step = 1 / len(ordered_bands)
    colourscale = []
    for index, band in enumerate(ordered_bands):
        colourscale += [[index * step, BAND_COLOURS[band]], [(index + 1) * step, BAND_COLOURS[band]]]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": [1, 2, 3, 4, 5],
                "y": [1, 2, 3, 4, 5],
                "z": z,
                "zmin": -0.5,
                "zmax": 3.5,
                "text": text,
                "texttemplate": "%{text}",
                "customdata": hover,
                "hovertemplate": "likelihood %{y} × impact %{x}<br>%{customdata}<extra></extra>",
                "colorscale": colourscale,
                "showscale": False,
                "xgap": 2,
                "ygap": 2,
            }
        ],
        "layout": {
            "title": {"text": f"Risks by likelihood × impact ({stage})"},
            "xaxis": {"title": {"text": "impact"}, "dtick": 1},
            "yaxis": {"title": {"text": "likelihood"}, "dtick": 1},
            "height": 420,
            "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        },
    }


def heatmap_cells(rows: list[Any], *, stage: str = "current") -> list[dict[str, Any]]:
    """The heatmap's numbers as table rows: each occupied cell with its threats."""
    cells: dict[tuple[int, int], list[str]] = {}
    for row in rows:
        rating = getattr(row.risk, stage)
        cells.setdefault((rating.likelihood, rating.impact), []).append(row.threat.name)
    return [
        {"likelihood": l_, "impact": i, "score": l_ * i, "band": band_for_score(l_ * i), "threats": names}
        for (l_, i), names in sorted(cells.items(), key=lambda item: (-item[0][0] * item[0][1], item[0]))
    ]
