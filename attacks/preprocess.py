"""Pre-processing is part of the model: the engine attacks `normalise ∘ network` on images in [0, 1].

A model card's `preprocessing` says how a [0, 1] image becomes the network's input:

    {"input_size": [3, 224, 224],      # what the network takes, C×H×W
     "interpolation": "bicubic",       # how an image of another size is resized (bilinear, bicubic, nearest)
     "crop_pct": 0.875,                # resize the shorter side to size / crop_pct, then centre-crop
     "scale": 1,                       # 255 for a network trained on 0-255 pixel values (mean/std in those units)
     "mean": [0.485, 0.456, 0.406],    # per channel, subtracted after scaling
     "std": [0.229, 0.224, 0.225]}     # per channel, divided by

Every key is optional. Missing ones come from the library's own config for `timm/…`,
`torchvision/…` and Hugging Face models (their pretrained config, weight transforms, or
preprocessor_config.json), and are the identity for the project's own networks. So ε, clipping
and example images always live in the pixel space of the input image, as RobustBench's models
do, and every result records what was applied (`Preprocessing.as_dict`).

This module does not import torch: the web forms validate cards with `preprocessing_problems`.
The nn.Module that applies it is `attacks.networks.Preprocessed`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from attacks.context import UserError

if TYPE_CHECKING:
    from attacks.architectures import Architecture

KEYS = ("input_size", "interpolation", "crop_pct", "scale", "mean", "std")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
MIN_SIDE, MAX_SIDE = 8, 4096


@dataclass(frozen=True)
class Preprocessing:
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    scale: float = 1.0
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    source: str = "none"  # where the numbers came from: card, timm, torchvision, huggingface, none

    @property
    def channels(self) -> int:
        return self.input_shape[0]

    @property
    def changes_values(self) -> bool:
        return bool(self.mean) or self.scale != 1.0

    def as_dict(self) -> dict[str, Any]:
        """What the result documents record as `preprocessing`."""
        return {
            "input_size": list(self.input_shape),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "scale": self.scale,
            "mean": list(self.mean) or None,
            "std": list(self.std) or None,
            "source": self.source,
        }


def _numbers(value: Any, key: str) -> tuple[float, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    numbers = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise UserError(f"preprocessing {key} must be a number or a list of finite numbers, not {value!r}.")
        numbers.append(float(item))
    if not numbers:
        raise UserError(f"preprocessing {key} is an empty list.")
    return tuple(numbers)


def _input_size(value: Any, channels: int) -> tuple[int, int, int]:
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise UserError(f"preprocessing input_size is [channels, height, width] (or [height, width]), not {value!r}.")
    if any(isinstance(d, bool) or not isinstance(d, int) for d in value):
        raise UserError(f"preprocessing input_size holds whole numbers, not {value!r}.")
    shape = tuple(value) if len(value) == 3 else (channels, *value)
    if shape[0] not in (1, 3) or not all(MIN_SIDE <= side <= MAX_SIDE for side in shape[1:]):
        raise UserError(
            f"preprocessing input_size {list(shape)} is not an image size: 1 or 3 channels, "
            f"sides from {MIN_SIDE} to {MAX_SIDE} pixels."
        )
    return shape  # type: ignore[return-value]


def parse(card: Mapping[str, Any], base: Preprocessing) -> Preprocessing:
    """`base` with the card's keys applied and checked; UserError naming the first bad key."""
    if not isinstance(card, Mapping):
        raise UserError('preprocessing must be an object, e.g. {"mean": [0.5], "std": [0.5]}.')
    unknown = sorted(set(card) - set(KEYS))
    if unknown:
        raise UserError(f"preprocessing has unknown keys {', '.join(unknown)}; the keys are {', '.join(KEYS)}.")
    if not card:
        return base
    result = replace(base, source="card")
    if "input_size" in card:
        result = replace(result, input_shape=_input_size(card["input_size"], base.channels))
    if "interpolation" in card:
        if card["interpolation"] not in INTERPOLATIONS:
            raise UserError(f"preprocessing interpolation must be one of {', '.join(INTERPOLATIONS)}.")
        result = replace(result, interpolation=card["interpolation"])
    if "crop_pct" in card:
        (crop,) = _numbers(card["crop_pct"], "crop_pct")[:1]
        if not 0.1 <= crop <= 1.0:
            raise UserError("preprocessing crop_pct is the centre crop's share of the resized image: 0.1 to 1.")
        result = replace(result, crop_pct=crop)
    if "scale" in card:
        (scale,) = _numbers(card["scale"], "scale")[:1]
        if not 0 < scale <= 65535:
            raise UserError("preprocessing scale must be above 0 (1 for [0, 1] inputs, 255 for 0-255 pixel values).")
        result = replace(result, scale=scale)
    if ("mean" in card) != ("std" in card) and not (base.mean and base.std):
        raise UserError("preprocessing needs both mean and std (or neither).")
    if "mean" in card:
        result = replace(result, mean=_numbers(card["mean"], "mean"))
    if "std" in card:
        result = replace(result, std=_numbers(card["std"], "std"))
    return check(result)


def check(result: Preprocessing) -> Preprocessing:
    """Refuse numbers that contradict each other: mean / std per channel, std above 0."""
    channels = result.channels
    for key in ("mean", "std"):
        values = getattr(result, key)
        if values and len(values) not in (1, channels):
            raise UserError(
                f"preprocessing {key} has {len(values)} values for a {channels}-channel input: give one per channel "
                f"(or one for all)."
            )
    if any(value <= 0 for value in result.std):
        raise UserError("preprocessing std values must be above 0.")
    return result


def defaults(entry: Architecture) -> Preprocessing:
    """The library's pre-processing for a catalogue entry; the identity for the project's own networks."""
    shape = tuple(entry.input_shape)
    if len(shape) != 3:  # a feature-vector network (the digits MLP takes 1×8×8, but a card may say D)
        shape = (1, *shape, 1)[:3] if len(shape) < 3 else shape[:3]
    config = entry.preprocessing or {}
    return Preprocessing(
        input_shape=shape,  # type: ignore[arg-type]
        mean=tuple(config.get("mean") or ()),
        std=tuple(config.get("std") or ()),
        interpolation=config.get("interpolation", "bilinear"),
        crop_pct=float(config.get("crop_pct", 1.0)),
        source=entry.source if config else "none",
    )


def resolve(entry: Architecture, card: Mapping[str, Any] | None) -> Preprocessing:
    """The pre-processing to apply for `entry` with a card's overrides; UserError when the card contradicts
    the architecture (another channel count or size for a fixed-size network)."""
    base = defaults(entry)
    result = parse(card or {}, base)
    if result.input_shape != base.input_shape:
        fixed = not entry.from_library or entry.fixed_input_size
        name = entry.name
        want = "×".join(map(str, base.input_shape))
        have = "×".join(map(str, result.input_shape))
        if result.channels != base.channels and not entry.from_library:
            raise UserError(f"The card's input_size {have} contradicts {name}, which takes {want} inputs.")
        if result.channels != base.channels:  # a library network is built for its default channel count
            raise UserError(
                f"The card's input_size {have} has {result.channels} channel(s); {name} is built for "
                f"{base.channels}-channel images: drop input_size, or give {base.channels} channels."
            )
        if fixed and result.input_shape[1:] != base.input_shape[1:]:
            raise UserError(
                f"The card's input_size {have} contradicts {name}, which takes exactly {want} images "
                "(its weights are tied to that size): drop input_size, or give the size it was trained at."
            )
    return result


def problems(card: Any, entry: Architecture | None) -> list[str]:
    """A card's pre-processing problems as messages ([] when it is usable); for the web forms (no torch)."""
    try:
        if entry is None:
            parse(card, Preprocessing(input_shape=(3, 224, 224)))
        else:
            resolve(entry, card)
    except UserError as error:
        return [str(error)]
    return []


def image_transform_for(processing: Preprocessing) -> Any:
    """How an image-folder dataset is decoded for a model with this pre-processing: its input size, crop and
    interpolation (attacks/imagefolder.py), so the stored pixels are the ones the network sees."""
    from attacks.imagefolder import ImageTransform

    channels, height, width = processing.input_shape
    return ImageTransform(
        channels=channels,
        height=height,
        width=width,
        crop_pct=processing.crop_pct,
        interpolation=processing.interpolation,
    )
