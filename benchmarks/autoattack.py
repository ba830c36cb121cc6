"""AutoAttack: riskapp's cascade against ART's default `AutoAttack`, with PGD-40 for reference.

Digits CNN trained as in `benchmarks.evasion`, the first 500 test samples of `digits_split(0)`, L∞ ε 0.1, CPU
unless CUDA, the same model and data for all three. Batch 512 (all 500 samples at once) for every attack; ART's
default list runs its Square at Square's own default of 128. Order: PGD-40, ours, ART, ours again, so a change of
load on a shared machine shows up as two different times for ours (the ratio uses their mean). ART's run is long
(minutes) and prints tqdm bars, which go to a buffer. `--threads N` sets torch's CPU threads. Printed, never
asserted (target: robust accuracy within 1 point of ART's AutoAttack in at most 1/10 of its time).
Also printed: how many samples went through gradient passes and queries in our cascade, and what that work costs
at this machine's measured cost per sample with no overhead at all (what the standard version's work costs on this
stack, eager PyTorch gradients and onnxruntime queries, whatever the bookkeeping around it).
Run: `python -m benchmarks.autoattack [--quick] [--threads N]`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import time

import numpy as np
import torch

from attacks.datasets import digits_split
from attacks.evasion.autoattack import autoattack, cascade, passes
from attacks.evasion.inference import QueryForward
from attacks.evasion.metrics import norms, within
from attacks.evasion.pgd import pgd
from benchmarks.evasion import _train

EPS, BATCH, SAMPLES, QUICK_SAMPLES = 0.1, 512, 500, 100


def _pgd40(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    gen = torch.Generator().manual_seed(0)
    fooled = 0
    for start in range(0, len(x), BATCH):
        xb, yb = torch.from_numpy(x[start : start + BATCH]), torch.from_numpy(y[start : start + BATCH])
        _, hit = pgd(model, xb, yb, eps=EPS, steps=40, generator=gen)
        fooled += int(hit.sum())
    return 1 - fooled / len(x)


def _ours(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = BATCH) -> tuple[float, list, str]:
    result = autoattack(model, torch.from_numpy(x), torch.from_numpy(y), eps=EPS, batch_size=batch_size, seed=0)
    return result.robust_accuracy, result.stages, result.query_backend


class _Work:
    """How many samples went through gradient passes and through gradient-free queries in one cascade run."""

    def __init__(self) -> None:
        self.gradients = 0
        self.queries = 0


@contextlib.contextmanager
def _counting(work: _Work):
    real_grad, real_query = passes.logits_and_grad, cascade.query_forward

    def grad(model, x, loss_fn):
        work.gradients += len(x)
        return real_grad(model, x, loss_fn)

    def query(model, example):
        fast = real_query(model, example)

        def run(x):
            work.queries += len(x)
            return fast(x)

        return QueryForward(run, fast.backend)

    passes.logits_and_grad, cascade.query_forward = grad, query
    try:
        yield
    finally:
        passes.logits_and_grad, cascade.query_forward = real_grad, real_query


def _per_sample_costs(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, rows: int = 282) -> tuple[float, float]:
    """Seconds per sample of one gradient pass and of one query, at the survivors' batch size (median of 7)."""
    xb, yb = torch.from_numpy(x[:rows]), torch.from_numpy(y[:rows])
    loss = lambda logits: torch.nn.functional.cross_entropy(logits, yb, reduction="none")  # noqa: E731
    fast = cascade.query_forward(model, xb)

    def median(run) -> float:
        run()
        times = []
        for _ in range(7):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return sorted(times)[3] / len(xb)

    return median(lambda: passes.logits_and_grad(model, xb, loss)), median(lambda: fast(xb))


def _art(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    import multiprocess  # noqa: F401  ART's AutoAttack imports it inside generate(): fail early if it is missing
    from art.attacks.evasion import AutoAttack
    from art.estimators.classification import PyTorchClassifier

    np.random.seed(0)
    classifier = PyTorchClassifier(
        copy.deepcopy(model), torch.nn.CrossEntropyLoss(), (1, 8, 8), 10, clip_values=(0.0, 1.0)
    )
    # The default attack list: APGD-CE and APGD-DLR (100 iterations, 5 restarts each), DeepFool, Square (5000
    # iterations, 5 restarts). ART's APGD starts from a step of eps_step: 2ε is the paper's initial step.
    attack = AutoAttack(classifier, norm=np.inf, eps=EPS, eps_step=2 * EPS, batch_size=BATCH)
    with contextlib.redirect_stderr(io.StringIO()):
        adv = attack.generate(x=x, y=np.eye(10, dtype=np.float32)[y])
    linf, l2 = norms(x, adv)
    fooled = (classifier.predict(adv).argmax(1) != y) & within(linf, l2, EPS, "inf")
    return float(1 - fooled.mean())


def _timed(run):
    started = time.perf_counter()
    value = run()
    return value, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples instead of {SAMPLES}")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv if argv is not None else [])
    if args.threads:
        # On an oversubscribed machine, torch's worker threads wait on each other at every op: one thread each
        # keeps the comparison about the attacks rather than about the scheduler.
        torch.set_num_threads(args.threads)
    n = QUICK_SAMPLES if args.quick else SAMPLES
    torch.set_grad_enabled(True)
    split = digits_split(0)
    model = _train(split)
    frozen = copy.deepcopy(model).requires_grad_(False)
    x, y = split.x_test[:n], split.y_test[:n]
    clean = float((frozen(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    print(f"digits CNN: clean accuracy {clean:.3f} on {n} samples, ε {EPS} L∞, torch threads {torch.get_num_threads()}")

    pgd_acc, pgd_s = _timed(lambda: _pgd40(frozen, x, y))
    print(f"PGD-40: robust accuracy {pgd_acc:.3f}, {pgd_s:.2f} s", flush=True)
    work = _Work()
    with _counting(work):
        (ours_acc, stages, backend), ours_s = _timed(lambda: _ours(frozen, x, y))
    print(f"ours (first run): robust accuracy {ours_acc:.3f}, {ours_s:.2f} s, queries through {backend}", flush=True)
    for stage in stages:
        print(f"  {stage.name:8} attacked {stage.attacked:4}  fooled {stage.fooled:4}  {stage.seconds:7.2f} s")
    per_gradient, per_query = _per_sample_costs(frozen, x, y)
    floor_s = work.gradients * per_gradient + work.queries * per_query
    print(
        f"  its work: {work.gradients:,} sample-gradients ({per_gradient * 1e6:.0f} µs each) and {work.queries:,} "
        f"sample-queries ({per_query * 1e6:.0f} µs each) = {floor_s:.1f} s with no overhead at all; "
        f"ours took {ours_s / floor_s:.2f}× that",
        flush=True,
    )
    art_acc, art_s = _timed(lambda: _art(model, x, y))
    print(f"ART AutoAttack (default list): robust accuracy {art_acc:.3f}, {art_s:.2f} s", flush=True)
    (again_acc, _, _), again_s = _timed(lambda: _ours(frozen, x, y))
    print(f"ours (second run): robust accuracy {again_acc:.3f}, {again_s:.2f} s", flush=True)

    mean_s = (ours_s + again_s) / 2
    print(
        f"ours vs ART: {mean_s:.2f} s vs {art_s:.2f} s = 1/{art_s / mean_s:.1f} of ART's time; robust accuracy "
        f"{ours_acc:.3f} vs {art_acc:.3f} ({(ours_acc - art_acc) * 100:+.1f} points); "
        f"PGD-40 {pgd_acc:.3f} in {pgd_s:.2f} s (ours = {mean_s / pgd_s:.1f}× PGD-40's time); the standard cascade's "
        f"work alone, with no overhead, is 1/{art_s / floor_s:.1f} of ART's time"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
