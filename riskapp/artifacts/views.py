from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from riskapp.artifacts import services
from riskapp.artifacts.cards import architecture_options
from riskapp.artifacts.forms import DatasetUploadForm, ModelCardForm, ModelUploadForm, ValidationForm
from riskapp.artifacts.kinds import VALIDATION
from riskapp.artifacts.models import DatasetArtifact, IntakeStatus
from riskapp.artifacts.selectors import dataset_classes, lineage_roots
from riskapp.artifacts.uploads import LimitedHashingUploadHandler
from riskapp.charts.evaluations import confusion_heatmap
from riskapp.evaluations.estimates import evaluation_estimate
from riskapp.evaluations.forms import EvaluationForm, kind_choices
from riskapp.evaluations.kinds import EVALUATION_KINDS
from riskapp.evaluations.services import evaluation_start
from riskapp.jobs.models import Job
from riskapp.projects.access import project_view
from riskapp.projects.roles import Capability


def _inventory(access, model_form=None, dataset_form=None, status=200, request=None):
    project = access.project
    context = {
        "access": access,
        "project": project,
        "models": project.models.select_related("parent", "previous_version", "intake_job").order_by("name", "-id"),
        "datasets": project.datasets.select_related("intake_job").order_by("name", "-id"),
        "findings": project.findings.all()[:20],
        "model_form": model_form or ModelUploadForm(project=project),
        "dataset_form": dataset_form or DatasetUploadForm(project=project),
        "max_bytes": settings.UPLOAD_MAX_BYTES,
    }
    context["lineage"] = lineage_roots([m for m in context["models"] if m.status != IntakeStatus.REJECTED])
    context["checking"] = any(a.status == "checking" for a in [*context["models"], *context["datasets"]])
    return render(request, "artifacts/inventory.html", context, status=status)


@project_view()
def inventory(request, access):
    return _inventory(access, request=request)


@project_view()
def architecture_search(request, access):
    """<option>s for the model card's architecture field: catalogue names matching what was typed."""
    query = (request.GET.get("architecture") or request.GET.get("q") or "")[:100]
    return render(request, "artifacts/_architecture_options.html", {"options": architecture_options(query)})


def _streaming_upload(view):
    """Install the size-limiting, hashing upload handler before Django reads the body.

    Handlers can only change before the request's POST is read, which CSRF checking does; so the
    check runs after, in csrf_protect (Django's documented pattern)."""
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        handler = LimitedHashingUploadHandler(request, max_bytes=settings.UPLOAD_MAX_BYTES)
        request.upload_handlers.insert(0, handler)
        request.upload_limit = handler
        return protected(request, *args, **kwargs)

    return wrapper


def _over_limit(request) -> bool:
    request.FILES  # noqa: B018 - parse the body now, through the limiting handler
    return request.upload_limit.too_large


def _too_large(request, access):
    messages.error(
        request,
        f"The file is larger than the upload limit of {filesizeformat(settings.UPLOAD_MAX_BYTES)}"
        ". Upload a smaller file, or ask an administrator to raise RISKAPP_UPLOAD_MAX_BYTES.",
    )
    return _inventory(access, status=413, request=request)


@_streaming_upload
@project_view(Capability.EDIT)
@require_POST
def model_upload(request, access):
    if _over_limit(request):
        return _too_large(request, access)
    form = ModelUploadForm(request.POST, request.FILES, project=access.project)
    if not form.is_valid():
        return _inventory(access, model_form=form, status=400, request=request)
    card = {key: value for key, value in form.cleaned_data.items() if key != "upload"}
    upload = form.cleaned_data["upload"]
    try:
        model = services.model_upload(
            actor=request.user,
            project=access.project,
            upload=upload,
            sha256=request.upload_limit.sha256["upload"],
            card=card,
        )
    except services.DuplicateUpload as duplicate:
        messages.info(request, duplicate.message)
        return redirect("projects:artifacts:model", project_id=access.project.pk, model_id=duplicate.existing.pk)
    except ValidationError as error:  # a card the intake cannot start with; nothing was kept
        form.add_error(None, error)
        return _inventory(access, model_form=form, status=400, request=request)
    messages.success(request, f"“{model.name}” uploaded; its intake check is running.")
    return redirect("projects:artifacts:model", project_id=access.project.pk, model_id=model.pk)


@_streaming_upload
@project_view(Capability.EDIT)
@require_POST
def dataset_upload(request, access):
    if _over_limit(request):
        return _too_large(request, access)
    form = DatasetUploadForm(request.POST, request.FILES, project=access.project)
    if not form.is_valid():
        return _inventory(access, dataset_form=form, status=400, request=request)
    try:
        dataset = services.dataset_upload(
            actor=request.user,
            project=access.project,
            upload=form.cleaned_data["upload"],
            sha256=request.upload_limit.sha256["upload"],
            name=form.cleaned_data["name"],
            purpose=form.cleaned_data["purpose"],
            for_model=form.cleaned_data["for_model"],
        )
        messages.success(request, f"“{dataset.name}” uploaded; its intake check is running.")
    except services.DuplicateUpload as duplicate:
        messages.info(request, duplicate.message)
    return redirect("projects:artifacts:inventory", project_id=access.project.pk)


@project_view()
def dataset_detail(request, access, dataset_id: int):
    """A dataset's intake: samples and shape, class counts, skipped images, a thumbnail grid per class."""
    dataset = get_object_or_404(access.project.datasets.select_related("intake_job"), pk=dataset_id)
    context = {"access": access, "project": access.project, "dataset": dataset, "polling": dataset.status == "checking"}
    return render(request, "artifacts/dataset.html", context | dataset_classes(dataset=dataset))


@project_view(Capability.EDIT)
@require_POST
def dataset_demo(request, access):
    added = services.dataset_add_demo(actor=request.user, project=access.project)
    if added:
        messages.success(request, f"Added {', '.join(d.name for d in added)}; their intake checks are running.")
    else:
        messages.info(request, "The demo datasets are in this project already.")
    return redirect("projects:artifacts:inventory", project_id=access.project.pk)


def _model(access, model_id):
    return get_object_or_404(
        access.project.models.select_related("parent", "previous_version", "intake_job"), pk=model_id
    )


@project_view()
def model_detail(request, access, model_id: int):
    model = _model(access, model_id)
    validations = Job.objects.filter(project=access.project, kind=VALIDATION, parameters__model_id=model.pk).order_by(
        "-created_at"
    )[:10]
    return render(
        request,
        "artifacts/model.html",
        {
            "access": access,
            "project": access.project,
            "model": model,
            "students": model.students.all(),
            "next_versions": model.next_versions.all(),
            "validations": validations,
            # htmx refreshes the live part of the page while the intake or a validation is running
            "polling": model.status == "checking" or any(job.is_active for job in validations),
            "validation": _validation_summary(model, next((j for j in validations if j.result), None)),
            "validation_form": ValidationForm(project=access.project),
            "evaluation_form": EvaluationForm(model=model),
            "evaluations": Job.objects.filter(
                project=access.project, kind__in=list(EVALUATION_KINDS), parameters__model_id=model.pk
            ).order_by("-created_at")[:20],
        },
    )


def _validation_summary(model, job) -> dict | None:
    """The latest validation as the model page shows it: accuracy, per-class accuracy with the class names,
    and the confusion matrix as a drawn heatmap with its counts as a table beside it."""
    if job is None:
        return None
    result = job.result
    names = model.class_names or []
    matrix = result.get("confusion_matrix") or []
    per_class = result.get("per_class_accuracy") or []
    count = max(len(matrix), len(per_class))
    labels = [names[i] if i < len(names) else str(i) for i in range(count)]
    return {
        "job": job,
        "accuracy": result.get("accuracy"),
        "samples": result.get("samples"),
        "classes": list(zip(labels, per_class, strict=False)),
        "matrix": list(zip(labels, matrix, strict=False)),
        "labels": labels[: len(matrix)],
        "figure": confusion_heatmap(matrix, labels) if matrix else None,
    }


@project_view(Capability.EDIT)
def model_edit(request, access, model_id: int):
    model = _model(access, model_id)
    form = ModelCardForm(request.POST or None, instance=model, project=access.project)
    if request.method == "POST" and form.is_valid():
        try:
            services.model_update_card(actor=request.user, model=_model(access, model_id), card=form.cleaned_data)
            messages.success(request, "Model card saved.")
            return redirect("projects:artifacts:model", project_id=access.project.pk, model_id=model.pk)
        except ValidationError as error:
            form.add_error(None, error)
    return render(
        request,
        "artifacts/model_edit.html",
        {"access": access, "project": access.project, "model": model, "form": form},
    )


@project_view(Capability.EDIT)
@require_POST
def model_validate(request, access, model_id: int):
    model = _model(access, model_id)
    form = ValidationForm(request.POST, project=access.project)
    if form.is_valid():
        try:
            job = services.validation_start(
                actor=request.user,
                model=model,
                dataset=form.cleaned_data["dataset"],
                sample_limit=form.cleaned_data["sample_limit"],
            )
            messages.success(request, f"Validation queued as job {job.pk}.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        _field_errors(request, form)
    return redirect("projects:artifacts:model", project_id=access.project.pk, model_id=model.pk)


def _field_errors(request, form) -> None:
    """Each of a form's errors as a message that starts with the field it is about."""
    for field, errors in form.errors.items():
        label = form[field].label if field in form.fields else "Request"
        messages.error(request, f"{label}: {' '.join(errors)}")


@project_view(Capability.EDIT)
@require_POST
def model_evaluate(request, access, model_id: int):
    model = _model(access, model_id)
    form = EvaluationForm(request.POST, model=model)
    if not form.is_valid():
        _field_errors(request, form)
        return redirect("projects:artifacts:model", project_id=access.project.pk, model_id=model.pk)
    try:
        job = evaluation_start(
            actor=request.user,
            kind=form.cleaned_data["kind"],
            model=model,
            dataset=form.cleaned_data["dataset"],
            teacher=form.cleaned_data.get("teacher"),
            options=form.options(),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("projects:artifacts:model", project_id=access.project.pk, model_id=model.pk)
    messages.success(request, f"{dict(kind_choices())[job.kind]} queued as job {job.pk}.")
    return redirect("projects:jobs:detail", project_id=access.project.pk, job_id=job.pk)


@project_view(Capability.EDIT)
def model_estimate(request, access, model_id: int):
    """The run form's estimate (htmx fragment): how long the chosen test takes at most, before it is queued."""
    model = _model(access, model_id)
    form = EvaluationForm(request.GET, model=model)
    if form.is_valid():
        estimate = evaluation_estimate(
            kind=form.cleaned_data["kind"],
            model=model,
            dataset=form.cleaned_data["dataset"],
            teacher=form.cleaned_data.get("teacher"),
            options=form.options(),
        )
        text = estimate.text
    else:
        text = "Complete the test's fields to see how long it takes."
    return render(request, "artifacts/_estimate.html", {"text": text})


def _delete(request, access, artifact, page: str, **page_kwargs):
    try:
        services.artifact_delete(actor=request.user, artifact=artifact)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(f"projects:artifacts:{page}", project_id=access.project.pk, **page_kwargs)
    messages.success(request, f"“{artifact.name}” and its stored file were deleted.")
    return redirect("projects:artifacts:inventory", project_id=access.project.pk)


@project_view(Capability.EDIT)
@require_POST
def model_delete(request, access, model_id: int):
    """Delete a model upload the intake refused (see services.artifact_delete)."""
    return _delete(request, access, _model(access, model_id), "model", model_id=model_id)


@project_view(Capability.EDIT)
@require_POST
def dataset_delete(request, access, dataset_id: int):
    """Delete a dataset upload the intake refused (see services.artifact_delete)."""
    dataset = get_object_or_404(access.project.datasets, pk=dataset_id)
    return _delete(request, access, dataset, "dataset", dataset_id=dataset_id)


def _download(stored_file, label: str):
    response = FileResponse(stored_file.open("rb"), as_attachment=True, filename=label)
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@project_view()
def model_download(request, access, model_id: int):
    model = _model(access, model_id)
    return _download(model.file, model.original_name)


@project_view()
def dataset_download(request, access, dataset_id: int):
    dataset = get_object_or_404(DatasetArtifact.objects.filter(project=access.project), pk=dataset_id)
    return _download(dataset.file, dataset.original_name)
