"""What a project hands on: the report document, DefectDojo findings and a CycloneDX ML-BOM of its models.

- `report_document`: the printable report's content as JSON (cover, executive summary, register, evidence per
  model, sign-off), schema "riskapp.report/1".

Every measured share (robust accuracy, a curve's points, a risk's measured evidence) comes with the number of
inputs it was measured on and its 95 % Wilson interval where the result states that count, as on the attack pages.
- `defectdojo_findings`: DefectDojo's Generic Findings Import JSON: the register's risks above "low", the
  intake scan's findings and the models a backdoor scan flagged, each with a stable `unique_id_from_tool`
  so a re-import updates findings instead of duplicating them.
- `cyclonedx_bom`: the model inventory (models, versions, hashes, teacher → student pedigree, evaluation
  results as properties) and datasets, built with cyclonedx-python-lib and validated against its schema.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from attacks.stats import wilson_interval
from riskapp.artifacts.models import DatasetArtifact
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentStatus, Treatment
from riskapp.assessments.register import latest_evidence, register_document
from riskapp.bands import Band
from riskapp.dashboards.risk import ModelSummary, model_summaries
from riskapp.gates.selectors import project_verdict
from riskapp.projects.models import Project

REPORT_SCHEMA = "riskapp.report/1"
# DefectDojo's severities are our band labels; a low band, or one not assessed yet, imports nothing.
IMPORTED_BANDS = {Band.MEDIUM, Band.HIGH, Band.CRITICAL}
CYCLONEDX_SPEC = "1.6"


def measured_share(value: Any, samples: Any) -> dict[str, Any]:
    """A measured share's sample count and 95 % Wilson interval ({} when the result does not state its count)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not isinstance(samples, int) or samples <= 0:
        return {}
    low, high = wilson_interval(round(value * samples), samples)
    return {"samples": samples, "ci95": [round(low, 4), round(high, 4)]}


def interval_text(value: Any, samples: Any) -> str:
    """ " (95% CI 0.350–0.490 over 200 inputs)", or "" without a sample count."""
    share = measured_share(value, samples)
    if not share:
        return ""
    low, high = share["ci95"]
    return f" (95% CI {low:.3f}–{high:.3f} over {samples} inputs)"


def _model_evidence(summary: ModelSummary) -> dict[str, Any]:
    backdoor = summary.backdoor.result if summary.backdoor else None
    curve = summary.curve.result if summary.curve else None
    curve_samples = ((curve or {}).get("data") or {}).get("samples")
    return {
        "id": summary.model.pk,
        "name": summary.model.name,
        "version": summary.model.version,
        "role": summary.model.role,
        "sha256": summary.model.sha256,
        "teacher_id": summary.model.parent_id,
        "replaced_by_newer_version": summary.superseded,
        "robust_accuracy": {
            attack: {
                "eps": row["eps"],
                "robust_accuracy": row["robust_accuracy"],
                "clean_accuracy": row["clean_accuracy"],
                "trustworthy": row["trustworthy"],
                "job": row["job"].pk,
                **measured_share(row["robust_accuracy"], row.get("samples")),
            }
            for attack, row in sorted(summary.robustness.items())
        },
        "robustness_curve": {
            "norm": curve.get("norm"),
            "points": [
                point | measured_share(point.get("robust_accuracy"), curve_samples) for point in curve.get("curve", [])
            ],
            "trustworthy": curve.get("trustworthy", False),
            "job": summary.curve.pk,
        }
        if curve
        else None,
        "backdoor_scan": {
            "flagged_classes": backdoor.get("flagged_classes", []),
            "max_anomaly_index": summary.max_anomaly_index,
            "job": summary.backdoor.pk,
        }
        if backdoor
        else None,
    }


def report_document(project: Project) -> dict[str, Any]:
    """The printable report's content as plain data."""
    register = register_document(project)
    summaries, lineage = model_summaries(project)
    risks = register["risks"]
    counts = {band.value: sum(1 for r in risks if r["current"]["band"] == band) for band in Band}
    versions = list(project.assessment_versions.select_related("submitted_by", "reviewed_by").order_by("-number"))
    approved = next((v for v in versions if v.status == AssessmentStatus.APPROVED), None)
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": timezone.now().isoformat(),
        "project": register["project"] | {"description": project.description},
        "summary": {
            "risks": len(risks),
            "assessed": sum(1 for r in risks if r["current"]["band"] != Band.NOT_ASSESSED),
            "not_assessed": sum(1 for r in risks if r["current"]["band"] == Band.NOT_ASSESSED),
            "current_by_band": counts,
            "highest_current_band": next((b.value for b in reversed(Band) if counts[b.value]), None),
            "above_appetite": [r["threat"] for r in risks if r["above_appetite"]],
            "overdue_acceptances": [r["threat"] for r in risks if r["acceptance_overdue"]],
            "models": len(summaries),
            "backdoor_flagged_models": [
                s.label for s in summaries if s.backdoor and s.backdoor.result.get("flagged_classes")
            ],
            "lowest_robust_accuracy": min(
                (row["robust_accuracy"] for s in summaries for row in s.robustness.values() if row["trustworthy"]),
                default=None,
            ),
        },
        "verdict": project_verdict(project=project).as_dict(),
        "assessment": register["assessment"],
        "register": risks,
        "models": [_model_evidence(s) for s in summaries],
        "lineage": [
            {"teacher_id": teacher, "student_id": student, "verdict": job.result.get("verdict"), "job": job.pk}
            for (teacher, student), job in lineage.items()
        ],
        "sign_off": [
            {
                "version": v.number,
                "status": v.status,
                "submitted_by": v.submitted_by.get_username() if v.submitted_by else None,
                "submitted_at": v.submitted_at.isoformat() if v.submitted_at else None,
                "reviewed_by": v.reviewed_by.get_username() if v.reviewed_by else None,
                "reviewed_at": v.reviewed_at.isoformat() if v.reviewed_at else None,
                "comment": v.review_comment,
            }
            for v in versions
        ],
        "last_approved_version": approved.number if approved else None,
    }


def _day(moment: datetime | None) -> str:
    return (moment or timezone.now()).date().isoformat()


def _measured_lines(project: Project) -> dict[str, list[str]]:
    """Evidence kind -> "- kind = value on model (95% CI … over n inputs; job N)" per latest measurement."""
    bank = load_bank()
    lines: dict[str, list[str]] = {}
    for kind, items in latest_evidence(project).items():
        try:
            fraction = bank.evidence_kind(kind).type == "fraction"
        except KeyError:
            continue
        for item in items:
            samples = (item.get("measurement") or {}).get("samples")
            interval = interval_text(item["value"], samples) if fraction else ""
            where = f" on {item['model']}" if item.get("model") else ""
            job = f" (job {item['job_id']})" if item.get("job_id") else ""
            lines.setdefault(kind, []).append(f"- {kind} = {item['value']}{where}{interval}{job}")
    return lines


def defectdojo_findings(project: Project) -> dict[str, Any]:
    """DefectDojo Generic Findings Import JSON (required per finding: title, severity, description)."""
    register = register_document(project)
    measured = _measured_lines(project)
    today = timezone.localdate().isoformat()
    findings = []
    for risk in register["risks"]:
        band = risk["current"]["band"]
        if band not in IMPORTED_BANDS:
            continue
        references = ", ".join([*risk["atlas"], *risk["owasp_ml"], *([risk["nist"]] if risk["nist"] else [])])
        findings.append(
            {
                "title": f"{risk['name']} ({project.name})",
                "severity": Band(band).label,
                "description": "\n".join(
                    [
                        f"Threat-model risk: current {risk['current']['score']} ({band}), "
                        f"inherent {risk['inherent']['score']}, projected {risk['projected']['score']} "
                        f"(likelihood × impact on 1-5 scales).",
                        *(f"- {why}" for why in risk["why"]),
                        *(
                            ["Measured:", *(line for kind in risk["evidence"] for line in measured.get(kind, []))]
                            if any(measured.get(kind) for kind in risk["evidence"])
                            else []
                        ),
                    ]
                ),
                "impact": f"Impact {risk['current']['impact']} of 5.",
                "mitigation": "See the recommended test plan and the treatment in riskapp.",
                "references": references,
                "date": today,
                "unique_id_from_tool": f"riskapp:project:{project.pk}:risk:{risk['threat']}",
                "vuln_id_from_tool": risk["threat"],
                "active": risk["treatment"] not in (Treatment.AVOID,),
                "risk_accepted": risk["treatment"] == Treatment.ACCEPT,
                "verified": bool(risk["evidence"]),
                "static_finding": True,
                "dynamic_finding": bool(risk["evidence"]),
                "tags": ["riskapp", "threat-model", *risk["atlas"], *risk["owasp_ml"]],
            }
        )
    for finding in project.findings.all():
        findings.append(
            {
                "title": finding.title,
                "severity": "Critical",
                "description": f"The intake scan refused an upload: {finding.detail.get('reasons', [])}",
                "mitigation": "Do not load the file; obtain the model from a trusted source as safetensors or ONNX.",
                "date": _day(finding.created_at),
                "unique_id_from_tool": f"riskapp:project:{project.pk}:finding:{finding.pk}",
                "vuln_id_from_tool": finding.kind,
                "component_name": finding.detail.get("sha256", ""),
                "active": True,
                "verified": True,
                "static_finding": True,
                "dynamic_finding": False,
                "tags": ["riskapp", "intake"],
            }
        )
    summaries, _ = model_summaries(project)
    for summary in summaries:
        backdoor = summary.backdoor
        if backdoor is None or not backdoor.result.get("flagged_classes"):
            continue
        findings.append(
            {
                "title": f"Backdoor suspected in {summary.label}",
                "severity": "Critical" if summary.model.role == "student" else "High",
                "description": (
                    f"Neural Cleanse flags class(es) {backdoor.result['flagged_classes']}: a far smaller trigger "
                    f"than for any other class sends inputs there (max anomaly index "
                    f"{summary.max_anomaly_index}, threshold {backdoor.result.get('anomaly_threshold', 2.0)})."
                ),
                "mitigation": "Do not deploy; fine-tune all layers or replace the teacher, then scan again.",
                "date": _day(backdoor.finished_at),
                "unique_id_from_tool": f"riskapp:project:{project.pk}:model:{summary.model.pk}:backdoor",
                "vuln_id_from_tool": "backdoor_flagged",
                "component_name": summary.model.name,
                "component_version": summary.model.version,
                "active": True,
                "verified": True,
                "static_finding": False,
                "dynamic_finding": True,
                "tags": ["riskapp", "backdoor", "AML.T0018"],
            }
        )
    return {
        "name": f"riskapp: {project.name}",
        "type": "riskapp",
        "description": "Risk register and test results exported from riskapp.",
        "findings": findings,
    }


def sha256_hashes(sha256: str) -> list:
    """A file's SHA-256 as CycloneDX hashes (none when the stored value is not a full hex digest)."""
    from cyclonedx.model import HashAlgorithm, HashType

    return [HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if len(sha256) == 64 else []


def cyclonedx_bom(project: Project) -> str:
    """The project's model inventory as a CycloneDX 1.6 ML-BOM (JSON text), checked against the schema."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    bom = Bom()
    bom.metadata.component = Component(
        name=project.name, type=ComponentType.APPLICATION, bom_ref=f"project-{project.pk}"
    )
    summaries, lineage = model_summaries(project)
    components: dict[int, Component] = {}
    for summary in summaries:
        model = summary.model
        properties = [
            Property(name="riskapp:role", value=model.role),
            Property(name="riskapp:format", value=model.format or "unknown"),
            Property(name="riskapp:intake_status", value=model.status),
        ]
        if model.architecture:
            properties.append(Property(name="riskapp:architecture", value=model.architecture))
        if model.teacher_url:
            properties.append(Property(name="riskapp:teacher_url", value=model.teacher_url))
        for attack, row in sorted(summary.robustness.items()):
            properties.append(
                Property(
                    name=f"riskapp:robust_accuracy:{attack}@eps={row['eps']}",
                    value=f"{row['robust_accuracy']}{'' if row['trustworthy'] else ' (not trustworthy)'}",
                )
            )
            share = measured_share(row["robust_accuracy"], row.get("samples"))
            if share:
                low, high = share["ci95"]
                properties += [
                    Property(
                        name=f"riskapp:robust_accuracy_samples:{attack}@eps={row['eps']}", value=str(share["samples"])
                    ),
                    Property(name=f"riskapp:robust_accuracy_ci95:{attack}@eps={row['eps']}", value=f"{low}–{high}"),
                ]
        if summary.backdoor:
            flagged = summary.backdoor.result.get("flagged_classes", [])
            properties.append(Property(name="riskapp:backdoor_flagged_classes", value=str(flagged)))
        components[model.pk] = Component(
            name=model.name,
            version=model.version,
            type=ComponentType.MACHINE_LEARNING_MODEL,
            bom_ref=f"model-{model.pk}",
            hashes=sha256_hashes(model.sha256),
            properties=properties,
        )
    for summary in summaries:
        parent = components.get(summary.model.parent_id)
        if parent is not None and summary.model.parent_id != summary.model.pk:
            job = lineage.get((summary.model.parent_id, summary.model.pk))
            verdict = job.result.get("verdict") if job else None
            component = components[summary.model.pk]
            component.pedigree = Pedigree(
                ancestors=[
                    Component(
                        name=parent.name,
                        version=parent.version,
                        type=ComponentType.MACHINE_LEARNING_MODEL,
                        hashes=parent.hashes,
                    )
                ],
                notes=f"fine-tuned from {parent.name} v{parent.version}"
                + (f"; lineage verdict: {verdict}" if verdict else ""),
            )
    for component in components.values():
        bom.components.add(component)
    for dataset in DatasetArtifact.objects.filter(project=project).order_by("id"):
        bom.components.add(
            Component(
                name=dataset.name,
                type=ComponentType.DATA,
                bom_ref=f"dataset-{dataset.pk}",
                hashes=sha256_hashes(dataset.sha256),
                properties=[Property(name="riskapp:purpose", value=dataset.purpose)],
            )
        )
    # The dependency graph: the project uses every model and dataset; a student depends on its teacher.
    bom.register_dependency(bom.metadata.component, list(bom.components))
    for summary in summaries:
        parent = components.get(summary.model.parent_id)
        if parent is not None and summary.model.parent_id != summary.model.pk:
            bom.register_dependency(components[summary.model.pk], [parent])
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise ValueError(f"The CycloneDX document does not validate: {error}")
    return text
