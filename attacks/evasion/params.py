"""Parameter checking and model/data loading shared by the evasion engine tasks; problems raise UserError."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from attacks.context import UserError
from attacks.evasion.attacks import ATTACKS, MAX_QUERIES, MAX_STEPS, MIN_QUERIES, Settings
from attacks.evasion.target import Target
from attacks.params import int_param

DEFAULT_SAMPLE_LIMIT = 500
DEFAULT_BATCH_SIZE = 128
MAX_BATCH_SIZE = 8192
PROBE_SAMPLES = 4  # inputs on which a network with folded batch norms must give the network's logits
MAX_GRID = 32  # ε values in one robustness curve (one PGD run per value and sample)
NORM_ALIASES = {"inf": "inf", "linf": "inf", "l_inf": "inf", "2": "2", "l2": "2"}


def get_float(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{key} must be a number, not {value!r}.") from None
    if not math.isfinite(number):
        raise UserError(f"{key} must be finite.")
    return number


def get_norm(params: dict[str, Any]) -> str:
    norm = str(params.get("norm") or "inf").lower()
    if norm not in NORM_ALIASES:
        raise UserError(f"norm must be 'inf' or '2', not {norm!r}.")
    return NORM_ALIASES[norm]


def get_attacks(params: dict[str, Any], default: str = "pgd_linf") -> list[str]:
    names = params.get("attacks") or params.get("attack") or [default]
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise UserError(f"Unknown attack {unknown[0]!r}; choose from {', '.join(ATTACKS)}.")
    return list(dict.fromkeys(names))


def check_eps(eps: float, norm: str, target: Target) -> None:
    """ε must be positive and no larger than the input range allows (beyond it every input is reachable)."""
    low, high = target.clip
    limit = (high - low) * (1.0 if norm == "inf" else math.sqrt(math.prod(target.input_shape)))
    if not 0 < eps <= limit:
        raise UserError(
            f"ε={eps:g} is outside the input range: with inputs in [{low:g}, {high:g}] "
            f"an L{'∞' if norm == 'inf' else '2'} ε must be above 0 and at most {limit:g}."
        )


def settings_from(params: dict[str, Any], eps: float, norm: str) -> Settings:
    steps = int_param(params, "steps", 10, 1, MAX_STEPS)
    step_size = params.get("step_size")
    step = None if step_size in (None, "") else get_float(step_size, "step_size")
    if step is not None and step <= 0:
        raise UserError("step_size must be positive.")
    return Settings(
        eps=eps,
        norm=norm,
        steps=steps,
        step_size=step,
        batch_size=int_param(params, "batch_size", DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE),
        seed=int_param(params, "seed", 0, 0, 2**32 - 1),
        max_queries=int_param(params, "max_queries", 1000, MIN_QUERIES, MAX_QUERIES),
    )


def input_range(x: np.ndarray) -> tuple[float, float]:
    """[0, 1] for the usual image data; otherwise the data's own range (the attack's box constraint)."""
    low, high = float(x.min()), float(x.max())
    if low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    return low, high


def load_target(
    model_path: Any,
    arch: Any,
    num_classes: Any,
    data_path: Any,
    limit: int,
    seed: int,
    device: str | None = None,
    preprocessing: dict[str, Any] | None = None,
    precision: str = "auto",
) -> tuple[Target, np.ndarray, np.ndarray, dict[str, Any]]:
    """(target, x, y, description) for a model file and a dataset; the data subset is fixed by `seed`.
    The target is the model with its pre-processing, so ε lives in the data's [0, 1] pixel space; `precision` is
    the number format of PGD's gradients (attacks.environment.resolve_precision)."""
    from attacks.loading import load_dataset, load_network, load_onnx
    from attacks.scanners.sniff import sniff_file
    from attacks.validate import sample_indices

    if not model_path or not data_path:
        raise UserError("An evasion run needs model_path and data_path.")
    model_path, data_path = Path(model_path), Path(data_path)
    skipped: list[dict[str, str]] = []  # an image folder's images that could not be used
    if sniff_file(model_path) == "onnx":
        onnx = load_onnx(model_path)
        classes = onnx.num_classes or (int(num_classes) if num_classes else None)
        if classes is None:
            raise UserError("The ONNX model does not declare its number of classes: give num_classes.")
        x, y, _ = load_dataset(data_path, expect_shape=onnx.input_shape, num_classes=classes, skipped=skipped)
        model, fmt, arch_name, shape = None, "onnx", None, tuple(x.shape[1:])
        processing = None  # an ONNX graph carries its own pre-processing, if any
    else:
        from attacks.architectures import architecture

        if not arch:
            raise UserError("Weights need their architecture (arch; see `python -m attacks architectures`).")
        entry = architecture(str(arch))
        classes = int_param({"num_classes": num_classes}, "num_classes", entry.num_classes, 2, 100_000)
        loaded = load_network(model_path, entry.name, classes, preprocessing)
        x, y, _ = loaded.load_dataset(data_path, skipped)
        model, processing, classes = loaded.model, loaded.preprocessing.as_dict(), loaded.num_classes
        onnx, fmt, arch_name, shape = None, "pytorch", loaded.arch, tuple(x.shape[1:])
    chosen = sample_indices(len(x), limit, seed)
    target = Target(
        input_shape=shape,
        num_classes=classes,
        clip=input_range(x),
        model=model,
        onnx=onnx,
        device=device,
        precision=precision,
    )
    target.fold_batchnorm(x[chosen[:PROBE_SAMPLES]])
    described = {
        "model": {
            "path": model_path.name,
            "format": fmt,
            "arch": arch_name,
            "num_classes": classes,
            "preprocessing": processing,
            "bn_folded": target.bn_folded,
        },
        "data": {
            "path": data_path.name,
            "dataset_samples": int(len(x)),
            "samples": int(len(chosen)),
            **({"skipped": skipped} if skipped else {}),
        },
        "input_range": list(target.clip),
    }
    return target, x[chosen], y[chosen], described


def fit_to_memory(settings: Settings, target: Target) -> tuple[Settings, dict[str, Any] | None]:
    """Settings whose batch fits the worker's memory (attacks.memory), and the numbers that chose it.
    An ONNX target has no batch to fit here: onnxruntime runs what it is given."""
    from dataclasses import replace

    from attacks.memory import fit_batch

    if target.model is None:
        return settings, None
    fit = fit_batch(settings.batch_size, target.model, target.input_shape, target.device)
    return replace(settings, batch_size=fit.batch_size), fit.as_dict()
