"""Engine task "hardening": make a hardened version of a model and measure it before and after.

Methods (docs/hardening.md):
- "finetune": every layer fine-tuned on clean training data, to weaken an inherited trigger;
- "adversarial": PGD adversarial training (Madry et al., ICLR 2018) at ε in the L∞ or L2 norm;
- "trades": TRADES (Zhang et al., ICML 2019) at ε, with its β;
- "fine-pruning": the last convolution's dormant units pruned, then fine-tuning (Liu et al., RAID 2018);
- "unlearn": Neural Cleanse unlearning (Wang et al., S&P 2019): clean images stamped with the flagged class's
  reversed trigger keep their true labels, and the network is fine-tuned on them with the rest of the data.

Before and after: clean accuracy on eval_path; the success of a known trigger (triggered_path: triggered images
with their true labels, target_class the trigger's class) or, without one, of the trigger Neural Cleanse reverses
for target_class; for the adversarial methods, robust accuracy at ε under APGD-CE + APGD-T (or the full
AutoAttack). Output: hardened.safetensors with the input's key names, the per-epoch history and a `card` saying how
the model was made. A checkpoint after every epoch (attacks.hardening.checkpoint) lets a stopped run resume.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.environment import PRECISIONS, resolve_precision
from attacks.evasion.lp import NORMS
from attacks.hardening import checkpoint as checkpoints
from attacks.hardening.measure import (
    ROBUST_EVALUATIONS,
    clean_accuracy,
    input_box,
    robust_accuracy,
    stamp,
    trigger_success,
)
from attacks.hardening.methods import ADVERSARIAL_METHODS, METHODS
from attacks.hardening.training import EpochLoop, Recipe
from attacks.params import choice_param, float_param, int_param
from attacks.scan import file_sha256

if TYPE_CHECKING:
    import torch
    from torch import nn

SCHEMA = "riskapp.hardening/1"
WEIGHTS_FILE = "hardened.safetensors"
# Per method: the training loss (attacks.hardening.training) and its default learning rate (Adam).
METHOD_LOSS = {
    "finetune": "clean",
    "adversarial": "pgd",
    "trades": "trades",
    "fine-pruning": "clean",
    "unlearn": "clean",
}
DEFAULT_LEARNING_RATE = {
    "finetune": 1e-2,
    "adversarial": 1e-3,
    "trades": 1e-3,
    "fine-pruning": 1e-3,
    "unlearn": 1e-3,
}
DESCRIPTIONS = {
    "finetune": "all layers fine-tuned on clean data",
    "adversarial": "PGD adversarial fine-tuning (Madry et al. 2018)",
    "trades": "TRADES adversarial fine-tuning (Zhang et al. 2019)",
    "fine-pruning": "fine-pruning: dormant units pruned, then fine-tuned (Liu et al. 2018)",
    "unlearn": "Neural Cleanse unlearning of the reversed trigger (Wang et al. 2019)",
}
ROBUST_NAMES = {"apgd": "APGD-CE + APGD-T", "autoattack": "AutoAttack (APGD-CE, APGD-T, FAB-T, Square)"}
DEFAULT_EPOCHS = 5
# Neural Cleanse unlearning stamps this share of the training images (Wang et al. used 20 %).
DEFAULT_UNLEARN_FRACTION = 0.2
# Fine-pruning keeps pruning while clean accuracy stays within this of the unpruned model's (Liu et al.: 4 %).
DEFAULT_MAX_ACCURACY_DROP = 0.05
PRUNING_VALIDATION_SAMPLES = 1000


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters, checked, with every default filled in (they are part of the checkpoint's key)."""
    from attacks.backdoor.cleanse import DEFAULT_STEPS

    method = params.get("method")
    if method not in METHODS:
        raise UserError(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
    adversarial = method in ADVERSARIAL_METHODS
    eps = params.get("eps")
    if adversarial or eps is not None:
        try:
            eps = float(eps) if eps is not None else None
        except (TypeError, ValueError):
            raise UserError(f"eps must be a number, not {params.get('eps')!r}.") from None
        if eps is None or not eps > 0:
            raise UserError(f"{method} needs eps, the perturbation budget, greater than 0 (e.g. 8/255 ≈ 0.031).")
    target = params.get("target_class")
    settings = {
        "method": method,
        "epochs": int_param(params, "epochs", DEFAULT_EPOCHS, 1, 1000),
        "learning_rate": float_param(params, "learning_rate", DEFAULT_LEARNING_RATE[method], 1e-8, 10.0),
        "weight_decay": float_param(params, "weight_decay", 0.0, 0.0, 1.0),
        "batch_size": int_param(params, "batch_size", 64, 1, 4096),
        "seed": int_param(params, "seed", 0, 0, 2**32 - 1),
        "sample_limit": int_param(params, "sample_limit", 0, 0, 10**9),
        "eval_limit": int_param(params, "eval_limit", 1000, 0, 10**9),
        "eps": eps,
        "norm": choice_param(params, "norm", "inf", NORMS),
        "attack_steps": int_param(params, "attack_steps", 10, 1, 1000),
        "beta": float_param(params, "beta", 6.0, 0.0, 100.0),
        "robust_evaluation": choice_param(params, "robust_evaluation", "apgd", tuple(ROBUST_EVALUATIONS)),
        "eval_steps": int_param(params, "eval_steps", 100, 1, 10_000),
        "robust_limit": int_param(params, "robust_limit", 500, 1, 10**9),
        "target_class": None if target is None or target == "" else int_param(params, "target_class", 0, 0, 10**5),
        "cleanse_steps": int_param(params, "cleanse_steps", DEFAULT_STEPS, 1, 100_000),
        "unlearn_fraction": float_param(params, "unlearn_fraction", DEFAULT_UNLEARN_FRACTION, 0.01, 1.0),
        "max_accuracy_drop": float_param(params, "max_accuracy_drop", DEFAULT_MAX_ACCURACY_DROP, 0.0, 1.0),
        # The training attack's passes (attacks.hardening.training): "auto" is resolved on the worker that runs it.
        "precision": choice_param(params, "precision", "auto", PRECISIONS),
    }
    if method == "unlearn" and settings["target_class"] is None:
        raise UserError("Unlearning needs target_class, the class a backdoor scan flagged.")
    if params.get("triggered_path") and settings["target_class"] is None:
        raise UserError("A triggered set needs target_class, the class its trigger sends inputs to.")
    if not adversarial:  # ε and the attack settings play no part: keep them out of the key and the card
        for key in ("eps", "attack_steps", "beta", "robust_evaluation", "eval_steps", "robust_limit", "precision"):
            settings[key] = None
        settings["norm"] = None
    if method != "trades":
        settings["beta"] = None
    if method != "unlearn":
        settings["unlearn_fraction"] = None
    if method != "fine-pruning":
        settings["max_accuracy_drop"] = None
    return settings


def _subset(x: np.ndarray, y: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from attacks.backdoor.common import subsample

    chosen = subsample(len(x), limit, seed)
    return x[chosen], y[chosen]


def _network(model: nn.Module) -> nn.Module:
    """The catalogue network inside its pre-processing wrapper: its state_dict has the uploaded file's keys."""
    from attacks.networks import Preprocessed

    return model.network if isinstance(model, Preprocessed) else model


def _rng_state(generator: torch.Generator, device: str) -> dict[str, torch.Tensor]:
    import torch

    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device == "cuda":
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _restore_rng(generator: torch.Generator, state: dict[str, torch.Tensor], device: str) -> None:
    import torch

    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if device == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])


def _reverse_trigger(
    model: nn.Module, x: np.ndarray, target: int, steps: int, seed: int, ctx: RunContext
) -> dict[str, torch.Tensor]:
    """Neural Cleanse's trigger for `target` (mask and pattern), reversed on clean images."""
    import torch

    from attacks.backdoor.cleanse import reverse_triggers

    def on_step(done: int, total: int) -> None:
        ctx.progress(1 + 4 * done / total, f"Reversing the trigger of class {target}: step {done}/{total}")

    model.eval().requires_grad_(False)
    reversed_ = reverse_triggers(model, x, [target], steps=steps, seed=seed, ctx=ctx, on_step=on_step)
    model.requires_grad_(True)
    return {
        "trigger_mask": torch.from_numpy(reversed_.masks[0]),
        "trigger_pattern": torch.from_numpy(reversed_.patterns[0]),
    }


def _unlearning_set(
    x: np.ndarray, y: np.ndarray, prepared: dict[str, torch.Tensor], fraction: float, seed: int
) -> tuple[np.ndarray, int]:
    """The training images with `fraction` of them stamped with the reversed trigger (labels unchanged)."""
    rng = np.random.default_rng(seed + 1)
    chosen = rng.choice(len(x), size=max(1, round(fraction * len(x))), replace=False)
    x = x.copy()
    x[chosen] = stamp(x[chosen], prepared["trigger_mask"].numpy(), prepared["trigger_pattern"].numpy())
    return x, len(chosen)


def _measure(
    model: nn.Module,
    s: dict[str, Any],
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    prepared: dict[str, torch.Tensor],
    ctx: RunContext,
    span: tuple[float, float],
    label: str,
) -> dict[str, Any]:
    """Clean accuracy, and trigger success and robust accuracy where the run has them."""
    from attacks.memory import fit_batch

    model.eval()
    x_eval, y_eval = data["evaluation"]
    numbers: dict[str, Any] = {"clean_accuracy": clean_accuracy(model, x_eval, y_eval)}
    target = s["target_class"]
    if "triggered" in data:
        numbers["trigger_success"] = trigger_success(model, *data["triggered"], target)
    if "trigger_mask" in prepared:
        stamped = stamp(x_eval, prepared["trigger_mask"].numpy(), prepared["trigger_pattern"].numpy())
        numbers["reversed_trigger_success"] = trigger_success(model, stamped, y_eval, target)
    if s["eps"] is not None:
        x_robust, y_robust = data["robust"]
        batch = fit_batch(256, model, tuple(x_robust.shape[1:]), _device(model), gradient=True).batch_size
        numbers["robust_accuracy"] = robust_accuracy(
            model,
            x_robust,
            y_robust,
            eps=s["eps"],
            norm=s["norm"],
            evaluation=s["robust_evaluation"],
            steps=s["eval_steps"],
            seed=s["seed"],
            batch_size=batch,
            ctx=ctx,
            span=span,
            label=label,
        )
    return numbers


def _device(model: nn.Module) -> str:
    from attacks.backdoor.common import device_of

    return str(device_of(model))


def _load_inputs(params: dict[str, Any], s: dict[str, Any]) -> tuple[Any, dict[str, tuple[np.ndarray, np.ndarray]]]:
    from attacks.backdoor.common import load_classifier, load_data
    from attacks.scanners.sniff import sniff_file

    if params.get("model_path") and sniff_file(Path(params["model_path"])) == "onnx":
        raise UserError(
            "Hardening trains the model's weights, which an ONNX graph does not expose: upload its PyTorch weights "
            "(safetensors or a state_dict) with the architecture."
        )
    loaded = load_classifier(params)
    if loaded.arch.startswith("huggingface"):
        raise UserError(
            "Hardening writes catalogue weights (safetensors); a Hugging Face model folder cannot be hardened here."
        )
    x, y, _ = load_data(params, "data_path", loaded)
    x_eval, y_eval, _ = load_data(params, "eval_path", loaded)
    data = {
        "training": _subset(x, y, s["sample_limit"], s["seed"]),
        "evaluation": _subset(x_eval, y_eval, s["eval_limit"], s["seed"]),
    }
    if params.get("triggered_path"):
        x_trig, y_trig, _ = load_data(params, "triggered_path", loaded)
        data["triggered"] = _subset(x_trig, y_trig, s["eval_limit"], s["seed"])
    if s["eps"] is not None:
        data["robust"] = _subset(x_eval, y_eval, s["robust_limit"], s["seed"])
    if s["target_class"] is not None and s["target_class"] >= loaded.num_classes:
        raise UserError(f"target_class must be a class of the model (0 to {loaded.num_classes - 1}).")
    return loaded, data


def _file_entry(path: Any, samples: int) -> dict[str, Any]:
    return {"file": Path(str(path)).name, "samples": int(samples), "sha256": file_sha256(Path(path))}


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "hardening" (the module's docstring)."""
    import torch

    from attacks.backdoor.common import pick_device
    from attacks.hardening import pruning
    from attacks.loading import save_safetensors

    started = time.perf_counter()
    s = _settings(params)
    ctx.progress(1, "Loading the model and data")
    loaded, data = _load_inputs(params, s)
    model, device = loaded.model, pick_device()
    network = _network(model)
    files = {
        "model": _file_entry(params["model_path"], 1),
        "training": _file_entry(params["data_path"], len(data["training"][1])),
    }
    files["evaluation"] = _file_entry(params["eval_path"], len(data["evaluation"][1]))
    if "triggered" in data:
        files["triggered"] = _file_entry(params["triggered_path"], len(data["triggered"][1]))
    key = checkpoints.run_key(
        {name: entry["sha256"] for name, entry in files.items()},
        {**s, "arch": loaded.arch, "num_classes": loaded.num_classes, "preprocessing": loaded.preprocessing.as_dict()},
    )
    folder = Path(params.get("checkpoint_dir") or ctx.output_dir / "checkpoint")
    saved = checkpoints.load(folder, key)
    model.to(device).requires_grad_(True)
    x_train, y_train = data["training"]
    generator = torch.Generator().manual_seed(s["seed"])
    method = s["method"]
    prune: tuple[str, Any, Any] | None = pruning.prunable_layer(network) if method == "fine-pruning" else None

    if saved is None:
        prepared: dict[str, torch.Tensor] = {}
        extra: dict[str, Any] = {}
        if method == "unlearn" or (s["target_class"] is not None and "triggered" not in data):
            prepared.update(_reverse_trigger(model, x_train, s["target_class"], s["cleanse_steps"], s["seed"], ctx))
        ctx.check_cancel()
        before = _measure(model, s, data, prepared, ctx, (5, 15), "before")
        if prune is not None:
            ctx.progress(15, "Pruning dormant units")
            x_val, y_val = _subset(x_train, y_train, PRUNING_VALIDATION_SAMPLES, s["seed"])
            keep, extra["pruning"] = pruning.choose_pruning(
                model, prune[1], prune[2], x_val, y_val, max_accuracy_drop=s["max_accuracy_drop"], ctx=ctx
            )
            extra["pruning"]["layer"] = prune[0]
            extra["pruned"] = _measure(model, {**s, "eps": None}, data, prepared, ctx, (15, 15), "pruned")
            prepared["prune_keep"] = keep
        torch.manual_seed(s["seed"])  # layers that draw random numbers (dropout) start the same on every run
        history: list[dict[str, Any]] = []
        start_epoch = 0
    else:
        network.load_state_dict(saved.model)
        prepared, before, extra = saved.prepared, saved.data["before"], saved.data["extra"]
        history, start_epoch = saved.data["history"], saved.epoch
    model.to(device)

    x_fit, stamped = x_train, 0
    if method == "unlearn":
        x_fit, stamped = _unlearning_set(x_train, y_train, prepared, s["unlearn_fraction"], s["seed"])
        extra["unlearning"] = {"stamped_samples": stamped, "fraction": s["unlearn_fraction"]}

    def after_step() -> None:
        if prune is not None:
            pruning.apply(prune[1], prune[2], prepared["prune_keep"].to(device))

    recipe = Recipe(
        loss=METHOD_LOSS[method],
        epochs=s["epochs"],
        learning_rate=s["learning_rate"],
        weight_decay=s["weight_decay"],
        batch_size=s["batch_size"],
        eps=s["eps"] or 0.0,
        norm=s["norm"] or "inf",
        attack_steps=s["attack_steps"] or 0,
        beta=s["beta"] or 0.0,
        clip=input_box(x_train),
        precision=resolve_precision(s["precision"], device) if s["precision"] else "float32",
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    if saved is not None:
        optimiser.load_state_dict(saved.optimiser)
        _restore_rng(generator, saved.rng, device)

    def on_epoch_end(epoch: int, so_far: list[dict[str, Any]]) -> None:
        state = checkpoints.Checkpoint(
            epoch=epoch,
            model=network.state_dict(),
            optimiser=optimiser.state_dict(),
            rng=_rng_state(generator, device),
            prepared=prepared,
            data={"before": before, "extra": extra, "history": so_far},
        )
        checkpoints.save(folder, key, state)

    loop = EpochLoop(
        model=model,
        optimiser=optimiser,
        generator=generator,
        x=x_fit,
        y=y_train,
        recipe=recipe,
        device=device,
        ctx=ctx,
        after_step=after_step,
        evaluate=lambda: clean_accuracy(model, *data["evaluation"]),
        on_epoch_end=on_epoch_end,
        span=(15.0, 85.0),
    )
    history = loop.run(start_epoch, history)

    after = _measure(model, s, data, prepared, ctx, (85, 98), "after")
    ctx.progress(98, "Writing the hardened weights")
    weights = ctx.output_dir / WEIGHTS_FILE
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    save_safetensors({name: value.cpu() for name, value in network.state_dict().items()}, weights)
    checkpoints.remove(folder)
    weights_sha = file_sha256(weights)
    trigger = None
    if s["target_class"] is not None:
        trigger = {
            "target_class": s["target_class"],
            "known": "triggered" in data,
            "reversed": "trigger_mask" in prepared,
            "reversed_mask_l1": round(float(prepared["trigger_mask"].sum()), 4) if "trigger_mask" in prepared else None,
        }
    robust = None
    if s["eps"] is not None:
        robust = {
            "evaluation": s["robust_evaluation"],
            "attacks": ROBUST_NAMES[s["robust_evaluation"]],
            "eps": s["eps"],
            "norm": s["norm"],
            "steps": s["eval_steps"],
        }
    attack = None
    if method in ADVERSARIAL_METHODS:
        # How x′ was found in training; every accuracy above is measured in float32.
        attack = {"steps": s["attack_steps"], "precision": recipe.precision}
    card = {
        "hardening": method,
        "description": DESCRIPTIONS[method],
        "source_model_sha256": files["model"]["sha256"],
        "data_sha256": files["training"]["sha256"],
        "eps": s["eps"],
        "norm": s["norm"],
        "epochs": s["epochs"],
        "learning_rate": s["learning_rate"],
        "seed": s["seed"],
        "target_class": s["target_class"],
        "weights_sha256": weights_sha,
    }
    ctx.progress(100, "Done")
    return {
        "schema": SCHEMA,
        "method": method,
        "description": DESCRIPTIONS[method],
        "arch": loaded.arch,
        "num_classes": loaded.num_classes,
        "preprocessing": loaded.preprocessing.as_dict(),
        "parameters": {name: value for name, value in s.items() if value is not None},
        "optimiser": {"name": "adam", "learning_rate": s["learning_rate"], "weight_decay": s["weight_decay"]},
        "epochs": s["epochs"],
        "resumed_from_epoch": start_epoch,
        "history": history,
        "before": before,
        "after": after,
        **({"pruned": extra["pruned"], "pruning": extra["pruning"]} if "pruning" in extra else {}),
        **({"unlearning": extra["unlearning"]} if "unlearning" in extra else {}),
        "trigger": trigger,
        "robust_evaluation": robust,
        "training_attack": attack,
        "data": {name: entry for name, entry in files.items() if name != "model"},
        "weights": {"file": WEIGHTS_FILE, "sha256": weights_sha, "tensors": len(network.state_dict())},
        "card": card,
        "device": device,
        "seconds": round(time.perf_counter() - started, 3),
    }
