"""The demo project: a backdoored public teacher, a head-only and an all-layer student, a timm teacher and
its fine-tuned student on colour images, a filled assessment, every model validated and every planned test
queued, so that `make run` shows the whole loop on first start.

The demo's jobs are background work (riskapp.jobs.services.jobs_to_background): a user's own job on the same
queue runs before them, and uploads are taken in on the interactive queue, so trying riskapp with one's own
model never waits behind the demo."""

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.artifacts.services import artifact_take_in, validation_start
from riskapp.assessments.plan_runs import model_test_plan_start
from riskapp.assessments.services import answer_set
from riskapp.evaluations.kinds.backdoor_scan import BACKDOOR_SCAN
from riskapp.evaluations.kinds.data_scan import DATA_SCAN
from riskapp.evaluations.kinds.evasion import ATTACK_SUITE, ROBUSTNESS_CURVE_KIND
from riskapp.evaluations.kinds.lineage import LINEAGE_KIND
from riskapp.evaluations.kinds.strip import STRIP
from riskapp.evaluations.kinds.transfer import TRANSFER_ATTACK
from riskapp.evaluations.services import evaluation_start
from riskapp.jobs.execute import job_execute
from riskapp.jobs.services import jobs_to_background
from riskapp.projects.models import Project
from riskapp.projects.services import project_create

DEMO_NAME = "Digits classifier fine-tuned from a public teacher (demo)"
DESCRIPTION = (
    "A student digit classifier fine-tuned from a teacher downloaded from a public hub. The teacher carries a "
    "BadNets backdoor (a corner patch sends any digit to class 0): does the student inherit it? Beside it, a "
    "timm resnet10t teacher and a student fine-tuned from it on colour images: do attacks crafted on the public "
    "teacher transfer to the student?"
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

# The timm pair (attacks/demo_library.py): timm's own mean and std, at the 32×32 size of the demo's images.
LIBRARY_CARD = {
    "architecture": "timm/resnet10t",
    "num_classes": 3,
    "input_min": 0.0,
    "input_max": 1.0,
    "class_names": ["blue", "green", "red"],
    "preprocessing": {"input_size": [3, 32, 32], "crop_pct": 1.0},
}
# Samples per test: enough for stable numbers, few enough that the whole demo runs in minutes on a CPU.
SAMPLES = 300


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
        from attacks.demo_library import build_library_pair

        folder = Path(tempfile.mkdtemp(prefix="riskapp-demo-"))
        log("Training the demo's teacher and students on scikit-learn's digits (under a minute on a CPU)…")
        built = build_demo(folder)
        log("Training a timm teacher and its student on small colour images (about half a minute on a CPU)…")
        built["paths"] |= build_library_pair(folder)["paths"]
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
        fields={"name": "digits test, triggered (every image carries the backdoor trigger)", "purpose": "triggered"},
    )
    train = _take(
        DatasetArtifact,
        actor=owner,
        project=project,
        path=files["train"],
        fields={"name": "teacher's training set (poisoned)", "purpose": "training"},
    )
    # Taken in after the teacher's, so it is the project's latest training set: what "Run the plan" reads as the
    # members of a membership test on a student (the data the student was fine-tuned on) and as the query set.
    _take(
        DatasetArtifact,
        actor=owner,
        project=project,
        path=files["student_train"],
        fields={"name": "students' fine-tuning set (clean)", "purpose": "training"},
    )
    library_teacher = _take(
        ModelArtifact,
        actor=owner,
        project=project,
        path=files["library_teacher"],
        fields={
            **LIBRARY_CARD,
            "name": "Public colour teacher (timm resnet10t)",
            "role": "teacher",
            "teacher_name": "timm resnet10t from a public model hub",
            "teacher_licence": "unknown",
        },
    )
    library_student = _take(
        ModelArtifact,
        actor=owner,
        project=project,
        path=files["library_student"],
        fields={
            **LIBRARY_CARD,
            "name": "Colour student (head fine-tuned)",
            "role": "student",
            "parent": library_teacher,
        },
    )
    colours = _take(
        DatasetArtifact,
        actor=owner,
        project=project,
        path=files["library_test"],
        fields={"name": "colour images test", "purpose": "evaluation"},
    )
    log("Queueing every model's validation and every planned test, as background work behind your own jobs…")
    with transaction.atomic():
        jobs = [
            validation_start(actor=owner, model=model, dataset=dataset)
            for model, dataset in (
                (teacher, test),
                (head, test),
                (library_teacher, colours),
                (library_student, colours),
            )
        ]
        # The recommended plan for the current version (its validation included); then what the plan asks for
        # but a plan run cannot choose by itself: STRIP on the triggered inputs and the scan of the training set.
        jobs += model_test_plan_start(actor=owner, model=full, dataset=test, sample_limit=SAMPLES).jobs
        for kind, model, dataset, other, options in (
            (STRIP, teacher, test, None, {"suspect_id": triggered.pk}),
            (DATA_SCAN, teacher, train, None, {}),
            # Version 1 (head only) too: its curve overlays version 2's, and the Trends tab compares the versions.
            (BACKDOOR_SCAN, head, test, None, {}),
            (LINEAGE_KIND, head, test, teacher, {}),
            (ATTACK_SUITE, head, test, None, {"attacks": ["fgsm", "pgd_linf", "square"], "eps": 0.1}),
            (TRANSFER_ATTACK, head, test, teacher, {"attacks": ["pgd_linf"], "eps": 0.1}),
            (ROBUSTNESS_CURVE_KIND, head, test, None, {"attacks": ["pgd_linf"], "eps": [0.02, 0.05, 0.1, 0.2]}),
            # Does an attack crafted on the public timm teacher fool its fine-tuned student?
            (TRANSFER_ATTACK, library_student, colours, library_teacher, {"attacks": ["pgd_linf"], "eps": 0.03}),
        ):
            jobs.append(
                evaluation_start(
                    actor=owner,
                    kind=kind.name,
                    model=model,
                    dataset=dataset,
                    teacher=other,
                    options={"sample_limit": SAMPLES, **options},
                )
            )
        jobs_to_background(jobs=jobs)
    return project
