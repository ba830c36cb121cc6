"""Hardening: train a new version of the model (all-layer fine-tuning, adversarial fine-tuning, backdoor removal)
and measure it before and after (engine task "hardening", docs/hardening.md). The run form's dataset is the clean
training data; the evaluation data gives the before / after numbers. When the job succeeds the hardened weights
become a new version of the model, taken in like an upload (riskapp.evaluations.services.hardening_finished).

Resuming: the kind is declared with `checkpoints`, so the worker gives the engine a `checkpoint_dir` in the
sandbox's work folder, stores each epoch's checkpoint through the storage API as the task writes it, and copies
the stored one into the next attempt's folder (riskapp.jobs.checkpoints). A job re-delivered after a killed worker
or a crashed sandbox resumes after the last stored epoch, on any worker; its result's `resumed_from_epoch` says
after which, and the result page shows it. The stored checkpoint is deleted when the job ends."""

import math
from typing import Any

from django import forms

from attacks.hardening.methods import ADVERSARIAL_METHODS, METHOD_LABELS  # imports nothing
from riskapp.artifacts.models import ModelArtifact
from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds import fields
from riskapp.evaluations.kinds.base import EngineParams, EvaluationKind

METHODS = tuple(METHOD_LABELS.items())  # the run form's choices: the engine's methods and their words
MAX_EPOCHS = 1000
NUMBER_LABELS = {
    "clean_accuracy": "Clean accuracy",
    "trigger_success": "Trigger success (known trigger)",
    "reversed_trigger_success": "Trigger success (reversed trigger)",
    "robust_accuracy": "Robust accuracy",
}


class HardeningParams(EngineParams):
    method = forms.ChoiceField(choices=METHODS)
    eval_path = forms.CharField()
    eval_id = forms.IntegerField()
    triggered_path = forms.CharField(required=False)
    triggered_id = forms.IntegerField(required=False)
    target_class = forms.IntegerField(required=False, min_value=0)
    eps = forms.FloatField(required=False, min_value=0)
    norm = forms.ChoiceField(choices=(("inf", "L∞"), ("2", "L2")), required=False)
    epochs = forms.IntegerField(min_value=1, max_value=MAX_EPOCHS)
    learning_rate = forms.FloatField(required=False, min_value=1e-8, max_value=10.0)


def _method() -> forms.Field:
    names = ", ".join(name for name, _ in METHODS)
    return forms.ChoiceField(
        choices=METHODS,
        initial="finetune",
        required=False,
        label="Hardening method",
        error_messages={"invalid_choice": f"Unknown method %(value)s; choose one of {names}."},
    )


def _hardening_eps() -> forms.Field:
    return forms.FloatField(
        required=False,
        label="ε (adversarial methods)",
        help_text="Blank: the project's ε.",
        error_messages={"invalid": "ε must be a number, e.g. 0.1 for inputs in [0, 1]."},
    )


def _epochs() -> forms.Field:
    return forms.IntegerField(
        required=False,
        initial=5,
        label="Epochs",
        error_messages={"invalid": "Epochs must be a whole number."},
    )


def _learning_rate() -> forms.Field:
    return forms.FloatField(required=False, label="Learning rate", help_text="Blank: the method's default.")


def _target_class() -> forms.Field:
    return forms.IntegerField(
        required=False,
        min_value=0,
        label="Trigger's class",
        help_text="The class a backdoor scan flagged, or the known trigger's class.",
    )


def _check(form: forms.Form, data: dict[str, Any]) -> None:
    method = data.get("method") or "finetune"
    eps = data.get("hardening_eps")
    if eps is not None and not (math.isfinite(eps) and eps > 0):
        form.add_error("hardening_eps", "ε must be above 0, e.g. 0.1 for inputs in [0, 1].")
    epochs = data.get("epochs")
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        form.add_error("epochs", f"Epochs must be between 1 and {MAX_EPOCHS}.")
    if data.get("learning_rate") is not None and not 0 < data["learning_rate"] <= 10:
        form.add_error("learning_rate", "The learning rate must be above 0 and at most 10.")
    if not data.get("evaluation"):
        form.add_error("evaluation", "Choose the clean evaluation data for the before / after numbers.")
    if method == "unlearn" and data.get("target_class") is None:
        form.add_error("target_class", "Unlearning needs the class a backdoor scan flagged.")
    if data.get("triggered") and data.get("target_class") is None:
        form.add_error("target_class", "Triggered inputs need the class their trigger sends inputs to.")


def _options(data: dict[str, Any], model: ModelArtifact) -> dict[str, Any]:
    from riskapp.evaluations.services import project_budget_of  # services reads the declarations

    method = data.get("method") or "finetune"
    options: dict[str, Any] = {
        "method": method,
        "epochs": data.get("epochs") or 5,
        "eval_id": data["evaluation"].pk,
    }
    if data.get("learning_rate") is not None:
        options["learning_rate"] = data["learning_rate"]
    if data.get("target_class") is not None:
        options["target_class"] = data["target_class"]
    if data.get("triggered"):
        options["triggered_id"] = data["triggered"].pk
    if method in ADVERSARIAL_METHODS:
        budget = project_budget_of(model.project)
        options |= {"eps": data.get("hardening_eps") or budget.eps, "norm": budget.norm}
    return options


def history_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "epoch": entry["epoch"],
            "loss": entry["loss"],
            "clean_accuracy": (entry.get("clean_accuracy") or {}).get("value"),
            "seconds": entry.get("seconds"),
        }
        for entry in result.get("history", [])
    ]


def _present(job: Any, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    before, after = result.get("before") or {}, result.get("after") or {}
    numbers = [
        {"label": label, "before": before.get(name), "after": after.get(name)}
        for name, label in NUMBER_LABELS.items()
        if name in before or name in after
    ]
    history = history_rows(result)
    weights = (result.get("weights") or {}).get("sha256")
    new_model = ModelArtifact.objects.filter(project=job.project_id, sha256=weights).first() if weights else None
    source = ModelArtifact.objects.filter(pk=job.parameters.get("model_id"), project=job.project_id).first()
    return {
        "method_name": METHOD_LABELS.get(result.get("method"), result.get("method")),
        "parameters": sorted((result.get("parameters") or {}).items()),
        "numbers": numbers,
        "history": history,
        "figure": figures.hardening_history(history) if history else None,
        "source_model": source,
        "new_model": new_model,
    }


def _finished(job: Any) -> None:
    from riskapp.evaluations.services import hardening_finished  # services reads the declarations

    hardening_finished(job=job)


HARDENING = EvaluationKind(
    name="hardening",
    label="Hardening",
    description="Trains a hardened version of the model and measures it before and after.",
    engine_task="hardening",
    form=HardeningParams,
    file_params=("model_path", "data_path", "eval_path", "triggered_path"),
    order=90,
    start_label="Hardening (makes a new model version)",
    run_fields={
        "method": _method,
        "evaluation": lambda: fields.dataset(
            "Evaluation data (hardening)", "Clean labelled data for the before / after numbers."
        ),
        "triggered": lambda: fields.dataset(
            "Triggered inputs (hardening)", "Optional: inputs carrying a known trigger, with their true labels."
        ),
        "target_class": _target_class,
        "hardening_eps": _hardening_eps,
        "epochs": _epochs,
        "learning_rate": _learning_rate,
    },
    run_check=_check,
    run_options=_options,
    on_finish=_finished,
    presenter=_present,
    template="hardening",
    checkpoints=True,
)
KINDS = (HARDENING,)
