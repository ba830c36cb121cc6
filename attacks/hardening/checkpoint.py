"""Per-epoch checkpoints of a hardening run, as safetensors + JSON (never pickle).

A checkpoint holds the network's weights, the optimiser's state, the epoch reached, the random generators' states,
the tensors the method prepared before training (a pruning mask, a reversed trigger) and the plain data gathered so
far (the "before" numbers, the per-epoch history). Its `key` is a hash of the run's inputs and parameters: a run
resumes only from a checkpoint of the very same job, and ignores any other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "checkpoint.safetensors"
STATE_FILE = "checkpoint.json"
FORMAT = "riskapp.hardening-checkpoint/1"


def run_key(file_hashes: dict[str, str], params: dict[str, Any]) -> str:
    """What identifies a run: the inputs' hashes and every parameter that changes its outcome."""
    text = json.dumps({"files": file_hashes, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Checkpoint:
    epoch: int
    model: dict[str, torch.Tensor]
    optimiser: dict[str, Any]
    rng: dict[str, torch.Tensor]
    prepared: dict[str, torch.Tensor] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def _optimiser_tensors(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch's optimiser state_dict split into tensors (per parameter) and JSON (hyper-parameters, scalars)."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimiser.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimiser_state(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in plain["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": plain["param_groups"]}


def save(folder: Path, key: str, checkpoint: Checkpoint) -> None:
    """Write the checkpoint; the JSON goes last and by rename, so a kill mid-write leaves the previous epoch's."""
    from attacks.loading import save_safetensors

    folder.mkdir(parents=True, exist_ok=True)
    optimiser_tensors, optimiser_plain = _optimiser_tensors(checkpoint.optimiser)
    tensors = {f"model.{name}": value for name, value in checkpoint.model.items()}
    tensors.update(optimiser_tensors)
    tensors.update({f"rng.{name}": value for name, value in checkpoint.rng.items()})
    tensors.update({f"prepared.{name}": value for name, value in checkpoint.prepared.items()})
    weights = f"{WEIGHTS_FILE}.epoch-{checkpoint.epoch}"
    save_safetensors({name: value.cpu() for name, value in tensors.items()}, folder / weights)
    document = {
        "format": FORMAT,
        "key": key,
        "epoch": checkpoint.epoch,
        "weights": weights,
        "optimiser": optimiser_plain,
        "data": checkpoint.data,
    }
    partial = folder / f"{STATE_FILE}.partial"
    partial.write_text(json.dumps(document, sort_keys=True))
    os.replace(partial, folder / STATE_FILE)
    for old in folder.glob(f"{WEIGHTS_FILE}.epoch-*"):  # earlier epochs' weights are no longer referenced
        if old.name != weights:
            old.unlink()


def load(folder: Path, key: str) -> Checkpoint | None:
    """The checkpoint in `folder` when it belongs to the run `key`; None when there is none or another run's."""
    from safetensors.torch import load_file

    try:
        document = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if document.get("format") != FORMAT or document.get("key") != key:
        return None
    path = folder / str(document.get("weights", ""))
    if path.parent != folder or not path.is_file():
        return None
    tensors = load_file(str(path))
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}, "optimiser": {}, "rng": {}, "prepared": {}}
    for name, value in tensors.items():
        group, rest = name.split(".", 1)
        parts[group][rest if group != "optimiser" else name] = value
    return Checkpoint(
        epoch=int(document["epoch"]),
        model=parts["model"],
        optimiser=_optimiser_state(parts["optimiser"], document["optimiser"]),
        rng=parts["rng"],
        prepared=parts["prepared"],
        data=document["data"],
    )


def remove(folder: Path) -> None:
    """Delete a finished run's checkpoint files (the folder too when nothing else is in it)."""
    for path in [folder / STATE_FILE, *folder.glob(f"{WEIGHTS_FILE}.epoch-*")]:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
