"""Routing by need: which queue a job goes to, and which queues a worker takes.

Without memory tiers (RISKAPP_MEMORY_TIERS_GB unset) a job goes to its kind's pool, `cpu` or `gpu`, as
before. With tiers, say 16,80, the pool is split by size: a job goes to the queue of the smallest tier that
holds it (`gpu-16g` or `gpu-80g`), and a worker that declares RISKAPP_WORKER_MEMORY_GB=24 takes the tier
queues of its pools up to its size (`gpu-16g` only). A big model so never lands on a worker that cannot
hold it; a job bigger than the largest tier is refused when it is created, with the sizes in the message.

A job's need is estimated from the stored files it loads (its model and its data) times MEMORY_PER_BYTE:
the weights once as stored, once on the device, gradients and activations besides.
"""

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.storage import default_storage

log = logging.getLogger(__name__)

MEMORY_PER_BYTE = 4
GB = 1024**3


def tier_queue(pool: str, tier_gb: float) -> str:
    """The queue of one memory tier of a pool: gpu-16g, cpu-0.5g."""
    return f"{pool}-{tier_gb:g}g"


def memory_need_gb(input_bytes: int) -> float:
    return input_bytes * MEMORY_PER_BYTE / GB


def queue_for_need(*, pool: str, input_bytes: int, tiers_gb: Sequence[float]) -> str:
    """The queue of the smallest tier that holds a job loading `input_bytes` of stored files."""
    if not tiers_gb:
        return pool
    need = memory_need_gb(input_bytes)
    for tier in sorted(tiers_gb):
        if need <= tier:
            return tier_queue(pool, tier)
    raise ValidationError(
        f"This job loads {input_bytes / GB:.2f} GB of model and data and needs about {need:.1f} GB of memory; "
        f"the largest workers hold {max(tiers_gb):g} GB (RISKAPP_MEMORY_TIERS_GB). Use a smaller model or "
        "sample, or ask an administrator to add a worker with more memory and its tier."
    )


def job_input_bytes(file_names: Iterable[str]) -> int:
    """The stored size of a job's input files, from storage (a HEAD request on S3, a stat on disk)."""
    total = 0
    for name in file_names:
        if not name:
            continue
        try:
            total += default_storage.size(name)
        except FileNotFoundError:
            raise ValidationError(f"The stored file {name} is missing from storage; upload it again.") from None
    return total


def job_queue(kind: Any, parameters: dict[str, Any]) -> str:
    """The queue a new job of `kind` with (cleaned) `parameters` goes to."""
    pool = kind.queue_for(parameters)
    tiers = settings.JOB_MEMORY_TIERS_GB
    if not tiers:
        return pool
    names = [parameters.get(name) for name in kind.file_params]
    return queue_for_need(pool=pool, input_bytes=job_input_bytes(names), tiers_gb=tiers)


def worker_queues(*, pools: Iterable[str], memory_gb: float | None, tiers_gb: Sequence[float]) -> list[str]:
    """The tier queues a worker that consumes `pools` and holds `memory_gb` takes, smallest first."""
    if not tiers_gb:
        return []
    if memory_gb is None:
        raise ImproperlyConfigured(
            "RISKAPP_MEMORY_TIERS_GB is set, so jobs are routed by size: declare what this worker holds with "
            "RISKAPP_WORKER_MEMORY_GB (its GPU memory on a GPU worker, its RAM on a CPU worker), in GB."
        )
    held = [tier for tier in sorted(tiers_gb) if tier <= memory_gb]
    if not held:
        log.warning(
            "this worker holds %g GB, less than the smallest tier (%g GB): it takes no jobs, only the %s queue(s)",
            memory_gb,
            min(tiers_gb),
            ", ".join(pools),
        )
    return [tier_queue(pool, tier) for pool in pools for tier in held]
