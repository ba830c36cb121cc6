"""The "validate" engine task: clean accuracy of a model on an evaluation set.

Params: model_path (normalised safetensors weights, with arch and optionally num_classes) or an ONNX
file; data_path (.npz); sample_limit (default 2,000; 0 = every sample); batch_size
(default 128); seed (which samples, when limited). Reports accuracy, per-class accuracy and
the confusion matrix (rows: true class, columns: predicted class).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.memory import fit_batch
from attacks.params import int_param

DEFAULT_SAMPLE_LIMIT = 2000
DEFAULT_BATCH_SIZE = 128
MAX_BATCH_SIZE = 8192

Predict = Callable[[np.ndarray], np.ndarray]


def sample_indices(count: int, limit: int, seed: int = 0) -> np.ndarray:
    """Which samples to evaluate: all when `limit` is 0 or covers them, else a fixed random subset in order."""
    if limit <= 0 or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def evaluate(
    predict: Predict, x: np.ndarray, y: np.ndarray, *, num_classes: int | None, batch_size: int, ctx: RunContext
) -> dict[str, Any]:
    """Forward `x` in batches (checking for cancellation between them) and score the predictions against `y`."""
    predictions: list[np.ndarray] = []
    non_finite = 0
    for start in range(0, len(x), batch_size):
        ctx.check_cancel()
        batch = x[start : start + batch_size]
        logits = predict(batch)
        if logits.ndim != 2 or len(logits) != len(batch):
            raise UserError(f"The model returned outputs of shape {logits.shape} for {len(batch)} samples.")
        if num_classes is None:
            num_classes = int(logits.shape[1])
        elif logits.shape[1] != num_classes:
            raise UserError(f"The model outputs {logits.shape[1]} classes, but {num_classes} were expected.")
        non_finite += int(logits.size - np.count_nonzero(np.isfinite(logits)))
        predictions.append(logits.argmax(axis=1))
        done = start + len(batch)
        ctx.progress(10 + 88 * done / len(x), f"{done}/{len(x)} samples")
    assert num_classes is not None
    if int(y.max()) >= num_classes:
        raise UserError(f"The labels go up to {int(y.max())}, but the model has only {num_classes} classes.")
    predicted = np.concatenate(predictions)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    support = confusion.sum(axis=1)
    per_class = [float(confusion[k, k] / support[k]) if support[k] else None for k in range(num_classes)]
    return {
        "samples": int(len(y)),
        "num_classes": num_classes,
        "accuracy": float(np.trace(confusion) / len(y)),
        "per_class_accuracy": per_class,
        "class_support": support.tolist(),
        "confusion_matrix": confusion.tolist(),
        "non_finite_outputs": non_finite,
    }


def _torch_predictor(model: Any) -> tuple[Predict, str]:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device).eval()

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(batch)).to(device)).float().cpu().numpy()

    return predict, str(device)


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    from attacks.loading import load_dataset, load_network, load_onnx
    from attacks.scanners.sniff import sniff_file

    if not params.get("model_path") or not params.get("data_path"):
        raise UserError("validate needs model_path and data_path.")
    model_path, data_path = Path(params["model_path"]), Path(params["data_path"])
    limit = int_param(params, "sample_limit", DEFAULT_SAMPLE_LIMIT, 0, 10**9)
    batch_size = int_param(params, "batch_size", DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE)
    seed = int_param(params, "seed", 0, 0, 2**32 - 1)
    started = time.perf_counter()
    ctx.progress(2, "Loading the model")
    if sniff_file(model_path) == "onnx":
        onnx_model = load_onnx(model_path)
        predict: Predict = onnx_model.predict
        device = onnx_model.providers[0]
        num_classes = onnx_model.num_classes or (int(params["num_classes"]) if params.get("num_classes") else None)
        arch, processing = None, None
        read_data = partial(load_dataset, expect_shape=onnx_model.input_shape, num_classes=num_classes)
    else:
        from attacks.architectures import architecture

        if not params.get("arch"):
            raise UserError("Weights need their architecture (arch; see `python -m attacks architectures`).")
        entry = architecture(str(params["arch"]))
        num_classes = int_param(params, "num_classes", entry.num_classes, 2, 100_000)
        loaded = load_network(model_path, entry.name, num_classes, params.get("preprocessing") or None)
        arch, num_classes, processing = loaded.arch, loaded.num_classes, loaded.preprocessing.as_dict()
        predict, device = _torch_predictor(loaded.model)
        read_data = loaded.load_dataset
        batch_size = fit_batch(
            batch_size, loaded.model, loaded.preprocessing.input_shape, device, gradient=False
        ).batch_size
    ctx.check_cancel()
    ctx.progress(6, "Reading the evaluation data")
    skipped: list[dict[str, str]] = []  # an image folder's images that could not be used
    x, y, _ = read_data(data_path, skipped=skipped)
    chosen = sample_indices(len(x), limit, seed)
    result = evaluate(predict, x[chosen], y[chosen], num_classes=num_classes, batch_size=batch_size, ctx=ctx)
    ctx.progress(100, "Done")
    return {
        **result,
        "arch": arch,
        "preprocessing": processing,
        "device": device,
        "dataset_samples": int(len(x)),
        **({"skipped": skipped} if skipped else {}),
        "batch_size": batch_size,
        "seconds": round(time.perf_counter() - started, 3),
    }
