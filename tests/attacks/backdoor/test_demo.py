import numpy as np

from attacks.loading import load_dataset


def test_demo_backdoor_survives_head_only_and_weakens_under_full_fine_tuning(demo, paths):
    asr, accuracy = demo["attack_success_rate"], demo["clean_accuracy"]
    assert min(accuracy.values()) >= 0.95
    assert asr["teacher"] >= 0.9
    assert asr["student_head"] >= 0.8
    assert asr["student_all"] <= 0.3
    x, y, mask = load_dataset(paths["train"])
    assert mask is not None and mask.sum() == demo["poisoned_samples"] > 0
    assert (y[mask] == demo["target_class"]).all()
    # The trigger pixels are white on every poisoned image.
    assert np.allclose(x[mask][:, 0, 6, 6], 1.0)
