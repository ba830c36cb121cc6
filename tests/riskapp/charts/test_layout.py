"""The layout the evaluation and privacy charts share."""

from riskapp.charts.evaluations import chart_layout


def test_a_chart_with_a_second_y_axis_leaves_room_for_its_labels_on_the_right():
    single = chart_layout("Accuracy", "epoch", "accuracy")
    double = chart_layout("Training", "epoch", "accuracy", yaxis2={"title": {"text": "loss"}, "side": "right"})
    assert single["margin"]["r"] < double["margin"]["r"] == double["margin"]["l"]
    assert double["yaxis2"]["title"]["text"] == "loss" and single["yaxis"]["title"]["text"] == "accuracy"
