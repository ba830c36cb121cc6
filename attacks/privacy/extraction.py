"""Model extraction: how closely a copy trained on the model's answers to a budget of queries imitates it.

KnockoffNets-style (Orekondy et al., 2019) with random selection: the attacker sends images from a public or
surrogate set (`query_path`; its labels are never read) to the model under test, keeps its answers (the top-1
label, or the whole probability vector when the model exposes scores: `victim_output`) and trains a copy on
them. When the model's backbone is public, the copy can start from that public teacher's weights
(`copy_weights`) instead of a fresh network. For each budget in `budgets` a copy is trained on the first
`budget` queries of one fixed random order (so a larger budget holds every query of a smaller one), from the same
start and for the same number of optimiser steps; it is then measured on a labelled evaluation set
(`eval_path`): agreement with the model under test (the fraction of images both label alike) and its own
accuracy. The evaluation set's answers are not counted in the budget.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.params import choice_param, float_param, int_param
from attacks.privacy.models import (
    BlackBox,
    Recipe,
    file_name,
    fit_recipe,
    fresh_network,
    load_black_box,
    torch_predictor,
    train,
)

SCHEMA = "riskapp.extraction/1"
VICTIM_OUTPUTS = ("label", "probabilities")
MAX_BUDGETS = 16
DEFAULT_STEPS = 500


def budgets_param(params: dict[str, Any], available: int) -> list[int]:
    """The query budgets, ascending and distinct; each between 1 and the query set's size."""
    raw = params.get("budgets")
    values = raw if isinstance(raw, list | tuple) else [raw] if raw not in (None, "") else []
    if not values:
        raise UserError("budgets is required: a list of query counts, e.g. [100, 500, 1000].")
    budgets: list[int] = []
    for value in values:
        try:
            budget = int(value)
        except (TypeError, ValueError):
            raise UserError(f"Each budget must be a whole number of queries, not {value!r}.") from None
        if budget < 1:
            raise UserError(f"Each budget must be at least 1 query, not {budget}.")
        if budget > available:
            raise UserError(
                f"The budget {budget} is larger than the query set ({available} images): upload more public "
                "images or lower the budget."
            )
        budgets.append(budget)
    budgets = sorted(set(budgets))
    if len(budgets) > MAX_BUDGETS:
        raise UserError(f"At most {MAX_BUDGETS} budgets, not {len(budgets)}.")
    return budgets


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


def _measure(model: Any, device: str, x_eval: np.ndarray, y_eval: np.ndarray, victim_labels: np.ndarray) -> dict:
    predicted = torch_predictor(model, device)(x_eval).argmax(axis=1)
    return {
        "agreement": float((predicted == victim_labels).mean()),
        "accuracy": float((predicted == y_eval).mean()),
    }


def _start_model(params: dict[str, Any], arch: str, num_classes: int) -> tuple[Any, dict[str, Any] | None]:
    """The copy's starting network: a public teacher's weights when copy_weights is given, else fresh."""
    if not params.get("copy_weights"):
        return fresh_network(arch, num_classes), None
    from pathlib import Path

    from attacks.loading import load_network

    loaded = load_network(Path(params["copy_weights"]), arch, num_classes, params.get("copy_preprocessing") or None)
    return loaded.model, {"path": Path(params["copy_weights"]).name, "arch": loaded.arch}


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "extraction". Params: model_path, arch, num_classes, preprocessing (the model under test);
    query_path (public images to query with), eval_path (labelled evaluation set), budgets (list of query
    counts), victim_output ("label" or "probabilities"), copy_arch (default arch; needed for ONNX),
    copy_weights (optional public teacher to start from), steps, learning_rate, weight_decay, batch_size, seed."""
    import torch

    from attacks.backdoor.common import pick_device

    started = time.perf_counter()
    output = choice_param(params, "victim_output", "label", VICTIM_OUTPUTS)
    steps = int_param(params, "steps", DEFAULT_STEPS, 1, 1_000_000)
    recipe = Recipe(
        epochs=0,
        learning_rate=float_param(params, "learning_rate", 1e-3, 1e-7, 10.0),
        weight_decay=float_param(params, "weight_decay", 0.0, 0.0, 10.0),
        batch_size=int_param(params, "batch_size", 64, 1, 8192),
    )
    seed = int_param(params, "seed", 0, 0, 2**32 - 1)
    ctx.progress(1, "Loading the model and data")
    victim: BlackBox = load_black_box(params)
    arch = params.get("copy_arch") or victim.described.get("arch")
    if not arch:
        raise UserError("The copy needs an architecture to train: give copy_arch (the ONNX model's network).")
    x_query, _ = victim.load_dataset(params.get("query_path"), "query_path")
    x_eval, y_eval = victim.load_dataset(params.get("eval_path"), "eval_path")
    budgets = budgets_param(params, len(x_query))

    order = np.random.default_rng(seed).permutation(len(x_query))[: budgets[-1]]
    queried = x_query[order]
    answers = victim.query(queried)
    if answers.ndim != 2 or answers.shape[1] != victim.num_classes:
        raise UserError(f"The model returned outputs of shape {answers.shape}, not N × {victim.num_classes}.")
    targets = answers.argmax(axis=1) if output == "label" else _softmax(answers)
    victim_eval = victim.predict_logits(x_eval).argmax(axis=1)

    device = pick_device()
    torch.manual_seed(seed)
    start, teacher = _start_model(params, str(arch), victim.num_classes)
    recipe, memory = fit_recipe(recipe, start, x_query.shape[1:], device)
    initial = _measure(start.to(device).eval(), device, x_eval, y_eval, victim_eval) if teacher else None
    rows = []
    for i, budget in enumerate(budgets):
        ctx.progress(5 + 93 * i / len(budgets), f"Training the copy on {budget} queries")
        began = time.perf_counter()
        model = copy.deepcopy(start)
        train(model, queried[:budget], targets[:budget], recipe, seed=seed + i, device=device, ctx=ctx, steps=steps)
        rows.append(
            {
                "budget": budget,
                **_measure(model, device, x_eval, y_eval, victim_eval),
                "seconds": round(time.perf_counter() - began, 3),
            }
        )
    ctx.progress(100, "Done")
    return {
        "schema": SCHEMA,
        "task": "extraction",
        "method": "knockoff_random",
        "model": victim.described,
        "data": {
            "query": {"path": file_name(params["query_path"]), "samples": int(len(x_query))},
            "evaluation": {"path": file_name(params["eval_path"]), "samples": int(len(x_eval))},
        },
        "victim_output": output,
        "victim_accuracy": float((victim_eval == y_eval).mean()),
        "copy": {
            "arch": str(arch),
            "start": "public_teacher" if teacher else "scratch",
            "teacher": teacher,
            "initial": initial,
            "steps": steps,
            "recipe": {**recipe.as_dict(), "epochs": None},
        },
        "budgets": rows,
        "queries": victim.queries,
        "device": device,
        "memory": memory,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 3),
    }
