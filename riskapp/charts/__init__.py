"""riskapp's charts: Plotly figures built on the server as plain JSON, and their static SVG for the PDF report.

A leaf below every app: the builders take plain data (rows and results already read by the app that owns them)
and import no app's models, services or selectors, so any page, kind or report can draw with them
(tests/riskapp/charts/test_charts_are_a_leaf.py).

- risk.py: the register's risk grid, the portfolio's bars, the lineage graph and the version trend;
- evaluations.py: the security tests' figures (evasion, backdoor, lineage, hardening, confusion matrix);
- privacy.py: the privacy tests' figures (membership inference, model extraction);
- svg.py: a figure drawn as static SVG (the PDF report runs no scripts).
"""
