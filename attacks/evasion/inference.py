"""A fast gradient-free forward for attacks that query a model thousands of times (Square, FAB's checks).

On the CPU, eager PyTorch spends much of a small network's forward pass converting layouts and running ReLU and
pooling as separate memory-bound passes; onnxruntime fuses them (2.1× faster on the digits CNN, one thread: see
benchmarks/README.md). So a model on the CPU is exported to ONNX once, in memory, and queried through an
onnxruntime session. The export is checked before it is trusted: on the first batch its logits must match the
eager model's to 1e-4 (relative to their scale) with the same predicted class everywhere; otherwise, on CUDA, or
when the export fails, queries go to the eager model. Attacks still verify every adversarial example they report
with the eager model, so this path can only cost a query, never invent a success.

The model being exported is one riskapp built itself (a catalogue architecture with weights loaded from safetensors
or a checked state_dict), so exporting it runs no uploaded code.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

TOLERANCE = 1e-4


class QueryForward:
    """`forward(x) -> logits` with no gradient; `backend` says which runtime answers ("onnxruntime" or "torch")."""

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor], backend: str) -> None:
        self._run = run
        self.backend = backend

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)


def _eager(model: nn.Module) -> QueryForward:
    import torch

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    return QueryForward(run, "torch")


def _onnx_session(model: nn.Module, example: torch.Tensor):
    import onnxruntime as ort
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch 2.13 marks its TorchScript-based exporter deprecated; the torch.export one needs onnxscript, which
        # riskapp does not install. The result is checked against the eager model below either way.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Share the cores with torch, which runs the gradient passes in between: as many threads as torch uses, and no
    # spinning after each call (spinning threads steal the cores torch's next operation needs).
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(buffer.getvalue(), sess_options=options, providers=["CPUExecutionProvider"])


def query_forward(model: nn.Module, example: torch.Tensor) -> QueryForward:
    """The fastest trustworthy gradient-free forward of `model` for inputs shaped like `example` (N, ...)."""
    import torch

    if example.device.type != "cpu" or len(example) == 0:  # the example sits where the model does
        return _eager(model)
    example = example.detach().float().contiguous()
    try:
        session = _onnx_session(model, example)

        def run(x: torch.Tensor) -> torch.Tensor:
            batch = x.detach().float().contiguous().numpy()
            return torch.from_numpy(session.run(None, {"x": batch})[0])

        with torch.no_grad():
            expected = model(example)
        got = run(example)
    except Exception:  # an export or session that fails for any reason leaves the eager path, which always works
        return _eager(model)
    scale = float(expected.abs().max()) or 1.0
    agrees = got.shape == expected.shape and float((got - expected).abs().max()) <= TOLERANCE * max(scale, 1.0)
    if not agrees or not bool((got.argmax(1) == expected.argmax(1)).all()):
        return _eager(model)
    return QueryForward(run, "onnxruntime")
