"""Fixtures shared by the app's tests: the engine's privacy result documents (tests/fixtures/privacy)."""

import json
from pathlib import Path

import pytest

PRIVACY_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "privacy"


@pytest.fixture
def membership() -> dict:
    """A membership-inference result document as the engine writes it."""
    return json.loads((PRIVACY_FIXTURES / "membership_inference.json").read_text())


@pytest.fixture
def extraction() -> dict:
    """A model-extraction result document as the engine writes it."""
    return json.loads((PRIVACY_FIXTURES / "extraction.json").read_text())
