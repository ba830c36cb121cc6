"""The progress tick both sides of the sandbox share: what the runner writes reads back as the same tick."""

import io
import json

from attacks.progress import ProgressTick
from attacks.runner import _Reporter


def test_a_tick_written_by_the_runner_reads_back_rounded_and_cut_to_length():
    stream = io.StringIO()
    _Reporter(stream).progress(100, "x" * 500)
    report = json.loads(stream.getvalue())
    assert report["type"] == "progress"
    assert ProgressTick.from_report(report) == ProgressTick(percent=100.0, message="x" * 200)


def test_a_tick_rounds_its_percent_to_one_decimal():
    assert ProgressTick(12.345, "epoch 1").to_report() == {"type": "progress", "percent": 12.3, "message": "epoch 1"}


def test_a_report_without_fields_reads_as_zero_and_no_message():
    assert ProgressTick.from_report({"type": "progress"}) == ProgressTick(0.0, "")
