"""The Gates page: a project's quality gates and how a model fares against them; owners add, edit, delete."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from riskapp.gates import services
from riskapp.gates.evaluate import gates_evaluate, gates_passed
from riskapp.gates.forms import GateForm
from riskapp.gates.selectors import gate_for_project
from riskapp.projects.access import project_view
from riskapp.projects.roles import Capability


def _chosen_model(request, project):
    models = list(project.models.order_by("-created_at", "-id"))
    wanted = request.GET.get("model", "")
    chosen = next((m for m in models if str(m.pk) == wanted), models[0] if models else None)
    return models, chosen


@project_view()
def gate_list(request, access):
    return _render_list(request, access)


def _render_list(request, access, form=None, status=200):
    models, model = _chosen_model(request, access.project)
    results = gates_evaluate(project=access.project, model=model)
    return render(
        request,
        "gates/list.html",
        {
            "access": access,
            "project": access.project,
            "models": models,
            "model": model,
            "results": results,
            "passed": gates_passed(results),
            "form": form or (GateForm(initial={"enabled": True}) if access.can_manage else None),
        },
        status=status,
    )


@require_POST
@project_view(Capability.MANAGE)
def gate_create(request, access):
    form = GateForm(request.POST)
    if not form.is_valid():
        return _render_list(request, access, form=form, status=400)
    gate = services.gate_create(
        actor=request.user,
        project=access.project,
        kind=form.cleaned_data["kind"],
        params=form.params(),
        enabled=form.cleaned_data["enabled"],
    )
    messages.success(request, f"Gate added: {gate.describe()}.")
    return redirect("projects:gates:list", access.project.pk)


@project_view(Capability.MANAGE)
def gate_edit(request, access, gate_id: int):
    gate = gate_for_project(project=access.project, gate_id=gate_id)
    form = GateForm(request.POST or None, initial=GateForm.initial_for(gate))
    if request.method == "POST" and form.is_valid():
        services.gate_update(
            actor=request.user,
            gate=gate,
            kind=form.cleaned_data["kind"],
            params=form.params(),
            enabled=form.cleaned_data["enabled"],
        )
        messages.success(request, f"Gate saved: {gate.describe()}.")
        return redirect("projects:gates:list", access.project.pk)
    return render(
        request,
        "gates/form.html",
        {"access": access, "project": access.project, "gate": gate, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@project_view(Capability.MANAGE)
def gate_delete(request, access, gate_id: int):
    gate = gate_for_project(project=access.project, gate_id=gate_id)
    description = gate.describe()
    services.gate_delete(actor=request.user, gate=gate)
    messages.success(request, f"Gate deleted: {description}.")
    return redirect("projects:gates:list", access.project.pk)
