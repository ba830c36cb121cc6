"""Bad job parameters: no Job row is created, nothing is sent to a worker, and the error names the parameter.

Jobs are started over the API (POST jobs/create/ with a kind and its parameters, POST models/<id>/test-plan/)
and from the browser (the project page's Run buttons, a model's Validate and security-test forms, the register's
"Run the plan")."""

import pytest

from tests.bad_input.checks import Refused, by_route, check_refused

pytestmark = pytest.mark.django_db


def start(kind, parameters=None):
    """POST jobs/create/ as the owner; `parameters` is a dict or a function of the world."""

    def send(w):
        body = {"kind": kind}
        if parameters is not None:
            body["parameters"] = parameters(w) if callable(parameters) else parameters
        return w.api().post(w.api_url("jobs/create/"), body, format="json")

    return send


def on_student(**extra):
    """Parameters of a test on the ready student and evaluation data, with `extra` (values or functions)."""
    return lambda w: {
        "model_id": w.student.pk,
        "dataset_id": w.data.pk,
        **{name: value(w) if callable(value) else value for name, value in extra.items()},
    }


def evaluate(*, model=lambda w: w.student, **fields):
    """The browser's security-test form on a model's page."""

    def send(w):
        data = {"kind": "attack", "dataset": w.data.pk, "attack": "pgd_linf", "eps": "0.1", "sample_limit": 10}
        data |= {name: value(w) if callable(value) else value for name, value in fields.items()}
        return w.browser().post(w.page(f"models/{model(w).pk}/evaluate/"), data)

    return send


def run_button(kind, **fields):
    """The project page's Run button of a job kind, with its prefixed fields."""
    return lambda w: w.browser().post(
        w.page("jobs/new/"), {"kind": kind, **{f"{kind}-{name}": value for name, value in fields.items()}}
    )


def validate(**fields):
    """A model page's Validate form."""

    def send(w):
        data = {"dataset": w.data.pk, "sample_limit": 100}
        data |= {name: value(w) if callable(value) else value for name, value in fields.items()}
        return w.browser().post(w.page(f"models/{w.student.pk}/validate/"), data)

    return send


def plan_run(**fields):
    """The register page's "Run the plan" form, on the ready student and evaluation data unless `fields` say."""

    def send(w):
        data = {"model": w.student.pk, "dataset": w.data.pk, "sample_limit": 20, "backdoor_steps": ""}
        data |= {name: value(w) if callable(value) else value for name, value in fields.items()}
        return w.browser().post(w.page("assessment/plan/run/"), data)

    return send


def plan_start(model=lambda w: w.student, **fields):
    return lambda w: w.api().post(
        w.api_url(f"models/{model(w).pk}/test-plan/"),
        {name: value(w) if callable(value) else value for name, value in fields.items()},
        format="json",
    )


def start_raw(body: str):
    """POST jobs/create/ with `body` as the raw JSON text."""
    return lambda w: w.api().post(w.api_url("jobs/create/"), body, content_type="application/json")


def nested(levels: int):
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


ATTACKS = "choose one of fgsm, pgd_linf"
GRID_2000 = [round(0.0001 * (i + 1), 4) for i in range(2000)]  # up to 0.2, within the data's [0, 1]
TOO_MANY_EPS = "ε takes at most 32 values (a robustness curve's grid); got 2000."
NOT_AN_ID = "Give the id of a dataset of this project: a whole number, not"
NOT_READY_DATA = "Choose a dataset of this project that has passed intake"
RANGE = "is outside the input range: with inputs in [0, 1] (the dataset's) an L∞ ε must be at most 1."

API = [
    Refused(
        "unknown kind",
        start("mine_bitcoin", {}),
        400,
        {"kind": '"mine_bitcoin" is not a valid choice; choose one of: environment_check, speed_check'},
    ),
    Refused(
        "a kind only riskapp starts (intake)",
        start("intake", {"path": "/etc/passwd", "kind": "model", "max_bytes": 1}),
        400,
        {"kind": '"intake" is not a valid choice; choose one of:'},
    ),
    Refused("no kind", start(None), 400, {"kind": "This field may not be null."}),
    Refused(
        "parameters not an object",
        start("speed_check", [1]),
        400,
        {"parameters": 'Expected a dictionary of items but got type "list"'},
    ),
    Refused(
        "unknown parameter",
        start("speed_check", {"duration_s": 5, "colour": "red"}),
        400,
        {"parameters/colour": "Unknown parameter; known: duration_s, queue, size."},
    ),
    Refused(
        "bad queue",
        start("environment_check", {"queue": "tpu"}),
        400,
        {"parameters/queue": "tpu is not a queue; choose gpu or cpu."},
    ),
    Refused(
        "duration too long",
        start("speed_check", {"duration_s": 9999}),
        400,
        {"parameters/duration_s": "Ensure this value is less than or equal to 600."},
    ),
    Refused(
        "size not a number",
        start("speed_check", {"size": "big"}),
        400,
        {"parameters/size": "Enter a whole number."},
    ),
    Refused(
        "parameters nested 5,000 levels deep (was a 500: RecursionError)",
        start_raw('{"kind": "speed_check", "parameters": {"size": ' + "[" * 5000 + "]" * 5000 + "}}"),
        400,
        {"detail": "JSON parse error - the body is nested more than 64 levels deep; send a flatter one."},
    ),
    Refused(
        "a parameter nested 40 levels deep",
        start("speed_check", {"size": nested(40)}),
        400,
        {"parameters": "Nested more than 32 levels deep; give a flatter value."},
    ),
    Refused(
        "a NUL character in a parameter (PostgreSQL's jsonb refuses it)",
        start("environment_check", {"queue": "gpu\u0000"}),
        400,
        {"parameters": "A NUL character (\\u0000) cannot be stored; remove it."},
    ),
    Refused(
        "duration given as true (was read as 1 s)",
        start("speed_check", {"duration_s": True}),
        400,
        {"parameters/duration_s": "Give a number, not true or false."},
    ),
    Refused(
        "dataset id 19.5 (was run on the dataset with id 19)",
        start("attack", on_student(dataset_id=lambda w: w.data.pk + 0.5)),
        400,
        {"parameters/dataset_id": NOT_AN_ID},
    ),
    Refused(
        "dataset id true (was looked up as dataset 1)",
        start("validation", on_student(dataset_id=True)),
        400,
        {"parameters/dataset_id": f"{NOT_AN_ID} true."},
    ),
    Refused(
        "teacher id that is not a whole number",
        start("lineage", on_student(teacher_id=lambda w: w.teacher.pk + 0.25)),
        400,
        {"parameters/teacher_id": "Give the id of a model of this project: a whole number, not"},
    ),
    Refused(
        "robustness curve over 2,000 ε values (was queued, then failed in the engine)",
        start("robustness_curve", on_student(eps=GRID_2000)),
        400,
        {"parameters/eps": TOO_MANY_EPS},
    ),
    Refused(
        "eps negative",
        start("attack", on_student(eps=-0.1)),
        400,
        {"parameters/eps": "ε must be above 0."},
    ),
    Refused(
        "eps not a number",
        start("attack", on_student(eps="a little")),
        400,
        {"parameters/eps": "ε must be a number, or numbers separated by commas."},
    ),
    Refused(
        "eps NaN (was a 500: NaN is not JSON)",
        start("attack", on_student(eps="nan")),
        400,
        {"parameters/eps": "ε must be a finite number, e.g. 0.1 for inputs in [0, 1]."},
    ),
    Refused(
        "eps infinite (was a 500)",
        start("robustness_curve", on_student(eps=["0.1", "inf"])),
        400,
        {"parameters/eps": "ε must be a finite number"},
    ),
    Refused(
        "eps larger than the input range (was a job that failed later)",
        start("attack", on_student(eps=5)),
        400,
        {"parameters/eps": f"ε=5 {RANGE}"},
    ),
    Refused(
        "eps grid for a single attack",
        start("attack", on_student(eps=[0.1, 0.2])),
        400,
        {"parameters/eps": "This test takes one ε; use a robustness curve for a grid."},
    ),
    Refused(
        "missing model",
        start("attack", {"dataset_id": 1}),
        400,
        {"parameters/model_id": "Give the id of a model of this project."},
    ),
    Refused(
        "model of another project",
        start("attack", on_student(model_id=lambda w: w.other.model.pk)),
        400,
        {"parameters/model_id": "Give the id of a model of this project."},
    ),
    Refused(
        "model id true (was read as model 1)",
        start("attack", on_student(model_id=True)),
        400,
        {"parameters/model_id": "Give the id of a model of this project."},
    ),
    Refused(
        "model that has not passed intake",
        start("attack", on_student(model_id=lambda w: w.objects["model"].pk)),
        400,
        {"parameters/model_id": "“teacher” has not passed intake (its status is checking): choose a model"},
    ),
    Refused(
        "dataset that has not passed intake",
        start("attack", on_student(dataset_id=lambda w: w.objects["dataset"].pk)),
        400,
        {"parameters/dataset_id": f"{NOT_READY_DATA} (status “ready”)."},
    ),
    Refused(
        "dataset of another project",
        start("backdoor_scan", on_student(dataset_id=lambda w: w.other.dataset.pk)),
        400,
        {"parameters/dataset_id": NOT_READY_DATA},
    ),
    Refused(
        "unknown attack name",
        start("attack", on_student(attack="nuke")),
        400,
        {"parameters/attack": f"Unknown attack nuke; {ATTACKS}"},
    ),
    Refused(
        "transfer attack without a teacher",
        start("transfer_attack", on_student()),
        400,
        {"parameters/teacher_id": "Choose the teacher to compare with."},
    ),
    Refused(
        "teacher of another project",
        start("lineage", on_student(teacher_id=lambda w: w.other.model.pk)),
        400,
        {"parameters/teacher_id": "Choose another model of this project that has passed intake"},
    ),
    Refused(
        "unknown suspect data",
        start("strip", on_student(suspect_id=999_999)),
        400,
        {"parameters/suspect_id": NOT_READY_DATA},
    ),
    Refused(
        "sample limit zero",
        start("attack", on_student(sample_limit=0)),
        400,
        {"parameters/sample_limit": "Ensure this value is greater than or equal to 1."},
    ),
    Refused(
        "steps too many",
        start("backdoor_scan", on_student(steps=10**6)),
        400,
        {"parameters/steps": "Ensure this value is less than or equal to 10000."},
    ),
    Refused(
        "validation with a security test's parameter",
        start("validation", on_student(attack="fgsm")),
        400,
        {"parameters/attack": "Unknown parameter; known: dataset_id, model_id, sample_limit."},
    ),
    Refused(
        "validation on data that has not passed intake",
        start("validation", on_student(dataset_id=lambda w: w.objects["dataset"].pk)),
        400,
        {"parameters/dataset_id": NOT_READY_DATA},
    ),
    Refused(
        "cancel a finished job",
        lambda w: w.api().post(w.api_url(f"jobs/{w.objects['job'].pk}/cancel/")),
        409,
        {"detail": "This job has already finished; there is nothing to cancel."},
    ),
    Refused(
        "result of a running job",
        lambda w: w.api().get(w.api_url(f"jobs/{w.objects['running_job'].pk}/result/")),
        409,
        {"detail": "is running (0%): its result is ready once it has finished."},
    ),
    Refused(
        "test plan on data that has not passed intake",
        plan_start(dataset_id=lambda w: w.objects["dataset"].pk),
        400,
        {"dataset_id": "Give a dataset of this project that passed intake."},
    ),
    Refused(
        "test plan on a model that has not passed intake",
        plan_start(model=lambda w: w.objects["model"]),
        400,
        {"detail": "“teacher” has not passed intake yet (status: checking)."},
    ),
    Refused(
        "test plan with no samples",
        plan_start(sample_limit=0),
        400,
        {"sample_limit": "Ensure this value is greater than or equal to 1."},
    ),
    Refused(
        "test plan on another project's model",
        plan_start(model=lambda w: w.other.model),
        404,
        {"detail": "No ModelArtifact matches the given query."},
    ),
]

BROWSER = [
    Refused(
        "run button of an unknown kind", run_button("bake"), 302, {"message": "Choose one of the listed job kinds."}
    ),
    Refused(
        "run button with a bad queue",
        run_button("environment_check", queue="tpu"),
        302,
        {"message": "Environment check not started: queue: tpu is not a queue; choose gpu or cpu."},
    ),
    Refused(
        "run button with a duration too long",
        run_button("speed_check", duration_s="9999"),
        302,
        {"message": "Speed check not started: duration_s: Ensure this value is less than or equal to 600."},
    ),
    Refused(
        "security test with eps NaN (was a 500)",
        evaluate(eps="nan"),
        302,
        {"message": "ε: ε must be a finite number"},
    ),
    Refused("security test with a negative eps", evaluate(eps="-1"), 302, {"message": "ε: ε must be above 0."}),
    Refused(
        "robustness curve over 2,000 ε values (was queued, then failed in the engine)",
        evaluate(kind="robustness_curve", eps=", ".join(map(str, GRID_2000))),
        302,
        {"message": f"ε: {TOO_MANY_EPS}"},
    ),
    Refused("security test with eps too large", evaluate(eps="5"), 302, {"message": f"ε: ε=5 {RANGE}"}),
    Refused(
        "security test with an eps grid for a single attack",
        evaluate(eps="0.1, 0.2"),
        302,
        {"message": "ε: This test takes one ε; use a robustness curve for a grid."},
    ),
    Refused(
        "security test on data that has not passed intake",
        evaluate(dataset=lambda w: w.objects["dataset"].pk),
        302,
        {"message": f"Dataset: {NOT_READY_DATA}"},
    ),
    Refused(
        "security test with an unknown attack",
        evaluate(attack="nuke"),
        302,
        {"message": f"Attack: Unknown attack nuke; {ATTACKS}"},
    ),
    Refused(
        "transfer attack without a teacher",
        evaluate(kind="transfer_attack", teacher=""),
        302,
        {"message": "Teacher: Choose the teacher to compare with."},
    ),
    Refused(
        "security test of a model that has not passed intake",
        evaluate(model=lambda w: w.objects["model"]),
        302,
        {"message": "“teacher” has not passed intake yet."},
    ),
    Refused(
        "validation with a negative sample limit (was 'choose a dataset')",
        validate(sample_limit=-5),
        302,
        {"message": "Sample limit: Ensure this value is greater than or equal to 0."},
    ),
    Refused(
        "validation on data that has not passed intake",
        validate(dataset=lambda w: w.objects["dataset"].pk),
        302,
        {"message": f"Dataset: {NOT_READY_DATA}"},
    ),
    Refused(
        "test plan on a model that has not passed intake",
        plan_run(model=lambda w: w.objects["model"].pk),
        302,
        {"message": "Model: Choose a model of this project that has passed intake (status “ready”)."},
    ),
    Refused(
        "test plan on data that has not passed intake",
        plan_run(dataset=lambda w: w.objects["dataset"].pk),
        302,
        {"message": "Evaluation data: Choose an evaluation dataset of this project that has passed intake"},
    ),
    Refused(
        "test plan with no samples",
        plan_run(sample_limit=0),
        302,
        {"message": "Sample limit: Ensure this value is greater than or equal to 1."},
    ),
    Refused(
        "test plan with too many Neural Cleanse steps",
        plan_run(backdoor_steps=100_000),
        302,
        {"message": "Neural Cleanse steps: Ensure this value is less than or equal to 10000."},
    ),
]


@pytest.mark.parametrize("case", by_route(API=API, browser=BROWSER))
def test_bad_job_parameters_are_refused_and_no_job_is_created(world, sent_jobs, case):
    check_refused(world, case)
    assert sent_jobs == []
