"""Membership inference: LiRA (Carlini et al., "Membership Inference Attacks From First Principles", 2022) with
shadow models that the engine trains on the data it is given.

The model under test is queried once on every member (a sample of its training set) and non-member (held-out
data). Shadow models of the same architecture, trained with the same recipe as the target, each see a random
part of the pooled members and non-members; every sample is inside the training set of exactly `in` of the K
shadows and outside the others, with `in` ≈ K·members/(members + non-members) so a shadow sees about as many
samples as the target did. For each sample the shadows' logit-scaled confidence φ = log p_y − log(1 − p_y)
gives a Gaussian for "trained on it" and one for "not trained on it" (per-sample means, one variance per side
pooled over samples: the paper's choice for few shadows); the attack's score is the log-likelihood ratio of the
target's φ under the two. Its cost is K trainings of the target's architecture on about as many samples as the
target's training set.

Scores are evaluated as a membership classifier (attacks.privacy.roc): AUC and TPR at 1 % and 0.1 % FPR with
bootstrap intervals. The uncalibrated attack (the target's φ alone, a confidence threshold) is reported beside
it as the baseline the calibration improves on.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.params import float_param, int_param
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
from attacks.privacy.roc import auc, membership_metrics, tpr_at_fpr

SCHEMA = "riskapp.membership-inference/1"
FPR_LEVELS = (0.01, 0.001)
MIN_SAMPLES = 20
DEFAULT_SHADOWS = 16
DEFAULT_BOOTSTRAP = 1000
MIN_SIGMA = 1e-3
MODEL_INVERSION = {
    "tested": False,
    "reason": "riskapp does not test model inversion for image classifiers: no reconstruction attack here "
    "has a measurable success criterion that would make its result evidence.",
}


def logit_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """φ = log p_y − log(1 − p_y) = z_y − logsumexp_{j≠y} z_j, computed from the logits without overflow."""
    z = logits.astype(np.float64)
    rows = np.arange(len(z))
    true = z[rows, labels]
    others = z.copy()
    others[rows, labels] = -np.inf
    top = others.max(axis=1, keepdims=True)
    rest = top[:, 0] + np.log(np.exp(others - top).sum(axis=1))
    return true - rest


def shadow_assignment(samples: int, shadows: int, members: int, seed: int) -> np.ndarray:
    """K × N booleans: which samples each shadow trains on; every sample is in exactly the same number."""
    inside = min(shadows - 1, max(1, round(shadows * members / samples)))
    rng = np.random.default_rng(seed)
    return rng.random((shadows, samples)).argsort(axis=0) < inside


def _gaussian_log_pdf(x: np.ndarray, mean: np.ndarray, sigma: float) -> np.ndarray:
    return -0.5 * ((x - mean) / sigma) ** 2 - math.log(sigma)


def lira_scores(target_phi: np.ndarray, shadow_phi: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, dict]:
    """Likelihood-ratio scores (higher: more likely a member) from the shadows' φ (K × N) and `keep`."""
    inside, outside = keep.sum(axis=0), (~keep).sum(axis=0)
    mean_in = np.where(keep, shadow_phi, 0).sum(axis=0) / inside
    mean_out = np.where(~keep, shadow_phi, 0).sum(axis=0) / outside
    residual_out = (shadow_phi - mean_out)[~keep]
    sigma_out = max(float(np.sqrt((residual_out**2).sum() / max(1, residual_out.size - keep.shape[1]))), MIN_SIGMA)
    if int(inside.min()) >= 2:
        residual_in = (shadow_phi - mean_in)[keep]
        sigma_in = max(float(np.sqrt((residual_in**2).sum() / max(1, residual_in.size - keep.shape[1]))), MIN_SIGMA)
    else:  # one shadow per sample inside: no spread to measure, take the outside one
        sigma_in = sigma_out
    scores = _gaussian_log_pdf(target_phi, mean_in, sigma_in) - _gaussian_log_pdf(target_phi, mean_out, sigma_out)
    return scores, {"sigma_in": sigma_in, "sigma_out": sigma_out}


def _limited(x: np.ndarray, y: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from attacks.validate import sample_indices

    chosen = sample_indices(len(x), limit, seed)
    return x[chosen], y[chosen]


def _recipe(params: dict[str, Any]) -> Recipe:
    return Recipe(
        epochs=int_param(params, "epochs", 20, 1, 10_000),
        learning_rate=float_param(params, "learning_rate", 1e-3, 1e-7, 10.0),
        weight_decay=float_param(params, "weight_decay", 0.0, 0.0, 10.0),
        batch_size=int_param(params, "batch_size", 64, 1, 8192),
    )


def _accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == y).mean())


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "membership_inference". Params: model_path, arch, num_classes, preprocessing, members_path
    (a sample of the training set), non_members_path (held-out data), shadow_arch (default arch; needed for
    ONNX), shadow_models, epochs, learning_rate, weight_decay, batch_size (the target's training recipe),
    sample_limit (per set, 0: all), bootstrap, seed."""
    from attacks.backdoor.common import pick_device

    started = time.perf_counter()
    shadows = int_param(params, "shadow_models", DEFAULT_SHADOWS, 2, 256)
    recipe = _recipe(params)
    limit = int_param(params, "sample_limit", 0, 0, 10**7)
    resamples = int_param(params, "bootstrap", DEFAULT_BOOTSTRAP, 100, 100_000)
    seed = int_param(params, "seed", 0, 0, 2**32 - 1)
    ctx.progress(1, "Loading the model and data")
    target: BlackBox = load_black_box(params)
    shadow_arch = params.get("shadow_arch") or target.described.get("arch")
    if not shadow_arch:
        raise UserError("Shadow models need an architecture to train: give shadow_arch (the ONNX model's network).")
    x_in, y_in = _limited(*target.load_dataset(params.get("members_path"), "members_path"), limit, seed)
    x_out, y_out = _limited(*target.load_dataset(params.get("non_members_path"), "non_members_path"), limit, seed + 1)
    if min(len(x_in), len(x_out)) < MIN_SAMPLES:
        raise UserError(
            f"Membership inference needs at least {MIN_SAMPLES} members and {MIN_SAMPLES} non-members "
            f"(got {len(x_in)} and {len(x_out)})."
        )
    if x_in.shape[1:] != x_out.shape[1:]:
        raise UserError(f"Members have samples of shape {x_in.shape[1:]}, non-members {x_out.shape[1:]}.")
    x, y = np.concatenate([x_in, x_out]), np.concatenate([y_in, y_out])
    is_member = np.r_[np.ones(len(x_in), bool), np.zeros(len(x_out), bool)]

    target_logits = target.query(x)
    if target_logits.ndim != 2 or target_logits.shape[1] != target.num_classes:
        raise UserError(f"The model returned outputs of shape {target_logits.shape}, not N × {target.num_classes}.")
    target_phi = logit_confidence(target_logits, y)

    device = pick_device()
    recipe, memory = fit_recipe(recipe, fresh_network(str(shadow_arch), target.num_classes), x.shape[1:], device)
    keep = shadow_assignment(len(x), shadows, len(x_in), seed)
    shadow_phi = np.empty((shadows, len(x)))
    shadow_accuracy = {"trained_on": [], "held_out": []}
    import torch

    for k in range(shadows):
        ctx.progress(5 + 88 * k / shadows, f"Training shadow model {k + 1}/{shadows}")
        torch.manual_seed(seed * 1000 + k)
        model = fresh_network(str(shadow_arch), target.num_classes)
        train(model, x[keep[k]], y[keep[k]], recipe, seed=seed * 1000 + k, device=device, ctx=ctx)
        logits = torch_predictor(model, device)(x)
        shadow_phi[k] = logit_confidence(logits, y)
        shadow_accuracy["trained_on"].append(_accuracy(logits[keep[k]], y[keep[k]]))
        shadow_accuracy["held_out"].append(_accuracy(logits[~keep[k]], y[~keep[k]]))
    ctx.progress(94, "Scoring")
    scores, spread = lira_scores(target_phi, shadow_phi, keep)
    metrics = membership_metrics(scores[is_member], scores[~is_member], FPR_LEVELS, resamples=resamples, seed=seed)
    baseline = {
        "method": "confidence threshold on the target's φ alone (no shadow models)",
        "auc": auc(target_phi[is_member], target_phi[~is_member]),
        "tpr_at_fpr": [
            {"fpr": e["fpr"], "tpr": tpr_at_fpr(target_phi[is_member], target_phi[~is_member], e["fpr"])[0]}
            if e["reportable"]
            else {"fpr": e["fpr"], "tpr": None}
            for e in metrics["tpr_at_fpr"]
        ],
    }
    ctx.progress(100, "Done")
    return {
        "schema": SCHEMA,
        "task": "membership_inference",
        "method": "lira_online",
        "model": target.described,
        "data": {
            "members": {"path": file_name(params["members_path"]), "samples": int(len(x_in))},
            "non_members": {"path": file_name(params["non_members_path"]), "samples": int(len(x_out))},
        },
        "members": int(len(x_in)),
        "non_members": int(len(x_out)),
        "target_accuracy": {
            "members": _accuracy(target_logits[is_member], y_in),
            "non_members": _accuracy(target_logits[~is_member], y_out),
        },
        "shadow_models": {
            "count": shadows,
            "arch": str(shadow_arch),
            "trained_on_per_sample": int(keep[:, 0].sum()),
            "samples_per_shadow": float(keep.sum(axis=1).mean()),
            "recipe": recipe.as_dict(),
            "accuracy_trained_on": float(np.mean(shadow_accuracy["trained_on"])),
            "accuracy_held_out": float(np.mean(shadow_accuracy["held_out"])),
            **spread,
        },
        **metrics,
        "baseline": baseline,
        "queries": target.queries,
        "device": device,
        "memory": memory,
        "seed": seed,
        "model_inversion": MODEL_INVERSION,
        "seconds": round(time.perf_counter() - started, 3),
    }
