"""The Gates page: a project's quality gates and how a model fares against them; owners add, edit, delete."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from riskapp.artifacts.selectors import models_not_refused
from riskapp.evaluations.services import project_budget_of
from riskapp.gates import services
from riskapp.gates.evaluate import gates_evaluate, gates_passed
from riskapp.gates.forms import GateForm
from riskapp.gates.models import GateKind
from riskapp.gates.selectors import gate_for_project
from riskapp.projects.access import project_view
from riskapp.projects.roles import Capability


def _chosen_model(request, project):
    models = list(models_not_refused(project=project).order_by("-created_at", "-id"))
    wanted = request.GET.get("model", "")
    chosen = next((m for m in models if str(m.pk) == wanted), models[0] if models else None)
    return models, chosen


@project_view()
def gate_list(request, access):
    return _render_list(request, access)


def _project_norm(project) -> str:
    """The norm of the project's ε: a robust-accuracy gate's norm when the owner chooses none."""
    return project_budget_of(project).norm


def _override_form(request, project, results) -> GateForm:
    """The add form, filled with a default gate's settings when the owner chose to change that default."""
    wanted = request.GET.get("override", "")
    default = next((r.gate for r in results if r.gate.is_default and r.gate.kind == wanted), None)
    initial = GateForm.initial_for(default) if default else {"enabled": True}
    return GateForm(initial=initial, project_norm=_project_norm(project))


def _render_list(request, access, form=None, status=200):
    models, model = _chosen_model(request, access.project)
    results = gates_evaluate(project=access.project, model=model)
    if form is None and access.can_manage:
        form = _override_form(request, access.project, results)
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
            "form": form,
            "has_robust_gate": any(r.gate.kind == GateKind.MIN_ROBUST_ACCURACY for r in results),
        },
        status=status,
    )


@require_POST
@project_view(Capability.MANAGE)
def gate_create(request, access):
    form = GateForm(request.POST, project_norm=_project_norm(access.project))
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
    form = GateForm(
        request.POST or None, initial=GateForm.initial_for(gate), project_norm=_project_norm(access.project)
    )
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
