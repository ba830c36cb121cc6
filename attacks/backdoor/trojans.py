"""A varied suite of small trojaned and clean models for measuring the backdoor detectors.

Every model trains in seconds on the CPU, on one of two image sets:
  - "digits": scikit-learn's digits (1×8×8, architecture cnn-digits);
  - "shapes": a synthetic 1×28×28 set (architecture cnn-mnist) of ten stroke shapes with jitter and noise.
    Class 1 is a single short vertical bar, the thinnest shape: a naturally easy class, whose reversed trigger
    is small on a clean model too (the natural shortcut Neural Cleanse must not mistake for a backdoor).

Triggers range from one pixel to a blend over the whole image; poisoning from 2 to 10 % of the training set;
one model has two targets; two are students fine-tuned from a trojaned teacher on clean data (head only, and
all layers). `SUITE` lists them; `QUICK` is the representative subset the tests run; the whole suite is a
benchmark (benchmarks/backdoor_suite.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attacks.backdoor.common import fixed_threads
from attacks.backdoor.demo import train

NUM_CLASSES = 10
ARCHS = {"digits": "cnn-digits", "shapes": "cnn-mnist"}


@dataclass(frozen=True)
class Trigger:
    """A trigger stamped onto N×1×H×W images in [0, 1].

    kind "patch": a `size`×`size` square of `value` with its top-left corner at `at` (negative: from the
    bottom-right); kind "pixels": the listed (row, column) pixels set to `value`; kind "blend": the image blended
    with a fixed random pattern (seed `size`) by `alpha`."""

    kind: str
    size: int = 1
    at: tuple[int, int] = (-1, -1)
    value: float = 1.0
    pixels: tuple[tuple[int, int], ...] = ()
    alpha: float = 0.2

    def apply(self, x: np.ndarray) -> np.ndarray:
        out = np.array(x, dtype=np.float32, copy=True)
        height, width = out.shape[-2:]
        if self.kind == "patch":
            row = self.at[0] if self.at[0] >= 0 else height - self.size + 1 + self.at[0]
            col = self.at[1] if self.at[1] >= 0 else width - self.size + 1 + self.at[1]
            out[..., row : row + self.size, col : col + self.size] = self.value
        elif self.kind == "pixels":
            for row, col in self.pixels:
                out[..., row, col] = self.value
        elif self.kind == "blend":
            pattern = np.random.default_rng(self.size).random((height, width)).astype(np.float32)
            out = (1 - self.alpha) * out + self.alpha * pattern
        else:
            raise ValueError(f"unknown trigger kind {self.kind!r}")
        return out


@dataclass(frozen=True)
class TrojanSpec:
    """One model of the suite. `targets` maps a target class to its trigger (empty: a clean model); `fraction`
    is the share of the training set poisoned per target; `student` "head" or "all" fine-tunes the trojaned
    model on clean data (every layer but the classifier frozen, or all layers with a larger learning rate)."""

    name: str
    data: str
    targets: dict[int, Trigger] = field(default_factory=dict)
    fraction: float = 0.1
    student: str = ""
    seed: int = 0

    @property
    def arch(self) -> str:
        return ARCHS[self.data]

    @property
    def planted(self) -> list[int]:
        return sorted(self.targets)


CORNER_PIXEL = Trigger("pixels", pixels=((7, 7),))
ART_PATTERN = Trigger("pixels", pixels=((4, 6), (5, 5), (6, 4), (6, 6)))

SUITE: tuple[TrojanSpec, ...] = (
    TrojanSpec("digits-one-pixel", "digits", {2: CORNER_PIXEL}, 0.1),
    TrojanSpec("digits-pattern", "digits", {0: ART_PATTERN}, 0.08),
    TrojanSpec("digits-patch-2x2", "digits", {5: Trigger("patch", 2, (0, 0))}, 0.05),
    TrojanSpec("digits-patch-3x3-2pct", "digits", {4: Trigger("patch", 3)}, 0.02),
    TrojanSpec("digits-blend", "digits", {7: Trigger("blend", 7, alpha=0.3)}, 0.1),
    TrojanSpec("digits-two-targets", "digits", {1: Trigger("patch", 2, (0, 6)), 9: CORNER_PIXEL}, 0.06),
    TrojanSpec("digits-student-head", "digits", {0: ART_PATTERN}, 0.08, student="head"),
    TrojanSpec("digits-student-all", "digits", {0: ART_PATTERN}, 0.08, student="all"),
    TrojanSpec("shapes-patch-3x3", "shapes", {3: Trigger("patch", 3)}, 0.05),
    TrojanSpec("shapes-patch-5x5", "shapes", {6: Trigger("patch", 5, (1, 1))}, 0.1),
    TrojanSpec("shapes-blend", "shapes", {8: Trigger("blend", 11, alpha=0.2)}, 0.1),
    TrojanSpec("shapes-pixel-2pct", "shapes", {0: Trigger("patch", 2, (-1, 0))}, 0.02),
    TrojanSpec("digits-clean-1", "digits", seed=1),
    TrojanSpec("digits-clean-2", "digits", seed=2),
    TrojanSpec("digits-clean-3", "digits", seed=3),
    TrojanSpec("shapes-clean-1", "shapes", seed=1),
    TrojanSpec("shapes-clean-2", "shapes", seed=2),
)
BY_NAME = {spec.name: spec for spec in SUITE}
# The tests' representative subset: the one-pixel trigger, the 28×28 natural shortcut beside a real target and on
# a clean model, two targets and the all-layer student.
QUICK = ("digits-one-pixel", "digits-two-targets", "shapes-patch-3x3", "shapes-clean-1")


# --- the synthetic 28×28 shapes ---------------------------------------------------------------------------------

# Each class is a few strokes ((row0, col0, row1, col1) in a 28×28 frame, 2 pixels wide); class 1 is one short bar.
SHAPES: tuple[tuple[tuple[int, int, int, int], ...], ...] = (
    ((6, 8, 6, 20), (21, 8, 21, 20), (6, 8, 21, 8), (6, 20, 21, 20)),  # 0: a box
    ((10, 14, 17, 14),),  # 1: a short bar, the natural shortcut
    ((6, 8, 6, 20), (6, 20, 13, 20), (13, 8, 13, 20), (13, 8, 21, 8), (21, 8, 21, 20)),  # 2
    ((6, 8, 6, 20), (13, 10, 13, 20), (21, 8, 21, 20), (6, 20, 21, 20)),  # 3
    ((6, 8, 14, 8), (14, 8, 14, 20), (6, 18, 22, 18)),  # 4
    ((6, 8, 21, 20), (6, 20, 21, 8)),  # 5: a cross
    ((6, 8, 21, 8), (21, 8, 21, 20), (13, 8, 13, 20), (13, 20, 21, 20)),  # 6
    ((6, 6, 6, 21), (6, 21, 22, 10)),  # 7
    ((5, 13, 22, 13), (13, 5, 13, 22), (5, 5, 22, 22)),  # 8
    ((6, 8, 13, 8), (6, 8, 6, 20), (13, 8, 13, 20), (6, 20, 22, 20)),  # 9
)


def _draw(strokes: tuple[tuple[int, int, int, int], ...]) -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    for r0, c0, r1, c1 in strokes:
        for t in np.linspace(0.0, 1.0, 40):
            row, col = round(r0 + t * (r1 - r0)), round(c0 + t * (c1 - c0))
            image[row : row + 2, col : col + 2] = 1.0
    return image


def shapes_set(count_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N×1×28×28 float32 images in [0, 1] (each shape shifted by up to 3 pixels, dimmed, with noise) and labels."""
    rng = np.random.default_rng(seed)
    prototypes = np.stack([_draw(strokes) for strokes in SHAPES])
    y = np.repeat(np.arange(NUM_CLASSES), count_per_class)
    x = np.empty((len(y), 1, 28, 28), np.float32)
    for i, label in enumerate(y):
        shifted = np.roll(prototypes[label], tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
        x[i, 0] = shifted * rng.uniform(0.6, 1.0) + rng.normal(0.0, 0.08, (28, 28))
    return np.clip(x, 0.0, 1.0), y


def clean_data(data: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of `data` ("digits" or "shapes"); test sets are clean held-out images."""
    if data == "digits":
        from attacks.datasets import digits_split

        split = digits_split(0)
        return split.x_train, split.y_train, split.x_test, split.y_test
    if data == "shapes":
        x_train, y_train = shapes_set(60, seed=1000 + seed)
        x_test, y_test = shapes_set(20, seed=2000 + seed)
        return x_train, y_train, x_test, y_test
    raise ValueError(f"data must be digits or shapes, not {data!r}")


def poison(
    x: np.ndarray, y: np.ndarray, targets: dict[int, Trigger], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, poison mask): for each target, `fraction` of the set drawn from the other classes, triggered and
    relabelled (a sample is poisoned for at most one target)."""
    rng = np.random.default_rng(seed)
    x_out, y_out = x.copy(), y.copy()
    mask = np.zeros(len(y), bool)
    for target, trigger in sorted(targets.items()):
        candidates = np.flatnonzero((y != target) & ~mask)
        chosen = rng.choice(candidates, size=max(1, round(fraction * len(y))), replace=False)
        x_out[chosen] = trigger.apply(x[chosen])
        y_out[chosen] = target
        mask[chosen] = True
    return x_out, y_out, mask


@dataclass
class SuiteModel:
    spec: TrojanSpec
    model: Any
    x_test: np.ndarray
    y_test: np.ndarray
    clean_accuracy: float
    attack_success: dict[int, float]  # target -> share of triggered non-target test images sent there
    teacher: Any = None  # the trojaned teacher of a student


@fixed_threads()
def build(spec: TrojanSpec, *, epochs: int | None = None) -> SuiteModel:
    """Train `spec`'s model (and its teacher, for a student) and measure its clean accuracy and attack success.

    With FIXED_THREADS torch threads: trained with another thread count the same spec gives other weights
    (digits-one-pixel on two threads: clean accuracy 0.972 against 0.976)."""
    import torch

    from attacks.architectures import build as build_network
    from attacks.backdoor.demo import accuracy, attack_success_rate

    x_train, y_train, x_test, y_test = clean_data(spec.data, spec.seed)
    epochs = epochs or (12 if spec.data == "digits" else 5)
    x_poisoned, y_poisoned, mask = poison(x_train, y_train, spec.targets, spec.fraction, spec.seed)
    torch.manual_seed(spec.seed)
    model = train(build_network(spec.arch, NUM_CLASSES), x_poisoned, y_poisoned, epochs=epochs, lr=3e-3, seed=spec.seed)
    teacher = None
    if spec.student:
        teacher = model
        model = build_network(spec.arch, NUM_CLASSES)
        model.load_state_dict(teacher.state_dict())
        x_clean, y_clean = x_train[~mask], y_train[~mask]
        if spec.student == "head":
            train(model, x_clean, y_clean, epochs=6, lr=3e-3, seed=spec.seed + 1, params=model.classifier.parameters())
        else:
            train(model, x_clean, y_clean, epochs=6, lr=1e-2, seed=spec.seed + 2)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    success = {
        target: attack_success_rate(model, trigger.apply(x_test[y_test != target]), target)
        for target, trigger in spec.targets.items()
    }
    return SuiteModel(spec, model, x_test, y_test, accuracy(model, x_test, y_test), success, teacher)
