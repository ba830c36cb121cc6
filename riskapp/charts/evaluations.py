"""Plotly figures of evaluation results (evasion, backdoor, lineage), built on the server as plain JSON.

Okabe-Ito colours, and never colour alone: flagged bars also carry a hatch pattern and a text label, and
overlaid curves differ in dash and marker as well as colour. Every figure's numbers are also in a table
on the page that shows it.
"""

from typing import Any

# Okabe-Ito, in an order whose neighbours stay distinct for the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
MARKERS = ["circle", "square", "diamond", "triangle-up", "x", "cross"]
NORMAL, FLAGGED = "#56B4E9", "#D55E00"


def chart_layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    """The layout every evaluation and privacy chart shares; `xaxis` / `yaxis` in `extra` add to the axis titles
    instead of replacing them. A chart with a second y axis (on the right) gets the right margin its tick labels
    and title need, as the left one has."""
    layout = {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}} | extra.pop("xaxis", {}),
        "yaxis": {"title": {"text": y_title}} | extra.pop("yaxis", {}),
        "height": 380,
        "margin": {"l": 60, "r": 60 if "yaxis2" in extra else 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
    }
    return layout | extra


def reference_line(
    value: float, label: str, *, vertical: bool = False, width: int = 2, dash: str = "dash", note: dict | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A black reference line across the plot at `value` (horizontal at y = value, or vertical at x = value) and its
    label, as a layout shape and annotation. The label sits above the line's right end (horizontal) or right of its
    top (vertical); `note` moves it."""
    span, at = ("y", "x") if vertical else ("x", "y")  # the axis the line runs along in paper units, the one it marks
    shape = {
        "type": "line",
        f"{span}ref": "paper",
        f"{span}0": 0,
        f"{span}1": 1,
        f"{at}0": value,
        f"{at}1": value,
        "line": {"color": "#000000", "width": width, "dash": dash},
    }
    if vertical:
        placed = {"yref": "paper", "y": 1, "x": value, "xanchor": "left"}
    else:
        placed = {"xref": "paper", "x": 1, "y": value, "yanchor": "bottom", "xanchor": "right"}
    return shape, {"text": label, "showarrow": False} | placed | (note or {})


def one_line(value: float, label: str, **options: Any) -> dict[str, Any]:
    """A layout's `shapes` and `annotations` holding one reference line (see reference_line)."""
    shape, note = reference_line(value, label, **options)
    return {"shapes": [shape], "annotations": [note]}


def attack_bars(attacks: list[dict[str, Any]], clean_accuracy: float) -> dict[str, Any]:
    """Robust accuracy per attack, with the clean accuracy as a dashed line."""
    names = [a["attack"] for a in attacks]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": [a["robust_accuracy"] for a in attacks],
                "text": [f"{a['robust_accuracy']:.3f}" for a in attacks],
                "textposition": "auto",
                "marker": {"color": PALETTE[0]},
                "name": "robust accuracy",
            }
        ],
        "layout": chart_layout(
            "Robust accuracy per attack",
            "attack",
            "accuracy",
            yaxis={"range": [0, 1.05]},
            **one_line(clean_accuracy, f"clean {clean_accuracy:.3f}"),
        ),
    }


def distance_curves(attacks: list[dict[str, Any]], project_eps: float) -> dict[str, Any]:
    """Minimum-norm attacks as what they measure: for each, the accuracy left at every L∞ ε, read off its
    distances (an input stays correct until ε reaches the distance the attack needed for it; inputs it never
    fooled stay correct at every ε), with the project's ε as a dashed vertical line."""
    data = []
    top = max((max(a["distances"]["linf"]["values"], default=0.0) for a in attacks), default=0.0)
    right = max(top, project_eps) * 1.1 or 1.0
    for i, attack in enumerate(attacks):
        found, samples = attack["distances"], attack["samples"]
        xs, ys, left = [0.0], [found["attacked"] / samples], found["attacked"]
        for value in found["linf"]["values"]:
            left -= 1
            xs.append(value)
            ys.append(left / samples)
        xs.append(right)
        ys.append(left / samples)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": PALETTE[i % len(PALETTE)], "dash": DASHES[i % len(DASHES)]},
                "name": attack["attack"],
                "x": xs,
                "y": ys,
            }
        )
    return {
        "data": data,
        "layout": {
            **chart_layout(
                "Accuracy left at each ε, from the attacks' distances", "ε (L∞)", "accuracy", yaxis={"range": [0, 1.05]}
            ),
            **one_line(project_eps, f"project ε {project_eps:g}", vertical=True),
        },
    }


def robustness_curves(series: list[dict[str, Any]], *, norm: str = "inf") -> dict[str, Any]:
    """Robust accuracy against ε, one line per series ({name, eps, robust_accuracy}); the first is this job's."""
    data = []
    for i, line in enumerate(series):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": line["name"],
                "x": line["eps"],
                "y": line["robust_accuracy"],
                "line": {
                    "color": PALETTE[i % len(PALETTE)],
                    "dash": DASHES[i % len(DASHES)],
                    "width": 3 if i == 0 else 2,
                },
                "marker": {"symbol": MARKERS[i % len(MARKERS)], "size": 8},
            }
        )
    symbol = "∞" if norm == "inf" else "2"
    return {
        "data": data,
        "layout": chart_layout(
            "Robust accuracy over ε",
            f"ε (L{symbol})",
            "robust accuracy",
            yaxis={"range": [0, 1.05]},
        ),
    }


def transfer_bars(result: dict[str, Any]) -> dict[str, Any]:
    """The inherited-vulnerability number next to the white-box successes it is compared with."""
    labels, values = ["crafted on the teacher → student"], [result["transfer_success_rate"]]
    if result.get("white_box_teacher"):
        labels.append("white-box on the teacher")
        values.append(result["white_box_teacher"]["attack_success_rate"])
    if result.get("white_box_student"):
        labels.append("white-box on the student")
        values.append(result["white_box_student"]["attack_success_rate"])
    return {
        "data": [
            {
                "type": "bar",
                "x": labels,
                "y": values,
                "text": [f"{v:.3f}" for v in values],
                "textposition": "auto",
                "marker": {
                    "color": [FLAGGED, *[PALETTE[0]] * (len(values) - 1)],
                    "pattern": {"shape": ["/", "", ""][: len(values)]},
                },
            }
        ],
        "layout": chart_layout(
            "Attack success rate", "", "success rate (of correctly classified)", yaxis={"range": [0, 1.05]}
        ),
    }


def _marked_bars(x: list[str], y: list[float], marked: list[bool], label: str, name: str = "") -> dict[str, Any]:
    """A bar trace whose marked bars are vermillion, hatched and labelled, the others sky blue."""
    return {
        "type": "bar",
        "x": x,
        "y": y,
        "text": [label if m else "" for m in marked],
        "textposition": "outside",
        "marker": {
            "color": [FLAGGED if m else NORMAL for m in marked],
            "pattern": {"shape": ["/" if m else "" for m in marked]},
        },
        "name": name,
    }


def anomaly_bars(
    classes: list[dict[str, Any]], threshold: float, *, title: str = "Neural Cleanse anomaly index"
) -> dict[str, Any]:
    """Anomaly index per class; flagged classes hatched and labelled, the threshold as a dashed line. A class
    above the threshold that the scan cleared as a natural shortcut is labelled so: the chart shows why it is
    not the verdict."""
    x, y = [str(c["class"]) for c in classes], [c["anomaly_index"] for c in classes]
    bars = _marked_bars(x, y, [bool(c.get("flagged")) for c in classes], "flagged", "anomaly index")
    bars["text"] = [
        "natural shortcut" if c.get("natural_shortcut") and c.get("anomalous") else text
        for c, text in zip(classes, bars["text"], strict=True)
    ]
    return {
        "data": [bars],
        "layout": chart_layout(
            title,
            "class",
            "anomaly index",
            xaxis={"type": "category"},
            **one_line(threshold, f"threshold {threshold:g}"),
        ),
    }


def strip_histogram(histogram: dict[str, Any], threshold: float) -> dict[str, Any]:
    """Entropy histograms of clean and suspicious inputs; inputs left of the threshold are flagged."""
    edges = histogram["bin_edges"]
    centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
    data = []
    for i, name in enumerate(n for n in ("clean", "suspect") if histogram.get(n) is not None):
        data.append(
            {
                "type": "bar",
                "x": centres,
                "y": histogram[name],
                "name": "clean inputs" if name == "clean" else "suspicious inputs",
                "marker": {"color": [NORMAL, FLAGGED][i], "pattern": {"shape": ["", "/"][i]}},
                "opacity": 0.75,
            }
        )
    return {
        "data": data,
        "layout": {
            **chart_layout("STRIP entropy of superimposed inputs", "entropy (nats)", "inputs", barmode="overlay"),
            **one_line(threshold, "threshold", vertical=True),
        },
    }


def layer_change_bars(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Relative weight change per layer from teacher to student; frozen layers labelled."""
    return {
        "data": [
            {
                "type": "bar",
                "x": [layer["layer"] for layer in layers],
                "y": [layer["relative_change"] for layer in layers],
                "text": [layer["status"].replace("_", " ") for layer in layers],
                "textposition": "outside",
                "marker": {
                    "color": [NORMAL if layer["status"] == "changed" else FLAGGED for layer in layers],
                    "pattern": {"shape": ["" if layer["status"] == "changed" else "/" for layer in layers]},
                },
            }
        ],
        "layout": chart_layout(
            "Weight change from the teacher, per layer",
            "layer",
            "relative change ‖Δw‖ / ‖w_teacher‖",
            xaxis={"type": "category"},
        ),
    }


def trigger_survival_bars(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Success of each of the teacher's reversed triggers on the student; triggers the teacher scan flagged hatched.

    Every reversed trigger is optimised until it works, so on a student that kept the teacher's features they
    nearly all succeed: success alone singles out no class. The teacher's mask L1 per class (a line on the right
    axis, where the documents carry it) shows what does: the flagged class's trigger is far smaller."""
    x, y = [str(r["class"]) for r in rows], [r["success_rate"] for r in rows]
    bars = _marked_bars(x, y, [bool(r.get("teacher_flagged")) for r in rows], "flagged on teacher", "success")
    data = [bars]
    extra: dict[str, Any] = {}
    if all(r.get("teacher_mask_l1") is not None for r in rows):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": x,
                "y": [r["teacher_mask_l1"] for r in rows],
                "yaxis": "y2",
                "name": "teacher's mask L1 (smaller = more suspicious)",
                "line": {"color": "#000000", "dash": "dot"},
            }
        )
        extra["yaxis2"] = {
            "title": {"text": "teacher's mask L1"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
        }
    return {
        "data": data,
        "layout": chart_layout(
            "The teacher's reversed triggers on the student",
            "class",
            "share of inputs sent to the class",
            xaxis={"type": "category"},
            yaxis={"range": [0, 1.1]},
            **extra,
        ),
    }


def confusion_heatmap(matrix: list[list[int]], class_names: list[str]) -> dict[str, Any]:
    """A validation's confusion matrix: true class down, predicted class across, each cell's count written in it.
    One blue scale (darker: more samples), readable without colour as the counts are printed."""
    names = [class_names[i] if i < len(class_names) else str(i) for i in range(len(matrix))]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": names,
                "y": names,
                "z": matrix,
                "text": [[str(count) for count in row] for row in matrix],
                "texttemplate": "%{text}",
                "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>",
                "colorscale": [[0, "#FFFFFF"], [1, PALETTE[0]]],
                "showscale": False,
                "xgap": 1,
                "ygap": 1,
            }
        ],
        "layout": chart_layout(
            "Confusion matrix",
            "predicted class",
            "true class",
            xaxis={"type": "category", "side": "top"},
            yaxis={"type": "category", "autorange": "reversed"},
            height=max(300, 60 + 32 * len(matrix)),
        ),
    }


def hardening_history(history: list[dict[str, Any]]) -> dict[str, Any]:
    """A hardening job's per-epoch training loss and clean accuracy (rows of kinds.hardening.history_rows)."""
    epochs = [row["epoch"] for row in history]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Clean accuracy",
                "x": epochs,
                "y": [row["clean_accuracy"] for row in history],
                "line": {"color": PALETTE[0], "dash": DASHES[0]},
                "marker": {"symbol": MARKERS[0]},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Training loss",
                "x": epochs,
                "y": [row["loss"] for row in history],
                "yaxis": "y2",
                "line": {"color": PALETTE[1], "dash": DASHES[1]},
                "marker": {"symbol": MARKERS[1]},
            },
        ],
        "layout": chart_layout(
            "Training by epoch",
            "Epoch",
            "Clean accuracy",
            xaxis={"dtick": 1},
            yaxis={"range": [0, 1]},
            yaxis2={"title": {"text": "Training loss"}, "overlaying": "y", "side": "right"},
        ),
    }
