from django.db import models


class ProjectRiskSummary(models.Model):
    """One row per project with the figures the portfolio shows.

    The portfolio lists every project a user may see; scoring each project's register on every page view
    would cost queries and time in proportion to the number of projects. So a change that can move the
    scores (answers, evidence, treatments, the appetite, gates, models) marks the row stale (signals.py),
    and the portfolio re-scores only stale rows when it is read (selectors.portfolio_rows)."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="risk_summary")
    highest_band = models.CharField(max_length=16, blank=True)  # empty: no threats scored yet
    band_counts = models.JSONField(default=dict)  # band -> number of threats currently in it
    risk_score = models.PositiveIntegerField(default=0)  # sum of the current scores: the trend's measure
    baseline_score = models.PositiveIntegerField(null=True, blank=True)  # the same sum at the last approval
    above_appetite = models.PositiveIntegerField(default=0)
    # The questionnaire's completeness: questions that apply to the latest answers, and how many are answered.
    questions = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    acceptance_expiries = models.JSONField(default=list)  # ISO dates of accepted risks' expiries
    next_expiry = models.DateField(null=True, blank=True)  # the earliest of them: "any overdue?" in SQL
    assessment_status = models.CharField(max_length=32, blank=True)
    assessment_version = models.PositiveIntegerField(null=True, blank=True)
    # The project's ship verdict as gates.verdict worked it out (Verdict.as_dict), a derived copy like the rest.
    # It also depends on the date (acceptances expire), so a copy worked out on an earlier day is re-scored.
    verdict = models.JSONField(default=dict)
    verdict_on = models.DateField(null=True, blank=True)
    stale = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["highest_band"], name="summary_band")]

    def __str__(self) -> str:
        return f"{self.project_id}: {self.highest_band or 'not scored'}"

    @property
    def trend(self) -> str:
        """ "up" (worse), "down" (better) or "flat" since the last approved assessment; "" without one."""
        if self.baseline_score is None:
            return ""
        if self.risk_score > self.baseline_score:
            return "up"
        return "down" if self.risk_score < self.baseline_score else "flat"

    def overdue_acceptances(self, today) -> int:
        return sum(1 for day in self.acceptance_expiries if day < today.isoformat())
