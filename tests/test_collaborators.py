"""Collaborators: invitations, the member list, role changes, removal and leaving."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.helpers_projects import (
    MEMBER_FIELDS,
    add_member,
    assert_error,
    assert_validation_error,
    collaborator_url,
    collaborators_url,
    create_project,
    parse_time,
    project_url,
    random_id,
)


def memberships(app, project_id: str) -> dict[str, str]:
    """user_id -> role, straight from the database."""
    from collab.extensions import db
    from collab.models import Membership

    with app.app_context():
        rows = db.session.execute(
            select(Membership.user_id, Membership.role).where(
                Membership.project_id == uuid.UUID(project_id)
            )
        )
        return {str(user_id): role.value for user_id, role in rows}


def listed(client, account, project_id: str) -> list[tuple[str, str]]:
    response = client.get(collaborators_url(project_id), headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return [(row["user_id"], row["role"]) for row in response.get_json()]


@pytest.fixture()
def project(client, alice) -> dict:
    return create_project(client, alice, name="Crew")


# --- Invite ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["collaborator", "viewer"])
def test_invite(app, client, alice, make_user, project, role):
    bob = make_user("bob", full_name="Bob Builder")

    response = client.post(
        collaborators_url(project["id"]),
        json={"email": bob.email, "role": role},
        headers=alice.headers,
    )

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= MEMBER_FIELDS
    assert uuid.UUID(body["id"])
    assert (body["user_id"], body["email"], body["username"], body["role"]) == (
        bob.id,
        "bob@example.com",
        "bob",
        role,
    )
    parse_time(body["created_at"])
    assert memberships(app, project["id"]) == {alice.id: "owner", bob.id: role}
    seen = client.get(project_url(project["id"]), headers=bob.headers).get_json()
    assert seen["role"] == role


def test_invite_matches_the_email_case_insensitively(app, client, alice, bob, project):
    response = client.post(
        collaborators_url(project["id"]),
        json={"email": "  BoB@Example.COM ", "role": "viewer"},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["user_id"] == bob.id
    assert memberships(app, project["id"])[bob.id] == "viewer"


def test_invite_an_unknown_email_is_404(app, client, alice, project):
    response = client.post(
        collaborators_url(project["id"]),
        json={"email": "nobody@example.com", "role": "viewer"},
        headers=alice.headers,
    )
    body = assert_error(response, 404)
    assert "email" in body["message"].lower()
    assert memberships(app, project["id"]) == {alice.id: "owner"}


@pytest.mark.parametrize("role", ["collaborator", "viewer"])
def test_invite_an_existing_member_is_409(app, client, alice, bob, project, role):
    add_member(client, alice, project["id"], bob, "viewer")
    response = client.post(
        collaborators_url(project["id"]),
        json={"email": bob.email, "role": role},
        headers=alice.headers,
    )
    assert_error(response, 409)
    assert memberships(app, project["id"]) == {alice.id: "owner", bob.id: "viewer"}


def test_invite_the_owner_is_409(app, client, alice, project):
    response = client.post(
        collaborators_url(project["id"]),
        json={"email": alice.email, "role": "collaborator"},
        headers=alice.headers,
    )
    assert_error(response, 409)
    assert memberships(app, project["id"]) == {alice.id: "owner"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"email": "bob@example.com", "role": "owner"}, "role", id="role-owner"),
        pytest.param({"email": "bob@example.com", "role": "admin"}, "role", id="role-admin"),
        pytest.param({"email": "bob@example.com", "role": "Viewer"}, "role", id="role-case"),
        pytest.param({"email": "bob@example.com", "role": ""}, "role", id="role-empty"),
        pytest.param({"email": "bob@example.com", "role": None}, "role", id="role-null"),
        pytest.param({"email": "bob@example.com", "role": 2}, "role", id="role-number"),
        pytest.param({"email": "bob@example.com"}, "role", id="role-missing"),
        pytest.param({"role": "viewer"}, "email", id="email-missing"),
        pytest.param({"email": "not-an-email", "role": "viewer"}, "email", id="email-invalid"),
        pytest.param({"email": None, "role": "viewer"}, "email", id="email-null"),
        pytest.param(
            {"email": "bob@example.com", "role": "viewer", "user_id": str(uuid.uuid4())},
            "user_id",
            id="unknown-field",
        ),
    ],
)
def test_invite_validation(app, client, alice, bob, project, body, field):
    response = client.post(collaborators_url(project["id"]), json=body, headers=alice.headers)
    assert_validation_error(response, field)
    assert memberships(app, project["id"]) == {alice.id: "owner"}


def test_invite_into_an_unknown_project_is_404(client, alice, bob):
    response = client.post(
        collaborators_url(random_id()),
        json={"email": bob.email, "role": "viewer"},
        headers=alice.headers,
    )
    assert assert_error(response, 404)["message"] == "Project not found"


def test_a_removed_member_can_be_invited_again(app, client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "collaborator")
    client.delete(collaborator_url(project["id"], bob.id), headers=alice.headers)
    again = add_member(client, alice, project["id"], bob, "viewer")
    assert again["role"] == "viewer"
    assert memberships(app, project["id"]) == {alice.id: "owner", bob.id: "viewer"}


# --- List ------------------------------------------------------------------------------------


def test_list_has_the_owner_first_then_members_in_joining_order(client, alice, make_user, project):
    carol = make_user("carol", full_name="Carol")
    bob = make_user("bob")
    dave = make_user("dave")
    add_member(client, alice, project["id"], carol, "viewer")
    add_member(client, alice, project["id"], bob, "collaborator")
    add_member(client, alice, project["id"], dave, "viewer")

    response = client.get(collaborators_url(project["id"]), headers=carol.headers)

    assert response.status_code == 200
    rows = response.get_json()
    assert rows[0] == {**rows[0], "user_id": alice.id, "role": "owner", "email": alice.email}
    assert {(r["user_id"], r["role"]) for r in rows[1:]} == {
        (carol.id, "viewer"),
        (bob.id, "collaborator"),
        (dave.id, "viewer"),
    }
    for row in rows:
        assert set(row) >= MEMBER_FIELDS
    by_id = {row["user_id"]: row for row in rows}
    assert (by_id[carol.id]["username"], by_id[carol.id]["email"]) == ("carol", carol.email)
    assert by_id[bob.id]["email"] == bob.email


def test_the_owner_row_moves_with_a_transfer(client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "viewer")
    client.post(
        f"{project_url(project['id'])}/transfer", json={"user_id": bob.id}, headers=alice.headers
    )
    assert listed(client, alice, project["id"]) == [(bob.id, "owner"), (alice.id, "collaborator")]


def test_outsiders_see_a_public_projects_members_without_emails(client, alice, bob, make_user):
    public = create_project(client, alice, name="Open", is_public=True)
    add_member(client, alice, public["id"], bob, "viewer")
    stranger = make_user("stranger")

    response = client.get(collaborators_url(public["id"]), headers=stranger.headers)

    assert response.status_code == 200
    rows = response.get_json()
    assert [(r["user_id"], r["username"], r["role"]) for r in rows] == [
        (alice.id, "alice", "owner"),
        (bob.id, "bob", "viewer"),
    ]
    assert all("email" not in row for row in rows)
    assert "example.com" not in response.get_data(as_text=True)


# --- Change role -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_change_role(app, client, alice, bob, project, method):
    add_member(client, alice, project["id"], bob, "viewer")
    url = collaborator_url(project["id"], bob.id)

    up = client.open(url, method=method, json={"role": "collaborator"}, headers=alice.headers)

    assert up.status_code == 200
    body = up.get_json()
    assert set(body) >= MEMBER_FIELDS
    assert (body["user_id"], body["email"], body["role"]) == (bob.id, bob.email, "collaborator")
    assert memberships(app, project["id"])[bob.id] == "collaborator"
    assert client.get(project_url(project["id"]), headers=bob.headers).get_json()["role"] == (
        "collaborator"
    )

    down = client.open(url, method=method, json={"role": "viewer"}, headers=alice.headers)
    assert down.get_json()["role"] == "viewer"
    assert memberships(app, project["id"])[bob.id] == "viewer"


def test_setting_the_same_role_is_harmless(app, client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "viewer")
    response = client.put(
        collaborator_url(project["id"], bob.id), json={"role": "viewer"}, headers=alice.headers
    )
    assert response.status_code == 200 and response.get_json()["role"] == "viewer"


@pytest.mark.parametrize("role", ["viewer", "collaborator"])
def test_the_owners_role_cannot_change(app, client, alice, project, role):
    response = client.put(
        collaborator_url(project["id"], alice.id), json={"role": role}, headers=alice.headers
    )
    assert_error(response, 409)
    assert memberships(app, project["id"]) == {alice.id: "owner"}


@pytest.mark.parametrize(
    "body",
    [{"role": "owner"}, {"role": "editor"}, {}, {"role": None}, {"role": "viewer", "x": 1}],
)
def test_change_role_validation(app, client, alice, bob, project, body):
    add_member(client, alice, project["id"], bob, "viewer")
    response = client.patch(
        collaborator_url(project["id"], bob.id), json=body, headers=alice.headers
    )
    assert_error(response, 422)
    assert memberships(app, project["id"])[bob.id] == "viewer"


def test_change_role_of_a_non_member_is_404(app, client, alice, bob, project):
    for user_id in (bob.id, random_id()):
        response = client.put(
            collaborator_url(project["id"], user_id),
            json={"role": "viewer"},
            headers=alice.headers,
        )
        assert_error(response, 404)
    assert memberships(app, project["id"]) == {alice.id: "owner"}


def test_a_member_cannot_change_their_own_role(app, client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "viewer")
    response = client.put(
        collaborator_url(project["id"], bob.id),
        json={"role": "collaborator"},
        headers=bob.headers,
    )
    assert_error(response, 403)
    assert memberships(app, project["id"])[bob.id] == "viewer"


# --- Remove and leave ------------------------------------------------------------------------


def test_the_owner_removes_a_member(app, client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "collaborator")

    response = client.delete(collaborator_url(project["id"], bob.id), headers=alice.headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Collaborator removed"}
    assert memberships(app, project["id"]) == {alice.id: "owner"}
    assert listed(client, alice, project["id"]) == [(alice.id, "owner")]
    assert_error(client.get(project_url(project["id"]), headers=bob.headers), 404)
    again = client.delete(collaborator_url(project["id"], bob.id), headers=alice.headers)
    assert_error(again, 404)


def test_removing_a_non_member_is_404(app, client, alice, bob, project):
    for user_id in (bob.id, random_id()):
        assert_error(
            client.delete(collaborator_url(project["id"], user_id), headers=alice.headers), 404
        )
    assert memberships(app, project["id"]) == {alice.id: "owner"}


@pytest.mark.parametrize("role", ["collaborator", "viewer"])
def test_a_member_leaves(app, client, alice, bob, project, role):
    add_member(client, alice, project["id"], bob, role)

    response = client.delete(collaborator_url(project["id"], bob.id), headers=bob.headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Left the project"}
    assert memberships(app, project["id"]) == {alice.id: "owner"}
    assert client.get("/api/v1/projects", headers=bob.headers).get_json() == []


@pytest.mark.parametrize("role", ["collaborator", "viewer"])
def test_a_member_cannot_remove_another_member(app, client, alice, bob, make_user, project, role):
    carol = make_user("carol")
    add_member(client, alice, project["id"], bob, role)
    add_member(client, alice, project["id"], carol, "viewer")

    response = client.delete(collaborator_url(project["id"], carol.id), headers=bob.headers)

    assert_error(response, 403)
    assert memberships(app, project["id"]) == {alice.id: "owner", bob.id: role, carol.id: "viewer"}


def test_the_owner_cannot_leave(app, client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "collaborator")
    response = client.delete(collaborator_url(project["id"], alice.id), headers=alice.headers)
    body = assert_error(response, 409)
    assert "transfer" in body["message"].lower()
    assert memberships(app, project["id"]) == {alice.id: "owner", bob.id: "collaborator"}
    assert client.get(project_url(project["id"]), headers=alice.headers).get_json()["role"] == (
        "owner"
    )


def test_membership_of_one_project_grants_nothing_in_another(client, alice, bob, project):
    other = create_project(client, alice, name="Other")
    add_member(client, alice, project["id"], bob, "collaborator")
    assert_error(client.get(project_url(other["id"]), headers=bob.headers), 404)
    assert_error(client.get(collaborators_url(other["id"]), headers=bob.headers), 404)
    response = client.delete(collaborator_url(other["id"], alice.id), headers=bob.headers)
    assert_error(response, 404)
