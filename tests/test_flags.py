"""Feature flags: the admin API, the behaviour they gate, and the operator CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_errors import assert_error, bearer

FLAGS = "/api/v1/admin/flags"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
PROJECTS = "/api/v1/projects"
LANGUAGES = ("python", "javascript", "bash", "c", "cpp")
DECLARED = {
    "registration_open": True,
    "maintenance_mode": False,
    "code_execution": True,
    **{f"language_{name}": True for name in LANGUAGES},
}


@pytest.fixture()
def admin(make_user):
    return make_user("root", is_admin=True)


def set_flag(client, account, name: str, enabled) -> object:
    return client.put(f"{FLAGS}/{name}", json={"enabled": enabled}, headers=account.headers)


def flag_values(client, account) -> dict[str, bool]:
    response = client.get(FLAGS, headers=account.headers)
    assert response.status_code == 200, response.json
    return {flag["name"]: flag["enabled"] for flag in response.json}


def registration(n: int) -> dict:
    return {"email": f"new{n}@example.com", "username": f"new{n}", "password": "longenough"}


def user_count(app) -> int:
    from sqlalchemy import func, select

    from collab.extensions import db
    from collab.models import User

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


# --- the admin API --------------------------------------------------------------------------


def test_admin_lists_every_flag_with_its_default(client, admin):
    response = client.get(FLAGS, headers=admin.headers)
    assert response.status_code == 200, response.json
    by_name = {flag["name"]: flag for flag in response.json}
    assert set(by_name) == set(DECLARED)
    for name, default in DECLARED.items():
        flag = by_name[name]
        assert flag["enabled"] is default
        assert flag["default"] is default
        assert flag["description"]
        assert flag["updated_at"] is None


def test_admin_turns_a_flag_off_and_on(client, admin):
    response = set_flag(client, admin, "code_execution", False)
    assert response.status_code == 200, response.json
    assert response.json["name"] == "code_execution"
    assert response.json["enabled"] is False
    assert response.json["default"] is True
    assert response.json["updated_at"] is not None
    assert flag_values(client, admin)["code_execution"] is False
    assert set_flag(client, admin, "code_execution", True).json["enabled"] is True
    assert flag_values(client, admin)["code_execution"] is True


def test_anonymous_gets_401(client):
    assert_error(client.get(FLAGS), 401)
    assert_error(client.put(f"{FLAGS}/registration_open", json={"enabled": False}), 401)


def test_non_admin_gets_403_and_changes_nothing(client, alice, admin):
    assert_error(client.get(FLAGS, headers=alice.headers), 403)
    assert_error(set_flag(client, alice, "registration_open", False), 403)
    assert flag_values(client, admin)["registration_open"] is True


def test_demoted_admin_loses_access_at_once(client, app, admin):
    from collab.extensions import db
    from collab.models import User

    assert client.get(FLAGS, headers=admin.headers).status_code == 200
    with app.app_context():
        db.session.get(User, __import__("uuid").UUID(admin.id)).is_admin = False
        db.session.commit()
    assert_error(client.get(FLAGS, headers=admin.headers), 403)


def test_unknown_flag_is_404(client, admin):
    body = assert_error(set_flag(client, admin, "no_such_flag", True), 404)
    assert "flag" in body["message"].lower()
    assert set(flag_values(client, admin)) == set(DECLARED)


@pytest.mark.parametrize("value", ["true", "yes", "on", 1, 0, 1.0, None, [], {}])
def test_non_boolean_enabled_is_422(client, admin, value):
    body = assert_error(set_flag(client, admin, "maintenance_mode", value), 422)
    assert "enabled" in body["errors"]["json"]
    assert flag_values(client, admin)["maintenance_mode"] is False


def test_missing_or_unknown_fields_are_422(client, admin):
    url = f"{FLAGS}/maintenance_mode"
    body = assert_error(client.put(url, json={}, headers=admin.headers), 422)
    assert "enabled" in body["errors"]["json"]
    body = assert_error(
        client.put(url, json={"enabled": True, "name": "x"}, headers=admin.headers), 422
    )
    assert "name" in body["errors"]["json"]
    assert flag_values(client, admin)["maintenance_mode"] is False


def test_a_change_applies_at_once_on_the_instance_that_made_it(app, make_app, admin):
    """Even with a long flag cache, the instance that changed a flag drops its cached values."""
    cached = make_app(FEATURE_FLAG_CACHE_SECONDS="3600").test_client()
    assert cached.post(REGISTER, json=registration(1)).status_code == 201  # cache primed
    assert set_flag(cached, admin, "registration_open", False).status_code == 200
    assert_error(cached.post(REGISTER, json=registration(2)), 403)


# --- registration_open ----------------------------------------------------------------------


def test_registration_closed_then_reopened(client, app, admin):
    assert set_flag(client, admin, "registration_open", False).status_code == 200
    body = assert_error(client.post(REGISTER, json=registration(1)), 403)
    assert "closed" in body["message"].lower()
    assert user_count(app) == 1  # only the admin
    assert set_flag(client, admin, "registration_open", True).status_code == 200
    response = client.post(REGISTER, json=registration(1))
    assert response.status_code == 201, response.json
    assert user_count(app) == 2


def test_closed_registration_does_not_stop_existing_users(client, admin, alice):
    assert set_flag(client, admin, "registration_open", False).status_code == 200
    response = client.post(LOGIN, json={"email": alice.email, "password": alice.password})
    assert response.status_code == 200, response.json
    assert client.post(PROJECTS, json={"name": "P"}, headers=alice.headers).status_code == 201


# --- maintenance_mode -----------------------------------------------------------------------


@pytest.fixture()
def project(client, alice) -> dict:
    response = client.post(PROJECTS, json={"name": "Before"}, headers=alice.headers)
    assert response.status_code == 201, response.json
    return response.json


def test_maintenance_mode_refuses_writes_and_serves_reads(client, admin, alice, project):
    url = f"{PROJECTS}/{project['id']}"
    assert set_flag(client, admin, "maintenance_mode", True).status_code == 200

    assert_error(client.post(PROJECTS, json={"name": "New"}, headers=alice.headers), 503)
    assert_error(client.patch(url, json={"name": "After"}, headers=alice.headers), 503)
    assert_error(client.put(url, json={"name": "After"}, headers=alice.headers), 503)
    assert_error(client.delete(url, headers=alice.headers), 503)
    workspaces = f"{url}/workspaces"
    assert_error(client.post(workspaces, json={"name": "W"}, headers=alice.headers), 503)
    assert_error(client.post(REGISTER, json=registration(1)), 503)

    listing = client.get(PROJECTS, headers=alice.headers)
    assert listing.status_code == 200
    assert [p["name"] for p in listing.json] == ["Before"]
    detail = client.get(url, headers=alice.headers)
    assert detail.status_code == 200
    assert detail.json["name"] == "Before"
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200
    assert client.get("/health").status_code == 200


def test_admin_logs_in_during_maintenance_and_switches_it_off(client, make_user, alice):
    root = make_user("root2", password="admin password 1", is_admin=True)
    assert set_flag(client, root, "maintenance_mode", True).status_code == 200

    # A fresh login works during maintenance (login is exempt), and so do refresh and logout.
    response = client.post(LOGIN, json={"email": root.email, "password": "admin password 1"})
    assert response.status_code == 200, response.json
    tokens = response.json
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.json
    admin_headers = bearer(refreshed.json["access_token"])

    # Non-admins cannot use the exemption of the admin endpoints.
    assert_error(set_flag(client, alice, "maintenance_mode", False), 403)
    assert_error(client.post(PROJECTS, json={"name": "P"}, headers=alice.headers), 503)

    response = client.put(
        f"{FLAGS}/maintenance_mode", json={"enabled": False}, headers=admin_headers
    )
    assert response.status_code == 200, response.json
    assert response.json["enabled"] is False
    assert client.post(PROJECTS, json={"name": "P"}, headers=alice.headers).status_code == 201
    logout = client.post("/api/v1/auth/logout", headers=admin_headers)
    assert logout.status_code == 200


def test_logout_works_during_maintenance(client, admin, alice):
    assert set_flag(client, admin, "maintenance_mode", True).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 200
    assert_error(client.get("/api/v1/auth/me", headers=alice.headers), 401)


# --- the CLI --------------------------------------------------------------------------------


def create_admin(runner, email: str, username: str, password: str = "a long password"):
    return runner.invoke(
        args=["create-admin", "--email", email, "--username", username, "--password", password]
    )


def test_create_admin_creates_a_working_administrator(runner, client, app):
    result = create_admin(runner, "Boss@Example.com", "boss")
    assert result.exit_code == 0, result.output
    assert "Created administrator boss@example.com" in result.output
    response = client.post(LOGIN, json={"email": "boss@example.com", "password": "a long password"})
    assert response.status_code == 200, response.json
    headers = bearer(response.json["access_token"])
    assert client.get(FLAGS, headers=headers).status_code == 200
    response = client.put(f"{FLAGS}/code_execution", json={"enabled": False}, headers=headers)
    assert response.status_code == 200
    assert user_count(app) == 1


def test_create_admin_promotes_an_existing_user(runner, client, app, alice):
    assert_error(client.get(FLAGS, headers=alice.headers), 403)
    result = create_admin(runner, alice.email.upper(), "ignored", password="not used here")
    assert result.exit_code == 0, result.output
    assert f"Promoted administrator {alice.email}" in result.output
    # Her current token now reaches the admin API; her password is unchanged.
    assert client.get(FLAGS, headers=alice.headers).status_code == 200
    response = client.post(LOGIN, json={"email": alice.email, "password": alice.password})
    assert response.status_code == 200
    assert user_count(app) == 1


def test_create_admin_rejects_invalid_input_and_creates_nothing(runner, app, alice):
    result = create_admin(runner, "not-an-email", "boss")
    assert result.exit_code != 0
    assert "Invalid administrator" in result.output
    result = create_admin(runner, "boss@example.com", "boss", password="short")
    assert result.exit_code != 0
    assert "password" in result.output
    # A username already taken (case-insensitively) by someone else.
    result = create_admin(runner, "boss@example.com", alice.username.upper())
    assert result.exit_code != 0
    assert "already taken" in result.output
    assert user_count(app) == 1
    # The failed attempts left the session usable: a valid one now succeeds.
    result = create_admin(runner, "boss@example.com", "boss")
    assert result.exit_code == 0, result.output
    assert user_count(app) == 2


def test_flags_list_and_set(runner, client, admin, alice):
    result = runner.invoke(args=["flags", "list"])
    assert result.exit_code == 0, result.output
    listed = dict(line.split("\t") for line in result.output.strip().splitlines())
    assert listed == {name: "on" if on else "off" for name, on in DECLARED.items()}

    result = runner.invoke(args=["flags", "set", "maintenance_mode", "on"])
    assert result.exit_code == 0, result.output
    assert "maintenance_mode is now on" in result.output
    assert_error(client.post(PROJECTS, json={"name": "P"}, headers=alice.headers), 503)
    assert flag_values(client, admin)["maintenance_mode"] is True
    assert "maintenance_mode\ton" in runner.invoke(args=["flags", "list"]).output

    result = runner.invoke(args=["flags", "set", "maintenance_mode", "off"])
    assert result.exit_code == 0, result.output
    assert client.post(PROJECTS, json={"name": "P"}, headers=alice.headers).status_code == 201

    result = runner.invoke(args=["flags", "set", "registration_open", "off"])
    assert result.exit_code == 0
    assert_error(client.post(REGISTER, json=registration(1)), 403)


@pytest.mark.parametrize(
    "args", [["flags", "set", "no_such_flag", "on"], ["flags", "set", "maintenance_mode", "maybe"]]
)
def test_flags_set_rejects_bad_arguments(runner, client, admin, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert flag_values(client, admin) == DECLARED


def test_the_flask_command_runs_the_operator_commands(app, base_env, client):
    """The documented entry point, `flask --app wsgi ...`, in a separate process."""
    env = {**os.environ, **base_env}
    root = Path(__file__).resolve().parent.parent

    def flask(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = flask(
        "create-admin", "--email", "ops@example.com", "--username", "ops", "--password", "x" * 12
    )
    assert result.returncode == 0, result.stderr
    assert "Created administrator ops@example.com" in result.stdout
    result = flask("flags", "set", "registration_open", "off")
    assert result.returncode == 0, result.stderr
    assert_error(client.post(REGISTER, json=registration(1)), 403)
    result = flask("flags", "list")
    assert result.returncode == 0, result.stderr
    assert "registration_open\toff" in result.stdout
