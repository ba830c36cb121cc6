"""The architecture catalogue: which networks an uploaded state_dict can be loaded into.

Three sources, one list of names:

- the project's own small networks (`cnn-digits`, `resnet18-cifar`, ...): data in
  attacks/catalogue/architectures.yaml, checked against its JSON schema, classes in
  attacks/networks.py;
- every timm architecture (`timm/resnet50`) and torchvision classifier
  (`torchvision/resnet18`), read from attacks/catalogue/library.json (attacks/library.py),
  with the library's default input size and pre-processing;
- Hugging Face image classifiers (`huggingface/<model_type>`), built from the config.json
  of an uploaded model folder (attacks/huggingface.py), never from remote code.

Listing, searching and looking up entries reads data files only: importing this module, and
everything but `build` and `penultimate_features`, never imports torch (the web process uses it).

Penultimate features: catalogue networks have `model.forward_features(x)` (N × feature_dim)
and `model.classifier` (the final nn.Linear); `penultimate_features(model, x)` works for
timm, torchvision and Hugging Face networks, and through the pre-processing wrapper, too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from attacks.context import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
MAX_CLASSES = 100_000
LIBRARY_SOURCES = ("timm", "torchvision", "huggingface")
MAX_SEARCH_RESULTS = 50


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    input_shape: tuple[int, ...]
    num_classes: int
    builder: str
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "riskapp"
    # The library's default pre-processing (mean, std, interpolation, crop_pct); {} for the project's own
    # networks, which take their input as it is.
    preprocessing: dict[str, Any] = field(default_factory=dict)
    fixed_input_size: bool = True
    parameters: int | None = None

    @property
    def from_library(self) -> bool:
        return self.source in LIBRARY_SOURCES


def _own_entries() -> dict[str, Architecture]:
    # The file is checked against architectures.schema.json by the tests, which also check that it names
    # real builders (attacks.networks.BUILDERS): reading the catalogue must not import the networks (torch),
    # nor jsonschema, whose import compiles URI grammars for seconds in every job's fresh sandbox.
    document = yaml.safe_load((CATALOGUE_DIR / "architectures.yaml").read_text(encoding="utf-8"))
    entries: dict[str, Architecture] = {}
    for item in document["architectures"]:
        if item["name"] in entries:
            raise ValueError(f"architectures.yaml: {item['name']!r} is listed twice")
        entries[item["name"]] = Architecture(
            name=item["name"],
            description=item["description"],
            input_shape=tuple(item["input_shape"]),
            num_classes=item["num_classes"],
            builder=item["builder"],
            options=item.get("options", {}),
            parameters=item["parameters"],
        )
    return entries


def _describe_library(item: dict[str, Any]) -> str:
    source, _, name = item["name"].partition("/")
    size = "×".join(str(d) for d in item["input_shape"])
    processing = item["preprocessing"]
    return (
        f"{source} {name}, built untrained from the library for your weights; default input {size}, "
        f"{processing['interpolation']} resize, crop {processing['crop_pct']:g}"
    )


def _library_entries() -> dict[str, Architecture]:
    from attacks.library import index

    return {
        item["name"]: Architecture(
            name=item["name"],
            description=_describe_library(item),
            input_shape=tuple(item["input_shape"]),
            num_classes=item["num_classes"],
            builder=item["source"],
            source=item["source"],
            preprocessing=item["preprocessing"],
            fixed_input_size=item["fixed_input_size"],
            parameters=item["parameters"],
        )
        for item in index()["architectures"]
    }


@functools.cache
def _entries() -> dict[str, Architecture]:
    return {**_own_entries(), **_library_entries()}


def closest(name: str, limit: int = 8) -> list[str]:
    """Catalogue names closest to an unknown `name`: the longest prefix of its last part that matches."""
    short = name.rpartition("/")[2].lower()
    for cut in range(len(short), 2, -1):
        found = search(short[:cut], limit=limit)
        if found:
            return [entry["name"] for entry in found]
    return [entry.name for entry in _own_entries().values()]


def _suggestions(name: str) -> str:
    return ", ".join(closest(name))


def architecture(name: str) -> Architecture:
    """The catalogue entry called `name`; UserError with the closest known names otherwise.

    `huggingface/<model_type>` names an image-classification model type of transformers; such an
    entry is only a label: the network is built from the uploaded folder's config.json."""
    entries = _entries()
    if name in entries:
        return entries[name]
    if name == "huggingface" or name.startswith("huggingface/"):
        from attacks.huggingface import architecture_entry

        return architecture_entry(name)
    raise UserError(
        f"Unknown architecture {name!r}. Closest known architectures: {_suggestions(name)} "
        "(`python -m attacks architectures --search WORD` lists more)."
    )


def search(query: str, *, limit: int = MAX_SEARCH_RESULTS, source: str | None = None) -> list[dict[str, Any]]:
    """Catalogue entries (as `catalogue()` lists them) whose name holds every word of `query`, best first:
    an exact name, then names starting with the query, then the shortest. An empty query lists all."""
    words = [word for word in query.lower().replace("/", " ").split() if word]
    found = []
    for entry in _entries().values():
        name = entry.name.lower()
        if source and entry.source != source:
            continue
        if all(word in name for word in words):
            short = name.rpartition("/")[2]
            rank = (
                0 if query.lower() in (name, short) else 1 if short.startswith(words[0] if words else "") else 2,
                entry.source != "riskapp",
                len(name),
                name,
            )
            found.append((rank, entry))
    found.sort(key=lambda pair: pair[0])
    return [_listed(entry) for _, entry in found[:limit]]


def _check_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 2 <= num_classes <= MAX_CLASSES:
        raise UserError(f"The number of classes must be a whole number from 2 to {MAX_CLASSES}, not {num_classes!r}.")


def build(name: str, num_classes: int) -> nn.Module:
    """A freshly initialised network of the catalogue architecture `name` with `num_classes` outputs."""
    entry = architecture(name)
    _check_classes(num_classes)
    if entry.source in ("timm", "torchvision"):
        from attacks.library import build as build_library

        return build_library(entry.name, num_classes, in_chans=entry.input_shape[0])
    if entry.source == "huggingface":
        raise UserError(f"{name!r} is built from its model folder's config.json: upload the folder as a zip.")
    from attacks.networks import BUILDERS

    return BUILDERS[entry.builder](entry.input_shape, num_classes, **entry.options)


def _listed(entry: Architecture) -> dict[str, Any]:
    return {
        "name": entry.name,
        "description": entry.description,
        "input_shape": list(entry.input_shape),
        "num_classes": entry.num_classes,
        "parameters": entry.parameters,
        "source": entry.source,
        "preprocessing": entry.preprocessing,
        "fixed_input_size": entry.fixed_input_size,
    }


def catalogue() -> list[dict[str, Any]]:
    """Every architecture: name, description, input_shape, num_classes, parameters, source, preprocessing
    (the library default; {} for the project's own), fixed_input_size. Reads data files only."""
    return [_listed(entry) for entry in _entries().values()]


def is_known(name: str) -> bool:
    """Whether `name` is a catalogue entry or a Hugging Face image-classification type (no torch import)."""
    if name in _entries():
        return True
    if name == "huggingface":
        return True
    if name.startswith("huggingface/"):
        from attacks.library import index

        return name.removeprefix("huggingface/") in index()["huggingface_image_classification"]
    return False


def penultimate_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of the final linear layer for a batch: `forward_features` for the project's networks,
    timm's pooled pre-logits, else captured with a hook on the last nn.Linear (torchvision, Hugging Face); a
    network whose classifier is a convolution (torchvision's SqueezeNet: a 1×1 convolution to the classes) gives
    the input of its last convolution, averaged over space."""
    import torch
    from torch import nn

    through_preprocessing = getattr(model, "penultimate_features", None)
    if callable(through_preprocessing):  # the pre-processing wrapper (attacks/preprocess.py)
        return through_preprocessing(x)
    forward_features = getattr(model, "forward_features", None)
    forward_head = getattr(model, "forward_head", None)
    if callable(forward_features) and callable(forward_head):  # timm: features are maps, the head pools them
        return torch.flatten(forward_head(forward_features(x), pre_logits=True), 1)
    if callable(forward_features):
        return forward_features(x)
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    convolutions = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    if not linears and not convolutions:
        raise UserError(
            "This network has no final linear or convolutional layer, so its penultimate features cannot be read."
        )
    last = linears[-1] if linears else convolutions[-1]
    captured: list[torch.Tensor] = []
    handle = last.register_forward_hook(lambda _module, inputs, _output: captured.append(inputs[0]))
    try:
        model(x)
    finally:
        handle.remove()  # never leave hooks behind (ART's get_activations does, and leaks)
    features = captured[-1]
    if not linears:  # a convolutional classifier's input: feature maps, pooled as its output is
        features = torch.nn.functional.adaptive_avg_pool2d(features, 1)
    return torch.flatten(features, 1)
