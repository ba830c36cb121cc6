"""Who may open which project URL: every route of a project, for every role and for outsiders.

The routes are read from the URL configuration, so a new project route without a rule
here fails `test_every_project_route_has_an_access_rule`.
"""

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, reverse

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentVersion
from riskapp.gates.models import QualityGate
from riskapp.jobs.models import Job, JobFile, JobStatus
from riskapp.jobs.views import PNG_SIGNATURE
from riskapp.projects import urls as project_urls

ROLES = ("owner", "assessor", "reviewer", "viewer")
THREAT = load_bank().threats[0].id

# url name -> (method, roles allowed). Everyone else who is a member gets 403, outsiders 404.
RULES = {
    "projects:detail": ("GET", ROLES),
    "projects:members": ("GET", ROLES),
    "projects:settings": ("GET", ("owner",)),
    "projects:member_add": ("POST", ("owner",)),
    "projects:member_update": ("POST", ("owner",)),
    "projects:jobs:list": ("GET", ROLES),
    "projects:jobs:create": ("POST", ("owner", "assessor")),
    "projects:jobs:detail": ("GET", ROLES),
    "projects:jobs:progress": ("GET", ROLES),
    "projects:jobs:cancel": ("POST", ("owner", "assessor")),
    "projects:jobs:file": ("GET", ROLES),
    "projects:jobs:image": ("GET", ROLES),
    "projects:assessments:questionnaire": ("GET", ROLES),
    "projects:assessments:answer": ("POST", ("owner", "assessor")),
    "projects:assessments:status": ("GET", ROLES),
    "projects:assessments:submit": ("POST", ("owner", "assessor")),
    "projects:assessments:review": ("POST", ("owner", "reviewer")),
    "projects:assessments:register": ("GET", ROLES),
    "projects:assessments:treatment": ("POST", ("owner", "assessor", "reviewer")),
    "projects:assessments:plan_run": ("POST", ("owner", "assessor")),
    "projects:assessments:plan_estimate": ("GET", ("owner", "assessor")),
    "projects:assessments:history": ("GET", ROLES),
    "projects:assessments:version": ("GET", ROLES),
    "projects:assessments:export_csv": ("GET", ROLES),
    "projects:assessments:export_json": ("GET", ROLES),
    "projects:assessments:export_markdown": ("GET", ROLES),
    "projects:assessments:export_print": ("GET", ROLES),
    "projects:dashboards:risk": ("GET", ROLES),
    "projects:dashboards:teachers": ("GET", ROLES),
    "projects:dashboards:trends": ("GET", ROLES),
    "projects:dashboards:report": ("GET", ROLES),
    "projects:dashboards:report_json": ("GET", ROLES),
    "projects:dashboards:report_pdf": ("GET", ROLES),
    "projects:dashboards:defectdojo": ("GET", ROLES),
    "projects:dashboards:cyclonedx": ("GET", ROLES),
    "projects:artifacts:inventory": ("GET", ROLES),
    "projects:artifacts:model_upload": ("POST", ("owner", "assessor")),
    "projects:artifacts:model": ("GET", ROLES),
    "projects:artifacts:model_edit": ("GET", ("owner", "assessor")),
    "projects:artifacts:model_validate": ("POST", ("owner", "assessor")),
    "projects:artifacts:model_evaluate": ("POST", ("owner", "assessor")),
    "projects:artifacts:model_estimate": ("GET", ("owner", "assessor")),
    "projects:artifacts:model_download": ("GET", ROLES),
    "projects:artifacts:model_delete": ("POST", ("owner", "assessor")),
    "projects:artifacts:dataset_upload": ("POST", ("owner", "assessor")),
    "projects:artifacts:dataset_download": ("GET", ROLES),
    "projects:artifacts:dataset_delete": ("POST", ("owner", "assessor")),
    "projects:artifacts:dataset": ("GET", ROLES),
    "projects:artifacts:architectures": ("GET", ROLES),
    "projects:artifacts:dataset_demo": ("POST", ("owner", "assessor")),
    "projects:gates:list": ("GET", ROLES),
    "projects:gates:create": ("POST", ("owner",)),
    "projects:gates:edit": ("GET", ("owner",)),
    "projects:gates:delete": ("POST", ("owner",)),
}


def project_route_names(patterns=project_urls.urlpatterns, namespace="projects", under_project=False):
    for pattern in patterns:
        in_project = under_project or "project_id" in str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from project_route_names(pattern.url_patterns, f"{namespace}:{pattern.namespace}", in_project)
        elif isinstance(pattern, URLPattern) and in_project:
            yield f"{namespace}:{pattern.name}"


def test_every_project_route_has_an_access_rule():
    assert set(project_route_names()) == set(RULES)


@pytest.fixture
def objects(team):
    job = Job.objects.create(
        project=team.project, kind="environment_check", queue="gpu", status=JobStatus.RUNNING, attempts=1
    )
    job_file = JobFile.objects.create(job=job, name="report.csv", size=4, file=ContentFile(b"a,b\n", name="r.csv"))
    png = PNG_SIGNATURE + b"rest"
    image = JobFile.objects.create(job=job, name="example.png", size=len(png), file=ContentFile(png, name="e.png"))
    viewer_membership = team.project.memberships.get(user=team.viewer)
    version = AssessmentVersion.objects.create(
        project=team.project, number=1, bank_version=1, answers={"context.uses_pretrained": "yes"}
    )
    model = ModelArtifact.objects.create(
        project=team.project,
        name="teacher",
        original_name="teacher.safetensors",
        sha256="a" * 64,
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
    )
    dataset = DatasetArtifact.objects.create(
        project=team.project,
        name="digits",
        original_name="digits.npz",
        sha256="b" * 64,
        size=3,
        file=ContentFile(b"abc", name="d.upload"),
    )
    gate = QualityGate.objects.create(project=team.project, kind="no_backdoor_flag")
    return {
        "gate": gate,
        "job": job,
        "file": job_file,
        "image": image,
        "membership": viewer_membership,
        "version": version,
        "model": model,
        "dataset": dataset,
    }


def url_for(name, team, objects):
    kwargs = {"project_id": team.project.pk}
    if name in ("projects:member_update",):
        kwargs["membership_id"] = objects["membership"].pk
    if name.startswith("projects:jobs:") and name not in ("projects:jobs:list", "projects:jobs:create"):
        kwargs["job_id"] = objects["job"].pk
    if name == "projects:jobs:file":
        kwargs["file_id"] = objects["file"].pk
    if name == "projects:jobs:image":
        kwargs["file_id"] = objects["image"].pk
    if name == "projects:assessments:treatment":
        kwargs["threat_id"] = THREAT
    if name.startswith("projects:artifacts:model") and name != "projects:artifacts:model_upload":
        kwargs["model_id"] = objects["model"].pk
    if name in (
        "projects:artifacts:dataset_download",
        "projects:artifacts:dataset",
        "projects:artifacts:dataset_delete",
    ):
        kwargs["dataset_id"] = objects["dataset"].pk
    if name == "projects:assessments:version":
        kwargs["number"] = objects["version"].number
    if name in ("projects:gates:edit", "projects:gates:delete"):
        kwargs["gate_id"] = objects["gate"].pk
    return reverse(name, kwargs=kwargs)


POST_DATA = {
    "projects:member_add": {"username": "outsider", "role": "viewer"},
    "projects:member_update": {"role": "reviewer", "action": "set_role"},
    "projects:jobs:create": {"kind": "environment_check", "environment_check-queue": "cpu"},
    "projects:jobs:cancel": {},
    "projects:assessments:answer": {"question": "context.uses_pretrained", "value": "no"},
    "projects:assessments:submit": {},
    "projects:assessments:review": {"action": "return", "comment": "Explain the teacher's source."},
    "projects:assessments:treatment": {f"{THREAT}-treatment": "mitigate"},
}


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("who", (*ROLES, "outsider", "staff", "anonymous"))
def test_project_route_access(name, who, team, objects, client_for):
    method, allowed = RULES[name]
    client = client_for(None if who == "anonymous" else getattr(team, who))
    url = url_for(name, team, objects)
    response = client.post(url, POST_DATA.get(name, {})) if method == "POST" else client.get(url)
    if who == "anonymous":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    elif who in ("outsider", "staff"):
        # Staff manage projects through Django admin; in the app they are outsiders like anyone.
        assert response.status_code == 404
    elif who in allowed:
        # Through the access gate: a page, a redirect, or (a POST without its file) a form error.
        assert response.status_code in ((200, 302, 400) if method == "POST" else (200, 302))
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("name", sorted(name for name, (method, _) in RULES.items() if method == "POST"))
def test_state_changing_routes_refuse_get(name, team, objects, client_for):
    response = client_for(team.owner).get(url_for(name, team, objects))
    assert response.status_code == 405


def test_outsider_gets_404_for_a_job_of_another_project_through_their_own_project(team, objects, client_for):
    from riskapp.projects.services import project_create

    own = project_create(user=team.outsider, name="Own", risk_appetite="low")
    url = reverse("projects:jobs:detail", kwargs={"project_id": own.pk, "job_id": objects["job"].pk})
    assert client_for(team.outsider).get(url).status_code == 404


def test_unknown_project_is_404_for_everyone(team, client_for):
    assert client_for(team.owner).get(reverse("projects:detail", kwargs={"project_id": 999999})).status_code == 404


def test_project_list_shows_only_the_users_projects(team, client_for):
    from riskapp.projects.services import project_create

    project_create(user=team.outsider, name="Secret project", risk_appetite="low")
    page = client_for(team.viewer).get(reverse("projects:list")).content.decode()
    assert "Traffic signs" in page and "Secret project" not in page


def test_viewer_sees_no_edit_controls(team, client_for):
    page = client_for(team.viewer).get(reverse("projects:detail", kwargs={"project_id": team.project.pk}))
    html = page.content.decode()
    assert "Run environment check" not in html and "Cancel" not in html and "Settings" not in html


def test_assessor_sees_run_and_cancel_controls(team, objects, client_for):
    page = client_for(team.assessor).get(reverse("projects:detail", kwargs={"project_id": team.project.pk}))
    html = page.content.decode()
    assert "Run environment check" in html and ">Cancel<" in html


def test_overview_summarises_assessment_risk_and_models(team, objects, client_for):
    page = client_for(team.viewer).get(reverse("projects:detail", kwargs={"project_id": team.project.pk}))
    html = page.content.decode()
    assert "Version 1" in html and "critical" in html and "0 of 1 model ready" in html and "1 dataset" in html
