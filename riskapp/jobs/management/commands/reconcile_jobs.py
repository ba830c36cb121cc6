import json

from django.core.management.base import BaseCommand

from riskapp.jobs.services import jobs_reconcile


class Command(BaseCommand):
    help = (
        "Re-enqueue queued jobs whose broker message was lost and handle running jobs whose heartbeat "
        "stopped (requeue below the attempts cap, fail at it). Celery beat runs the same every minute."
    )

    def handle(self, *args, **options):
        report = jobs_reconcile()
        self.stdout.write(json.dumps(report.as_dict()))
