"""`flask seed-demo`: run through the Flask CLI, checked through the REST API as a newcomer
would use it, and run again to check that it is idempotent."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from collab.demo import DOCUMENT, PROJECT, USERS, WELCOME_TEXT, WORKSPACES
from collab.extensions import db
from collab.models import Document, DocumentUpdate, Membership, Project, User, Workspace
from tests.helpers_projects import API, PROJECTS, collaborators_url, workspaces_url

PASSWORD = "demo password 42"


def seed(runner, *args: str):
    return runner.invoke(args=["seed-demo", *args])


def log_in(client, email: str, password: str) -> dict[str, str]:
    response = client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def row_counts(app) -> dict[str, int]:
    models = (User, Project, Membership, Workspace, Document, DocumentUpdate)
    with app.app_context():
        return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in models}


def demo_project(client, headers) -> dict:
    listing = client.get(PROJECTS, headers=headers).get_json()
    [summary] = [p for p in listing if p["name"] == PROJECT]
    return client.get(f"{PROJECTS}/{summary['id']}", headers=headers).get_json()


def test_the_demo_owner_sees_the_project_workspaces_members_and_document(runner, client):
    result = seed(runner, "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    for user in USERS:
        assert user.email in result.output
    assert PASSWORD in result.output

    headers = log_in(client, USERS[0].email, PASSWORD)
    project = demo_project(client, headers)
    assert project["role"] == "owner"
    assert [w["name"] for w in project["workspaces"]] == list(WORKSPACES)

    members = client.get(collaborators_url(project["id"]), headers=headers).get_json()
    assert {m["email"]: m["role"] for m in members} == {u.email: u.role.value for u in USERS}

    workspace_id = project["workspaces"][0]["id"]
    documents_url = f"{workspaces_url(project['id'])}/{workspace_id}/documents"
    [document] = client.get(documents_url, headers=headers).get_json()
    assert document["name"] == DOCUMENT
    detail = client.get(f"{documents_url}/{document['id']}", headers=headers).get_json()
    assert detail["content"] == WELCOME_TEXT


def test_every_demo_user_can_sign_in_with_their_role(runner, client):
    assert seed(runner, "--password", PASSWORD).exit_code == 0
    for user in USERS:
        project = demo_project(client, log_in(client, user.email, PASSWORD))
        assert project["role"] == user.role.value


def test_a_second_run_reports_what_exists_and_duplicates_nothing(runner, client, app):
    assert seed(runner, "--password", PASSWORD).exit_code == 0
    before = row_counts(app)

    again = seed(runner, "--password", "another password")
    assert again.exit_code == 0, again.output
    assert "created" not in again.output
    assert "nothing to create" in again.output
    assert "password unchanged" in again.output
    assert "another password" not in again.output
    assert row_counts(app) == before

    headers = log_in(client, USERS[0].email, PASSWORD)  # the first run's password still works
    project = demo_project(client, headers)
    workspace_id = project["workspaces"][0]["id"]
    documents_url = f"{workspaces_url(project['id'])}/{workspace_id}/documents"
    [document] = client.get(documents_url, headers=headers).get_json()
    detail = client.get(f"{documents_url}/{document['id']}", headers=headers).get_json()
    assert detail["content"] == WELCOME_TEXT  # not written twice


def test_a_run_completes_what_is_missing(runner, client, app, alice):
    assert seed(runner, "--password", PASSWORD).exit_code == 0
    headers = log_in(client, USERS[0].email, PASSWORD)
    project = demo_project(client, headers)
    sandbox = project["workspaces"][1]
    response = client.delete(f"{workspaces_url(project['id'])}/{sandbox['id']}", headers=headers)
    assert response.status_code == 200

    result = seed(runner)
    assert result.exit_code == 0, result.output
    assert f'workspace "{WORKSPACES[1]}": created' in result.output
    assert "password:" not in result.output  # no user was created with the new one
    assert [w["name"] for w in demo_project(client, headers)["workspaces"]] == list(WORKSPACES)


def test_without_a_password_one_is_generated_and_printed(runner, client):
    result = seed(runner)
    assert result.exit_code == 0, result.output
    password = re.search(r"password: (\S+)$", result.output, re.MULTILINE).group(1)
    assert len(password) >= 12
    log_in(client, USERS[1].email, password)


def test_a_too_short_password_is_refused_and_creates_nothing(runner, app):
    result = seed(runner, "--password", "short")
    assert result.exit_code != 0
    assert "Invalid password" in result.output
    assert row_counts(app)["User"] == 0
