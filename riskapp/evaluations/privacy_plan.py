"""Plan lines of the privacy tests as engine options (content/test_plan_rules.yaml: the rules
membership_inference_when_scores_or_sensitive_data, extraction_by_queries, extraction_from_public_teacher).

Pure functions: the caller finds the files (which dataset is the members' sample, which the public query set) and
the teacher, and passes what these need to decide; a plan line that cannot run says why, as the other kinds do.
"""

from typing import Any

from attacks.privacy.membership import MIN_SAMPLES  # the engine's floor per set; imports no torch

NO_MEMBERS = "needs a sample of the model's training set (a training dataset), which this run does not have"
NO_QUERY_SET = "needs public images to query the model with besides the evaluation set, which this run does not have"
NO_TEACHER = "the model has no parent (public teacher) for the copy to start from"


def membership_inference_plan_options(
    plan_params: dict[str, Any], *, sample_limit: int, members: int, non_members: int
) -> tuple[dict[str, Any] | None, str]:
    """(engine options, "") for a membership plan line, or (None, why not). `members`: records in the training
    sample (0: none uploaded), `non_members`: in the held-out set (the evaluation set: never trained on). The
    target's training recipe (epochs, learning rate, ...) comes from the model, not the plan: the caller adds
    it when the model card states it, else the engine's defaults apply and the result records them."""
    if members <= 0:
        return None, NO_MEMBERS
    usable = min(members, non_members, sample_limit) if sample_limit else min(members, non_members)
    if usable < MIN_SAMPLES:
        return None, (
            f"needs at least {MIN_SAMPLES} training and {MIN_SAMPLES} held-out records "
            f"(has {members} and {non_members}, at most {sample_limit} used)"
        )
    return {"shadow_models": int(plan_params.get("shadow_models", 16)), "sample_limit": sample_limit}, ""


def extraction_plan_options(
    plan_params: dict[str, Any], *, query_images: int, has_teacher: bool
) -> tuple[dict[str, Any] | None, str]:
    """(engine options, "") for an extraction plan line, or (None, why not). `query_images`: the public query
    set's size (0: none); `has_teacher`: the model has a parent to start from. For a line with
    start "public_teacher" the caller adds copy_weights and copy_arch (the parent's file and architecture) to the
    options. Budgets larger than the query set are dropped (the engine refuses them); the result names the
    budgets tried."""
    if query_images <= 0:
        return None, NO_QUERY_SET
    start = plan_params.get("start", "scratch")
    if start == "public_teacher" and not has_teacher:
        return None, NO_TEACHER
    wanted = sorted({int(b) for b in plan_params.get("budgets", [])})
    budgets = [b for b in wanted if b <= query_images]
    if not budgets:
        return None, f"the query set has {query_images} images, fewer than the smallest budget ({wanted[0]})"
    return {"budgets": budgets}, ""


def extraction_ran_planned(plan_params: dict[str, Any], job_params: dict[str, Any]) -> bool:
    """Whether an extraction job ran this plan line: it started where the line says (from the public teacher:
    copy_weights given; from scratch: none), and tried the line's smallest budget (a plan line's larger budgets
    may not fit the query set, so they are not required)."""
    from_teacher = bool(job_params.get("copy_weights"))
    if from_teacher != (plan_params.get("start") == "public_teacher"):
        return False
    wanted = sorted(int(b) for b in plan_params.get("budgets", []))
    tried = {int(b) for b in job_params.get("budgets") or [] if isinstance(b, int | float | str) and str(b).isdigit()}
    return not wanted or wanted[0] in tried
