"""The built-in digits dataset and the .npz writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attacks.datasets import digits_split, save_npz, write_digits
from attacks.scan import scan_file


def test_digits_split_is_fixed_1x8x8_in_unit_range_and_stratified(digits):
    assert digits.x_train.shape == (1297, 1, 8, 8) and digits.x_test.shape == (500, 1, 8, 8)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    assert np.bincount(digits.y_test).min() >= 48  # every digit about 50 times in the test set
    again = digits_split(seed=0)
    assert np.array_equal(again.x_test, digits.x_test) and np.array_equal(again.y_train, digits.y_train)
    assert not np.array_equal(digits_split(seed=1).y_test, digits.y_test)


def test_written_digits_files_pass_the_scan_as_datasets(tmp_path: Path):
    train, test = write_digits(tmp_path)
    for path in (train, test):
        report = scan_file(path, max_bytes=10**7, expect="dataset")
        assert report.accepted and report.format == "npz"
    with np.load(test, allow_pickle=False) as arrays:
        assert set(arrays.files) == {"x", "y"} and arrays["x"].shape == (500, 1, 8, 8)


def test_save_npz_keeps_the_exact_name_and_the_poison_mask(tmp_path: Path):
    path = save_npz(tmp_path / "poisoned.data", np.zeros((3, 4)), [0, 1, 2], poison_mask=[1, 0, 0])
    assert path == tmp_path / "poisoned.data" and path.exists()
    with np.load(path, allow_pickle=False) as arrays:
        assert arrays["poison_mask"].dtype == bool and arrays["poison_mask"].tolist() == [True, False, False]
        assert arrays["x"].dtype == np.float32
