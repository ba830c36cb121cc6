"""Projects sit below every other domain app: nothing in riskapp/projects imports the assessments, gates,
artifacts, jobs, evaluations, dashboards or charts (which all build on projects), so no import reaches them
transitively either. The project overview gets what those apps show through a hook instead
(riskapp.projects.overview, filled by DashboardsConfig.ready()), and the project API's read with its verdict
lives in riskapp.dashboards.api; URL configurations name the apps' routes by string only."""

from pathlib import Path

import riskapp.projects
from riskapp.dashboards.overview import project_summary
from riskapp.projects.overview import overview_context
from tests.riskapp.import_scan import imported_modules, imports_of

PROJECTS_DIR = Path(riskapp.projects.__file__).parent
APPS_ABOVE = tuple(
    f"riskapp.{app}" for app in ("assessments", "gates", "artifacts", "jobs", "evaluations", "dashboards", "charts")
)


def test_the_import_scan_sees_nested_and_from_imports():
    source = "def f():\n    from riskapp import assessments\n\nimport riskapp.assessments.scoring as s\n"
    assert {"riskapp.assessments", "riskapp.assessments.scoring"} <= imported_modules(source)


def test_the_scan_flags_every_app_above_projects(tmp_path):
    (tmp_path / "views.py").write_text("from riskapp.gates.selectors import project_verdict\n")
    (tmp_path / "api.py").write_text("def f():\n    from riskapp import jobs\n")
    (tmp_path / "forms.py").write_text("from riskapp.projects.roles import Role\nimport riskapp.bands\n")
    assert imports_of(tmp_path, APPS_ABOVE) == [
        "api.py: riskapp.jobs",
        "views.py: riskapp.gates.selectors",
        "views.py: riskapp.gates.selectors.project_verdict",
    ]


def test_no_projects_module_imports_an_app_above_projects():
    assert imports_of(PROJECTS_DIR, APPS_ABOVE) == []


def test_the_overview_still_carries_the_assessments_figures(team):
    summary = project_summary(project=team.project)
    assert summary["models"] == team.project.models.count()
    assert [band for band, _ in summary["bands"]] == ["critical", "high", "medium", "low"]
    assert summary["not_assessed"] > 0 and "completeness" in summary and "above_appetite" in summary


def test_the_overview_hook_carries_the_figures_verdict_and_jobs_of_the_apps_above(team):
    context = overview_context(project=team.project)
    assert {"summary", "verdict", "jobs", "job_kinds"} <= set(context)
    assert context["summary"]["not_assessed"] > 0 and context["verdict"].label
