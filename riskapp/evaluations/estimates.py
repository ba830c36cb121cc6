"""How long a test will take, shown before it is queued.

The intake timed each model once (seconds per sample of a forward and of a forward + input gradient, on the
worker that took the upload: attacks.cost.probe); the engine counts the passes a test does at most
(attacks.cost.job_work). Their product is an upper bound on a worker like the one that timed the model:
attacks stop on samples already fooled, so runs are often shorter. A GPU worker is faster than a CPU one
by a factor the estimate cannot know; the text says which device timed the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from attacks.cost import job_work  # imports no torch
from riskapp.artifacts.models import DatasetArtifact, ModelArtifact
from riskapp.evaluations.kinds import evaluation_kind
from riskapp.jobs.kinds import get_kind

# What a job spends besides the counted passes: the sandbox's start (2–5 s cold, benchmarks/README.md), loading
# the model and data, ART's import, writing example images (about 2.5 s for a digits PGD run whose passes take
# 0.2 s, benchmarks/estimates.py).
START_SECONDS = 10


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # at most, on the device that timed the model; None: no timing to go by
    text: str


def duration_words(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def _combined_timing(*models: ModelArtifact) -> dict[str, Any] | None:
    """The slower per-sample times of the models a test runs (a lineage optimises on both)."""
    timings = [(m.intake or {}).get("timing") for m in models]
    if not all(timings):
        return None
    combined = {
        "forward_s": max(t["forward_s"] for t in timings),
        "gradient_s": max(t["gradient_s"] for t in timings),
        "device": timings[0]["device"],
        "threads": timings[0]["threads"],
    }
    if all("bfloat16_gradient_s" in t for t in timings):  # PGD's and Neural Cleanse's passes (attacks.cost.Work)
        combined["bfloat16_gradient_s"] = max(t["bfloat16_gradient_s"] for t in timings)
    return combined


def _members(model: ModelArtifact, options: dict[str, Any], limit: int | None) -> int | None:
    """Records of the training-set sample a test reads besides its dataset (membership inference's members,
    `members_path`, on which it trains its shadow models), after the sample limit; None for a test without one."""
    path = options.get("members_path")
    if not path:
        return None
    members = DatasetArtifact.objects.filter(project=model.project_id).filter(Q(normalised=path) | Q(file=path))
    found = members.values_list("intake", flat=True).first()
    records = int((found or {}).get("samples") or 0)
    return min(records, int(limit)) if limit else records


def evaluation_estimate(
    *,
    kind: str,
    model: ModelArtifact,
    dataset: DatasetArtifact,
    options: dict[str, Any],
    teacher: ModelArtifact | None = None,
) -> Estimate:
    timed = [model, teacher] if teacher is not None and evaluation_kind(kind).needs_teacher else [model]
    timing = _combined_timing(*timed)
    if timing is None:
        return Estimate(None, "No run-time estimate: this model was not timed at upload (upload it again to time it).")
    samples = int((dataset.intake or {}).get("samples") or 0)
    limit = options.get("sample_limit")
    if limit:
        samples = min(samples, int(limit))
    params = dict(options)
    if options.get("suspect_id"):  # evaluation_start turns the suspect dataset into the engine's suspect_path
        params["suspect_path"] = "given"
    members = _members(model, options, limit)
    if members is not None:  # the engine scores members and non-members together
        samples += members
    work = job_work(
        get_kind(kind).engine_task, params, samples=samples, num_classes=model.num_classes or 2, members=members
    )
    seconds = START_SECONDS + work.seconds(timing)
    where = "a GPU worker" if timing["device"] == "cuda" else f"a CPU worker ({timing['threads']} threads)"
    per_image = f"{timing['gradient_s'] * 1000:.0f} ms a forward + gradient per sample"
    if "bfloat16_gradient_s" in timing:
        per_image += f", {timing['bfloat16_gradient_s'] * 1000:.0f} ms in bfloat16"
    return Estimate(
        seconds,
        f"At most {duration_words(seconds)} on {where} like the one that timed this model at upload "
        f"({per_image}; {samples:,} samples). Usually less: attacks stop on samples already fooled.",
    )
