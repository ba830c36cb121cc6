from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from riskapp.dashboards.demo import DEMO_NAME, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo project (models, data, a filled assessment, every model's validation and every planned "
        "test queued as background work), once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", help="username of the demo project's owner (default: the first superuser)")
        parser.add_argument(
            "--from-dir",
            type=Path,
            help="reuse a demo already built (attacks.backdoor.demo.build_demo and attacks.demo_library in one folder)",
        )

    def handle(self, *args, owner=None, from_dir=None, **options):
        users = get_user_model().objects
        user = users.filter(username=owner).first() if owner else users.filter(is_superuser=True).first()
        if user is None:
            raise CommandError("No owner for the demo: create a superuser first, or pass --owner USERNAME.")
        files = None
        if from_dir is not None:
            names = {
                "teacher": "teacher.safetensors",
                "student_head": "student-head.safetensors",
                "student_all": "student-all.safetensors",
                "train": "train-poisoned.npz",
                "student_train": "student-train.npz",
                "test": "test.npz",
                "test_triggered": "test-triggered.npz",
                "library_teacher": "library-teacher.safetensors",
                "library_student": "library-student.safetensors",
                "library_test": "colours-test.npz",
            }
            files = {key: from_dir / name for key, name in names.items()}
        project = seed_demo(owner=user, files=files, log=lambda text: self.stdout.write(text))
        if project is None:
            self.stdout.write(f"The demo project “{DEMO_NAME}” exists already.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Demo project ready: /projects/{project.pk}/"))
