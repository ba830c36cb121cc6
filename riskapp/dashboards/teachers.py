"""Teacher selection: the project's candidate teachers side by side, and which to choose and why.

The talk's advice, as rules: never a teacher a backdoor scan flags; prefer a teacher whose published hash
matches the file (provenance verified), whose card is complete and whose licence is known; among those,
the most robust (then the most accurate) one. Unmeasured facts count against a candidate, never for it.
"""

from dataclasses import dataclass, field

from riskapp.dashboards.risk import ModelSummary

CARD_FIELDS = (
    "architecture",
    "num_classes",
    "class_names",
    "teacher_name",
    "teacher_url",
    "teacher_sha256",
    "teacher_licence",
)


@dataclass
class Candidate:
    summary: ModelSummary
    card_filled: int
    hash_verified: bool | None  # None: no published hash to check against
    reasons: list[str] = field(default_factory=list)
    blocked: bool = False

    @property
    def card_completeness(self) -> float:
        return self.card_filled / len(CARD_FIELDS)

    def rank_key(self) -> tuple:
        s = self.summary
        return (
            not self.blocked,
            self.hash_verified is True,
            s.backdoor is not None,
            s.worst_robust_accuracy if s.worst_robust_accuracy is not None else -1.0,
            s.clean_accuracy if s.clean_accuracy is not None else -1.0,
            self.card_completeness,
        )


def candidates(summaries: list[ModelSummary]) -> tuple[list[Candidate], Candidate | None]:
    """The teachers (models with the teacher role), best first, and the recommended one (None if none is fit)."""
    result = []
    for s in summaries:
        if s.model.role != "teacher" or s.superseded:
            continue
        model = s.model
        filled = sum(1 for name in CARD_FIELDS if getattr(model, name) not in ("", None, [], {}))
        verified = None if not model.teacher_sha256 else model.teacher_sha256.lower() == model.sha256.lower()
        candidate = Candidate(s, filled, verified)
        if s.backdoor is not None and s.backdoor.result.get("flagged_classes"):
            candidate.blocked = True
            candidate.reasons.append(f"a backdoor scan flags class(es) {s.backdoor.result['flagged_classes']}")
        if verified is False:
            candidate.blocked = True
            candidate.reasons.append("the file's SHA-256 does not match the published hash")
        elif verified is None:
            candidate.reasons.append("no published hash to verify the download against")
        if s.backdoor is None:
            candidate.reasons.append("not scanned for backdoors yet")
        if s.worst_robust_accuracy is None:
            candidate.reasons.append("robustness not measured yet")
        if not model.teacher_licence:
            candidate.reasons.append("licence unknown")
        if filled < len(CARD_FIELDS):
            candidate.reasons.append(f"model card {filled}/{len(CARD_FIELDS)} complete")
        result.append(candidate)
    result.sort(key=Candidate.rank_key, reverse=True)
    best = result[0] if result and not result[0].blocked else None
    return result, best
