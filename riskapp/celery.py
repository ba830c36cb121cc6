"""The one Celery app of riskapp. Its settings live in riskapp/settings.py (CELERY_*)."""

import os

from celery import Celery
from celery.signals import celeryd_after_setup, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskapp.settings")

app = Celery("riskapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def start_spare_sandbox(**_) -> None:
    """Each worker process starts its first spare sandbox as it comes up (see riskapp.jobs.sandbox)."""
    from riskapp.jobs.execute import prepare_spare

    prepare_spare()


@celeryd_after_setup.connect
def consume_memory_tiers(sender, instance, **_) -> None:
    """With RISKAPP_MEMORY_TIERS_GB, a worker also takes the tier queues of its pools that its memory
    (RISKAPP_WORKER_MEMORY_GB) holds: `-Q gpu` on a 24 GB GPU takes gpu-16g, not gpu-80g (riskapp.jobs.routing)."""
    from django.conf import settings

    from riskapp.jobs.routing import worker_queues

    queues = instance.app.amqp.queues
    for name in worker_queues(
        pools=list(queues.consume_from), memory_gb=settings.WORKER_MEMORY_GB, tiers_gb=settings.JOB_MEMORY_TIERS_GB
    ):
        queues.select_add(name)
