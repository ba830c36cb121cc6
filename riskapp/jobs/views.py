from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from riskapp.artifacts.selectors import jobs_with_subjects
from riskapp.jobs import services
from riskapp.jobs.kinds import KINDS
from riskapp.jobs.selectors import job_for_project, jobs_for_project
from riskapp.projects.access import project_view
from riskapp.projects.roles import Capability

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@project_view(Capability.EDIT)
@require_POST
def job_create(request, access):
    kind = KINDS.get(request.POST.get("kind", ""))
    if kind is None or not kind.user_startable:
        messages.error(request, "Choose one of the listed job kinds.")
        return redirect("projects:detail", project_id=access.project.pk)
    prefix = f"{kind.name}-"
    parameters = {key[len(prefix) :]: value for key, value in request.POST.items() if key.startswith(prefix)}
    try:
        job = services.job_create(user=request.user, project=access.project, kind=kind.name, parameters=parameters)
    except ValidationError as error:
        messages.error(request, f"{kind.label} not started: {' '.join(error.messages)}")
        return redirect("projects:detail", project_id=access.project.pk)
    messages.success(request, f"{kind.label} queued as job {job.pk}.")
    return redirect("projects:detail", project_id=access.project.pk)


@project_view()
def job_list_partial(request, access):
    """The project's jobs table; htmx polls it while any job is queued or running."""
    return render(
        request,
        "jobs/_table.html",
        {
            "access": access,
            "project": access.project,
            "jobs": jobs_with_subjects(project=access.project, jobs=jobs_for_project(project=access.project)[:50]),
        },
    )


@project_view()
def job_detail(request, access, job_id: int):
    job = job_for_project(project=access.project, job_id=job_id)
    jobs_with_subjects(project=access.project, jobs=[job])
    files = list(job.files.all())
    kind = KINDS.get(job.kind)
    # The stored files a job reads are the server's business; the page names the model and dataset instead.
    hidden = set(kind.file_params) if kind else set()
    parameters = {
        key: value
        for key, value in job.parameters.items()
        if key not in hidden and key != "path" and not key.endswith("_path")
    }
    presentation = kind.present(job, files) if kind and kind.present else {}
    if presentation:
        context = {**presentation, "access": access, "project": access.project, "job": job}
        presentation["html"] = render_to_string(presentation["template"], context, request=request)
    return render(
        request,
        "jobs/detail.html",
        {
            "access": access,
            "project": access.project,
            "job": job,
            "parameters": parameters,
            "files": files,
            "presentation": presentation,
        },
    )


@project_view()
def job_progress_partial(request, access, job_id: int):
    job = job_for_project(project=access.project, job_id=job_id)
    response = render(request, "jobs/_progress.html", {"access": access, "project": access.project, "job": job})
    if job.is_finished and request.htmx:
        response["HX-Refresh"] = "true"  # reload the page once, to show the result and files
    return response


@project_view(Capability.EDIT)
@require_POST
def job_cancel(request, access, job_id: int):
    job = job_for_project(project=access.project, job_id=job_id)
    try:
        job = services.job_cancel(actor=request.user, job=job)
        messages.success(
            request,
            f"Job {job.pk}: "
            + ("cancelled." if job.status == "cancelled" else "asked to stop; it ends at its next check point."),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    if request.POST.get("next") == "detail":
        return redirect("projects:jobs:detail", project_id=access.project.pk, job_id=job.pk)
    return redirect("projects:detail", project_id=access.project.pk)


@project_view()
def job_file_image(request, access, job_id: int, file_id: int):
    """A PNG a job wrote, shown inline on its result page. Only files that are PNGs by name and by their first
    bytes are served inline (as image/png, nosniff); anything else is 404 here and goes through the download."""
    job = job_for_project(project=access.project, job_id=job_id)
    job_file = get_object_or_404(job.files, pk=file_id, name__endswith=".png")
    handle = job_file.file.open("rb")
    if handle.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
        handle.close()
        raise Http404("Not a PNG image.")
    handle.seek(0)
    response = FileResponse(handle, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@project_view()
def job_file_download(request, access, job_id: int, file_id: int):
    job = job_for_project(project=access.project, job_id=job_id)
    job_file = get_object_or_404(job.files, pk=file_id)
    response = FileResponse(job_file.file.open("rb"), as_attachment=True, filename=job_file.name.replace("/", "_"))
    response["X-Content-Type-Options"] = "nosniff"
    return response
