"""The privacy figures: a log-log ROC with its chance line and FPR markers, and agreement against the query budget."""

import copy

import pytest

from riskapp.charts.privacy import budget_rows, extraction_budget_curve, membership_roc


def trace(figure: dict, name_start: str) -> dict:
    return next(t for t in figure["data"] if t["name"].startswith(name_start))


def test_roc_is_drawn_on_log_axes_with_the_chance_diagonal(membership):
    figure = membership_roc(membership)
    assert figure["layout"]["xaxis"]["type"] == "log" and figure["layout"]["yaxis"]["type"] == "log"
    chance = trace(figure, "chance")
    assert chance["x"] == chance["y"] and chance["x"][-1] == 1.0
    assert chance["x"][0] == membership["roc"]["fpr"][0]
    attack = trace(figure, "attack")
    assert f"{membership['auc']['value']:.3f}" in attack["name"]


def test_roc_leaves_out_points_a_log_axis_cannot_show(membership):
    result = copy.deepcopy(membership)
    result["roc"]["tpr"][0] = 0.0
    attack = trace(membership_roc(result), "attack")
    assert 0.0 not in attack["y"] and len(attack["x"]) == len(result["roc"]["fpr"]) - 1


def test_roc_marks_both_fpr_levels_and_draws_only_the_reported_one_with_its_interval(membership):
    figure = membership_roc(membership)
    assert [shape["x0"] for shape in figure["layout"]["shapes"]] == [0.01, 0.001]
    labels = [note["text"] for note in figure["layout"]["annotations"]]
    assert labels == ["1.0% FPR", "0.1% FPR (too few non-members)"]
    reported = trace(figure, "TPR at the reported FPR")
    level = membership["tpr_at_fpr"][0]
    assert reported["x"] == [0.01] and reported["y"] == [level["tpr"]]
    assert reported["y"][0] + reported["error_y"]["array"][0] == pytest.approx(level["ci"][1])
    assert reported["y"][0] - reported["error_y"]["arrayminus"][0] == pytest.approx(level["ci"][0])


def test_budget_rows_carry_wilson_intervals_over_the_evaluation_set(extraction):
    rows = budget_rows(extraction)
    assert [r["budget"] for r in rows] == [20, 100, 500]
    for row in rows:
        low, high = row["agreement_ci"]
        assert low < row["agreement"] < high and high - low < 0.1  # 497 images: a few points wide
    smaller = copy.deepcopy(extraction)
    smaller["data"]["evaluation"]["samples"] = 50
    assert budget_rows(smaller)[0]["agreement_ci"][1] - budget_rows(smaller)[0]["agreement_ci"][0] > high - low


def test_budget_curve_has_a_log_budget_axis_intervals_and_the_reference_lines(extraction):
    figure = extraction_budget_curve(extraction)
    assert figure["layout"]["xaxis"]["type"] == "log"
    agreement = trace(figure, "agreement")
    assert agreement["x"] == [20, 100, 500] and agreement["error_y"]["type"] == "data"
    assert agreement["line"]["dash"] != trace(figure, "copy's accuracy")["line"]["dash"]
    levels = [shape["y0"] for shape in figure["layout"]["shapes"]]
    assert levels == [extraction["victim_accuracy"], extraction["copy"]["initial"]["agreement"]]


def test_a_copy_from_scratch_has_no_teacher_line_and_no_intervals_without_a_count(extraction):
    scratch = copy.deepcopy(extraction)
    scratch["copy"].update(start="scratch", initial=None)
    del scratch["data"]["evaluation"]["samples"]
    figure = extraction_budget_curve(scratch)
    assert len(figure["layout"]["shapes"]) == 1
    assert trace(figure, "agreement")["error_y"] == {"visible": False}
