# Load the Celery app whenever Django starts, so that @shared_task binds to it
# and `transaction.on_commit` enqueues reach the configured broker.
from riskapp.celery import app as celery_app

__all__ = ["celery_app"]
