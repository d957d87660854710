"""The role matrix of the contract: every project, workspace and collaborator endpoint, called by
the owner, a collaborator, a viewer, an authenticated outsider and an anonymous client, on a
private and on a public project.

A granted call is checked by its body and its effect; a refused one by the error body and by a
snapshot of the project proving that nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.helpers_projects import (
    MATRIX,
    MEMBER_FIELDS,
    OK,
    PROJECT_FIELDS,
    WORKSPACE_FIELDS,
    Team,
    assert_error,
    collaborator_url,
    collaborators_url,
    make_team,
    project_url,
    random_id,
    snapshot,
    workspace_url,
    workspaces_url,
)


@pytest.fixture()
def project_with_roles(client, make_user) -> Callable[..., Team]:
    def build(visibility: str = "private") -> Team:
        return make_team(client, make_user, is_public=visibility == "public")

    return build


# --- What each endpoint must do when it is allowed --------------------------------------------


def check_read_project(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert set(body) >= PROJECT_FIELDS | {"owner", "workspaces", "role"}
    assert body["id"] == team.pid
    assert body["name"] == "Team project"
    assert body["owner_id"] == team.owner.id
    assert body["owner"] == {
        "id": team.owner.id,
        "username": team.owner.username,
        "full_name": "Olive Owner",
    }
    assert [w["id"] for w in body["workspaces"]] == [team.wid]
    assert body["role"] == (None if role == "outsider" else role)
    assert response.headers.get("ETag")


def check_list_workspaces(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert body == [team.workspace]
    assert set(body[0]) == WORKSPACE_FIELDS
    assert response.headers["X-Total-Count"] == "1"


def check_read_workspace(client, team: Team, response, role: str) -> None:
    assert response.get_json() == team.workspace
    assert response.headers.get("ETag")


def check_list_collaborators(client, team: Team, response, role: str) -> None:
    rows = response.get_json()
    assert rows[0]["user_id"] == team.owner.id and rows[0]["role"] == "owner"
    assert {row["user_id"]: row["role"] for row in rows} == team.members()
    usernames = {team.owner.id: team.owner.username, team.extra.id: team.extra.username}
    for row in rows:
        if row["user_id"] in usernames:
            assert row["username"] == usernames[row["user_id"]]
    if role == "outsider":
        # A stranger reading a public project learns who is in it, never their addresses.
        assert all("email" not in row for row in rows), rows
        assert "@" not in response.get_data(as_text=True)
    else:
        emails = {team.owner.id: team.owner.email, team.extra.id: team.extra.email}
        for row in rows:
            assert set(row) >= MEMBER_FIELDS
            if row["user_id"] in emails:
                assert row["email"] == emails[row["user_id"]]


def owner_view(client, team: Team) -> dict:
    response = client.get(project_url(team.pid), headers=team.owner.headers)
    assert response.status_code == 200
    return response.get_json()


def check_put_project(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert set(body) == PROJECT_FIELDS
    assert (body["name"], body["description"]) == ("Renamed", "rewritten")
    assert body["is_public"] == team.project["is_public"]
    assert body["owner_id"] == team.owner.id
    stored = owner_view(client, team)
    assert (stored["name"], stored["description"]) == ("Renamed", "rewritten")


def check_patch_project(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert (body["name"], body["description"]) == ("Team project", "patched")
    assert owner_view(client, team)["description"] == "patched"


def check_create_workspace(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert set(body) == WORKSPACE_FIELDS
    assert (body["name"], body["project_id"]) == ("Second", team.pid)
    assert response.headers["Location"] == workspace_url(team.pid, body["id"])
    listed = client.get(workspaces_url(team.pid), headers=team.owner.headers).get_json()
    assert [w["id"] for w in listed] == [team.wid, body["id"]]


def check_put_workspace(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert (body["id"], body["name"], body["description"]) == (team.wid, "Renamed", "new")
    stored = client.get(workspace_url(team.pid, team.wid), headers=team.owner.headers)
    assert stored.get_json()["name"] == "Renamed"


def check_patch_workspace(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert (body["name"], body["description"]) == ("Main", "patched")
    stored = client.get(workspace_url(team.pid, team.wid), headers=team.owner.headers)
    assert stored.get_json()["description"] == "patched"


def check_set_public(client, team: Team, response, role: str) -> None:
    flipped = not team.project["is_public"]
    assert response.get_json()["is_public"] is flipped
    assert owner_view(client, team)["is_public"] is flipped


def check_delete_project(client, team: Team, response, role: str) -> None:
    assert response.get_json() == {"message": "Project deleted"}
    assert_error(client.get(project_url(team.pid), headers=team.owner.headers), 404)


def check_delete_workspace(client, team: Team, response, role: str) -> None:
    assert response.get_json() == {"message": "Workspace deleted"}
    gone = client.get(workspace_url(team.pid, team.wid), headers=team.owner.headers)
    assert_error(gone, 404)
    assert owner_view(client, team)["workspaces"] == []


def members_now(client, team: Team) -> dict[str, str]:
    rows = client.get(collaborators_url(team.pid), headers=team.owner.headers).get_json()
    return {row["user_id"]: row["role"] for row in rows}


def check_add_collaborator(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert set(body) >= MEMBER_FIELDS
    assert body["user_id"] == team.newcomer.id
    assert body["email"] == team.newcomer.email
    assert body["username"] == team.newcomer.username
    assert body["role"] == "collaborator"
    assert members_now(client, team) == {**team.members(), team.newcomer.id: "collaborator"}
    seen = client.get(project_url(team.pid), headers=team.newcomer.headers)
    assert seen.get_json()["role"] == "collaborator"


def check_change_role(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert (body["user_id"], body["role"]) == (team.extra.id, "collaborator")
    assert members_now(client, team) == {**team.members(), team.extra.id: "collaborator"}


def check_remove_collaborator(client, team: Team, response, role: str) -> None:
    assert response.get_json() == {"message": "Collaborator removed"}
    expected = team.members()
    del expected[team.extra.id]
    assert members_now(client, team) == expected


def check_transfer(client, team: Team, response, role: str) -> None:
    body = response.get_json()
    assert set(body) == PROJECT_FIELDS
    assert body["owner_id"] == team.extra.id
    assert members_now(client, team) == {
        **team.members(),
        team.extra.id: "owner",
        team.owner.id: "collaborator",
    }


# --- The endpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "read", "edit" or "manage": the row of the contract's matrix
    method: str
    url: Callable[[Team], str]
    check: Callable
    body: Callable[[Team], dict] | None = None
    ok: int = 200


ENDPOINTS = {
    "get project": Endpoint("read", "GET", lambda t: project_url(t.pid), check_read_project),
    "list workspaces": Endpoint(
        "read", "GET", lambda t: workspaces_url(t.pid), check_list_workspaces
    ),
    "get workspace": Endpoint(
        "read", "GET", lambda t: workspace_url(t.pid, t.wid), check_read_workspace
    ),
    "list collaborators": Endpoint(
        "read", "GET", lambda t: collaborators_url(t.pid), check_list_collaborators
    ),
    "put project": Endpoint(
        "edit",
        "PUT",
        lambda t: project_url(t.pid),
        check_put_project,
        lambda t: {"name": "Renamed", "description": "rewritten"},
    ),
    "patch project": Endpoint(
        "edit",
        "PATCH",
        lambda t: project_url(t.pid),
        check_patch_project,
        lambda t: {"description": "patched"},
    ),
    "create workspace": Endpoint(
        "edit",
        "POST",
        lambda t: workspaces_url(t.pid),
        check_create_workspace,
        lambda t: {"name": "Second"},
        ok=201,
    ),
    "put workspace": Endpoint(
        "edit",
        "PUT",
        lambda t: workspace_url(t.pid, t.wid),
        check_put_workspace,
        lambda t: {"name": "Renamed", "description": "new"},
    ),
    "patch workspace": Endpoint(
        "edit",
        "PATCH",
        lambda t: workspace_url(t.pid, t.wid),
        check_patch_workspace,
        lambda t: {"description": "patched"},
    ),
    "change is_public": Endpoint(
        "manage",
        "PATCH",
        lambda t: project_url(t.pid),
        check_set_public,
        lambda t: {"is_public": not t.project["is_public"]},
    ),
    "delete project": Endpoint(
        "manage", "DELETE", lambda t: project_url(t.pid), check_delete_project
    ),
    "delete workspace": Endpoint(
        "manage", "DELETE", lambda t: workspace_url(t.pid, t.wid), check_delete_workspace
    ),
    "add collaborator": Endpoint(
        "manage",
        "POST",
        lambda t: collaborators_url(t.pid),
        check_add_collaborator,
        lambda t: {"email": t.newcomer.email, "role": "collaborator"},
        ok=201,
    ),
    "put collaborator role": Endpoint(
        "manage",
        "PUT",
        lambda t: collaborator_url(t.pid, t.extra.id),
        check_change_role,
        lambda t: {"role": "collaborator"},
    ),
    "patch collaborator role": Endpoint(
        "manage",
        "PATCH",
        lambda t: collaborator_url(t.pid, t.extra.id),
        check_change_role,
        lambda t: {"role": "collaborator"},
    ),
    "remove collaborator": Endpoint(
        "manage",
        "DELETE",
        lambda t: collaborator_url(t.pid, t.extra.id),
        check_remove_collaborator,
    ),
    "transfer ownership": Endpoint(
        "manage",
        "POST",
        lambda t: f"{project_url(t.pid)}/transfer",
        check_transfer,
        lambda t: {"user_id": t.extra.id},
    ),
}


CASES = [
    pytest.param(
        name,
        role,
        visibility,
        endpoint.ok if expected == OK else expected,
        id=f"{name}-{role}-{visibility}",
    )
    for name, endpoint in ENDPOINTS.items()
    for role, by_visibility in MATRIX[endpoint.kind].items()
    for visibility, expected in zip(("private", "public"), by_visibility, strict=True)
]


def call(client, endpoint: Endpoint, team: Team, headers: dict, url: str | None = None):
    body = endpoint.body(team) if endpoint.body else None
    return client.open(
        url or endpoint.url(team), method=endpoint.method, json=body, headers=headers
    )


@pytest.mark.parametrize(("endpoint", "role", "visibility", "expected_status"), CASES)
def test_role_matrix(client, project_with_roles, endpoint, role, visibility, expected_status):
    team = project_with_roles(visibility)
    spec = ENDPOINTS[endpoint]
    before = snapshot(client, team)

    response = call(client, spec, team, team.headers(role))

    assert response.status_code == expected_status, response.get_data(as_text=True)
    if expected_status == spec.ok:
        spec.check(client, team, response, role)
        return
    body = assert_error(response, expected_status)
    if expected_status == 401:
        assert response.headers.get("WWW-Authenticate") == "Bearer"
    if expected_status == 404:
        assert body["message"] == "Project not found"
    assert snapshot(client, team) == before, "a refused request changed the project"


def test_every_project_route_is_in_the_matrix(app):
    """A new route under /projects/{id} must be added to ENDPOINTS (and so to the matrix)."""
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/projects/<"):
            continue
        if "/documents" in rule.rule or "/links" in rule.rule or rule.rule.endswith("/activity"):
            continue  # their own matrices: tests/test_documents.py, test_links.py, test_activity.py
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((method, rule.rule))
    shapes = {
        ("GET", "/api/v1/projects/<uuid:project_id>"): "get project",
        ("PUT", "/api/v1/projects/<uuid:project_id>"): "put project",
        ("PATCH", "/api/v1/projects/<uuid:project_id>"): "patch project",
        ("DELETE", "/api/v1/projects/<uuid:project_id>"): "delete project",
        ("POST", "/api/v1/projects/<uuid:project_id>/transfer"): "transfer ownership",
        ("GET", "/api/v1/projects/<uuid:project_id>/workspaces"): "list workspaces",
        ("POST", "/api/v1/projects/<uuid:project_id>/workspaces"): "create workspace",
        ("GET", "/api/v1/projects/<uuid:project_id>/workspaces/<uuid:workspace_id>"): (
            "get workspace"
        ),
        ("PUT", "/api/v1/projects/<uuid:project_id>/workspaces/<uuid:workspace_id>"): (
            "put workspace"
        ),
        ("PATCH", "/api/v1/projects/<uuid:project_id>/workspaces/<uuid:workspace_id>"): (
            "patch workspace"
        ),
        ("DELETE", "/api/v1/projects/<uuid:project_id>/workspaces/<uuid:workspace_id>"): (
            "delete workspace"
        ),
        ("GET", "/api/v1/projects/<uuid:project_id>/collaborators"): "list collaborators",
        ("POST", "/api/v1/projects/<uuid:project_id>/collaborators"): "add collaborator",
        ("PUT", "/api/v1/projects/<uuid:project_id>/collaborators/<uuid:user_id>"): (
            "put collaborator role"
        ),
        ("PATCH", "/api/v1/projects/<uuid:project_id>/collaborators/<uuid:user_id>"): (
            "patch collaborator role"
        ),
        ("DELETE", "/api/v1/projects/<uuid:project_id>/collaborators/<uuid:user_id>"): (
            "remove collaborator"
        ),
    }
    assert routed == set(shapes), routed ^ set(shapes)
    # "change is_public" is the owner-only use of PATCH /projects/{id}.
    assert set(shapes.values()) | {"change is_public"} == set(ENDPOINTS)
    for (method, _), name in shapes.items():
        assert ENDPOINTS[name].method == method
    assert len(CASES) == len(ENDPOINTS) * 5 * 2


# --- Existence never leaks -------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_private_project_404_is_identical_to_a_random_id(client, project_with_roles, endpoint):
    team = project_with_roles("private")
    spec = ENDPOINTS[endpoint]
    unknown = spec.url(team).replace(team.pid, random_id())
    assert unknown != spec.url(team)

    hidden = call(client, spec, team, team.outsider.headers)
    missing = call(client, spec, team, team.outsider.headers, url=unknown)

    assert_error(hidden, 404)
    assert (hidden.status_code, hidden.get_json()) == (missing.status_code, missing.get_json())
    assert hidden.headers.get("Content-Type") == missing.headers.get("Content-Type")
    assert "ETag" not in hidden.headers


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_anonymous_gets_the_same_401_for_a_private_project_and_a_random_id(
    client, project_with_roles, endpoint
):
    team = project_with_roles("private")
    spec = ENDPOINTS[endpoint]
    unknown = spec.url(team).replace(team.pid, random_id())

    hidden = call(client, spec, team, {})
    missing = call(client, spec, team, {}, url=unknown)

    assert_error(hidden, 401)
    assert hidden.get_json() == missing.get_json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/projects/not-a-uuid"),
        ("PATCH", "/api/v1/projects/12345"),
        ("DELETE", "/api/v1/projects/xyz"),
        ("POST", "/api/v1/projects/xyz/transfer"),
        ("GET", "/api/v1/projects/xyz/workspaces"),
        ("GET", "/api/v1/projects/{pid}/workspaces/not-a-uuid"),
        ("PUT", "/api/v1/projects/{pid}/workspaces/not-a-uuid"),
        ("GET", "/api/v1/projects/xyz/collaborators"),
        ("PUT", "/api/v1/projects/{pid}/collaborators/not-a-uuid"),
        ("DELETE", "/api/v1/projects/{pid}/collaborators/not-a-uuid"),
    ],
)
def test_non_uuid_ids_give_a_json_404(client, project_with_roles, method, path):
    team = project_with_roles("private")
    url = path.format(pid=team.pid)
    response = client.open(url, method=method, json={"name": "x"}, headers=team.owner.headers)
    assert_error(response, 404)
    assert response.mimetype == "application/json"


# --- Roles are checked on every request ------------------------------------------------------


def test_a_removed_member_loses_access_at_once(client, project_with_roles):
    team = project_with_roles("private")
    member = team.collaborator
    # Warm up whatever the app may cache about this member's role.
    assert client.get(project_url(team.pid), headers=member.headers).status_code == 200
    edit = client.patch(project_url(team.pid), json={"name": "Mine"}, headers=member.headers)
    assert edit.status_code == 200

    removed = client.delete(collaborator_url(team.pid, member.id), headers=team.owner.headers)
    assert removed.get_json() == {"message": "Collaborator removed"}

    random_404 = client.get(project_url(random_id()), headers=member.headers).get_json()
    for url in (project_url(team.pid), workspaces_url(team.pid), collaborators_url(team.pid)):
        response = client.get(url, headers=member.headers)
        assert_error(response, 404)
        assert response.get_json() == random_404
    refused = client.patch(project_url(team.pid), json={"name": "Back"}, headers=member.headers)
    assert_error(refused, 404)
    assert owner_view(client, team)["name"] == "Mine"
    listed = client.get("/api/v1/projects", headers=member.headers)
    assert listed.get_json() == [] and listed.headers["X-Total-Count"] == "0"


def test_a_member_removed_from_a_public_project_becomes_a_read_only_outsider(
    client, project_with_roles
):
    team = project_with_roles("public")
    member = team.collaborator
    assert client.get(project_url(team.pid), headers=member.headers).get_json()["role"] == (
        "collaborator"
    )
    client.delete(collaborator_url(team.pid, member.id), headers=team.owner.headers)

    detail = client.get(project_url(team.pid), headers=member.headers)
    assert detail.status_code == 200 and detail.get_json()["role"] is None
    rows = client.get(collaborators_url(team.pid), headers=member.headers).get_json()
    assert member.id not in {row["user_id"] for row in rows}
    assert all("email" not in row for row in rows)
    assert_error(
        client.patch(project_url(team.pid), json={"name": "x"}, headers=member.headers), 403
    )
    assert_error(
        client.post(workspaces_url(team.pid), json={"name": "x"}, headers=member.headers), 403
    )


def test_a_demoted_member_loses_write_access_at_once(client, project_with_roles):
    team = project_with_roles("private")
    member = team.collaborator
    ok = client.patch(project_url(team.pid), json={"description": "v1"}, headers=member.headers)
    assert ok.status_code == 200

    demoted = client.patch(
        collaborator_url(team.pid, member.id), json={"role": "viewer"}, headers=team.owner.headers
    )
    assert demoted.get_json()["role"] == "viewer"

    refused = client.patch(
        project_url(team.pid), json={"description": "v2"}, headers=member.headers
    )
    assert_error(refused, 403)
    assert_error(
        client.post(workspaces_url(team.pid), json={"name": "x"}, headers=member.headers), 403
    )
    assert_error(
        client.put(workspace_url(team.pid, team.wid), json={"name": "x"}, headers=member.headers),
        403,
    )
    detail = client.get(project_url(team.pid), headers=member.headers).get_json()
    assert (detail["role"], detail["description"]) == ("viewer", "v1")

    client.put(
        collaborator_url(team.pid, member.id),
        json={"role": "collaborator"},
        headers=team.owner.headers,
    )
    again = client.patch(project_url(team.pid), json={"description": "v3"}, headers=member.headers)
    assert again.status_code == 200 and again.get_json()["description"] == "v3"


@pytest.mark.parametrize("role", ["collaborator", "viewer"])
@pytest.mark.parametrize("visibility", ["private", "public"])
def test_a_member_may_leave(client, project_with_roles, role, visibility):
    team = project_with_roles(visibility)
    member = team.account(role)

    response = client.delete(collaborator_url(team.pid, member.id), headers=member.headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Left the project"}
    expected = team.members()
    del expected[member.id]
    assert members_now(client, team) == expected
    after = client.get(project_url(team.pid), headers=member.headers)
    if visibility == "private":
        assert_error(after, 404)
    else:
        assert after.status_code == 200 and after.get_json()["role"] is None
    assert client.get("/api/v1/projects", headers=member.headers).get_json() == []


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_the_owner_may_not_leave(client, project_with_roles, visibility):
    team = project_with_roles(visibility)
    before = snapshot(client, team)

    response = client.delete(collaborator_url(team.pid, team.owner.id), headers=team.owner.headers)

    assert_error(response, 409)
    assert snapshot(client, team) == before
    assert owner_view(client, team)["role"] == "owner"


def test_an_outsider_cannot_leave_a_public_project_they_are_not_in(client, project_with_roles):
    team = project_with_roles("public")
    before = snapshot(client, team)
    response = client.delete(
        collaborator_url(team.pid, team.outsider.id), headers=team.outsider.headers
    )
    assert_error(response, 404)
    assert snapshot(client, team) == before


def test_a_collaborator_cannot_remove_the_owner(client, project_with_roles):
    team = project_with_roles("private")
    before = snapshot(client, team)
    response = client.delete(
        collaborator_url(team.pid, team.owner.id), headers=team.collaborator.headers
    )
    assert_error(response, 403)
    assert snapshot(client, team) == before


def test_a_collaborator_cannot_publish_even_alongside_an_allowed_edit(client, project_with_roles):
    """is_public is owner-only even when sent with a name change; nothing of the request
    is applied."""
    team = project_with_roles("private")
    before = snapshot(client, team)
    response = client.patch(
        project_url(team.pid),
        json={"name": "Sneaky", "is_public": True},
        headers=team.collaborator.headers,
    )
    assert_error(response, 403)
    assert snapshot(client, team) == before
    # Sending the current value is not a change, so it does not need the owner.
    same = client.patch(
        project_url(team.pid),
        json={"name": "Fine", "is_public": False},
        headers=team.collaborator.headers,
    )
    assert same.status_code == 200
    assert (same.get_json()["name"], same.get_json()["is_public"]) == ("Fine", False)
