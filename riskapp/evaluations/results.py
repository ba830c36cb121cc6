"""What an evaluation's result page shows: figures, tables and images built from the job's result document.

`present(job, files)` returns the context of the kind's result template (templates/evaluations/). Image
names in the result documents refer to files the job stored; they become URLs of the project's image view.
"""

from typing import Any

from django.urls import reverse

from attacks.stats import wilson_interval
from riskapp.artifacts.models import ModelArtifact
from riskapp.assessments.epsilon import Budget, norm_label, norm_mismatch
from riskapp.charts import evaluations as figures
from riskapp.dashboards.risk import curve_line
from riskapp.evaluations.kinds import EVALUATION_KINDS, kinds_with
from riskapp.evaluations.kinds.base import BACKDOOR_CHECK, ROBUSTNESS_CURVE
from riskapp.evaluations.services import accuracy_at_eps, project_budget_of
from riskapp.jobs.models import Job, JobFile, JobStatus

# Other models' curves drawn beside this one: enough to compare versions, few enough to read.
MAX_OVERLAID_CURVES = 6


def _image_urls(job: Job, files: list[JobFile]) -> dict[str, str]:
    return {
        f.name: reverse("projects:jobs:image", args=[job.project_id, job.pk, f.pk])
        for f in files
        if f.name.endswith(".png")
    }


def _model_label(model: ModelArtifact | None, fallback: str) -> str:
    return f"{model.name} v{model.version}" if model else fallback


def uncertainty(value: float | None, count: int | None) -> str:
    """A measured share in words with its uncertainty: "95% CI 0.520–0.660 over 200"; "" when not measured."""
    if value is None or not isinstance(count, int) or count <= 0:
        return ""
    low, high = wilson_interval(round(value * count), count)
    return f"95% CI {low:.3f}–{high:.3f} over {count}"


def _bounded_row(attack: dict[str, Any], budget: Budget) -> dict[str, Any]:
    return attack | {
        "robust_ci": uncertainty(attack.get("robust_accuracy"), attack.get("samples")),
        "success_ci": uncertainty(attack.get("attack_success_rate"), attack.get("attacked")),
        "not_evidence": norm_mismatch(attack, budget.norm),
    }


def _min_norm_row(attack: dict[str, Any], budget: Budget) -> dict[str, Any]:
    """A minimum-norm attack as distances: percentiles, and the accuracy at the project's ε read off them (its
    distances in the project's norm)."""
    at_eps = accuracy_at_eps(attack, budget.eps, budget.norm)
    return attack | {
        "distances": attack.get("distances") or {},
        "at_project_eps": at_eps,
        "at_project_eps_ci": uncertainty(at_eps, attack.get("samples")),
        "found_ci": uncertainty(attack.get("attack_success_rate"), attack.get("attacked")),
    }


def attacks_page(job: Job, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    """ε-bounded attacks as robust accuracy at the run's ε; minimum-norm attacks (no ε) as distances, never as a
    bounded result: their accuracy at the project's ε is read off the distances."""
    budget = project_budget_of(job.project)
    project_eps = budget.eps
    rows = []
    for a in result.get("attacks", []):
        is_bounded = a.get("eps_bounded", a.get("eps") is not None)
        row = _bounded_row(a, budget) if is_bounded else _min_norm_row(a, budget)
        rows.append(row | {"example_urls": [images[name] for name in a.get("examples", []) if name in images]})
    bounded = [row for row in rows if "robust_ci" in row]
    min_norm = [row for row in rows if "robust_ci" not in row]
    with_distances = [row for row in min_norm if row["distances"].get("linf", {}).get("values") is not None]
    return {
        "figure": figures.attack_bars(bounded, result.get("clean_accuracy", 0.0)) if bounded else None,
        # The distance chart is drawn in L∞: beside an L2 budget its ε line would mislead.
        "distance_figure": figures.distance_curves(with_distances, project_eps)
        if with_distances and budget.norm == "inf"
        else None,
        "attacks": rows,
        "bounded": bounded,
        "min_norm": min_norm,
        "project_eps": project_eps,
        "project_budget": budget.label,
        "project_norm": norm_label(budget.norm),
        "clean_ci": uncertainty(result.get("clean_accuracy"), (result.get("data") or {}).get("samples")),
        # PGD may take its gradients in bfloat16 (the engine's precision "auto"); successes are float32's answer.
        "low_precision": sorted(
            {a["precision"] for a in result.get("attacks", []) if a.get("precision", "float32") != "float32"}
        ),
    }


def overlaid_curves(job: Job, result: dict[str, Any]) -> list[dict[str, Any]]:
    """This job's curve first, then the latest succeeded curve (same norm) of each other model of the project."""
    model_id = job.parameters.get("model_id")
    others = (
        Job.objects.filter(project_id=job.project_id, kind__in=kinds_with(ROBUSTNESS_CURVE), status=JobStatus.SUCCEEDED)
        .exclude(pk=job.pk)
        .exclude(parameters__model_id=model_id)
        .order_by("-finished_at", "-id")
        .only("id", "project_id", "parameters", "result", "finished_at")[:50]
    )
    latest: dict[Any, Job] = {}
    for other in others:
        other_norm = (other.result or {}).get("norm")
        if other_norm == result.get("norm") and other.parameters.get("model_id") not in latest:
            latest[other.parameters.get("model_id")] = other
        if len(latest) >= MAX_OVERLAID_CURVES - 1:
            break
    names = ModelArtifact.objects.in_bulk([model_id, *latest])
    return [
        curve_line(_model_label(names.get(this_id), f"job {curve_job.pk}"), curve_job)
        for this_id, curve_job in [(model_id, job), *latest.items()]
    ]


def backdoor_verdict(job: Job) -> dict[str, Any]:
    """The model's combined backdoor verdict (attacks.backdoor.verdict) from this job and the latest succeeded
    job of each other backdoor check on the same model, with each method's evidence and the job it came from."""
    from attacks.backdoor.verdict import combined_verdict

    checks = kinds_with(BACKDOOR_CHECK)
    latest: dict[str, Job | None] = {}
    for kind in checks:
        latest[kind] = (
            job
            if kind == job.kind
            else Job.objects.filter(
                project_id=job.project_id,
                kind=kind,
                status=JobStatus.SUCCEEDED,
                parameters__model_id=job.parameters.get("model_id"),
            )
            .order_by("-finished_at", "-id")
            .only("id", "project_id", "result")
            .first()
        )
    verdict = combined_verdict(
        **{EVALUATION_KINDS[kind].verdict_slot: (latest[kind].result if latest[kind] else None) for kind in checks}
    )
    for method, kind in zip(verdict["methods"], checks, strict=True):
        source = latest[kind]
        method["url"] = reverse("projects:jobs:detail", args=[job.project_id, source.pk]) if source else None
    return verdict


def preprocessing_applied(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(whose, pre-processing document) for each model of a result that was pre-processed (not the identity)."""

    def applied(part: Any) -> Any:
        return part.get("preprocessing") if isinstance(part, dict) else None

    # Evasion documents keep it under model (and teacher); the backdoor checks and validation at the top.
    pairs = [
        ("the teacher", applied(result.get("teacher"))),
        ("the model", applied(result.get("model")) or applied(result)),
    ]
    return [(whose, p) for whose, p in pairs if isinstance(p, dict) and p.get("source") not in (None, "none")]


def present(job: Job, files: list[JobFile]) -> dict[str, Any]:
    """The result template's context for a succeeded evaluation job (empty when there is nothing to draw)."""
    declared = EVALUATION_KINDS.get(job.kind)
    if job.status != JobStatus.SUCCEEDED or not job.result or declared is None or declared.presenter is None:
        return {}
    images = _image_urls(job, files)
    model = ModelArtifact.objects.filter(pk=job.parameters.get("model_id"), project_id=job.project_id).first()
    return {
        "template": f"evaluations/{declared.template}.html",
        "result": job.result,
        "model": model,
        "preprocessing": preprocessing_applied(job.result),
        **declared.presenter(job, job.result, images),
    }
