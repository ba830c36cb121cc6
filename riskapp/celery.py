"""The one Celery app of riskapp. Its settings live in riskapp/settings.py (CELERY_*)."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskapp.settings")

app = Celery("riskapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def start_spare_sandbox(**_) -> None:
    """Each worker process starts its first spare sandbox as it comes up (see riskapp.jobs.sandbox)."""
    from riskapp.jobs.execute import prepare_spare

    prepare_spare()
