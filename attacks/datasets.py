"""Built-in datasets and the .npz writer (x float32, or uint8 image bytes with keep_uint8).

The demo set is scikit-learn's digits (shipped with scikit-learn, no download): 1,797
8×8 grey images scaled to [0, 1] as N×1×8×8 float32, with a fixed stratified split of
1,297 training and 500 test samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

DIGITS_TEST_SIZE = 500
DIGITS_SHAPE = (1, 8, 8)
DIGITS_CLASSES = 10


class Split(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def digits_split(seed: int = 0) -> Split:
    """scikit-learn's digits as 1×8×8 float32 in [0, 1] and int64 labels, split the same way for a given seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=DIGITS_TEST_SIZE, random_state=seed, stratify=y)
    return Split(x_train, y_train, x_test, y_test)


def save_npz(
    path: Path, x: np.ndarray, y: np.ndarray, poison_mask: np.ndarray | None = None, *, keep_uint8: bool = False
) -> Path:
    """Write a dataset in the format the intake accepts: x float32, y int64, optional boolean poison_mask.

    With `keep_uint8`, a uint8 x (decoded images, 0-255) is stored as is: 4× smaller, and
    `attacks.loading.load_dataset` scales it by 1/255 when it reads it."""
    path = Path(path)
    x = np.asarray(x)
    if keep_uint8 and x.dtype != np.uint8:
        raise ValueError(f"keep_uint8 needs x of dtype uint8, not {x.dtype}")
    arrays = {"x": x if keep_uint8 else x.astype(np.float32, copy=False), "y": np.asarray(y, dtype=np.int64)}
    if poison_mask is not None:
        arrays["poison_mask"] = np.asarray(poison_mask, dtype=bool)
    with path.open("wb") as stream:  # an open file, so numpy does not append ".npz" to the name
        np.savez(stream, **arrays)
    return path


def write_digits(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """digits-train.npz and digits-test.npz in `directory`."""
    directory = Path(directory)
    split = digits_split(seed)
    return (
        save_npz(directory / "digits-train.npz", split.x_train, split.y_train),
        save_npz(directory / "digits-test.npz", split.x_test, split.y_test),
    )
