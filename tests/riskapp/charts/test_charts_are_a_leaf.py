"""Charts are a leaf: riskapp/charts imports no app (no models, services or selectors) and no ORM, only the plain
helpers every app shares, so any page, kind or report can draw with them without an import cycle."""

from pathlib import Path

import riskapp.charts
from tests.riskapp.import_scan import imported_modules

CHARTS_DIR = Path(riskapp.charts.__file__).parent
# Plain helpers without Django models: the risk bands and the words for internal ids.
ALLOWED = ("riskapp.charts", "riskapp.bands", "riskapp.labels")


def outside_the_leaf(source: str) -> list[str]:
    """The modules `source` imports that a chart may not: any riskapp module but the allowed, and the ORM."""
    return sorted(
        name
        for name in imported_modules(source)
        if (name.startswith("riskapp.") and not any(inside(name, allowed) for allowed in ALLOWED))
        or inside(name, "django.db")
    )


def inside(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_the_scan_flags_an_app_and_the_orm_but_not_the_plain_helpers():
    source = (
        "from riskapp.bands import Band\nfrom riskapp import labels\n"
        "def f():\n    from riskapp.gates.selectors import project_verdict\n"
        "from django.db.models import Count\n"
    )
    assert outside_the_leaf(source) == [
        "django.db.models",
        "django.db.models.Count",
        "riskapp.gates.selectors",
        "riskapp.gates.selectors.project_verdict",
    ]


def test_no_chart_module_imports_an_app_or_the_orm():
    offenders = {
        str(path.relative_to(CHARTS_DIR)): outside_the_leaf(path.read_text())
        for path in sorted(CHARTS_DIR.rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert {"risk.py", "evaluations.py", "privacy.py", "svg.py"} <= set(offenders)
