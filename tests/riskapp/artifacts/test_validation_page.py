"""The model page's validation: the accuracy as a rounded percentage, per-class accuracy under the class names,
and the confusion matrix drawn (a server-built Plotly heatmap) with its counts in a table beside it."""

import json
import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from riskapp.artifacts.models import IntakeStatus, ModelArtifact
from riskapp.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def test_validation_shows_accuracy_and_a_drawn_confusion_matrix_with_its_numbers(team, client_for):
    model = ModelArtifact.objects.create(
        project=team.project,
        name="Student",
        original_name="s.safetensors",
        sha256="c" * 64,
        size=3,
        file=ContentFile(b"abc", name="m.upload"),
        status=IntakeStatus.READY,
        class_names=["cat", "dog", "fox"],
    )
    Job.objects.create(
        project=team.project,
        kind="validation",
        queue="interactive",
        status=JobStatus.SUCCEEDED,
        parameters={"model_id": model.pk},
        result={
            "accuracy": 0.8333333,
            "samples": 12,
            "per_class_accuracy": [1.0, 0.75, 0.75],
            "confusion_matrix": [[4, 0, 0], [1, 3, 0], [0, 1, 3]],
        },
    )
    url = reverse("projects:artifacts:model", kwargs={"project_id": team.project.pk, "model_id": model.pk})
    html = client_for(team.viewer).get(url).content.decode()

    assert re.search(r'id="clean-accuracy">Accuracy <strong>83 %</strong> on 12 samples', html)
    figure = json.loads(
        re.search(r'<script id="confusion-matrix-figure" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    heatmap = figure["data"][0]
    assert heatmap["type"] == "heatmap" and heatmap["z"] == [[4, 0, 0], [1, 3, 0], [0, 1, 3]]
    assert heatmap["x"] == heatmap["y"] == ["cat", "dog", "fox"]
    table = html[html.index('<table class="small confusion">') :]
    table = table[: table.index("</table>")]
    assert '<th scope="row">dog</th><td>1</td><td>3</td><td>0</td>' in table
    assert "vendor/plotly.min.js" in html and "0.8333333" not in html
