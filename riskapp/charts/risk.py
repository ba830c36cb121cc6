"""Plotly figures of risk (the register's grid, the portfolio, lineage, model versions), built on the server as
plain JSON; the page only draws them. Every figure's numbers are also shown in a table next to it. Colours:
Okabe-Ito, readable with colour-blindness, and every cell carries its band as text too."""

from typing import Any

from riskapp.bands import Band


def _threats_by_cell(rows: list[Any], stage: str) -> dict[tuple[int, int], list[str]]:
    """(likelihood, impact) → the names of the threats rated there at `stage`; threats not assessed yet have none."""
    cells: dict[tuple[int, int], list[str]] = {}
    for row in rows:
        rating = getattr(row.risk, stage)
        if rating.assessed:
            cells.setdefault((rating.likelihood, rating.impact), []).append(row.threat.name)
    return cells


def risk_heatmap(rows: list[Any], *, stage: str = "current") -> dict[str, Any]:
    """5×5 likelihood × impact grid; each cell lists the threats rated there at `stage` (threats not assessed
    yet have no place on it)."""
    cells = _threats_by_cell(rows, stage)
    ordered_bands = Band.rated()
    z, text, hover = [], [], []
    for likelihood in range(1, 6):
        z_row, text_row, hover_row = [], [], []
        for impact in range(1, 6):
            band = Band.for_score(likelihood * impact)
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
        colourscale += [[index * step, band.colour], [(index + 1) * step, band.colour]]
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
    cells = _threats_by_cell(rows, stage)
    return [
        {"likelihood": l_, "impact": i, "score": l_ * i, "band": Band.for_score(l_ * i), "threats": names}
        for (l_, i), names in sorted(cells.items(), key=lambda item: (-item[0][0] * item[0][1], item[0]))
    ]


def portfolio_bars(rows: list[Any]) -> dict[str, Any]:
    """Projects by residual risk: threats per current band, one stacked bar per project (worst at the top)."""
    names = [row.project.name for row in rows][::-1]
    data = []
    for band, pattern in zip(Band.rated(), ("", ".", "x", "/"), strict=True):
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": band,
                "y": names,
                "x": [row.summary.band_counts.get(band, 0) for row in rows][::-1],
                "marker": {"color": band.colour, "pattern": {"shape": pattern}},
                "hovertemplate": "%{y}: %{x} " + band + "<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": "Projects by residual (current) risk"},
            "barmode": "stack",
            "xaxis": {"title": {"text": "threats"}},
            "yaxis": {"automargin": True},
            "height": max(260, 28 * len(rows) + 120),
            "margin": {"l": 20, "r": 20, "t": 50, "b": 50},
            "legend": {"orientation": "h", "y": -0.15, "traceorder": "normal"},
        },
    }


VERDICT_STYLE = {
    "inherited": ("#D55E00", "solid", "backdoor inherited"),
    "not_inherited": ("#E69F00", "dash", "teacher backdoored, not inherited"),
    "no_teacher_backdoor": ("#0072B2", "solid", "no teacher backdoor"),
    None: ("#999999", "dot", "not tested"),
}


def lineage_graph(summaries: list[Any], edges: list[dict[str, Any]]) -> dict[str, Any]:
    """Teachers on the left, their students to the right; each edge styled and labelled by its lineage verdict."""
    parents = {e["student"].model.pk: e["teacher"].model.pk for e in edges}

    def depth(pk: int, seen: frozenset = frozenset()) -> int:
        parent = parents.get(pk)
        return 0 if parent is None or parent in seen else 1 + depth(parent, seen | {pk})

    columns: dict[int, list[Any]] = {}
    for summary in summaries:
        columns.setdefault(depth(summary.model.pk), []).append(summary)
    position = {}
    for x, column in columns.items():
        for y, summary in enumerate(column):
            position[summary.model.pk] = (x, -y)
    data, annotations = [], []
    for verdict, (colour, dash, label) in VERDICT_STYLE.items():
        xs, ys = [], []
        for edge in (e for e in edges if e["verdict"] == verdict):
            (x0, y0), (x1, y1) = position[edge["teacher"].model.pk], position[edge["student"].model.pk]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
            annotations.append(
                {"x": (x0 + x1) / 2, "y": (y0 + y1) / 2, "text": label, "showarrow": False, "bgcolor": "#ffffff"}
            )
        if xs:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": xs,
                    "y": ys,
                    "name": label,
                    "line": {"color": colour, "dash": dash, "width": 3},
                    "hoverinfo": "skip",
                }
            )
    data.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "x": [position[s.model.pk][0] for s in summaries],
            "y": [position[s.model.pk][1] for s in summaries],
            "text": [f"{s.label}<br>({s.model.role})" for s in summaries],
            "textposition": "top center",
            "marker": {
                "size": 18,
                "color": "#000000",
                "symbol": ["diamond" if s.model.role == "teacher" else "circle" for s in summaries],
            },
            "name": "models",
            "hoverinfo": "text",
        }
    )
    rows = max((len(c) for c in columns.values()), default=1)
    return {
        "data": data,
        "layout": {
            "title": {"text": "Lineage: teacher → students"},
            "xaxis": {"visible": False, "range": [-0.5, max(columns, default=0) + 0.5]},
            "yaxis": {"visible": False, "range": [-rows + 0.3, 0.7]},
            "annotations": annotations,
            "height": max(260, 110 * rows + 80),
            "margin": {"l": 20, "r": 20, "t": 50, "b": 20},
            "legend": {"orientation": "h"},
        },
    }


def version_trend(chains: list[list[Any]]) -> dict[str, Any]:
    """Worst trustworthy robust accuracy per model version, one line per version chain; versions where a
    backdoor scan flagged a class are marked with a large ✕ (shape and label, not colour alone).

    A version whose robustness was not measured has no point (a gap in its line, never a 0); if its scan flagged
    a backdoor, the ✕ stands at the top of the chart with a label saying robustness was not measured."""
    palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000"]
    data: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, chain in enumerate(chains):
        colour = palette[i % len(palette)]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": chain[0].model.name,
                "x": [f"{s.model.name} v{s.model.version}" for s in chain],
                "y": [s.worst_robust_accuracy for s in chain],
                "line": {"color": colour},
                "marker": {"size": 9},
            }
        )
        flagged = [s for s in chain if s.backdoor is not None and s.backdoor.result.get("flagged_classes")]
        annotations += [
            {
                "x": f"{s.model.name} v{s.model.version}",
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "text": "✕ backdoor (robustness not measured)",
                "showarrow": False,
                "font": {"color": "#D55E00"},
            }
            for s in flagged
            if s.worst_robust_accuracy is None
        ]
        flagged = [s for s in flagged if s.worst_robust_accuracy is not None]
        if flagged:
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "name": f"{chain[0].model.name}: backdoor flagged",
                    "x": [f"{s.model.name} v{s.model.version}" for s in flagged],
                    "y": [s.worst_robust_accuracy for s in flagged],
                    "text": ["backdoor"] * len(flagged),
                    "textposition": "top center",
                    "marker": {"symbol": "x", "size": 16, "color": "#D55E00"},
                }
            )
    return {
        "data": data,
        "layout": {
            "title": {"text": "Robust accuracy across model versions"},
            "xaxis": {"title": {"text": "version"}, "type": "category"},
            "yaxis": {"title": {"text": "worst robust accuracy"}, "range": [0, 1.05]},
            "annotations": annotations,
            "height": 380,
            "margin": {"l": 60, "r": 20, "t": 50, "b": 80},
            "legend": {"orientation": "h", "y": -0.3},
        },
    }
