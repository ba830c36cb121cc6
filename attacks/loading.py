"""Safe loaders for uploaded models and datasets. Used ONLY inside the sandboxed job subprocess.

Each loader is safe on its own, whatever the scan said: the format is sniffed from the
bytes, safetensors and ONNX are re-checked with the scanner's structural checks, PyTorch
checkpoints go through `torch.load(..., weights_only=True)` (always passed explicitly, so no
environment variable can flip it, and never retried without it), and `.npz` files through
`np.load(..., allow_pickle=False)`. Problems the uploader can fix raise UserError.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import UserError
from attacks.scanners.findings import MESSAGES, SAVE_DATASET, SAVE_WEIGHTS
from attacks.scanners.npz import OPTIONAL, REQUIRED, layout_problems
from attacks.scanners.sniff import sniff_file
from attacks.scanners.zips import vet_zip

if TYPE_CHECKING:
    import torch
    from torch import nn

    from attacks.architectures import Architecture
    from attacks.huggingface import Folder
    from attacks.imagefolder import ImageTransform
    from attacks.preprocess import Preprocessing

MAX_LISTED = 20
# Loaders re-check zip containers (cheap next to loading); the scan's size limit was applied at upload.
MAX_UNPACKED_BYTES = 16 * 1024**3
_REFUSED_MESSAGE = {
    "torchscript": MESSAGES["torchscript"],
    "pickle": MESSAGES["pickle"],
    "legacy_torch": MESSAGES["legacy_torch"],
    "keras_h5": MESSAGES["keras_h5"],
    "keras": MESSAGES["keras"],
    "npy": MESSAGES["npy"],
    "unknown": MESSAGES["unknown_format"],
}
_BLOCKED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _refuse_bad_zip(path: Path) -> None:
    problems = vet_zip(path, max_bytes=MAX_UNPACKED_BYTES)
    if problems:
        raise UserError(problems[0].message)


def _refuse(path: Path, fmt: str, wanted: str) -> UserError:
    if fmt == "zip":  # a damaged archive, or one that is neither a checkpoint nor a dataset
        problems = vet_zip(path, max_bytes=MAX_UNPACKED_BYTES)
        return UserError(problems[0].message if problems else MESSAGES["unsupported_zip"])
    if fmt in _REFUSED_MESSAGE:
        return UserError(_REFUSED_MESSAGE[fmt])
    if fmt in ("onnx", "safetensors", "pytorch_zip"):
        return UserError(f"This file is a model ({fmt}), but {wanted} was expected.")
    if fmt == "npz":
        return UserError(f"This file is a dataset (.npz), but {wanted} was expected.")
    return UserError(f"This file is not {wanted} (its bytes look like: {fmt}).")


# --- PyTorch weights -------------------------------------------------------------------------


def _torch_load_weights_only(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        # Never retry with the unsafe loader: files are built to fail here to get that retry.
        # torch's own message suggests exactly that retry, so it is not passed on.
        blocked = _BLOCKED_GLOBAL.search(str(error))
        if blocked:
            raise UserError(
                f"The checkpoint references {blocked.group(1)}, which a weights-only load refuses: it is not a "
                f"plain state_dict. {SAVE_WEIGHTS}"
            ) from None
        raise UserError(
            f"The checkpoint could not be loaded as weights only ({type(error).__name__}). {SAVE_WEIGHTS}"
        ) from None


def _load_safetensors(path: Path) -> Any:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from attacks.scanners.safetensors_header import check_safetensors

    findings = check_safetensors(path)
    if findings:
        raise UserError(findings[0].message)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, ValueError, TypeError) as error:
        raise UserError(f"The safetensors file could not be read ({error}).") from None


def _flat_tensors(loaded: Any) -> dict[str, torch.Tensor]:
    import torch

    if not isinstance(loaded, Mapping):
        raise UserError(f"The checkpoint holds a {type(loaded).__name__}, not a state_dict. {SAVE_WEIGHTS}")
    tensors: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(key, str):
            raise UserError(f"The checkpoint has a key of type {type(key).__name__}; a state_dict's keys are names.")
        if isinstance(value, Mapping):
            raise UserError(
                f"The checkpoint is a dictionary of dictionaries, not a flat state_dict ({key!r} holds a "
                f"dictionary). If {key!r} is the model's state_dict, save `checkpoint[{key!r}]` on its own. "
                + SAVE_WEIGHTS
            )
        if not isinstance(value, torch.Tensor):
            raise UserError(f"The checkpoint entry {key!r} is a {type(value).__name__}, not a tensor. {SAVE_WEIGHTS}")
        if value.layout != torch.strided or value.is_quantized:
            raise UserError(f"The tensor {key!r} is sparse or quantized; save dense weights.")
        tensors[key] = value
    if not tensors:
        raise UserError("The checkpoint holds no tensors.")
    return tensors


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} from a safetensors file or a PyTorch state_dict checkpoint (zip)."""
    path = Path(path)
    fmt = sniff_file(path)
    if fmt == "safetensors":
        return _flat_tensors(_load_safetensors(path))
    if fmt == "pytorch_zip":
        _refuse_bad_zip(path)
        return _flat_tensors(_torch_load_weights_only(path))
    raise _refuse(path, fmt, "model weights (safetensors or a PyTorch state_dict checkpoint)")


def save_safetensors(state_dict: Mapping[str, torch.Tensor], dst: Path) -> None:
    """Write tensors as safetensors. Tensors sharing memory (tied weights) are copied: the format stores each once."""
    from safetensors.torch import save_file

    seen: set[int] = set()
    tensors = {}
    for name, tensor in state_dict.items():
        tensor = tensor.detach().contiguous()
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen and tensor.numel():
            tensor = tensor.clone()
        seen.add(storage)
        tensors[name] = tensor
    save_file(tensors, str(dst))


def convert_to_safetensors(src: Path, dst: Path) -> dict[str, torch.Tensor]:
    """Load weights from `src` (safetensors or a state_dict checkpoint), write them to `dst`; returns them."""
    state_dict = load_state_dict(src)
    save_safetensors(state_dict, Path(dst))
    return state_dict


def _final_linear_weight(model: nn.Module) -> str | None:
    from torch import nn

    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    return f"{names[-1]}.weight" if names else None


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Every missing tensor, unexpected tensor and shape mismatch between `state_dict` and `model`; [] when it fits."""
    expected = model.state_dict()
    problems: list[str] = []
    unexpected = sorted(set(state_dict) - set(expected))
    if unexpected and all(name.startswith("module.") for name in unexpected):
        stripped = {name.removeprefix("module.") for name in unexpected}
        if stripped >= set(expected) - set(state_dict):
            problems.append(
                "Every tensor name starts with 'module.' (saved from DataParallel/DistributedDataParallel): "
                "save model.module.state_dict() instead."
            )
    for name in sorted(set(expected) - set(state_dict)):
        problems.append(f"missing tensor {name!r} (the architecture expects shape {list(expected[name].shape)})")
    for name in unexpected:
        problems.append(f"unexpected tensor {name!r} (shape {list(state_dict[name].shape)}), not in the architecture")
    head = _final_linear_weight(model)
    for name in sorted(set(expected) & set(state_dict)):
        have, want = list(state_dict[name].shape), list(expected[name].shape)
        if have != want:
            hint = ""
            if name == head and have[1:] == want[1:]:
                hint = f"; the file's classifier has {have[0]} outputs: set the number of classes to {have[0]}"
            problems.append(f"shape mismatch for {name!r}: the file has {have}, the architecture expects {want}{hint}")
    return problems


def describe_mismatches(arch: str, num_classes: int, problems: Sequence[str]) -> str:
    listed = [f"  - {problem}" for problem in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        listed.append(f"  ... and {len(problems) - MAX_LISTED} more")
    return f"The weights do not fit architecture {arch!r} with {num_classes} classes:\n" + "\n".join(listed)


@dataclass(frozen=True)
class LoadedModel:
    """A network with uploaded weights, wrapped in its pre-processing (attacks/preprocess.py).

    `model` takes images in [0, 1]; `data_shape` is the per-sample shape the data must have, with
    None where any size is resized inside the model; `preprocessing` is what was applied; `class_names` the
    model's own labels where its file names them (a Hugging Face folder's id2label)."""

    model: nn.Module
    arch: str
    num_classes: int
    preprocessing: Preprocessing
    data_shape: tuple[int | None, ...]
    class_names: tuple[str, ...] | None = None

    def load_dataset(
        self, path: Path, skipped: list[dict[str, str]] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A dataset checked against this model; an image folder is decoded at its input size, crop and
        interpolation, so the stored pixels are the ones the network sees, and its folders are matched to the
        model's class names when it has them. Images left out are appended to `skipped` (load_dataset)."""
        from attacks.preprocess import image_transform_for

        return load_dataset(
            path,
            expect_shape=self.data_shape,
            num_classes=self.num_classes,
            image_transform=image_transform_for(self.preprocessing),
            class_names=self.class_names,
            skipped=skipped,
        )


def _network(path: Path, entry: Architecture, num_classes: int) -> nn.Module | Folder:
    """The catalogue network with the weights of `path`, or a Hugging Face folder (network, type, labels and
    pre-processing from the folder itself)."""
    from attacks.architectures import build

    if entry.source == "huggingface" or sniff_file(path) == "hf_folder":
        from attacks.huggingface import load_folder

        # config.json's labels decide; a number of classes other than the label entry's placeholder must agree.
        return load_folder(path, num_classes=None if num_classes == entry.num_classes else num_classes)
    model = build(entry.name, num_classes)
    state_dict = load_state_dict(path)
    problems = check_state_dict(model, state_dict)
    if problems:
        raise UserError(describe_mismatches(entry.name, num_classes, problems))
    model.load_state_dict(state_dict, strict=True)
    return model


def load_network(
    path: Path, arch: str, num_classes: int, preprocessing: Mapping[str, Any] | None = None
) -> LoadedModel:
    """The catalogue network `arch` with the weights from `path`, wrapped in its pre-processing (the library's
    defaults, overridden by the card's `preprocessing`), in eval mode; UserError on any mismatch."""
    from dataclasses import replace

    from attacks.architectures import architecture
    from attacks.huggingface import PREFIX, Folder
    from attacks.networks import Preprocessed
    from attacks.preprocess import parse, resolve

    entry = architecture(arch)
    network = _network(Path(path), entry, num_classes)
    class_names = None
    if isinstance(network, Folder):  # a Hugging Face folder brings its own defaults, type and labels
        class_names = tuple(network.class_names) or None
        processing = parse(preprocessing or {}, network.preprocessing)
        if processing.channels != network.preprocessing.channels:
            raise UserError(
                f"The card's input_size has {processing.channels} channel(s); the folder's config.json builds a "
                f"{network.preprocessing.channels}-channel model (num_channels): drop input_size, or match it."
            )
        entry = replace(entry, name=PREFIX + network.model_type, input_shape=processing.input_shape)
        num_classes, network = network.num_classes, network.model
    else:
        processing = resolve(entry, preprocessing)
    if entry.from_library or processing.changes_values:
        model: nn.Module = Preprocessed.of(network, processing)
    else:  # the project's own networks with no card pre-processing: the network itself, as before
        model = network
        processing = replace(processing, source="none")
    # Library networks resize any image inside the model; the project's own take exactly their input shape.
    data_shape = (processing.channels, None, None) if entry.from_library else tuple(entry.input_shape)
    return LoadedModel(model.eval(), entry.name, num_classes, processing, data_shape, class_names)


def load_model(path: Path, arch: str, num_classes: int, preprocessing: Mapping[str, Any] | None = None) -> nn.Module:
    """The model of `load_network` alone: pre-processing and network, taking [0, 1] images."""
    return load_network(path, arch, num_classes, preprocessing).model


# --- ONNX ------------------------------------------------------------------------------------

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


class OnnxModel:
    """An ONNX classifier run by onnxruntime: predict(x float32) -> logits (N × classes, float32)."""

    def __init__(self, session: Any) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1:
            raise UserError(f"The ONNX model takes {len(inputs)} inputs; riskapp runs classifiers with exactly one.")
        if inputs[0].type not in _ORT_TYPES:
            raise UserError(f"The ONNX model's input is {inputs[0].type}; a floating-point input is needed.")
        self._session = session
        self.input_name: str = inputs[0].name
        self.output_name: str = outputs[0].name
        self._dtype = _ORT_TYPES[inputs[0].type]
        dims = [dim if isinstance(dim, int) and dim > 0 else None for dim in inputs[0].shape]
        self.fixed_batch: int | None = dims[0] if dims else None
        self.input_shape: tuple[int | None, ...] = tuple(dims[1:])
        out_dims = outputs[0].shape
        self.num_classes: int | None = out_dims[-1] if out_dims and isinstance(out_dims[-1], int) else None
        self.providers: list[str] = session.get_providers()

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self._dtype)
        step = self.fixed_batch or batch_size
        parts = []
        for start in range(0, len(x), step):
            batch = x[start : start + step]
            rows = len(batch)
            if self.fixed_batch and rows < step:  # a model exported for a fixed batch: pad the last one
                batch = np.concatenate([batch, np.zeros((step - rows, *batch.shape[1:]), batch.dtype)])
            out = self._session.run([self.output_name], {self.input_name: batch})[0]
            parts.append(np.asarray(out, dtype=np.float32).reshape(len(batch), -1)[:rows])
        return np.concatenate(parts) if parts else np.zeros((0, self.num_classes or 0), np.float32)


def load_onnx(path: Path) -> OnnxModel:
    """An onnxruntime session (CUDA when available, else CPU) for a single-file, standard-operator ONNX model."""
    import onnxruntime as ort

    from attacks.scanners.onnx_model import load_onnx_model

    path = Path(path)
    fmt = sniff_file(path)
    if fmt != "onnx":
        raise _refuse(path, fmt, "an ONNX model")
    model, findings = load_onnx_model(path)
    if model is None or findings:
        raise UserError(findings[0].message)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings go to the job log otherwise
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        # From bytes, not the path: nothing next to the file (external data) can be picked up.
        session = ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types for unsupported graphs
        raise UserError(f"onnxruntime cannot run this model ({str(error)[:300]}).") from None
    return OnnxModel(session)


# --- datasets --------------------------------------------------------------------------------


def _shape_hint(have: tuple[int, ...], want: tuple[int | None, ...]) -> str:
    if len(have) == 3 and len(want) == 3:
        if (have[2], have[0], have[1]) == want:
            return " x looks channels-last (N, H, W, C): transpose it with x.transpose(0, 3, 1, 2)."
        if (have[1], have[2], have[0]) == want:
            return " The model takes channels-last input (N, H, W, C): transpose x with x.transpose(0, 2, 3, 1)."
    squeezed = tuple(d for d in have if d != 1) == tuple(d for d in want if d != 1)
    flattened = (
        (len(have) == 1 or len(want) == 1) and None not in want and math.prod(have) == math.prod(d or 0 for d in want)
    )
    if squeezed or flattened:
        return f" Reshape it with x.reshape(len(x), {', '.join(str(d) for d in want)})."
    return ""


def _check_input_shape(x: np.ndarray, expect_shape: Sequence[int | None]) -> None:
    have, want = tuple(x.shape[1:]), tuple(expect_shape)
    fits = len(have) == len(want) and all(w is None or h == w for h, w in zip(have, want, strict=True))
    if not fits:
        raise UserError(f"Each sample in x has shape {have}, but the model expects {want}.{_shape_hint(have, want)}")


def load_dataset(
    path: Path,
    *,
    expect_shape: Sequence[int | None] | None = None,
    num_classes: int | None = None,
    image_transform: ImageTransform | None = None,
    class_names: Sequence[str] | None = None,
    skipped: list[dict[str, str]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(x float32, y int64, poison_mask bool or None) from an .npz or an image-folder zip, checked for a model.

    `expect_shape` is the model's per-sample input shape (None for a free dimension);
    `num_classes` bounds the labels. An .npz x may be float or uint8 (scaled by 1/255). An image
    folder is decoded with `image_transform` (by default: to `expect_shape`, crop_pct 0.875,
    bilinear) and labelled by `class_names` (by default: the folders in alphabetical order); the images it had
    to leave out ({"file", "reason"}: attacks.imagefolder) are appended to `skipped` when given."""
    path = Path(path)
    fmt = sniff_file(path)
    if fmt == "image_folder":
        from attacks.imagefolder import ImageTransform, read_image_folder

        if image_transform is None:
            if expect_shape is None:
                raise UserError(
                    "This dataset is a folder of images, and nothing says the size to decode them to: "
                    "give the model's input shape (channels, height, width), e.g. [3, 224, 224]."
                )
            image_transform = ImageTransform.for_shape(expect_shape)
        folder = read_image_folder(path, image_transform, class_names=class_names)
        x, y, mask = folder.x, folder.y, None
        if skipped is not None:
            skipped.extend(folder.skipped)
    elif fmt != "npz":
        raise _refuse(path, fmt, "a dataset (.npz with arrays x and y, or a zip of image folders)")
    else:
        _refuse_bad_zip(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = set(archive.files)
                unexpected = sorted(names - set(REQUIRED + OPTIONAL))
                missing = [name for name in REQUIRED if name not in names]
                if unexpected or missing:
                    what = f"contains {', '.join(unexpected)}" if unexpected else f"has no {', '.join(missing)}"
                    raise UserError(
                        f"The dataset {what}; only arrays x, y and optionally poison_mask are accepted. {SAVE_DATASET}"
                    )
                arrays = {name: archive[name] for name in names}
        except ValueError as error:  # allow_pickle=False refusing an object array, or a damaged member
            if "pickle" in str(error):
                raise UserError(MESSAGES["npz_object_array"].format(member="x or y")) from None
            raise UserError(f"The dataset could not be read ({error}). {SAVE_DATASET}") from None
        problems = layout_problems({k: v.shape for k, v in arrays.items()}, {k: v.dtype for k, v in arrays.items()})
        if problems:
            raise UserError(" ".join(f"{name} {problem}." for name, problem in problems) + " " + SAVE_DATASET)
        x, y, mask = arrays["x"], arrays["y"], arrays.get("poison_mask")
    if len(x) == 0:
        raise UserError("The dataset is empty.")
    if x.dtype == np.uint8:  # images stored as bytes: 0..255 → [0, 1]
        x = np.divide(x, np.float32(255), dtype=np.float32)
    x = x.astype(np.float32, copy=False)
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise UserError(f"x contains {bad} NaN or infinite values; replace or drop those samples.")
    low, high = int(y.min()), int(y.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        bound = f"0..{num_classes - 1} for a {num_classes}-class model" if num_classes else "non-negative values"
        raise UserError(f"y holds labels from {low} to {high}; labels must be {bound}.")
    if expect_shape is not None:
        _check_input_shape(x, expect_shape)
    if mask is not None:
        if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
            raise UserError("poison_mask must hold only 0/1 or True/False.")
        mask = mask.astype(bool)
    return x, y.astype(np.int64), mask
