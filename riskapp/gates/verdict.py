"""The ship verdict of a model version: ready to ship, ship with accepted risks, or do not ship, with the few
reasons that decide it and what to do next for each. Pure, like scoring: no database, no clock; the gates
selectors gather the inputs (selectors.verdict_inputs) and every page, the report and the API show this result.

Rules, in the order the reasons are listed (at most MAX_REASONS; the rest are counted in `more_reasons`):

1. no model version uploaded                      blocks
2. a backdoor scan of the version flagged a class blocks
3. a backdoor scan of its teacher flagged a class blocks
4. an enabled release gate fails                  blocks
5. an acceptance of a risk above the appetite has expired                      blocks
6. a risk above the appetite has no accepted treatment (none, or not "accept") blocks
7. a test of the recommended plan (or one a gate needs) has not run on the version  blocks
8. a threat is not assessed yet (none of its questions answered)                   blocks
9. no release gate is enabled (the owner disabled every default and set none)      blocks
10. risks above the appetite accepted, with an owner, until a date not yet past  "ship with accepted risks"

The gates include the defaults derived from the answers (gates/defaults.py), so rule 9 needs a deliberate choice.

Any blocking reason: *do not ship*. Otherwise accepted risks: *ship with accepted risks*. Otherwise *ready to ship*,
with the checks that passed as its reasons.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

READY = "ready"
ACCEPTED_RISKS = "ship_with_accepted_risks"
DO_NOT_SHIP = "do_not_ship"
LABELS = {READY: "Ready to ship", ACCEPTED_RISKS: "Ship with accepted risks", DO_NOT_SHIP: "Do not ship"}
MAX_REASONS = 5
# Gate kinds whose failure the verdict states in its own words (a backdoor reason, the register's reasons).
BACKDOOR_GATE = "no_backdoor_flag"
REGISTER_GATE = "no_unaccepted_risk_above_appetite"
RUN_PLAN = (
    "Run the recommended test plan on this version (“Run the plan” on the risk register page, "
    "or `riskapp-ci check` from CI), then look again."
)


@dataclass(frozen=True)
class GateCheck:
    """One enabled release gate, evaluated for the version: passed True/False, None when not measured yet."""

    kind: str
    description: str
    passed: bool | None
    message: str


@dataclass(frozen=True)
class RiskAboveAppetite:
    name: str
    band: str
    accepted: bool  # the treatment is "accept" (with an owner and an expiry, as the register requires)
    owner: str = ""
    expires_on: date | None = None


@dataclass(frozen=True)
class BackdoorFlag:
    model: str  # "name vN"
    classes: tuple[str, ...]
    teacher: bool  # the flagged model is the version's teacher


@dataclass(frozen=True)
class VerdictInputs:
    model: str | None  # the version judged ("name vN"); None when the project has no model to ship yet
    risk_appetite: str
    today: date
    gates: tuple[GateCheck, ...] = ()
    risks: tuple[RiskAboveAppetite, ...] = ()
    tests_not_run: tuple[str, ...] = ()
    backdoors: tuple[BackdoorFlag, ...] = ()
    not_assessed: tuple[str, ...] = ()  # threats none of whose questions is answered yet


@dataclass(frozen=True)
class Reason:
    kind: str  # for tests and styling only; never shown
    text: str
    next_step: str
    blocking: bool = False


@dataclass(frozen=True)
class Verdict:
    status: str
    model: str | None
    reasons: tuple[Reason, ...]
    more_reasons: int = 0

    @property
    def label(self) -> str:
        return LABELS[self.status]

    def as_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data: the API, the report's JSON and the portfolio's stored copy."""
        return {
            "status": self.status,
            "label": self.label,
            "model": self.model,
            "reasons": [{"text": r.text, "next_step": r.next_step} for r in self.reasons],
            "more_reasons": self.more_reasons,
        }


def _listing(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _backdoor_reasons(inputs: VerdictInputs) -> list[Reason]:
    reasons = []
    for flag in sorted(inputs.backdoors, key=lambda f: f.teacher):
        classes = _listing(list(flag.classes))
        if flag.teacher:
            reasons.append(
                Reason(
                    "teacher_backdoor",
                    f"A backdoor scan flagged the teacher {flag.model} (class {classes}): "
                    "the version may have inherited the backdoor.",
                    "Run a lineage check of this version against the teacher and a backdoor scan of the version; "
                    "better, fine-tune from a teacher whose scan is clean.",
                    blocking=True,
                )
            )
        else:
            reasons.append(
                Reason(
                    "backdoor",
                    f"A backdoor scan of {flag.model} flagged class {classes}: a hidden trigger is suspected.",
                    "Open the scan to see the suspected trigger, retrain or fine-tune on data you trust, "
                    "and scan the new version.",
                    blocking=True,
                )
            )
    return reasons


def _gate_reasons(inputs: VerdictInputs, covered: set[str]) -> list[Reason]:
    failed = [g for g in inputs.gates if g.passed is False and g.kind not in covered]
    if not failed:
        return []
    details = "; ".join(f"{g.description} ({g.message})" for g in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    return [
        Reason(
            "failed_gate",
            f"{_plural(len(failed), 'release gate fails', 'release gates fail')}: {details}{more}.",
            "Make the model meet the gate (for robustness, adversarial training or input defences) and run the "
            "test plan again; if the threshold itself is wrong, the project owner changes it on the Gates page.",
            blocking=True,
        )
    ]


def _risk_reasons(inputs: VerdictInputs) -> tuple[list[Reason], list[Reason]]:
    """(blocking reasons, the accepted-risks reason) from the risks above the appetite."""
    expired = [r for r in inputs.risks if r.accepted and r.expires_on is not None and r.expires_on < inputs.today]
    accepted = [r for r in inputs.risks if r.accepted and r not in expired]
    open_ = [r for r in inputs.risks if not r.accepted]
    blocking = []
    if expired:
        items = [f"{r.name} (owner {r.owner or 'unknown'}, expired {r.expires_on.isoformat()})" for r in expired]
        blocking.append(
            Reason(
                "expired_acceptance",
                f"The acceptance of {_plural(len(expired), 'risk', 'risks')} above the appetite has expired: "
                f"{_listing(items)}.",
                "Ask each owner to review the risk and renew the acceptance with a new expiry date on the risk "
                "register, or treat the risk another way.",
                blocking=True,
            )
        )
    if open_:
        items = [f"{r.name} ({r.band})" for r in open_]
        blocking.append(
            Reason(
                "unaccepted_risk",
                f"{_plural(len(open_), 'risk is', 'risks are')} above the project's risk appetite "
                f"({inputs.risk_appetite}) without an accepted treatment: {_listing(items)}.",
                "Lower each one (a control, then a test whose evidence re-scores it), or have a reviewer accept it "
                "with an owner, a rationale and an expiry date on the risk register.",
                blocking=True,
            )
        )
    if not accepted:
        return blocking, []
    items = [f"{r.name} (owner {r.owner or 'unknown'}, until {r.expires_on.isoformat()})" for r in accepted]
    earliest = min(r.expires_on for r in accepted if r.expires_on is not None)
    return blocking, [
        Reason(
            "accepted_risk",
            f"{_plural(len(accepted), 'risk', 'risks')} above the appetite {'is' if len(accepted) == 1 else 'are'} "
            f"accepted: {_listing(items)}.",
            f"Ship only with these acceptances on record, and review them before {earliest.isoformat()}.",
        )
    ]


def _tests_reason(inputs: VerdictInputs, not_measured: list[GateCheck]) -> list[Reason]:
    missing = list(inputs.tests_not_run) + [f"the test for the gate “{g.description}”" for g in not_measured]
    if not missing:
        return []
    return [
        Reason(
            "tests_not_run",
            f"{_plural(len(missing), 'required test has', 'required tests have')} not run on {inputs.model}: "
            f"{_listing(missing)}.",
            RUN_PLAN,
            blocking=True,
        )
    ]


def _passed_reasons(inputs: VerdictInputs) -> list[Reason]:
    reasons = [
        Reason(
            "gates_pass",
            f"{_plural(len(inputs.gates), 'release gate passes', 'release gates pass')} on {inputs.model}.",
            "Nothing to do; the verdict is worked out again when a test, an answer or a gate changes.",
        ),
        Reason(
            "tests_done",
            "Every test of the recommended plan has run on this version and no backdoor was flagged.",
            "Nothing to do; run the plan again on each new version.",
        ),
    ]
    if not inputs.risks:
        reasons.append(
            Reason(
                "within_appetite",
                f"No risk is above the project's risk appetite ({inputs.risk_appetite}).",
                "Nothing to do; keep the questionnaire's answers current.",
            )
        )
    return reasons


def ship_verdict(inputs: VerdictInputs) -> Verdict:
    """The verdict and its reasons, blocking reasons first (see the module's docstring for the rules)."""
    blocking: list[Reason] = []
    if inputs.model is None:
        blocking.append(
            Reason(
                "no_model",
                "No model version has been uploaded yet, so there is nothing to judge.",
                "Upload the model version you intend to ship on the Models page (or from CI over the API).",
                blocking=True,
            )
        )
    backdoors = _backdoor_reasons(inputs)
    blocking += backdoors
    risk_blocking, accepted = _risk_reasons(inputs)
    covered = ({BACKDOOR_GATE} if backdoors else set()) | {REGISTER_GATE}
    if inputs.model is not None:
        blocking += _gate_reasons(inputs, covered)
    blocking += risk_blocking
    if inputs.model is not None:
        blocking += _tests_reason(inputs, [g for g in inputs.gates if g.passed is None])
    if inputs.not_assessed:
        blocking.append(
            Reason(
                "not_assessed",
                f"{_plural(len(inputs.not_assessed), 'threat is', 'threats are')} not assessed yet: "
                f"{_listing(list(inputs.not_assessed))}.",
                "Answer their questions on the questionnaire (“Don't know” counts as the worst case), then look again.",
                blocking=True,
            )
        )
    if not inputs.gates:
        blocking.append(
            Reason(
                "no_gates",
                "Every release gate is disabled: nothing says what robustness a version must reach before it ships.",
                "Have the project owner enable the default gates again (delete the disabled ones) or set others on "
                "the Gates page, for example a minimum robust accuracy under PGD at the project's ε.",
                blocking=True,
            )
        )
    if blocking:
        status, reasons = DO_NOT_SHIP, blocking + accepted
    elif accepted:
        status, reasons = ACCEPTED_RISKS, accepted + _passed_reasons(inputs)
    else:
        status, reasons = READY, _passed_reasons(inputs)
    return Verdict(status, inputs.model, tuple(reasons[:MAX_REASONS]), max(len(reasons) - MAX_REASONS, 0))
