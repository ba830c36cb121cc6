"""Labels: the one place that turns riskapp's internal identifiers into the words a user reads.

Identifiers (a job kind such as `robustness_curve`, a question id such as `context.security_decision`, a threat
id, an evidence kind such as `teacher_backdoor_flagged`, a plan or evidence rule id) stay in the data, the API and
the exports; pages show `label(id)`, and sentences built from identifiers (a score's explanation, a gate's message)
pass through `plain(text)`, which replaces every identifier it knows by its label.
"""

import re
from functools import cache

# Attacks by the names the test plan and the engine give them.
_ATTACKS = {
    "pgd": "PGD",
    "pgd_linf": "PGD L∞",
    "pgd_l2": "PGD L2",
    "fgsm": "FGSM",
    "cw_l2": "Carlini-Wagner L2",
    "deepfool": "DeepFool",
    "autoattack": "AutoAttack",
    "square": "Square",
    "hop_skip_jump": "HopSkipJump",
    "hopskipjump": "HopSkipJump",
}


def _words(identifier: str) -> str:
    return identifier.replace("_", " ")


def attack_label(name: str) -> str:
    """An attack's name for people (pgd_linf: PGD L∞); an unknown one with its underscores as spaces."""
    return _ATTACKS.get(name, _words(name))


@cache
def labels() -> dict[str, str]:
    """Every internal identifier riskapp knows, with its label."""
    from riskapp.assessments.bank import load_bank
    from riskapp.jobs.kinds import KINDS

    bank = load_bank()
    found: dict[str, str] = {kind.id: _words(kind.id) for kind in bank.evidence_kinds}
    found |= {rule.id: _words(rule.id) for rule in bank.plan_rules}
    found |= {threat.id: threat.name for threat in bank.threats}
    found |= {name: kind.label.lower() for name, kind in KINDS.items()}
    found |= {question.id: f"“{question.text}”" for question in bank.questions}
    for rule in bank.evidence_rules:  # "<threat>.<evidence kind>"
        threat, _, evidence = rule.id.partition(".")
        found[rule.id] = f"{found.get(threat, _words(threat))}: {found.get(evidence, _words(evidence))}"
    return found


def label(identifier: str) -> str:
    """The label of an internal identifier; an unknown one with its underscores as spaces."""
    return labels().get(identifier, _words(identifier))


@cache
def _pattern() -> re.Pattern:
    # Longest first, so "backdoor_inherited.teacher_backdoor_flagged" wins over its parts. Whole words only:
    # a part of a longer name (NIST's "privacy.membership_inference") is left as it is.
    names = sorted((name for name in labels() if "_" in name or "." in name), key=len, reverse=True)
    return re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")(?!\w|\.\w)")


def plain(text: str) -> str:
    """`text` with every internal identifier in it replaced by its label."""
    return _pattern().sub(lambda match: labels()[match.group(1)], str(text))
