"""Scoring: questionnaire answers (and measured evidence) in, risk register out. Pure; no Django, no I/O.

For every threat in the catalogue, on a 5 x 5 matrix (likelihood 1-5 x impact 1-5):

    inherent  = clamp(seed + modifier steps of the answers)               no controls at all
    current   = clamp(inherent - strengths of implemented controls)       what we have today
                then measured evidence overrides the current likelihood (evidence_rules.yaml)
    projected = clamp(current - strengths of planned controls)            once the plans are done

* Controls that guard against a threat the same way (the threat's `overlapping_controls`) do not add up: together
  they lower a dimension by at most the overlap's cap, in place and in place plus planned alike.
* Evidence raises a likelihood freely, but lowers it only as far as its strength justifies: by at most the steps of
  the first strength tier the measurement meets (attack, steps, query budget, inputs), never past the worse end of
  a Wilson interval over the inputs measured, and not at all when a gradient attack leaves robust accuracy so close
  to clean accuracy that masked gradients are the likelier explanation (the register then asks for a stronger
  attack: `Register.requests`).

* A threat none of whose questions is answered yet (and that no evidence speaks to) is *not assessed yet*: it gets
  no rating from the answers (Band.NOT_ASSESSED, score 0), so it is never counted as critical or above an appetite.
  Each threat and the register say how many of their questions that apply are answered (the completeness).
* Once a threat is assessed (one of its questions answered, "don't know" included, or evidence about it), an
  unknown or missing answer to a question that applies counts as the worst case: for each threat it takes the
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

from attacks.stats import wilson_interval
from riskapp.assessments.bank import (
    DIMENSIONS,
    UNKNOWN,
    Bank,
    Dimension,
    EvidenceKind,
    EvidenceRule,
    Masking,
    Question,
    Source,
    Threat,
    Truth,
    normalise_answer,
    question_state,
)
from riskapp.bands import Band

LEVEL_MIN, LEVEL_MAX = 1, 5

Stage = Literal["inherent", "current", "projected"]


@dataclass(frozen=True)
class Rating:
    likelihood: int
    impact: int
    assessed: bool = True  # False: none of the threat's questions is answered yet (the catalogue's seed is kept)

    @property
    def score(self) -> int:
        """likelihood x impact; 0 for a threat not assessed yet, so that it adds to no total and sorts last."""
        return self.likelihood * self.impact if self.assessed else 0

    @property
    def band(self) -> Band:
        return Band.for_score(self.score) if self.assessed else Band.NOT_ASSESSED

    @property
    def label(self) -> str:
        """The band as pages say it."""
        return self.band if self.assessed else "not assessed yet"


@dataclass(frozen=True)
class Explanation:
    """One step in a threat's rating: what moved which value at which stage, by how much, and why."""

    threat: str
    stage: Stage
    dimension: Dimension
    change: int
    kind: Literal["modifier", "control", "overlap", "evidence", "clamp"]
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
    requests: tuple[str, ...] = ()  # measurements the evidence asks for before it may lower this risk
    questions: int = 0  # the questions that apply (or may) and bear on this threat
    answered: int = 0  # how many of them are answered ("don't know" included)

    @property
    def threat_id(self) -> str:
        return self.threat.id

    @property
    def assessed(self) -> bool:
        return self.current.assessed

    @property
    def completeness(self) -> str:
        return f"{self.answered} of {self.questions} question{'' if self.questions == 1 else 's'} answered"


@dataclass(frozen=True)
class Register:
    """The scored risk register: one ThreatRisk per threat, in catalogue order."""

    bank_version: int
    risks: tuple[ThreatRisk, ...]
    unanswered: tuple[str, ...] = ()  # apply (or may), missing or "don't know": worst case in an assessed threat
    ignored_evidence: tuple[str, ...] = ()  # evidence that could not be used, with the reason
    requests: tuple[str, ...] = ()  # stronger measurements the evidence asks for (every threat's, in order)
    questions: int = 0  # questions that apply (or may) to these answers, as the questionnaire shows them
    answered: int = 0  # how many of them are answered ("don't know" included)

    @property
    def completeness(self) -> str:
        """E.g. "12 of 40 questions answered"."""
        return f"{self.answered} of {self.questions} question{'' if self.questions == 1 else 's'} answered"

    @property
    def not_assessed(self) -> tuple[str, ...]:
        """The threats none of whose questions is answered yet, in catalogue order."""
        return tuple(risk.threat.id for risk in self.risks if not risk.assessed)

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
    or kind -> a list of such items (one per model); every item is applied and the worst case wins. An item's
    "measurement" ({attacks, steps, queries, samples, clean_accuracy, full_scan}) says how strong it is."""
    steps: dict[str, list[Explanation]] = defaultdict(list)
    unanswered = []
    # Completeness, overall and per threat: questions that apply (or may), and how many of them have an answer.
    # An answer is any stored value, "don't know" included; only a missing one is "not answered".
    applicable = answered = 0
    threat_questions: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for question in bank.questions:
        state = question_state(question, answers)
        if state is Truth.FALSE:
            continue
        given = answers.get(question.id) is not None
        applicable += 1
        answered += given
        for threat_id in dict.fromkeys(effect.threat for effect in question.effects):
            threat_questions[threat_id][0] += 1
            threat_questions[threat_id][1] += given
        answer = normalise_answer(question, answers.get(question.id))
        if answer == UNKNOWN:
            unanswered.append(question.id)
        for step in _answer_steps(question, answer, may_apply=state is Truth.UNDETERMINED):
            steps[step.threat].append(step)
    measured, ignored = _read_evidence(bank, evidence or {})
    risks = tuple(
        _rate(threat, steps[threat.id], bank.evidence_rules, measured, *threat_questions[threat.id])
        for threat in bank.threats
    )
    requests = tuple(dict.fromkeys(request for risk in risks for request in risk.requests))
    return Register(bank.version, risks, tuple(unanswered), tuple(ignored), requests, applicable, answered)


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


@dataclass(frozen=True)
class _Hit:
    rule: EvidenceRule
    value: object
    item: Mapping[str, object]
    level: int  # what the rule's bands say
    effective: int  # what the measurement's strength lets it say
    limit: str = ""  # why the two differ
    request: str = ""


def _measurement(item: Mapping[str, object]) -> Mapping[str, object]:
    measurement = item.get("measurement")
    return measurement if isinstance(measurement, Mapping) else {}


def _describe(measurement: Mapping[str, object]) -> str:
    """The strength of a measurement in words: "pgd_linf, 20 steps, 500 samples"."""
    attacks = measurement.get("attacks")
    parts = ["+".join(attacks)] if isinstance(attacks, list | tuple) and attacks else []
    for key, unit in (("steps", "steps"), ("queries", "queries"), ("samples", "samples")):
        if isinstance(measurement.get(key), int | float) and not isinstance(measurement.get(key), bool):
            parts.append(f"{measurement[key]:g} {unit}")
    if isinstance(measurement.get("full_scan"), bool):
        parts.append("every class fully optimised" if measurement["full_scan"] else "classes screened")
    return ", ".join(parts) or "strength not reported"


def _masked(value: object, measurement: Mapping[str, object], masking: Masking) -> bool:
    """Robust accuracy nearly as high as clean accuracy from a gradient attack: the attack more likely failed
    (masked or obfuscated gradients) than the model resisted. Only attacks that name themselves are judged."""
    attacks = measurement.get("attacks")
    if not isinstance(value, int | float) or not isinstance(attacks, list | tuple) or not attacks:
        return False
    if set(attacks) & set(masking.unless_attacks):
        return False
    clean = measurement.get("clean_accuracy")
    clean = clean if isinstance(clean, int | float) and not isinstance(clean, bool) and clean > 0 else 1.0
    return value >= masking.share * clean


def _set_hit(threat: Threat, rule: EvidenceRule, value: object, item: Mapping[str, object], level: int, q: int) -> _Hit:
    """A `set` measurement: it may raise the likelihood to its band, but lower it only as far as its strength
    allows (the strength tier's cap, the worse end of its confidence interval, nothing if it looks masked)."""
    strength = rule.strength
    if level >= q or strength is None:
        return _Hit(rule, value, item, level, level)
    measurement = _measurement(item)
    request = ""
    if strength.masking is not None and _masked(value, measurement, strength.masking):
        request = f"{threat.id}: {rule.evidence} = {value}{_on_model(item)} — {strength.masking.request}"
        limit = (
            f"a robust accuracy this close to clean accuracy ({_describe(measurement)}) may come from masked "
            "gradients, so it lowers nothing"
        )
        return _Hit(rule, value, item, level, q, limit, request)
    cap = strength.cap_for(measurement)
    by_interval, interval = level, ""
    samples = measurement.get("samples")
    counted = isinstance(samples, int | float) and not isinstance(samples, bool) and samples >= 1
    if strength.confidence and isinstance(value, int | float) and counted:
        samples = int(samples)
        low, high = wilson_interval(round(value * samples), samples, strength.confidence)
        ends = [(rule.likelihood_for(bound), bound) for bound in (low, high)]
        worse, bound = max(((lv, b) for lv, b in ends if lv is not None), default=(level, value))
        if worse > level:
            by_interval = worse
            interval = f"over {samples} inputs its {strength.confidence:.0%} interval reaches {bound:.3f}"
    effective = min(q, max(level, q - cap, by_interval))
    if effective == level:
        return _Hit(rule, value, item, level, level)
    if effective == q - cap:
        limit = f"a measurement of this strength ({_describe(measurement)}) lowers it by at most {cap}"
    else:
        limit = interval
    return _Hit(rule, value, item, level, effective, limit)


def _on_model(item: Mapping[str, object]) -> str:
    return f" on {item['model']}" if item.get("model") else ""


def _evidence_steps(
    threat: Threat,
    questionnaire_likelihood: int,
    rules: tuple[EvidenceRule, ...],
    measured: Measured,
) -> tuple[int, list[Explanation], list[str]]:
    """The current likelihood after evidence, one explanation per rule and measurement that applied (with one
    measurement per model, the worst model decides), and the stronger measurements the evidence asks for."""
    q = questionnaire_likelihood
    hits: list[_Hit] = []
    for rule in rules:
        if rule.threat != threat.id:
            continue
        if rule.superseded_by and measured.get(rule.superseded_by):
            continue  # a direct measurement of the threat (the rule's superseded_by) replaces this indirect one
        for value, item in measured.get(rule.evidence, []):
            level = rule.likelihood_for(value)
            if level is None:
                continue
            if rule.mode == "set":
                hits.append(_set_hit(threat, rule, value, item, level, q))
            else:
                hits.append(_Hit(rule, value, item, level, level))
    if not hits:
        return q, [], []
    set_levels = [hit.effective for hit in hits if hit.rule.mode == "set"]
    result = max(set_levels) if set_levels else q
    result = max([result] + [hit.effective for hit in hits if hit.rule.mode == "at_least"])
    decisive = next((i for i, hit in enumerate(hits) if hit.effective == result), None)
    steps = []
    for index, hit in enumerate(hits):
        rule = hit.rule
        extra = ", ".join(f"{k} {v}" for k, v in hit.item.items() if k not in ("value", "measurement"))
        shown = f"measured {rule.evidence} = {hit.value}{f' ({extra})' if extra else ''}"
        if hit.effective == hit.level:
            verb = "sets likelihood to" if rule.mode == "set" else "puts likelihood at least at"
            text = f"{shown} {verb} {hit.level} [{rule.id}]"
        else:
            text = f"{shown} would set likelihood to {hit.level} [{rule.id}], but {hit.limit}: {hit.effective}"
        steps.append(
            Explanation(
                threat=threat.id,
                stage="current",
                dimension="likelihood",
                change=result - q if index == decisive else 0,
                kind="evidence",
                text=text,
                answer=hit.value,
                evidence=rule.evidence,
            )
        )
    return result, steps, [hit.request for hit in hits if hit.request]


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


def _overlap_steps(threat: Threat, steps: list[Explanation], *, measured: bool) -> list[Explanation]:
    """Give back what overlapping controls claim beyond their cap: in place first, then once the plans are done.

    When evidence speaks to the threat (`measured`), the current likelihood is the measurement's, which already
    reflects whatever is in place, so the planned controls of a group share the cap only among themselves; sharing
    it with the controls in place would make answering "yes" worse than "no" once a measurement overrides them."""
    given_back = []
    for overlap in threat.control_overlaps:
        for dimension in DIMENSIONS:
            cap = overlap.cap(dimension)
            if cap is None:
                continue
            credit = {
                stage: -sum(
                    s.change
                    for s in steps
                    if s.kind == "control"
                    and s.stage == stage
                    and s.dimension == dimension
                    and s.question in overlap.controls
                )
                for stage in ("current", "projected")
            }
            kept_now = min(cap, credit["current"])
            if measured:
                kept_later = min(cap, credit["projected"])
            else:
                kept_later = min(cap, credit["current"] + credit["projected"]) - kept_now
            for stage, excess in (
                ("current", credit["current"] - kept_now),
                ("projected", credit["projected"] - kept_later),
            ):
                if excess > 0:
                    given_back.append(
                        Explanation(
                            threat=threat.id,
                            stage=stage,
                            dimension=dimension,
                            change=excess,
                            kind="overlap",
                            text=(
                                f"{', '.join(overlap.controls)} overlap: together they lower {dimension} by at most "
                                f"{cap} ({overlap.why.strip()})"
                            ),
                        )
                    )
    return given_back


def _rate(
    threat: Threat,
    steps: list[Explanation],
    rules: tuple[EvidenceRule, ...],
    measured: Measured,
    questions: int = 0,
    answered: int = 0,
) -> ThreatRisk:
    seed: dict[Dimension, int] = {"likelihood": threat.likelihood, "impact": threat.impact}
    measured_here = any(
        rule.likelihood_for(value) is not None
        for rule in rules
        if rule.threat == threat.id
        for value, _ in measured.get(rule.evidence, [])
    )
    if questions and not answered and not measured_here:
        # Nothing is known about this threat yet: say so, rather than score every question as the worst case.
        unrated = Rating(threat.likelihood, threat.impact, assessed=False)
        return ThreatRisk(threat, unrated, unrated, unrated, (), questions=questions, answered=0)
    steps = steps + _overlap_steps(threat, steps, measured=measured_here)
    inherent, inherent_steps = _stage(threat, "inherent", seed, steps)
    current, current_steps = _stage(threat, "current", inherent, steps)
    likelihood, evidence_steps, requests = _evidence_steps(threat, current["likelihood"], rules, measured)
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
        requests=tuple(dict.fromkeys(requests)),
        questions=questions,
        answered=answered,
    )
