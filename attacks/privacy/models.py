"""The model under test as a black box, the datasets checked against it, and the training loop that shadow
models and extracted copies share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.params import int_param

if TYPE_CHECKING:
    from torch import nn

    from attacks.loading import LoadedModel, OnnxModel

PREDICT_BATCH = 256


@dataclass
class BlackBox:
    """A classifier read only through its outputs: catalogue weights (with their pre-processing) or ONNX."""

    predict_logits: Any  # callable: float32 N×C×H×W in [0, 1] -> float32 logits N×classes
    num_classes: int
    data_shape: tuple[int | None, ...] | None
    described: dict[str, Any]
    loaded: LoadedModel | None = None
    queries: int = 0

    def query(self, x: np.ndarray) -> np.ndarray:
        """Logits for `x`; every row counts as one query."""
        self.queries += len(x)
        return self.predict_logits(np.ascontiguousarray(x, dtype=np.float32))

    def load_dataset(self, path: Any, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the dataset at `path`, checked against the model's input shape and classes."""
        from attacks.loading import load_dataset

        if not path:
            raise UserError(f"{key} is required.")
        if self.loaded is not None:
            x, y, _ = self.loaded.load_dataset(Path(path))
        else:
            x, y, _ = load_dataset(Path(path), expect_shape=self.data_shape, num_classes=self.num_classes)
        return x, y


def torch_predictor(model: nn.Module, device: str) -> Any:
    """Logits of `model` in batches that fit the device's free memory (attacks.memory)."""
    import torch

    from attacks.memory import fit_batch

    def predict(x: np.ndarray) -> np.ndarray:
        parts = []
        size = fit_batch(PREDICT_BATCH, model, tuple(x.shape[1:]), device, gradient=False).batch_size
        with torch.inference_mode():
            for start in range(0, len(x), size):
                batch = torch.from_numpy(x[start : start + size]).to(device)
                parts.append(model(batch).float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    return predict


def as_logits(predict: Any) -> Any:
    """ONNX graphs often end in a softmax: outputs that are rows of probabilities become log-probabilities (which
    are logits of the same distribution), so confidences and soft labels are computed from the right numbers."""

    def logits(x: np.ndarray) -> np.ndarray:
        out = predict(x)
        if out.size and out.min() >= 0 and out.max() <= 1 and np.allclose(out.sum(axis=1), 1, atol=1e-3):
            return np.log(np.clip(out, 1e-30, None)).astype(np.float32)
        return out

    return logits


def load_black_box(params: dict[str, Any], key: str = "model_path") -> BlackBox:
    """The model at `params[key]`: ONNX (classes from the graph or num_classes), or weights with `arch`."""
    from attacks.backdoor.common import pick_device
    from attacks.loading import load_network, load_onnx
    from attacks.scanners.sniff import sniff_file

    if not params.get(key):
        raise UserError(f"{key} is required.")
    path = Path(params[key])
    if sniff_file(path) == "onnx":
        onnx: OnnxModel = load_onnx(path)
        classes = onnx.num_classes or (int(params["num_classes"]) if params.get("num_classes") else None)
        if classes is None:
            raise UserError("The ONNX model does not declare its number of classes: give num_classes.")
        described = {"path": path.name, "format": "onnx", "arch": None, "num_classes": classes}
        return BlackBox(as_logits(onnx.predict), classes, onnx.input_shape, described)
    from attacks.architectures import architecture

    if not params.get("arch"):
        raise UserError("Weights need their architecture (arch; see `python -m attacks architectures`).")
    entry = architecture(str(params["arch"]))
    classes = int_param(params, "num_classes", entry.num_classes, 2, 100_000)
    loaded = load_network(path, entry.name, classes, params.get("preprocessing") or None)
    device = pick_device()
    model = loaded.model.to(device).requires_grad_(False)
    described = {
        "path": path.name,
        "format": "pytorch",
        "arch": loaded.arch,
        "num_classes": loaded.num_classes,
        "preprocessing": loaded.preprocessing.as_dict(),
    }
    return BlackBox(torch_predictor(model, device), loaded.num_classes, loaded.data_shape, described, loaded)


def fresh_network(arch: str, num_classes: int) -> nn.Module:
    """A newly initialised catalogue network: a shadow model, or a copy trained from scratch."""
    from attacks.architectures import build

    return build(arch, num_classes)


def fit_recipe(recipe: Recipe, model: nn.Module, input_shape: tuple[int, ...], device: str) -> tuple[Recipe, dict]:
    """`recipe` with a training batch that fits the device (attacks.memory), and the numbers that chose it."""
    from dataclasses import replace

    from attacks.memory import fit_batch

    fit = fit_batch(recipe.batch_size, model.to(device).eval(), input_shape, device, gradient=True)
    return replace(recipe, batch_size=fit.batch_size), {**fit.as_dict(), "note": fit.note()}


@dataclass(frozen=True)
class Recipe:
    """How a shadow model or a copy is trained: Adam with L2 weight decay, shuffled mini-batches."""

    epochs: int
    learning_rate: float
    weight_decay: float
    batch_size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "optimiser": "adam",
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
        }


def train(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    recipe: Recipe,
    *,
    seed: int,
    device: str,
    ctx: RunContext,
    steps: int | None = None,
) -> nn.Module:
    """Train `model` in place on (x, target): int labels (cross-entropy) or N×classes probabilities (soft
    cross-entropy). `steps` fixes the number of optimiser steps instead of `recipe.epochs` passes."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    tx = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    soft = target.ndim == 2
    ty = torch.from_numpy(target.astype(np.float32) if soft else target.astype(np.int64))
    model.to(device).train()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    batch = max(1, min(recipe.batch_size, len(tx)))
    per_epoch = -(-len(tx) // batch)
    total = steps if steps is not None else recipe.epochs * per_epoch
    done = 0
    while done < total:
        ctx.check_cancel()
        order = torch.randperm(len(tx), generator=generator)
        for start in range(0, len(tx), batch):
            if done >= total:
                break
            index = order[start : start + batch]
            inputs, wanted = tx[index].to(device), ty[index].to(device)
            optimiser.zero_grad(set_to_none=True)
            logits = model(inputs)
            if soft:
                loss = -(wanted * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
            else:
                loss = F.cross_entropy(logits, wanted)
            loss.backward()
            optimiser.step()
            done += 1
    return model.eval()


def file_name(path: Any) -> str:
    """A dataset's name in a result document (never the worker's directory)."""
    return Path(str(path)).name
