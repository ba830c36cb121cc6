"""Bad questionnaire answers, and submissions and reviews the workflow refuses: the answers already saved are
unchanged (all of a request's answers are saved or none), no version is started, nothing is audited."""

import pytest

from riskapp.assessments.models import AssessmentVersion
from riskapp.assessments.services import assessment_submit
from tests.bad_input.checks import Refused, by_route, check_refused

pytestmark = pytest.mark.django_db

OPTIONS = "is not one of the options (public, internal, personal, special, unknown)."
DATA_ORIGINS = "is not one of the options (own, licensed, public_dataset, web, users, unknown)."
LONG_TEXT = "Dana, who owns the model " * 100  # 2,500 characters


def answers(payload, who="assessor", **kwargs):
    """POST assessment/answers/ with `payload` as the JSON body (or as `kwargs` say)."""
    return lambda w: w.api(who).post(w.api_url("assessment/answers/"), payload, **({"format": "json"} | kwargs))


def answer(question, *values, htmx=True, who="assessor"):
    """The questionnaire's autosave of one answer (htmx), or the plain form post."""

    def send(w):
        headers = {"HX-Request": "true"} if htmx else {}
        data = {"question": question, "value": list(values)}
        return w.browser(who).post(w.page("assessment/answer/"), data, headers=headers)

    return send


def submitted(by="owner"):
    def given(w):
        version = AssessmentVersion.objects.get(project=w.project)
        assessment_submit(actor=getattr(w.team, by), version=version, confirmed=True, reason="Pilot sign-off.")

    return given


def no_answers_yet(w):
    AssessmentVersion.objects.filter(project=w.project).delete()


def post(path, data=None, who="owner", api=True):
    if api:
        return lambda w: w.api(who).post(w.api_url(path), data, format="json")
    return lambda w: w.browser(who).post(w.page(path), data or {})


WAITING = "This assessment is waiting for review: a reviewer must approve or return it first."
FOUR_EYES = "You submitted this assessment: another reviewer must approve it (four-eyes rule)."
RETURN_NEEDS_COMMENT = "Say what needs to change: returning an assessment needs a comment."
INCOMPLETE = "The questionnaire is incomplete:"
SUBMIT_ANYWAY = "To submit it anyway, confirm and give a reason (kept in the audit log)."
APPROVE_ANYWAY = "To approve it anyway, confirm and give a reason (kept in the audit log)."

NUL = "operation.risk_owner: a NUL character (\\u0000) cannot be stored; remove it."
NUL_BESIDE_ITS_QUESTION = NUL.removeprefix("operation.risk_owner: ")  # the page says it beside that question
DEEP = "[" * 5000 + "]" * 5000

API = [
    Refused(
        "a NUL character in a text answer (was a 500 on PostgreSQL, whose jsonb refuses it)",
        answers({"answers": {"operation.risk_owner": "Dana\u0000"}}),
        400,
        {"detail": NUL},
    ),
    Refused(
        "an answer nested 5,000 levels deep (was a 500: RecursionError)",
        answers('{"answers": {"operation.risk_owner": ' + DEEP + "}}", content_type="application/json", format=None),
        400,
        {"detail": "JSON parse error - the body is nested more than 64 levels deep; send a flatter one."},
    ),
    Refused(
        "unknown question",
        answers({"answers": {"no.such.question": "yes"}}),
        400,
        {"answers/no.such.question": "There is no question 'no.such.question' in the question bank."},
    ),
    Refused(
        "value not among the choices",
        answers({"answers": {"context.data_sensitivity": "galactic"}}),
        400,
        {"answers/context.data_sensitivity": f"context.data_sensitivity: 'galactic' {OPTIONS}"},
    ),
    Refused(
        "an object for a choice",
        answers({"answers": {"context.data_sensitivity": {"level": "high"}}}),
        400,
        {"answers/context.data_sensitivity": f"{{'level': 'high'}} {OPTIONS}"},
    ),
    Refused(
        "an unknown option among several",
        answers({"answers": {"fine_tuning.data_origin": ["web", "the moon"]}}),
        400,
        {"answers/fine_tuning.data_origin": f"['web', 'the moon'] {DATA_ORIGINS}"},
    ),
    Refused(
        "number out of its range",
        answers({"answers": {"requirements.input_eps": 3}}),
        400,
        {"answers/requirements.input_eps": "requirements.input_eps: expected a number between 0 and 1, got 3."},
    ),
    Refused(
        "text for a number",
        answers({"answers": {"requirements.input_eps": "lots"}}),
        400,
        {"answers/requirements.input_eps": "expected a number between 0 and 1, got 'lots'."},
    ),
    Refused(
        "a date that does not exist",
        answers({"answers": {"operation.next_review": "2030-02-30"}}),
        400,
        {"answers/operation.next_review": "expected a date (YYYY-MM-DD), got '2030-02-30'."},
    ),
    Refused(
        "text over 2,000 characters (was stored whole)",
        answers({"answers": {"operation.risk_owner": LONG_TEXT}}),
        400,
        {"answers/operation.risk_owner": "at most 2000 characters, got 2499; shorten the answer."},
    ),
    Refused(
        "a good answer with a bad one: neither is saved",
        answers({"answers": {"context.uses_pretrained": "no", "context.data_sensitivity": "galactic"}}),
        400,
        {"answers/context.data_sensitivity": OPTIONS},
    ),
    Refused(
        "answers not an object",
        answers({"answers": [["context.uses_pretrained", "no"]]}),
        400,
        {"answers": 'Expected a dictionary of items but got type "list".'},
    ),
    Refused("no answers", answers({"answers": {}}), 400, {"answers": "This dictionary may not be empty."}),
    Refused("answers missing", answers({}), 400, {"answers": "This field is required."}),
    Refused(
        "malformed JSON",
        answers('{"answers": {"context.uses_pretrained": "no"', content_type="application/json", format=None),
        400,
        {"detail": "JSON parse error - Expecting"},
    ),
    Refused(
        "answers as a form post",
        answers({"answers": "context.uses_pretrained=no"}, format=None),
        415,
        {"detail": 'Unsupported media type "multipart/form-data'},
    ),
    Refused(
        "answers to a submitted assessment",
        answers({"answers": {"context.uses_pretrained": "no"}}),
        400,
        {"detail": WAITING},
        given=submitted(),
    ),
    Refused(
        "submit before any answer",
        post("assessment/submit/"),
        400,
        {"detail": "Answer the questionnaire before submitting it."},
        given=no_answers_yet,
    ),
    Refused(
        "submit twice",
        post("assessment/submit/"),
        400,
        {"detail": "Only a draft or returned assessment can be submitted."},
        given=submitted(),
    ),
    Refused(
        "approve your own submission",
        post("assessment/review/", {"action": "approve"}),
        400,
        {"detail": FOUR_EYES},
        given=submitted(by="owner"),
    ),
    Refused(
        "return without a comment",
        post("assessment/review/", {"action": "return", "comment": "  "}, who="reviewer"),
        400,
        {"detail": RETURN_NEEDS_COMMENT},
        given=submitted(),
    ),
    Refused(
        "submit an incomplete assessment without confirming",
        post("assessment/submit/"),
        400,
        {"detail": SUBMIT_ANYWAY, "problems": INCOMPLETE},
    ),
    Refused(
        "submit an incomplete assessment, confirmed with a blank reason",
        post("assessment/submit/", {"confirm": True, "reason": "  "}),
        400,
        {"detail": SUBMIT_ANYWAY, "problems": INCOMPLETE},
    ),
    Refused(
        "approve an incomplete assessment with a reason but no confirmation",
        post("assessment/review/", {"action": "approve", "reason": "Pilot only."}, who="reviewer"),
        400,
        {"detail": APPROVE_ANYWAY, "problems": INCOMPLETE},
        given=submitted(),
    ),
    Refused(
        "approve a draft",
        post("assessment/review/", {"action": "approve"}, who="reviewer"),
        400,
        {"detail": "Only a submitted assessment can be approved."},
    ),
    Refused(
        "review with an unknown action",
        post("assessment/review/", {"action": "maybe"}, who="reviewer"),
        400,
        {"action": '"maybe" is not a valid choice; choose one of: approve, return.'},
        given=submitted(),
    ),
]

BROWSER = [
    Refused(
        "a NUL character in a text answer (was a 500 on PostgreSQL)",
        answer("operation.risk_owner", "Dana\x00"),
        422,
        {"context:error": NUL_BESIDE_ITS_QUESTION},
    ),
    Refused(
        "a NUL character in a text answer, without htmx",
        answer("operation.risk_owner", "Dana\x00", htmx=False),
        302,
        {"message": NUL_BESIDE_ITS_QUESTION},
    ),
    Refused(
        "unknown question",
        answer("no.such.question", "yes"),
        422,
        {"context:error": "There is no question 'no.such.question' in the question bank."},
    ),
    Refused(
        "value not among the choices",
        answer("context.data_sensitivity", "galactic"),
        422,
        {"context:error": f"'galactic' {OPTIONS}"},
    ),
    Refused(
        "text for a number",
        answer("requirements.input_eps", "lots"),
        422,
        {"context:error": "expected a number between 0 and 1, got 'lots'."},
    ),
    Refused(
        "not a date",
        answer("operation.next_review", "next spring"),
        422,
        {"context:error": "expected a date (YYYY-MM-DD), got 'next spring'."},
    ),
    Refused(
        "text over 2,000 characters",
        answer("operation.risk_owner", LONG_TEXT),
        422,
        {"context:error": "at most 2000 characters, got 2499; shorten the answer."},
    ),
    Refused(
        "answer to a submitted assessment",
        answer("context.uses_pretrained", "no"),
        422,
        {"context:error": WAITING},
        given=submitted(),
    ),
    Refused(
        "unknown option, without htmx",
        answer("context.data_sensitivity", "galactic", htmx=False),
        302,
        {"message": f"'galactic' {OPTIONS}"},
    ),
    Refused(
        "submit before any answer",
        post("assessment/submit/", api=False),
        302,
        {"message": "Answer the questionnaire before submitting it."},
        given=no_answers_yet,
    ),
    Refused(
        "submit an incomplete assessment without confirming",
        post("assessment/submit/", {"reason": "Pilot only."}, api=False),
        302,
        {"message": "To submit anyway, tick the confirmation and give a reason."},
    ),
    Refused(
        "approve an incomplete assessment without a reason",
        post("assessment/review/", {"action": "approve", "confirm": "1"}, who="reviewer", api=False),
        302,
        {"message": "To approve anyway, tick the confirmation and give a reason."},
        given=submitted(),
    ),
    Refused(
        "approve your own submission",
        post("assessment/review/", {"action": "approve"}, api=False),
        302,
        {"message": FOUR_EYES},
        given=submitted(by="owner"),
    ),
    Refused(
        "return without a comment",
        post("assessment/review/", {"action": "return"}, who="reviewer", api=False),
        302,
        {"message": RETURN_NEEDS_COMMENT},
        given=submitted(),
    ),
]


@pytest.mark.parametrize("case", by_route(API=API, browser=BROWSER))
def test_bad_answer_is_refused_and_the_saved_answers_are_unchanged(world, case):
    check_refused(world, case)
    # The answers saved before (the world's version 1) are still there, whatever the request was.
    version = AssessmentVersion.objects.filter(project=world.project).first()
    assert version is None or version.answers == {"context.uses_pretrained": "yes"}
