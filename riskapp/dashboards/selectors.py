"""Reads for the portfolio and the project risk page, scoped by membership."""

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, IntegerField, Max, Q, QuerySet, Value, When
from django.utils import timezone

from riskapp.artifacts.kinds import VALIDATION
from riskapp.bands import Band
from riskapp.dashboards.models import ProjectRiskSummary
from riskapp.dashboards.services import risk_summary_refresh
from riskapp.evaluations.kinds import EVALUATION_KINDS
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Membership, Project

SORTS = {
    "name": ("project__name", "project_id"),
    "band": ("band_rank", "risk_score", "project__name"),
    "score": ("risk_score", "project__name"),
    "above": ("above_appetite", "project__name"),
    "status": ("assessment_status", "project__name"),
}


@dataclass(frozen=True)
class PortfolioRow:
    project: Project
    role: str
    summary: ProjectRiskSummary
    last_test_at: datetime | None
    overdue: int


def refresh_stale_summaries(*, user: AbstractBaseUser, today: date | None = None) -> int:
    """Re-score the user's projects whose summary is missing, stale or from an earlier day (an acceptance may
    have expired since: the ship verdict depends on the date); returns how many were refreshed."""
    today = today or timezone.localdate()
    stale = Project.objects.filter(memberships__user=user).filter(
        Q(risk_summary__isnull=True)
        | Q(risk_summary__stale=True)
        | Q(risk_summary__verdict_on__isnull=True)
        | Q(risk_summary__verdict_on__lt=today)
    )
    count = 0
    for project in stale:
        risk_summary_refresh(project=project)
        count += 1
    return count


def portfolio_summaries(
    *,
    user: AbstractBaseUser,
    band: str = "",
    status: str = "",
    query: str = "",
    overdue_only: bool = False,
    sort: str = "band",
    descending: bool = True,
    today: date,
) -> QuerySet[ProjectRiskSummary]:
    """The summaries of every project the user is a member of, filtered and sorted (in the database)."""
    rank = Case(
        *[When(highest_band=b.value, then=Value(b.rank)) for b in Band],
        default=Value(-1),
        output_field=IntegerField(),
    )
    summaries = (
        ProjectRiskSummary.objects.filter(project__memberships__user=user)
        .select_related("project")
        .annotate(band_rank=rank)
    )
    if band in {b.value for b in Band}:
        summaries = summaries.filter(highest_band=band)
    if status:
        summaries = summaries.filter(assessment_status=status)
    if query:
        summaries = summaries.filter(project__name__icontains=query)
    if overdue_only:
        summaries = summaries.filter(next_expiry__lt=today)
    fields = SORTS.get(sort, SORTS["band"])
    return summaries.order_by(*[f"-{f}" if descending else f for f in fields])


def portfolio_rows(*, user: AbstractBaseUser, summaries: list[ProjectRiskSummary], today: date) -> list[PortfolioRow]:
    """The page's rows: each summary with the user's role and the project's last successful test, in 2 queries."""
    ids = [s.project_id for s in summaries]
    roles = dict(Membership.objects.filter(user=user, project_id__in=ids).values_list("project_id", "role"))
    tested = (VALIDATION, *EVALUATION_KINDS)  # jobs that count as "the project was tested"
    last_tests = dict(
        Job.objects.filter(project_id__in=ids, kind__in=tested, status=JobStatus.SUCCEEDED)
        .values("project_id")
        .annotate(last=Max("finished_at"))
        .values_list("project_id", "last")
    )
    return [
        PortfolioRow(
            s.project, roles.get(s.project_id, ""), s, last_tests.get(s.project_id), s.overdue_acceptances(today)
        )
        for s in summaries
    ]
