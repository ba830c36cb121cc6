"""The "intake" engine task: vet an uploaded model or dataset inside the sandbox and normalise it.

Params: path (the uploaded file), kind ("model" or "dataset"), arch and num_classes (for
weights; for a dataset, optional, to check it fits that model), max_bytes (the size limit).
Weights are written to `model.safetensors` and a dataset to `dataset.npz` in the output
folder, so later jobs only ever read those normalised files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.scan import ScanReport, scan_file

DEFAULT_MAX_BYTES = 2 * 1024**3
KINDS = ("model", "dataset")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def refused(report: ScanReport) -> UserError:
    """The UserError for a file the scan refused: its reasons, most important first."""
    reasons = " ".join(reason.message for reason in report.reasons[:3])
    more = len(report.reasons) - 3
    return UserError(
        f"The file was refused ({report.format}). {reasons}" + (f" (+{more} more)" if more > 0 else ""),
        details={"accepted": False, "scan": report.as_dict()},
    )


def _num_classes(params: dict[str, Any], default: int | None) -> int | None:
    value = params.get("num_classes") or default
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"num_classes must be a whole number, not {value!r}.") from None


def _weights(ctx: RunContext, path: Path, params: dict[str, Any], report: ScanReport) -> dict[str, Any]:
    import torch

    from attacks.architectures import architecture, build
    from attacks.loading import check_state_dict, describe_mismatches, load_state_dict, save_safetensors

    if not params.get("arch"):
        raise UserError("Choose the architecture these weights belong to.")
    entry = architecture(str(params["arch"]))
    num_classes = _num_classes(params, entry.num_classes) or entry.num_classes
    model = build(entry.name, num_classes)
    ctx.progress(30, "Loading the weights")
    state_dict = load_state_dict(path)
    problems = check_state_dict(model, state_dict)
    if problems:
        raise UserError(describe_mismatches(entry.name, num_classes, problems))
    model.load_state_dict(state_dict, strict=True)
    ctx.check_cancel()
    ctx.progress(60, "Converting to safetensors")
    output = ctx.output_dir / "model.safetensors"
    save_safetensors(state_dict, output)
    ctx.progress(85, "Running the network once")
    with torch.inference_mode():
        logits = model.eval()(torch.zeros(1, *entry.input_shape))
    return {
        "kind": "model",
        "format": report.format,
        "arch": entry.name,
        "num_classes": num_classes,
        "input_shape": list(entry.input_shape),
        "tensor_count": len(state_dict),
        "parameter_count": sum(parameter.numel() for parameter in model.parameters()),
        "mismatches": [],
        "forward_finite": bool(torch.isfinite(logits).all()),
        "output": output.name,
        "output_sha256": _file_sha256(output),
        "output_size": output.stat().st_size,
    }


def _onnx(ctx: RunContext, path: Path, report: ScanReport) -> dict[str, Any]:
    from attacks.loading import load_onnx

    ctx.progress(30, "Starting onnxruntime")
    model = load_onnx(path)
    num_classes, forward_finite = model.num_classes, None
    if None not in model.input_shape:
        ctx.progress(70, "Running the network once")
        logits = model.predict(np.zeros((1, *model.input_shape), np.float32))
        num_classes, forward_finite = int(logits.shape[1]), bool(np.isfinite(logits).all())
    return {
        "kind": "model",
        "format": "onnx",
        "input_shape": list(model.input_shape),
        "num_classes": num_classes,
        "parameter_count": None,
        "forward_finite": forward_finite,
        "providers": model.providers,
        "output": None,
    }


def _dataset(ctx: RunContext, path: Path, params: dict[str, Any]) -> dict[str, Any]:
    from attacks.datasets import save_npz
    from attacks.loading import load_dataset

    expect_shape = params.get("input_shape")
    if params.get("arch"):
        from attacks.architectures import architecture

        expect_shape = architecture(str(params["arch"])).input_shape
    ctx.progress(30, "Reading the arrays")
    x, y, mask = load_dataset(path, expect_shape=expect_shape, num_classes=_num_classes(params, None))
    ctx.check_cancel()
    ctx.progress(70, "Writing the normalised dataset")
    output = save_npz(ctx.output_dir / "dataset.npz", x, y, mask)
    return {
        "kind": "dataset",
        "format": "npz",
        "samples": int(len(x)),
        "input_shape": list(x.shape[1:]),
        "class_counts": np.bincount(y).tolist(),
        "x_range": [float(x.min()), float(x.max())],
        "poisoned": None if mask is None else int(mask.sum()),
        "output": output.name,
        "output_sha256": _file_sha256(output),
    }


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("path"):
        raise UserError("No file to take in (the 'path' parameter is missing).")
    path = Path(params["path"])
    kind = params.get("kind", "model")
    if kind not in KINDS:
        raise UserError(f"kind must be 'model' or 'dataset', not {kind!r}.")
    ctx.progress(5, "Scanning the file")
    report = scan_file(path, max_bytes=int(params.get("max_bytes") or DEFAULT_MAX_BYTES), expect=kind)
    if not report.accepted:
        raise refused(report)
    ctx.check_cancel()
    if kind == "dataset":
        result = _dataset(ctx, path, params)
    elif report.format == "onnx":
        result = _onnx(ctx, path, report)
    else:
        result = _weights(ctx, path, params, report)
    ctx.progress(100, "Done")
    return {**result, "scan": report.as_dict()}
