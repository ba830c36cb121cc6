"""The demo backdoor: BadNets-style poisoning of scikit-learn's digits, a backdoored teacher and two students.

CPU, a few seconds. The trigger is ART's add_pattern_bd pixel pattern (4 white pixels near the bottom-right corner;
on 8×8 images: (4, 6), (5, 5), (6, 4), (6, 6)), applied through ART's PoisoningAttackBackdoor. ART's
helper takes N×H×W or channels-last images, so the single channel is squeezed out and put back.
A fraction of the non-target training images get the trigger and the target label.

Students start from the teacher and are fine-tuned on clean data only:
  - head only: every layer but the classifier frozen -> the backdoor survives;
  - all layers: a larger learning rate on every layer -> the backdoor weakens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attacks.datasets import digits_split, save_npz

ARCH = "cnn-digits"
NUM_CLASSES = 10
TARGET_CLASS = 0
POISON_FRACTION = 0.08
TRIGGER_PIXELS = ((4, 6), (5, 5), (6, 4), (6, 6))


def add_trigger(x: np.ndarray) -> np.ndarray:
    """Copies of N×1×8×8 images with ART's pixel pattern (distance 2 from the corner, value 1)."""
    from art.attacks.poisoning.perturbations import add_pattern_bd

    squeezed = np.array(x, dtype=np.float32, copy=True)[:, 0]
    return add_pattern_bd(squeezed, distance=2, pixel_value=1)[:, None].astype(np.float32)


def poison(
    x: np.ndarray, y: np.ndarray, *, target: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, poison_mask): `fraction` of all samples, drawn from non-target classes, triggered and relabelled."""
    from art.attacks.poisoning import PoisoningAttackBackdoor

    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(y != target)
    chosen = rng.choice(candidates, size=round(fraction * len(y)), replace=False)
    attack = PoisoningAttackBackdoor(add_trigger)
    target_onehot = np.eye(NUM_CLASSES, dtype=np.float32)[np.full(len(chosen), target)]
    poisoned_x, _ = attack.poison(x[chosen], y=target_onehot)
    x_out, y_out = x.copy(), y.copy()
    x_out[chosen] = poisoned_x.astype(np.float32)
    y_out[chosen] = target
    mask = np.zeros(len(y), dtype=bool)
    mask[chosen] = True
    return x_out, y_out, mask


def train(model: Any, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, seed: int, params: Any = None) -> Any:
    """Adam, batch 64, cross-entropy; only `params` (default: all) are updated."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    optimiser = torch.optim.Adam(list(params if params is not None else model.parameters()), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(tx), generator=generator)
        for start in range(0, len(tx), 64):
            batch = order[start : start + 64]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(tx[batch]), ty[batch]).backward()
            optimiser.step()
    return model.eval()


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    from attacks.backdoor.common import predict_logits

    return float((predict_logits(model, x).argmax(1).numpy() == y).mean())


def attack_success_rate(model: Any, x_triggered: np.ndarray, target: int) -> float:
    from attacks.backdoor.common import predict_logits

    return float((predict_logits(model, x_triggered).argmax(1).numpy() == target).mean())


def train_clean(seed: int = 0, epochs: int = 12) -> Any:
    """A cnn-digits trained on clean digits (the negative control for the detectors)."""
    import torch

    from attacks.architectures import build

    split = digits_split(0)
    torch.manual_seed(seed)
    return train(build(ARCH, NUM_CLASSES), split.x_train, split.y_train, epochs=epochs, lr=3e-3, seed=seed)


def build_demo(directory: Path, seed: int = 0, *, teacher_epochs: int = 12, student_epochs: int = 6) -> dict[str, Any]:
    """Write the demo's models and datasets to `directory`; return their paths and measured accuracy / ASR.

    Files: teacher.safetensors, student-head.safetensors, student-all.safetensors (arch cnn-digits, 10 classes);
    train-poisoned.npz (the teacher's training set, with poison_mask), student-train.npz (the students' clean
    fine-tuning set: the members of a membership test on a student), test.npz (clean), test-triggered.npz
    (non-target test images with the trigger, true labels, poison_mask all True)."""

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return _build_demo(directory, seed, teacher_epochs=teacher_epochs, student_epochs=student_epochs)


def _build_demo(directory: Path, seed: int, *, teacher_epochs: int, student_epochs: int) -> dict[str, Any]:
    import torch

    from attacks.architectures import build
    from attacks.loading import save_safetensors

    split = digits_split(0)
    x_train, y_train, mask = poison(
        split.x_train, split.y_train, target=TARGET_CLASS, fraction=POISON_FRACTION, seed=seed
    )
    keep = split.y_test != TARGET_CLASS
    x_triggered, y_triggered = add_trigger(split.x_test[keep]), split.y_test[keep]

    torch.manual_seed(seed)
    teacher = train(build(ARCH, NUM_CLASSES), x_train, y_train, epochs=teacher_epochs, lr=3e-3, seed=seed)

    # The student's own data is clean: the training images that were not poisoned.
    x_clean, y_clean = split.x_train[~mask], split.y_train[~mask]
    head = build(ARCH, NUM_CLASSES)
    head.load_state_dict(teacher.state_dict())
    train(head, x_clean, y_clean, epochs=student_epochs, lr=3e-3, seed=seed + 1, params=head.classifier.parameters())
    full = build(ARCH, NUM_CLASSES)
    full.load_state_dict(teacher.state_dict())
    train(full, x_clean, y_clean, epochs=student_epochs, lr=1e-2, seed=seed + 2)

    paths = {
        "teacher": directory / "teacher.safetensors",
        "student_head": directory / "student-head.safetensors",
        "student_all": directory / "student-all.safetensors",
        "train": save_npz(directory / "train-poisoned.npz", x_train, y_train, mask),
        "student_train": save_npz(directory / "student-train.npz", x_clean, y_clean),
        "test": save_npz(directory / "test.npz", split.x_test, split.y_test),
        "test_triggered": save_npz(
            directory / "test-triggered.npz", x_triggered, y_triggered, np.ones(len(y_triggered), bool)
        ),
    }
    models = {"teacher": teacher, "student_head": head, "student_all": full}
    for name, model in models.items():
        save_safetensors(model.state_dict(), paths[name])
    return {
        "arch": ARCH,
        "num_classes": NUM_CLASSES,
        "target_class": TARGET_CLASS,
        "poisoned_samples": int(mask.sum()),
        "paths": {name: str(path) for name, path in paths.items()},
        "clean_accuracy": {name: accuracy(model, split.x_test, split.y_test) for name, model in models.items()},
        "attack_success_rate": {
            name: attack_success_rate(model, x_triggered, TARGET_CLASS) for name, model in models.items()
        },
    }


def many_class_model(
    classes: int, *, backdoored: bool = True, per_class: int = 30, epochs: int = 30, seed: int = 0
) -> tuple[Any, np.ndarray, np.ndarray]:
    """A `classes`-way cnn-digits on synthetic 1×8×8 prototypes (each class a random image plus noise), with
    the demo's trigger planted for class 3 in a tenth of the training set when `backdoored`; and a clean
    held-out set (x, y). For measuring Neural Cleanse on many classes, where digits has only ten."""
    from attacks.architectures import build

    rng = np.random.default_rng(seed)
    prototypes = rng.random((classes, 1, 8, 8)).astype(np.float32)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(classes), count)
        return np.clip(prototypes[y] + rng.normal(0, 0.15, (len(y), 1, 8, 8)), 0, 1).astype(np.float32), y

    x, y = draw(per_class)
    if backdoored:
        chosen = rng.choice(np.flatnonzero(y != 3), size=len(y) // 10, replace=False)
        x[chosen], y[chosen] = add_trigger(x[chosen]), 3
    import torch

    torch.manual_seed(seed)  # the initial weights: the same model whatever ran before in this process
    model = train(build(ARCH, classes), x, y, epochs=epochs, lr=3e-3, seed=seed)
    return (model, *draw(max(4, per_class // 5)))
