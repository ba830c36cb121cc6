"""The one band type: its order, thresholds and presentation, and every place that lists bands agrees with it."""

import re
from pathlib import Path

from django.conf import settings

from riskapp.assessments.api import RatingSerializer
from riskapp.bands import APPETITE_CHOICES, Band
from riskapp.projects.models import Project


def test_bands_rank_lowest_first_with_not_assessed_below_low():
    assert [band.value for band in Band] == ["not_assessed", "low", "medium", "high", "critical"]
    assert Band.rank_of("not_assessed") < Band.LOW.rank < Band.MEDIUM.rank < Band.HIGH.rank < Band.CRITICAL.rank
    assert Band.rated() == [Band.LOW, Band.MEDIUM, Band.HIGH, Band.CRITICAL]


def test_a_score_lands_in_the_band_whose_lowest_score_it_reaches():
    assert [Band.for_score(s) for s in (1, 4, 5, 9, 10, 15, 16, 25)] == [
        Band.LOW,
        Band.LOW,
        Band.MEDIUM,
        Band.MEDIUM,
        Band.HIGH,
        Band.HIGH,
        Band.CRITICAL,
        Band.CRITICAL,
    ]


def test_the_highest_rated_band_ignores_threats_not_assessed_yet():
    assert Band.highest_rated(["low", "not_assessed", "high", "medium"]) == Band.HIGH
    assert Band.highest_rated([Band.NOT_ASSESSED]) is None
    assert Band.highest_rated([]) is None


def test_a_band_is_its_plain_string_value_in_json_and_templates():
    assert Band.HIGH == "high" and f"{Band.HIGH}" == "high" and {"high": 1}[Band.HIGH] == 1
    assert Band("critical").label == "Critical"


def test_a_risk_appetite_is_a_rated_band():
    field = Project._meta.get_field("risk_appetite")
    assert list(field.choices) == APPETITE_CHOICES == [(b.value, b.label) for b in Band.rated()]
    assert field.default == Band.MEDIUM


def test_the_api_lists_every_band():
    assert list(RatingSerializer().fields["band"].choices) == [band.value for band in Band]


def test_every_band_has_a_badge_style():
    css = (Path(settings.BASE_DIR) / "static" / "riskapp.css").read_text()
    styled = set(re.findall(r"\.badge-([a-z_]+)\s*\{", css))
    assert {band.css_class.removeprefix("badge-") for band in Band} <= styled
