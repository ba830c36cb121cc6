"""Reads for the assessment pages: versions, the questionnaire's sections, diffs and the plan checklist."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max, QuerySet
from django.http import Http404

from riskapp.artifacts.models import ModelArtifact, ModelRole
from riskapp.assessments.bank import UNKNOWN, Area, Bank, Question, question_visible
from riskapp.assessments.models import AssessmentVersion
from riskapp.assessments.plan import PlannedJob, recommended_plan
from riskapp.assessments.register import register_snapshot
from riskapp.evaluations.kinds import job_runs_planned, plan_on_teacher
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Project


def assessment_latest(*, project: Project) -> AssessmentVersion | None:
    return project.assessment_versions.select_related("submitted_by", "reviewed_by").order_by("-number").first()


def assessment_versions(*, project: Project) -> QuerySet[AssessmentVersion]:
    return project.assessment_versions.select_related("created_by", "submitted_by", "reviewed_by").order_by("-number")


def assessment_version(*, project: Project, number: int) -> AssessmentVersion:
    version = assessment_versions(project=project).filter(number=number).first()
    if version is None:
        raise Http404("No such assessment version.")
    return version


@dataclass
class QuestionItem:
    question: Question
    answer: Any  # stored form, or None when unanswered

    @property
    def answered(self) -> bool:
        return self.answer is not None

    @property
    def is_unknown(self) -> bool:
        return self.answer == UNKNOWN

    @property
    def label(self) -> str:
        if self.answer is None:
            return "Not answered"
        value = tuple(self.answer) if isinstance(self.answer, list) else self.answer
        return "Don't know" if value == UNKNOWN else self.question.label_for(value)

    @property
    def chosen(self) -> list[str]:
        """Chosen option values, for ticking radio buttons and checkboxes."""
        if isinstance(self.answer, list):
            return self.answer
        return [self.answer] if isinstance(self.answer, str) else []


@dataclass
class Section:
    area: Area
    items: list[QuestionItem] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(item.answered for item in self.items)

    @property
    def unknown(self) -> int:
        return sum(item.is_unknown for item in self.items)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 100


def questionnaire_sections(bank: Bank, answers: dict[str, Any]) -> list[Section]:
    """The questions that apply to these answers, by area; hidden questions are left out."""
    sections = {area.id: Section(area) for area in bank.areas}
    for question in bank.questions:
        if question_visible(question, answers):
            sections[question.area].items.append(QuestionItem(question, answers.get(question.id)))
    return list(sections.values())


def _snapshot(version: AssessmentVersion) -> dict[str, Any]:
    return version.snapshot or register_snapshot(version.project, version.answers)


def versions_diff(bank: Bank, older: AssessmentVersion, newer: AssessmentVersion) -> dict[str, list]:
    """What changed between two versions: answers (question, before, after) and scores per threat."""
    answers = []
    for question in bank.questions:
        before, after = older.answers.get(question.id), newer.answers.get(question.id)
        if before != after:
            answers.append((question, QuestionItem(question, before).label, QuestionItem(question, after).label))
    old_risks, new_risks = _snapshot(older)["risks"], _snapshot(newer)["risks"]
    scores = []
    for threat in bank.threats:
        before, after = old_risks.get(threat.id), new_risks.get(threat.id)
        if before != after:
            scores.append((threat, before, after))
    return {"answers": answers, "scores": scores}


@dataclass(frozen=True)
class PlanItem:
    planned: PlannedJob
    state: str  # not run | running | done | stale | failed
    job: Job | None


def _runs_planned(job: Job, planned: PlannedJob, roles: dict[int, str]) -> bool:
    """Whether `job` ran this planned job. The plan can list a kind more than once (a PGD and a Square attack;
    a backdoor scan of the teacher and one of the student): those are told apart by the attack and the target."""
    if not job_runs_planned(planned, job.kind, job.parameters):
        return False
    if "target" in planned.params:  # the plan line names the model it runs on: the teacher or the student
        on_teacher = roles.get(job.parameters.get("model_id")) == ModelRole.TEACHER
        return on_teacher == plan_on_teacher(planned.kind, planned.params)
    return True


def plan_checklist(*, project: Project, bank: Bank, answers: dict[str, Any]) -> list[PlanItem]:
    """The recommended test plan, each item with the state of the project's latest job that ran it.

    "stale": the latest job succeeded, but on a model that has since been replaced by a newer version."""
    plan = recommended_plan(bank, answers)
    # The newest job of each planned kind, attack, norm, model and start of an extraction's copy (ids grow with
    # creation): a handful of queries whatever the number of jobs.
    newest = (
        project.jobs.filter(kind__in={p.kind for p in plan})
        .values("kind", "parameters__attacks", "parameters__norm", "parameters__model_id", "parameters__copy_weights")
        .annotate(newest=Max("id"))
        .values("newest")
    )
    candidates = sorted(Job.objects.filter(pk__in=newest), key=lambda job: job.pk, reverse=True)
    models = ModelArtifact.objects.filter(project=project)
    superseded = set(models.filter(next_versions__isnull=False).values_list("pk", flat=True))
    roles = dict(models.values_list("pk", "role")) if any("target" in p.params for p in plan) else {}
    items = []
    for planned in plan:
        job = next((job for job in candidates if _runs_planned(job, planned, roles)), None)
        if job is None:
            state = "not run"
        elif job.is_active:
            state = "running"
        elif job.status == JobStatus.SUCCEEDED:
            state = "stale" if job.parameters.get("model_id") in superseded else "done"
        else:
            state = "failed"
        items.append(PlanItem(planned, state, job))
    return items
