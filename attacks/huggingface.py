"""Hugging Face image classifiers, uploaded as one zip of the model folder `save_pretrained` writes.

The zip holds `config.json` and `model.safetensors` (optionally `preprocessor_config.json`, a
README and the like), at its root or in one top folder. The network is built with transformers
from the config, read as JSON data: the config's `model_type` must be one of transformers'
image-classification types (attacks/catalogue/library.json lists them), a config that asks for
remote code (`auto_map`) is refused, and no file of the folder is ever executed or unpickled:
the weights are read with safetensors only. preprocessor_config.json gives the default
pre-processing (size, crop, interpolation, mean, std), read as data too.

Listing and checking the zip's members (`folder_problems`) imports nothing heavy; building
(`load_folder`) imports torch and transformers and runs only in the sandboxed job process.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from attacks.context import UserError

if TYPE_CHECKING:
    from torch import nn

    from attacks.architectures import Architecture
    from attacks.preprocess import Preprocessing

PREFIX = "huggingface/"
CONFIG, WEIGHTS, PREPROCESSOR = "config.json", "model.safetensors", "preprocessor_config.json"
# Files a save_pretrained folder or a hub snapshot may carry besides those: text only, never loaded.
HARMLESS_SUFFIXES = (".md", ".txt", ".gitattributes", ".gitignore")
MAX_JSON_BYTES = 1024 * 1024
# PIL's resampling numbers, as preprocessor_config.json stores them.
_PIL_RESAMPLE = {0: "nearest", 1: "bilinear", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bicubic"}
EXPORT = (
    "Save the model with `model.save_pretrained(folder)` (it writes config.json and model.safetensors), "
    "add the image processor's `save_pretrained(folder)` if you have one, and upload the folder as one zip."
)


def is_folder(names: list[str]) -> bool:
    """Whether a zip's member names look like a save_pretrained folder (config.json beside model.safetensors)."""
    files = {PurePosixPath(name).name for name in names if not name.endswith("/")}
    return CONFIG in files and (WEIGHTS in files or any(n.endswith((".bin", ".safetensors.index.json")) for n in files))


def _members(names: list[str]) -> tuple[str, dict[str, str]]:
    """(top folder, {file name: member name}) for the folder's files; UserError for another layout."""
    files = [name for name in names if not name.endswith("/")]
    tops = {PurePosixPath(name).parts[0] for name in files if len(PurePosixPath(name).parts) > 1}
    top = tops.pop() if len(tops) == 1 and all(len(PurePosixPath(n).parts) == 2 for n in files) else ""
    members = {}
    for name in files:
        parts = PurePosixPath(name).parts
        if len(parts) != (2 if top else 1):
            raise UserError(f"The model folder has a sub-folder ({name!r}); zip the folder save_pretrained wrote.")
        members[parts[-1]] = name
    return top, members


def folder_problems(names: list[str]) -> list[str]:
    """Why the member names cannot be a model folder riskapp loads ([] when they can): a member that could
    be executed or unpickled (custom modelling code, pytorch_model.bin), sharded weights, missing files."""
    try:
        _, members = _members(names)
    except UserError as error:
        return [str(error)]
    problems = []
    for name in sorted(members):
        if name in (CONFIG, WEIGHTS, PREPROCESSOR) or name.endswith(HARMLESS_SUFFIXES):
            continue
        if name.endswith(".py"):
            problems.append(f"The folder carries Python code ({name}); riskapp never runs a model's own code. {EXPORT}")
        elif name.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".msgpack")):
            problems.append(
                f"The folder carries {name}, a pickled or framework-specific file riskapp does not load: "
                f"keep model.safetensors only. {EXPORT}"
            )
        elif name.endswith(".safetensors.index.json") or (name.endswith(".safetensors") and name != WEIGHTS):
            problems.append(f"The weights are sharded ({name}); save them as one file (max_shard_size large enough).")
        else:
            problems.append(f"The folder carries {name}, which a model folder does not need; remove it.")
    if WEIGHTS not in members:
        problems.append(f"The folder has no {WEIGHTS}. {EXPORT}")
    if CONFIG not in members:
        problems.append(f"The folder has no {CONFIG}. {EXPORT}")
    return problems


def _read_json(archive: zipfile.ZipFile, member: str) -> dict[str, Any]:
    info = archive.getinfo(member)
    if info.file_size > MAX_JSON_BYTES:
        raise UserError(f"{member} is {info.file_size:,} bytes; a config is a few kilobytes.")
    try:
        document = json.loads(archive.read(member).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{member} is not valid JSON ({error}).") from None
    if not isinstance(document, dict):
        raise UserError(f"{member} must hold a JSON object.")
    return document


def image_classification_types() -> dict[str, str]:
    from attacks.library import index

    return index()["huggingface_image_classification"]


def check_config(config: Mapping[str, Any]) -> str:
    """The config's model_type, checked: an image-classification type, no remote code. UserError otherwise."""
    if "auto_map" in config or config.get("trust_remote_code"):
        raise UserError(
            "config.json asks for the model's own code (auto_map); riskapp never runs remote code. "
            "Use a model type that transformers itself implements."
        )
    model_type = config.get("model_type")
    types = image_classification_types()
    if not isinstance(model_type, str) or model_type not in types:
        raise UserError(
            f"config.json's model_type {model_type!r} is not an image-classification architecture of transformers; "
            f"supported: {', '.join(sorted(types))}."
        )
    return model_type


def architecture_entry(name: str) -> Architecture:
    """The catalogue label for `huggingface/<model_type>`, or plain `huggingface` (any type): the network
    itself comes from the uploaded folder's config.json."""
    from attacks.architectures import Architecture

    model_type = name.removeprefix(PREFIX) if name != "huggingface" else ""
    if model_type and model_type not in image_classification_types():
        check_config({"model_type": model_type})  # raises with the list of supported types
    return Architecture(
        name=name,
        description=f"Hugging Face {model_type or 'image'} classifier, built from its folder's config.json",
        input_shape=(3, 224, 224),
        num_classes=2,
        builder="huggingface",
        source="huggingface",
        fixed_input_size=True,
    )


def _size(value: Any) -> tuple[int, int] | int | None:
    """preprocessor_config's size / crop_size: {"height", "width"}, {"shortest_edge"}, or a number."""
    if isinstance(value, Mapping):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        if "shortest_edge" in value:
            return int(value["shortest_edge"])
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def preprocessing_from(config: Mapping[str, Any], processor: Mapping[str, Any] | None) -> Preprocessing:
    """The folder's default pre-processing from config.json (image_size, num_channels) and
    preprocessor_config.json (size, crop_size, resample, image_mean, image_std)."""
    from attacks.preprocess import Preprocessing, check

    processor = processor or {}
    channels = int(config.get("num_channels", 3))
    side = config.get("image_size", 224)
    side = side if isinstance(side, int) else (side[0] if isinstance(side, list | tuple) and side else 224)
    size, crop_pct = (side, side), 1.0
    resized = _size(processor.get("size"))
    cropped = _size(processor.get("crop_size")) if processor.get("do_center_crop") else None
    if isinstance(cropped, tuple):
        size = cropped
    elif isinstance(cropped, int):
        size = (cropped, cropped)
    elif isinstance(resized, tuple):
        size = resized
    if cropped is not None and isinstance(resized, int) and resized > 0:
        crop_pct = min(1.0, size[0] / resized)
    normalise = processor.get("do_normalize", bool(processor.get("image_mean")))
    mean = tuple(float(v) for v in processor.get("image_mean") or ()) if normalise else ()
    std = tuple(float(v) for v in processor.get("image_std") or ()) if normalise else ()
    if any(not math.isfinite(v) for v in mean + std):
        raise UserError("preprocessor_config.json has a mean or std that is not a finite number.")
    rescale = float(processor.get("rescale_factor", 1 / 255)) if processor.get("do_rescale", True) else 1.0
    # The engine's images are in [0, 1], which is what a rescale by 1/255 produces from bytes; another factor
    # means the network expects another range (e.g. 1/127.5 with mean 1: [-1, 1]).
    scale = 1.0 if math.isclose(rescale, 1 / 255, rel_tol=1e-3) else rescale * 255
    return check(
        Preprocessing(
            input_shape=(channels, *size),
            mean=mean,
            std=std,
            scale=scale,
            interpolation=_PIL_RESAMPLE.get(processor.get("resample", 2), "bilinear"),
            crop_pct=crop_pct,
            source="huggingface",
        )
    )


@dataclass(frozen=True)
class Folder:
    model: nn.Module
    model_type: str
    num_classes: int
    class_names: list[str]
    config: dict[str, Any]
    processor: dict[str, Any] | None
    preprocessing: Preprocessing
    state_dict: dict[str, Any]


def _loading_problems(info: Mapping[str, Any]) -> list[str]:
    problems = [f"missing tensor {name!r}" for name in sorted(info.get("missing_keys") or [])]
    problems += [
        f"unexpected tensor {name!r}, not in the architecture" for name in sorted(info.get("unexpected_keys") or [])
    ]
    for name, have, want in sorted(info.get("mismatched_keys") or []):
        problems.append(
            f"shape mismatch for {name!r}: the file has {list(have)}, the architecture expects {list(want)}"
        )
    return problems


def load_folder(path: Path, *, num_classes: int | None = None) -> Folder:
    """Build the folder's network from its config and load model.safetensors into it. transformers maps the
    file's key names to its own (they changed across versions); every missing, unexpected or mis-shaped tensor
    is listed. `num_classes`, when given, must match the config's labels."""
    import os
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing of this is ever fetched
    import transformers

    from attacks.loading import describe_mismatches, load_state_dict
    from attacks.networks import LogitsOf
    from attacks.scanners.zips import vet_zip

    path = Path(path)
    problems = vet_zip(path, max_bytes=16 * 1024**3)
    if problems:
        raise UserError(problems[0].message)
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as scratch:
        names = archive.namelist()
        listed = folder_problems(names)
        if listed:
            raise UserError(listed[0])
        _, members = _members(names)
        config = _read_json(archive, members[CONFIG])
        processor = _read_json(archive, members[PREPROCESSOR]) if PREPROCESSOR in members else None
        model_type = check_config(config)
        folder = Path(scratch)
        (folder / CONFIG).write_text(json.dumps(config), encoding="utf-8")  # the checked config, re-serialised
        weights = folder / WEIGHTS
        with archive.open(members[WEIGHTS]) as source, weights.open("wb") as target:
            while chunk := source.read(1024 * 1024):
                target.write(chunk)
        state_dict = load_state_dict(weights)  # safetensors only, its header checked before anything is read
        labels = _labels(config)
        if num_classes is not None and num_classes != labels:
            raise UserError(
                f"config.json gives {labels} labels but the card says {num_classes} classes: "
                "leave the number of classes empty, or fix id2label in config.json."
            )
        model_class = getattr(transformers, image_classification_types()[model_type])
        try:
            network, info = model_class.from_pretrained(
                folder,
                local_files_only=True,
                use_safetensors=True,
                trust_remote_code=False,
                ignore_mismatched_sizes=True,  # reported below as mismatches, all of them, not the first
                output_loading_info=True,
            )
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
            raise UserError(f"transformers cannot build this {model_type} folder ({str(error)[:300]}).") from None
    mismatches = _loading_problems(info)
    if mismatches:
        raise UserError(describe_mismatches(PREFIX + model_type, labels, mismatches))
    id2label = network.config.id2label or {}
    class_names = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(labels)]
    return Folder(
        model=LogitsOf(network.eval()),
        model_type=model_type,
        num_classes=labels,
        class_names=class_names,
        config=config,
        processor=processor,
        preprocessing=preprocessing_from(config, processor),
        state_dict=state_dict,
    )


def _labels(config: Mapping[str, Any]) -> int:
    """The number of classes a config declares (id2label, else num_labels, else transformers' default 2)."""
    id2label = config.get("id2label")
    if isinstance(id2label, Mapping) and id2label:
        return len(id2label)
    number = config.get("num_labels", 2)
    if isinstance(number, bool) or not isinstance(number, int) or not 2 <= number <= 100_000:
        raise UserError(f"config.json's num_labels must be a whole number from 2 to 100000, not {number!r}.")
    return number


def write_folder(folder: Folder, destination: Path) -> Path:
    """The normalised folder later jobs load: config.json, preprocessor_config.json (when given) and the
    weights re-saved by safetensors, in one zip."""
    from attacks.loading import save_safetensors

    destination = Path(destination)
    weights = destination.with_suffix(".safetensors.tmp")
    save_safetensors(folder.state_dict, weights)
    try:
        with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(CONFIG, json.dumps(folder.config, indent=1, sort_keys=True))
            if folder.processor is not None:
                archive.writestr(PREPROCESSOR, json.dumps(folder.processor, indent=1, sort_keys=True))
            archive.write(weights, WEIGHTS)
    finally:
        weights.unlink(missing_ok=True)
    return destination
