"""Projects: creation, listing, detail, edits, deletion, transfer, validation and ETags."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.helpers_projects import (
    PROJECT_FIELDS,
    PROJECTS,
    WORKSPACE_FIELDS,
    add_member,
    assert_error,
    assert_validation_error,
    collaborator_url,
    collaborators_url,
    count_rows,
    create_project,
    create_workspace,
    etag_of,
    parse_time,
    project_url,
    random_id,
    workspace_url,
)


def insert_projects(app, owner_id: str, count: int) -> list[str]:
    """Many projects straight in the database, with distinct creation times (newest last)."""
    from collab.extensions import db
    from collab.models import Membership, Project, Role, utcnow

    start = utcnow() - timedelta(days=1)
    ids = []
    with app.app_context():
        for n in range(count):
            project = Project(
                name=f"Bulk {n:03d}",
                owner_id=uuid.UUID(owner_id),
                created_at=start + timedelta(seconds=n),
            )
            project.memberships.append(Membership(user_id=uuid.UUID(owner_id), role=Role.OWNER))
            db.session.add(project)
            db.session.flush()
            ids.append(str(project.id))
        db.session.commit()
    return ids


# --- Create ----------------------------------------------------------------------------------


def test_create_with_defaults(client, alice):
    response = client.post(PROJECTS, json={"name": "Apollo"}, headers=alice.headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == PROJECT_FIELDS
    assert uuid.UUID(body["id"])
    assert body["name"] == "Apollo"
    assert body["description"] == ""
    assert body["is_public"] is False
    assert body["owner_id"] == alice.id
    assert body["updated_at"] == body["created_at"]
    assert response.headers["Location"] == project_url(body["id"])
    assert response.headers["ETag"] == etag_of(client, alice, project_url(body["id"]))


def test_create_with_every_field(client, alice):
    response = client.post(
        PROJECTS,
        json={"name": "Gemini", "description": "Two seats", "is_public": True},
        headers=alice.headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["name"], body["description"], body["is_public"]) == (
        "Gemini",
        "Two seats",
        True,
    )


def test_the_creator_is_the_owner_and_sole_member(client, alice):
    project = create_project(client, alice)
    rows = client.get(collaborators_url(project["id"]), headers=alice.headers).get_json()
    assert [(row["user_id"], row["email"], row["role"]) for row in rows] == [
        (alice.id, alice.email, "owner")
    ]


def test_create_requires_a_token(client):
    assert_error(client.post(PROJECTS, json={"name": "x"}), 401)
    assert_error(client.get(PROJECTS), 401)


# --- List ------------------------------------------------------------------------------------


def test_list_shows_only_own_and_member_projects_newest_first(client, alice, bob, make_user):
    carol = make_user("carol")
    first = create_project(client, alice, name="A1")
    shared = create_project(client, bob, name="B-shared")
    create_project(client, bob, name="B-private")
    create_project(client, bob, name="B-public", is_public=True)
    last = create_project(client, alice, name="A2")
    add_member(client, bob, shared["id"], alice, "viewer")
    create_project(client, carol, name="C")

    response = client.get(PROJECTS, headers=alice.headers)

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"
    body = response.get_json()
    assert [p["name"] for p in body] == ["A2", "B-shared", "A1"]
    assert all(set(p) == PROJECT_FIELDS for p in body)
    assert body[0] == last and body[2] == first


def test_list_paginates_with_skip_and_limit(client, alice):
    for n in range(5):
        create_project(client, alice, name=f"P{n}")

    def page(**query):
        response = client.get(PROJECTS, query_string=query, headers=alice.headers)
        assert response.status_code == 200, response.get_json()
        assert response.headers["X-Total-Count"] == "5"
        return [p["name"] for p in response.get_json()]

    assert page() == ["P4", "P3", "P2", "P1", "P0"]
    assert page(limit=2) == ["P4", "P3"]
    assert page(skip=2, limit=2) == ["P2", "P1"]
    assert page(skip=4, limit=2) == ["P0"]
    assert page(skip=10) == []


def test_list_default_page_size_is_10_and_limit_is_capped_at_100(app, client, alice):
    ids = insert_projects(app, alice.id, 105)

    default = client.get(PROJECTS, headers=alice.headers)
    assert len(default.get_json()) == 10
    assert default.headers["X-Total-Count"] == "105"

    capped = client.get(PROJECTS, query_string={"limit": 1000}, headers=alice.headers)
    assert capped.status_code == 200
    assert [p["id"] for p in capped.get_json()] == ids[::-1][:100]
    assert capped.headers["X-Total-Count"] == "105"

    rest = client.get(PROJECTS, query_string={"skip": 100, "limit": 100}, headers=alice.headers)
    assert [p["id"] for p in rest.get_json()] == ids[::-1][100:]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"skip": -1}, "skip"),
        ({"limit": 0}, "limit"),
        ({"limit": -5}, "limit"),
        ({"skip": "abc"}, "skip"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_list_rejects_bad_paging(client, alice, query, field):
    create_project(client, alice)
    response = client.get(PROJECTS, query_string=query, headers=alice.headers)
    assert_validation_error(response, field)


# --- Detail ----------------------------------------------------------------------------------


def test_detail_has_owner_workspaces_and_role(client, make_user, bob):
    alice = make_user("alice", full_name="Alice Liddell")
    project = create_project(client, alice, name="Wonderland", description="Down the hole")
    first = create_workspace(client, alice, project["id"], name="Rabbit")
    second = create_workspace(client, alice, project["id"], name="Hatter")
    add_member(client, alice, project["id"], bob, "viewer")

    response = client.get(project_url(project["id"]), headers=alice.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in PROJECT_FIELDS} == project
    assert body["owner"] == {"id": alice.id, "username": "alice", "full_name": "Alice Liddell"}
    assert body["workspaces"] == [first, second]
    assert all(set(w) == WORKSPACE_FIELDS for w in body["workspaces"])
    assert body["role"] == "owner"
    assert client.get(project_url(project["id"]), headers=bob.headers).get_json()["role"] == (
        "viewer"
    )


def test_detail_of_unknown_project_is_404(client, alice):
    body = assert_error(client.get(project_url(random_id()), headers=alice.headers), 404)
    assert body["message"] == "Project not found"


# --- Edit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_edit_changes_only_the_given_fields(client, alice, method):
    project = create_project(client, alice, name="Old", description="Keep me")

    response = client.open(
        project_url(project["id"]), method=method, json={"name": "New"}, headers=alice.headers
    )

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PROJECT_FIELDS
    assert (body["name"], body["description"], body["is_public"]) == ("New", "Keep me", False)
    assert body["created_at"] == project["created_at"]
    assert parse_time(body["updated_at"]) > parse_time(project["updated_at"])
    stored = client.get(project_url(project["id"]), headers=alice.headers).get_json()
    assert (stored["name"], stored["description"]) == ("New", "Keep me")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_owner_can_publish_and_unpublish(client, alice, bob, method):
    project = create_project(client, alice)
    url = project_url(project["id"])
    assert_error(client.get(url, headers=bob.headers), 404)

    published = client.open(url, method=method, json={"is_public": True}, headers=alice.headers)
    assert published.get_json()["is_public"] is True
    assert client.get(url, headers=bob.headers).get_json()["role"] is None

    hidden = client.open(url, method=method, json={"is_public": False}, headers=alice.headers)
    assert hidden.get_json()["is_public"] is False
    assert_error(client.get(url, headers=bob.headers), 404)


def test_edit_with_empty_body_changes_nothing(client, alice):
    project = create_project(client, alice, name="Same")
    response = client.patch(project_url(project["id"]), json={}, headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["name"] == "Same"


# --- Validation ------------------------------------------------------------------------------

INVALID_BODIES = [
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "x" * 101}, "name", id="long-name"),
    pytest.param({"name": None}, "name", id="null-name"),
    pytest.param({"name": 42}, "name", id="number-name"),
    pytest.param({"name": "ok", "description": "d" * 2001}, "description", id="long-description"),
    pytest.param({"name": "ok", "description": None}, "description", id="null-description"),
    pytest.param({"name": "ok", "owner_id": str(uuid.uuid4())}, "owner_id", id="owner_id"),
    pytest.param({"name": "ok", "id": str(uuid.uuid4())}, "id", id="id"),
    pytest.param({"name": "ok", "colour": "red"}, "colour", id="unknown-field"),
    pytest.param({"name": "ok", "is_public": "true"}, "is_public", id="public-string-true"),
    pytest.param({"name": "ok", "is_public": "yes"}, "is_public", id="public-yes"),
    pytest.param({"name": "ok", "is_public": 1}, "is_public", id="public-1"),
    pytest.param({"name": "ok", "is_public": 0}, "is_public", id="public-0"),
    pytest.param({"name": "ok", "is_public": 1.0}, "is_public", id="public-1.0"),
    pytest.param({"name": "ok", "is_public": None}, "is_public", id="public-null"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_create_rejects_invalid_input_and_creates_nothing(app, client, alice, body, field):
    from collab.models import Project

    response = client.post(PROJECTS, json=body, headers=alice.headers)

    assert_validation_error(response, field)
    assert count_rows(app, Project) == 0


def test_create_requires_a_name(app, client, alice):
    from collab.models import Project

    assert_validation_error(client.post(PROJECTS, json={}, headers=alice.headers), "name")
    assert count_rows(app, Project) == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_edit_rejects_invalid_input_and_changes_nothing(client, alice, method, body, field):
    project = create_project(client, alice, name="Stable", description="As is")
    url = project_url(project["id"])
    etag = etag_of(client, alice, url)

    response = client.open(url, method=method, json=body, headers=alice.headers)

    assert_validation_error(response, field)
    after = client.get(url, headers=alice.headers)
    assert {k: after.get_json()[k] for k in PROJECT_FIELDS} == project
    assert after.headers["ETag"] == etag


def test_length_limits_are_inclusive(client, alice):
    body = {"name": "n" * 100, "description": "d" * 2000}
    created = client.post(PROJECTS, json=body, headers=alice.headers)
    assert created.status_code == 201
    assert (created.get_json()["name"], created.get_json()["description"]) == (
        body["name"],
        body["description"],
    )
    one = client.patch(
        project_url(created.get_json()["id"]), json={"name": "1"}, headers=alice.headers
    )
    assert one.get_json()["name"] == "1"


# --- Delete ----------------------------------------------------------------------------------


def test_delete_cascades_to_workspaces_and_memberships(app, client, alice, bob):
    from collab.models import Membership, Project, Workspace

    doomed = create_project(client, alice, name="Doomed")
    kept = create_project(client, alice, name="Kept")
    for name in ("W1", "W2"):
        create_workspace(client, alice, doomed["id"], name=name)
    kept_ws = create_workspace(client, alice, kept["id"], name="Stays")
    add_member(client, alice, doomed["id"], bob, "collaborator")
    add_member(client, alice, kept["id"], bob, "viewer")
    doomed_id = uuid.UUID(doomed["id"])
    assert count_rows(app, Workspace, project_id=doomed_id) == 2
    assert count_rows(app, Membership, project_id=doomed_id) == 2

    response = client.delete(project_url(doomed["id"]), headers=alice.headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Project deleted"}
    assert count_rows(app, Project, id=doomed_id) == 0
    assert count_rows(app, Workspace, project_id=doomed_id) == 0
    assert count_rows(app, Membership, project_id=doomed_id) == 0
    # The other project is untouched.
    kept_id = uuid.UUID(kept["id"])
    assert count_rows(app, Workspace, project_id=kept_id) == 1
    assert count_rows(app, Membership, project_id=kept_id) == 2
    assert_error(client.get(project_url(doomed["id"]), headers=alice.headers), 404)
    assert_error(client.get(project_url(doomed["id"]), headers=bob.headers), 404)
    assert [p["id"] for p in client.get(PROJECTS, headers=bob.headers).get_json()] == [kept["id"]]
    ws = client.get(workspace_url(kept["id"], kept_ws["id"]), headers=alice.headers)
    assert ws.get_json() == kept_ws


def test_delete_twice_is_404(client, alice):
    project = create_project(client, alice)
    assert client.delete(project_url(project["id"]), headers=alice.headers).status_code == 200
    assert_error(client.delete(project_url(project["id"]), headers=alice.headers), 404)


# --- Transfer --------------------------------------------------------------------------------


def transfer(client, account, project_id: str, user_id: str):
    return client.post(
        f"{project_url(project_id)}/transfer", json={"user_id": user_id}, headers=account.headers
    )


@pytest.mark.parametrize("role", ["collaborator", "viewer"])
def test_transfer_ownership(client, alice, bob, role):
    project = create_project(client, alice, name="Handover")
    add_member(client, alice, project["id"], bob, role)

    response = transfer(client, alice, project["id"], bob.id)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PROJECT_FIELDS
    assert (body["id"], body["owner_id"], body["name"]) == (project["id"], bob.id, "Handover")
    rows = client.get(collaborators_url(project["id"]), headers=bob.headers).get_json()
    assert [(r["user_id"], r["role"]) for r in rows] == [
        (bob.id, "owner"),
        (alice.id, "collaborator"),
    ]
    bob_view = client.get(project_url(project["id"]), headers=bob.headers).get_json()
    assert (bob_view["role"], bob_view["owner"]["id"]) == ("owner", bob.id)
    assert client.get(project_url(project["id"]), headers=alice.headers).get_json()["role"] == (
        "collaborator"
    )

    # The old owner keeps editing rights but lost the owner's.
    edit = client.patch(project_url(project["id"]), json={"name": "x"}, headers=alice.headers)
    assert edit.status_code == 200
    assert_error(client.delete(project_url(project["id"]), headers=alice.headers), 403)
    assert_error(transfer(client, alice, project["id"], alice.id), 403)
    assert client.get(project_url(project["id"]), headers=alice.headers).status_code == 200

    # The old owner may now leave; the new owner cannot.
    assert_error(client.delete(collaborator_url(project["id"], bob.id), headers=bob.headers), 409)

    deleted = client.delete(project_url(project["id"]), headers=bob.headers)
    assert deleted.get_json() == {"message": "Project deleted"}


def test_transfer_to_a_non_member_is_404_and_changes_nothing(client, alice, bob):
    project = create_project(client, alice)
    for target in (bob.id, random_id()):
        assert_error(transfer(client, alice, project["id"], target), 404)
    detail = client.get(project_url(project["id"]), headers=alice.headers).get_json()
    assert (detail["owner_id"], detail["role"]) == (alice.id, "owner")


def test_transfer_to_the_owner_is_409(client, alice):
    project = create_project(client, alice)
    assert_error(transfer(client, alice, project["id"], alice.id), 409)
    rows = client.get(collaborators_url(project["id"]), headers=alice.headers).get_json()
    assert [(r["user_id"], r["role"]) for r in rows] == [(alice.id, "owner")]


@pytest.mark.parametrize("body", [{}, {"user_id": "nope"}, {"user_id": None}, {"user": "x"}])
def test_transfer_validates_its_body(client, alice, body):
    project = create_project(client, alice)
    response = client.post(
        f"{project_url(project['id'])}/transfer", json=body, headers=alice.headers
    )
    assert_error(response, 422)
    assert client.get(project_url(project["id"]), headers=alice.headers).get_json()["role"] == (
        "owner"
    )


# --- ETag / If-Match -------------------------------------------------------------------------


def test_get_returns_an_etag_that_changes_with_each_write(client, alice):
    project = create_project(client, alice)
    url = project_url(project["id"])
    first = etag_of(client, alice, url)
    assert first == etag_of(client, alice, url), "the ETag must be stable between writes"

    response = client.patch(url, json={"name": "Second"}, headers=alice.headers)
    assert response.status_code == 200
    second = response.headers["ETag"]
    assert second != first
    assert etag_of(client, alice, url) == second


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_write_with_a_stale_if_match_is_412_and_changes_nothing(client, alice, bob, method):
    project = create_project(client, alice, name="Original")
    add_member(client, alice, project["id"], bob, "collaborator")
    url = project_url(project["id"])
    alice_etag = etag_of(client, alice, url)
    bob_etag = etag_of(client, bob, url)
    assert alice_etag == bob_etag

    # Two editors read the same version; the first one to write wins...
    won = client.open(
        url,
        method=method,
        json={"name": "Alice's"},
        headers={**alice.headers, "If-Match": alice_etag},
    )
    assert won.status_code == 200 and won.get_json()["name"] == "Alice's"
    # ...and the second does not silently overwrite it.
    lost = client.open(
        url,
        method=method,
        json={"name": "Bob's", "description": "lost"},
        headers={**bob.headers, "If-Match": bob_etag},
    )

    assert_error(lost, 412)
    after = client.get(url, headers=alice.headers)
    assert (after.get_json()["name"], after.get_json()["description"]) == ("Alice's", "")
    assert after.headers["ETag"] == won.headers["ETag"]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_write_with_the_current_if_match_succeeds(client, alice, method):
    project = create_project(client, alice)
    url = project_url(project["id"])
    etag = etag_of(client, alice, url)

    response = client.open(
        url,
        method=method,
        json={"description": "fresh"},
        headers={**alice.headers, "If-Match": etag},
    )

    assert response.status_code == 200
    assert response.get_json()["description"] == "fresh"
    assert response.headers["ETag"] not in ("", etag)
    assert etag_of(client, alice, url) == response.headers["ETag"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_write_without_if_match_proceeds(client, alice, method):
    project = create_project(client, alice)
    url = project_url(project["id"])
    body = None if method == "DELETE" else {"name": "No precondition"}

    response = client.open(url, method=method, json=body, headers=alice.headers)

    assert response.status_code == 200, response.get_json()
    if method == "DELETE":
        assert response.get_json() == {"message": "Project deleted"}
        assert_error(client.get(url, headers=alice.headers), 404)
    else:
        assert response.get_json()["name"] == "No precondition"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_if_match_star_and_lists(client, alice, method):
    project = create_project(client, alice)
    url = project_url(project["id"])

    star = client.open(
        url, method=method, json={"name": "Star"}, headers={**alice.headers, "If-Match": "*"}
    )
    assert star.status_code == 200 and star.get_json()["name"] == "Star"

    current = etag_of(client, alice, url)
    listed = client.open(
        url,
        method=method,
        json={"name": "Listed"},
        headers={**alice.headers, "If-Match": f'"stale-1", {current}'},
    )
    assert listed.status_code == 200 and listed.get_json()["name"] == "Listed"


def test_if_match_uses_strong_comparison(client, alice):
    project = create_project(client, alice, name="Strong")
    url = project_url(project["id"])
    etag = etag_of(client, alice, url)
    response = client.patch(
        url, json={"name": "Weak"}, headers={**alice.headers, "If-Match": f"W/{etag}"}
    )
    assert_error(response, 412)
    assert client.get(url, headers=alice.headers).get_json()["name"] == "Strong"


def test_if_match_of_another_project_is_stale(client, alice):
    one = create_project(client, alice, name="One")
    other = create_project(client, alice, name="Other")
    foreign = etag_of(client, alice, project_url(other["id"]))
    response = client.patch(
        project_url(one["id"]), json={"name": "x"}, headers={**alice.headers, "If-Match": foreign}
    )
    assert_error(response, 412)
    assert client.get(project_url(one["id"]), headers=alice.headers).get_json()["name"] == "One"


def test_delete_with_a_stale_if_match_is_412_and_deletes_nothing(app, client, alice):
    from collab.models import Project, Workspace

    project = create_project(client, alice)
    create_workspace(client, alice, project["id"])
    url = project_url(project["id"])
    stale = etag_of(client, alice, url)
    client.patch(url, json={"description": "moved on"}, headers=alice.headers)

    response = client.delete(url, headers={**alice.headers, "If-Match": stale})

    assert_error(response, 412)
    assert count_rows(app, Project, id=uuid.UUID(project["id"])) == 1
    assert count_rows(app, Workspace, project_id=uuid.UUID(project["id"])) == 1
    assert client.get(url, headers=alice.headers).get_json()["description"] == "moved on"


@pytest.mark.parametrize("if_match", ["current", "*"])
def test_delete_with_a_matching_if_match_succeeds(app, client, alice, if_match):
    from collab.models import Project

    project = create_project(client, alice)
    url = project_url(project["id"])
    header = etag_of(client, alice, url) if if_match == "current" else "*"

    response = client.delete(url, headers={**alice.headers, "If-Match": header})

    assert response.get_json() == {"message": "Project deleted"}
    assert count_rows(app, Project) == 0


def test_etag_changes_after_a_transfer(client, alice, bob):
    project = create_project(client, alice)
    add_member(client, alice, project["id"], bob, "collaborator")
    url = project_url(project["id"])
    before = etag_of(client, alice, url)
    response = transfer(client, alice, project["id"], bob.id)
    assert response.headers["ETag"] != before
    assert_error(
        client.patch(url, json={"name": "late"}, headers={**alice.headers, "If-Match": before}),
        412,
    )
