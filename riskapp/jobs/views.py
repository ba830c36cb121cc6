from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from riskapp.jobs import services
from riskapp.jobs.kinds import KINDS
from riskapp.jobs.selectors import job_for_project, jobs_for_project
from riskapp.projects.access import project_view
from riskapp.projects.roles import Capability


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
        {"access": access, "project": access.project, "jobs": jobs_for_project(project=access.project)[:50]},
    )


@project_view()
def job_detail(request, access, job_id: int):
    job = job_for_project(project=access.project, job_id=job_id)
    return render(
        request, "jobs/detail.html", {"access": access, "project": access.project, "job": job, "files": job.files.all()}
    )


@project_view()
def job_progress_partial(request, access, job_id: int):
    job = job_for_project(project=access.project, job_id=job_id)
    response = render(request, "jobs/_progress.html", {"access": access, "project": access.project, "job": job})
    if job.is_finished and request.headers.get("HX-Request"):
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
def job_file_download(request, access, job_id: int, file_id: int):
    job = job_for_project(project=access.project, job_id=job_id)
    job_file = get_object_or_404(job.files, pk=file_id)
    response = FileResponse(job_file.file.open("rb"), as_attachment=True, filename=job_file.name.replace("/", "_"))
    response["X-Content-Type-Options"] = "nosniff"
    return response
