"""The report (HTML and JSON), the DefectDojo findings and the CycloneDX ML-BOM of a project."""

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, Finding, ModelRole
from riskapp.assessments import services as assessments
from tests.riskapp.dashboards.test_pages import attack_result, finished, make_model, scan_result

pytestmark = pytest.mark.django_db

# DefectDojo's Generic Findings Import (JSON): the keys it requires and every key it accepts on a finding.
DOJO_REQUIRED = {"title", "severity", "description"}
DOJO_ALLOWED = DOJO_REQUIRED | {
    "date", "cwe", "cve", "epss_score", "epss_percentile", "cvssv3", "cvssv3_score", "cvssv4", "cvssv4_score",
    "mitigation", "impact", "steps_to_reproduce", "severity_justification", "references", "active", "verified",
    "false_p", "out_of_scope", "risk_accepted", "under_review", "is_mitigated", "thread_id", "mitigated",
    "numerical_severity", "param", "payload", "line", "file_path", "component_name", "component_version",
    "static_finding", "dynamic_finding", "scanner_confidence", "unique_id_from_tool", "vuln_id_from_tool",
    "sast_source_object", "sast_sink_object", "sast_source_line", "sast_source_file_path", "nb_occurences",
    "publish_date", "service", "planned_remediation_date", "planned_remediation_version", "effort_for_fixing",
    "tags", "endpoints", "files", "vulnerability_ids", "cwes",
}  # fmt: skip
DOJO_SEVERITIES = {"Critical", "High", "Medium", "Low", "Info"}


@pytest.fixture
def populated(team):
    project = team.project
    assessments.answer_set(actor=team.owner, project=project, question_id="context.uses_pretrained", raw="yes")
    teacher = make_model(project, "public teacher", role=ModelRole.TEACHER)
    student = make_model(project, "student", parent=teacher)
    finished(project, "attack", student, attack_result(0.42))
    finished(project, "backdoor_scan", student, scan_result([1]))
    finished(project, "lineage", student, {"verdict": "inherited"}, teacher_id=teacher.pk)
    DatasetArtifact.objects.create(
        project=project,
        name="digits test",
        original_name="digits.npz",
        sha256="d" * 64,
        size=3,
        file=ContentFile(b"abc", name="d.upload"),
    )
    Finding.objects.create(project=project, kind="malicious_file", title="Pickle with os.system", detail={})
    return {"teacher": teacher, "student": student}


def get(client, name, team):
    response = client.get(reverse(f"projects:dashboards:{name}", args=[team.project.pk]))
    assert response.status_code == 200
    return response


def test_report_json_has_summary_register_evidence_and_sign_off(team, client_for, populated):
    response = get(client_for(team.viewer), "report_json", team)
    assert "attachment" in response["Content-Disposition"]
    report = json.loads(response.content)
    assert report["schema"] == "riskapp.report/1"
    assert report["summary"]["backdoor_flagged_models"] == ["student v1"]
    assert report["summary"]["lowest_robust_accuracy"] == 0.42
    assert len(report["register"]) == report["summary"]["risks"] > 0
    student = next(m for m in report["models"] if m["name"] == "student")
    assert student["robust_accuracy"]["pgd_linf"]["robust_accuracy"] == 0.42
    assert student["backdoor_scan"]["flagged_classes"] == [1]
    assert report["lineage"][0]["verdict"] == "inherited"
    assert report["sign_off"][0]["status"] == "draft"


def test_printable_report_shows_the_same_content(team, client_for, populated):
    page = get(client_for(team.viewer), "report", team).content.decode()
    assert "Executive summary" in page and "backdoor suspected in student v1" in page
    assert "report-heatmap-figure" in page and "Sign-off" in page


def test_the_report_of_a_project_with_no_answers_says_not_assessed_yet_rather_than_zero(team, client_for):
    report = json.loads(get(client_for(team.viewer), "report_json", team).content)
    assert report["summary"]["assessed"] == 0 and report["summary"]["not_assessed"] == report["summary"]["risks"] > 0
    assert report["summary"]["current_by_band"]["critical"] == 0
    for name in ("report", "report_pdf"):
        response = get(client_for(team.viewer), name, team)
        assert response.status_code == 200
    page = get(client_for(team.viewer), "report", team).content.decode()
    assert f"0 of {report['summary']['risks']} threats assessed" in page
    assert "not assessed yet" in page and "0 not_assessed" not in page


def test_defectdojo_export_follows_the_generic_findings_format(team, client_for, populated):
    document = json.loads(get(client_for(team.viewer), "defectdojo", team).content)
    findings = document["findings"]
    assert findings
    for finding in findings:
        assert DOJO_REQUIRED <= set(finding) <= DOJO_ALLOWED, set(finding) - DOJO_ALLOWED
        assert finding["severity"] in DOJO_SEVERITIES
    ids = [f["unique_id_from_tool"] for f in findings]
    assert len(ids) == len(set(ids))  # stable, distinct ids: a re-import updates instead of duplicating
    assert f"riskapp:project:{team.project.pk}:model:{populated['student'].pk}:backdoor" in ids
    assert any(f["vuln_id_from_tool"] == "malicious_file" and f["severity"] == "Critical" for f in findings)
    assert any(f["vuln_id_from_tool"] == "backdoor_inherited" for f in findings)
    again = json.loads(get(client_for(team.viewer), "defectdojo", team).content)
    assert [f["unique_id_from_tool"] for f in again["findings"]] == ids


def test_cyclonedx_ml_bom_validates_and_lists_models_lineage_and_data(team, client_for, populated):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    response = get(client_for(team.viewer), "cyclonedx", team)
    assert response["Content-Type"] == "application/vnd.cyclonedx+json"
    text = response.content.decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    by_name = {c["name"]: c for c in bom["components"]}
    student = by_name["student"]
    assert student["type"] == "machine-learning-model"
    assert student["hashes"] == [{"alg": "SHA-256", "content": populated["student"].sha256}]
    assert student["pedigree"]["ancestors"][0]["name"] == "public teacher"
    assert "inherited" in student["pedigree"]["notes"]
    properties = {p["name"]: p["value"] for p in student["properties"]}
    assert properties["riskapp:robust_accuracy:pgd_linf@eps=0.1"] == "0.42"
    assert by_name["digits test"]["type"] == "data"
    depends = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert depends[f"model-{populated['student'].pk}"] == [f"model-{populated['teacher'].pk}"]


@pytest.fixture
def measured(team):
    """A student attacked on 200 inputs, with the evidence the register keeps of it."""
    from riskapp.assessments.models import Evidence

    project = team.project
    assessments.answer_set(actor=team.owner, project=project, question_id="context.uses_pretrained", raw="yes")
    student = make_model(project, "student")
    result = attack_result(0.42)
    result["attacks"][0]["samples"] = 200
    job = finished(project, "attack", student, result)
    Evidence.objects.create(
        project=project,
        kind="robust_accuracy",
        value=0.42,
        source=f"attack job {job.pk}",
        job=job,
        model=student,
        measurement={"attacks": ["pgd_linf"], "steps": 20, "samples": 200},
    )
    return student


def test_every_export_gives_the_sample_count_and_interval_of_a_measured_share(team, client_for, measured):
    from riskapp.assessments.scoring import wilson_interval

    low, high = (round(end, 4) for end in wilson_interval(84, 200))
    report = json.loads(get(client_for(team.viewer), "report_json", team).content)
    row = next(m for m in report["models"] if m["name"] == "student")["robust_accuracy"]["pgd_linf"]
    assert row["samples"] == 200 and row["ci95"] == [low, high]
    interval = f"95% CI {low:.3f}–{high:.3f} over 200 inputs"
    assert interval in get(client_for(team.viewer), "report", team).content.decode()
    findings = json.loads(get(client_for(team.viewer), "defectdojo", team).content)["findings"]
    assert any(f"robust_accuracy = 0.42 on student v1 ({interval}" in f["description"] for f in findings)
    bom = json.loads(get(client_for(team.viewer), "cyclonedx", team).content)
    properties = {p["name"]: p["value"] for c in bom["components"] for p in c.get("properties", [])}
    assert properties["riskapp:robust_accuracy_samples:pgd_linf@eps=0.1"] == "200"
    assert properties["riskapp:robust_accuracy_ci95:pgd_linf@eps=0.1"] == f"{low}–{high}"
