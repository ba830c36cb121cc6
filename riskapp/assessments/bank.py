"""The question bank and threat catalogue: loading, validation, and which questions apply.

The content is data (``content/*.yaml``), not code. ``load_bank()`` reads it, checks every file against its JSON
Schema (``content/schema/``), then cross-checks what a schema cannot: that referenced threats, questions, options
and evidence kinds exist, that every ATLAS / OWASP ML / NIST AI 100-2 / NIST AI RMF id and every quoted PLOT4ai card
is in ``known_ids.yaml``, that ids are unique, that conditions only look back, that every evidence rule able to
lower a likelihood says how strong a measurement must be, and that overlapping controls name controls of their
threat. Any problem raises ``BankError`` with one message per problem.

Answers are plain values keyed by question id: an option value, a list of option values (multiple choice), a
number, a date, or text. ``None``, a missing key or ``"unknown"`` all mean "unknown", which is always allowed.

No Django here: the scoring and planning built on this module are pure functions.
"""

from __future__ import annotations

import datetime
import enum
import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema
import referencing
import yaml
from jsonschema.exceptions import best_match

try:  # libyaml's loader is about ten times faster; both are the safe loader
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader

CONTENT_DIR = Path(__file__).resolve().parent / "content"
SCHEMA_DIR = CONTENT_DIR / "schema"

UNKNOWN = "unknown"
ANSWER_TYPES = ("yes_no_unknown", "single_choice", "multiple_choice", "number", "text", "date")
CHOICE_TYPES = frozenset({"yes_no_unknown", "single_choice", "multiple_choice"})
CONTROL_TYPES = frozenset({"yes_no_unknown", "single_choice"})
CONTENT_FILES = ("questions", "threats", "evidence_rules", "test_plan_rules", "known_ids")
_CHOICE_OPERATORS = frozenset({"equals", "not_equals", "in", "not_in"})
_ORDER_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})

Dimension = Literal["likelihood", "impact"]
DIMENSIONS: tuple[Dimension, Dimension] = ("likelihood", "impact")


class BankError(Exception):
    """The content is invalid; ``messages`` lists every problem, each naming the file and the item."""

    def __init__(self, messages: Iterable[str]) -> None:
        self.messages = list(messages)
        super().__init__("Invalid question bank:\n" + "\n".join(f"- {m}" for m in self.messages))


class Truth(enum.Enum):
    """Three-valued result of a condition: an unknown answer makes a test undetermined, not false."""

    TRUE = "true"
    FALSE = "false"
    UNDETERMINED = "undetermined"


# --- the content, as frozen objects ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    framework: str
    id: str = ""
    citation: str = ""

    def __str__(self) -> str:
        return f"{self.framework} {self.id}".strip() if self.id else f"{self.framework}: {self.citation}"


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    help: str = ""


@dataclass(frozen=True)
class Predicate:
    """One test of a value: ``equals``, ``not_equals``, ``in``, ``not_in``, ``gt``, ``gte``, ``lt`` or ``lte``.

    For a multiple-choice answer (a tuple of option values) ``equals x`` means "x is selected" and ``in [...]``
    means "any of these is selected".
    """

    op: str
    value: Any

    def matches(self, value: object) -> bool:
        if isinstance(value, tuple):
            chosen = set(value)
            wanted = set(self.value) if isinstance(self.value, tuple) else {self.value}
            if self.op in ("equals", "in"):
                return bool(chosen & wanted)
            if self.op in ("not_equals", "not_in"):
                return not chosen & wanted
            return False
        if self.op == "equals":
            return value == self.value and isinstance(value, bool) == isinstance(self.value, bool)
        if self.op == "not_equals":
            return not Predicate("equals", self.value).matches(value)
        if self.op == "in":
            return any(Predicate("equals", v).matches(value) for v in self.value)
        if self.op == "not_in":
            return not Predicate("in", self.value).matches(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return {
            "gt": value > self.value,
            "gte": value >= self.value,
            "lt": value < self.value,
            "lte": value <= self.value,
        }[self.op]

    def thresholds(self) -> tuple[float, ...]:
        """The numbers this test compares against (to enumerate the distinct outcomes of a number question)."""
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        return tuple(float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool))


@dataclass(frozen=True)
class Condition:
    """A test of one question's answer (``kind="test"``), or all_of / any_of a list of conditions.

    Built conditions are *expanded*: a test of question Q also requires Q's own conditions, so a condition on a
    hidden question is false without needing the rest of the bank.
    """

    kind: Literal["test", "all_of", "any_of"]
    question: Question | None = field(default=None, repr=False)
    predicate: Predicate | None = None
    items: tuple[Condition, ...] = ()

    @property
    def question_id(self) -> str | None:
        return self.question.id if self.question is not None else None


@dataclass(frozen=True)
class Effect:
    """How an answer moves one threat.

    ``modifier``: when the answer matches ``when``, the inherent likelihood / impact move by the signed steps.
    ``control``: when the answer is in ``implemented`` the current rating drops by the strengths; when it is in
    ``planned`` the projected rating does.
    """

    threat: str
    kind: Literal["modifier", "control"]
    likelihood: int = 0
    impact: int = 0
    when: Predicate | None = None
    implemented: tuple[str, ...] = ()
    planned: tuple[str, ...] = ()
    note: str = ""

    def step(self, dimension: Dimension) -> int:
        return self.likelihood if dimension == "likelihood" else self.impact


@dataclass(frozen=True, eq=False)
class Question:
    id: str
    area: str
    text: str
    help: str
    type: str
    options: tuple[Option, ...] = ()
    conditions: tuple[Condition, ...] = ()
    requires: Condition | None = None
    threat_if: tuple[str, ...] | Predicate = ()
    effects: tuple[Effect, ...] = ()
    sources: tuple[Source, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options)

    @property
    def known_option_values(self) -> tuple[str, ...]:
        return tuple(value for value in self.option_values if value != UNKNOWN)

    @property
    def is_control(self) -> bool:
        return any(effect.kind == "control" for effect in self.effects)

    def label_for(self, value: object) -> str:
        """A readable form of an answer value."""
        if isinstance(value, tuple):
            return ", ".join(self.label_for(v) for v in value) or "none"
        labels = {option.value: option.label for option in self.options}
        return labels.get(value, str(value)) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Area:
    id: str
    title: str
    description: str


@dataclass(frozen=True)
class Mitigation:
    text: str
    atlas: str = ""


@dataclass(frozen=True)
class ControlOverlap:
    """Controls that guard against a threat the same way: together they lower a dimension by at most its cap."""

    controls: tuple[str, ...]
    likelihood: int | None
    impact: int | None
    why: str

    def cap(self, dimension: Dimension) -> int | None:
        return self.likelihood if dimension == "likelihood" else self.impact


@dataclass(frozen=True)
class Threat:
    id: str
    name: str
    description: str
    atlas: tuple[str, ...]
    owasp_ml: tuple[str, ...]
    nist_category: str | None
    nist_objective: str
    cia: tuple[str, ...]
    likelihood: int
    impact: int
    mitigations: tuple[Mitigation, ...]
    evidence: tuple[str, ...]
    sources: tuple[Source, ...]
    control_overlaps: tuple[ControlOverlap, ...] = ()


@dataclass(frozen=True)
class EvidenceKind:
    id: str
    type: Literal["fraction", "bool", "count", "number"]
    description: str
    produced_by: tuple[str, ...]


@dataclass(frozen=True)
class EvidenceBand:
    when: Predicate
    likelihood: int


@dataclass(frozen=True)
class Requirements:
    """What a measurement must show for a strength tier (all that are given): one of ``attacks`` among its attacks,
    at least ``min_steps`` steps, ``min_queries`` queries per input, ``min_samples`` inputs, and a full scan."""

    attacks: tuple[str, ...] = ()
    min_steps: int | None = None
    min_queries: int | None = None
    min_samples: int | None = None
    full_scan: bool = False

    def met_by(self, measurement: Mapping[str, Any]) -> bool:
        """Whether a measurement ({attacks, steps, queries, samples, full_scan, ...}) meets every requirement;
        anything the measurement does not report counts as not met."""
        if self.attacks and not set(self.attacks) & set(_names(measurement.get("attacks"))):
            return False
        for key, minimum in (("steps", self.min_steps), ("queries", self.min_queries), ("samples", self.min_samples)):
            value = measurement.get(key)
            if minimum is not None and not (_is_number(value) and value >= minimum):
                return False
        return not self.full_scan or measurement.get("full_scan") is True


@dataclass(frozen=True)
class StrengthTier:
    requires: Requirements
    lowers_at_most: int


@dataclass(frozen=True)
class Masking:
    """A robust accuracy at least ``share`` of clean accuracy from any attack but ``unless_attacks``: suspected
    gradient masking, so the measurement lowers nothing and the register asks for ``request``."""

    share: float
    unless_attacks: tuple[str, ...]
    request: str


@dataclass(frozen=True)
class EvidenceStrength:
    """How far below the questionnaire's likelihood one measurement may take it (see docs/risk-scoring.md)."""

    tiers: tuple[StrengthTier, ...]
    otherwise: int
    note: str
    confidence: float | None = None  # Wilson interval level for a fraction measured over `samples` inputs
    masking: Masking | None = None

    def cap_for(self, measurement: Mapping[str, Any]) -> int:
        """The most likelihood steps this measurement may lower: the first tier it meets, else `otherwise`."""
        return next((t.lowers_at_most for t in self.tiers if t.requires.met_by(measurement)), self.otherwise)


@dataclass(frozen=True)
class EvidenceRule:
    id: str
    threat: str
    evidence: str
    mode: Literal["set", "at_least"]
    bands: tuple[EvidenceBand, ...]
    note: str
    strength: EvidenceStrength | None = None  # every `set` rule has one; `at_least` rules never lower
    superseded_by: str | None = None  # an evidence kind measuring the threat directly: once measured, this rule rests

    def likelihood_for(self, value: object) -> int | None:
        """The likelihood of the first band that matches ``value``; None when no band does."""
        return next((band.likelihood for band in self.bands if band.when.matches(value)), None)


@dataclass(frozen=True)
class AnswerParam:
    """A job parameter taken from a number answer: ``default`` when hidden or unanswered, times ``scale``."""

    question: str
    default: float
    scale: float = 1.0


@dataclass(frozen=True)
class PlanRule:
    id: str
    when: Condition | None
    job: str
    params: Mapping[str, Any]
    reason: str
    threats: tuple[str, ...]


@dataclass(frozen=True)
class KnownIds:
    atlas: Mapping[str, tuple[str, str]]  # id -> (object type, name)
    owasp_ml: Mapping[str, str]
    nist_categories: Mapping[str, str]
    nist_objectives: Mapping[str, str]
    nist_rmf: Mapping[str, str] = field(default_factory=dict)  # subcategory id -> statement
    plot4ai: frozenset[str] = frozenset()  # "<category> card: <question>" of each card the content may quote


@dataclass(frozen=True, eq=False)
class Bank:
    version: int
    areas: tuple[Area, ...]
    questions: tuple[Question, ...]
    threats: tuple[Threat, ...]
    evidence_kinds: tuple[EvidenceKind, ...]
    evidence_rules: tuple[EvidenceRule, ...]
    plan_rules: tuple[PlanRule, ...]
    known_ids: KnownIds = field(repr=False)
    directory: Path = field(repr=False)
    _by_id: dict[str, dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = {
            "questions": {q.id: q for q in self.questions},
            "threats": {t.id: t for t in self.threats},
            "kinds": {k.id: k for k in self.evidence_kinds},
        }
        object.__setattr__(self, "_by_id", index)

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError when there is none."""
        return self._by_id["questions"][question_id]

    def threat(self, threat_id: str) -> Threat:
        """The threat with this id; KeyError when there is none."""
        return self._by_id["threats"][threat_id]

    def evidence_kind(self, kind_id: str) -> EvidenceKind:
        """The evidence kind with this id; KeyError when there is none."""
        return self._by_id["kinds"][kind_id]

    def questions_in(self, area_id: str) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.area == area_id)


# --- public API -------------------------------------------------------------------------------------------------


def load_bank(directory: Path | str | None = None) -> Bank:
    """The validated bank from ``directory`` (default: the packaged content), cached per directory."""
    return _load_cached(str(Path(directory or CONTENT_DIR).resolve()))


@functools.lru_cache(maxsize=8)
def _load_cached(directory: str) -> Bank:
    return read_bank(Path(directory))


def read_bank(directory: Path | str) -> Bank:
    """Read and validate the bank in ``directory`` without caching (for checks); raises BankError."""
    directory = Path(directory)
    documents, errors = _read_documents(directory)
    if errors:
        raise BankError(errors)
    builder = _Builder(_known_ids(documents["known_ids"]))
    bank = builder.build(documents, directory)
    if builder.errors:
        raise BankError(builder.errors)
    return bank


def normalise_answer(question: Question, raw: object) -> object:
    """The answer in canonical form, or UNKNOWN when it is missing, "unknown" or not valid for the question.

    Choice answers are option values (a tuple in option order for multiple choice), numbers stay numbers,
    dates become ``datetime.date``, text is stripped.
    """
    if raw is None or (isinstance(raw, str) and raw.strip().lower() == UNKNOWN):
        return UNKNOWN
    kind = question.type
    if kind in ("yes_no_unknown", "single_choice"):
        return raw if isinstance(raw, str) and raw in question.known_option_values else UNKNOWN
    if kind == "multiple_choice":
        chosen = (raw,) if isinstance(raw, str) else raw
        if not isinstance(chosen, list | tuple | set | frozenset):
            return UNKNOWN
        if not all(isinstance(v, str) and v in question.known_option_values for v in chosen):
            return UNKNOWN
        return tuple(v for v in question.known_option_values if v in chosen)
    if kind == "number":
        return _normalise_number(question, raw)
    if kind == "date":
        return _normalise_date(raw)
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    return UNKNOWN


MAX_TEXT_ANSWER = 2000  # characters of a free-text answer (a name and a role, a short note)


def _shown(raw: object) -> str:
    """The bad value as an error message repeats it: its repr, cut short."""
    text = repr(raw)
    return text if len(text) <= 80 else text[:79] + "…"


def answer_error(question: Question, raw: object) -> str | None:
    """A message saying why ``raw`` is not a valid answer to ``question``; None when it is valid or unknown."""
    if question.type == "text" and isinstance(raw, str) and len(raw.strip()) > MAX_TEXT_ANSWER:
        return f"{question.id}: at most {MAX_TEXT_ANSWER} characters, got {len(raw.strip())}; shorten the answer."
    if normalise_answer(question, raw) != UNKNOWN or raw is None:
        return None
    if isinstance(raw, str) and raw.strip().lower() == UNKNOWN:
        return None
    if question.type in CHOICE_TYPES:
        choices = ", ".join(question.option_values)
        return f"{question.id}: {_shown(raw)} is not one of the options ({choices})."
    if question.type == "number":
        bounds = f" between {question.minimum} and {question.maximum}" if question.maximum is not None else ""
        return f"{question.id}: expected a number{bounds}, got {_shown(raw)}."
    if question.type == "date":
        return f"{question.id}: expected a date (YYYY-MM-DD), got {_shown(raw)}."
    return f"{question.id}: expected some text, got {_shown(raw)}."


def condition_truth(
    condition: Condition | None, answers: Mapping[str, object], unknowns: set[str] | None = None
) -> Truth:
    """Evaluate a built (expanded) condition; ``unknowns`` collects the ids of unknown answers it met."""
    if condition is None:
        return Truth.TRUE
    if condition.kind == "test":
        assert condition.question is not None and condition.predicate is not None
        answer = normalise_answer(condition.question, answers.get(condition.question.id))
        if answer == UNKNOWN:
            if unknowns is not None:
                unknowns.add(condition.question.id)
            return Truth.UNDETERMINED
        return Truth.TRUE if condition.predicate.matches(answer) else Truth.FALSE
    results = [condition_truth(item, answers, unknowns) for item in condition.items]
    decisive, other = (Truth.FALSE, Truth.TRUE) if condition.kind == "all_of" else (Truth.TRUE, Truth.FALSE)
    if decisive in results:
        return decisive
    return Truth.UNDETERMINED if Truth.UNDETERMINED in results else other


def question_state(question: Question, answers: Mapping[str, object]) -> Truth:
    """TRUE: the question applies; FALSE: hidden by an earlier answer; UNDETERMINED: an earlier answer is unknown."""
    return condition_truth(question.requires, answers)


def question_visible(question: Question, answers: Mapping[str, object]) -> bool:
    """Whether to show (and score) the question: hidden only when an earlier answer rules it out."""
    return question_state(question, answers) is not Truth.FALSE


def bank_summary(bank: Bank) -> dict[str, Any]:
    """Counts for ``manage.py bank_check``: questions per area, threats, evidence kinds and rules, plan rules."""
    return {
        "version": bank.version,
        "questions": len(bank.questions),
        "threats": len(bank.threats),
        "areas": {area.id: len(bank.questions_in(area.id)) for area in bank.areas},
        "evidence_kinds": len(bank.evidence_kinds),
        "evidence_rules": len(bank.evidence_rules),
        "plan_rules": len(bank.plan_rules),
        "directory": str(bank.directory),
    }


# --- answers ----------------------------------------------------------------------------------------------------


def _normalise_number(question: Question, raw: object) -> object:
    if isinstance(raw, bool):
        return UNKNOWN
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return UNKNOWN
    if not isinstance(raw, int | float) or not math.isfinite(raw):
        return UNKNOWN
    if question.minimum is not None and raw < question.minimum:
        return UNKNOWN
    if question.maximum is not None and raw > question.maximum:
        return UNKNOWN
    return raw


def _normalise_date(raw: object) -> object:
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    if isinstance(raw, str):
        try:
            return datetime.date.fromisoformat(raw.strip())
        except ValueError:
            return UNKNOWN
    return UNKNOWN


# --- reading and schema checks ----------------------------------------------------------------------------------


def _read_documents(directory: Path) -> tuple[dict[str, Any], list[str]]:
    documents: dict[str, Any] = {}
    errors: list[str] = []
    for name in CONTENT_FILES:
        path = directory / f"{name}.yaml"
        try:
            documents[name] = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
        except FileNotFoundError:
            errors.append(f"{path.name}: file not found in {directory}")
            continue
        except yaml.YAMLError as exc:
            errors.append(f"{path.name}: not valid YAML: {exc}")
            continue
        validator = _validators()[name]
        for error in sorted(validator.iter_errors(documents[name]), key=lambda e: list(map(str, e.absolute_path))):
            errors.append(f"{path.name}: {_schema_message(documents[name], error)}")
    return documents, errors


@functools.cache
def _validators() -> dict[str, jsonschema.Draft202012Validator]:
    schemas = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in SCHEMA_DIR.glob("*.schema.json")}
    registry: referencing.Registry = referencing.Registry().with_resources(
        (schema["$id"], referencing.Resource.from_contents(schema)) for schema in schemas.values()
    )
    return {
        name: jsonschema.Draft202012Validator(schemas[f"{name}.schema.json"], registry=registry)
        for name in CONTENT_FILES
    }


def _schema_message(document: Any, error: jsonschema.ValidationError) -> str:
    # For oneOf/anyOf failures the top message repeats the whole item; the closest branch's error says more.
    if error.context:
        error = best_match(error.context)
    return f"{_where(document, error.absolute_path)}: {error.message}"


def _where(document: Any, path: Iterable[Any]) -> str:
    """A readable location such as ``questions[12] (teacher.source).effects[0].threat``."""
    text, node = "", document
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
            node = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                text += f" ({node['id']})"
        else:
            text += f".{step}" if text else str(step)
            node = node.get(step) if isinstance(node, dict) else None
    return text or "(top level)"


def _known_ids(document: Mapping[str, Any]) -> KnownIds:
    return KnownIds(
        atlas={entry[0]: (entry[1], entry[2]) for entry in document["atlas"]["entries"]},
        owasp_ml={entry["id"]: entry["name"] for entry in document["owasp_ml"]["entries"]},
        nist_categories={entry["id"]: entry["name"] for entry in document["nist_ai_100_2"]["categories"]},
        nist_objectives={entry["id"]: entry["name"] for entry in document["nist_ai_100_2"]["objectives"]},
        nist_rmf={entry[0]: entry[1] for entry in document["nist_ai_rmf"]["subcategories"]},
        plot4ai=frozenset(f"{category} card: {question}" for category, question in document["plot4ai"]["cards"]),
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list | tuple) else ()


# --- cross-reference checks and building ------------------------------------------------------------------------


class _Builder:
    """Turns schema-valid documents into a Bank, collecting every cross-reference problem on the way."""

    def __init__(self, known: KnownIds) -> None:
        self.known = known
        self.errors: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def build(self, documents: Mapping[str, Any], directory: Path) -> Bank:
        version = documents["questions"]["version"]
        for name in ("threats", "evidence_rules", "test_plan_rules"):
            if documents[name]["version"] != version:
                found = documents[name]["version"]
                self.error(f"{name}.yaml", f"version {found} does not match questions.yaml ({version})")
        threats = self.threats(documents["threats"]["threats"])
        kinds = self.evidence_kinds(documents["evidence_rules"]["kinds"])
        evidence_rules = self.evidence_rules(documents["evidence_rules"]["rules"], threats, kinds)
        self.check_threat_evidence(threats, kinds, evidence_rules)
        areas = self.areas(documents["questions"]["areas"])
        questions = self.questions(documents["questions"], areas, threats)
        self.check_control_overlaps(threats, questions)
        plan_rules = self.plan_rules(documents["test_plan_rules"]["rules"], questions, threats, kinds)
        return Bank(
            version=version,
            areas=tuple(areas.values()),
            questions=tuple(questions.values()),
            threats=tuple(threats.values()),
            evidence_kinds=tuple(kinds.values()),
            evidence_rules=tuple(evidence_rules),
            plan_rules=tuple(plan_rules),
            known_ids=self.known,
            directory=directory,
        )

    def unique(self, where: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                self.error(where, f"duplicate id {item_id!r}")
            seen.add(item_id)

    # sources and framework ids

    def sources(self, where: str, raw_sources: list[Mapping[str, str]]) -> tuple[Source, ...]:
        sources = tuple(Source(s["framework"], s.get("id", ""), s.get("citation", "")) for s in raw_sources)
        for source in sources:
            if source.framework == "ATLAS":
                self.atlas_id(where, source.id, ("tactic", "technique", "mitigation"))
            elif source.framework == "OWASP-ML":
                self.owasp_id(where, source.id)
            elif source.framework == "NIST-AI-100-2" and source.id not in self.known.nist_categories:
                self.error(where, f"unknown NIST AI 100-2 category {source.id!r} (see known_ids.yaml)")
            elif source.framework == "NIST-AI-RMF" and source.id not in self.known.nist_rmf:
                self.error(where, f"{source.id!r} is not a NIST AI RMF 1.0 subcategory (see known_ids.yaml)")
            elif source.framework == "PLOT4ai" and source.citation not in self.known.plot4ai:
                self.error(
                    where,
                    f"{source.citation!r} is not a PLOT4ai card of known_ids.yaml; quote it as "
                    "'<category> card: <question>' exactly as the current deck has it",
                )
        return sources

    def atlas_id(self, where: str, atlas_id: str, allowed: tuple[str, ...]) -> None:
        if atlas_id not in self.known.atlas:
            self.error(where, f"unknown ATLAS ID {atlas_id!r} (not in ATLAS 5.6.0, see known_ids.yaml)")
        elif self.known.atlas[atlas_id][0] not in allowed:
            kind = self.known.atlas[atlas_id][0]
            self.error(where, f"ATLAS ID {atlas_id!r} is a {kind}, expected a {' or '.join(allowed)}")

    def owasp_id(self, where: str, owasp_id: str) -> None:
        if owasp_id not in self.known.owasp_ml:
            self.error(where, f"unknown OWASP ML Top 10 ID {owasp_id!r} (ML01..ML10)")

    # threats and evidence

    def threats(self, raw_threats: list[Mapping[str, Any]]) -> dict[str, Threat]:
        self.unique("threats.yaml", [t["id"] for t in raw_threats])
        threats: dict[str, Threat] = {}
        for raw in raw_threats:
            where = f"threats.yaml: threat {raw['id']}"
            for atlas_id in raw["atlas"]:
                self.atlas_id(where, atlas_id, ("technique",))
            for owasp_id in raw["owasp_ml"]:
                self.owasp_id(where, owasp_id)
            category = raw["nist_ai_100_2"]["category"]
            if category is not None and category not in self.known.nist_categories:
                self.error(where, f"unknown NIST AI 100-2 category {category!r} (see known_ids.yaml)")
            for mitigation in raw["mitigations"]:
                if "atlas" in mitigation:
                    self.atlas_id(where, mitigation["atlas"], ("mitigation",))
            threats[raw["id"]] = Threat(
                id=raw["id"],
                name=raw["name"],
                description=raw["description"],
                atlas=tuple(raw["atlas"]),
                owasp_ml=tuple(raw["owasp_ml"]),
                nist_category=category,
                nist_objective=raw["nist_ai_100_2"]["objective"],
                cia=tuple(raw["cia"]),
                likelihood=raw["likelihood"],
                impact=raw["impact"],
                mitigations=tuple(Mitigation(m["text"], m.get("atlas", "")) for m in raw["mitigations"]),
                evidence=tuple(raw["evidence"]),
                sources=self.sources(where, raw["sources"]),
                control_overlaps=tuple(
                    ControlOverlap(tuple(o["controls"]), o.get("likelihood"), o.get("impact"), o["why"])
                    for o in raw.get("overlapping_controls", [])
                ),
            )
        return threats

    def evidence_kinds(self, raw_kinds: list[Mapping[str, Any]]) -> dict[str, EvidenceKind]:
        self.unique("evidence_rules.yaml: kinds", [k["id"] for k in raw_kinds])
        return {k["id"]: EvidenceKind(k["id"], k["type"], k["description"], tuple(k["produced_by"])) for k in raw_kinds}

    def evidence_rules(
        self, raw_rules: list[Mapping[str, Any]], threats: Mapping[str, Threat], kinds: Mapping[str, EvidenceKind]
    ) -> list[EvidenceRule]:
        self.unique("evidence_rules.yaml: rules", [r["id"] for r in raw_rules])
        rules = []
        for raw in raw_rules:
            where = f"evidence_rules.yaml: rule {raw['id']}"
            threat, kind = threats.get(raw["threat"]), kinds.get(raw["evidence"])
            if threat is None:
                self.error(where, f"unknown threat {raw['threat']!r}")
            if kind is None:
                self.error(where, f"unknown evidence kind {raw['evidence']!r}")
            if threat is not None and kind is not None and kind.id not in threat.evidence:
                self.error(where, f"threat {threat.id!r} does not list evidence {kind.id!r} in its `evidence`")
            bands = tuple(EvidenceBand(_predicate(b["when"]), b["likelihood"]) for b in raw["bands"])
            if kind is not None:
                for band in bands:
                    self.check_evidence_test(where, band.when, kind)
            strength = self.strength(where, raw, kind)
            superseded_by = raw.get("superseded_by")
            if superseded_by is not None and superseded_by not in kinds:
                self.error(where, f"superseded_by names unknown evidence kind {superseded_by!r}")
            rules.append(
                EvidenceRule(
                    raw["id"], raw["threat"], raw["evidence"], raw["mode"], bands, raw["note"], strength, superseded_by
                )
            )
        return rules

    def strength(self, where: str, raw: Mapping[str, Any], kind: EvidenceKind | None) -> EvidenceStrength | None:
        """A `set` rule must say how strong a measurement has to be to lower a likelihood; `at_least` never lowers."""
        raw_strength = raw.get("strength")
        if raw["mode"] == "at_least":
            if raw_strength is not None:
                self.error(where, "an at_least rule never lowers a likelihood, so it takes no strength")
            return None
        if raw_strength is None:
            self.error(where, "a set rule can lower a likelihood: say how strong a measurement must be (strength)")
            return None
        tiers = tuple(
            StrengthTier(
                Requirements(
                    attacks=tuple(t["requires"].get("attacks", ())),
                    min_steps=t["requires"].get("min_steps"),
                    min_queries=t["requires"].get("min_queries"),
                    min_samples=t["requires"].get("min_samples"),
                    full_scan=t["requires"].get("full_scan", False),
                ),
                t["lowers_at_most"],
            )
            for t in raw_strength["tiers"]
        )
        masking = None
        if "masking" in raw_strength:
            m = raw_strength["masking"]
            masking = Masking(m["robust_share_of_clean"], tuple(m["unless_attacks"]), m["request"])
        fraction_only = [name for name in ("confidence", "masking") if name in raw_strength]
        if kind is not None and kind.type != "fraction" and fraction_only:
            self.error(where, f"{' and '.join(fraction_only)} apply to fractions; {kind.id!r} is a {kind.type}")
        named = [a for t in tiers for a in t.requires.attacks] + list(masking.unless_attacks if masking else ())
        unknown = sorted(set(named) - set(_engine_attacks()))
        if unknown:
            self.error(
                where, f"unknown attack {unknown[0]!r} in strength; the engine has {', '.join(_engine_attacks())}"
            )
        return EvidenceStrength(
            tiers, raw_strength["otherwise"], raw_strength["note"], raw_strength.get("confidence"), masking
        )

    def check_evidence_test(self, where: str, predicate: Predicate, kind: EvidenceKind) -> None:
        values = predicate.value if isinstance(predicate.value, tuple) else (predicate.value,)
        if kind.type == "bool":
            if predicate.op in _ORDER_OPERATORS or not all(isinstance(v, bool) for v in values):
                self.error(where, f"evidence {kind.id!r} is true/false; test it with equals true or false")
        elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            self.error(where, f"evidence {kind.id!r} is a {kind.type}; test it against numbers, not {values!r}")
        elif kind.type == "fraction" and not all(0 <= v <= 1 for v in values):
            self.error(where, f"evidence {kind.id!r} is a fraction; thresholds must lie in 0..1")

    def check_threat_evidence(
        self, threats: Mapping[str, Threat], kinds: Mapping[str, EvidenceKind], rules: list[EvidenceRule]
    ) -> None:
        for threat in threats.values():
            for kind_id in threat.evidence:
                where = f"threats.yaml: threat {threat.id}"
                if kind_id not in kinds:
                    self.error(where, f"unknown evidence kind {kind_id!r} (see evidence_rules.yaml kinds)")
                elif not any(r.threat == threat.id and r.evidence == kind_id for r in rules):
                    self.error(where, f"accepts evidence {kind_id!r} but no evidence rule uses it for this threat")

    def check_control_overlaps(self, threats: Mapping[str, Threat], questions: Mapping[str, Question]) -> None:
        for threat in threats.values():
            where = f"threats.yaml: threat {threat.id}: overlapping_controls"
            grouped: set[str] = set()
            for overlap in threat.control_overlaps:
                strengths = {"likelihood": 0, "impact": 0}
                for question_id in overlap.controls:
                    question = questions.get(question_id)
                    effects = (
                        [e for e in question.effects if e.kind == "control" and e.threat == threat.id]
                        if question
                        else []
                    )
                    if not effects:
                        self.error(where, f"{question_id!r} is not a control of threat {threat.id!r}")
                    if question_id in grouped:
                        self.error(where, f"{question_id!r} is in two overlaps; a control counts in one at most")
                    grouped.add(question_id)
                    for dimension in DIMENSIONS:
                        strengths[dimension] += sum(e.step(dimension) for e in effects)
                for dimension in DIMENSIONS:
                    cap = overlap.cap(dimension)
                    if cap is not None and cap >= strengths[dimension]:
                        self.error(
                            where,
                            f"a {dimension} cap of {cap} caps nothing: {', '.join(overlap.controls)} lower it by "
                            f"{strengths[dimension]} together",
                        )

    # questions

    def areas(self, raw_areas: list[Mapping[str, str]]) -> dict[str, Area]:
        self.unique("questions.yaml: areas", [a["id"] for a in raw_areas])
        return {a["id"]: Area(a["id"], a["title"], a["description"]) for a in raw_areas}

    def questions(
        self, document: Mapping[str, Any], areas: Mapping[str, Area], threats: Mapping[str, Threat]
    ) -> dict[str, Question]:
        raw_questions = document["questions"]
        self.unique("questions.yaml: questions", [q["id"] for q in raw_questions])
        option_sets = document.get("option_sets", {})
        built: dict[str, Question] = {}
        for raw in raw_questions:
            if raw["id"] not in built:
                built[raw["id"]] = self.question(raw, option_sets, areas, threats, built)
        return built

    def question(
        self,
        raw: Mapping[str, Any],
        option_sets: Mapping[str, Any],
        areas: Mapping[str, Area],
        threats: Mapping[str, Threat],
        earlier: Mapping[str, Question],
    ) -> Question:
        where = f"questions.yaml: question {raw['id']}"
        if raw["area"] not in areas:
            self.error(where, f"unknown area {raw['area']!r}")
        elif raw["id"].split(".")[0] != raw["area"]:
            self.error(where, f"id should start with its area, {raw['area']!r}")
        options = self.options(where, raw, option_sets)
        minimum, maximum = raw.get("min"), raw.get("max")
        if minimum is not None and maximum is not None and minimum > maximum:
            self.error(where, f"min {minimum} is greater than max {maximum}")
        conditions = tuple(self.condition(where, c, earlier, must_be_earlier=True) for c in raw.get("conditions", []))
        question = Question(
            id=raw["id"],
            area=raw["area"],
            text=raw["text"],
            help=raw["help"],
            type=raw["type"],
            options=options,
            conditions=conditions,
            requires=_all_of(conditions),
            threat_if=self.threat_if(where, raw, options),
            effects=self.effects(where, raw, options, threats),
            sources=self.sources(where, raw["sources"]),
            minimum=minimum,
            maximum=maximum,
            unit=raw.get("unit", ""),
        )
        self.check_control_never_raises(where, question)
        self.check_threat_if_covers_raises(where, question)
        return question

    def options(self, where: str, raw: Mapping[str, Any], option_sets: Mapping[str, Any]) -> tuple[Option, ...]:
        if raw["type"] == "yes_no_unknown":
            return (Option("yes", "Yes"), Option("no", "No"), Option(UNKNOWN, "Don't know"))
        if "option_set" in raw:
            if raw["option_set"] not in option_sets:
                self.error(where, f"unknown option_set {raw['option_set']!r}")
                return ()
            raw_options = option_sets[raw["option_set"]]
        else:
            raw_options = raw.get("options", [])
        options = tuple(Option(o["value"], o["label"], o.get("help", "")) for o in raw_options)
        if options:
            self.unique(f"{where}: options", [o.value for o in options])
            if UNKNOWN not in (o.value for o in options):
                self.error(where, "choice questions must offer an 'unknown' option (\"Don't know\")")
        return options

    def threat_if(self, where: str, raw: Mapping[str, Any], options: tuple[Option, ...]) -> tuple[str, ...] | Predicate:
        value = raw.get("threat_if", [])
        if raw["type"] == "number":
            if isinstance(value, list):
                if value:
                    self.error(where, "threat_if of a number question is a test such as {lt: 1000}")
                return ()
            return _predicate(value)
        if isinstance(value, dict):
            self.error(where, "threat_if of a choice question lists option values")
            return ()
        if value and raw["type"] not in CHOICE_TYPES:
            self.error(where, f"a {raw['type']} question cannot signal a threat")
        for item in value:
            self.option_value(where, "threat_if", item, options)
        return tuple(value)

    def option_value(self, where: str, context: str, value: object, options: tuple[Option, ...]) -> None:
        if value == UNKNOWN:
            self.error(where, f"{context} cannot name 'unknown': an unknown answer is always scored as the worst case")
        elif isinstance(value, bool):
            self.error(where, f'{context} refers to {value!r}: quote "yes" and "no", unquoted YAML reads booleans')
        elif value not in {o.value for o in options}:
            known = ", ".join(o.value for o in options)
            self.error(where, f"{context} refers to option {value!r}, which is not an option ({known})")

    def effects(
        self, where: str, raw: Mapping[str, Any], options: tuple[Option, ...], threats: Mapping[str, Threat]
    ) -> tuple[Effect, ...]:
        effects = []
        for index, raw_effect in enumerate(raw.get("effects", [])):
            at = f"{where}: effects[{index}]"
            if raw_effect["threat"] not in threats:
                self.error(at, f"unknown threat {raw_effect['threat']!r}")
            if "control" in raw_effect:
                effects.append(self.control(at, raw, raw_effect, options))
            else:
                effects.append(self.modifier(at, raw, raw_effect, options))
        return tuple(effects)

    def modifier(
        self, at: str, raw: Mapping[str, Any], raw_effect: Mapping[str, Any], options: tuple[Option, ...]
    ) -> Effect:
        when = _predicate(raw_effect["when"])
        if raw["type"] in ("text", "date"):
            self.error(at, f"a {raw['type']} question cannot move a threat")
        else:
            self.check_test(at, when, raw["type"], options)
        return Effect(
            threat=raw_effect["threat"],
            kind="modifier",
            likelihood=raw_effect.get("likelihood", 0),
            impact=raw_effect.get("impact", 0),
            when=when,
            note=raw_effect.get("note", ""),
        )

    def control(
        self, at: str, raw: Mapping[str, Any], raw_effect: Mapping[str, Any], options: tuple[Option, ...]
    ) -> Effect:
        values = {o.value for o in options}
        implemented = tuple(raw_effect.get("implemented", ["yes"]))
        planned = tuple(raw_effect.get("planned", ["planned"] if "planned" in values else []))
        if raw["type"] not in CONTROL_TYPES:
            self.error(at, f"a control needs a yes/no or single-choice question, not {raw['type']}")
        for value in implemented + planned:
            self.option_value(at, "control", value, options)
        if set(implemented) & set(planned):
            self.error(at, "an answer cannot be both implemented and planned")
        strength = raw_effect["control"]
        if not strength.get("likelihood") and not strength.get("impact"):
            self.error(at, "a control must reduce likelihood or impact by at least 1")
        return Effect(
            threat=raw_effect["threat"],
            kind="control",
            likelihood=strength.get("likelihood", 0),
            impact=strength.get("impact", 0),
            implemented=implemented,
            planned=planned,
            note=raw_effect.get("note", ""),
        )

    def check_test(self, at: str, predicate: Predicate, answer_type: str, options: tuple[Option, ...]) -> None:
        """A test of an answer must fit the question: option values for choices, numbers for numbers."""
        values = predicate.value if isinstance(predicate.value, tuple) else (predicate.value,)
        if answer_type in CHOICE_TYPES:
            if predicate.op not in _CHOICE_OPERATORS:
                self.error(at, f"{predicate.op!r} compares numbers; a choice question is tested with equals / in")
            for value in values:
                self.option_value(at, "a test", value, options)
        elif answer_type == "number":
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                self.error(at, f"a number question is tested against numbers, not {values!r}")
        else:
            self.error(at, f"a {answer_type} question cannot be tested")

    def condition(
        self, where: str, raw: Mapping[str, Any], questions: Mapping[str, Question], must_be_earlier: bool
    ) -> Condition:
        if "all_of" in raw or "any_of" in raw:
            kind: Literal["all_of", "any_of"] = "all_of" if "all_of" in raw else "any_of"
            items = tuple(self.condition(where, item, questions, must_be_earlier) for item in raw[kind])
            return Condition(kind, items=items)
        target = questions.get(raw["question"])
        predicate = _predicate({k: v for k, v in raw.items() if k != "question"})
        if target is None:
            place = "an earlier question" if must_be_earlier else "a question"
            self.error(where, f"condition refers to {raw['question']!r}, which is not {place}")
            return Condition("all_of")  # placeholder; the bank is rejected anyway
        if target.is_control:
            # Controls must never change which questions apply, or answering "yes" could raise a risk.
            self.error(where, f"condition refers to {target.id!r}, a control question; conditions may not")
        self.check_test(f"{where}: condition on {target.id}", predicate, target.type, target.options)
        test = Condition("test", question=target, predicate=predicate)
        return Condition("all_of", items=(target.requires, test)) if target.requires else test

    def check_control_never_raises(self, where: str, question: Question) -> None:
        implemented = {v for e in question.effects if e.kind == "control" for v in e.implemented}
        for effect in question.effects:
            if effect.kind != "modifier" or effect.when is None:
                continue
            raising = effect.likelihood > 0 or effect.impact > 0
            if raising and any(effect.when.matches(value) for value in implemented):
                self.error(where, f"the implemented answer of a control raises {effect.threat!r}; it never may")

    def check_threat_if_covers_raises(self, where: str, question: Question) -> None:
        if question.type not in CHOICE_TYPES or isinstance(question.threat_if, Predicate):
            return
        for value in question.known_option_values:
            answer: object = (value,) if question.type == "multiple_choice" else value
            for effect in question.effects:
                raising = effect.kind == "modifier" and (effect.likelihood > 0 or effect.impact > 0)
                if raising and effect.when is not None and effect.when.matches(answer):
                    if value not in question.threat_if:
                        self.error(where, f"answer {value!r} raises {effect.threat!r} but is not listed in threat_if")
                    break

    # test plan

    def plan_rules(
        self,
        raw_rules: list[Mapping[str, Any]],
        questions: Mapping[str, Question],
        threats: Mapping[str, Threat],
        kinds: Mapping[str, EvidenceKind],
    ) -> list[PlanRule]:
        self.unique("test_plan_rules.yaml", [r["id"] for r in raw_rules])
        rules = []
        for raw in raw_rules:
            where = f"test_plan_rules.yaml: rule {raw['id']}"
            conditions = tuple(self.condition(where, c, questions, must_be_earlier=False) for c in raw["when"])
            params = {name: self.param(where, name, value, questions) for name, value in raw["params"].items()}
            for threat_id in raw["threats"]:
                threat = threats.get(threat_id)
                if threat is None:
                    self.error(where, f"unknown threat {threat_id!r}")
                elif not any(raw["job"] in kinds[k].produced_by for k in threat.evidence if k in kinds):
                    self.error(where, f"a {raw['job']} job produces no evidence that threat {threat_id!r} accepts")
            rules.append(
                PlanRule(raw["id"], _all_of(conditions), raw["job"], params, raw["reason"], tuple(raw["threats"]))
            )
        return rules

    def param(self, where: str, name: str, value: Any, questions: Mapping[str, Question]) -> Any:
        if isinstance(value, list):
            return tuple(value)
        if not isinstance(value, dict):
            return value
        question = questions.get(value["answer"])
        if question is None:
            self.error(where, f"param {name!r} takes its value from unknown question {value['answer']!r}")
        elif question.type != "number":
            self.error(where, f"param {name!r} takes its value from {question.id!r}, which is not a number question")
        return AnswerParam(value["answer"], value["default"], value.get("scale", 1.0))


@functools.cache
def _engine_attacks() -> tuple[str, ...]:
    """The engine's attack names, which strength tiers name: attack properties come from the engine."""
    from attacks.evasion.attacks import ATTACKS  # the catalogue imports no torch

    return tuple(ATTACKS)


def _predicate(raw: Mapping[str, Any]) -> Predicate:
    ((op, value),) = raw.items()
    return Predicate(op, tuple(value) if isinstance(value, list) else value)


def _all_of(conditions: tuple[Condition, ...]) -> Condition | None:
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else Condition("all_of", items=conditions)
