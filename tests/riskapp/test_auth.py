"""Sign in, sign out, change password: Django auth with riskapp's pages."""

from django.urls import reverse

from tests.conftest import PASSWORD


def test_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get(reverse("projects:list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_sign_in_page_renders(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and b"Sign in" in response.content


def test_sign_in_with_the_right_password_opens_the_project_list(client, team):
    response = client.post(reverse("login"), {"username": "viewer", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("projects:list")
    assert b"Traffic signs" in response.content


def test_sign_in_with_a_wrong_password_is_refused(client, team):
    response = client.post(reverse("login"), {"username": "viewer", "password": "wrong"})
    assert response.status_code == 200 and b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_sign_out_needs_post_and_ends_the_session(client, team):
    client.force_login(team.viewer)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("projects:list")).status_code == 302


def test_change_password(client, team):
    client.force_login(team.viewer)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a much longer new secret",
            "new_password2": "a much longer new secret",
        },
    )
    assert response.status_code == 302 and response.url == reverse("password_change_done")
    team.viewer.refresh_from_db()
    assert team.viewer.check_password("a much longer new secret")


def test_change_password_refuses_a_weak_password(client, team):
    client.force_login(team.viewer)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "12345",
            "new_password2": "12345",
        },
    )
    assert response.status_code == 200 and b"too short" in response.content


def test_staff_manage_projects_in_django_admin(client, team):
    client.force_login(team.staff)
    response = client.get(reverse("admin:projects_project_change", args=[team.project.pk]))
    assert response.status_code == 200 and b"Traffic signs" in response.content
    client.force_login(team.owner)
    assert client.get(reverse("admin:projects_project_changelist")).status_code == 302


def test_ensure_demo_admin_prints_a_random_password_once(db, capsys, settings):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("ensure_demo_admin")
    first = capsys.readouterr().out
    password = first.split("password:")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password) and len(password) >= 16
    call_command("ensure_demo_admin")
    second = capsys.readouterr().out
    assert "Users exist already" in second and password not in second
    assert get_user_model().objects.count() == 1


def test_ensure_demo_admin_refuses_in_production(db, settings):
    import pytest
    from django.core.management import CommandError, call_command

    settings.DEBUG = False
    with pytest.raises(CommandError, match="createsuperuser"):
        call_command("ensure_demo_admin")


def test_staff_see_every_app_in_django_admin(client, team):
    client.force_login(team.staff)
    for name in (
        "projects_project",
        "projects_membership",
        "jobs_job",
        "audit_auditevent",
        "assessments_assessmentversion",
        "assessments_risktreatment",
        "assessments_evidence",
        "artifacts_modelartifact",
        "artifacts_datasetartifact",
        "artifacts_finding",
    ):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
