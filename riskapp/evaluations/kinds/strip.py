"""STRIP: superimpose clean inputs on each suspect input; a trigger keeps the prediction (low entropy)."""

from typing import Any

from django import forms

from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds import fields
from riskapp.evaluations.kinds.base import BACKDOOR_CHECK, MODEL_FILES, EngineParams, EvaluationKind, PlanJob, PlanLine
from riskapp.evaluations.results import backdoor_verdict


class StripParams(EngineParams):
    suspect_path = forms.CharField(required=False)


def _options(data: dict[str, Any], model: Any) -> dict[str, Any]:
    return {"suspect_id": data["suspect"].pk} if data.get("suspect") else {}


def _evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    suspect = result.get("suspect")
    if not suspect or not suspect.get("count"):
        return {}
    return {"strip_flagged_fraction": suspect["flagged"] / suspect["count"]}


def _plan(line: PlanLine) -> PlanJob:
    return PlanJob({"sample_limit": line.sample_limit}, line.model)


def _ran_planned(planned: dict[str, Any], parameters: dict[str, Any]) -> bool:
    # Without suspicious inputs STRIP only calibrates its threshold: calibration only, not the planned test.
    return bool(parameters.get("suspect_path"))


def _present(job: Any, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    histogram = result.get("histogram")
    rows = []
    if histogram:
        edges = histogram["bin_edges"]
        for i in range(len(edges) - 1):
            rows.append(
                {
                    "low": edges[i],
                    "high": edges[i + 1],
                    "clean": histogram["clean"][i],
                    "suspect": histogram["suspect"][i] if histogram.get("suspect") else None,
                }
            )
    return {
        "figure": figures.strip_histogram(histogram, result["threshold"]) if histogram else None,
        "bins": [row for row in rows if row["clean"] or row["suspect"]],
        "backdoor_verdict": backdoor_verdict(job),
    }


STRIP = EvaluationKind(
    name="strip",
    label="STRIP",
    description="Entropy of superimposed inputs: flags inputs that carry a trigger.",
    engine_task="strip",
    form=StripParams,
    file_params=(*MODEL_FILES, "suspect_path"),
    order=60,
    start_label="STRIP (trigger detection on inputs)",
    run_fields={"suspect": lambda: fields.dataset("Suspect data (STRIP)", "Inputs to check for triggers.")},
    run_options=_options,
    evidence=_evidence,
    plan=_plan,
    ran_planned=_ran_planned,
    presenter=_present,
    template="strip",
    facts=frozenset({BACKDOOR_CHECK}),
    verdict_slot="strip",
)
KINDS = (STRIP,)
