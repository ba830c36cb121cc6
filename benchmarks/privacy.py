"""Privacy tests on digits: how long membership inference (LiRA, 16 shadow models) and extraction take.

Membership inference on two digits targets trained with the recipe the shadows repeat: an overfit mlp-digits
(200 members, 80 epochs) and a cnn-digits (1,000 members, 10 epochs, weight decay 0.01); the other digits are
the non-members. Extraction of a cnn-digits victim (trained on 800 digits) with 500 other digits as the public
query set, budgets 100 and 500, copies of both architectures trained for the default 500 steps. Prints wall
and process CPU seconds and what each run found; nothing is asserted (benchmarks/README.md).

    python -m benchmarks.privacy [--threads N] [--shadows 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import timed


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    return x[order], digits.target.astype(np.int64)[order]


def _trained(folder: Path, name: str, arch: str, x: np.ndarray, y: np.ndarray, recipe: Any) -> str:
    import torch

    from attacks.context import RunContext
    from attacks.loading import save_safetensors
    from attacks.privacy.models import fresh_network, train

    torch.manual_seed(7)
    model = train(fresh_network(arch, 10), x, y, recipe, seed=7, device="cpu", ctx=RunContext(output_dir=folder))
    save_safetensors(model.state_dict(), folder / f"{name}.safetensors")
    return str(folder / f"{name}.safetensors")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--shadows", type=int, default=16, help="shadow models (default 16, the task's default)")
    args = parser.parse_args(argv)

    import torch

    from attacks.context import RunContext
    from attacks.datasets import save_npz
    from attacks.environment import retain_freed_memory
    from attacks.privacy import extraction, membership
    from attacks.privacy.models import Recipe

    retain_freed_memory()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    x, y = _digits()
    print(
        f"torch threads {torch.get_num_threads()}; device cpu; {args.shadows} shadow models, 1000 bootstrap resamples"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
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
                "shadow_models": args.shadows,
                **{k: v for k, v in recipe.as_dict().items() if k != "optimiser"},
            }
            doc, wall, cpu = timed(lambda params=params: membership.run(ctx, params))
            at_1 = doc["tpr_at_fpr"][0]
            tpr = f"{at_1['tpr']:.3f} [{at_1['ci'][0]:.3f}, {at_1['ci'][1]:.3f}]" if at_1["reportable"] else "n/a"
            print(
                f"{label:<34} {members:>7} {len(x) - members:>6} {wall:>7.1f} {cpu:>7.1f} {wall / args.shadows:>8.2f}  "
                f"{doc['auc']['value']:.3f} [{doc['auc']['ci'][0]:.3f}, {doc['auc']['ci'][1]:.3f}]; {tpr}",
                flush=True,
            )

        victim = _trained(folder, "victim", "cnn-digits", x[:800], y[:800], Recipe(10, 3e-3, 0.0, 64))
        query = save_npz(folder / "public.npz", x[800:1300], np.zeros(500, np.int64))
        evaluation = save_npz(folder / "eval.npz", x[1300:], y[1300:])
        print(
            f"{'extraction (500 steps per budget)':<34} {'wall s':>7} {'cpu s':>7}  budget: agreement / copy accuracy"
        )
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
