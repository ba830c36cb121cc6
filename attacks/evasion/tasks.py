"""Engine tasks "evasion", "robustness_curve" and "transfer": run(ctx, params) -> riskapp.evasion/1 document."""

from __future__ import annotations

import time
from typing import Any

from attacks.context import RunContext, UserError
from attacks.environment import PRECISIONS
from attacks.evasion.attacks import ATTACKS
from attacks.evasion.core import SCHEMA, check_attack, evaluate_suite
from attacks.evasion.curve import robustness_curve
from attacks.evasion.params import (
    DEFAULT_SAMPLE_LIMIT,
    MAX_GRID,
    check_eps,
    fit_to_memory,
    get_attacks,
    get_float,
    get_norm,
    load_target,
    settings_from,
)
from attacks.evasion.transfer import transfer_attack
from attacks.params import choice_param, int_param


def _versions() -> dict[str, str]:
    import art
    import numpy
    import torch

    return {"torch": torch.__version__, "art": art.__version__, "numpy": numpy.__version__}


def _document(task: str, settings: Any, described: dict[str, Any], body: dict[str, Any], started: float) -> dict:
    return {
        "schema": SCHEMA,
        "task": task,
        **described,
        "settings": {
            "eps": settings.eps,
            "norm": settings.norm,
            "steps": settings.steps,
            "step_size": settings.step_size,
            "batch_size": settings.batch_size,
            "seed": settings.seed,
            "max_queries": settings.max_queries,
        },
        **body,
        "seconds": round(time.perf_counter() - started, 3),
        "versions": _versions(),
    }


def _eps_list(params: dict[str, Any]) -> list[float]:
    raw = params.get("eps")
    if raw is None or raw == "" or raw == []:
        raise UserError("eps is required (the perturbation budget, in input units).")
    values = raw if isinstance(raw, list | tuple) else [raw]
    return [get_float(v, "eps") for v in values]


def _common(params: dict[str, Any]) -> tuple[int, int]:
    limit = int_param(params, "sample_limit", DEFAULT_SAMPLE_LIMIT, 0, 10**9)
    return limit, int_param(params, "seed", 0, 0, 2**32 - 1)


def _precision(params: dict[str, Any]) -> str:
    """PGD's number format: auto (bfloat16 where the hardware computes it natively), float32 or bfloat16."""
    return choice_param(params, "precision", "auto", PRECISIONS)


def _model_target(params: dict[str, Any], limit: int, seed: int) -> tuple[Any, Any, Any, dict[str, Any]]:
    """load_target for the job's one model (model_path, arch, num_classes, preprocessing) and data."""
    return load_target(
        params.get("model_path"),
        params.get("arch"),
        params.get("num_classes"),
        params.get("data_path"),
        limit,
        seed,
        preprocessing=params.get("preprocessing"),
        precision=_precision(params),
    )


def run_evasion(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """One attack or a suite at one ε. Params: model_path, arch, num_classes, data_path, attacks, eps, norm,
    steps, step_size, batch_size, sample_limit, seed, max_queries, precision."""
    started = time.perf_counter()
    names = get_attacks(params)
    eps = _eps_list(params)
    if len(eps) != 1:
        raise UserError("evasion takes one eps; use robustness_curve for a grid.")
    norm = get_norm(params)
    limit, seed = _common(params)
    ctx.progress(1, "Loading the model and data")
    target, x, y, described = _model_target(params, limit, seed)
    for name in names:
        check_attack(name, target)
        check_eps(eps[0], ATTACKS[name].norm_for(settings_from(params, eps[0], norm)), target)
    settings, memory = fit_to_memory(settings_from(params, eps[0], norm), target)
    body = evaluate_suite(target, names, x, y, settings, ctx)
    ctx.progress(100, "Done")
    return _document("evasion", settings, described, {"device": target.device, "memory": memory, **body}, started)


def run_curve(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """PGD robust accuracy over an ε grid (params as evasion; eps is a list, norm picks PGD L∞ or L2)."""
    started = time.perf_counter()
    grid = sorted(set(_eps_list(params)))
    if not 1 <= len(grid) <= MAX_GRID:
        raise UserError(f"The ε grid needs 1 to {MAX_GRID} values.")
    norm = get_norm(params)
    limit, seed = _common(params)
    ctx.progress(1, "Loading the model and data")
    target, x, y, described = _model_target(params, limit, seed)
    check_attack("pgd_linf", target)
    for eps in grid:
        check_eps(eps, norm, target)
    settings, memory = fit_to_memory(settings_from(params, grid[-1], norm), target)
    body = robustness_curve(target, x, y, grid, settings, ctx)
    ctx.progress(100, "Done")
    attack = f"pgd_{'linf' if norm == 'inf' else 'l2'}"
    return _document("robustness_curve", settings, described, {"attack": attack, "memory": memory, **body}, started)


def run_transfer(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """Craft on teacher_path/teacher_arch, evaluate on student_path/student_arch (ONNX student allowed)."""
    started = time.perf_counter()
    names = get_attacks(params)
    eps = _eps_list(params)
    norm = get_norm(params)
    limit, seed = _common(params)
    if not params.get("teacher_path") or not params.get("student_path"):
        raise UserError("transfer needs teacher_path and student_path.")
    ctx.progress(1, "Loading the models and data")
    teacher, x, y, teacher_desc = load_target(
        params["teacher_path"],
        params.get("teacher_arch"),
        params.get("num_classes"),
        params.get("data_path"),
        limit,
        seed,
        preprocessing=params.get("teacher_preprocessing"),
        precision=_precision(params),
    )
    student, _, _, student_desc = load_target(
        params["student_path"],
        params.get("student_arch"),
        params.get("num_classes"),
        params.get("data_path"),
        limit,
        seed,
        preprocessing=params.get("student_preprocessing"),
    )
    if teacher.num_classes != student.num_classes:
        raise UserError(f"The teacher has {teacher.num_classes} classes and the student {student.num_classes}.")
    settings, memory = fit_to_memory(settings_from(params, eps[0], norm), teacher)
    check_eps(eps[0], ATTACKS[names[0]].norm_for(settings), teacher)
    body = transfer_attack(teacher, student, x, y, settings, ctx, attack=names[0])
    described = {
        "teacher": teacher_desc["model"],
        "model": student_desc["model"],
        "data": student_desc["data"],
        "input_range": student_desc["input_range"],
    }
    ctx.progress(100, "Done")
    return _document("transfer", settings, described, {"device": teacher.device, "memory": memory, **body}, started)
