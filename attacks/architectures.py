"""The architecture catalogue: which networks an uploaded state_dict can be loaded into.

The project's own architectures are data (attacks/catalogue/architectures.yaml, checked
against its JSON schema); their classes live in attacks/networks.py. torchvision's
classifiers are added when torchvision imports; nothing requires it.

Penultimate features: catalogue networks have `model.forward_features(x)` (N × feature_dim)
and `model.classifier` (the final nn.Linear); `penultimate_features(model, x)` works for
torchvision networks too. Importing this module does not import torch; building does.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from attacks.context import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
MAX_CLASSES = 100_000
TORCHVISION_PREFIX = "torchvision/"
_TORCHVISION_INPUT = {"inception_v3": (3, 299, 299)}


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    input_shape: tuple[int, ...]
    num_classes: int
    builder: str
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "riskapp"


def _own_entries() -> dict[str, Architecture]:
    from attacks.networks import BUILDERS

    document = yaml.safe_load((CATALOGUE_DIR / "architectures.yaml").read_text(encoding="utf-8"))
    schema = json.loads((CATALOGUE_DIR / "architectures.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)
    entries: dict[str, Architecture] = {}
    for item in document["architectures"]:
        if item["name"] in entries:
            raise ValueError(f"architectures.yaml: {item['name']!r} is listed twice")
        if item["builder"] not in BUILDERS:
            raise ValueError(f"architectures.yaml: {item['name']!r} names an unknown builder {item['builder']!r}")
        entries[item["name"]] = Architecture(
            name=item["name"],
            description=item["description"],
            input_shape=tuple(item["input_shape"]),
            num_classes=item["num_classes"],
            builder=item["builder"],
            options=item.get("options", {}),
        )
    return entries


def _torchvision_entries() -> dict[str, Architecture]:
    try:
        import torchvision.models as models
    except Exception:  # not installed, or a build that does not match torch: simply not offered
        return {}
    return {
        TORCHVISION_PREFIX + name: Architecture(
            name=TORCHVISION_PREFIX + name,
            description=f"torchvision {name} (untrained; upload its weights)",
            input_shape=_TORCHVISION_INPUT.get(name, (3, 224, 224)),
            num_classes=1000,
            builder="torchvision",
            options={"name": name},
            source="torchvision",
        )
        for name in models.list_models(module=models)
    }


@functools.cache
def _entries() -> dict[str, Architecture]:
    return {**_own_entries(), **_torchvision_entries()}


def architecture(name: str) -> Architecture:
    """The catalogue entry called `name`; UserError listing the known names otherwise."""
    entries = _entries()
    if name not in entries:
        known = ", ".join(sorted(entries))
        raise UserError(f"Unknown architecture {name!r}. Known architectures: {known}.")
    return entries[name]


def _check_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 2 <= num_classes <= MAX_CLASSES:
        raise UserError(f"The number of classes must be a whole number from 2 to {MAX_CLASSES}, not {num_classes!r}.")


def build(name: str, num_classes: int) -> nn.Module:
    """A freshly initialised network of the catalogue architecture `name` with `num_classes` outputs."""
    entry = architecture(name)
    _check_classes(num_classes)
    if entry.builder == "torchvision":
        import torchvision.models as models

        return models.get_model(entry.options["name"], weights=None, num_classes=num_classes)
    from attacks.networks import BUILDERS

    return BUILDERS[entry.builder](entry.input_shape, num_classes, **entry.options)


@functools.cache
def parameter_count(name: str, num_classes: int | None = None) -> int:
    """Parameters of `name` built for `num_classes` (default: the entry's), counted without allocating memory."""
    import torch

    entry = architecture(name)
    with torch.device("meta"):  # shapes only: even a large network counts instantly
        model = build(name, num_classes or entry.num_classes)
    return sum(parameter.numel() for parameter in model.parameters())


def catalogue() -> list[dict[str, Any]]:
    """Every architecture: name, description, input_shape, num_classes, parameters, source."""
    return [
        {
            "name": entry.name,
            "description": entry.description,
            "input_shape": list(entry.input_shape),
            "num_classes": entry.num_classes,
            "parameters": parameter_count(entry.name),
            "source": entry.source,
        }
        for entry in _entries().values()
    ]


def penultimate_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of the final linear layer for a batch: `forward_features` where the network has it,
    else captured with a hook on its last nn.Linear (torchvision classifiers)."""
    import torch
    from torch import nn

    forward_features = getattr(model, "forward_features", None)
    if callable(forward_features):
        return forward_features(x)
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise UserError("This network has no final linear layer, so its penultimate features cannot be read.")
    captured: list[torch.Tensor] = []
    handle = linears[-1].register_forward_hook(lambda _module, inputs, _output: captured.append(inputs[0]))
    try:
        model(x)
    finally:
        handle.remove()  # never leave hooks behind (ART's get_activations does, and leaks)
    return torch.flatten(captured[-1], 1)
