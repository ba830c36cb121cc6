"""Library architectures: every timm model and torchvision classifier, by name, as catalogue entries.

`timm/<name>` and `torchvision/<name>` are built with `pretrained=False` (nothing is downloaded)
and the uploaded weights. Their default input size and pre-processing come from the library's
own config: timm's pretrained config, torchvision's default weights' transforms.

Listing them must not import torch (the web process offers them in a searchable field), so
the facts are read once from the installed libraries into a data file,
`catalogue/library.json`, which this module loads. `python -m attacks.library --write`
regenerates it after a pin change; a test fails while the file and the installed libraries
disagree.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

INDEX_PATH = Path(__file__).resolve().parent / "catalogue" / "library.json"
SCHEMA = "riskapp.library/1"
SOURCES = ("timm", "torchvision")
# torchvision names its interpolation modes with an enum; the index keeps the plain word.
_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def _interpolation(value: Any) -> str:
    word = str(getattr(value, "value", value)).lower()
    return word if word in _INTERPOLATIONS else "bilinear"


def _timm_entries(count_parameters: bool) -> list[dict[str, Any]]:
    import timm
    from timm.models import get_pretrained_cfg

    entries = []
    for name in timm.list_models():
        cfg = get_pretrained_cfg(name)
        channels, height, width = cfg.input_size
        entries.append(
            {
                "name": f"timm/{name}",
                "source": "timm",
                "input_shape": [channels, height, width],
                "num_classes": cfg.num_classes or 1000,
                "fixed_input_size": bool(cfg.fixed_input_size),
                "preprocessing": {
                    "mean": [round(float(v), 6) for v in cfg.mean],
                    "std": [round(float(v), 6) for v in cfg.std],
                    "interpolation": _interpolation(cfg.interpolation),
                    "crop_pct": round(float(cfg.crop_pct), 6),
                },
                "parameters": _count(
                    lambda name=name, classes=cfg.num_classes or 1000: timm.create_model(
                        name, pretrained=False, num_classes=classes
                    )
                )
                if count_parameters
                else None,
            }
        )
    return entries


def _torchvision_entries(count_parameters: bool) -> list[dict[str, Any]]:
    import torchvision.models as models

    entries = []
    for name in models.list_models(module=models):
        weights = models.get_model_weights(name).DEFAULT
        transform = weights.transforms()  # builds a small transform object; downloads nothing
        crop, resize = transform.crop_size[0], transform.resize_size[0]
        classes = len(weights.meta["categories"])
        entries.append(
            {
                "name": f"torchvision/{name}",
                "source": "torchvision",
                "input_shape": [3, crop, crop],
                "num_classes": classes,
                "fixed_input_size": "min_size" in weights.meta and weights.meta["min_size"] == (crop, crop),
                "preprocessing": {
                    "mean": [round(float(v), 6) for v in transform.mean],
                    "std": [round(float(v), 6) for v in transform.std],
                    "interpolation": _interpolation(transform.interpolation),
                    "crop_pct": round(crop / resize, 6),
                },
                "parameters": _count(
                    lambda name=name, classes=classes: models.get_model(name, weights=None, num_classes=classes)
                )
                if count_parameters
                else None,
            }
        )
    return entries


def _count(make: Any) -> int | None:
    import torch

    try:
        with torch.device("meta"):  # shapes only: a billion-parameter network counts in milliseconds
            model = make()
    except Exception:  # a network that cannot be built on the meta device is listed without a count
        return None
    return sum(parameter.numel() for parameter in model.parameters())


def _huggingface_types() -> dict[str, str]:
    """transformers' image-classification model types and the class each builds (the first, when it names two)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    return {
        model_type: names if isinstance(names, str) else names[0]
        for model_type, names in sorted(MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES.items())
    }


def generate(count_parameters: bool = True) -> dict[str, Any]:
    """The index document read from the installed timm, torchvision and transformers (imports torch)."""
    import timm
    import torchvision
    import transformers

    return {
        "schema": SCHEMA,
        "versions": {
            "timm": timm.__version__,
            "torchvision": torchvision.__version__,
            "transformers": transformers.__version__,
        },
        "architectures": _timm_entries(count_parameters) + _torchvision_entries(count_parameters),
        "huggingface_image_classification": _huggingface_types(),
    }


@functools.cache
def index() -> dict[str, Any]:
    """The committed index document (no torch import)."""
    document = json.loads(INDEX_PATH.read_text(encoding="utf-8"))
    if document.get("schema") != SCHEMA:
        raise ValueError(f"{INDEX_PATH.name}: expected schema {SCHEMA}, found {document.get('schema')!r}")
    return document


def build(name: str, num_classes: int, in_chans: int = 3) -> nn.Module:
    """A freshly initialised `timm/…` or `torchvision/…` network with `num_classes` outputs."""
    source, _, model_name = name.partition("/")
    if source == "timm":
        import timm

        return timm.create_model(model_name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    if source == "torchvision":
        import torchvision.models as models

        return models.get_model(model_name, weights=None, num_classes=num_classes)
    raise ValueError(f"{name!r} is not a library architecture")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m attacks.library", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {INDEX_PATH.name} from the installed libraries")
    parser.add_argument("--no-parameters", action="store_true", help="skip the parameter counts (minutes on 2 cores)")
    args = parser.parse_args(argv)
    document = generate(count_parameters=not args.no_parameters)
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    if args.write:
        INDEX_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {len(document['architectures'])} architectures to {INDEX_PATH}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
