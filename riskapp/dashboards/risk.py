"""The project risk page: register heatmap, robustness and backdoor summaries per model, the lineage graph,
the test plan's state and sign-off, read in a fixed number of queries whatever the number of jobs."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef

from riskapp.artifacts.kinds import VALIDATION
from riskapp.artifacts.models import IntakeStatus, ModelArtifact
from riskapp.artifacts.selectors import models_not_refused
from riskapp.evaluations.kinds import kinds_with
from riskapp.evaluations.kinds.base import ATTACK_RESULTS, LINEAGE, NEURAL_CLEANSE, ROBUSTNESS_CURVE
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project

# How many of a project's latest succeeded evaluations the page reads: enough for every model's latest
# result of every kind in any realistic project, and a bound on the page's cost in a project with
# thousands of jobs.
RECENT_RESULTS = 400


@dataclass
class ModelSummary:
    model: ModelArtifact
    robustness: dict[str, dict[str, Any]] = field(default_factory=dict)  # attack -> latest result row
    curve: Job | None = None
    backdoor: Job | None = None
    validation: Job | None = None

    @property
    def label(self) -> str:
        return f"{self.model.name} v{self.model.version}"

    @property
    def clean_accuracy(self) -> float | None:
        """From the latest validation, else from the latest attack (both measure it on the evaluation set)."""
        if self.validation is not None and self.validation.result.get("accuracy") is not None:
            return self.validation.result["accuracy"]
        return next((row["clean_accuracy"] for row in self.robustness.values()), None)

    @property
    def worst_robust(self) -> dict[str, Any] | None:
        """The trustworthy result row with the lowest robust accuracy (None when none was measured)."""
        rows = [row for row in self.robustness.values() if row["trustworthy"]]
        return min(rows, key=lambda row: row["robust_accuracy"], default=None)

    @property
    def worst_robust_accuracy(self) -> float | None:
        worst = self.worst_robust
        return worst["robust_accuracy"] if worst else None

    @property
    def backdoor_verdict(self) -> str:
        if self.backdoor is None:
            return "not scanned"
        return "backdoor suspected" if self.backdoor.result.get("flagged_classes") else "none found"

    @property
    def max_anomaly_index(self) -> float | None:
        indices = [c.get("anomaly_index") for c in (self.backdoor.result if self.backdoor else {}).get("classes", [])]
        return max((i for i in indices if i is not None), default=None)

    @property
    def superseded(self) -> bool:
        return bool(getattr(self.model, "has_next_version", False))


def _latest_results(project: Project) -> list[Job]:
    return list(
        project.jobs.filter(
            status=JobStatus.SUCCEEDED,
            kind__in=(
                *kinds_with(ATTACK_RESULTS),
                *kinds_with(ROBUSTNESS_CURVE),
                *kinds_with(NEURAL_CLEANSE),
                *kinds_with(LINEAGE),
                VALIDATION,
            ),
        )
        .order_by("-finished_at", "-id")
        .only("id", "project_id", "kind", "parameters", "result", "finished_at")[:RECENT_RESULTS]
    )


def model_summaries(project: Project) -> tuple[list[ModelSummary], dict[tuple[int, int], Job]]:
    """Each model (but refused uploads) with its latest robust accuracy per attack, latest curve and latest
    backdoor scan; and the latest lineage job per (teacher, student) pair."""
    # A refused upload is no model: it has no results, is in no chart and replaces no earlier version.
    newer = ModelArtifact.objects.filter(previous_version=OuterRef("pk")).exclude(status=IntakeStatus.REJECTED)
    models = list(
        models_not_refused(project=project).annotate(has_next_version=Exists(newer)).order_by("name", "version", "id")
    )
    by_id = {m.pk: ModelSummary(m) for m in models}
    lineage: dict[tuple[int, int], Job] = {}
    # Read from the kinds' declarations once, not once per job.
    lineage_kinds, attack_kinds = kinds_with(LINEAGE), kinds_with(ATTACK_RESULTS)
    curve_kinds, scan_kinds = kinds_with(ROBUSTNESS_CURVE), kinds_with(NEURAL_CLEANSE)
    for job in _latest_results(project):
        summary = by_id.get(job.parameters.get("model_id"))
        if job.kind in lineage_kinds:
            pair = (job.parameters.get("teacher_id"), job.parameters.get("model_id"))
            lineage.setdefault(pair, job)
        elif summary is None:
            continue
        elif job.kind in attack_kinds:
            for attack in job.result.get("attacks", []):
                if attack.get("eps") is None:
                    continue  # minimum-norm attacks give no robust accuracy at an ε
                summary.robustness.setdefault(
                    attack["attack"],
                    {
                        "attack": attack["attack"],
                        "robust_accuracy": attack["robust_accuracy"],
                        "clean_accuracy": attack["clean_accuracy"],
                        "eps": attack["eps"],
                        "samples": attack.get("samples"),
                        "trustworthy": job.result.get("trustworthy", False),
                        "job": job,
                    },
                )
        elif job.kind in curve_kinds and summary.curve is None:
            summary.curve = job
        elif job.kind in scan_kinds and summary.backdoor is None:
            summary.backdoor = job
        elif job.kind == VALIDATION and summary.validation is None:
            summary.validation = job
    return list(by_id.values()), lineage


def curve_line(name: str, job: Job) -> dict[str, Any]:
    """One robustness-curve job as a line of the overlaid curve chart (figures.robustness_curves)."""
    points = job.result.get("curve", [])
    return {
        "name": name,
        "norm": job.result.get("norm", "inf"),
        "eps": [p["eps"] for p in points],
        "robust_accuracy": [p["robust_accuracy"] for p in points],
        "job": job,
        "trustworthy": job.result.get("trustworthy", False),
    }


def curve_series(summaries: list[ModelSummary]) -> list[dict[str, Any]]:
    """The latest curve of every model (L∞ first; one norm per chart), for the overlaid robustness chart."""
    series = []
    for summary in summaries:
        if summary.curve is not None:
            series.append(curve_line(summary.label, summary.curve))
    norms = [s["norm"] for s in series]
    main = "inf" if "inf" in norms else (norms[0] if norms else "inf")
    return [s for s in series if s["norm"] == main]


def lineage_edges(summaries: list[ModelSummary], lineage: dict[tuple[int, int], Job]) -> list[dict[str, Any]]:
    """Teacher → student edges from the models' parents, each with the latest lineage verdict for the pair."""
    by_id = {s.model.pk: s for s in summaries}
    edges = []
    for summary in summaries:
        parent = by_id.get(summary.model.parent_id)
        if parent is None or parent.model.pk == summary.model.pk:
            continue
        job = lineage.get((parent.model.pk, summary.model.pk))
        edges.append(
            {
                "teacher": parent,
                "student": summary,
                "verdict": job.result.get("verdict") if job else None,
                "job": job,
            }
        )
    return edges


def version_chains(summaries: list[ModelSummary]) -> list[list[ModelSummary]]:
    """Models grouped into version chains (v1 → v2 → ...) by `previous_version`, oldest first in each chain."""
    by_id = {s.model.pk: s for s in summaries}
    next_of: dict[int, ModelSummary] = {}
    for s in summaries:
        if s.model.previous_version_id in by_id and s.model.previous_version_id != s.model.pk:
            next_of.setdefault(s.model.previous_version_id, s)
    starts = [s for s in summaries if s.model.previous_version_id not in by_id]
    chains = []
    for start in starts:
        chain, seen, current = [], set(), start
        while current is not None and current.model.pk not in seen:
            chain.append(current)
            seen.add(current.model.pk)
            current = next_of.get(current.model.pk)
        chains.append(chain)
    return chains
