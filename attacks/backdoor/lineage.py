"""Lineage: did a student fine-tuned from a teacher inherit the teacher's backdoor?

Evidence, all on the same clean data:
  - per-layer relative weight change ‖W_s − W_t‖ / ‖W_t‖ (0 = frozen; tiny = barely moved): layers that
    did not move carry whatever the teacher learnt, backdoor included;
  - Neural Cleanse on the teacher; its reversed triggers applied to the student (success rate per class);
  - Neural Cleanse on the student.
Verdict for each class the teacher scan flags: "inherited" when the teacher's trigger still sends at least
half of the student's inputs to it, or the student scan flags the same class; otherwise "not_inherited".
Only a class the teacher scan flags can be inherited: every class's reversed trigger is optimised until it
works, so on a student that kept the teacher's features nearly all of them still work; what marks a backdoor
is the teacher's unusually small trigger for that class (its anomaly index), which the evidence states.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from attacks.backdoor import cleanse
from attacks.context import RunContext, UserError

if TYPE_CHECKING:
    from torch import nn

SCHEMA = "riskapp.lineage/1"
FROZEN = 1e-7
BARELY_MOVED = 1e-2
INHERITED_SUCCESS = 0.5


def layer_changes(teacher: nn.Module, student: nn.Module) -> list[dict[str, Any]]:
    """Per layer (parameters grouped by module): relative change of all its parameters together."""
    import torch

    student_params = dict(student.named_parameters())
    groups: dict[str, list[str]] = {}
    for name, _ in teacher.named_parameters():
        groups.setdefault(name.rpartition(".")[0] or name, []).append(name)
    layers = []
    for layer, names in groups.items():
        before = torch.cat([teacher.get_parameter(n).detach().flatten() for n in names]).double()
        after = torch.cat([student_params[n].detach().flatten() for n in names]).double()
        change = float(torch.linalg.vector_norm(after - before) / max(float(torch.linalg.vector_norm(before)), 1e-12))
        status = "frozen" if change <= FROZEN else "barely_moved" if change < BARELY_MOVED else "changed"
        layers.append(
            {"layer": layer, "parameters": int(before.numel()), "relative_change": round(change, 6), "status": status}
        )
    return layers


def verdict(
    teacher_scan: dict[str, Any], student_scan: dict[str, Any], transfer_rates: dict[int, float], layers: list[dict]
) -> dict[str, Any]:
    flagged = teacher_scan["flagged_classes"]
    frozen = [entry["layer"] for entry in layers if entry["status"] == "frozen"]
    evidence = [
        f"{len(frozen)} of {len(layers)} layers frozen" + (f" ({', '.join(frozen)})" if frozen else ""),
    ]
    if not flagged:
        evidence.append("Neural Cleanse flags no class of the teacher.")
        return {"verdict": "no_teacher_backdoor", "inherited_classes": [], "evidence": evidence}
    inherited = []
    teacher_rows = {row["class"]: row for row in teacher_scan["classes"]}
    others = [rate for k, rate in transfer_rates.items() if k not in flagged]
    if others:
        evidence.append(
            f"The teacher's triggers of the {len(others)} unflagged classes send {min(others):.0%}–{max(others):.0%} "
            "of the student's inputs to their class: each trigger is optimised until it works, so success alone "
            "marks no backdoor; the flagged class's unusually small trigger does."
        )
    for k in flagged:
        rate = transfer_rates[k]
        again = k in student_scan["flagged_classes"]
        row = teacher_rows[k]
        evidence.append(
            f"class {k}: flagged on the teacher (mask L1 {row['mask_l1']:g} against a median of "
            f"{teacher_scan['median_mask_l1']:g}, anomaly index {row['anomaly_index']:g}); its reversed trigger "
            f"sends {rate:.0%} of the student's inputs to it"
            f"{'; the student scan flags it too' if again else '; the student scan does not flag it'}"
        )
        if rate >= INHERITED_SUCCESS or again:
            inherited.append(k)
    own = [k for k in student_scan["flagged_classes"] if k not in flagged]
    if own:
        evidence.append(
            f"The student scan flags class {', '.join(str(k) for k in own)}, which the teacher scan does not: "
            "not the teacher's backdoor (a false alarm, or a backdoor from the student's own training data)."
        )
    return {
        "verdict": "inherited" if inherited else "not_inherited",
        "inherited_classes": inherited,
        "evidence": evidence,
    }


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "lineage": teacher_path and student_path (same arch/num_classes), clean data_path."""
    from attacks.backdoor.common import device_of, load_classifier, load_data, subsample
    from attacks.params import choice_param, int_param

    started = time.perf_counter()
    if not params.get("teacher_path") or not params.get("student_path"):
        raise UserError("lineage needs teacher_path and student_path.")
    ctx.progress(1, "Loading the models")
    loaded = load_classifier(params, "teacher_path", "teacher_preprocessing")
    teacher, arch, num_classes = loaded.model, loaded.arch, loaded.num_classes
    student = load_classifier(params, "student_path", "student_preprocessing").model
    steps = int_param(params, "steps", cleanse.DEFAULT_STEPS, 1, 100_000)
    batch_size = int_param(params, "batch_size", cleanse.DEFAULT_BATCH, 1, 4096)
    schedule, cost, restarts = cleanse.schedule_params(params)
    limit = int_param(params, "sample_limit", 1000, 0, 10**9)
    seed = int_param(params, "seed", 0, 0, 2**32 - 1)
    precision = choice_param(params, "precision", "auto", cleanse.PRECISIONS)
    screening = choice_param(params, "screening", "auto", cleanse.SCREEN_CHOICES)
    x, y, _ = load_data(params, "data_path", loaded)
    chosen = subsample(len(x), limit, seed)
    x, y = x[chosen], y[chosen]
    # Layers by the network's own names, not the pre-processing wrapper's.
    layers = layer_changes(getattr(teacher, "network", teacher), getattr(student, "network", student))
    options = {
        "num_classes": num_classes,
        "steps": steps,
        "batch_size": batch_size,
        "cost": cost,
        "cost_schedule": schedule,
        "restarts": restarts,
        "seed": seed,
        "precision": precision,
        "screening": screening,
    }
    teacher_scan, triggers = cleanse.scan(teacher, x, y, ctx=ctx, progress_span=(3, 48), **options)
    ctx.progress(48, "Teacher triggers on the student")
    # The teacher's fully optimised triggers (every class, or the screening's shortlist) are replayed.
    shortlisted = cleanse.subset(triggers, teacher_scan["screening"]["shortlist"])
    transfer = dict(zip(shortlisted.classes, cleanse.success_rates(student, shortlisted, x, y), strict=True))
    student_scan, _ = cleanse.scan(student, x, y, ctx=ctx, progress_span=(50, 96), **options)
    images = cleanse.write_trigger_images(shortlisted, ctx.output_dir, prefix="teacher-trigger")
    for k, image in zip(shortlisted.classes, images, strict=True):
        teacher_scan["classes"][k]["trigger_image"] = image
    ctx.progress(100, "Done")
    return {
        "schema": SCHEMA,
        "arch": arch,
        "num_classes": num_classes,
        "preprocessing": loaded.preprocessing.as_dict(),
        "device": str(device_of(loaded.model)),
        "samples": int(len(x)),
        "layers": layers,
        "frozen_layers": [entry["layer"] for entry in layers if entry["status"] == "frozen"],
        "teacher_trigger_on_student": [
            {
                "class": k,
                "success_rate": round(rate, 4),
                "teacher_flagged": k in teacher_scan["flagged_classes"],
                "teacher_mask_l1": teacher_scan["classes"][k]["mask_l1"],
                "teacher_anomaly_index": teacher_scan["classes"][k]["anomaly_index"],
            }
            for k, rate in transfer.items()
        ],
        "teacher_scan": teacher_scan,
        "student_scan": student_scan,
        **verdict(teacher_scan, student_scan, transfer, layers),
        "seconds": round(time.perf_counter() - started, 3),
    }
