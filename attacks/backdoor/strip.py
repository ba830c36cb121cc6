"""STRIP (Gao et al., ACSAC 2019) by the paper's formula.

Each input x is blended with N clean images: x_j' = 0.5·x + 0.5·c_j. For a clean x the blend's
prediction wanders (high entropy); a triggered x keeps its target class (low entropy). The score is
H(x) = (1/N) Σ_j −Σ_k p_k(x_j') log p_k(x_j'), entropy over the *classes* of the softmax. (ART's STRIP
takes the entropy over the N copies instead, which is why it detects almost nothing: see
/work/shared/reference/art-on-this-stack.md.) The threshold is the `fpr` quantile of clean entropies.

Clean data is split in two: one half supplies the overlays, the other calibrates the threshold, so
no input is blended with itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext, UserError

if TYPE_CHECKING:
    from torch import nn

SCHEMA = "riskapp.strip/1"
DEFAULT_OVERLAYS = 20
DEFAULT_FPR = 0.01
HISTOGRAM_BINS = 20


def strip_entropies(
    model: nn.Module,
    x: np.ndarray,
    overlays: np.ndarray,
    *,
    n: int = DEFAULT_OVERLAYS,
    seed: int = 0,
    chunk: int = 64,
    ctx: RunContext | None = None,
) -> np.ndarray:
    """Mean entropy (nats) over the classes of the softmax of `n` blends of each input with random overlays."""
    import torch

    from attacks.backdoor.common import device_of
    from attacks.memory import fit_batch

    device = device_of(model)
    rng = np.random.default_rng(seed)
    pool = torch.from_numpy(np.ascontiguousarray(overlays, dtype=np.float32)).to(device)
    # Each input becomes n blended images in one forward: fewer inputs per chunk where memory is short.
    chunk = max(1, fit_batch(chunk * n, model, tuple(x.shape[1:]), str(device), gradient=False).batch_size // n)
    out = np.empty(len(x), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(x), chunk):
            if ctx is not None:
                ctx.check_cancel()
            batch = torch.from_numpy(np.ascontiguousarray(x[start : start + chunk], dtype=np.float32)).to(device)
            picks = torch.from_numpy(rng.integers(0, len(pool), size=(len(batch), n))).to(device)
            blended = 0.5 * batch[:, None] + 0.5 * pool[picks]
            logits = model(blended.reshape(len(batch) * n, *batch.shape[1:])).double()
            log_p = torch.log_softmax(logits, dim=1)
            entropy = -(log_p.exp() * log_p).sum(dim=1).view(len(batch), n).mean(dim=1)
            out[start : start + len(batch)] = entropy.cpu().numpy()
    return out


def calibrate(clean_entropies: np.ndarray, fpr: float) -> float:
    """The entropy below which inputs are flagged, so that a fraction `fpr` of clean inputs would be."""
    return float(np.quantile(clean_entropies, fpr))


def histogram(values: dict[str, np.ndarray], top: float) -> dict[str, Any]:
    edges = np.linspace(0.0, top, HISTOGRAM_BINS + 1)
    return {
        "bin_edges": [round(float(edge), 5) for edge in edges],
        **{name: np.histogram(np.clip(v, 0.0, top), bins=edges)[0].tolist() for name, v in values.items()},
    }


def evaluate(clean: np.ndarray, suspect: np.ndarray, positives: np.ndarray, threshold: float) -> dict[str, Any]:
    """Detection on the suspicious inputs; AUC with positives = suspect[positives], negatives = the rest + clean."""
    from sklearn.metrics import roc_auc_score

    flagged = suspect < threshold
    labels = np.concatenate([np.zeros(len(clean), bool), positives])
    scores = -np.concatenate([clean, suspect])  # lower entropy = more suspicious
    has_both = labels.any() and not labels.all()
    return {
        "count": int(len(suspect)),
        "positives": int(positives.sum()),
        "flagged": int(flagged.sum()),
        "flagged_indices": np.flatnonzero(flagged).tolist(),
        "detection_rate": round(float(flagged[positives].mean()), 4) if positives.any() else None,
        "false_positive_rate_on_suspect_negatives": (
            round(float(flagged[~positives].mean()), 4) if (~positives).any() else None
        ),
        "roc_auc": round(float(roc_auc_score(labels, scores)), 4) if has_both else None,
        "entropy_mean": round(float(suspect.mean()), 5),
    }


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "strip": calibrate on clean data_path, then score suspect_path (optional) inputs."""
    from attacks.backdoor.common import device_of, load_classifier, load_data, subsample
    from attacks.params import float_param, int_param

    started = time.perf_counter()
    ctx.progress(1, "Loading the model")
    loaded = load_classifier(params)
    model, arch, num_classes = loaded.model, loaded.arch, loaded.num_classes
    n = int_param(params, "overlays", DEFAULT_OVERLAYS, 1, 1000)
    fpr = float_param(params, "fpr", DEFAULT_FPR, 0.0, 0.5)
    limit = int_param(params, "sample_limit", 1000, 0, 10**9)
    seed = int_param(params, "seed", 0, 0, 2**32 - 1)
    x, _, _ = load_data(params, "data_path", loaded)
    if len(x) < 4:
        raise UserError("STRIP needs at least 4 clean samples (half overlays, half calibration).")
    order = np.random.default_rng(seed).permutation(len(x))
    pool, calibration = x[order[: len(x) // 2]], x[order[len(x) // 2 :]]
    calibration = calibration[subsample(len(calibration), limit, seed)]
    ctx.progress(5, "Entropies of clean inputs")
    clean = strip_entropies(model, calibration, pool, n=n, seed=seed, ctx=ctx)
    threshold = calibrate(clean, fpr)
    values = {"clean": clean}
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "arch": arch,
        "num_classes": num_classes,
        "preprocessing": loaded.preprocessing.as_dict(),
        "device": str(device_of(loaded.model)),
        "overlays": n,
        "target_fpr": fpr,
        "threshold": round(threshold, 6),
        "max_entropy": round(float(np.log(num_classes)), 6),
        "clean": {
            "count": int(len(clean)),
            "entropy_mean": round(float(clean.mean()), 5),
            "false_positive_rate": round(float((clean < threshold).mean()), 4),
        },
        "suspect": None,
    }
    if params.get("suspect_path"):
        ctx.progress(50, "Entropies of suspicious inputs")
        xs, _, mask = load_data(params, "suspect_path", loaded)
        chosen = subsample(len(xs), limit, seed)
        suspect = strip_entropies(model, xs[chosen], pool, n=n, seed=seed + 1, ctx=ctx)
        positives = mask[chosen] if mask is not None else np.ones(len(chosen), bool)
        result["suspect"] = {**evaluate(clean, suspect, positives, threshold), "used_poison_mask": mask is not None}
        values["suspect"] = suspect
    result["histogram"] = histogram(values, float(np.log(num_classes)))
    result["seconds"] = round(time.perf_counter() - started, 3)
    ctx.progress(100, "Done")
    return result
