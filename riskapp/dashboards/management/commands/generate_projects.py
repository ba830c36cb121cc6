"""Fill the database with many realistic projects, for load tests and the page-speed benchmark.

    python manage.py generate_projects --projects 1000 --jobs 20000 --user manager

Each project gets a member role for the user, an assessment with answers drawn from the question bank,
a teacher and two students (one a second version of the other), and its share of finished jobs whose
results have the engine's shapes (attacks, curves, backdoor scans, lineage), with evidence from them.
Rows are bulk-inserted; the portfolio summaries are computed at the end, as the portfolio would.
"""

import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from riskapp.artifacts.models import IntakeStatus, ModelArtifact, ModelRole
from riskapp.assessments.bank import load_bank
from riskapp.assessments.models import AssessmentStatus, AssessmentVersion, Evidence
from riskapp.dashboards.services import risk_summary_refresh
from riskapp.evaluations.kinds.backdoor_scan import BACKDOOR_SCAN, TEACHER_EVIDENCE
from riskapp.evaluations.kinds.evasion import ATTACK, ROBUSTNESS_CURVE_KIND
from riskapp.evaluations.kinds.lineage import LINEAGE_KIND
from riskapp.jobs.models import Job, JobStatus
from riskapp.projects.models import Membership, Project
from riskapp.projects.roles import Role

NAME_PREFIX = "Generated project"
ROLES = [Role.OWNER, Role.ASSESSOR, Role.REVIEWER, Role.VIEWER]


def _answers(bank, rng: random.Random) -> dict:
    answers: dict = {}
    for question in bank.questions:
        options = question.known_option_values
        if question.type == "multiple_choice" and options:
            answers[question.id] = sorted(rng.sample(options, k=rng.randint(1, len(options))))
        elif options:
            answers[question.id] = rng.choice(options)
        elif question.type == "number":
            answers[question.id] = round(rng.uniform(question.minimum or 0.0, min(question.maximum or 0.1, 0.1)), 3)
    return answers


def _result(kind: str, rng: random.Random, teacher_id: int) -> tuple[dict, dict, dict]:
    """(parameters extra, result, evidence kind -> value) of one finished job."""
    robust = round(rng.uniform(0.05, 0.9), 3)
    if kind == ATTACK.name:
        row = {"attack": "pgd_linf", "eps": 0.03, "robust_accuracy": robust, "clean_accuracy": 0.97,
               "attack_success_rate": round(1 - robust / 0.97, 3), "examples": []}  # fmt: skip
        return {}, {"attacks": [row], "trustworthy": True, "clean_accuracy": 0.97}, {"robust_accuracy": robust}
    if kind == ROBUSTNESS_CURVE_KIND.name:
        curve = [{"eps": e, "robust_accuracy": round(max(0.0, 0.97 - e * rng.uniform(2, 9)), 3), "attacked": 100}
                 for e in (0.01, 0.02, 0.03, 0.05, 0.08, 0.1)]  # fmt: skip
        return {}, {"norm": "inf", "curve": curve, "trustworthy": True, "clean_accuracy": 0.97}, {}
    if kind == BACKDOOR_SCAN.name:
        flagged = [0] if rng.random() < 0.2 else []
        classes = [{"class": k, "anomaly_index": 3.1 if k in flagged else round(rng.uniform(0, 1.8), 2),
                    "flagged": k in flagged} for k in range(10)]  # fmt: skip
        result = {"flagged_classes": flagged, "classes": classes, "anomaly_threshold": 2.0}
        return {}, result, {"backdoor_flagged": bool(flagged)}
    verdict = rng.choice(["inherited", "not_inherited", "no_teacher_backdoor"])
    return {"teacher_id": teacher_id}, {"verdict": verdict, "layers": []}, {}


class Command(BaseCommand):
    help = "Generate many projects with jobs and results (load tests and benchmarks/web.py)."

    def add_arguments(self, parser):
        parser.add_argument("--projects", type=int, default=1000)
        parser.add_argument("--jobs", type=int, default=20000, help="finished jobs in all, spread over projects")
        parser.add_argument("--user", default="manager", help="username made a member of every project")
        parser.add_argument("--password", default="", help="set this password on the user (created if missing)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, projects, jobs, user, password, seed, **options):
        if projects < 1 or jobs < 0:
            raise CommandError("--projects must be at least 1 and --jobs at least 0.")
        rng = random.Random(seed)
        users = get_user_model().objects
        member = users.filter(username=user).first() or users.create_user(user)
        if password:
            member.set_password(password)
            member.save()
        bank = load_bank()
        start = Project.objects.filter(name__startswith=NAME_PREFIX).count()
        with transaction.atomic():
            created = Project.objects.bulk_create(
                Project(
                    name=f"{NAME_PREFIX} {start + i + 1:04d}",
                    risk_appetite=rng.choice(["low", "medium"]),
                    created_by=member,
                )  # fmt: skip
                for i in range(projects)
            )
            Membership.objects.bulk_create(
                Membership(project=p, user=member, role=ROLES[i % len(ROLES)]) for i, p in enumerate(created)
            )
            AssessmentVersion.objects.bulk_create(
                AssessmentVersion(project=p, number=1, bank_version=bank.version, answers=_answers(bank, rng),
                                  status=rng.choice([AssessmentStatus.DRAFT, AssessmentStatus.SUBMITTED]))
                for p in created
            )  # fmt: skip
            models = []
            for p in created:
                for name, role in (("teacher", ModelRole.TEACHER), ("student", ModelRole.STUDENT)):
                    models.append(
                        ModelArtifact(
                            project=p,
                            name=name,
                            role=role,
                            original_name=f"{name}.safetensors",
                            sha256=f"{rng.getrandbits(256):064x}",
                            size=600_000,
                            format="safetensors",
                            status=IntakeStatus.READY,
                            architecture="cnn-digits",
                            num_classes=10,
                            file=f"uploads/generated/{p.pk}-{name}",
                        )  # fmt: skip
                    )
            models = ModelArtifact.objects.bulk_create(models)
            pairs = {}
            for teacher, student in zip(models[::2], models[1::2], strict=True):
                student.parent = teacher
                pairs[teacher.project_id] = (teacher, student)
            ModelArtifact.objects.bulk_update(models[1::2], ["parent"])
            now = timezone.now()
            job_rows, evidence = [], []
            kinds = [kind.name for kind in (ATTACK, ROBUSTNESS_CURVE_KIND, BACKDOOR_SCAN, LINEAGE_KIND)]
            for i in range(jobs):
                project = created[i % len(created)]
                teacher, student = pairs[project.pk]
                kind = kinds[(i // len(created)) % len(kinds)]
                model = teacher if kind == BACKDOOR_SCAN.name and rng.random() < 0.5 else student
                extra, result, measured = _result(kind, rng, teacher.pk)
                if kind == BACKDOOR_SCAN.name and model == teacher:  # a teacher's scan is the teacher's evidence
                    measured = {TEACHER_EVIDENCE.get(kind_, kind_): value for kind_, value in measured.items()}
                finished = now - timezone.timedelta(minutes=rng.randint(1, 60 * 24 * 90))
                job = Job(project=project, kind=kind, queue="gpu", status=JobStatus.SUCCEEDED, attempts=1,
                          progress=100, parameters={"model_id": model.pk, "dataset_id": 0, **extra}, result=result,
                          started_at=finished, finished_at=finished, created_by=member)  # fmt: skip
                job_rows.append(job)
                evidence.extend((job, kind_, value, model) for kind_, value in measured.items())
            job_rows = Job.objects.bulk_create(job_rows, batch_size=2000)
            Evidence.objects.bulk_create(
                (Evidence(project_id=job.project_id, kind=kind_, value=value, source=f"{job.kind} job {job.pk}",
                          job=job, model=model) for job, kind_, value, model in evidence),
                batch_size=2000,
            )  # fmt: skip
        for i, project in enumerate(created, 1):
            risk_summary_refresh(project=project)
            if i % 200 == 0:
                self.stdout.write(f"  scored {i}/{len(created)} projects")
        self.stdout.write(
            self.style.SUCCESS(f"Generated {len(created)} projects and {len(job_rows)} jobs for user {member}.")
        )
