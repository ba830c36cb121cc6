from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from riskapp.projects import services
from riskapp.projects.access import project_view
from riskapp.projects.forms import MemberAddForm, MemberRoleForm, ProjectForm
from riskapp.projects.overview import overview_context
from riskapp.projects.roles import Capability
from riskapp.projects.selectors import memberships_for_user, project_memberships


@login_required
def project_list(request):
    return render(request, "projects/list.html", {"memberships": memberships_for_user(user=request.user)})


@login_required
def project_create(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(user=request.user, **form.cleaned_data)
        messages.success(request, f"Project “{project.name}” created. You are its owner.")
        return redirect("projects:detail", project_id=project.pk)
    return render(request, "projects/form.html", {"form": form, "title": "New project"})


@project_view()
def project_detail(request, access):
    """The project overview; its figures, verdict and jobs come from the apps above through projects.overview."""
    context = {"access": access, "project": access.project} | overview_context(project=access.project)
    return render(request, "projects/detail.html", context)


@project_view(Capability.MANAGE)
def project_settings(request, access):
    project = access.project
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        services.project_update(actor=request.user, project=project, **form.cleaned_data)
        messages.success(request, "Project settings saved.")
        return redirect("projects:detail", project_id=project.pk)
    return render(request, "projects/form.html", {"form": form, "title": "Project settings", "project": project})


@project_view()
def member_list(request, access):
    return render(
        request,
        "projects/members.html",
        {
            "access": access,
            "project": access.project,
            "memberships": project_memberships(project=access.project),
            "add_form": MemberAddForm(),
            "role_form": MemberRoleForm(),
        },
    )


@project_view(Capability.MANAGE)
@require_POST
def member_add(request, access):
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            services.membership_add(
                actor=request.user,
                project=access.project,
                user=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
            messages.success(request, f"{form.cleaned_data['username'].get_username()} added.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        for field, errors in form.errors.items():
            label = form[field].label if field in form.fields else "Member"
            messages.error(request, f"{label}: {' '.join(errors)}")
    return redirect("projects:members", project_id=access.project.pk)


@project_view(Capability.MANAGE)
@require_POST
def member_update(request, access, membership_id: int):
    membership = get_object_or_404(access.project.memberships, pk=membership_id)
    form = MemberRoleForm(request.POST)
    try:
        if request.POST.get("action") == "remove":
            services.membership_remove(actor=request.user, membership=membership)
            messages.success(request, f"{membership.user.get_username()} removed from the project.")
        elif form.is_valid():
            services.membership_set_role(actor=request.user, membership=membership, role=form.cleaned_data["role"])
            messages.success(request, f"{membership.user.get_username()} is now {membership.get_role_display()}.")
        else:
            messages.error(request, f"Role: {' '.join(form.errors['role'])}")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("projects:members", project_id=access.project.pk)
