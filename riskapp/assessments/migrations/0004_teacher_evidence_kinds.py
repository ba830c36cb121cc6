"""Evidence measured on a teacher, recorded by earlier versions under the student's kinds, gets the teacher's kinds.

An attack on a teacher says what an attacker holding the public teacher can craft, never the student's own
robustness; a scan of a teacher says what the student may inherit. Earlier versions recorded a teacher's attack
results as `robust_accuracy` / `query_robust_accuracy` and its anomaly index as `backdoor_anomaly_index`, which
lowered the student's risks. Today evaluations.services.evaluation_finished records them as
`teacher_robust_accuracy` (the lowest of a job's white-box and query results decides) and
`teacher_backdoor_*`; this migration does the same to the old rows. A model is a teacher as evaluation_finished
decides it: by its card (role "teacher") or because another model of the project was fine-tuned from it.

Each renamed row keeps its old kind in `measurement["recorded_as"]`, so the migration is reversible. When one job
gave both a white-box and a query result, both become `teacher_robust_accuracy` and the lower is made the latest
(the register reads the latest row of a kind per model), as a new job would record it; going back leaves that
row a microsecond later than it was.
"""

from datetime import timedelta

from django.db import migrations

ATTACK_JOBS = ("attack", "attack_suite", "robustness_curve")
TEACHER_KINDS = {
    "robust_accuracy": "teacher_robust_accuracy",
    "query_robust_accuracy": "teacher_robust_accuracy",
    "backdoor_flagged": "teacher_backdoor_flagged",
    "backdoor_anomaly_index": "teacher_backdoor_anomaly_index",
}
RECORDED_AS = "recorded_as"


def _teacher_evidence(apps):
    Evidence = apps.get_model("assessments", "Evidence")
    ModelArtifact = apps.get_model("artifacts", "ModelArtifact")
    teachers = set(ModelArtifact.objects.filter(role="teacher").values_list("pk", flat=True))
    teachers |= set(ModelArtifact.objects.filter(parent__isnull=False).values_list("parent_id", flat=True))
    rows = Evidence.objects.filter(model_id__in=teachers, job__isnull=False).select_related("job")
    for row in rows.order_by("job_id", "id"):
        attack = row.kind in ("robust_accuracy", "query_robust_accuracy") and row.job.kind in ATTACK_JOBS
        scan = row.kind in ("backdoor_flagged", "backdoor_anomaly_index") and row.job.kind == "backdoor_scan"
        if attack or scan:
            yield row


def forwards(apps, schema_editor):
    Evidence = apps.get_model("assessments", "Evidence")
    robustness_by_job: dict[int, list] = {}
    for row in _teacher_evidence(apps):
        row.measurement = {**(row.measurement or {}), RECORDED_AS: row.kind}
        row.kind = TEACHER_KINDS[row.kind]
        row.save(update_fields=["kind", "measurement"])
        if row.kind == "teacher_robust_accuracy":
            robustness_by_job.setdefault(row.job_id, []).append(row)
    for rows in robustness_by_job.values():
        if len(rows) < 2:
            continue
        decisive = min(rows, key=lambda row: (row.value, row.id))
        latest = max(row.recorded_at for row in rows)
        Evidence.objects.filter(pk=decisive.pk).update(recorded_at=latest + timedelta(microseconds=1))


def backwards(apps, schema_editor):
    Evidence = apps.get_model("assessments", "Evidence")
    for row in Evidence.objects.filter(kind__in=set(TEACHER_KINDS.values())):
        measurement = dict(row.measurement or {})
        old = measurement.pop(RECORDED_AS, None)
        if old in TEACHER_KINDS:
            Evidence.objects.filter(pk=row.pk).update(kind=old, measurement=measurement)


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0003_evidence_measurement"),
        ("artifacts", "0002_dataset_purpose_triggered"),
        ("jobs", "0004_job_priority"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
