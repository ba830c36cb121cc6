import struct
import threading
import zlib

import numpy as np
import pytest

from attacks.backdoor import cleanse
from attacks.context import Cancelled, RunContext
from attacks.png import png_bytes
from tests.attacks.backdoor.conftest import TEST_STEPS


def _params(model, data, **extra):
    return {"model_path": str(model), "arch": "cnn-digits", "data_path": str(data), "steps": TEST_STEPS, **extra}


def test_neural_cleanse_flags_the_target_class_of_the_backdoored_teacher(tmp_path, demo, paths):
    progress = []
    ctx = RunContext(output_dir=tmp_path, on_progress=lambda p, m: progress.append(p))
    result = cleanse.run(ctx, _params(paths["teacher"], paths["test"]))
    assert result["schema"] == "riskapp.backdoor-scan/1"
    assert result["flagged_classes"] == [demo["target_class"]]
    target = result["classes"][demo["target_class"]]
    assert target["anomaly_index"] > 2 and target["trigger_success_rate"] >= 0.9
    assert target["mask_l1"] < result["median_mask_l1"] / 2
    assert progress[-1] == 100 and progress == sorted(progress)
    for entry in result["classes"]:
        assert (tmp_path / entry["trigger_image"]).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("index", [0, 1])
def test_neural_cleanse_flags_nothing_on_clean_models(tmp_path, clean_models, paths, index):
    result = cleanse.run(RunContext(output_dir=tmp_path), _params(clean_models[index], paths["test"]))
    assert result["flagged_classes"] == []
    assert result["backdoor_suspected"] is False


def test_anomaly_index_uses_the_mad_rule_and_only_the_small_side():
    norms = np.array([10.0, 11, 9, 10, 12, 8, 10, 11, 9, 2.0])
    index, flagged = cleanse.anomaly_indices(norms)
    mad = 1.4826 * np.median(np.abs(norms - np.median(norms)))
    assert index[9] == pytest.approx((np.median(norms) - 2.0) / mad)
    assert flagged.tolist() == [False] * 9 + [True]
    _, flagged_large = cleanse.anomaly_indices(np.array([10.0, 11, 9, 10, 12, 8, 10, 11, 9, 40.0]))
    assert not flagged_large.any()


def test_cancel_stops_neural_cleanse_between_steps(tmp_path, paths):
    event = threading.Event()

    def progress(percent, _message):
        if percent > 5:  # cancel once optimisation has started
            event.set()

    ctx = RunContext(output_dir=tmp_path, on_progress=progress, cancel_event=event)
    with pytest.raises(Cancelled):
        cleanse.run(ctx, _params(paths["teacher"], paths["test"], steps=100_000))


def test_png_writer_round_trips():
    image = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    data = png_bytes(image)
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, color) == (4, 3, 8, 0)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    raw = zlib.decompress(data[start : start + length])
    rows = np.frombuffer(raw, np.uint8).reshape(3, 5)
    assert (rows[:, 0] == 0).all() and rows[0, 1] == 0 and rows[2, 4] == 255
