"""Citations say what their sources say: ids from the real lists, and each one used for what it names."""

from collections import Counter

import pytest

from riskapp.assessments.bank import CONTENT_DIR, load_bank
from tests.riskapp.assessments.test_bank import ContentCopy, problems


@pytest.fixture(scope="module")
def bank():
    return load_bank()


@pytest.fixture
def content(tmp_path):
    return ContentCopy(tmp_path / "content")


def cited(bank, question_id, framework):
    return {source.id for source in bank.question(question_id).sources if source.framework == framework}


def all_sources(bank):
    for question in bank.questions:
        yield question.id, question.sources
    for threat in bank.threats:
        yield threat.id, threat.sources


# --- NIST AI RMF: the real list of subcategories ------------------------------------------------------------------


def test_the_nist_ai_rmf_list_has_the_72_subcategories_of_ai_rmf_1_0(bank):
    subcategories = bank.known_ids.nist_rmf
    assert Counter(key.split()[0] for key in subcategories) == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}
    assert subcategories["MEASURE 2.7"].startswith("AI system security and resilience")
    assert subcategories["MANAGE 1.3"].endswith("mitigating, transferring, avoiding, or accepting.")
    assert subcategories["GOVERN 2.3"].startswith("Executive leadership of the organization takes responsibility")
    assert "MEASURE 2.14" not in subcategories and "GOVERN 7.1" not in subcategories


def test_a_nist_ai_rmf_id_that_is_not_a_subcategory_is_rejected(content):
    content.edit("questions.yaml", "{framework: NIST-AI-RMF, id: MAP 5.1}", "{framework: NIST-AI-RMF, id: MAP 5.3}")
    assert "'MAP 5.3' is not a NIST AI RMF 1.0 subcategory" in problems(content)


def test_a_nist_ai_rmf_category_is_not_a_subcategory(content):
    content.edit("questions.yaml", "{framework: NIST-AI-RMF, id: MAP 5.1}", "{framework: NIST-AI-RMF, id: GOVERN 6}")
    assert "'GOVERN 6' is not a NIST AI RMF 1.0 subcategory" in problems(content)


def test_requirement_questions_cite_map_requirements_not_measurement(bank):
    for question in bank.questions_in("requirements"):
        assert not cited(bank, question.id, "NIST-AI-RMF") & {"MEASURE 2.7", "MEASURE 2.10"}, question.id
    assert {"MAP 1.6", "MAP 3.2"} <= cited(bank, "requirements.integrity_need", "NIST-AI-RMF")
    assert {"MAP 1.6", "MAP 3.2"} <= cited(bank, "requirements.confidentiality_need", "NIST-AI-RMF")


def test_governance_questions_cite_the_subcategory_that_names_them(bank):
    assert cited(bank, "requirements.ml_security_skills", "NIST-AI-RMF") == {"MEASURE 1.3"}
    owner = cited(bank, "operation.risk_owner", "NIST-AI-RMF")
    assert "GOVERN 2.3" in owner and "MANAGE 1.4" not in owner
    assert "MANAGE 1.3" in cited(bank, "requirements.risk_appetite", "NIST-AI-RMF")  # the treatment choice


# --- ATLAS --------------------------------------------------------------------------------------------------------


def test_output_tampering_does_not_cite_exploit_public_facing_application(bank):
    assert "AML.T0049" not in bank.threat("output_integrity").atlas


def test_a_model_registry_is_not_cited_as_a_container_registry(bank):
    assert "AML.T0010.004" not in cited(bank, "infrastructure.registry_auth", "ATLAS")
    assert "AML.M0005" in cited(bank, "infrastructure.registry_auth", "ATLAS")


def test_verify_ai_artifacts_is_cited_for_hashes_not_for_a_verified_publisher(bank):
    assert "AML.M0014" not in cited(bank, "teacher.model_card", "ATLAS")
    assert "AML.M0014" in cited(bank, "teacher.pinned", "ATLAS")
    for threat in bank.threats:
        for mitigation in threat.mitigations:
            if mitigation.atlas == "AML.M0014":
                assert "hash" in mitigation.text or "checksum" in mitigation.text, (threat.id, mitigation.text)


def test_drift_monitoring_cites_validate_ai_model_not_telemetry_logging(bank):
    assert "AML.M0024" not in cited(bank, "operation.drift_monitoring", "ATLAS")
    assert "AML.M0008" in cited(bank, "operation.drift_monitoring", "ATLAS")
    for threat in bank.threats:
        for mitigation in threat.mitigations:
            if "drift" in mitigation.text.lower():
                assert mitigation.atlas == "AML.M0008", (threat.id, mitigation.text)


# --- OWASP ML Top 10 ----------------------------------------------------------------------------------------------


def test_transfer_evasion_is_input_manipulation_not_a_transfer_learning_attack(bank):
    threat = bank.threat("evasion_transfer")
    assert threat.owasp_ml == ("ML01",)
    assert "ML07" not in {s.id for s in threat.sources if s.framework == "OWASP-ML"}
    # ML07 is a malicious pre-trained model: it belongs to the inherited backdoor.
    assert "ML07" in bank.threat("backdoor_inherited").owasp_ml


def test_a_small_dataset_does_not_cite_ml04_which_lists_less_data_as_a_mitigation(bank):
    assert "ML04" not in cited(bank, "fine_tuning.dataset_size", "OWASP-ML")


# --- NIST AI 100-2 ------------------------------------------------------------------------------------------------


def test_drift_skewing_by_an_attacker_is_targeted_poisoning_of_integrity(bank):
    threat = bank.threat("drift_skewing")
    assert (threat.nist_category, threat.nist_objective) == ("poisoning.targeted", "integrity")


# --- PLOT4ai and Microsoft ----------------------------------------------------------------------------------------


def test_plot4ai_citations_quote_card_titles_of_the_current_deck(bank):
    quoted = {s.citation for _, sources in all_sources(bank) for s in sources if s.framework == "PLOT4ai"}
    assert quoted, "the content should cite PLOT4ai"
    assert quoted <= bank.known_ids.plot4ai, quoted - bank.known_ids.plot4ai
    assert not any(title.startswith(("Security card", "Technique & Processes card")) for title in quoted)


def test_a_plot4ai_title_from_the_2022_deck_is_rejected(content):
    content.edit(
        "questions.yaml",
        "Cybersecurity card: Are we protected from insider threats?",
        "Security card: Are we protected from an insider threat?",
    )
    assert "'Security card: Are we protected from an insider threat?' is not a PLOT4ai card" in problems(content)


def test_seed_ratings_are_not_attributed_to_a_microsoft_document_that_gives_only_a_severity():
    header = (CONTENT_DIR / "threats.yaml").read_text().split("\nversion:", 1)[0]
    assert "sample ratings" not in header and "High = 4" not in header
    assert "severity" in header
