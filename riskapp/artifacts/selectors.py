from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, IntakeStatus, ModelArtifact
from riskapp.projects.models import Project


def models_not_refused(*, project: Project) -> QuerySet[ModelArtifact]:
    """The project's models but those the intake refused: what choice lists, charts and default picks offer.
    A refused upload is only listed on Models & data, with its reason, until someone deletes it."""
    return project.models.exclude(status=IntakeStatus.REJECTED)


@dataclass
class LineageNode:
    model: ModelArtifact
    students: list["LineageNode"] = field(default_factory=list)


def lineage_roots(models: list[ModelArtifact]) -> list[LineageNode]:
    """The project's models as teacher → student trees (roots: models without a teacher in the project)."""
    nodes = {model.pk: LineageNode(model) for model in models}
    roots = []
    for model in models:
        parent = nodes.get(model.parent_id)
        (parent.students if parent and model.parent_id != model.pk else roots).append(nodes[model.pk])
    return roots


def dataset_classes(*, dataset: DatasetArtifact) -> dict[str, Any]:
    """What the intake found per class, for the dataset page: label, name, count and the preview thumbnails
    (served from the intake job's files), plus the intake document and the largest count (for the bars)."""
    intake = dataset.intake or {}
    names, counts = intake.get("class_names") or [], intake.get("class_counts") or []
    files = {}
    if dataset.intake_job_id and intake.get("preview"):
        files = {f.name: f.pk for f in dataset.intake_job.files.only("pk", "name")}
    previews: dict[int, list[dict[str, Any]]] = {}
    for item in intake.get("preview") or []:
        if item.get("image") in files:
            url = reverse("projects:jobs:image", args=[dataset.project_id, dataset.intake_job_id, files[item["image"]]])
            previews.setdefault(item.get("class"), []).append({**item, "url": url})
    classes = [
        {
            "label": label,
            "name": names[label] if label < len(names) else str(label),
            "count": count,
            "previews": previews.get(label, []),
        }
        for label, count in enumerate(counts)
    ]
    return {"intake": intake, "classes": classes, "largest": max(counts, default=0)}


def jobs_with_subjects(*, project: Project, jobs) -> list:
    """The jobs with `subject_model` and `subject_dataset` set (names, or ""): the model and dataset each job
    worked on, from its parameters (model_id, dataset_id) or as the upload its intake checked.
    Two queries for the whole list, however many jobs."""
    jobs = list(jobs)
    model_ids = {job.parameters.get("model_id") for job in jobs}
    dataset_ids = {job.parameters.get("dataset_id") for job in jobs}
    job_ids = [job.pk for job in jobs]
    models = project.models.filter(Q(pk__in=_ids(model_ids)) | Q(intake_job_id__in=job_ids)).only(
        "pk", "project_id", "name", "version", "intake_job_id"
    )
    datasets = project.datasets.filter(Q(pk__in=_ids(dataset_ids)) | Q(intake_job_id__in=job_ids)).only(
        "pk", "project_id", "name", "intake_job_id"
    )
    model_by_id = {model.pk: model for model in models}
    model_by_intake = {model.intake_job_id: model for model in model_by_id.values() if model.intake_job_id}
    dataset_by_id = {dataset.pk: dataset for dataset in datasets}
    dataset_by_intake = {dataset.intake_job_id: dataset for dataset in dataset_by_id.values() if dataset.intake_job_id}
    for job in jobs:
        model = model_by_id.get(job.parameters.get("model_id")) or model_by_intake.get(job.pk)
        dataset = dataset_by_id.get(job.parameters.get("dataset_id")) or dataset_by_intake.get(job.pk)
        job.subject_model = str(model) if model else ""
        job.subject_dataset = dataset.name if dataset else ""
    return jobs


def _ids(values) -> list[int]:
    return [value for value in values if isinstance(value, int)]
