"""Small timm / torchvision / transformers models and image-folder data made by the tests (no hub, no internet).

The models are randomly initialised and trained for a few steps on colour images the tests make,
then saved exactly as those libraries save checkpoints: timm's and torchvision's `state_dict()`
in model.safetensors (the libraries' own key names), and a transformers folder written by
`save_pretrained` (config.json + model.safetensors, preprocessor_config.json by the image
processor), zipped as a user uploads it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CLASSES = ("blue", "green", "red")  # sorted, as an image folder's labels are
CHANNEL = {"red": 0, "green": 1, "blue": 2}


def colour_images(count_per_class: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 N×3×size×size images, each dominated by its class's colour channel; labels by CLASSES order."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(CLASSES):
        for _ in range(count_per_class):
            image = rng.integers(0, 110, size=(3, size, size))
            image[CHANNEL[name]] += rng.integers(120, 146)
            images.append(image.astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def image_folder_zip(path: Path, count_per_class: int = 6, size: int = 48, seed: int = 0, top: str = "") -> Path:
    """A zip of one folder per class (JPEG, PNG and WebP mixed), as a user zips an image folder."""
    x, y = colour_images(count_per_class, size, seed)
    formats = ("PNG", "JPEG", "WEBP")
    with zipfile.ZipFile(path, "w") as archive:
        for index, (image, label) in enumerate(zip(x, y, strict=True)):
            fmt = formats[index % len(formats)]
            buffer = io.BytesIO()
            Image.fromarray(image.transpose(1, 2, 0)).save(buffer, fmt, quality=95)
            suffix = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt]
            archive.writestr(f"{top}{CLASSES[label]}/{index:03d}.{suffix}", buffer.getvalue())
    return path


def train(model: torch.nn.Module, normalise, steps: int = 25, size: int = 32, seed: int = 0) -> torch.nn.Module:
    """A few Adam steps on colour images in [0, 1], through `normalise` (the model card's pre-processing)."""
    torch.manual_seed(seed)
    x, y = colour_images(16, size, seed + 1)
    x = torch.from_numpy(x).float() / 255
    y = torch.from_numpy(y)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        batch = torch.from_numpy(np.random.default_rng(step).choice(len(x), 24, replace=False))
        loss = torch.nn.functional.cross_entropy(model(normalise(x[batch])), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def save_state_dict(model: torch.nn.Module, path: Path) -> Path:
    """model.safetensors as timm's and torchvision's users save it: the state_dict's own key names."""
    from safetensors.torch import save_file

    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, str(path))
    return path


def timm_student(path: Path, name: str = "test_resnet", size: int = 32, steps: int = 25) -> Path:
    """A timm network (3 classes) trained at `size`×`size` through timm's own normalisation for it."""
    import timm

    model = timm.create_model(name, pretrained=False, num_classes=len(CLASSES))
    mean = torch.tensor(model.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.pretrained_cfg["std"]).view(1, 3, 1, 1)
    train(model, lambda x: (x - mean) / std, steps=steps, size=size)
    return save_state_dict(model, path)


def torchvision_student(path: Path, name: str = "squeezenet1_1", size: int = 64, steps: int = 15) -> Path:
    import torchvision.models as models

    model = models.get_model(name, weights=None, num_classes=len(CLASSES))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    train(model, lambda x: (x - mean) / std, steps=steps, size=size)
    return save_state_dict(model, path)


def vit_config(**overrides):
    from transformers import ViTConfig

    settings = dict(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(CLASSES),
        id2label=dict(enumerate(CLASSES)),
        label2id={name: index for index, name in enumerate(CLASSES)},
    )
    return ViTConfig(**{**settings, **overrides})


def huggingface_folder(folder: Path, steps: int = 20, processor: bool = True, **config) -> Path:
    """A ViT image classifier trained briefly, written by save_pretrained (and its image processor's)."""
    from transformers import ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    model = ViTForImageClassification(vit_config(**config))
    mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    shift = torch.tensor(mean).view(1, 3, 1, 1)
    scale = torch.tensor(std).view(1, 3, 1, 1)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x):
            return self.inner(pixel_values=x).logits

    train(Logits(), lambda x: (x - shift) / scale, steps=steps, size=model.config.image_size)
    model.save_pretrained(folder)  # config.json + model.safetensors
    if processor:
        size = model.config.image_size
        ViTImageProcessor(size={"height": size, "width": size}, image_mean=mean, image_std=std).save_pretrained(folder)
    return folder


def zip_folder(folder: Path, path: Path, top: str = "", extra: dict[str, bytes] | None = None) -> Path:
    """Zip a model folder as a user does (optionally under a top folder, with extra members)."""
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, f"{top}{file.name}")
        for name, data in (extra or {}).items():
            archive.writestr(f"{top}{name}", data)
    return path
