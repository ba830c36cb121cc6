"""Risk bands: the one definition of their names, order, labels, score thresholds and colours.

A leaf module without Django: every app that speaks of bands (projects' risk appetite, the assessments' pure
scoring, gates, dashboards, the API) imports it from here, and it imports nothing from riskapp.
"""

from collections.abc import Iterable
from enum import StrEnum

# Bands on the 5 x 5 matrix, by score = likelihood x impact (possible scores: 1-6, 8-10, 12, 15, 16, 20, 25):
#   low 1-4 | medium 5-9 | high 10-15 | critical 16-25
# Critical starts at 4 x 4: likely and severe. High covers e.g. 5 x 2, 4 x 3 and 5 x 3; a 5 x 1 (almost certain,
# negligible harm) is medium, as is 3 x 3.
_LOWEST_SCORE = {"low": 1, "medium": 5, "high": 10, "critical": 16}
# Charts: the Okabe-Ito colour-blind-safe palette (pages use the badge-<band> classes of static/riskapp.css).
_LABEL = {"not_assessed": "Not assessed yet", "low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
_COLOUR = {"not_assessed": "#BBBBBB", "low": "#56B4E9", "medium": "#F0E442", "high": "#E69F00", "critical": "#D55E00"}


class Band(StrEnum):
    """Lowest first. A threat not assessed yet (none of its questions answered: no rating, not a worst case)
    ranks below "low", so it is never above any appetite and never counted as critical."""

    NOT_ASSESSED = "not_assessed"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def rated(cls) -> list["Band"]:
        """The bands a score can have, lowest first (all but NOT_ASSESSED)."""
        return [band for band in cls if band != cls.NOT_ASSESSED]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """(value, label) of every band, lowest first: for forms and the API."""
        return [(band.value, band.label) for band in cls]

    @classmethod
    def for_score(cls, score: int) -> "Band":
        """The band of a likelihood x impact score (1-25)."""
        return next(band for band in reversed(cls.rated()) if score >= _LOWEST_SCORE[band.value])

    @classmethod
    def highest_rated(cls, bands: Iterable[str]) -> "Band | None":
        """The highest of `bands` that is a rating; None when there is none (threats not assessed yet never count)."""
        rated = [cls(band) for band in bands if band != cls.NOT_ASSESSED]
        return max(rated, key=lambda band: band.rank, default=None)

    @classmethod
    def rank_of(cls, value: str) -> int:
        """Position in the order, lowest (not assessed) first: compare bands with it."""
        return list(cls).index(cls(value))

    @property
    def rank(self) -> int:
        return Band.rank_of(self.value)

    @property
    def label(self) -> str:
        return _LABEL[self.value]

    @property
    def lowest_score(self) -> int:
        """The lowest likelihood x impact score in this band; 0 for NOT_ASSESSED."""
        return _LOWEST_SCORE.get(self.value, 0)

    @property
    def colour(self) -> str:
        return _COLOUR[self.value]

    @property
    def css_class(self) -> str:
        return f"badge-{self.value}"


# (value, label) choices of a project's risk appetite: a rated band (a threat not assessed yet is never above it).
APPETITE_CHOICES = [(band.value, band.label) for band in Band.rated()]
