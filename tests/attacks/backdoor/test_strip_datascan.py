import threading

import pytest

from attacks.backdoor import datascan, strip
from attacks.context import Cancelled, RunContext


def test_strip_separates_triggered_from_clean_inputs(tmp_path, paths):
    params = {
        "model_path": str(paths["teacher"]),
        "arch": "cnn-digits",
        "data_path": str(paths["test"]),
        "suspect_path": str(paths["test_triggered"]),
    }
    result = strip.run(RunContext(output_dir=tmp_path), params)
    assert result["schema"] == "riskapp.strip/1"
    assert result["suspect"]["roc_auc"] >= 0.8
    assert result["suspect"]["detection_rate"] > result["clean"]["false_positive_rate"]
    assert result["clean"]["false_positive_rate"] <= 0.05
    histogram = result["histogram"]
    assert len(histogram["bin_edges"]) == len(histogram["clean"]) + 1 == len(histogram["suspect"]) + 1
    assert sum(histogram["suspect"]) == result["suspect"]["count"]


def test_data_scan_names_the_poisoned_class_and_recovers_its_poison(tmp_path, demo, paths):
    params = {"model_path": str(paths["teacher"]), "arch": "cnn-digits", "data_path": str(paths["train"])}
    result = datascan.run(RunContext(output_dir=tmp_path), params)
    assert result["schema"] == "riskapp.data-scan/1"
    target = demo["target_class"]
    assert result["suspected_classes"] == [target]
    assert result["evaluation"]["poisoned_classes"] == [target]
    entry = next(e for e in result["classes"] if e["class"] == target)
    # Activation clustering names the class; spectral signatures recover most of its poison.
    assert entry["spectral_signatures"]["evaluation"]["recall"] >= 0.7
    assert entry["activation_clustering"]["evaluation"]["precision"] >= 0.8
    assert sum(entry["activation_clustering"]["cluster_sizes"]) == entry["samples"]
    # Thumbnails show flagged samples of the judged class, each a PNG in the output folder.
    thumbnails = result["thumbnails"]
    assert 0 < len(thumbnails) <= datascan.THUMBNAILS
    assert {t["class"] for t in thumbnails} == {target}
    assert {t["index"] for t in thumbnails} <= set(entry["spectral_signatures"]["flagged_indices"])
    assert all((tmp_path / t["image"]).read_bytes().startswith(b"\x89PNG") for t in thumbnails)


def test_cancel_stops_strip(tmp_path, paths):
    event = threading.Event()
    event.set()
    params = {"model_path": str(paths["teacher"]), "arch": "cnn-digits", "data_path": str(paths["test"])}
    with pytest.raises(Cancelled):
        strip.run(RunContext(output_dir=tmp_path, cancel_event=event), params)
