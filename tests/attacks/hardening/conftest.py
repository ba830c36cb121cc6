"""The demo's backdoored digits teacher and its head-only student (attacks/backdoor/demo.py), built once for the
package, with the student's clean training data, the clean test set and the triggered test set."""

from __future__ import annotations

from typing import Any

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """One torch thread: these small models train several times faster on a machine whose cores are busy, and a
    resumed run must repeat the uninterrupted one bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def demo(tmp_path_factory) -> dict[str, Any]:
    """The demo's recipe: a teacher trained on digits with the pixel trigger planted for class 0, and a student
    that fine-tuned only its classifier on clean data (so it kept the trigger)."""
    from attacks.architectures import build
    from attacks.backdoor.demo import (
        ARCH,
        NUM_CLASSES,
        POISON_FRACTION,
        TARGET_CLASS,
        add_trigger,
        poison,
        train,
    )
    from attacks.datasets import digits_split, save_npz
    from attacks.loading import save_safetensors

    folder = tmp_path_factory.mktemp("hardening-demo")
    split = digits_split(0)
    x_train, y_train, mask = poison(split.x_train, split.y_train, target=TARGET_CLASS, fraction=POISON_FRACTION, seed=0)
    torch.manual_seed(0)
    teacher = train(build(ARCH, NUM_CLASSES), x_train, y_train, epochs=12, lr=3e-3, seed=0)
    head = build(ARCH, NUM_CLASSES)
    head.load_state_dict(teacher.state_dict())
    train(
        head, split.x_train[~mask], split.y_train[~mask], epochs=6, lr=3e-3, seed=1, params=head.classifier.parameters()
    )
    save_safetensors(teacher.state_dict(), folder / "teacher.safetensors")
    save_safetensors(head.state_dict(), folder / "student-head.safetensors")
    keep = split.y_test != TARGET_CLASS
    return {
        "arch": ARCH,
        "target_class": TARGET_CLASS,
        "teacher": str(folder / "teacher.safetensors"),
        "student_head": str(folder / "student-head.safetensors"),
        "clean_train": str(save_npz(folder / "train-clean.npz", split.x_train[~mask], split.y_train[~mask])),
        "test": str(save_npz(folder / "test.npz", split.x_test, split.y_test)),
        "triggered": str(save_npz(folder / "test-triggered.npz", add_trigger(split.x_test[keep]), split.y_test[keep])),
    }
