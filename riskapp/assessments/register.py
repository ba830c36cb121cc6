"""The project's risk register: the bank's scoring of the current answers, the latest evidence and treatments."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from riskapp.artifacts.models import ModelArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import Evidence, RiskTreatment, Treatment
from riskapp.assessments.scoring import Rating, Register, ThreatRisk, score
from riskapp.bands import Band
from riskapp.projects.models import Project


def latest_evidence(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Evidence kind -> the most recent measurement of it per model (one for project-wide facts).

    A model replaced by a newer version no longer speaks for the project: its measurements are left out."""
    superseded = ModelArtifact.objects.filter(previous_version=OuterRef("model_id"))
    items = (
        Evidence.objects.filter(project=project)
        .exclude(Exists(superseded))
        .select_related("model")
        .order_by("kind", "model_id", "-recorded_at", "-id")
    )
    latest: dict[tuple[str, int | None], dict[str, Any]] = {}
    for item in items:
        entry = {"value": item.value, "source": item.source, "recorded_at": item.recorded_at, "job_id": item.job_id}
        if item.measurement:
            entry["measurement"] = item.measurement
        if item.model is not None:
            entry["model"] = f"{item.model.name} v{item.model.version}"
        latest.setdefault((item.kind, item.model_id), entry)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for (kind, _), entry in latest.items():
        by_kind.setdefault(kind, []).append(entry)
    return by_kind


def project_register(project: Project, answers: dict[str, Any]) -> Register:
    return score(load_bank(), answers, latest_evidence(project))


def _rating(rating: Rating) -> dict[str, Any]:
    """Band "not_assessed" (score 0) for a threat none of whose questions is answered yet."""
    return {"likelihood": rating.likelihood, "impact": rating.impact, "score": rating.score, "band": rating.band}


def register_snapshot(project: Project, answers: dict[str, Any]) -> dict[str, Any]:
    """The scores as plain data, frozen into a version when it is submitted or approved."""
    register = project_register(project, answers)
    return {
        "bank_version": register.bank_version,
        "risks": {
            risk.threat.id: {
                "inherent": _rating(risk.inherent),
                "current": _rating(risk.current),
                "projected": _rating(risk.projected),
            }
            for risk in register.risks
        },
    }


@dataclass(frozen=True)
class RegisterRow:
    risk: ThreatRisk
    treatment: RiskTreatment | None
    above_appetite: bool

    @property
    def threat(self):
        return self.risk.threat

    @property
    def acceptance_overdue(self) -> bool:
        t = self.treatment
        return bool(t and t.treatment == Treatment.ACCEPT and t.expires_on and t.expires_on < timezone.localdate())


def register_rows(project: Project, answers: dict[str, Any]) -> tuple[Register, list[RegisterRow]]:
    """The register with treatments, highest current risk first."""
    register = project_register(project, answers)
    treatments = {t.threat_id: t for t in RiskTreatment.objects.filter(project=project).select_related("owner")}
    appetite = Band.rank_of(project.risk_appetite)
    rows = [
        RegisterRow(risk, treatments.get(risk.threat.id), risk.current.band.rank > appetite) for risk in register.risks
    ]
    rows.sort(key=lambda row: (-row.risk.current.score, -row.risk.inherent.score, row.threat.name))
    return register, rows


def register_document(project: Project) -> dict[str, Any]:
    """The register as JSON-ready data: the JSON export, and the CSV's rows."""
    version = project.assessment_versions.order_by("-number").first()
    scored, rows = register_rows(project, version.answers if version else {})
    return {
        "project": {
            "id": project.pk,
            "name": project.name,
            "risk_appetite": project.risk_appetite,
        },
        "assessment": {
            "version": version.number if version else None,
            "status": version.status if version else None,
            "bank_version": scored.bank_version,
            "questions": scored.questions,
            "answered": scored.answered,
        },
        "risks": [
            {
                "threat": row.threat.id,
                "name": row.threat.name,
                "atlas": list(row.threat.atlas),
                "owasp_ml": list(row.threat.owasp_ml),
                "nist": row.threat.nist_category,
                "inherent": _rating(row.risk.inherent),
                "current": _rating(row.risk.current),
                "projected": _rating(row.risk.projected),
                "above_appetite": row.above_appetite,
                "assessed": row.risk.assessed,
                "questions": row.risk.questions,
                "answered": row.risk.answered,
                "treatment": row.treatment.treatment if row.treatment else None,
                "owner": row.treatment.owner.get_username() if row.treatment and row.treatment.owner else None,
                "expires_on": row.treatment.expires_on.isoformat()
                if row.treatment and row.treatment.expires_on
                else None,
                "acceptance_overdue": row.acceptance_overdue,
                "evidence": list(row.risk.evidence_used),
                "evidence_requests": list(row.risk.requests),
                "why": [e.text for e in row.risk.explanations],
            }
            for row in rows
        ],
    }


def current_band(project: Project, threat_id: str) -> Band:
    """The threat's current band for the project's latest answers and evidence."""
    version = project.assessment_versions.order_by("-number").first()
    register = project_register(project, version.answers if version else {})
    return register.risk(threat_id).current.band
