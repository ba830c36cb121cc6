"""Server-built charts: the register's heatmap, its table, and plotly.js served from the pinned package."""

from django.contrib.staticfiles import finders
from django.urls import reverse

from riskapp.assessments import services
from riskapp.assessments.register import register_rows
from riskapp.charts.risk import heatmap_cells, risk_heatmap


def test_heatmap_places_every_threat_in_its_cell_with_the_band_as_text(team):
    services.answer_set(actor=team.assessor, project=team.project, question_id="context.uses_pretrained", raw="no")
    _, rows = register_rows(team.project, {"context.uses_pretrained": "no"})
    figure = risk_heatmap(rows)
    trace = figure["data"][0]
    counted = 0
    for likelihood in range(1, 6):
        for impact in range(1, 6):
            names = [
                r.threat.name
                for r in rows
                if r.risk.assessed and (r.risk.current.likelihood, r.risk.current.impact) == (likelihood, impact)
            ]
            hover = trace["customdata"][likelihood - 1][impact - 1]
            assert all(name in hover for name in names)
            if names:
                assert f"<b>{len(names)}</b>" in trace["text"][likelihood - 1][impact - 1]
            counted += len(names)
    assert counted == sum(r.risk.assessed for r in rows)
    # A threat not assessed yet has no place on the grid.
    not_assessed = [r.threat.name for r in rows if not r.risk.assessed]
    assert not_assessed and not any(
        name in cell for row in trace["customdata"] for cell in row for name in not_assessed
    )
    assert [colour for _, colour in trace["colorscale"][::2]] == ["#56B4E9", "#F0E442", "#E69F00", "#D55E00"]
    assert sum(len(cell["threats"]) for cell in heatmap_cells(rows)) == sum(r.risk.assessed for r in rows)


def test_register_page_embeds_the_heatmap_and_its_numbers(team, client_for):
    page = client_for(team.viewer).get(reverse("projects:assessments:register", args=[team.project.pk]))
    html = page.content.decode()
    assert 'id="risk-heatmap-figure" type="application/json"' in html
    assert "The heatmap&#x27;s numbers" in html or "The heatmap's numbers" in html
    assert "vendor/plotly.min.js" in html and "cdn" not in html.lower()


def test_plotly_js_is_served_from_the_installed_package():
    found = finders.find("vendor/plotly.min.js")
    assert found and found.endswith("plotly/package_data/plotly.min.js")
