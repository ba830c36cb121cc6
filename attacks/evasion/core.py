"""Run one attack (or a suite) on a Target and an evaluation set; score it; save example images."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.evasion import flags as checks
from attacks.evasion.attacks import ATTACKS, Settings
from attacks.evasion.metrics import distances, norms, rate, summary, within
from attacks.evasion.png import example_strip
from attacks.evasion.target import Target
from attacks.png import write_png

SCHEMA = "riskapp.evasion/1"
EXAMPLES = 3
Report = Callable[[float, str], None]  # (fraction of this attack done, message)


def seed_everything(seed: int) -> None:
    """ART draws from NumPy's global generator; torch's is used by dropout and our PGD's fallback."""
    import torch

    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_attack(name: str, target: Target) -> None:
    if name not in ATTACKS:
        raise UserError(f"Unknown attack {name!r}; choose from {', '.join(ATTACKS)}.")
    if ATTACKS[name].white_box and not target.white_box:
        black = ", ".join(n for n, s in ATTACKS.items() if not s.white_box)
        raise UserError(
            f"{name} is a white-box attack and needs gradients, which an ONNX model does not give here; "
            f"use a black-box attack ({black}) or upload PyTorch weights."
        )


def clean_predictions(target: Target, x: np.ndarray, batch_size: int, ctx: RunContext) -> np.ndarray:
    parts = []
    for start in range(0, len(x), batch_size):
        ctx.check_cancel()
        parts.append(target.predict(x[start : start + batch_size], batch_size).argmax(1))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _pgd_batch(target: Target, xb: np.ndarray, yb: np.ndarray, s: Settings, norm: str, gen: Any) -> np.ndarray:
    import torch

    x_t = torch.from_numpy(np.ascontiguousarray(xb, np.float32)).to(target.device)
    y_t = torch.from_numpy(yb).to(target.device)
    adv, _ = target.pgd(
        x_t,
        y_t,
        eps=s.eps,
        norm=norm,
        steps=s.steps,
        step_size=s.step_size,
        clip=target.clip,
        generator=gen,
    )
    return adv.cpu().numpy()


class _ReportingContext:
    """`ctx` for the AutoAttack cascade: its cancel checks, with progress going to this attack's `report`."""

    def __init__(self, ctx: RunContext, report: Report) -> None:
        self.check_cancel = ctx.check_cancel
        self._report = report

    def progress(self, percent: float, message: str = "") -> None:
        self._report(percent / 100, message)


def _autoattack_all(
    target: Target,
    x: np.ndarray,
    y: np.ndarray,
    s: Settings,
    norm: str,
    ctx: RunContext,
    report: Report,
    details: dict[str, Any] | None,
) -> np.ndarray:
    """The standard AutoAttack cascade (it batches itself, stage by stage over the survivors); its per-stage
    counts go to `details["stages"]`."""
    import torch

    from attacks.evasion.autoattack import autoattack

    result = autoattack(
        target.model,  # type: ignore[arg-type]
        torch.from_numpy(np.ascontiguousarray(x, np.float32)),
        torch.from_numpy(np.asarray(y, np.int64)),
        eps=s.eps,
        norm=norm,
        clip=target.clip,
        batch_size=s.batch_size,
        seed=s.seed,
        ctx=_ReportingContext(ctx, report),
    )
    if details is not None:
        details["stages"] = [
            {"stage": st.name, "attacked": st.attacked, "fooled": st.fooled, "seconds": st.seconds}
            for st in result.stages
        ]
    return result.adversarial.numpy()


def _runs_target_pgd(name: str) -> bool:
    """Whether `generate` runs attack `name` as Target.pgd (our PGD loop: gradients in the target's precision);
    every other attack runs through ART, or AutoAttack's own float32 cascade."""
    return ATTACKS[name].build is None and name != "autoattack"


def generate(
    target: Target,
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    s: Settings,
    ctx: RunContext,
    report: Report,
    details: dict[str, Any] | None = None,
) -> np.ndarray:
    """Adversarial versions of `x` (all assumed correctly classified), batch by batch with cancel checks.

    `details`, when given, receives what an attack reports beyond its examples (AutoAttack: its stages)."""
    import torch

    spec = ATTACKS[name]
    norm = spec.norm_for(s)
    seed_everything(s.seed)
    if name == "autoattack":
        return _autoattack_all(target, x, y, s, norm, ctx, report, details)
    attack = spec.build(target.art_estimator(), s) if spec.build is not None else None
    gen = torch.Generator(device=target.device if target.white_box else "cpu").manual_seed(s.seed)
    out = np.empty_like(x, dtype=np.float32)
    for start in range(0, len(x), s.batch_size):
        ctx.check_cancel()
        xb, yb = x[start : start + s.batch_size], y[start : start + s.batch_size]
        if attack is None:
            out[start : start + len(xb)] = _pgd_batch(target, xb, yb, s, norm, gen)
        else:
            onehot = np.eye(target.num_classes, dtype=np.float32)[yb]
            # float32 in: ART keeps the input dtype, and a float64 array reaching the model fails (HopSkipJump).
            adv = attack.generate(x=np.ascontiguousarray(xb, np.float32), y=onehot)
            out[start : start + len(xb)] = np.asarray(adv, dtype=np.float32)
        done = min(start + s.batch_size, len(x))
        report(done / max(len(x), 1), f"{name}: {done}/{len(x)} samples")
    return out


def _save_examples(
    output_dir: Path, prefix: str, x: np.ndarray, adv: np.ndarray, clip: tuple[float, float]
) -> list[str]:
    names = []
    for i in range(min(EXAMPLES, len(x))):
        name = f"{prefix}-example-{i + 1}.png"
        write_png(output_dir / name, example_strip(x[i], adv[i], *clip))
        names.append(name)
    return names


def evaluate_attack(
    target: Target,
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    settings: Settings,
    ctx: RunContext,
    *,
    clean_pred: np.ndarray | None = None,
    report: Report | None = None,
    examples: bool = True,
) -> dict[str, Any]:
    """Attack the correctly classified samples of (x, y) with `name`; accuracy, success, perturbation, time."""
    check_attack(name, target)
    spec = ATTACKS[name]
    norm = spec.norm_for(settings)
    report = report or (lambda fraction, message: None)
    if clean_pred is None:
        clean_pred = clean_predictions(target, x, settings.batch_size, ctx)
    correct = np.flatnonzero(clean_pred == y)
    started = time.perf_counter()
    target.reset_queries()
    details: dict[str, Any] = {}
    adv = generate(target, name, x[correct], y[correct], settings, ctx, report, details)
    queries = target.count_queries()
    seconds = time.perf_counter() - started
    adv_pred = clean_predictions(target, adv, settings.batch_size, ctx)
    linf, l2 = norms(x[correct], adv)
    fooled = adv_pred != y[correct]
    if spec.eps_bounded:  # an attack that left the ε-ball does not count, whatever ART returned
        fooled &= within(linf, l2, settings.eps, norm)
    result: dict[str, Any] = {
        "attack": name,
        "white_box": spec.white_box,
        "eps_bounded": spec.eps_bounded,
        "norm": norm,
        "eps": settings.eps if spec.eps_bounded else None,
        "samples": int(len(x)),
        "attacked": int(len(correct)),
        "fooled": int(fooled.sum()),
        "clean_accuracy": rate(len(correct), len(x)),
        "robust_accuracy": rate(len(correct) - int(fooled.sum()), len(x)),
        "attack_success_rate": rate(int(fooled.sum()), len(correct)),
        "perturbation": summary(linf[fooled], l2[fooled]),
        "queries": int(queries) if not spec.white_box else None,
        "queries_per_sample": rate(int(queries), len(correct)) if not spec.white_box else None,
        "wall_seconds": round(seconds, 4),
        "device": target.device,
        # PGD's gradients may be bfloat16 (Target.precision); what counts as fooled is always float32's answer.
        "precision": target.precision if _runs_target_pgd(name) else "float32",
        "examples": [],
    }
    if not spec.eps_bounded:  # a minimum-norm attack measures distances, not accuracy inside a budget
        result["distances"] = distances(linf, l2, fooled, len(x), settings.eps, settings.norm)
    if "stages" in details:  # AutoAttack: what each stage fooled among the samples every earlier stage missed
        result["stages"] = details["stages"]
    if examples and fooled.any():
        chosen = np.flatnonzero(fooled)
        result["examples"] = _save_examples(ctx.output_dir, name, x[correct][chosen], adv[chosen], target.clip)
    return result


def evaluate_suite(
    target: Target, names: Sequence[str], x: np.ndarray, y: np.ndarray, settings: Settings, ctx: RunContext
) -> dict[str, Any]:
    """Every attack in `names` on the same samples, plus the validity flags; progress from 5 % to 98 %."""
    for name in names:
        check_attack(name, target)
    ctx.progress(5, "Clean predictions")
    clean_pred = clean_predictions(target, x, settings.batch_size, ctx)
    correct = clean_pred == y
    results = []
    for i, name in enumerate(names):

        def report(fraction: float, message: str, i: int = i) -> None:
            ctx.progress(8 + 85 * (i + fraction) / len(names), message)

        results.append(evaluate_attack(target, name, x, y, settings, ctx, clean_pred=clean_pred, report=report))
    ctx.progress(95, "Validity checks")
    found = [
        checks.gradient_flag(target, x[correct][:256], y[correct][:256]),
        checks.randomness_flag(target, x[:64]),
        checks.black_box_flag(results),
    ]
    found_flags = [flag for flag in found if flag is not None]
    return {
        "clean_accuracy": rate(int(correct.sum()), len(x)),
        "attacks": results,
        "flags": found_flags,
        "trustworthy": not found_flags,
        "verdict": checks.verdict(found_flags),
    }
