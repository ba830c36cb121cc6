"""The model under attack: a PyTorch module (white- and black-box attacks) or an ONNX model (black-box only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

    from attacks.loading import OnnxModel


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _float32_counting(model: nn.Module) -> nn.Module:
    """Wrap `model` so every input is cast to float32 and every row it sees is counted (black-box query count).

    The cast is why HopSkipJump works: under NumPy 2 it hands ART float64 arrays, which ART passes to the
    model as float64 tensors ("Input type (double) and bias type (float)"; ART issue #2475).
    """
    from torch import nn

    class Float32Counting(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.rows = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.rows += int(x.shape[0])
            return self.inner(x.float())

    return Float32Counting(model)


class Target:
    """What the attacks need from a model: batched logits, input gradients (PyTorch only), a fresh ART estimator."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        clip: tuple[float, float] = (0.0, 1.0),
        model: nn.Module | None = None,
        onnx: OnnxModel | None = None,
        device: str | None = None,
        precision: str = "float32",
    ) -> None:
        if (model is None) == (onnx is None):
            raise ValueError("Target takes exactly one of model and onnx")
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes = int(num_classes)
        self.clip = (float(clip[0]), float(clip[1]))
        self.onnx = onnx
        self.queries = 0  # rows predicted through a black-box estimator since the last reset
        self._wrapped: Any = None
        self.bn_folded = False  # the network attacked is a copy with its batch norms folded (fold_batchnorm)
        if model is not None:
            self.device = device or pick_device()
            # Attacks need gradients with respect to the input only; frozen parameters halve the backward pass.
            self.model: nn.Module | None = model.to(self.device).requires_grad_(False)
            # PGD's gradients: float32, or bfloat16 where the hardware computes it natively (resolve_precision).
            from attacks.environment import resolve_precision

            self.precision = resolve_precision(precision, self.device)
        else:
            self.model = None
            self.device = onnx.providers[0] if onnx is not None else "cpu"
            self.precision = "float32"  # onnxruntime runs the graph as exported
        self._gradient_model: nn.Module | None = None

    @property
    def white_box(self) -> bool:
        return self.model is not None

    def fold_batchnorm(self, probe: np.ndarray) -> bool:
        """Attack a copy of the network with its eval-mode batch norms folded into the convolutions before them
        (attacks.networks.fold_batchnorm: exact up to float rounding, and a cheaper forward and input gradient),
        if the copy's logits on `probe` (a few inputs) are the network's; otherwise keep the network as it is."""
        if self.model is None or self.bn_folded or len(probe) == 0:
            return self.bn_folded
        import torch

        from attacks.networks import fold_batchnorm

        batch = torch.from_numpy(np.ascontiguousarray(probe, dtype=np.float32)).to(self.device)
        folded = fold_batchnorm(self.model, batch)
        if folded is not None:
            self.model, self.bn_folded = folded.requires_grad_(False), True
            self._gradient_model = None
        return self.bn_folded

    @property
    def gradient_model(self) -> nn.Module:
        """The network PGD takes its gradients through: the model itself in float32, else a `LowPrecision` copy."""
        if self.model is None:
            raise ValueError("gradients need a PyTorch model")
        if self.precision == "float32":
            return self.model
        if self._gradient_model is None:
            import torch

            from attacks.networks import LowPrecision

            self._gradient_model = LowPrecision(self.model, getattr(torch, self.precision))
        return self._gradient_model

    @property
    def judge(self) -> nn.Module | None:
        """The float32 network that decides what a low-precision gradient attack fooled (None: in float32 already)."""
        return None if self.precision == "float32" else self.model

    def pgd(self, x: torch.Tensor, y: torch.Tensor, **options: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """attacks.evasion.pgd.pgd on this model: gradients in `precision`, every success judged in float32."""
        from attacks.evasion.pgd import pgd

        return pgd(self.gradient_model, x, y, judge=self.judge, **options)

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Logits (float32) for `x`, in batches."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.onnx is not None:
            return self.onnx.predict(x, batch_size)
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                batch = torch.from_numpy(x[start : start + batch_size]).to(self.device)
                parts.append(self.model(batch).float().cpu().numpy())  # type: ignore[misc]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_classes), np.float32)

    def reset_queries(self) -> None:
        self.queries = 0
        if self._wrapped is not None:
            self._wrapped.rows = 0

    def count_queries(self) -> int:
        return self.queries + (self._wrapped.rows if self._wrapped is not None else 0)

    def art_estimator(self) -> Any:
        """A fresh ART estimator for one run (ART leaks hooks into the ones it has used; never share them)."""
        if self.onnx is not None:
            from art.estimators.classification import BlackBoxClassifierNeuralNetwork

            onnx = self.onnx

            def predict_fn(x: np.ndarray) -> np.ndarray:
                self.queries += len(x)
                return onnx.predict(np.asarray(x, dtype=np.float32))

            return BlackBoxClassifierNeuralNetwork(
                predict_fn, self.input_shape, self.num_classes, clip_values=self.clip
            )
        import torch
        from art.estimators.classification import PyTorchClassifier

        self._wrapped = _float32_counting(self.model)  # type: ignore[arg-type]
        return PyTorchClassifier(
            model=self._wrapped,
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=self.input_shape,
            nb_classes=self.num_classes,
            clip_values=self.clip,
            device_type="gpu" if self.device.startswith("cuda") else "cpu",
        )
