"""One attempt's state lives on its JobRun: the latest progress tick goes out with the next heartbeat."""

import pytest

from attacks.progress import ProgressTick
from riskapp.jobs import services
from riskapp.jobs.execute import JobRun
from riskapp.jobs.models import Job
from riskapp.jobs.sandbox import Tick

pytestmark = pytest.mark.django_db


def claimed(team):
    job = services.job_create(user=team.assessor, project=team.project, kind="environment_check", parameters={})
    return services.job_claim(job_id=job.pk)


def test_a_heartbeat_records_the_latest_progress_tick(team):
    run = JobRun(claimed(team))
    assert run.on_tick() == Tick.CONTINUE
    assert Job.objects.get(pk=run.job.pk).progress == 0  # no tick yet
    run.on_progress(ProgressTick(12.5, "epoch 1"))
    run.on_progress(ProgressTick(42.0, "epoch 2"))
    assert run.on_tick() == Tick.CONTINUE
    job = Job.objects.get(pk=run.job.pk)
    assert (job.progress, job.progress_message) == (42, "epoch 2")


def test_a_cancel_request_reaches_the_sandbox_on_the_next_tick(team):
    run = JobRun(claimed(team))
    Job.objects.filter(pk=run.job.pk).update(cancel_requested=True)
    assert run.on_tick() == Tick.CANCEL
