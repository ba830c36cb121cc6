"""Every write to uploaded models, datasets and findings. Nothing here opens an uploaded file's contents:
the intake job does that, in the sandbox."""

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from riskapp.artifacts.kinds import VALIDATION
from riskapp.artifacts.models import DatasetArtifact, Finding, IntakeStatus, ModelArtifact
from riskapp.artifacts.names import clean_file_name
from riskapp.artifacts.prechecks import in_dataset_terms
from riskapp.assessments.services import evidence_record
from riskapp.audit.services import audit_record
from riskapp.jobs.models import Job, JobStatus
from riskapp.jobs.services import job_create
from riskapp.projects.models import Project


class DuplicateUpload(ValidationError):
    def __init__(self, existing):
        self.existing = existing
        super().__init__(f"This file was uploaded already, as “{existing.name}” (same SHA-256).")


def artifact_take_in(
    artifact_cls,
    *,
    actor,
    project: Project,
    upload: UploadedFile,
    sha256: str,
    fields: dict[str, Any],
    intake_options: dict[str, Any] | None = None,
):
    """Store an upload under a server-made name and start its intake job (scan, safe load, normalise).

    The uploaded name is only ever a label; the same file twice in a project is refused by its hash."""
    existing = artifact_cls.objects.filter(project=project, sha256=sha256).first()
    if existing:
        raise DuplicateUpload(existing)
    artifact = artifact_cls(
        project=project,
        original_name=clean_file_name(upload.name or ""),
        sha256=sha256,
        size=upload.size,
        created_by=actor,
        **fields,
    )
    artifact.name = artifact.name or artifact.original_name
    artifact.file.save(f"{uuid.uuid4().hex}.upload", upload, save=False)
    try:
        artifact.save()
        is_model = artifact_cls is ModelArtifact
        params: dict[str, Any] = {
            "path": artifact.file.name,
            "kind": "model" if is_model else "dataset",
            "max_bytes": settings.UPLOAD_MAX_BYTES,
        }
        params |= (artifact.card_params() if is_model else {}) | (intake_options or {})
        artifact.intake_job = job_create(user=actor, project=project, kind="intake", parameters=params)
        artifact.save(update_fields=["intake_job"])
        audit_record(
            actor=actor,
            action=f"{params['kind']}.uploaded",
            target=artifact,
            project_id=project.pk,
            after={"name": artifact.name, "sha256": sha256, "size": artifact.size},
        )
    except Exception:
        # The rows roll back with the transaction; the stored file would stay behind without this.
        artifact.file.delete(save=False)
        raise
    return artifact


@transaction.atomic
def model_upload(
    *, actor: AbstractBaseUser, project: Project, upload: UploadedFile, sha256: str, card: dict[str, Any]
) -> ModelArtifact:
    """Take in an uploaded model with its card (see artifact_take_in)."""
    return artifact_take_in(ModelArtifact, actor=actor, project=project, upload=upload, sha256=sha256, fields=card)


def image_options_for(model: ModelArtifact | None) -> dict[str, Any]:
    """How the intake decodes an image-folder zip for `model`: its input size, crop and interpolation (what its
    intake applied) and its class names; {} (224×224 RGB, crop 0.875, folders sorted) without a model."""
    if model is None:
        return {}
    applied = (model.intake or {}).get("preprocessing") or {}
    options: dict[str, Any] = {}
    if applied.get("input_size") or model.input_shape:
        options["input_shape"] = applied.get("input_size") or model.input_shape
    for key in ("crop_pct", "interpolation"):
        if applied.get(key) is not None:
            options[key] = applied[key]
    if model.class_names:
        options["class_names"] = model.class_names
    if model.num_classes:
        options["num_classes"] = model.num_classes
    return options


@transaction.atomic
def dataset_upload(
    *,
    actor: AbstractBaseUser,
    project: Project,
    upload: UploadedFile,
    sha256: str,
    name: str,
    purpose: str,
    for_model: ModelArtifact | None = None,
) -> DatasetArtifact:
    """Take in an uploaded dataset: an .npz, or an image-folder zip decoded for `for_model` (see
    image_options_for and artifact_take_in)."""
    if for_model is not None and for_model.project_id != project.pk:
        raise ValidationError("Choose a model of this project.")
    return artifact_take_in(
        DatasetArtifact,
        actor=actor,
        project=project,
        upload=upload,
        sha256=sha256,
        fields={"name": name, "purpose": purpose},
        intake_options=image_options_for(for_model),
    )


def dataset_add_demo(*, actor: AbstractBaseUser, project: Project) -> list[DatasetArtifact]:
    """Add scikit-learn's digits (1×8×8 in [0, 1]; test split for evaluation, train split for training)
    through the same intake as an upload. A file already in the project is not added twice."""
    import hashlib
    import tempfile
    from pathlib import Path

    from django.core.files import File

    from attacks.datasets import write_digits

    added = []
    with tempfile.TemporaryDirectory() as folder:
        train, test = write_digits(Path(folder))
        for path, purpose, name in (
            (test, "evaluation", "digits (test split)"),
            (train, "training", "digits (train split)"),
        ):
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            with path.open("rb") as handle:
                try:
                    added.append(
                        dataset_upload(
                            actor=actor,
                            project=project,
                            upload=File(handle, name=path.name),
                            sha256=sha256,
                            name=name,
                            purpose=purpose,
                        )
                    )
                except DuplicateUpload:
                    continue
    return added


@transaction.atomic
def model_update_card(*, actor: AbstractBaseUser, model: ModelArtifact, card: dict[str, Any]) -> ModelArtifact:
    before = {key: _plain(getattr(model, key)) for key in card}
    for key, value in card.items():
        setattr(model, key, value)
    if model.parent_id == model.pk or model.previous_version_id == model.pk:
        raise ValidationError("A model cannot be its own teacher or previous version.")
    model.save()
    audit_record(
        actor=actor,
        action="model.card_updated",
        target=model,
        project_id=model.project_id,
        before=before,
        after={key: _plain(getattr(model, key)) for key in card},
    )
    return model


@transaction.atomic
def artifact_delete(*, actor: AbstractBaseUser, artifact: ModelArtifact | DatasetArtifact) -> None:
    """Delete an upload the intake refused, with its stored file. Ready and checking uploads stay: results,
    evidence and running jobs refer to them. Security findings about the file are kept."""
    if artifact.status != IntakeStatus.REJECTED:
        raise ValidationError(
            f"Only an upload the intake check refused can be deleted; “{artifact.name}” is "
            f"{artifact.get_status_display().lower()}."
        )
    kind = "model" if isinstance(artifact, ModelArtifact) else "dataset"
    audit_record(
        actor=actor,
        action=f"{kind}.deleted",
        target=artifact,
        project_id=artifact.project_id,
        before={
            "name": artifact.name,
            "original_name": artifact.original_name,
            "sha256": artifact.sha256,
            "status_message": artifact.status_message,
        },
    )
    stored = [artifact.file, getattr(artifact, "weights", None), getattr(artifact, "normalised", None)]
    names = [(f.storage, f.name) for f in stored if f]
    artifact.delete()

    def remove_files() -> None:  # once the row is gone for good: a rolled-back delete keeps both
        for storage, name in names:
            storage.delete(name)

    transaction.on_commit(remove_files)


def _plain(value):
    return value.pk if hasattr(value, "pk") else value


def intake_finished(*, job: Job) -> None:
    """Record what the intake job found (called in the transaction that finishes the job)."""
    artifact = (
        ModelArtifact.objects.filter(intake_job=job).first() or DatasetArtifact.objects.filter(intake_job=job).first()
    )
    if artifact is None:
        return
    result = job.result or {}
    scan = result.get("scan")
    artifact.scan = scan
    if scan:
        artifact.format = scan.get("format", "")
    if job.status == JobStatus.SUCCEEDED and result.get("accepted", True):
        artifact.status = IntakeStatus.READY
        artifact.status_message = ""
        artifact.intake = {k: v for k, v in result.items() if k not in ("scan", "files")}
        output = job.files.filter(name=result.get("output") or "").first()
        if output is not None:
            target = "weights" if isinstance(artifact, ModelArtifact) else "normalised"
            getattr(artifact, target).name = output.file.name
        if isinstance(artifact, ModelArtifact):
            artifact.input_shape = artifact.input_shape or result.get("input_shape")
            artifact.num_classes = artifact.num_classes or result.get("num_classes")
            if result.get("format") == "hf_folder":  # the folder's config names its type and labels
                artifact.architecture = result.get("arch") or artifact.architecture
                artifact.class_names = artifact.class_names or result.get("class_names") or []
    else:
        artifact.status = IntakeStatus.REJECTED
        reasons = [reason.get("message", "") for reason in (scan or {}).get("reasons", [])]
        if isinstance(artifact, DatasetArtifact):
            reasons = [in_dataset_terms(reason) for reason in reasons]
        artifact.status_message = " ".join(reasons) or job.error or "The intake did not finish."
    artifact.save()
    if scan and scan.get("malicious"):
        _record_malicious_file(artifact, scan)


def _record_malicious_file(artifact, scan: dict) -> None:
    project = artifact.project
    Finding.objects.create(
        project=project,
        kind="malicious_file",
        created_by=artifact.created_by,
        title=f"Upload “{artifact.original_name}” carries a malicious signature",
        detail={"sha256": artifact.sha256, "format": scan.get("format"), "reasons": scan.get("reasons", [])},
    )
    found = Finding.objects.filter(project=project, kind="malicious_file").count()
    evidence_record(
        project=project,
        kind="malicious_file_found",
        value=found,
        source=f"intake scan of {artifact.original_name}",
        job=artifact.intake_job,
    )


def check_dataset_labels(model: ModelArtifact, dataset: DatasetArtifact) -> None:
    """Refuse a dataset whose labels follow other class names than the model's outputs: an image folder taken in
    for another model (or for none: its folders in alphabetical order) would be scored against the wrong classes."""
    labels = (dataset.intake or {}).get("class_names")
    if labels and model.class_names and list(labels) != list(model.class_names):
        raise ValidationError(
            f"“{dataset.name}” labels its images as {', '.join(map(str, labels[:10]))}"
            f"{' …' if len(labels) > 10 else ''}, but “{model.name}” outputs "
            f"{', '.join(map(str, model.class_names[:10]))}{' …' if len(model.class_names) > 10 else ''}: upload "
            f"the image folder again with “Prepare images for” set to {model.name} v{model.version}, so its "
            "folders are matched to the model's class names."
        )


@transaction.atomic
def validation_start(
    *, actor: AbstractBaseUser, model: ModelArtifact, dataset: DatasetArtifact, sample_limit: int = 2000
) -> Job:
    if model.status != IntakeStatus.READY or dataset.status != IntakeStatus.READY:
        raise ValidationError("Both the model and the dataset must have passed intake first.")
    check_dataset_labels(model, dataset)
    params: dict[str, Any] = {
        "model_id": model.pk,
        "dataset_id": dataset.pk,
        "model_path": model.job_file,
        "data_path": dataset.job_file,
        "sample_limit": sample_limit,
    }
    params |= model.card_params()
    job = job_create(user=actor, project=model.project, kind=VALIDATION, parameters=params)
    audit_record(
        actor=actor,
        action="model.validation_started",
        target=model,
        project_id=model.project_id,
        after={"dataset": dataset.pk, "job": job.pk},
    )
    return job
