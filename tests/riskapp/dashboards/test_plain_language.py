"""Plain language on every main page of the demo project: no internal identifier (an evidence kind, a job kind, a
rule id, a question id, a threat id) in the text a user reads, no server file name and no timestamp with
microseconds. Labels come from one place (riskapp/labels.py)."""

import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.urls import reverse

from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentVersion
from riskapp.dashboards.demo import DEMO_NAME
from riskapp.jobs.kinds import KINDS
from riskapp.jobs.models import Job
from riskapp.projects.models import Project

pytestmark = pytest.mark.django_db
MICROSECONDS = re.compile(r"\d:\d\d\.\d{3,6}")
SERVER_FILES = re.compile(r"\b(?:uploads|weights|datasets|jobs)/\d{4}/\d{2}/|\bjob\d+-[0-9a-f]{16,}")
# Whole words only: "privacy.membership_inference" is NIST's name for it, not riskapp's threat id.
SNAKE = re.compile(r"(?<![\w.])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?!\w|\.\w)")
DOTTED = re.compile(r"(?<![\w.])[a-z][a-z0-9_]*\.[a-z][a-z0-9_]+(?!\w|\.\w)")


class VisibleText(HTMLParser):
    """The text a reader sees: element text, not tags, attributes, scripts or styles."""

    def __init__(self):
        super().__init__()
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "\n".join(parser.parts)


def internal_vocabulary() -> set[str]:
    bank = load_bank()
    ids = {kind.id for kind in bank.evidence_kinds} | {rule.id for rule in bank.evidence_rules}
    ids |= {rule.id for rule in bank.plan_rules} | {threat.id for threat in bank.threats}
    ids |= {question.id for question in bank.questions} | set(KINDS)
    return {i for i in ids if "_" in i or "." in i}


def problems_in(text: str, vocabulary: set[str]) -> list[str]:
    found = [f"internal id {word!r}" for word in SNAKE.findall(text) + DOTTED.findall(text) if word in vocabulary]
    found += [f"timestamp with microseconds {m!r}" for m in MICROSECONDS.findall(text)]
    found += [f"server file name {m!r}" for m in SERVER_FILES.findall(text)]
    found += [f"help about a talk {m!r}" for m in re.findall(r"the talk\b", text)]
    return found


@pytest.fixture
def demo_project(team, demo_folder, django_capture_on_commit_callbacks) -> Project:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", owner="owner", from_dir=demo_folder)
    return Project.objects.get(name=DEMO_NAME)


def main_pages(project: Project) -> dict[str, str]:
    p = {"project_id": project.pk}
    model = ModelArtifact.objects.filter(project=project, parent__isnull=False).first()
    dataset = DatasetArtifact.objects.filter(project=project).first()
    jobs = {job.kind: job for job in Job.objects.filter(project=project)}  # one page per kind of job
    return {
        **{
            f"a {kind} job": reverse("projects:jobs:detail", kwargs={**p, "job_id": job.pk})
            for kind, job in jobs.items()
        },
        "overview": reverse("projects:detail", kwargs=p),
        "risk": reverse("projects:dashboards:risk", kwargs=p),
        "register": reverse("projects:assessments:register", kwargs=p),
        "questionnaire": reverse("projects:assessments:questionnaire", kwargs=p),
        "status panel": reverse("projects:assessments:status", kwargs=p),
        "teachers": reverse("projects:dashboards:teachers", kwargs=p),
        "portfolio": reverse("dashboards:portfolio"),
        "trends": reverse("projects:dashboards:trends", kwargs=p),
        "report": reverse("projects:dashboards:report", kwargs=p),
        "jobs": reverse("projects:jobs:list", kwargs=p),
        "a model": reverse("projects:artifacts:model", kwargs={**p, "model_id": model.pk}),
        "a dataset": reverse("projects:artifacts:dataset", kwargs={**p, "dataset_id": dataset.pk}),
        "gates": reverse("projects:gates:list", kwargs=p),
    }


def test_the_demo_pages_speak_plain_language(demo_project, team, client_for):
    client = client_for(team.owner)
    vocabulary = internal_vocabulary()
    assert {"teacher_backdoor_flagged", "robustness_curve", "context.security_decision"} <= vocabulary
    found = {}
    for name, url in main_pages(demo_project).items():
        response = client.get(url)
        assert response.status_code == 200, name
        problems = problems_in(visible_text(response.content.decode()), vocabulary)
        if problems:
            found[name] = sorted(set(problems))
    assert found == {}


def test_the_check_finds_what_it_looks_for():
    vocabulary = {"teacher_backdoor_flagged", "context.security_decision"}
    html = (
        "<p>Evidence: teacher_backdoor_flagged</p><p>when context.security_decision = 'Yes'</p>"
        "<p>at 2026-12-03 18:13:04.123456</p><p>file uploads/2026/12/m_Idu.upload</p>"
        '<script>var a = "teacher_backdoor_flagged";</script><a title="context.security_decision">ok</a>'
    )
    assert problems_in(visible_text(html), vocabulary) == [
        "internal id 'teacher_backdoor_flagged'",
        "internal id 'context.security_decision'",
        "timestamp with microseconds '3:04.123456'",
        "server file name 'uploads/2026/12/'",
    ]


def test_the_plan_states_its_parameters_in_words_with_the_norm(team, client_for):
    answers = {
        "requirements.integrity_need": "high",
        "requirements.input_eps": 0.5,
        "requirements.input_norm": "l2",
    }
    AssessmentVersion.objects.create(project=team.project, number=1, bank_version=3, answers=answers)
    client = client_for(team.owner)
    p = {"project_id": team.project.pk}
    html = client.get(reverse("projects:assessments:register", kwargs=p)).content.decode()
    table = visible_text(html[html.index('<table class="plan">') : html.index("</table>", html.index('class="plan"'))])
    assert "PGD; ε 0.5 (L2); 20 steps" in table
    assert "FGSM, PGD, DeepFool, Square; ε 0.5 (L2); 1000 queries per input" in table
    assert "PGD; ε up to 1 (L2); 8 points" in table
    assert "=" not in table and "norm" not in table and SNAKE.findall(table) == []
    exported = {
        "Markdown": client.get(reverse("projects:assessments:export_markdown", kwargs=p)).content.decode(),
        "print": visible_text(client.get(reverse("projects:assessments:export_print", kwargs=p)).content.decode()),
    }
    for name, text in exported.items():
        assert "Attack suite (FGSM, PGD, DeepFool, Square; ε 0.5 (L2); 1000 queries per input)" in text, name
        assert "norm=" not in text and "eps=" not in text and "pgd_linf" not in text, name
