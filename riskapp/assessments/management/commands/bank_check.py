"""`manage.py bank_check [--json] [--path DIR]`: validate the question bank and threat catalogue, print counts."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from riskapp.assessments.bank import CONTENT_DIR, BankError, bank_summary, read_bank


class Command(BaseCommand):
    help = (
        "Check the question bank, threat catalogue, evidence rules and test-plan rules against their schemas and "
        "the known ATLAS / OWASP ML / NIST ids; print counts. Exits with status 1 and every problem on failure."
    )
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the counts as a JSON object.")
        parser.add_argument(
            "--path",
            type=Path,
            default=CONTENT_DIR,
            help="Content directory to check (default: the packaged riskapp/assessments/content).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            bank = read_bank(options["path"])
        except BankError as exc:
            heading = f"{len(exc.messages)} problem(s) in {options['path']}:"
            raise CommandError("\n".join([heading, *exc.messages])) from exc
        summary = bank_summary(bank)
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(self.style.SUCCESS(f"Question bank v{summary['version']} is valid ({summary['directory']})."))
        self.stdout.write(f"  questions       {summary['questions']:>4}")
        for area, count in summary["areas"].items():
            self.stdout.write(f"    {area:<16}{count:>3}")
        self.stdout.write(f"  threats         {summary['threats']:>4}")
        self.stdout.write(f"  evidence kinds  {summary['evidence_kinds']:>4}")
        self.stdout.write(f"  evidence rules  {summary['evidence_rules']:>4}")
        self.stdout.write(f"  plan rules      {summary['plan_rules']:>4}")
