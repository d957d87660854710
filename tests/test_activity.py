"""The activity feed: every mutation of a project is recorded in MongoDB through a Redis
buffer, listed newest first to members; a MongoDB outage neither fails nor slows a mutation,
and the events recorded during it land once it is back."""

from __future__ import annotations

import time

import pytest
import redis

from collab.activity import recorder, store
from collab.devstack import free_port, mongo_server
from collab.extensions import mongo
from tests.helpers_projects import (
    add_member,
    assert_error,
    collaborator_url,
    create_project,
    create_workspace,
    make_team,
    workspace_url,
)


@pytest.fixture(autouse=True)
def empty_activity(app):
    yield
    with app.app_context():
        mongo.db[store.COLLECTION].delete_many({})


def activity_url(project_id: str) -> str:
    return f"/api/v1/projects/{project_id}/activity"


def feed(app, client, account, project_id: str) -> list[dict]:
    with app.app_context():
        recorder.flush()
    response = client.get(activity_url(project_id), headers=account.headers)
    assert response.status_code == 200, response.get_json()
    assert int(response.headers["X-Total-Count"]) >= len(response.get_json())
    return response.get_json()


def test_every_kind_of_mutation_is_recorded_newest_first(app, client, make_user):
    owner, member = make_user("olive"), make_user("milo")
    project = create_project(client, owner, name="Feed")
    pid = project["id"]
    workspace = create_workspace(client, owner, pid, name="Main")
    add_member(client, owner, pid, member, "collaborator")
    client.put(collaborator_url(pid, member.id), json={"role": "viewer"}, headers=owner.headers)
    documents = f"{workspace_url(pid, workspace['id'])}/documents"
    doc = client.post(documents, json={"name": "a.md"}, headers=owner.headers).get_json()
    client.patch(f"{documents}/{doc['id']}", json={"name": "b.md"}, headers=owner.headers)
    client.delete(collaborator_url(pid, member.id), headers=owner.headers)
    events = feed(app, client, owner, pid)
    assert [e["action"] for e in events] == [
        "member.removed",
        "document.renamed",
        "document.created",
        "member.role_changed",
        "member.added",
        "workspace.created",
        "project.created",
    ]
    renamed = events[1]
    assert renamed["details"] == {"name": "b.md", "previous_name": "a.md"}
    assert (renamed["target_type"], renamed["target_id"]) == ("document", doc["id"])
    assert renamed["workspace_id"] == workspace["id"] and renamed["actor_id"] == owner.id
    assert events[0]["target_id"] == member.id and events[3]["details"] == {"role": "viewer"}
    page = client.get(f"{activity_url(pid)}?skip=1&limit=2", headers=owner.headers)
    assert [e["action"] for e in page.get_json()] == ["document.renamed", "document.created"]
    assert page.headers["X-Total-Count"] == "7"


@pytest.mark.parametrize("is_public", [False, True])
def test_members_read_the_feed_and_nobody_else(app, client, make_user, is_public):
    team = make_team(client, make_user, is_public=is_public)
    for role in ("owner", "collaborator", "viewer"):
        assert feed(app, client, team.account(role), team.pid)
    outsider = client.get(activity_url(team.pid), headers=team.outsider.headers)
    assert_error(outsider, 403 if is_public else 404)
    assert_error(client.get(activity_url(team.pid)), 401)


def test_a_mongodb_outage_neither_fails_nor_slows_mutations_and_loses_nothing(
    make_app, make_user, app, redis_url
):
    port = free_port()
    # Its own Redis database too: the suite's other apps flush the shared one to their MongoDB.
    base, _, number = redis_url.rpartition("/")
    own_redis = f"{base}/{(int(number or 0) + 1) % 16}"
    try:
        with mongo_server(port):
            api = make_app(MONGODB_URL=f"mongodb://127.0.0.1:{port}", REDIS_URL=own_redis)
            client = api.test_client()
            owner = make_user("outage")
            pid = create_project(client, owner, name="Before")["id"]
        # MongoDB is stopped now: mutations still answer, without waiting for its timeouts.
        for name in ("During one", "During two"):
            started = time.monotonic()
            response = client.post(f"/api/v1/projects/{pid}/workspaces", json={"name": name},
                                   headers=owner.headers)  # fmt: skip
            assert response.status_code == 201
            assert time.monotonic() - started < 1.5  # MongoDB's own timeout is 2 s
        with mongo_server(port):  # back, empty: the events waited in Redis
            events = wait_for_feed(client, owner, pid, lambda e: len(e) == 3)
        assert [e["action"] for e in events] == ["workspace.created"] * 2 + ["project.created"]
        assert [e["details"]["name"] for e in events] == ["During two", "During one", "Before"]
    finally:
        redis.Redis.from_url(own_redis).flushdb()


def wait_for_feed(client, account, project_id: str, done, seconds: float = 15) -> list[dict]:
    """The feed once `done(events)` holds (the flusher thread runs every second)."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(activity_url(project_id), headers=account.headers)
        events = response.get_json() if response.status_code == 200 else []
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_an_event_flushed_twice_is_stored_once(app, client, alice):
    pid = create_project(client, alice, name="Once")["id"]
    with app.app_context():
        raw = recorder.redis_client.lrange(recorder.PENDING_KEY, 0, -1)
        store.insert(
            [recorder.decode(item) for item in raw]
        )  # a flush that crashed before trimming
        recorder.flush()
    assert [e["action"] for e in feed(app, client, alice, pid)] == ["project.created"]


def test_retention_ttl_follows_the_configuration(app, monkeypatch):
    with app.app_context():
        activity = mongo.db[store.COLLECTION]
        store.ensure_indexes(activity)
        ttl = activity.index_information()[store.TTL_INDEX]["expireAfterSeconds"]
        assert ttl == 7 * 24 * 3600
        monkeypatch.setitem(app.config, "ACTIVITY_RETENTION_DAYS", 2)
        store.ensure_indexes(activity)
        assert activity.index_information()[store.TTL_INDEX]["expireAfterSeconds"] == 2 * 86400
