"""PGD-10 on a 224×224 timm ResNet-50 with its pre-processing inside the model: ours against the floor and ART.

The attacked model is what a job attacks: `Preprocessed(timm/resnet50)` — images in [0, 1], ImageNet mean/std
applied inside (attacks/preprocess.py) — with random weights (no download; the timing is what counts) and an ε
small enough that no image is fooled, so all ten steps run for every image (see EPS). Uniform-
noise images labelled with the model's own predictions, so every sample starts correctly classified. ART gets the
same wrapped model through its PyTorchClassifier with clip values (0, 1). Floor = 10 × (forward + gradient with
respect to the input only) of the network as loaded; folded floor the same on the copy a job attacks, its batch
norms folded into the convolutions (attacks.networks.fold_batchnorm, checked against the network's logits), which
is also what ours attacks. Ours runs twice, as a job does (attacks.evasion.Target.pgd): gradients in float32, and
in the format precision "auto" picks on this machine (bfloat16 where the CPU computes it natively: AMX or AVX-512
BF16), every success judged by the float32 network. Interleaved runs, median of --repeats. Printed, never asserted
(targets: ours ≤ 1.15× the floor, ≤ 0.5× ART's time).

    python -m benchmarks.library_pgd [--samples 16] [--batch 8] [--repeats 3] [--threads 2] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch

from benchmarks.evasion import _floor, _median_seconds

ARCH, STEPS = "timm/resnet50", 10
# Random weights leave tiny margins: at a usual ε (4/255) every image is fooled in the first steps and PGD stops
# early, which says nothing about a step's cost. An ε this small fools none, so every contender does all ten steps.
EPS = 1e-6


def _art(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(
        copy.deepcopy(model), torch.nn.CrossEntropyLoss(), tuple(x.shape[1:]), 1000, clip_values=(0.0, 1.0)
    )
    attack = ProjectedGradientDescent(
        classifier, eps=EPS, eps_step=2.5 * EPS / STEPS, max_iter=STEPS, batch_size=batch, verbose=False
    )
    return float((classifier.predict(attack.generate(x)).argmax(1) == y).mean())


def _ours(target, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """Robust accuracy from PGD as a job runs it: Target.pgd (its gradient format, float32 judging)."""
    gen = torch.Generator().manual_seed(0)
    fooled = 0
    for start in range(0, len(x), batch):
        xb, yb = torch.from_numpy(x[start : start + batch]), torch.from_numpy(y[start : start + batch])
        _, hit = target.pgd(xb, yb, eps=EPS, steps=STEPS, generator=gen)
        fooled += int(hit.sum())
    return 1 - fooled / len(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or the process's CPU time (steadier when other programs share the cores)",
    )
    args = parser.parse_args(argv)

    from attacks.architectures import architecture, build
    from attacks.networks import Preprocessed, fold_batchnorm
    from attacks.preprocess import defaults

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    processing = defaults(architecture(ARCH))
    model = Preprocessed.of(build(ARCH, 1000), processing).eval()
    frozen = copy.deepcopy(model).requires_grad_(False)
    x = np.random.default_rng(0).random((args.samples, *processing.input_shape), dtype=np.float32)
    with torch.no_grad():
        y = frozen(torch.from_numpy(x)).argmax(1).numpy()
        logits = frozen(torch.from_numpy(x[:4]))
    folded = fold_batchnorm(frozen, torch.from_numpy(x[:4]))
    if folded is None:
        print("the folded network's logits differ from the network's: nothing to compare", file=sys.stderr)
        return 1
    folded.requires_grad_(False)
    with torch.no_grad():
        gap = float((folded(torch.from_numpy(x[:4])) - logits).abs().max())
    import benchmarks.evasion as evasion
    from attacks.evasion import Target

    def target(precision: str) -> Target:
        shape = processing.input_shape
        return Target(input_shape=shape, num_classes=1000, model=folded, device="cpu", precision=precision)

    single, auto = target("float32"), target("auto")
    evasion.REPEATS = args.repeats
    t = _median_seconds(
        {
            "floor": lambda: _floor(frozen, x, y, STEPS, args.batch),
            "folded": lambda: _floor(folded, x, y, STEPS, args.batch),
            "ours float32": lambda: _ours(single, x, y, args.batch),
            "ours auto": lambda: _ours(auto, x, y, args.batch),
            "art": lambda: _art(model, x, y, args.batch),
        },
        clock=time.process_time if args.clock == "cpu" else time.perf_counter,
    )
    accuracy = {"ours float32": _ours(single, x, y, args.batch), "ours auto": _ours(auto, x, y, args.batch)}
    accuracy["art"] = _art(model, x, y, args.batch)
    ours = "; ".join(
        f"ours, gradients in {contender.precision}, {t[name]:.2f} s ({t[name] / t['floor']:.2f}× floor, "
        f"{t[name] / t['art']:.2f}× ART's time)"
        for name, contender in (("ours float32", single), ("ours auto", auto))
    )
    print(
        f"{ARCH} with its pre-processing inside (random weights), {args.samples} images 3×224×224, batch "
        f"{args.batch}, ε {EPS:g}, PGD-{STEPS}, {args.threads} threads, {args.clock} time: floor {t['floor']:.2f} s, "
        f"folded floor {t['folded']:.2f} s ({t['folded'] / t['floor']:.2f}× floor; largest logit change "
        f"{gap:.1e} of {float(logits.abs().max()):.1e}); {ours}; ART {t['art']:.2f} s "
        f"({t['art'] / t['floor']:.2f}× floor); robust accuracy "
        + ", ".join(f"{name} {value:.3f}" for name, value in accuracy.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
