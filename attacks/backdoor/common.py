"""Shared helpers of the backdoor tasks: parameters, loading the model and data, batched prediction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.params import int_param

if TYPE_CHECKING:
    import torch
    from torch import nn

    from attacks.loading import LoadedModel


# Intra-op threads of the trojan suite's training and of its benchmark's scans. A CPU kernel may split its sums by
# thread, so another thread count can change the rounding; hundreds of optimiser steps then carry that into a
# different model, and a borderline class across a threshold (measured for the training; the scans measured the same
# at one and two threads, so a job's scan keeps the worker's setting: docs/backdoor.md, "Thread count").
FIXED_THREADS = 1


@contextmanager
def fixed_threads(count: int = FIXED_THREADS) -> Iterator[None]:
    """Run the block with `count` torch intra-op threads, then restore the caller's setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_classifier(
    params: dict[str, Any], key: str = "model_path", preprocessing_key: str = "preprocessing"
) -> LoadedModel:
    """Catalogue weights in their pre-processing: `.model` (eval mode, parameters frozen) takes [0, 1] images;
    `params[preprocessing_key]` overrides the library's defaults.

    ONNX models are refused: every check here needs gradients or penultimate features."""
    from attacks.architectures import architecture
    from attacks.loading import load_network
    from attacks.scanners.sniff import sniff_file

    if not params.get(key):
        raise UserError(f"{key} is required.")
    path = Path(params[key])
    if sniff_file(path) == "onnx":
        raise UserError(
            "Backdoor checks need gradients and features, which an ONNX model does not give: upload its PyTorch "
            "weights (safetensors or a state_dict) with the architecture to run them."
        )
    if not params.get("arch"):
        raise UserError("Weights need their architecture (arch; see `python -m attacks architectures`).")
    entry = architecture(str(params["arch"]))
    num_classes = int_param(params, "num_classes", entry.num_classes, 2, 100_000)
    loaded = load_network(path, entry.name, num_classes, params.get(preprocessing_key) or None)
    for parameter in loaded.model.parameters():
        parameter.requires_grad_(False)  # only inputs/triggers are optimised: skip parameter gradients
    loaded.model.to(pick_device())
    return loaded


def pick_device() -> str:
    """CUDA when the worker has a GPU, the CPU otherwise: every backdoor check runs where the model is."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_of(model: nn.Module) -> torch.device:
    import torch

    return next((parameter.device for parameter in model.parameters()), torch.device("cpu"))


def load_data(
    params: dict[str, Any], key: str, loaded: LoadedModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The dataset at `params[key]`, checked against the model (see LoadedModel.load_dataset)."""
    if not params.get(key):
        raise UserError(f"{key} is required.")
    return loaded.load_dataset(Path(params[key]))


def predict_logits(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    import torch

    from attacks.memory import fit_batch

    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if isinstance(x, np.ndarray) else x
    device = device_of(model)
    batch_size = fit_batch(batch_size, model, tuple(x.shape[1:]), str(device), gradient=False).batch_size
    with torch.inference_mode():
        return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def features(model: nn.Module, x: np.ndarray, batch_size: int = 512, ctx: RunContext | None = None) -> np.ndarray:
    """Penultimate-layer features (N × D float64), batch by batch with cancel checks."""
    import torch

    from attacks.architectures import penultimate_features
    from attacks.memory import fit_batch

    device = device_of(model)
    batch_size = fit_batch(batch_size, model, tuple(x.shape[1:]), str(device), gradient=False).batch_size
    parts = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            if ctx is not None:
                ctx.check_cancel()
            batch = torch.from_numpy(x[start : start + batch_size]).to(device)
            parts.append(penultimate_features(model, batch).cpu().numpy())
    return np.concatenate(parts).astype(np.float64)


def subsample(count: int, limit: int, seed: int) -> np.ndarray:
    if limit <= 0 or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))
