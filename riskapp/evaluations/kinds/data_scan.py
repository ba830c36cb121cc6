"""A poisoned-data scan of a training set: activation clustering and spectral signatures per class."""

from typing import Any

from riskapp.charts import evaluations as figures
from riskapp.evaluations.kinds.base import BACKDOOR_CHECK, MODEL_FILES, EngineParams, EvaluationKind
from riskapp.evaluations.results import backdoor_verdict


def _evidence(result: dict[str, Any], eps: float | None, norm: str) -> dict[str, Any]:
    if not result.get("samples"):
        return {}
    suspected = set(result.get("suspected_classes", []))
    flagged = sum(
        len(c["spectral_signatures"]["flagged_indices"]) for c in result.get("classes", []) if c["class"] in suspected
    )
    return {"poison_suspect_fraction": flagged / result["samples"]}


def _present(job: Any, result: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    suspected = set(result.get("suspected_classes", []))
    classes = [
        {
            "class": c["class"],
            "samples": c["samples"],
            "anomaly_index": c["activation_clustering"]["anomaly_index"],
            "cluster_sizes": c["activation_clustering"]["cluster_sizes"],
            "ac_flagged": len(c["activation_clustering"]["flagged_indices"]),
            "ss_flagged": len(c["spectral_signatures"]["flagged_indices"]),
            "ac_evaluation": c["activation_clustering"].get("evaluation"),
            "ss_evaluation": c["spectral_signatures"].get("evaluation"),
            "flagged": c["class"] in suspected,
        }
        for c in result.get("classes", [])
    ]
    thumbnails = [t | {"url": images.get(t["image"])} for t in result.get("thumbnails", [])]
    return {
        "figure": figures.anomaly_bars(classes, 2.0, title="Cluster separation (activation clustering), anomaly index")
        if classes
        else None,
        "classes": classes,
        "thumbnails": [t for t in thumbnails if t["url"]],
        "backdoor_verdict": backdoor_verdict(job),
    }


DATA_SCAN = EvaluationKind(
    name="data_scan",
    label="Poisoned-data scan",
    description="Activation clustering and spectral signatures on a training set.",
    engine_task="data_scan",
    form=EngineParams,
    file_params=MODEL_FILES,
    order=70,
    start_label="Poisoned-data scan (training set)",
    evidence=_evidence,
    plan=None,
    plan_skip_reason="screens training data, which CI runs do not upload",
    presenter=_present,
    template="data_scan",
    facts=frozenset({BACKDOOR_CHECK}),
    verdict_slot="data_scan",
)
KINDS = (DATA_SCAN,)
