"""ROC metrics of a membership score (members are the positives) with stratified bootstrap intervals.

`tpr_at_fpr` is the largest true-positive rate among thresholds whose false-positive rate is at most the
level, deciding "member" when the score is strictly above the threshold (ties count against the attack).
A level is only reported when the non-members allow at least MIN_FALSE_POSITIVES false positives at it:
with fewer, the threshold is set by a handful of non-member scores and the number says little.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MIN_FALSE_POSITIVES = 5
CONFIDENCE = 0.95
ROC_POINTS = 200


def auc(members: np.ndarray, non_members: np.ndarray) -> float:
    """P(member score > non-member score) + ½ P(equal): the Mann-Whitney statistic."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([members, non_members]))
    m, n = len(members), len(non_members)
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


def allowed_false_positives(level: float, non_members: int) -> int:
    return math.floor(level * non_members + 1e-9)


def tpr_at_fpr(members: np.ndarray, non_members: np.ndarray, level: float) -> tuple[float, float]:
    """(true-positive rate, threshold) at false-positive rate ≤ `level`."""
    allowed = allowed_false_positives(level, len(non_members))
    ordered = np.sort(non_members)[::-1]
    threshold = float(ordered[allowed]) if allowed < len(ordered) else -math.inf
    return float(np.mean(members > threshold)), threshold


def roc_curve_points(members: np.ndarray, non_members: np.ndarray, points: int = ROC_POINTS) -> dict[str, list]:
    """The ROC at up to `points` false-positive rates spaced evenly on a log axis, from 1/non-members to 1
    (a log-log chart cannot show 0); each TPR is the best at FPR ≤ that rate."""
    n = len(non_members)
    grid = np.unique(np.round(np.geomspace(1, n, num=points)).astype(int)) / n
    tpr = [tpr_at_fpr(members, non_members, float(level))[0] for level in grid]
    return {"fpr": [float(f) for f in grid], "tpr": [round(t, 6) for t in tpr]}


def _interval(values: np.ndarray) -> list[float]:
    tail = (1 - CONFIDENCE) / 2
    return [float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))]


def membership_metrics(
    members: np.ndarray, non_members: np.ndarray, levels: tuple[float, ...], *, resamples: int, seed: int
) -> dict[str, Any]:
    """AUC and TPR at each FPR level, each with a 95 % stratified bootstrap percentile interval (members and
    non-members resampled separately, with replacement, `resamples` times), and the ROC points."""
    rng = np.random.default_rng(seed)
    m, n = len(members), len(non_members)
    boot_auc = np.empty(resamples)
    boot_tpr = np.empty((resamples, len(levels)))
    for b in range(resamples):
        mb = members[rng.integers(0, m, m)]
        nb = non_members[rng.integers(0, n, n)]
        boot_auc[b] = auc(mb, nb)
        for i, level in enumerate(levels):
            boot_tpr[b, i] = tpr_at_fpr(mb, nb, level)[0]
    at_levels = []
    for i, level in enumerate(levels):
        allowed = allowed_false_positives(level, n)
        entry: dict[str, Any] = {"fpr": level, "allowed_false_positives": allowed}
        if allowed < MIN_FALSE_POSITIVES:
            needed = math.ceil(MIN_FALSE_POSITIVES / level)
            entry.update(
                reportable=False,
                tpr=None,
                ci=None,
                threshold=None,
                reason=f"{n} non-members allow {allowed} false positives at {level:.1%} FPR; a rate that low "
                f"needs at least {needed} non-members ({MIN_FALSE_POSITIVES} false positives) to mean anything.",
            )
        else:
            tpr, threshold = tpr_at_fpr(members, non_members, level)
            entry.update(reportable=True, tpr=tpr, ci=_interval(boot_tpr[:, i]), threshold=threshold, reason=None)
        at_levels.append(entry)
    return {
        "auc": {"value": auc(members, non_members), "ci": _interval(boot_auc)},
        "tpr_at_fpr": at_levels,
        "roc": roc_curve_points(members, non_members),
        "ci_method": f"stratified bootstrap, {resamples} resamples, {CONFIDENCE:.0%} percentile interval",
    }
