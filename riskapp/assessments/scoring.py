"""Scoring: questionnaire answers (and measured evidence) in, risk register out. Pure; no Django, no I/O.

For every threat in the catalogue, on a 5 x 5 matrix (likelihood 1-5 x impact 1-5):

    inherent  = clamp(seed + modifier steps of the answers)               no controls at all
    current   = clamp(inherent - strengths of implemented controls)       what we have today
                then measured evidence overrides the current likelihood (evidence_rules.yaml)
    projected = clamp(current - strengths of planned controls)            once the plans are done

* An unknown or missing answer to a question that applies counts as the worst case: for each threat it takes the
  largest increase any answer could bring (never a decrease), and a control answered unknown is not in place.
* A question hidden by an earlier answer has no effect. A question that may apply because an earlier answer is
  unknown counts only its increases: no decreases, no control credit.
* Controls only ever lower a rating, so answering a control "yes" never raises a risk.
* If evidence puts the current likelihood above the inherent one, the inherent likelihood is raised to match,
  so projected <= current <= inherent always holds.

Each threat's explanation lists every step: the question and answer (or evidence) that moved which value, by how
much, and the sources behind it. docs/risk-scoring.md has a worked example.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from riskapp.assessments.bank import (
    DIMENSIONS,
    UNKNOWN,
    Bank,
    Dimension,
    EvidenceKind,
    EvidenceRule,
    Question,
    Source,
    Threat,
    Truth,
    normalise_answer,
    question_state,
)

LEVEL_MIN, LEVEL_MAX = 1, 5

# Bands on the 5 x 5 matrix, by score = likelihood x impact (possible scores: 1-6, 8-10, 12, 15, 16, 20, 25):
#   low 1-4 | medium 5-9 | high 10-15 | critical 16-25
# Critical starts at 4 x 4: likely and severe. High covers e.g. 5 x 2, 4 x 3 and 5 x 3; a 5 x 1 (almost certain,
# negligible harm) is medium, as is 3 x 3.
BANDS: tuple[tuple[int, str], ...] = ((16, "critical"), (10, "high"), (5, "medium"), (1, "low"))

Stage = Literal["inherent", "current", "projected"]


def band_for(score: int) -> str:
    """The band of a likelihood x impact score (1-25)."""
    return next(name for threshold, name in BANDS if score >= threshold)


@dataclass(frozen=True)
class Rating:
    likelihood: int
    impact: int

    @property
    def score(self) -> int:
        return self.likelihood * self.impact

    @property
    def band(self) -> str:
        return band_for(self.score)


@dataclass(frozen=True)
class Explanation:
    """One step in a threat's rating: what moved which value at which stage, by how much, and why."""

    threat: str
    stage: Stage
    dimension: Dimension
    change: int
    kind: Literal["modifier", "control", "evidence", "clamp"]
    text: str
    question: str | None = None
    answer: object = None
    evidence: str | None = None
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class ThreatRisk:
    threat: Threat
    inherent: Rating
    current: Rating
    projected: Rating
    explanations: tuple[Explanation, ...]
    evidence_used: tuple[str, ...] = ()

    @property
    def threat_id(self) -> str:
        return self.threat.id


@dataclass(frozen=True)
class Register:
    """The scored risk register: one ThreatRisk per threat, in catalogue order."""

    bank_version: int
    risks: tuple[ThreatRisk, ...]
    unanswered: tuple[str, ...] = ()  # questions that apply (or may) but are unknown: scored as the worst case
    ignored_evidence: tuple[str, ...] = ()  # evidence that could not be used, with the reason

    def risk(self, threat_id: str) -> ThreatRisk:
        """The risk for this threat; KeyError when the catalogue has no such threat."""
        for risk in self.risks:
            if risk.threat.id == threat_id:
                return risk
        raise KeyError(threat_id)

    def __iter__(self) -> Iterator[ThreatRisk]:
        return iter(self.risks)


def score(
    bank: Bank,
    answers: Mapping[str, object],
    evidence: Mapping[str, Mapping[str, object] | Sequence[Mapping[str, object]]] | None = None,
) -> Register:
    """Score every threat from the answers (question id -> value) and optional evidence: kind -> {"value": ...},
    or kind -> a list of such items (one per model); every item is applied and the worst case wins."""
    steps: dict[str, list[Explanation]] = defaultdict(list)
    unanswered = []
    for question in bank.questions:
        state = question_state(question, answers)
        if state is Truth.FALSE:
            continue
        answer = normalise_answer(question, answers.get(question.id))
        if answer == UNKNOWN:
            unanswered.append(question.id)
        for step in _answer_steps(question, answer, may_apply=state is Truth.UNDETERMINED):
            steps[step.threat].append(step)
    measured, ignored = _read_evidence(bank, evidence or {})
    risks = tuple(_rate(threat, steps[threat.id], bank.evidence_rules, measured) for threat in bank.threats)
    return Register(bank.version, risks, tuple(unanswered), tuple(ignored))


# --- answers -> steps -------------------------------------------------------------------------------------------


def _answer_steps(question: Question, answer: object, *, may_apply: bool) -> Iterator[Explanation]:
    if answer == UNKNOWN:
        yield from _worst_case_steps(question)
        return
    shown = question.label_for(answer)
    caveat = " (counted although the question may not apply: an earlier answer is unknown)" if may_apply else ""
    for effect in question.effects:
        if effect.kind == "modifier":
            assert effect.when is not None
            if not effect.when.matches(answer):
                continue
            for dimension in DIMENSIONS:
                change = effect.step(dimension)
                if change == 0 or (may_apply and change < 0):
                    continue
                note = f": {effect.note}" if effect.note else ""
                yield Explanation(
                    threat=effect.threat,
                    stage="inherent",
                    dimension=dimension,
                    change=change,
                    kind="modifier",
                    text=f"{question.id} = {shown!r} moves {dimension} by {change:+d}{note}{caveat}",
                    question=question.id,
                    answer=answer,
                    sources=question.sources,
                )
        elif not may_apply and (answer in effect.implemented or answer in effect.planned):
            stage: Stage = "current" if answer in effect.implemented else "projected"
            state = "in place" if stage == "current" else "planned"
            for dimension in DIMENSIONS:
                strength = effect.step(dimension)
                if strength:
                    yield Explanation(
                        threat=effect.threat,
                        stage=stage,
                        dimension=dimension,
                        change=-strength,
                        kind="control",
                        text=f"control {question.id} = {shown!r} ({state}) lowers {dimension} by {strength}",
                        question=question.id,
                        answer=answer,
                        sources=question.sources,
                    )


def _worst_case_steps(question: Question) -> Iterator[Explanation]:
    for (threat_id, dimension), (change, worst) in _worst_case(question).items():
        yield Explanation(
            threat=threat_id,
            stage="inherent",
            dimension=dimension,
            change=change,
            kind="modifier",
            text=(
                f"{question.id} is unknown: scored as the worst case, as if answered "
                f"{question.label_for(worst)!r} ({dimension} {change:+d})"
            ),
            question=question.id,
            answer=UNKNOWN,
            sources=question.sources,
        )


@functools.lru_cache(maxsize=1024)
def _worst_case(question: Question) -> dict[tuple[str, Dimension], tuple[int, object]]:
    """For each (threat, dimension): the largest positive total any single answer brings, and that answer."""
    worst: dict[tuple[str, Dimension], tuple[int, object]] = {}
    for candidate in _candidate_answers(question):
        totals: dict[tuple[str, Dimension], int] = defaultdict(int)
        for effect in question.effects:
            if effect.kind == "modifier" and effect.when is not None and effect.when.matches(candidate):
                for dimension in DIMENSIONS:
                    totals[(effect.threat, dimension)] += effect.step(dimension)
        for key, total in totals.items():
            if total > worst.get(key, (0, None))[0]:
                worst[key] = (total, candidate)
    return worst


def _candidate_answers(question: Question) -> tuple[object, ...]:
    """Every distinct known answer, as far as the question's effects can tell them apart."""
    if question.type in ("yes_no_unknown", "single_choice"):
        return question.known_option_values
    if question.type == "multiple_choice":
        values = question.known_option_values
        return tuple(c for size in range(len(values) + 1) for c in itertools.combinations(values, size))
    if question.type == "number":
        cuts = sorted({t for e in question.effects if e.when is not None for t in e.when.thresholds()})
        points = {t + d for t in cuts for d in (-1.0, 0.0, 1.0)}
        points |= {(a + b) / 2 for a, b in itertools.pairwise(cuts)}
        points |= {b for b in (question.minimum, question.maximum) if b is not None}
        return tuple(p for p in sorted(points) if normalise_answer(question, p) != UNKNOWN)
    return ()


# --- evidence ---------------------------------------------------------------------------------------------------


Measured = dict[str, list[tuple[object, Mapping[str, object]]]]


def _read_evidence(
    bank: Bank, evidence: Mapping[str, Mapping[str, object] | Sequence[Mapping[str, object]]]
) -> tuple[Measured, list[str]]:
    measured: Measured = {}
    ignored: list[str] = []
    for kind_id, items in evidence.items():
        try:
            kind = bank.evidence_kind(kind_id)
        except KeyError:
            ignored.append(f"{kind_id}: not an evidence kind of question bank v{bank.version}")
            continue
        for item in items if isinstance(items, list | tuple) else [items]:
            value = _evidence_value(kind, item.get("value") if isinstance(item, Mapping) else None)
            if value is None:
                ignored.append(f"{kind_id}: expected {{'value': <{kind.type}>}}, got {item!r}")
                continue
            measured.setdefault(kind_id, []).append((value, item))
    return measured, ignored


def _evidence_value(kind: EvidenceKind, value: object) -> object:
    if kind.type == "bool":
        return value if isinstance(value, bool) else None
    if kind.type == "count" and isinstance(value, bool):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if kind.type == "fraction" and not 0 <= value <= 1:
        return None
    if kind.type == "count" and (value < 0 or value != int(value)):
        return None
    return value


def _evidence_steps(
    threat: Threat,
    questionnaire_likelihood: int,
    rules: tuple[EvidenceRule, ...],
    measured: Measured,
) -> tuple[int, list[Explanation]]:
    """The current likelihood after evidence, and one explanation per rule and measurement that applied
    (with one measurement per model, the worst model decides)."""
    hits = []
    for rule in rules:
        if rule.threat != threat.id:
            continue
        for value, item in measured.get(rule.evidence, []):
            level = rule.likelihood_for(value)
            if level is not None:
                hits.append((level, rule, value, item))
    if not hits:
        return questionnaire_likelihood, []
    set_levels = [level for level, rule, _, _ in hits if rule.mode == "set"]
    result = max(set_levels) if set_levels else questionnaire_likelihood
    result = max([result] + [level for level, rule, _, _ in hits if rule.mode == "at_least"])
    decisive = next((i for i, hit in enumerate(hits) if hit[0] == result), None)
    steps = []
    for index, (level, rule, value, item) in enumerate(hits):
        extra = ", ".join(f"{k} {v}" for k, v in item.items() if k != "value")
        verb = "sets likelihood to" if rule.mode == "set" else "puts likelihood at least at"
        steps.append(
            Explanation(
                threat=threat.id,
                stage="current",
                dimension="likelihood",
                change=result - questionnaire_likelihood if index == decisive else 0,
                kind="evidence",
                text=f"measured {rule.evidence} = {value}{f' ({extra})' if extra else ''} {verb} {level} [{rule.id}]",
                answer=value,
                evidence=rule.evidence,
            )
        )
    return result, steps


# --- rating -----------------------------------------------------------------------------------------------------


def _clamp(value: int) -> int:
    return max(LEVEL_MIN, min(LEVEL_MAX, value))


def _stage(
    threat: Threat, stage: Stage, start: Mapping[Dimension, int], steps: list[Explanation]
) -> tuple[dict[Dimension, int], list[Explanation]]:
    """Apply one stage's steps to both dimensions, noting any clamping."""
    values: dict[Dimension, int] = {}
    explained: list[Explanation] = []
    for dimension in DIMENSIONS:
        mine = [s for s in steps if s.stage == stage and s.dimension == dimension]
        raw = start[dimension] + sum(s.change for s in mine)
        values[dimension] = _clamp(raw)
        explained += mine
        if raw != values[dimension]:
            explained.append(
                Explanation(
                    threat=threat.id,
                    stage=stage,
                    dimension=dimension,
                    change=values[dimension] - raw,
                    kind="clamp",
                    text=f"{dimension} kept within {LEVEL_MIN}..{LEVEL_MAX} (the steps add up to {raw})",
                )
            )
    return values, explained


def _rate(
    threat: Threat,
    steps: list[Explanation],
    rules: tuple[EvidenceRule, ...],
    measured: Measured,
) -> ThreatRisk:
    seed: dict[Dimension, int] = {"likelihood": threat.likelihood, "impact": threat.impact}
    inherent, inherent_steps = _stage(threat, "inherent", seed, steps)
    current, current_steps = _stage(threat, "current", inherent, steps)
    likelihood, evidence_steps = _evidence_steps(threat, current["likelihood"], rules, measured)
    current_steps += evidence_steps
    if likelihood > inherent["likelihood"]:
        inherent_steps.append(
            Explanation(
                threat=threat.id,
                stage="inherent",
                dimension="likelihood",
                change=likelihood - inherent["likelihood"],
                kind="evidence",
                text="raised to the measured current likelihood: the answers underestimated it",
            )
        )
        inherent["likelihood"] = likelihood
    current["likelihood"] = likelihood
    projected, projected_steps = _stage(threat, "projected", current, steps)
    return ThreatRisk(
        threat=threat,
        inherent=Rating(inherent["likelihood"], inherent["impact"]),
        current=Rating(current["likelihood"], current["impact"]),
        projected=Rating(projected["likelihood"], projected["impact"]),
        explanations=tuple(inherent_steps + current_steps + projected_steps),
        evidence_used=tuple(dict.fromkeys(s.evidence for s in evidence_steps if s.evidence)),
    )
