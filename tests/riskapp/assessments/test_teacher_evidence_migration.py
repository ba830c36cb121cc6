"""The data migration that gives old teacher evidence the teacher's kinds, forwards and back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(assessments):
    """Migrate the assessments app to `assessments`, every other app to its latest; the models as they were then."""
    executor = MigrationExecutor(connection)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "assessments"]
    targets = [*others, ("assessments", assessments)]
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


BEFORE = "0003_evidence_measurement"
AFTER = "0004_teacher_evidence_kinds"


@pytest.mark.django_db(transaction=True)
def test_old_teacher_evidence_gets_the_teacher_kinds_and_back():
    apps = migrate(BEFORE)
    Project = apps.get_model("projects", "Project")
    ModelArtifact = apps.get_model("artifacts", "ModelArtifact")
    Job = apps.get_model("jobs", "Job")
    Evidence = apps.get_model("assessments", "Evidence")
    project = Project.objects.create(name="old project")

    def model(name, **fields):
        return ModelArtifact.objects.create(
            project=project, name=name, original_name=f"{name}.pt", sha256=name.ljust(64, "0"), size=1, **fields
        )

    carded = model("carded", role="teacher")
    parent = model("parent")  # a teacher because a student was fine-tuned from it
    student = model("student", role="student", parent=parent)

    def evidence(on, job_kind, kind, value):
        job = Job.objects.create(project=project, kind=job_kind, queue="gpu", parameters={"model_id": on.pk})
        return Evidence.objects.create(
            project=project, kind=kind, value=value, source="old", job=job, model=on, measurement={"steps": 20}
        )

    teacher_attack = evidence(carded, "attack", "robust_accuracy", 0.3)
    teacher_curve = evidence(parent, "robustness_curve", "robust_accuracy", 0.5)
    teacher_scan = evidence(parent, "backdoor_scan", "backdoor_anomaly_index", 4.1)
    student_attack = evidence(student, "attack", "robust_accuracy", 0.7)
    white = evidence(carded, "attack_suite", "robust_accuracy", 0.2)
    query = Evidence.objects.create(
        project=project, kind="query_robust_accuracy", value=0.6, source="old", job=white.job, model=carded
    )

    apps = migrate(AFTER)
    Evidence = apps.get_model("assessments", "Evidence")
    kinds = dict(Evidence.objects.values_list("pk", "kind"))
    assert kinds[teacher_attack.pk] == kinds[teacher_curve.pk] == "teacher_robust_accuracy"
    assert kinds[teacher_scan.pk] == "teacher_backdoor_anomaly_index"
    assert kinds[student_attack.pk] == "robust_accuracy"  # the student's own evidence is untouched
    assert kinds[white.pk] == kinds[query.pk] == "teacher_robust_accuracy"
    # One job's white-box and query results: the lower is the latest, so it decides as a new job's would.
    suite_rows = Evidence.objects.filter(job_id=white.job_id).order_by("-recorded_at", "-id")
    assert [row.pk for row in suite_rows] == [white.pk, query.pk]
    assert Evidence.objects.get(pk=teacher_attack.pk).measurement == {"steps": 20, "recorded_as": "robust_accuracy"}

    apps = migrate(BEFORE)
    Evidence = apps.get_model("assessments", "Evidence")
    kinds = dict(Evidence.objects.values_list("pk", "kind"))
    assert kinds[teacher_attack.pk] == kinds[teacher_curve.pk] == kinds[white.pk] == "robust_accuracy"
    assert kinds[query.pk] == "query_robust_accuracy"
    assert kinds[teacher_scan.pk] == "backdoor_anomaly_index"
    assert Evidence.objects.get(pk=teacher_attack.pk).measurement == {"steps": 20}
    migrate(AFTER)
