"""The demo project: a backdoored public teacher, a head-only and an all-layer student, a filled
assessment and the recommended tests queued, so that `make run` shows the whole loop on first start."""

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.artifacts.services import artifact_take_in
from riskapp.assessments.services import answer_set
from riskapp.evaluations.services import evaluation_start
from riskapp.jobs.execute import job_execute
from riskapp.projects.models import Project
from riskapp.projects.services import project_create

DEMO_NAME = "Digits classifier fine-tuned from a public teacher (demo)"
DESCRIPTION = (
    "A student digit classifier fine-tuned from a teacher downloaded from a public hub. The teacher carries a "
    "BadNets backdoor (a corner patch sends any digit to class 0): does the student inherit it?"
)
ANSWERS = {
    "context.uses_pretrained": "yes",
    "context.security_decision": "yes",
    "context.physical_harm": "no",
    "context.data_sensitivity": "internal",
    "context.model_value": "yes",
    "context.who_queries": "customers",
    "context.automatic_action": "yes",
    "context.motivated_adversary": "yes",
    "requirements.integrity_need": "high",
    "requirements.input_eps": 0.1,
    "teacher.source": "public_hub",
    "teacher.weights_public": "yes",
    "teacher.widely_used": "yes",
    "teacher.format": "safetensors",
    "teacher.pinned": "yes",
    "teacher.scanned": "yes",
    "teacher.backdoor_tested": "planned",
    "teacher.robust": "no",
    "fine_tuning.layers": "head_only",
    "fine_tuning.adversarial_training": "planned",
    "fine_tuning.backdoor_scan": "planned",
    "deployment.api_output": ["label", "rounded_scores"],
    "deployment.rate_limits": "yes",
    "operation.stress_testing": "planned",
}
CARD = {
    "architecture": "cnn-digits",
    "num_classes": 10,
    "input_min": 0.0,
    "input_max": 1.0,
    "class_names": [str(digit) for digit in range(10)],
}


def _take(cls, *, actor, project, path: Path, fields: dict[str, Any]):
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    with path.open("rb") as handle:
        artifact = artifact_take_in(
            cls, actor=actor, project=project, upload=File(handle, name=path.name), sha256=sha256, fields=fields
        )
    job_execute(job_id=artifact.intake_job_id)  # at once, here: the tests below need the files ready
    artifact.refresh_from_db()
    return artifact


def seed_demo(*, owner: AbstractBaseUser, files: dict[str, Path] | None = None, log=print) -> Project | None:
    """Create the demo project once; None when it exists already. `files` reuses a built demo (tests)."""
    if Project.objects.filter(name=DEMO_NAME).exists():
        return None
    if files is None:
        from attacks.backdoor.demo import build_demo

        folder = Path(tempfile.mkdtemp(prefix="riskapp-demo-"))
        log("Training the demo's teacher and students on scikit-learn's digits (about a minute on a CPU)…")
        built = build_demo(folder)
        files = {name: Path(path) for name, path in built["paths"].items()}
    with transaction.atomic():
        project = project_create(user=owner, name=DEMO_NAME, description=DESCRIPTION, risk_appetite="medium")
        for question, answer in ANSWERS.items():
            answer_set(actor=owner, project=project, question_id=question, raw=answer)
    log("Taking in the models and datasets through the sandboxed intake…")
    teacher = _take(
        ModelArtifact,
        actor=owner,
        project=project,
        path=files["teacher"],
        fields={
            **CARD,
            "name": "Public digits teacher",
            "role": "teacher",
            "teacher_name": "digits-cnn from a public model hub",
            "teacher_licence": "unknown",
        },
    )
    head = _take(
        ModelArtifact,
        actor=owner,
        project=project,
        path=files["student_head"],
        fields={**CARD, "name": "Student (head only)", "role": "student", "parent": teacher},
    )
    full = _take(
        ModelArtifact,
        actor=owner,
        project=project,
        path=files["student_all"],
        fields={
            **CARD,
            "name": "Student (all layers)",
            "role": "student",
            "parent": teacher,
            "version": "2",
            "previous_version": head,
        },
    )
    test = _take(
        DatasetArtifact,
        actor=owner,
        project=project,
        path=files["test"],
        fields={"name": "digits test", "purpose": "evaluation"},
    )
    triggered = _take(
        DatasetArtifact,
        actor=owner,
        project=project,
        path=files["test_triggered"],
        fields={"name": "digits test with the trigger", "purpose": "evaluation"},
    )
    train = _take(
        DatasetArtifact,
        actor=owner,
        project=project,
        path=files["train"],
        fields={"name": "teacher's training set (poisoned)", "purpose": "training"},
    )
    log("Queueing the recommended tests; the worker runs them while you watch the progress bars.")
    plan = [
        ("backdoor_scan", teacher, test, None, {}),
        ("backdoor_scan", head, test, None, {}),
        ("backdoor_scan", full, test, None, {}),
        ("lineage", head, test, teacher, {}),
        ("lineage", full, test, teacher, {}),
        ("strip", teacher, test, None, {"suspect_id": triggered.pk}),
        ("data_scan", teacher, train, None, {}),
        ("attack_suite", head, test, None, {"attacks": ["fgsm", "pgd_linf", "square"], "eps": 0.1}),
        ("transfer_attack", head, test, teacher, {"attacks": ["pgd_linf"], "eps": 0.1}),
        ("robustness_curve", head, test, None, {"attacks": ["pgd_linf"], "eps": [0.02, 0.05, 0.1, 0.2]}),
        # The same tests on version 2 (all layers fine-tuned): its curve overlays version 1's, the Trends tab
        # compares the versions, and the plan shows these as done on the current version.
        ("attack_suite", full, test, None, {"attacks": ["fgsm", "pgd_linf", "square"], "eps": 0.1}),
        ("transfer_attack", full, test, teacher, {"attacks": ["pgd_linf"], "eps": 0.1}),
        ("robustness_curve", full, test, None, {"attacks": ["pgd_linf"], "eps": [0.02, 0.05, 0.1, 0.2]}),
    ]
    for kind, model, dataset, other, options in plan:
        evaluation_start(
            actor=owner,
            kind=kind,
            model=model,
            dataset=dataset,
            teacher=other,
            options={"sample_limit": 300, **options},
        )
    return project
