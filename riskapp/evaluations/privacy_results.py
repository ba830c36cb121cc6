"""What the privacy tests' result pages show: templates/evaluations/membership_inference.html and extraction.html.

Two layers, for the two presenter signatures riskapp uses: `membership_inference_context(job, result, images)` /
`extraction_context(...)` give the kind-specific part (a kind declaration's presenter), and
`present_membership_inference(job, files)` / `present_extraction(job, files)` the whole template context
(a JobKind's `present`, like evaluations.results.present).
"""

from typing import Any

from riskapp.artifacts.models import ModelArtifact
from riskapp.charts import privacy as figures
from riskapp.jobs.models import Job, JobFile, JobStatus

# FPRs at which the page's table reads the ROC: two per decade, enough to follow the chart.
ROC_TABLE_FPRS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def roc_table(result: dict[str, Any]) -> list[dict[str, float]]:
    """The ROC read at ROC_TABLE_FPRS: for each, the last point of the curve at or below that FPR (the curve's
    TPR is the best at FPR ≤ its rate), once per point; rates below the curve's first point are left out."""
    roc = result.get("roc") or {"fpr": [], "tpr": []}
    points = list(zip(roc["fpr"], roc["tpr"], strict=True))
    rows, seen = [], set()
    for target in ROC_TABLE_FPRS:
        below = [(i, f, t) for i, (f, t) in enumerate(points) if f <= target * (1 + 1e-9)]
        if below and below[-1][0] not in seen:
            i, fpr, tpr = below[-1]
            seen.add(i)
            rows.append({"fpr": fpr, "tpr": tpr, "times_chance": tpr / fpr if fpr else None})
    return rows


def _levels(result: dict[str, Any]) -> list[dict[str, Any]]:
    baseline = {e["fpr"]: e.get("tpr") for e in (result.get("baseline") or {}).get("tpr_at_fpr", [])}
    return [
        entry
        | {
            "times_chance": entry["tpr"] / entry["fpr"]
            if entry.get("reportable") and entry.get("tpr") is not None
            else None,
            "baseline_tpr": baseline.get(entry["fpr"]),
            "label": f"{entry['fpr']:.1%}".replace(".0%", "%"),  # "1%", "0.1%"
        }
        for entry in result.get("tpr_at_fpr", [])
    ]


def membership_leak_words(result: dict[str, Any]) -> str:
    """The headline in plain language, from the 1 % level when it is reported, else from the AUC."""
    level = next((e for e in _levels(result) if e["fpr"] == 0.01 and e.get("reportable")), None)
    auc = (result.get("auc") or {}).get("value")
    if level is not None:
        return (
            f"An attacker who may wrongly accuse 1 in 100 people of being in the training data correctly "
            f"identifies {level['tpr']:.1%} of the training records ({level['times_chance']:.1f} times chance)."
        )
    if isinstance(auc, int | float):
        return (
            f"Shown one training record and one held-out record, the attack picks the training record "
            f"{auc:.1%} of the time (chance: 50%). Too few non-members to report a rate at 1% false positives."
        )
    return ""


def membership_inference_context(job: Job, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    """The membership page's own part: the ROC figure, the FPR levels, the ROC read in a table, the headline."""
    return {
        "figure": figures.membership_roc(result) if (result.get("roc") or {}).get("fpr") else None,
        "levels": _levels(result),
        "roc_rows": roc_table(result),
        "leak_words": membership_leak_words(result),
        "model_inversion": result.get("model_inversion")
        or {"tested": False, "reason": "riskapp has no model-inversion test."},
    }


def extraction_context(job: Job, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    """The extraction page's own part: the budget figure, each budget with its intervals, the headline."""
    rows = figures.budget_rows(result)
    last = rows[-1] if rows else None
    teacher = None
    if (result.get("copy") or {}).get("start") == "public_teacher":
        teacher = ModelArtifact.objects.filter(pk=job.parameters.get("teacher_id"), project_id=job.project_id).first()
    words = (
        f"With {last['budget']:,} queries an attacker trained a copy that gives the model's answer on "
        f"{last['agreement']:.1%} of the evaluation inputs and is right on {last['accuracy']:.1%} of them "
        f"(the model itself: {result.get('victim_accuracy', 0):.1%})."
        if last
        else ""
    )
    return {
        "figure": figures.extraction_budget_curve(result) if rows else None,
        "rows": rows,
        "initial": (result.get("copy") or {}).get("initial"),
        "teacher": teacher,
        "extraction_words": words,
    }


def _whole_context(job: Job, kind: str, part) -> dict[str, Any]:
    if job.status != JobStatus.SUCCEEDED or not job.result or job.kind != kind:
        return {}
    model = ModelArtifact.objects.filter(pk=job.parameters.get("model_id"), project_id=job.project_id).first()
    return {
        "template": f"evaluations/{kind}.html",
        "result": job.result,
        "model": model,
        **part(job, job.result, {}),
    }


def present_membership_inference(job: Job, files: list[JobFile]) -> dict[str, Any]:
    """The membership_inference result template's context (empty unless the job succeeded with a result)."""
    return _whole_context(job, "membership_inference", membership_inference_context)


def present_extraction(job: Job, files: list[JobFile]) -> dict[str, Any]:
    """The extraction result template's context (empty unless the job succeeded with a result)."""
    return _whole_context(job, "extraction", extraction_context)
