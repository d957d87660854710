"""Workspaces: creation, listing, detail, edits, deletion, validation and ETags."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.helpers_projects import (
    WORKSPACE_FIELDS,
    add_member,
    assert_error,
    assert_validation_error,
    create_project,
    create_workspace,
    etag_of,
    parse_time,
    project_url,
    random_id,
    workspace_url,
    workspaces_url,
)


def count_workspaces(app, **where) -> int:
    from collab.extensions import db
    from collab.models import Workspace

    with app.app_context():
        query = select(func.count()).select_from(Workspace)
        for column, value in where.items():
            query = query.where(getattr(Workspace, column) == value)
        return db.session.scalar(query)


@pytest.fixture()
def project(client, alice) -> dict:
    return create_project(client, alice, name="Home")


# --- Create ----------------------------------------------------------------------------------


def test_create_with_defaults(client, alice, project):
    response = client.post(
        workspaces_url(project["id"]), json={"name": "Notes"}, headers=alice.headers
    )

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == WORKSPACE_FIELDS
    assert uuid.UUID(body["id"])
    assert (body["name"], body["description"], body["project_id"]) == ("Notes", "", project["id"])
    assert body["updated_at"] == body["created_at"]
    assert response.headers["Location"] == workspace_url(project["id"], body["id"])
    assert response.headers["ETag"] == etag_of(
        client, alice, workspace_url(project["id"], body["id"])
    )


def test_create_with_a_description(client, alice, project):
    body = create_workspace(client, alice, project["id"], name="Specs", description="All of them")
    assert (body["name"], body["description"]) == ("Specs", "All of them")


def test_a_collaborator_creates_workspaces_in_the_owners_project(client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "collaborator")
    made = create_workspace(client, bob, project["id"], name="Bob's")
    listed = client.get(workspaces_url(project["id"]), headers=alice.headers).get_json()
    assert listed == [made]


def test_create_in_an_unknown_project_is_404(app, client, alice):
    response = client.post(workspaces_url(random_id()), json={"name": "x"}, headers=alice.headers)
    body = assert_error(response, 404)
    assert body["message"] == "Project not found"
    assert count_workspaces(app) == 0


# --- List ------------------------------------------------------------------------------------


def test_list_oldest_first_with_skip_and_limit(client, alice, project):
    made = [create_workspace(client, alice, project["id"], name=f"W{n}") for n in range(5)]
    url = workspaces_url(project["id"])

    def page(**query):
        response = client.get(url, query_string=query, headers=alice.headers)
        assert response.status_code == 200, response.get_json()
        assert response.headers["X-Total-Count"] == "5"
        return response.get_json()

    assert page() == made
    assert [w["name"] for w in page(limit=2)] == ["W0", "W1"]
    assert [w["name"] for w in page(skip=3, limit=10)] == ["W3", "W4"]
    assert page(skip=5) == []


def test_list_is_per_project(client, alice, bob, project):
    other = create_project(client, bob, name="Elsewhere")
    create_workspace(client, bob, other["id"], name="Not yours")
    mine = create_workspace(client, alice, project["id"], name="Yours")
    response = client.get(workspaces_url(project["id"]), headers=alice.headers)
    assert response.get_json() == [mine]
    assert response.headers["X-Total-Count"] == "1"


def test_list_of_an_empty_project(client, alice, project):
    response = client.get(workspaces_url(project["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"


def test_list_limit_is_capped_at_100(app, client, alice, project):
    from collab.extensions import db
    from collab.models import Workspace, utcnow

    start = utcnow() - timedelta(hours=1)
    with app.app_context():
        db.session.add_all(
            Workspace(
                project_id=uuid.UUID(project["id"]),
                name=f"Bulk {n:03d}",
                created_at=start + timedelta(seconds=n),
            )
            for n in range(103)
        )
        db.session.commit()

    response = client.get(
        workspaces_url(project["id"]), query_string={"limit": 500}, headers=alice.headers
    )

    assert response.status_code == 200
    assert [w["name"] for w in response.get_json()] == [f"Bulk {n:03d}" for n in range(100)]
    assert response.headers["X-Total-Count"] == "103"
    default = client.get(workspaces_url(project["id"]), headers=alice.headers).get_json()
    assert len(default) == 10


@pytest.mark.parametrize(
    ("query", "field"),
    [({"skip": -1}, "skip"), ({"limit": 0}, "limit"), ({"limit": "many"}, "limit")],
)
def test_list_rejects_bad_paging(client, alice, project, query, field):
    response = client.get(workspaces_url(project["id"]), query_string=query, headers=alice.headers)
    assert_validation_error(response, field)


# --- Detail ----------------------------------------------------------------------------------


def test_detail(client, alice, project):
    made = create_workspace(client, alice, project["id"], name="Detail", description="d")
    response = client.get(workspace_url(project["id"], made["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == made
    assert response.headers["ETag"]


def test_unknown_workspace_is_404(client, alice, project):
    response = client.get(workspace_url(project["id"], random_id()), headers=alice.headers)
    assert assert_error(response, 404)["message"] == "Workspace not found"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_workspace_is_only_reachable_through_its_own_project(app, client, alice, method):
    """Knowing a workspace id does not let you reach it through another project you can edit."""
    theirs = create_project(client, alice, name="Theirs")
    ws = create_workspace(client, alice, theirs["id"], name="Guarded")
    mine = create_project(client, alice, name="Mine")
    body = None if method in ("GET", "DELETE") else {"name": "hijacked"}

    response = client.open(
        workspace_url(mine["id"], ws["id"]), method=method, json=body, headers=alice.headers
    )

    assert assert_error(response, 404)["message"] == "Workspace not found"
    stored = client.get(workspace_url(theirs["id"], ws["id"]), headers=alice.headers)
    assert stored.get_json() == ws
    assert count_workspaces(app, id=uuid.UUID(ws["id"])) == 1


# --- Edit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_edit_changes_only_the_given_fields(client, alice, project, method):
    made = create_workspace(client, alice, project["id"], name="Before", description="Stays")
    url = workspace_url(project["id"], made["id"])

    response = client.open(url, method=method, json={"name": "After"}, headers=alice.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == WORKSPACE_FIELDS
    assert (body["id"], body["name"], body["description"]) == (made["id"], "After", "Stays")
    assert (body["project_id"], body["created_at"]) == (project["id"], made["created_at"])
    assert parse_time(body["updated_at"]) > parse_time(made["updated_at"])
    assert client.get(url, headers=alice.headers).get_json() == body


def test_edit_does_not_touch_sibling_workspaces(client, alice, project):
    one = create_workspace(client, alice, project["id"], name="One")
    two = create_workspace(client, alice, project["id"], name="Two")
    client.patch(workspace_url(project["id"], one["id"]), json={"name": "1"}, headers=alice.headers)
    assert (
        client.get(workspace_url(project["id"], two["id"]), headers=alice.headers).get_json() == two
    )


# --- Validation ------------------------------------------------------------------------------

INVALID_BODIES = [
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "w" * 101}, "name", id="long-name"),
    pytest.param({"name": None}, "name", id="null-name"),
    pytest.param({"name": ["list"]}, "name", id="list-name"),
    pytest.param({"name": "ok", "description": "d" * 2001}, "description", id="long-description"),
    pytest.param({"name": "ok", "description": 7}, "description", id="number-description"),
    pytest.param({"name": "ok", "project_id": str(uuid.uuid4())}, "project_id", id="project_id"),
    pytest.param({"name": "ok", "id": str(uuid.uuid4())}, "id", id="id"),
    pytest.param({"name": "ok", "colour": "red"}, "colour", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_create_rejects_invalid_input_and_creates_nothing(app, client, alice, project, body, field):
    response = client.post(workspaces_url(project["id"]), json=body, headers=alice.headers)
    assert_validation_error(response, field)
    assert count_workspaces(app) == 0


def test_create_requires_a_name(app, client, alice, project):
    response = client.post(
        workspaces_url(project["id"]), json={"description": "x"}, headers=alice.headers
    )
    assert_validation_error(response, "name")
    assert count_workspaces(app) == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_edit_rejects_invalid_input_and_changes_nothing(
    client, alice, project, method, body, field
):
    made = create_workspace(client, alice, project["id"], name="Stable", description="As is")
    url = workspace_url(project["id"], made["id"])
    etag = etag_of(client, alice, url)

    response = client.open(url, method=method, json=body, headers=alice.headers)

    assert_validation_error(response, field)
    after = client.get(url, headers=alice.headers)
    assert after.get_json() == made
    assert after.headers["ETag"] == etag


def test_length_limits_are_inclusive(client, alice, project):
    made = create_workspace(client, alice, project["id"], name="n" * 100, description="d" * 2000)
    assert (len(made["name"]), len(made["description"])) == (100, 2000)


# --- Delete ----------------------------------------------------------------------------------


def test_delete(app, client, alice, project):
    doomed = create_workspace(client, alice, project["id"], name="Doomed")
    kept = create_workspace(client, alice, project["id"], name="Kept")

    response = client.delete(workspace_url(project["id"], doomed["id"]), headers=alice.headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Workspace deleted"}
    assert count_workspaces(app, id=uuid.UUID(doomed["id"])) == 0
    gone = client.get(workspace_url(project["id"], doomed["id"]), headers=alice.headers)
    assert assert_error(gone, 404)["message"] == "Workspace not found"
    assert client.get(workspaces_url(project["id"]), headers=alice.headers).get_json() == [kept]
    detail = client.get(project_url(project["id"]), headers=alice.headers).get_json()
    assert detail["workspaces"] == [kept]
    again = client.delete(workspace_url(project["id"], doomed["id"]), headers=alice.headers)
    assert_error(again, 404)


def test_a_collaborator_cannot_delete_a_workspace(app, client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "collaborator")
    made = create_workspace(client, bob, project["id"], name="Made by Bob")
    response = client.delete(workspace_url(project["id"], made["id"]), headers=bob.headers)
    assert_error(response, 403)
    assert count_workspaces(app, id=uuid.UUID(made["id"])) == 1


# --- ETag / If-Match -------------------------------------------------------------------------


@pytest.fixture()
def workspace(client, alice, project) -> dict:
    return create_workspace(client, alice, project["id"], name="Versioned")


def ws_url(project: dict, workspace: dict) -> str:
    return workspace_url(project["id"], workspace["id"])


def test_etag_is_stable_and_changes_with_each_write(client, alice, project, workspace):
    url = ws_url(project, workspace)
    first = etag_of(client, alice, url)
    assert etag_of(client, alice, url) == first
    response = client.patch(url, json={"description": "v2"}, headers=alice.headers)
    assert response.headers["ETag"] != first
    assert etag_of(client, alice, url) == response.headers["ETag"]


def test_workspaces_have_distinct_etags(client, alice, project, workspace):
    other = create_workspace(client, alice, project["id"], name="Other")
    assert etag_of(client, alice, ws_url(project, workspace)) != etag_of(
        client, alice, ws_url(project, other)
    )


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_stale_if_match_is_412_and_changes_nothing(client, alice, bob, project, workspace, method):
    add_member(client, alice, project["id"], bob, "collaborator")
    url = ws_url(project, workspace)
    seen_by_alice = etag_of(client, alice, url)
    seen_by_bob = etag_of(client, bob, url)

    won = client.open(
        url,
        method=method,
        json={"name": "Alice's"},
        headers={**alice.headers, "If-Match": seen_by_alice},
    )
    assert won.status_code == 200 and won.get_json()["name"] == "Alice's"
    lost = client.open(
        url,
        method=method,
        json={"name": "Bob's", "description": "lost"},
        headers={**bob.headers, "If-Match": seen_by_bob},
    )

    assert_error(lost, 412)
    after = client.get(url, headers=alice.headers)
    assert after.get_json() == won.get_json()
    assert after.headers["ETag"] == won.headers["ETag"]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_current_if_match_succeeds(client, alice, project, workspace, method):
    url = ws_url(project, workspace)
    etag = etag_of(client, alice, url)
    response = client.open(
        url, method=method, json={"name": "Fresh"}, headers={**alice.headers, "If-Match": etag}
    )
    assert response.status_code == 200 and response.get_json()["name"] == "Fresh"
    assert response.headers["ETag"] != etag
    assert etag_of(client, alice, url) == response.headers["ETag"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_without_if_match_the_write_proceeds(app, client, alice, project, workspace, method):
    url = ws_url(project, workspace)
    body = None if method == "DELETE" else {"name": "Unconditional"}
    response = client.open(url, method=method, json=body, headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    if method == "DELETE":
        assert response.get_json() == {"message": "Workspace deleted"}
        assert count_workspaces(app) == 0
    else:
        assert response.get_json()["name"] == "Unconditional"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_star_succeeds(app, client, alice, project, workspace, method):
    url = ws_url(project, workspace)
    body = None if method == "DELETE" else {"name": "Star"}
    response = client.open(
        url, method=method, json=body, headers={**alice.headers, "If-Match": "*"}
    )
    assert response.status_code == 200, response.get_json()
    if method == "DELETE":
        assert count_workspaces(app) == 0
    else:
        assert response.get_json()["name"] == "Star"


def test_delete_with_a_stale_if_match_is_412_and_deletes_nothing(
    app, client, alice, project, workspace
):
    url = ws_url(project, workspace)
    stale = etag_of(client, alice, url)
    edited = client.patch(url, json={"description": "moved on"}, headers=alice.headers)

    response = client.delete(url, headers={**alice.headers, "If-Match": stale})

    assert_error(response, 412)
    assert count_workspaces(app, id=uuid.UUID(workspace["id"])) == 1
    assert client.get(url, headers=alice.headers).get_json() == edited.get_json()


def test_delete_with_the_current_if_match_succeeds(app, client, alice, project, workspace):
    url = ws_url(project, workspace)
    response = client.delete(
        url, headers={**alice.headers, "If-Match": etag_of(client, alice, url)}
    )
    assert response.get_json() == {"message": "Workspace deleted"}
    assert count_workspaces(app) == 0


def test_the_projects_etag_does_not_fit_its_workspace(client, alice, project, workspace):
    project_etag = etag_of(client, alice, project_url(project["id"]))
    response = client.patch(
        ws_url(project, workspace),
        json={"name": "Mixed up"},
        headers={**alice.headers, "If-Match": project_etag},
    )
    assert_error(response, 412)
    assert client.get(ws_url(project, workspace), headers=alice.headers).get_json() == workspace
