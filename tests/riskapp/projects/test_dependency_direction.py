"""Projects sit below the assessments: nothing in riskapp/projects imports riskapp.assessments (which imports
projects). The assessments add their figures to the project overview through a hook instead."""

import ast
from pathlib import Path

import riskapp.projects
from riskapp.projects.summary import project_summary

PROJECTS_DIR = Path(riskapp.projects.__file__).parent


def imported_modules(source: str) -> set[str]:
    """Every module an `import` or `from ... import` names, at any depth (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_import_scan_sees_nested_and_from_imports():
    source = "def f():\n    from riskapp import assessments\n\nimport riskapp.assessments.scoring as s\n"
    assert {"riskapp.assessments", "riskapp.assessments.scoring"} <= imported_modules(source)


def test_no_projects_module_imports_the_assessments():
    offenders = [
        f"{path.relative_to(PROJECTS_DIR)}: {name}"
        for path in sorted(PROJECTS_DIR.rglob("*.py"))
        for name in sorted(imported_modules(path.read_text()))
        if name == "riskapp.assessments" or name.startswith("riskapp.assessments.")
    ]
    assert offenders == []


def test_the_overview_still_carries_the_assessments_figures(team):
    summary = project_summary(project=team.project)
    assert summary["models"] == team.project.models.count()
    assert [band for band, _ in summary["bands"]] == ["critical", "high", "medium", "low"]
    assert summary["not_assessed"] > 0 and "completeness" in summary and "above_appetite" in summary
