"""Plotly figures of the privacy tests (membership inference, model extraction), built on the server as plain JSON.

Same conventions as charts/evaluations.py: Okabe-Ito colours, lines told apart by dash and marker as well as
colour, and every figure's numbers also in a table on the page.
"""

from typing import Any

from attacks.stats import wilson_interval
from riskapp.charts.evaluations import DASHES, MARKERS, PALETTE, chart_layout, reference_line

LEVEL_COLOUR = "#D55E00"


def membership_roc(result: dict[str, Any]) -> dict[str, Any]:
    """The attack's ROC on log-log axes (how many members it finds at each false-positive rate) with the chance
    line TPR = FPR and, at each FPR level the engine reports (1 %, 0.1 %), a dotted line and the measured TPR with
    its bootstrap interval. A level the engine could not report keeps its line, labelled as such. A TPR of 0
    cannot be drawn on a log axis: those points are left out of the curve (the table lists them)."""
    roc = result.get("roc") or {"fpr": [], "tpr": []}
    points = [(f, t) for f, t in zip(roc["fpr"], roc["tpr"], strict=True) if f > 0 and t > 0]
    low = min(roc["fpr"], default=1e-3)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "chance (TPR = FPR)",
            "x": [low, 1.0],
            "y": [low, 1.0],
            "line": {"color": "#000000", "dash": "dash", "width": 1},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"attack (AUC {result['auc']['value']:.3f})" if result.get("auc") else "attack",
            "x": [f for f, _ in points],
            "y": [t for _, t in points],
            "line": {"color": PALETTE[0], "width": 3},
        },
    ]
    shapes, notes = [], []
    reported = [e for e in result.get("tpr_at_fpr", []) if e.get("reportable") and e.get("tpr")]
    for entry in result.get("tpr_at_fpr", []):
        shape, note = reference_line(
            entry["fpr"],
            f"{entry['fpr']:.1%} FPR" + ("" if entry.get("reportable") else " (too few non-members)"),
            vertical=True,
            width=1,
            dash="dot",
            note={"yanchor": "top"},
        )
        shapes.append(shape)
        notes.append(note)
    if reported:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "TPR at the reported FPR (95% interval)",
                "x": [e["fpr"] for e in reported],
                "y": [e["tpr"] for e in reported],
                "marker": {"color": LEVEL_COLOUR, "symbol": "diamond", "size": 11},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [e["ci"][1] - e["tpr"] for e in reported],
                    "arrayminus": [e["tpr"] - max(e["ci"][0], 0.0) for e in reported],
                },
            }
        )
    layout = chart_layout(
        "Members found against false alarms (ROC, log-log)",
        "false-positive rate (non-members flagged)",
        "true-positive rate (members found)",
        xaxis={"type": "log"},
        yaxis={"type": "log"},
    )
    return {"data": data, "layout": layout | {"shapes": shapes, "annotations": notes}}


def budget_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each budget's agreement and accuracy with their 95 % Wilson intervals over the evaluation set."""
    count = ((result.get("data") or {}).get("evaluation") or {}).get("samples") or 0
    rows = []
    for row in result.get("budgets", []):
        entry = dict(row)
        for key in ("agreement", "accuracy"):
            value = row.get(key)
            entry[f"{key}_ci"] = (
                list(wilson_interval(round(value * count), count))
                if count and isinstance(value, int | float) and not isinstance(value, bool)
                else None
            )
        rows.append(entry)
    return rows


def _error_bars(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    with_ci = all(r[f"{key}_ci"] for r in rows)
    if not with_ci:
        return {"visible": False}
    return {
        "type": "data",
        "symmetric": False,
        "array": [r[f"{key}_ci"][1] - r[key] for r in rows],
        "arrayminus": [r[key] - r[f"{key}_ci"][0] for r in rows],
    }


def extraction_budget_curve(result: dict[str, Any]) -> dict[str, Any]:
    """The copy's agreement with the model and its own accuracy against the query budget (log axis), with 95 %
    Wilson intervals; the model's own accuracy as a dashed line, and when the copy started from a public teacher,
    that teacher's agreement before any query as a dotted one."""
    rows = budget_rows(result)
    budgets = [r["budget"] for r in rows]
    data = []
    for i, (key, name) in enumerate((("agreement", "agreement with the model"), ("accuracy", "copy's accuracy"))):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": budgets,
                "y": [r[key] for r in rows],
                "line": {"color": PALETTE[i], "dash": DASHES[i], "width": 3 if i == 0 else 2},
                "marker": {"symbol": MARKERS[i], "size": 9},
                "error_y": _error_bars(rows, key),
            }
        )
    shapes, notes = [], []
    lines = [("model's own accuracy", result.get("victim_accuracy"), "dash")]
    initial = (result.get("copy") or {}).get("initial")
    if initial:
        lines.append(("public teacher before any query (agreement)", initial.get("agreement"), "dot"))
    for label, value, dash in lines:
        if not isinstance(value, int | float):
            continue
        shape, note = reference_line(
            value, f"{label} {value:.3f}", width=1, dash=dash, note={"x": 0, "xanchor": "left"}
        )
        shapes.append(shape)
        notes.append(note)
    layout = chart_layout(
        "How closely a copy imitates the model, by query budget",
        "queries sent to the model",
        "share of evaluation inputs",
        xaxis={"type": "log"},
        yaxis={"range": [0, 1.05]},
    )
    return {"data": data, "layout": layout | {"shapes": shapes, "annotations": notes}}
