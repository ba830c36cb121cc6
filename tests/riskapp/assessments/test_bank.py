"""The question bank and threat catalogue: counts, coverage, valid ids, and clear errors for broken content."""

import datetime
import re
import shutil
from pathlib import Path

import pytest
import yaml

from riskapp.assessments.bank import (
    CONTENT_DIR,
    UNKNOWN,
    BankError,
    Truth,
    answer_error,
    bank_summary,
    load_bank,
    normalise_answer,
    question_state,
    question_visible,
    read_bank,
)

# The ATLAS export the list was taken from, where a checkout has the shared reference folder beside it.
ATLAS_REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "atlas-ids.tsv"
AREAS = ("context", "requirements", "teacher", "fine_tuning", "infrastructure", "deployment", "operation")
REQUIRED_THREATS = (
    "evasion_white_box",
    "evasion_transfer",
    "backdoor_inherited",
    "backdoor_latent",
    "data_poisoning",
    "malicious_model_file",
    "supply_chain_compromise",
    "model_extraction",
    "membership_inference",
    "model_inversion",
    "drift_skewing",
    "output_integrity",
    "denial_of_service",
    "continual_learning",
)


@pytest.fixture(scope="module")
def bank():
    return load_bank()


class ContentCopy:
    """A writable copy of the packaged content directory, to break on purpose."""

    def __init__(self, path: Path) -> None:
        shutil.copytree(CONTENT_DIR, path)
        self.path = path

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def edit(self, name: str, old: str, new: str) -> None:
        """Replace the first `old` in file `name` with `new`; the test fails if `old` is not there."""
        text = (self.path / name).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not found in {name}"
        (self.path / name).write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def content(tmp_path):
    return ContentCopy(tmp_path / "content")


def problems(directory) -> str:
    with pytest.raises(BankError) as caught:
        read_bank(directory)
    return "\n".join(caught.value.messages)


# --- counts and coverage ----------------------------------------------------------------------------------------


def test_bank_has_at_least_45_questions_and_14_threats(bank):
    assert len(bank.questions) >= 45
    assert len(bank.threats) >= 14
    assert bank.version == 3


def test_every_area_of_the_threat_model_has_questions(bank):
    assert tuple(area.id for area in bank.areas) == AREAS
    for area in AREAS:
        assert len(bank.questions_in(area)) >= 5, area


def test_the_transfer_learning_threats_are_all_in_the_catalogue(bank):
    ids = {threat.id for threat in bank.threats}
    assert set(REQUIRED_THREATS) <= ids


def test_every_threat_is_raised_by_some_answer_and_reduced_by_some_control(bank):
    raised = {e.threat for q in bank.questions for e in q.effects if e.kind == "modifier" and e.likelihood > 0}
    controlled = {e.threat for q in bank.questions for e in q.effects if e.kind == "control"}
    for threat in bank.threats:
        assert threat.id in raised, threat.id
        assert threat.id in controlled, threat.id


def test_bank_summary_counts_questions_per_area(bank):
    summary = bank_summary(bank)
    assert summary["questions"] == len(bank.questions)
    assert summary["threats"] == len(bank.threats)
    assert sum(summary["areas"].values()) == summary["questions"]
    assert summary["plan_rules"] == len(bank.plan_rules)
    assert summary["evidence_rules"] == len(bank.evidence_rules)


def test_load_bank_is_cached(bank):
    assert load_bank() is bank
    assert load_bank(CONTENT_DIR) is bank


# --- questions ---------------------------------------------------------------------------------------------------


def test_every_question_has_text_help_and_at_least_one_source(bank):
    for question in bank.questions:
        assert question.text.strip() and question.help.strip(), question.id
        assert question.sources, question.id


def test_every_choice_question_allows_unknown(bank):
    for question in bank.questions:
        if question.type in ("yes_no_unknown", "single_choice", "multiple_choice"):
            assert UNKNOWN in question.option_values, question.id


def test_control_questions_offer_yes_planned_no_and_unknown(bank):
    for question in bank.questions:
        if question.is_control:
            assert set(question.option_values) >= {"yes", "planned", "no", UNKNOWN}, question.id


def test_teacher_questions_apply_only_when_we_build_on_a_pretrained_model(bank):
    for question in bank.questions_in("teacher"):
        assert not question_visible(question, {"context.uses_pretrained": "no"}), question.id
        assert question_visible(question, {"context.uses_pretrained": "yes"}), question.id


def test_teacher_questions_may_apply_while_use_of_a_pretrained_model_is_unknown(bank):
    question = bank.question("teacher.source")
    assert question_state(question, {}) is Truth.UNDETERMINED
    assert question_visible(question, {"context.uses_pretrained": "unknown"})
    assert question_state(question, {"context.uses_pretrained": "yes"}) is Truth.TRUE


def test_a_question_depending_on_a_hidden_question_is_hidden(bank):
    checks = bank.question("operation.feedback_checks")
    assert question_visible(checks, {"operation.continual_learning": "automatic"})
    assert not question_visible(checks, {"operation.continual_learning": "no"})


# --- ids ---------------------------------------------------------------------------------------------------------


def test_every_atlas_id_in_the_content_is_in_atlas_5_6(bank):
    text = "".join(p.read_text() for p in CONTENT_DIR.glob("*.yaml") if p.name != "known_ids.yaml")
    cited = set(re.findall(r"AML\.(?:TA|T|M)\d{4}(?:\.\d{3})?", text))
    assert cited, "the content should cite ATLAS"
    assert cited <= set(bank.known_ids.atlas), cited - set(bank.known_ids.atlas)


@pytest.mark.skipif(not ATLAS_REFERENCE.exists(), reason="the shared ATLAS reference file is not on this machine")
def test_known_atlas_ids_match_the_atlas_reference_export(bank):
    rows = [line.split("\t") for line in ATLAS_REFERENCE.read_text().splitlines() if line and line[0] != "#"]
    assert {row[0]: (row[1], row[2]) for row in rows} == dict(bank.known_ids.atlas)


def test_known_ids_keep_their_attribution():
    header = (CONTENT_DIR / "known_ids.yaml").read_text().splitlines()[0]
    assert header.startswith("# MITRE ATLAS 5.6.0") and "Apache-2.0" in header
    assert "CC BY-SA 4.0" in (CONTENT_DIR / "known_ids.yaml").read_text()


def test_threats_cite_atlas_techniques_and_atlas_mitigations(bank):
    for threat in bank.threats:
        assert threat.atlas, threat.id
        assert all(bank.known_ids.atlas[i][0] == "technique" for i in threat.atlas), threat.id
        mitigation_ids = [m.atlas for m in threat.mitigations if m.atlas]
        assert mitigation_ids, threat.id
        assert all(bank.known_ids.atlas[i][0] == "mitigation" for i in mitigation_ids), threat.id


def test_owasp_ids_are_ml01_to_ml10_and_ml07_covers_the_malicious_pretrained_model(bank):
    assert list(bank.known_ids.owasp_ml) == [f"ML{n:02d}" for n in range(1, 11)]
    assert bank.known_ids.owasp_ml["ML07"] == "Transfer Learning Attack"
    for threat in bank.threats:
        assert set(threat.owasp_ml) <= set(bank.known_ids.owasp_ml)
    # ML07 is an attacker's pre-trained model (a backdoor to inherit); transfer evasion is input manipulation.
    assert bank.threat("evasion_transfer").owasp_ml == ("ML01",)
    assert "ML07" in bank.threat("backdoor_inherited").owasp_ml


def test_nist_categories_name_the_attack_class(bank):
    assert bank.threat("evasion_transfer").nist_category == "evasion.transferability"
    assert bank.threat("backdoor_latent").nist_category == "poisoning.backdoor"
    assert bank.threat("membership_inference").nist_category == "privacy.membership_inference"
    assert bank.threat("malicious_model_file").nist_category == "supply_chain"
    for threat in bank.threats:
        assert threat.nist_category is None or threat.nist_category in bank.known_ids.nist_categories


# --- answers -----------------------------------------------------------------------------------------------------


def test_missing_none_and_unknown_answers_all_normalise_to_unknown(bank):
    question = bank.question("teacher.source")
    for raw in (None, "unknown", "Unknown ", "not-an-option", 3):
        assert normalise_answer(question, raw) == UNKNOWN


def test_answers_normalise_by_question_type(bank):
    assert normalise_answer(bank.question("teacher.source"), "public_hub") == "public_hub"
    api = bank.question("deployment.api_output")
    assert normalise_answer(api, ["full_scores", "label"]) == ("label", "full_scores")
    assert normalise_answer(api, ["label", "unknown"]) == UNKNOWN
    assert normalise_answer(api, []) == ()
    eps = bank.question("requirements.input_eps")
    assert normalise_answer(eps, "0.05") == 0.05
    assert normalise_answer(eps, 2) == UNKNOWN  # above max 1
    assert normalise_answer(eps, True) == UNKNOWN
    review = bank.question("operation.next_review")
    assert normalise_answer(review, "2026-06-30") == datetime.date(2026, 6, 30)
    assert normalise_answer(bank.question("operation.risk_owner"), "  Ada  ") == "Ada"


def test_answer_error_explains_an_invalid_answer_and_accepts_unknown(bank):
    assert "public_hubb" in answer_error(bank.question("teacher.source"), "public_hubb")
    assert "between 0 and 1" in answer_error(bank.question("requirements.input_eps"), 7)
    assert answer_error(bank.question("teacher.source"), "unknown") is None
    assert answer_error(bank.question("teacher.source"), None) is None


# --- broken copies are rejected with a message naming the problem ------------------------------------------------


def test_the_packaged_content_and_an_unchanged_copy_are_valid(content):
    assert read_bank(content).version == 3


def test_a_typo_in_an_atlas_id_is_rejected(content):
    content.edit("threats.yaml", "AML.T0043.002", "AML.T0043.012")
    assert "unknown ATLAS ID 'AML.T0043.012'" in problems(content)


def test_a_malformed_atlas_id_is_rejected_by_the_schema(content):
    content.edit("threats.yaml", "AML.T0043.002", "AML.T43.2")
    assert "'AML.T43.2' does not match" in problems(content)


def test_an_atlas_mitigation_listed_as_a_technique_is_rejected(content):
    content.edit("threats.yaml", "atlas: [AML.T0015, AML.T0043.000", "atlas: [AML.M0015, AML.T0043.000")
    assert "ATLAS ID 'AML.M0015' is a mitigation, expected a technique" in problems(content)


def test_an_unknown_owasp_id_is_rejected(content):
    content.edit("threats.yaml", "owasp_ml: [ML05]", "owasp_ml: [ML11]")
    assert "unknown OWASP ML Top 10 ID 'ML11'" in problems(content)


def test_a_reference_to_an_unknown_threat_is_rejected(content):
    content.edit(
        "questions.yaml",
        'threat: evasion_transfer, when: {equals: "yes"}',
        'threat: evasion_tansfer, when: {equals: "yes"}',
    )
    message = problems(content)
    assert "question context.uses_pretrained" in message
    assert "unknown threat 'evasion_tansfer'" in message


def test_a_bad_answer_type_is_rejected(content):
    content.edit("questions.yaml", "type: yes_no_unknown", "type: yes_no")
    message = problems(content)
    assert "(context.uses_pretrained).type" in message
    assert "'yes_no' is not one of" in message


def test_a_condition_on_a_missing_question_is_rejected(content):
    content.edit(
        "questions.yaml",
        'question: context.uses_pretrained, equals: "yes"',
        'question: context.uses_pretrain, equals: "yes"',
    )
    assert "condition refers to 'context.uses_pretrain', which is not an earlier question" in problems(content)


def test_a_condition_on_a_later_question_is_rejected(content):
    content.edit(
        "questions.yaml",
        "{question: operation.continual_learning, in: [reviewed, automatic]}",
        "{question: operation.risk_owner, equals: x}",
    )
    message = problems(content)
    assert "operation.feedback_checks" in message
    assert "not an earlier question" in message


def test_a_condition_on_a_control_question_is_rejected(content):
    content.edit(
        "questions.yaml",
        "{question: operation.continual_learning, in: [reviewed, automatic]}",
        '{question: fine_tuning.rollback, equals: "yes"}',
    )
    assert "'fine_tuning.rollback', a control question" in problems(content)


def test_a_reference_to_a_missing_option_value_is_rejected(content):
    content.edit("questions.yaml", "when: {equals: head_only}", "when: {equals: head_onyl}")
    message = problems(content)
    assert "fine_tuning.layers" in message
    assert "option 'head_onyl', which is not an option" in message


def test_unquoted_yes_is_rejected_with_a_hint(content):
    content.edit(
        "questions.yaml",
        'evasion_transfer, when: {equals: "yes"}, likelihood: 2',
        "evasion_transfer, when: {equals: yes}, likelihood: 2",
    )
    assert 'quote "yes" and "no"' in problems(content)


def test_a_choice_question_without_unknown_is_rejected(content):
    anyone = "      - {value: anyone, label: Anyone on the internet}\n"
    content.edit("questions.yaml", anyone + '      - {value: unknown, label: "Don\'t know"}\n', anyone)
    message = problems(content)
    assert "context.who_queries" in message
    assert "must offer an 'unknown' option" in message


def test_a_duplicate_question_id_is_rejected(content):
    content.edit("questions.yaml", "id: context.model_value", "id: context.physical_harm")
    assert "duplicate id 'context.physical_harm'" in problems(content)


def test_a_control_whose_yes_raises_a_risk_is_rejected(content):
    # fine_tuning.provenance is a control question; give its "yes" answer a modifier that raises a risk.
    control = (
        "      - {threat: data_poisoning, control: {likelihood: 1}}\n"
        "    sources:\n"
        "      - {framework: ATLAS, id: AML.M0025}"
    )
    raising = '      - {threat: model_theft, when: {equals: "yes"}, likelihood: 1}\n'
    content.edit("questions.yaml", control, control.replace("    sources:", raising + "    sources:"))
    assert "the implemented answer of a control raises 'model_theft'" in problems(content)


def test_a_raising_answer_missing_from_threat_if_is_rejected(content):
    content.edit("questions.yaml", "threat_if: [head_only, upper]", "threat_if: [head_only]")
    assert "answer 'upper' raises 'evasion_transfer' but is not listed in threat_if" in problems(content)


def test_an_evidence_rule_for_evidence_the_threat_does_not_accept_is_rejected(content):
    content.edit("evidence_rules.yaml", "evidence: transfer_success_rate\n", "evidence: robust_accuracy\n")
    assert "threat 'evasion_transfer' does not list evidence 'robust_accuracy'" in problems(content)


def test_a_set_rule_without_a_strength_is_rejected(content):
    text = (content / "evidence_rules.yaml").read_text()
    start = text.index("    strength:", text.index("id: evasion_transfer.transfer_success_rate"))
    end = text.index("    note:", start)
    (content / "evidence_rules.yaml").write_text(text[:start] + text[end:])
    message = problems(content)
    assert "rule evasion_transfer.transfer_success_rate" in message and "say how strong a measurement" in message


def test_a_strength_naming_an_attack_the_engine_lacks_is_rejected(content):
    content.edit(
        "evidence_rules.yaml", "{attacks: [autoattack], min_samples: 500}", "{attacks: [auto_attack], min_samples: 500}"
    )
    assert "unknown attack 'auto_attack' in strength" in problems(content)


def test_a_plan_rule_whose_job_gives_no_evidence_for_its_threat_is_rejected(content):
    content.edit("test_plan_rules.yaml", "threats: [evasion_transfer]\n", "threats: [model_extraction]\n")
    assert "a transfer_attack job produces no evidence that threat 'model_extraction' accepts" in problems(content)


def test_a_plan_rule_with_an_unknown_job_kind_is_rejected(content):
    content.edit("test_plan_rules.yaml", "job: lineage", "job: environment_check")
    assert "'environment_check' is not one of" in problems(content)


def test_every_problem_is_reported_not_just_the_first(content):
    content.edit("threats.yaml", "AML.T0043.002", "AML.T0043.012")
    content.edit("questions.yaml", "when: {equals: head_only}", "when: {equals: head_onyl}")
    message = problems(content)
    assert "AML.T0043.012" in message and "head_onyl" in message


def test_a_missing_file_is_reported_by_name(content):
    (content / "evidence_rules.yaml").unlink()
    assert "evidence_rules.yaml: file not found" in problems(content)


def test_invalid_yaml_is_reported_by_file(content):
    (content / "threats.yaml").write_text("threats: [unclosed\n")
    assert "threats.yaml: not valid YAML" in problems(content)


def test_mismatched_file_versions_are_rejected(content):
    content.edit("test_plan_rules.yaml", "version: 3", "version: 4")
    assert "test_plan_rules.yaml: version 4 does not match questions.yaml (3)" in problems(content)


def test_schemas_are_valid_json_schema_documents():
    import json

    from jsonschema import Draft202012Validator

    for path in (CONTENT_DIR / "schema").glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_content_files_parse_with_safe_yaml():
    for path in CONTENT_DIR.glob("*.yaml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict), path.name
