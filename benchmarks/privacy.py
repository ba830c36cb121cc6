"""Privacy tests on digits: how long membership inference (LiRA, 16 shadow models) and extraction take.

Membership inference on two digits targets trained with the recipe the shadows repeat: an overfit mlp-digits
(200 members, 80 epochs) and a cnn-digits (1,000 members, 10 epochs, weight decay 0.01); the other digits are
the non-members. Extraction of a cnn-digits victim (trained on 800 digits) with 500 other digits as the public
query set, budgets 100 and 500, copies of both architectures trained for the default 500 steps.

224×224: the cost per shadow model and per budget on a library model, not a meaningful result. A timm/resnet18
target (random weights, 4 classes, its ImageNet pre-processing inside the model) trained for two epochs on 50
random images at batch 8; membership inference with 4 shadows (the same recipe) on those 50 members and 50 other
random images; extraction of it with budgets 32 and 128 of random public images, a resnet18 copy trained for 32
steps of 8 images per budget. Prints wall and process CPU seconds and what each run found; nothing is asserted
(benchmarks/README.md).

    python -m benchmarks.privacy [--threads N] [--shadows 16] [--skip-digits] [--skip-library]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import timed

# The 224×224 case: members (as many non-members), shadow models, and copy training steps per budget, sized so the
# whole case takes minutes on a shared 2-core machine. Membership inference needs at least 20 of each.
LIBRARY_MEMBERS = 50
LIBRARY_SHADOWS = 4
LIBRARY_STEPS = 32


def _digits_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    return x[order], digits.target.astype(np.int64)[order]


def _trained(folder: Path, name: str, arch: str, x: np.ndarray, y: np.ndarray, recipe: Any, classes: int = 10) -> str:
    import torch

    from attacks.context import RunContext
    from attacks.loading import save_safetensors
    from attacks.privacy.models import fresh_network, train

    torch.manual_seed(7)
    model = train(fresh_network(arch, classes), x, y, recipe, seed=7, device="cpu", ctx=RunContext(output_dir=folder))
    save_safetensors(model.state_dict(), folder / f"{name}.safetensors")
    return str(folder / f"{name}.safetensors")


def _digits(folder: Path, shadows: int) -> None:
    from attacks.context import RunContext
    from attacks.datasets import save_npz
    from attacks.privacy import extraction, membership
    from attacks.privacy.models import Recipe

    x, y = _digits_data()
    ctx = RunContext(output_dir=folder)
    header = f"{'membership inference':<34} {'members':>7} {'non-m.':>6} {'wall s':>7} {'cpu s':>7} {'s/shadow':>8}"
    print(f"{header}  AUC [95 % CI]; TPR at 1 % FPR [95 % CI]")
    settings = [
        ("mlp-digits, overfit", "mlp-digits", 200, Recipe(80, 3e-3, 0.0, 128)),
        ("cnn-digits, weight decay", "cnn-digits", 1000, Recipe(10, 3e-3, 0.01, 128)),
    ]
    for label, arch, members, recipe in settings:
        params = {
            "model_path": _trained(folder, arch, arch, x[:members], y[:members], recipe),
            "arch": arch,
            "members_path": str(save_npz(folder / "members.npz", x[:members], y[:members])),
            "non_members_path": str(save_npz(folder / "non-members.npz", x[members:], y[members:])),
            "shadow_models": shadows,
            **{k: v for k, v in recipe.as_dict().items() if k != "optimiser"},
        }
        doc, wall, cpu = timed(lambda params=params: membership.run(ctx, params))
        at_1 = doc["tpr_at_fpr"][0]
        tpr = f"{at_1['tpr']:.3f} [{at_1['ci'][0]:.3f}, {at_1['ci'][1]:.3f}]" if at_1["reportable"] else "n/a"
        print(
            f"{label:<34} {members:>7} {len(x) - members:>6} {wall:>7.1f} {cpu:>7.1f} {wall / shadows:>8.2f}  "
            f"{doc['auc']['value']:.3f} [{doc['auc']['ci'][0]:.3f}, {doc['auc']['ci'][1]:.3f}]; {tpr}",
            flush=True,
        )

    victim = _trained(folder, "victim", "cnn-digits", x[:800], y[:800], Recipe(10, 3e-3, 0.0, 64))
    query = save_npz(folder / "public.npz", x[800:1300], np.zeros(500, np.int64))
    evaluation = save_npz(folder / "eval.npz", x[1300:], y[1300:])
    print(f"{'extraction (500 steps per budget)':<34} {'wall s':>7} {'cpu s':>7}  budget: agreement / copy accuracy")
    for copy_arch in ("mlp-digits", "cnn-digits"):
        params = {
            "model_path": victim,
            "arch": "cnn-digits",
            "copy_arch": copy_arch,
            "query_path": str(query),
            "eval_path": str(evaluation),
            "budgets": [100, 500],
            "learning_rate": 3e-3,
        }
        doc, wall, cpu = timed(lambda params=params: extraction.run(ctx, params))
        rows = "; ".join(f"{r['budget']}: {r['agreement']:.3f} / {r['accuracy']:.3f}" for r in doc["budgets"])
        print(f"{'copy ' + copy_arch + ', labels':<34} {wall:>7.1f} {cpu:>7.1f}  {rows}", flush=True)


def _library(folder: Path) -> None:
    """What one shadow model and one budget cost on a 224×224 library model: random images, random labels,
    so the AUC and agreement mean nothing; users scale the per-unit seconds to their shadow count and steps."""
    from attacks.context import RunContext
    from attacks.datasets import save_npz
    from attacks.privacy import extraction, membership
    from attacks.privacy.models import Recipe

    arch, classes, recipe = "timm/resnet18", 4, Recipe(2, 1e-3, 0.0, 8)
    rng = np.random.default_rng(0)
    x = rng.random((LIBRARY_MEMBERS * 2, 3, 224, 224), dtype=np.float32)
    y = rng.integers(0, classes, len(x))
    members = slice(0, LIBRARY_MEMBERS)
    others = slice(LIBRARY_MEMBERS, None)
    ctx = RunContext(output_dir=folder)
    common = {
        "model_path": _trained(folder, "resnet18", arch, x[members], y[members], recipe, classes),
        "arch": arch,
        "num_classes": classes,
    }
    print(
        f"\n{'224x224 (timm/resnet18)':<34} {'samples':>7} {'wall s':>7} {'cpu s':>7} {'s/unit':>8}  "
        "result (random images: cost only)"
    )
    params = {
        **common,
        "members_path": str(save_npz(folder / "library-members.npz", x[members], y[members])),
        "non_members_path": str(save_npz(folder / "library-non-members.npz", x[others], y[others])),
        "shadow_models": LIBRARY_SHADOWS,
        **{k: v for k, v in recipe.as_dict().items() if k != "optimiser"},
    }
    doc, wall, cpu = timed(lambda: membership.run(ctx, params))
    print(
        f"{f'membership, {LIBRARY_SHADOWS} shadows x {recipe.epochs} epochs':<34} {len(x):>7} {wall:>7.1f} {cpu:>7.1f} "
        f"{wall / LIBRARY_SHADOWS:>8.1f}  s/shadow; AUC {doc['auc']['value']:.3f}",
        flush=True,
    )

    budgets = [32, 128]
    public = rng.random((budgets[-1], 3, 224, 224), dtype=np.float32)
    query = save_npz(folder / "library-public.npz", public, np.zeros(len(public), np.int64))
    params = {
        **common,
        "query_path": str(query),
        "eval_path": str(save_npz(folder / "library-eval.npz", x[others][:16], y[others][:16])),
        "budgets": budgets,
        "steps": LIBRARY_STEPS,
        "batch_size": 8,
    }
    doc, wall, cpu = timed(lambda: extraction.run(ctx, params))
    rows = "; ".join(f"{r['budget']}: {r['seconds']:.1f} s" for r in doc["budgets"])
    print(
        f"{f'extraction, {LIBRARY_STEPS} steps of 8 images':<34} {budgets[-1]:>7} {wall:>7.1f} {cpu:>7.1f} "
        f"{wall / len(budgets):>8.1f}  s/budget; copy training per budget {rows}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--shadows", type=int, default=16, help="digits shadow models (default 16, the task's)")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--skip-library", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from attacks.environment import retain_freed_memory

    retain_freed_memory()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(
        f"torch threads {torch.get_num_threads()}; device cpu; {args.shadows} shadow models on digits, "
        f"{LIBRARY_SHADOWS} on 224x224; 1000 bootstrap resamples"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_digits:
            _digits(Path(tmp), args.shadows)
        if not args.skip_library:
            _library(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
