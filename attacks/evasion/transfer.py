"""Transfer attack: adversarial examples crafted on a teacher (surrogate) model, evaluated on the student."""

from __future__ import annotations

from typing import Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.evasion.attacks import ATTACKS, Settings
from attacks.evasion.core import check_attack, clean_predictions, evaluate_attack, generate
from attacks.evasion.metrics import rate
from attacks.evasion.target import Target


def transfer_attack(
    teacher: Target,
    student: Target,
    x: np.ndarray,
    y: np.ndarray,
    settings: Settings,
    ctx: RunContext,
    *,
    attack: str = "pgd_linf",
) -> dict[str, Any]:
    """Transfer success on the student next to white-box success on the teacher and (if possible) the student.

    Transfer success counts the samples both models classify correctly, so it compares like with like.
    """
    if not ATTACKS.get(attack) or not ATTACKS[attack].white_box or not ATTACKS[attack].eps_bounded:
        raise UserError(f"A transfer attack is crafted with fgsm, pgd_linf, pgd_l2 or autoattack, not {attack!r}.")
    check_attack(attack, teacher)
    ctx.progress(5, "Clean predictions")
    teacher_pred = clean_predictions(teacher, x, settings.batch_size, ctx)
    student_pred = clean_predictions(student, x, settings.batch_size, ctx)
    both = np.flatnonzero((teacher_pred == y) & (student_pred == y))

    def report(fraction: float, message: str) -> None:
        ctx.progress(10 + 40 * fraction, f"crafting on the teacher: {message}")

    adv = generate(teacher, attack, x[both], y[both], settings, ctx, report)
    fooled_student = clean_predictions(student, adv, settings.batch_size, ctx) != y[both]
    fooled_teacher = clean_predictions(teacher, adv, settings.batch_size, ctx) != y[both]
    ctx.progress(55, "White-box attack on the teacher")
    on_teacher = evaluate_attack(teacher, attack, x, y, settings, ctx, clean_pred=teacher_pred, examples=False)
    on_student = None
    if student.white_box:
        ctx.progress(75, "White-box attack on the student")
        on_student = evaluate_attack(student, attack, x, y, settings, ctx, clean_pred=student_pred, examples=False)
    ctx.progress(98, "Done")
    return {
        "attack": attack,
        "eps": settings.eps,
        "norm": ATTACKS[attack].norm_for(settings),
        "samples": int(len(x)),
        "teacher_clean_accuracy": rate(int((teacher_pred == y).sum()), len(x)),
        "student_clean_accuracy": rate(int((student_pred == y).sum()), len(x)),
        "attacked": int(len(both)),
        "transfer_success_rate": rate(int(fooled_student.sum()), len(both)),
        "teacher_success_on_crafted": rate(int(fooled_teacher.sum()), len(both)),
        "white_box_teacher": on_teacher,
        "white_box_student": on_student,
    }
