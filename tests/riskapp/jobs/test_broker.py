"""The configured broker really receives a job's message: the filesystem queue by default, Redis when
REDIS_URL is set (as in CI). The message carries the job id and nothing else."""

import pytest
from django.conf import settings

from riskapp.celery import app
from riskapp.jobs import services
from riskapp.jobs.services import RUN_JOB_TASK

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_created_job_reaches_the_configured_broker_with_only_its_id(team):
    if settings.REDIS_URL:
        assert app.conf.broker_url == settings.REDIS_URL
    job = services.job_create(
        user=team.assessor, project=team.project, kind="environment_check", parameters={"queue": "cpu"}
    )
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("cpu")
        try:
            for _ in range(1000):  # the queue may hold messages of earlier runs: find ours
                message = queue.get(timeout=10)
                message.ack()
                if message.headers.get("task") == RUN_JOB_TASK and message.payload[0] == [job.pk]:
                    break
            else:
                pytest.fail("the job's message never arrived")
        finally:
            queue.close()
    args, kwargs, _ = message.payload
    assert args == [job.pk] and kwargs == {}
    assert message.content_type == "application/json"
