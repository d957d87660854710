"""The Redis cache of project lists and details: every write that changes what a reader would
see is visible on that reader's very next request, and reads survive a Redis outage.

Each test first reads (filling the cache), then writes, then reads again."""

from __future__ import annotations

from helpers_projects import (
    PROJECTS,
    add_member,
    collaborator_url,
    create_project,
    create_workspace,
    make_team,
    project_url,
    workspace_url,
)
from sqlalchemy import update

from collab.devstack import free_port, redis_server
from collab.extensions import db
from collab.models import Project


def names(client, account) -> list[str]:
    return [p["name"] for p in client.get(PROJECTS, headers=account.headers).json]


def detail(client, account, pid):
    return client.get(project_url(pid), headers=account.headers)


def test_reads_really_come_from_the_cache(app, client, alice):
    """A change made behind the API's back is not seen until an API write invalidates:
    proof that the tests below exercise the cache and not the database."""
    project = create_project(client, alice, name="Before")
    assert names(client, alice) == ["Before"]
    assert detail(client, alice, project["id"]).json["name"] == "Before"
    with app.app_context():
        db.session.execute(update(Project).values(name="Sneaky"))
        db.session.commit()
    assert names(client, alice) == ["Before"]
    assert detail(client, alice, project["id"]).json["name"] == "Before"
    create_project(client, alice, name="Another")
    assert names(client, alice) == ["Another", "Sneaky"]


def test_edit_is_seen_by_every_member_at_once(client, make_user):
    team = make_team(client, make_user, is_public=False)
    for who in (team.owner, team.viewer):
        assert names(client, who) == ["Team project"]
        assert detail(client, who, team.pid).json["description"] == "shared"
    client.patch(
        project_url(team.pid),
        json={"name": "Renamed", "description": "new"},
        headers=team.collaborator.headers,
    )
    for who in (team.owner, team.viewer):
        assert names(client, who) == ["Renamed"]
        assert detail(client, who, team.pid).json["description"] == "new"


def test_the_etag_changes_with_the_cached_detail(client, alice):
    pid = create_project(client, alice)["id"]
    first = detail(client, alice, pid).headers["ETag"]
    assert detail(client, alice, pid).headers["ETag"] == first
    client.patch(project_url(pid), json={"name": "x"}, headers=alice.headers)
    assert detail(client, alice, pid).headers["ETag"] != first


def test_workspace_changes_show_in_the_detail(client, alice):
    pid = create_project(client, alice)["id"]
    assert detail(client, alice, pid).json["workspaces"] == []
    wid = create_workspace(client, alice, pid, name="One")["id"]
    assert [w["name"] for w in detail(client, alice, pid).json["workspaces"]] == ["One"]
    client.patch(workspace_url(pid, wid), json={"name": "Uno"}, headers=alice.headers)
    assert [w["name"] for w in detail(client, alice, pid).json["workspaces"]] == ["Uno"]
    client.delete(workspace_url(pid, wid), headers=alice.headers)
    assert detail(client, alice, pid).json["workspaces"] == []


def test_membership_changes_show_in_lists_and_roles(client, alice, bob):
    pid = create_project(client, alice, name="Shared")["id"]
    assert names(client, bob) == []
    assert detail(client, bob, pid).status_code == 404
    add_member(client, alice, pid, bob, "viewer")
    assert names(client, bob) == ["Shared"]
    assert detail(client, bob, pid).json["role"] == "viewer"
    client.patch(
        collaborator_url(pid, bob.id), json={"role": "collaborator"}, headers=alice.headers
    )
    assert detail(client, bob, pid).json["role"] == "collaborator"
    client.delete(collaborator_url(pid, bob.id), headers=alice.headers)
    assert names(client, bob) == []
    assert detail(client, bob, pid).status_code == 404


def test_leaving_is_seen_at_once(client, alice, bob):
    pid = create_project(client, alice, name="Shared")["id"]
    add_member(client, alice, pid, bob, "viewer")
    assert detail(client, bob, pid).status_code == 200
    assert client.delete(collaborator_url(pid, bob.id), headers=bob.headers).status_code == 200
    assert detail(client, bob, pid).status_code == 404
    assert names(client, bob) == []


def test_making_a_project_private_hides_it_from_outsiders_at_once(client, alice, bob):
    pid = create_project(client, alice, is_public=True)["id"]
    assert detail(client, bob, pid).json["role"] is None
    client.patch(project_url(pid), json={"is_public": False}, headers=alice.headers)
    assert detail(client, bob, pid).status_code == 404


def test_transfer_and_delete_are_seen_at_once(client, alice, bob):
    pid = create_project(client, alice, name="Handed over")["id"]
    add_member(client, alice, pid, bob, "collaborator")
    assert detail(client, bob, pid).json["role"] == "collaborator"
    assert detail(client, alice, pid).json["role"] == "owner"
    client.post(f"{project_url(pid)}/transfer", json={"user_id": bob.id}, headers=alice.headers)
    assert detail(client, bob, pid).json["role"] == "owner"
    assert detail(client, alice, pid).json["role"] == "collaborator"
    assert detail(client, bob, pid).json["owner"]["id"] == bob.id
    client.delete(project_url(pid), headers=bob.headers)
    assert detail(client, alice, pid).status_code == 404
    assert names(client, alice) == [] and names(client, bob) == []


def test_the_owners_new_username_shows_in_the_detail(client, alice, bob):
    pid = create_project(client, alice)["id"]
    add_member(client, alice, pid, bob, "viewer")
    assert detail(client, bob, pid).json["owner"]["username"] == "alice"
    client.patch(
        "/api/v1/auth/me", json={"username": "alicia", "full_name": "A. L."}, headers=alice.headers
    )
    owner = detail(client, bob, pid).json["owner"]
    assert owner["username"] == "alicia" and owner["full_name"] == "A. L."


def test_reads_work_without_redis(make_app, make_user):
    port = free_port()
    with redis_server(port):
        client = make_app(
            REDIS_URL=f"redis://127.0.0.1:{port}/0", RATELIMIT_ENABLED="false"
        ).test_client()
        user = make_user("carol")
        pid = create_project(client, user, name="Cached")["id"]
        assert names(client, user) == ["Cached"]
    # Redis is gone: both reads and writes still work, from the database.
    assert names(client, user) == ["Cached"]
    assert detail(client, user, pid).json["name"] == "Cached"
    assert (
        client.patch(project_url(pid), json={"name": "Edited"}, headers=user.headers).status_code
        == 200
    )
    assert names(client, user) == ["Edited"]
