"""The portfolio and the project risk page: who sees what, what they show, and that their cost does not grow."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from riskapp.artifacts.models import ModelArtifact, ModelRole
from riskapp.assessments import services as assessments
from riskapp.assessments.models import AssessmentStatus, RiskTreatment, Treatment
from riskapp.dashboards.models import ProjectRiskSummary
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Membership, Project

pytestmark = pytest.mark.django_db
PORTFOLIO = reverse("dashboards:portfolio")
QUERIES: list = []


def risk_url(project) -> str:
    return reverse("projects:dashboards:risk", args=[project.pk])


def make_model(project, name, version="1", role=ModelRole.STUDENT, parent=None, previous=None) -> ModelArtifact:
    return ModelArtifact.objects.create(
        project=project,
        name=name,
        version=version,
        role=role,
        parent=parent,
        previous_version=previous,
        original_name=f"{name}.safetensors",
        sha256=f"{project.pk}-{name}-{version}".encode().hex().ljust(64, "0")[:64],
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
    )


def finished(project, kind, model, result, **parameters) -> Job:
    return Job.objects.create(
        project=project,
        kind=kind,
        queue="gpu",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model.pk, **parameters},
        result=result,
        finished_at=timezone.now(),
    )


def attack_result(robust: float, trustworthy: bool = True) -> dict:
    row = {"attack": "pgd_linf", "eps": 0.1, "robust_accuracy": robust, "clean_accuracy": 0.99}
    return {"attacks": [row], "trustworthy": trustworthy, "clean_accuracy": 0.99}


def scan_result(flagged: list[int]) -> dict:
    classes = [{"class": k, "anomaly_index": 3.5 if k in flagged else 0.5, "flagged": k in flagged} for k in range(3)]
    return {"flagged_classes": flagged, "classes": classes, "anomaly_threshold": 2.0}


def populated_project(owner, name: str) -> Project:
    """A project with an answered assessment, a teacher, a student, an attack, a scan, a curve and lineage."""
    project = Project.objects.create(name=name, risk_appetite="low", created_by=owner)
    Membership.objects.create(project=project, user=owner, role="owner")
    assessments.answer_set(actor=owner, project=project, question_id="context.uses_pretrained", raw="yes")
    teacher = make_model(project, "teacher", role=ModelRole.TEACHER)
    student = make_model(project, "student", parent=teacher)
    finished(project, "attack", student, attack_result(0.42))
    finished(project, "backdoor_scan", teacher, scan_result([0]))
    finished(project, "backdoor_scan", student, scan_result([]))
    curve = {"norm": "inf", "curve": [{"eps": 0.05, "robust_accuracy": 0.8}, {"eps": 0.1, "robust_accuracy": 0.4}]}
    finished(project, "robustness_curve", student, curve | {"trustworthy": True})
    finished(project, "lineage", student, {"verdict": "inherited"}, teacher_id=teacher.pk)
    return project


# --- portfolio -----------------------------------------------------------------------------------------------


def test_portfolio_lists_only_the_users_projects_with_their_bands(team, client_for):
    hidden = Project.objects.create(name="Someone else's", risk_appetite="low", created_by=team.outsider)
    Membership.objects.create(project=hidden, user=team.outsider, role="owner")
    # One answer, so that some threats are assessed and the project has a highest band.
    assessments.answer_set(actor=team.owner, project=team.project, question_id="context.uses_pretrained", raw="yes")
    page = client_for(team.viewer).get(PORTFOLIO).content.decode()
    assert "Traffic signs" in page and "Someone else" not in page
    summary = ProjectRiskSummary.objects.get(project=team.project)
    assert summary.highest_band and not summary.stale
    assert f'badge-{summary.highest_band}">{summary.highest_band}' in page
    assert "portfolio-bars-figure" in page


def test_portfolio_requires_sign_in(client):
    response = client.get(PORTFOLIO)
    assert response.status_code == 302 and reverse("login") in response.url


def test_an_answer_marks_the_summary_stale_and_the_portfolio_rescores_it(team, client_for):
    client = client_for(team.owner)
    client.get(PORTFOLIO)
    before = ProjectRiskSummary.objects.get(project=team.project)
    assessments.answer_set(actor=team.owner, project=team.project, question_id="context.uses_pretrained", raw="yes")
    assert ProjectRiskSummary.objects.get(project=team.project).stale
    client.get(PORTFOLIO)
    after = ProjectRiskSummary.objects.get(project=team.project)
    assert not after.stale and after.updated_at > before.updated_at


def test_portfolio_filters_and_sorts(team, client_for):
    other = Project.objects.create(name="Zebra crossing detector", risk_appetite="low", created_by=team.owner)
    Membership.objects.create(project=other, user=team.owner, role="owner")
    client = client_for(team.owner)
    page = client.get(PORTFOLIO, {"q": "zebra"}).content.decode()
    assert "Zebra crossing" in page and "Traffic signs" not in page
    page = client.get(PORTFOLIO, {"sort": "name", "dir": "asc"}).content.decode()
    assert page.index("Traffic signs") < page.index("Zebra crossing")
    page = client.get(PORTFOLIO, {"sort": "name", "dir": "desc"}).content.decode()
    assert page.index("Zebra crossing") < page.index("Traffic signs")
    assert "No project matches" in client.get(PORTFOLIO, {"overdue": "1"}).content.decode()


def test_overdue_acceptance_and_trend_are_shown(team, client_for):
    assessments.answer_set(actor=team.owner, project=team.project, question_id="context.uses_pretrained", raw="no")
    version = team.project.assessment_versions.get()
    assessments.assessment_submit(actor=team.owner, version=version, confirmed=True, reason="Pilot sign-off.")
    assessments.assessment_approve(actor=team.reviewer, version=version, confirmed=True, reason="Pilot sign-off.")
    threat = "backdoor_inherited"
    assessments.treatment_set(
        actor=team.owner,
        project=team.project,
        threat_id=threat,
        treatment=Treatment.ACCEPT,
        owner=team.owner,
        actor_can_review=True,
        rationale="Accepted for the pilot.",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
    )
    # Time passes: the acceptance's expiry date is now in the past (the summary compares it with today).
    RiskTreatment.objects.filter(project=team.project, threat_id=threat).update(
        expires_on=timezone.localdate() - datetime.timedelta(days=1)
    )
    # A worse answer after the approval: the summed current score rises against the approved snapshot.
    assessments.answer_set(actor=team.owner, project=team.project, question_id="context.uses_pretrained", raw="yes")
    page = client_for(team.owner).get(PORTFOLIO, {"overdue": "1"}).content.decode()
    assert "Traffic signs" in page and "1 overdue" in page and "↑ worse" in page
    assert ProjectRiskSummary.objects.get(project=team.project).assessment_status == AssessmentStatus.DRAFT


def test_portfolio_queries_do_not_grow_with_projects_and_jobs(django_user_model, client):
    owner = django_user_model.objects.create_user("manager", password="x" * 12)
    client.force_login(owner)

    def count() -> int:
        client.get(PORTFOLIO)  # refreshes stale summaries
        with CaptureQueriesContext(connection) as queries:
            assert client.get(PORTFOLIO).status_code == 200
        return len(queries)

    populated_project(owner, "first")
    small = count()
    for i in range(8):
        populated_project(owner, f"more {i}")
    assert count() == small, "\n".join(q["sql"][:150] for q in QUERIES[-1])


# --- project risk page ---------------------------------------------------------------------------------------


def test_risk_page_shows_robustness_backdoors_lineage_and_plan(team, client_for):
    project = team.project
    assessments.answer_set(actor=team.owner, project=project, question_id="context.uses_pretrained", raw="yes")
    teacher = make_model(project, "public teacher", role=ModelRole.TEACHER)
    student = make_model(project, "student", parent=teacher)
    finished(project, "attack", student, attack_result(0.42))
    finished(project, "backdoor_scan", teacher, scan_result([0]))
    finished(project, "lineage", student, {"verdict": "inherited"}, teacher_id=teacher.pk)
    page = client_for(team.viewer).get(risk_url(project)).content.decode()
    assert "risk-heatmap-figure" in page and "lineage-graph-figure" in page
    assert "0.420" in page  # the student's robust accuracy
    assert "backdoor suspected" in page and "public teacher v1 → student v1" in page
    assert ">inherited<" in page
    assert "Recommended test plan" in page and "not run" in page


def test_a_test_on_a_replaced_model_version_is_stale_in_the_plan(team, client_for):
    project = team.project
    v1 = make_model(project, "student", "1")
    finished(project, "validation", v1, {"accuracy": 0.99})
    page = client_for(team.viewer).get(risk_url(project)).content.decode()
    assert "the model has a newer version" not in page
    make_model(project, "student", "2", previous=v1)
    page = client_for(team.viewer).get(risk_url(project)).content.decode()
    assert "the model has a newer version" in page and ">stale<" in page


def test_viewer_sees_no_edit_controls_on_the_risk_page(team, client_for):
    page = client_for(team.viewer).get(risk_url(team.project)).content.decode()
    assert "<form" not in page.split("</nav>", 2)[-1]  # nothing to submit below the navigation


def test_risk_page_queries_do_not_grow_with_models_and_jobs(django_user_model, client):
    owner = django_user_model.objects.create_user("assessor2", password="x" * 12)
    client.force_login(owner)
    project = populated_project(owner, "grows")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(risk_url(project)).status_code == 200
        QUERIES.append(queries.captured_queries)
        return len(queries)

    count()
    small = count()
    for i in range(10):
        model = make_model(project, f"extra {i}")
        finished(project, "attack", model, attack_result(0.5))
        finished(project, "backdoor_scan", model, scan_result([]))
    assert count() == small, "\n".join(q["sql"][:150] for q in QUERIES[-1])


# --- teacher selection and trends ----------------------------------------------------------------------------


def test_teacher_selection_recommends_the_verified_clean_robust_teacher(team, client_for):
    project = team.project
    backdoored = make_model(project, "hub teacher A", role=ModelRole.TEACHER)
    robust = make_model(project, "hub teacher B", role=ModelRole.TEACHER)
    robust.teacher_sha256, robust.teacher_licence = robust.sha256, "Apache-2.0"
    robust.save()
    unverified = make_model(project, "hub teacher C", role=ModelRole.TEACHER)
    unverified.teacher_sha256 = "0" * 64  # the published hash does not match the uploaded file
    unverified.save()
    finished(project, "backdoor_scan", backdoored, scan_result([0]))
    finished(project, "attack", backdoored, attack_result(0.9))
    finished(project, "backdoor_scan", robust, scan_result([]))
    finished(project, "attack", robust, attack_result(0.6))
    page = client_for(team.viewer).get(reverse("projects:dashboards:teachers", args=[project.pk])).content.decode()
    assert "Recommended: <strong>" in page and "hub teacher B v1</a></strong>" in page
    assert "a backdoor scan flags class(es) [0]" in page
    assert "does not match the published hash" in page
    assert page.count("blocked</span>") == 2


def test_trends_follow_a_model_across_versions(team, client_for):
    project = team.project
    v1 = make_model(project, "student", "1")
    v2 = make_model(project, "student", "2", previous=v1)
    finished(project, "attack", v1, attack_result(0.61))
    finished(project, "attack", v2, attack_result(0.27))
    finished(project, "backdoor_scan", v2, scan_result([3]))
    page = client_for(team.viewer).get(reverse("projects:dashboards:trends", args=[project.pk])).content.decode()
    assert "version-trend-figure" in page
    assert page.index("0.610") < page.index("0.270") and "backdoor suspected" in page
