"""Sign-off guard rails: what is still wrong with an assessment when someone submits or approves it.

An incomplete questionnaire, a failing release gate or a risk above the appetite without a valid acceptance does
not forbid the sign-off, but it must be seen: submitting or approving then needs an explicit confirmation with a
reason, which the audit event keeps next to the problems it overrode.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone

from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentVersion
from riskapp.assessments.register import register_rows
from riskapp.assessments.selectors import questionnaire_sections
from riskapp.gates.selectors import release_candidate, verdict_inputs
from riskapp.gates.verdict import REGISTER_GATE

PAST = {"submit": "submitted", "approve": "approved"}


class SignoffNeedsConfirmation(ValidationError):
    """Submitting or approving with open problems, without confirming and giving a reason."""

    def __init__(self, action: str, problems: list[str]):
        self.action = action  # "submit" or "approve"
        self.problems = problems
        super().__init__(
            f"Not {PAST[action]}: {' '.join(problems)} To {action} it anyway, confirm and give a reason "
            "(kept in the audit log)."
        )


def _listing(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def signoff_problems(*, version: AssessmentVersion) -> list[str]:
    """What an approver should know before signing this version off, in plain sentences; empty when nothing."""
    project = version.project
    problems = []
    sections = questionnaire_sections(load_bank(), version.answers)
    answered = sum(section.answered for section in sections)
    total = sum(section.total for section in sections)
    if answered < total:
        problems.append(f"The questionnaire is incomplete: {answered} of {total} questions answered.")

    _, rows = register_rows(project, version.answers)
    model = release_candidate(project=project)
    inputs = verdict_inputs(project=project, model=model, today=timezone.localdate(), rows=rows)
    # The register gate fails exactly when a risk below is open; the risks say it more precisely.
    failed = [gate for gate in inputs.gates if gate.passed is False and gate.kind != REGISTER_GATE]
    if failed:
        on = f" on {inputs.model}" if inputs.model else ""
        details = _listing([f"{gate.description} ({gate.message})" for gate in failed])
        problems.append(f"{len(failed)} release gate{'s fail' if len(failed) != 1 else ' fails'}{on}: {details}.")
    expired = [r for r in inputs.risks if r.accepted and r.expires_on is not None and r.expires_on < inputs.today]
    unaccepted = [r for r in inputs.risks if not r.accepted]
    if unaccepted:
        problems.append(
            f"{len(unaccepted)} risk{'s are' if len(unaccepted) != 1 else ' is'} above the project's risk appetite "
            f"({project.risk_appetite}) without an accepted treatment: "
            f"{_listing([f'{r.name} ({r.band})' for r in unaccepted])}."
        )
    if expired:
        problems.append(
            f"The acceptance of {len(expired)} risk{'s' if len(expired) != 1 else ''} above the appetite has expired: "
            f"{_listing([f'{r.name} (expired {r.expires_on.isoformat()})' for r in expired])}."
        )
    return problems


def signoff_check(*, version: AssessmentVersion, action: str, confirmed: bool, reason: str) -> list[str]:
    """The version's problems, refused (SignoffNeedsConfirmation) unless confirmed with a reason.
    `action`: "submit" or "approve", for the message."""
    problems = signoff_problems(version=version)
    if problems and not (confirmed and reason.strip()):
        raise SignoffNeedsConfirmation(action, problems)
    return problems
