"""The summary table on stdout, the JUnit XML report, and the progress line on stderr."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from typing import Any, TextIO

FAILED_JOB = ("failed", "cancelled", "timed_out")


def _measured(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def summary_table(evaluation: dict[str, Any], jobs: list[dict[str, Any]]) -> str:
    rows = [("gate", "status", "measured", "details")]
    for result in evaluation["gates"]:
        gate = result["gate"]
        status = result["status"] if gate["enabled"] else f"{result['status']} (disabled)"
        rows.append(
            (f"{gate['kind']}: {gate['description']}", status, _measured(result["measured"]), result["message"])
        )
    for job in jobs:
        if job["status"] in FAILED_JOB:
            rows.append((f"job {job['id']} {job['kind']}", job["status"], "—", (job.get("error") or "").split("\n")[0]))
    widths = [min(max(len(row[i]) for row in rows), 70) for i in range(3)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3])
        if n == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 7)
    return "\n".join(lines)


def junit_xml(evaluation: dict[str, Any], jobs: list[dict[str, Any]], *, model_label: str) -> bytes:
    """One testsuite "riskapp quality gates": a testcase per gate (failure names the gate and the measured
    value; a gate not measured is a failure too), and a testcase for each job that did not succeed."""
    suite = ET.Element("testsuite", name="riskapp quality gates")
    failures = errors = tests = 0
    for result in evaluation["gates"]:
        gate = result["gate"]
        name = f"{gate['kind']}: {gate['description']}"
        case = ET.SubElement(suite, "testcase", classname=f"riskapp.gates.{model_label}", name=name)
        tests += 1
        if not gate["enabled"]:
            ET.SubElement(case, "skipped", message="gate disabled")
        elif result["passed"] is not True:
            failures += 1
            message = f"gate {gate['kind']} {result['status']}: measured {_measured(result['measured'])}"
            failure = ET.SubElement(case, "failure", message=message, type=result["status"].replace(" ", "_"))
            failure.text = f"{name}\n{result['message']}"
    for job in jobs:
        if job["status"] not in FAILED_JOB:
            continue
        tests += 1
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="riskapp.jobs", name=f"job {job['id']} {job['kind']}")
        error = ET.SubElement(
            case, "error", message=f"job {job['id']} {job['kind']} {job['status']}", type=job["status"]
        )
        error.text = job.get("error") or ""
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(sum(1 for r in evaluation["gates"] if not r["gate"]["enabled"])))
    root = ET.Element("testsuites", name="riskapp-ci")
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


class Progress:
    """A text progress bar on stderr: redrawn in place on a terminal, one line per change in a CI log."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.width = width
        self.last = ""

    def update(self, jobs: list[dict[str, Any]]) -> None:
        if not jobs:
            return
        done = sum(1 for job in jobs if job["is_finished"])
        percent = sum(100 if job["is_finished"] else job.get("progress") or 0 for job in jobs) / len(jobs)
        filled = int(self.width * percent / 100)
        running = [job for job in jobs if job["status"] == "running"]
        now = f" · {running[0]['kind']}: {running[0].get('progress_message') or ''}" if running else ""
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {percent:5.1f}% {done}/{len(jobs)} jobs done{now}"
        if line == self.last:
            return
        self.last = line
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()
