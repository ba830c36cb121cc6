"""The demo's library pair: a timm teacher and a student fine-tuned from it, on small colour images.

Neither is downloaded. The demo draws its own 3×32×32 images in [0, 1] (each class dominated by one colour
channel, with noise), trains a randomly initialised timm `resnet10t` on them briefly, then fine-tunes a copy's
classifier head on a fresh draw: the teacher / student relation of a public model and a team's fine-tune.
Both go through the engine's own pre-processing (timm's mean and std at 32×32), so the weights are the ones the
engine's `normalise ∘ network` expects, and are saved as timm's users save them: the state_dict's own key names
in safetensors. One CPU thread: on networks and batches this small, a second thread only adds waiting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attacks.datasets import save_npz

ARCH = "timm/resnet10t"
CLASSES = ("blue", "green", "red")
CHANNEL = {"red": 0, "green": 1, "blue": 2}
SIZE = 32
# What the model cards say: the library's mean and std, at the size the demo's images have.
PREPROCESSING = {"input_size": [3, SIZE, SIZE], "crop_pct": 1.0}


def colour_images(count_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 N×3×32×32 images in [0, 1], each dominated by its class's channel; int64 labels in CLASSES order."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), count_per_class)
    images = rng.uniform(0.0, 0.45, size=(len(labels), 3, SIZE, SIZE))
    for label, name in enumerate(CLASSES):
        chosen = labels == label
        images[chosen, CHANNEL[name]] += rng.uniform(0.45, 0.55, size=(int(chosen.sum()), 1, 1))
    order = rng.permutation(len(labels))
    return np.clip(images[order], 0, 1).astype(np.float32), labels[order].astype(np.int64)


def _train(model: Any, x: np.ndarray, y: np.ndarray, *, steps: int, lr: float, seed: int, params: Any = None) -> Any:
    import torch

    generator = torch.Generator().manual_seed(seed)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    optimiser = torch.optim.Adam(list(params if params is not None else model.parameters()), lr=lr)
    # Head-only fine-tuning leaves the backbone as it was, batch-norm statistics included.
    model.train(params is None)
    for _ in range(steps):
        batch = torch.randint(len(tx), (32,), generator=generator)
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(tx[batch]), ty[batch]).backward()
        optimiser.step()
    return model.eval()


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def build_library_pair(
    directory: Path, seed: int = 0, *, teacher_steps: int = 40, student_steps: int = 15
) -> dict[str, Any]:
    """Write library-teacher.safetensors, library-student.safetensors and colours-test.npz to `directory`;
    return their paths, the architecture, its card's pre-processing, the class names and measured accuracy."""
    import torch

    from attacks.architectures import architecture, build
    from attacks.loading import save_safetensors
    from attacks.networks import Preprocessed
    from attacks.preprocess import resolve

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    processing = resolve(architecture(ARCH), PREPROCESSING)
    x_teacher, y_teacher = colour_images(64, seed)
    x_student, y_student = colour_images(32, seed + 1)
    x_test, y_test = colour_images(40, seed + 2)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        teacher = Preprocessed.of(build(ARCH, len(CLASSES)), processing)
        _train(teacher, x_teacher, y_teacher, steps=teacher_steps, lr=3e-3, seed=seed)
        student = Preprocessed.of(build(ARCH, len(CLASSES)), processing)
        student.network.load_state_dict(teacher.network.state_dict())
        head = student.network.get_classifier().parameters()
        _train(student, x_student, y_student, steps=student_steps, lr=3e-3, seed=seed + 1, params=head)
        paths = {
            "library_teacher": directory / "library-teacher.safetensors",
            "library_student": directory / "library-student.safetensors",
            "library_test": save_npz(directory / "colours-test.npz", x_test, y_test),
        }
        save_safetensors(teacher.network.state_dict(), paths["library_teacher"])
        save_safetensors(student.network.state_dict(), paths["library_student"])
        accuracy = {"teacher": _accuracy(teacher, x_test, y_test), "student": _accuracy(student, x_test, y_test)}
    finally:
        torch.set_num_threads(threads)
    return {
        "arch": ARCH,
        "num_classes": len(CLASSES),
        "class_names": list(CLASSES),
        "preprocessing": dict(PREPROCESSING),
        "paths": {name: str(path) for name, path in paths.items()},
        "clean_accuracy": accuracy,
    }
