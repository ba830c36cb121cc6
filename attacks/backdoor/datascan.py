"""Poisoned-training-data scans on penultimate-layer features: Activation Clustering and Spectral Signatures.

ART's ActivationDefence reads the activations of the last registered module of a PyTorch model, which
for our networks is the classifier (logits). Instead we compute the penultimate features ourselves
(attacks.architectures.penultimate_features) and feed them to ART's own utilities:
  - Activation Clustering (Chen et al. 2018): art...activation_defence.cluster_activations (FastICA to
    10 dimensions, 2-means per class) and ClusteringAnalyzer.analyze_by_size ("smaller": the smaller
    cluster of each class is suspicious). "smaller" marks a cluster in every class, so which class is
    poisoned is judged by how well its two clusters separate (silhouette score), flagged with the same
    median-absolute-deviation rule as Neural Cleanse (index > 2, large side).
  - Spectral Signatures (Tran et al. 2018): SpectralSignatureDefense.spectral_signature_scores per
    class; the top 1.5 × expected_poison fraction of scores in each class is flagged (ART's rule).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from attacks.context import RunContext, UserError

SCHEMA = "riskapp.data-scan/1"
DEFAULT_DIMS = 10
DEFAULT_EXPECTED_POISON = 0.33
MIN_CLASS_SAMPLES = 12
# Flagged samples shown as thumbnails on the result page: enough to recognise a trigger, few enough to store.
THUMBNAILS = 24
THUMBNAIL_SCALE = 4


def _quiet_art() -> None:
    import logging

    logging.getLogger("art").setLevel(logging.WARNING)


def activation_clustering(
    features: np.ndarray, y: np.ndarray, classes: list[int], *, nb_dims: int = DEFAULT_DIMS, seed: int = 0
) -> dict[int, dict[str, Any]]:
    """Per class: flagged sample indices (into the whole set), cluster sizes, silhouette score."""
    from art.defences.detector.poison.activation_defence import cluster_activations
    from art.defences.detector.poison.clustering_analyzer import ClusteringAnalyzer
    from sklearn.metrics import silhouette_score

    _quiet_art()
    members = [np.flatnonzero(y == k) for k in classes]
    # FastICA/KMeans draw from numpy's global generator: seed it for repeatable reports.
    np.random.seed(seed)  # ART offers no generator argument
    # Dead ReLU units are constant columns; FastICA divides by their zero spread and returns NaN.
    features = features[:, features.std(axis=0) > 1e-8]
    dims = min(nb_dims, features.shape[1])
    separated = [features[m] for m in members]
    with warnings.catch_warnings():
        # FastICA's ConvergenceWarning on small classes: the clusters are still usable and judged below.
        warnings.simplefilter("ignore")
        try:
            clusters, reduced = cluster_activations(separated, nb_clusters=2, nb_dims=dims)
        except ValueError:  # FastICA still diverged on a rank-deficient class: ART's other reducer
            clusters, reduced = cluster_activations(separated, nb_clusters=2, nb_dims=dims, reduce="PCA")
    assigned_clean, _, _ = ClusteringAnalyzer().analyze_by_size(clusters)
    out = {}
    for k, index, labels, points, clean in zip(classes, members, clusters, reduced, assigned_clean, strict=True):
        sizes = np.bincount(labels, minlength=2)
        separation = float(silhouette_score(points, labels)) if (sizes > 1).all() else 0.0
        out[k] = {
            "flagged": index[np.asarray(clean) == 0],
            "cluster_sizes": sizes.tolist(),
            "silhouette": separation,
        }
    return out


def spectral_signatures(
    features: np.ndarray, y: np.ndarray, classes: list[int], *, expected_poison: float = DEFAULT_EXPECTED_POISON
) -> dict[int, dict[str, Any]]:
    from art.defences.detector.poison import SpectralSignatureDefense

    out = {}
    for k in classes:
        index = np.flatnonzero(y == k)
        scores = SpectralSignatureDefense.spectral_signature_scores(features[index]).ravel()
        keep = int(np.ceil(min(1.0, 1.5 * expected_poison) * len(index)))
        cutoff = np.sort(scores)[-keep] if keep else np.inf
        out[k] = {"flagged": index[scores >= cutoff], "score_max": float(scores.max())}
    return out


def _precision_recall(flagged: np.ndarray, truth: np.ndarray, within: np.ndarray | None = None) -> dict[str, Any]:
    picked = np.zeros(len(truth), bool)
    picked[flagged] = True
    if within is not None:
        picked, truth = picked & within, truth & within
    hits = int((picked & truth).sum())
    return {
        "flagged": int(picked.sum()),
        "poisoned": int(truth.sum()),
        "precision": round(float(hits / picked.sum()), 4) if picked.any() else None,
        "recall": round(float(hits / truth.sum()), 4) if truth.any() else None,
    }


def scan(
    features: np.ndarray,
    y: np.ndarray,
    poison_mask: np.ndarray | None,
    *,
    nb_dims: int = DEFAULT_DIMS,
    expected_poison: float = DEFAULT_EXPECTED_POISON,
    seed: int = 0,
) -> dict[str, Any]:
    """Both detectors over the classes with enough samples; the judged class and, with a mask, precision/recall."""
    from attacks.backdoor.cleanse import MAD_CONSISTENCY

    classes = [int(k) for k in np.unique(y) if (y == k).sum() >= MIN_CLASS_SAMPLES]
    if len(classes) < 2:
        raise UserError(f"The data scan needs at least two classes with {MIN_CLASS_SAMPLES}+ samples each.")
    ac = activation_clustering(features, y, classes, nb_dims=nb_dims, seed=seed)
    ss = spectral_signatures(features, y, classes, expected_poison=expected_poison)
    separation = np.array([ac[k]["silhouette"] for k in classes])
    median = np.median(separation)
    mad = MAD_CONSISTENCY * np.median(np.abs(separation - median))
    index = (separation - median) / max(mad, 1e-12)
    suspected = [k for k, i in zip(classes, index, strict=True) if i > 2.0]
    per_class = []
    for position, k in enumerate(classes):
        entry = {
            "class": k,
            "samples": int((y == k).sum()),
            "activation_clustering": {
                "cluster_sizes": ac[k]["cluster_sizes"],
                "silhouette": round(ac[k]["silhouette"], 4),
                "anomaly_index": round(float(index[position]), 4),
                "flagged_indices": ac[k]["flagged"].tolist(),
            },
            "spectral_signatures": {"flagged_indices": ss[k]["flagged"].tolist()},
        }
        if poison_mask is not None:
            within = y == k
            entry["activation_clustering"]["evaluation"] = _precision_recall(ac[k]["flagged"], poison_mask, within)
            entry["spectral_signatures"]["evaluation"] = _precision_recall(ss[k]["flagged"], poison_mask, within)
        per_class.append(entry)
    result: dict[str, Any] = {
        "suspected_classes": suspected,
        "most_suspicious_class": classes[int(np.argmax(separation))],
        "classes": per_class,
        "evaluation": None,
    }
    if poison_mask is not None:
        every_ac = np.concatenate([ac[k]["flagged"] for k in classes])
        every_ss = np.concatenate([ss[k]["flagged"] for k in classes])
        judged = np.isin(y, suspected)
        result["evaluation"] = {
            "activation_clustering_all_classes": _precision_recall(every_ac, poison_mask),
            "spectral_signatures_all_classes": _precision_recall(every_ss, poison_mask),
            # Only the samples of the classes judged poisoned: what a user would act on.
            "activation_clustering_suspected_classes": _precision_recall(every_ac, poison_mask, judged),
            "spectral_signatures_suspected_classes": _precision_recall(every_ss, poison_mask, judged),
            "poisoned_classes": sorted({int(k) for k in y[poison_mask]}),
        }
    return result


def write_thumbnails(
    x: np.ndarray, y: np.ndarray, report: dict[str, Any], directory: Any, limit: int = THUMBNAILS
) -> list[dict[str, Any]]:
    """PNGs of the samples spectral signatures flagged in the judged classes (the most suspicious class when
    none is judged poisoned), most suspicious class first; returns [{index, class, image}]."""
    from pathlib import Path

    from attacks.png import chw_to_image, write_png

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    classes = report["suspected_classes"] or [report["most_suspicious_class"]]
    by_class = {entry["class"]: entry["spectral_signatures"]["flagged_indices"] for entry in report["classes"]}
    low, high = float(x.min()), float(x.max())
    thumbnails = []
    for k in classes:
        for index in by_class.get(k, []):
            if len(thumbnails) >= limit:
                return thumbnails
            name = f"flagged-{index}.png"
            image = (x[index] - low) / max(high - low, 1e-12)
            write_png(directory / name, chw_to_image(image, THUMBNAIL_SCALE))
            thumbnails.append({"index": int(index), "class": int(y[index]), "image": name})
    return thumbnails


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Engine task "data_scan": data_path is the training set (optionally with poison_mask)."""
    from attacks.backdoor.common import device_of, features, load_classifier, load_data
    from attacks.params import float_param, int_param

    started = time.perf_counter()
    ctx.progress(1, "Loading the model")
    loaded = load_classifier(params)
    model, arch, num_classes = loaded.model, loaded.arch, loaded.num_classes
    nb_dims = int_param(params, "nb_dims", DEFAULT_DIMS, 2, 1000)
    expected = float_param(params, "expected_poison", DEFAULT_EXPECTED_POISON, 0.0, 0.66)
    seed = int_param(params, "seed", 0, 0, 2**32 - 1)
    x, y, mask = load_data(params, "data_path", loaded)
    ctx.progress(10, "Penultimate-layer features")
    feats = features(model, x, ctx=ctx)
    ctx.check_cancel()
    ctx.progress(60, "Clustering")
    report = scan(feats, y, mask, nb_dims=nb_dims, expected_poison=expected, seed=seed)
    ctx.progress(95, "Thumbnails of flagged samples")
    report["thumbnails"] = write_thumbnails(x, y, report, ctx.output_dir)
    ctx.progress(100, "Done")
    return {
        "schema": SCHEMA,
        "arch": arch,
        "num_classes": num_classes,
        "preprocessing": loaded.preprocessing.as_dict(),
        "device": str(device_of(loaded.model)),
        "samples": int(len(x)),
        "feature_dim": int(feats.shape[1]),
        "has_poison_mask": mask is not None,
        "features_from": "penultimate layer (the classifier's input)",
        **report,
        "seconds": round(time.perf_counter() - started, 3),
    }
