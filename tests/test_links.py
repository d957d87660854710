"""Share links: the owner makes, lists and revokes them; any signed-in user joins through one.
Who may manage them, what a join grants (never less than the caller had), the link's limits
(expiry, uses, revocation) and use counting under real concurrent joins on two web instances."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from collab.activity import recorder, store
from collab.extensions import db, mongo
from collab.models import ShareLink, utcnow
from tests.helpers_projects import (
    MATRIX,
    MEMBER_FIELDS,
    OK,
    PROJECTS,
    add_member,
    assert_error,
    assert_validation_error,
    create_project,
    make_team,
    parse_time,
    random_id,
)
from tests.test_collaborators import memberships

LINK_FIELDS = {
    "id",
    "project_id",
    "role",
    "status",
    "expires_at",
    "max_uses",
    "uses",
    "created_by",
    "created_at",
    "revoked_at",
}
GONE = "This link has expired, was revoked or is used up"
NOT_VALID = "This link is not valid"


def links_url(project_id: str) -> str:
    return f"{PROJECTS}/{project_id}/links"


def link_url(project_id: str, link_id: str) -> str:
    return f"{links_url(project_id)}/{link_id}"


def join_url(token: str) -> str:
    return f"/api/v1/links/{token}/join"


def create_link(client, owner, project_id: str, role: str = "viewer", **fields) -> dict:
    response = client.post(links_url(project_id), json={"role": role, **fields}, **auth(owner))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def join(client, account, token: str, address: str = "127.0.0.1"):
    return client.post(join_url(token), environ_base={"REMOTE_ADDR": address}, **auth(account))


def auth(account) -> dict:
    return {"headers": account.headers}


def stored(app, link_id: str) -> ShareLink:
    with app.app_context():
        link = db.session.get(ShareLink, uuid.UUID(link_id))
        db.session.expunge(link)
        return link


def move_expiry(app, link_id: str, delta: timedelta) -> None:
    """Time passes for the link: its expires_at moves by `delta` (negative: into the past)."""
    with app.app_context():
        link = db.session.get(ShareLink, uuid.UUID(link_id))
        link.expires_at = utcnow() + delta
        db.session.commit()


def listed(client, owner, project_id: str, query: str = "") -> list[dict]:
    response = client.get(f"{links_url(project_id)}{query}", **auth(owner))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture()
def project(client, alice) -> dict:
    return create_project(client, alice, name="Linked")


@pytest.fixture()
def empty_activity(app):
    yield
    with app.app_context():
        mongo.db[store.COLLECTION].delete_many({})


# --- Create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "collaborator"])
def test_a_new_link_shows_its_token_once_and_keeps_only_its_hash(app, client, alice, role):
    project = create_project(client, alice)
    before = utcnow()
    response = client.post(
        links_url(project["id"]),
        json={"role": role, "expires_in": 3600, "max_uses": 5},
        **auth(alice),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == LINK_FIELDS | {"token", "url"}
    token = body["token"]
    assert len(token) >= 43 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert body["url"] == f"http://localhost/join#{token}"  # in the fragment: never sent on
    assert (body["role"], body["status"], body["uses"], body["max_uses"]) == (role, "active", 0, 5)
    assert (body["project_id"], body["created_by"], body["revoked_at"]) == (
        project["id"],
        alice.id,
        None,
    )
    created = parse_time(body["created_at"])
    assert before <= created <= utcnow()
    assert parse_time(body["expires_at"]) - created == timedelta(seconds=3600)
    link = stored(app, body["id"])
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps([str(getattr(link, c.key)) for c in ShareLink.__table__.columns])


def test_a_link_without_limits_never_expires_and_has_no_use_cap(client, alice, project):
    body = create_link(client, alice, project["id"], "collaborator")
    assert (body["expires_at"], body["max_uses"], body["status"]) == (None, None, "active")
    explicit = create_link(client, alice, project["id"], expires_in=None, max_uses=None)
    assert (explicit["expires_at"], explicit["max_uses"]) == (None, None)


def test_every_link_gets_its_own_token(client, alice, project):
    tokens = {create_link(client, alice, project["id"])["token"] for _ in range(5)}
    assert len(tokens) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "owner"}, "role"),
        ({"role": "admin"}, "role"),
        ({"role": "Viewer"}, "role"),
        ({"role": None}, "role"),
        ({"role": 1}, "role"),
        ({}, "role"),
        ({"role": "viewer", "expires_in": 0}, "expires_in"),
        ({"role": "viewer", "expires_in": -60}, "expires_in"),
        ({"role": "viewer", "expires_in": 365 * 86400 + 1}, "expires_in"),
        ({"role": "viewer", "expires_in": 10**30}, "expires_in"),
        ({"role": "viewer", "expires_in": "3600"}, "expires_in"),
        ({"role": "viewer", "expires_in": 1.5}, "expires_in"),
        ({"role": "viewer", "expires_in": True}, "expires_in"),
        ({"role": "viewer", "max_uses": 0}, "max_uses"),
        ({"role": "viewer", "max_uses": -1}, "max_uses"),
        ({"role": "viewer", "max_uses": 10_001}, "max_uses"),
        ({"role": "viewer", "max_uses": "3"}, "max_uses"),
        ({"role": "viewer", "max_uses": True}, "max_uses"),
        ({"role": "viewer", "token": "mine"}, "token"),
        ({"role": "viewer", "uses": 0}, "uses"),
    ],
)
def test_a_bad_link_request_is_422_and_makes_nothing(app, client, alice, project, body, field):
    response = client.post(links_url(project["id"]), json=body, **auth(alice))
    assert_validation_error(response, field)
    assert listed(client, alice, project["id"]) == []


def test_bodies_that_are_not_a_link_request_are_refused(client, alice, project):
    url = links_url(project["id"])
    assert_error(client.post(url, **auth(alice)), 422)  # no body
    assert_error(client.post(url, data="role=viewer", **auth(alice)), 415)
    malformed = client.post(url, data="{", content_type="application/json", **auth(alice))
    assert_error(malformed, 400)
    assert_error(client.post(url, json=["viewer"], **auth(alice)), 422)
    assert listed(client, alice, project["id"]) == []


def test_the_longest_expiry_is_a_year(client, alice, project):
    body = create_link(client, alice, project["id"], expires_in=365 * 86400, max_uses=10_000)
    lifetime = parse_time(body["expires_at"]) - parse_time(body["created_at"])
    assert lifetime == timedelta(days=365)


# --- Who may manage links -------------------------------------------------------------------


def manage_calls(team, link_id: str) -> dict:
    return {
        "create": ("POST", links_url(team.pid), {"role": "collaborator"}),
        "list": ("GET", links_url(team.pid), None),
        "revoke": ("DELETE", link_url(team.pid, link_id), None),
    }


def owners_view(client, team) -> list[dict]:
    return listed(client, team.owner, team.pid)


@pytest.mark.parametrize("visibility", ["private", "public"])
@pytest.mark.parametrize("action", ["create", "list", "revoke"])
@pytest.mark.parametrize("role", ["collaborator", "viewer", "outsider", "anonymous"])
def test_only_the_owner_manages_links(client, make_user, visibility, action, role):
    team = make_team(client, make_user, is_public=visibility == "public")
    link = create_link(client, team.owner, team.pid)
    before = owners_view(client, team)
    method, url, body = manage_calls(team, link["id"])[action]

    response = client.open(url, method=method, json=body, headers=team.headers(role))

    expected = MATRIX["manage"][role][visibility == "public"]
    assert expected != OK
    error = assert_error(response, expected)
    if expected == 404:
        assert error["message"] == "Project not found"
    assert link["token"] not in response.get_data(as_text=True)
    assert owners_view(client, team) == before


@pytest.mark.parametrize("action", ["create", "list", "revoke"])
def test_a_private_project_s_links_look_missing_to_outsiders(client, make_user, action):
    team = make_team(client, make_user, is_public=False)
    link = create_link(client, team.owner, team.pid)
    method, url, body = manage_calls(team, link["id"])[action]
    hidden = client.open(url, method=method, json=body, headers=team.outsider.headers)
    unknown = url.replace(team.pid, random_id())
    missing = client.open(unknown, method=method, json=body, headers=team.outsider.headers)
    assert_error(hidden, 404)
    assert hidden.get_json() == missing.get_json()


def test_the_owner_manages_links_of_a_public_project_too(client, make_user):
    team = make_team(client, make_user, is_public=True)
    link = create_link(client, team.owner, team.pid)
    assert [row["id"] for row in owners_view(client, team)] == [link["id"]]
    revoked = client.delete(link_url(team.pid, link["id"]), **auth(team.owner))
    assert revoked.get_json()["status"] == "revoked"


# --- List and revoke -------------------------------------------------------------------------


def test_the_list_never_shows_a_token_newest_first_and_paginated(app, client, alice, project):
    made = [create_link(client, alice, project["id"], max_uses=n + 1) for n in range(3)]
    response = client.get(links_url(project["id"]), **auth(alice))
    assert response.headers["X-Total-Count"] == "3"
    rows = response.get_json()
    assert [row["id"] for row in rows] == [link["id"] for link in reversed(made)]
    assert all(set(row) == LINK_FIELDS for row in rows)
    text = response.get_data(as_text=True)
    for link in made:
        assert link["token"] not in text
        assert stored(app, link["id"]).token_hash not in text
    page = client.get(f"{links_url(project['id'])}?skip=1&limit=1", **auth(alice))
    assert [row["id"] for row in page.get_json()] == [made[1]["id"]]
    assert page.headers["X-Total-Count"] == "3"
    assert_validation_error(client.get(f"{links_url(project['id'])}?limit=0", **auth(alice)))


def test_each_link_shows_its_status(app, client, alice, make_user, project):
    pid = project["id"]
    active = create_link(client, alice, pid, max_uses=2)
    expired = create_link(client, alice, pid, expires_in=60)
    used_up = create_link(client, alice, pid, max_uses=1)
    revoked = create_link(client, alice, pid, expires_in=60, max_uses=1)
    move_expiry(app, expired["id"], timedelta(seconds=-1))
    assert join(client, make_user(), used_up["token"]).status_code == 201
    client.delete(link_url(pid, revoked["id"]), **auth(alice))
    move_expiry(app, revoked["id"], timedelta(seconds=-1))  # revoked wins over expired
    statuses = {row["id"]: row["status"] for row in listed(client, alice, pid)}
    assert statuses == {
        active["id"]: "active",
        expired["id"]: "expired",
        used_up["id"]: "used_up",
        revoked["id"]: "revoked",
    }


def test_a_revoked_link_stays_listed_answers_410_and_its_members_stay(
    app, client, alice, make_user, project
):
    pid = project["id"]
    link = create_link(client, alice, pid, "collaborator")
    early = make_user()
    assert join(client, early, link["token"]).status_code == 201

    response = client.delete(link_url(pid, link["id"]), **auth(alice))

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == LINK_FIELDS
    assert (body["status"], body["uses"]) == ("revoked", 1)
    revoked_at = parse_time(body["revoked_at"])
    assert_error(join(client, make_user(), link["token"]), 410, GONE)
    assert memberships(app, pid) == {alice.id: "owner", early.id: "collaborator"}
    assert [row["status"] for row in listed(client, alice, pid)] == ["revoked"]
    again = client.delete(link_url(pid, link["id"]), **auth(alice))  # idempotent
    assert again.status_code == 200
    assert parse_time(again.get_json()["revoked_at"]) == revoked_at


def test_revoking_a_missing_link_or_another_project_s_is_404(client, alice, project):
    other = create_project(client, alice, name="Other")
    theirs = create_link(client, alice, other["id"])
    for url in (link_url(project["id"], random_id()), link_url(project["id"], theirs["id"])):
        assert_error(client.delete(url, **auth(alice)), 404, "Link not found")
    assert_error(client.delete(f"{links_url(project['id'])}/not-a-uuid", **auth(alice)), 404)
    assert listed(client, alice, other["id"])[0]["status"] == "active"


# --- Join -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "collaborator"])
def test_joining_makes_a_member_with_the_link_s_role(app, client, alice, bob, project, role):
    link = create_link(client, alice, project["id"], role, max_uses=3)
    assert client.get(PROJECTS, **auth(bob)).get_json() == []  # cached, empty

    response = join(client, bob, link["token"])

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= MEMBER_FIELDS | {"project_id"}
    assert (body["user_id"], body["role"], body["project_id"]) == (bob.id, role, project["id"])
    assert memberships(app, project["id"]) == {alice.id: "owner", bob.id: role}
    # At once, through the cache: the project is in bob's list and shows him his role.
    mine = client.get(PROJECTS, **auth(bob))
    assert [p["id"] for p in mine.get_json()] == [project["id"]]
    assert mine.headers["X-Total-Count"] == "1"
    detail = client.get(f"{PROJECTS}/{project['id']}", **auth(bob)).get_json()
    assert detail["role"] == role
    assert stored(app, link["id"]).uses == 1


def test_a_wrong_token_is_404(app, client, alice, bob, project):
    link = create_link(client, alice, project["id"])
    near = link["token"][:-1] + ("A" if link["token"][-1] != "A" else "B")
    for token in (near, "x", "a" * 300, "%ED%A0%80", "..", stored(app, link["id"]).token_hash):
        assert_error(join(client, bob, token), 404, NOT_VALID)
    assert memberships(app, project["id"]) == {alice.id: "owner"}
    assert stored(app, link["id"]).uses == 0


def test_joining_needs_a_signed_in_user(client, alice, project):
    link = create_link(client, alice, project["id"])
    response = client.post(join_url(link["token"]))
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert listed(client, alice, project["id"])[0]["uses"] == 0


def test_an_expired_link_is_410(app, client, alice, make_user, project):
    link = create_link(client, alice, project["id"], expires_in=60)
    move_expiry(app, link["id"], timedelta(seconds=30))
    assert join(client, make_user(), link["token"]).status_code == 201  # not yet
    move_expiry(app, link["id"], timedelta(microseconds=-1))
    late = make_user()
    assert_error(join(client, late, link["token"]), 410, GONE)
    assert late.id not in memberships(app, project["id"])
    assert stored(app, link["id"]).uses == 1


def test_a_used_up_link_is_410_and_a_replay_by_another_user_too(
    app, client, alice, make_user, project
):
    link = create_link(client, alice, project["id"], max_uses=2)
    first, second, third = make_user(), make_user(), make_user()
    assert join(client, first, link["token"]).status_code == 201
    assert join(client, second, link["token"]).status_code == 201
    assert_error(join(client, third, link["token"]), 410, GONE)
    single = create_link(client, alice, project["id"], "collaborator", max_uses=1)
    assert join(client, first, single["token"]).status_code == 200  # raised: the one use
    assert_error(join(client, third, single["token"]), 410, GONE)  # the replay
    assert memberships(app, project["id"]) == {
        alice.id: "owner",
        first.id: "collaborator",
        second.id: "viewer",
    }
    assert (stored(app, link["id"]).uses, stored(app, single["id"]).uses) == (2, 1)


@pytest.mark.parametrize("max_uses", [1, 5, None])
def test_joining_twice_spends_one_use(app, client, alice, bob, project, max_uses):
    link = create_link(client, alice, project["id"], "collaborator", max_uses=max_uses)
    assert join(client, bob, link["token"]).status_code == 201
    again = join(client, bob, link["token"])
    assert again.status_code == 200
    assert again.get_json()["role"] == "collaborator"
    assert stored(app, link["id"]).uses == 1
    assert memberships(app, project["id"]) == {alice.id: "owner", bob.id: "collaborator"}


def test_a_viewer_is_raised_by_a_collaborator_link_and_that_spends_a_use(
    app, client, alice, bob, project
):
    add_member(client, alice, project["id"], bob, "viewer")
    link = create_link(client, alice, project["id"], "collaborator", max_uses=2)
    response = join(client, bob, link["token"])
    assert response.status_code == 200
    assert response.get_json()["role"] == "collaborator"
    assert memberships(app, project["id"])[bob.id] == "collaborator"
    assert stored(app, link["id"]).uses == 1
    detail = client.get(f"{PROJECTS}/{project['id']}", **auth(bob)).get_json()
    assert detail["role"] == "collaborator"  # not a cached viewer's detail


@pytest.mark.parametrize(("role", "link_role"), [("collaborator", "viewer"), ("viewer", "viewer")])
def test_a_member_s_role_is_never_lowered_and_no_use_is_spent(
    app, client, alice, bob, project, role, link_role
):
    add_member(client, alice, project["id"], bob, role)
    link = create_link(client, alice, project["id"], link_role, max_uses=1)
    response = join(client, bob, link["token"])
    assert response.status_code == 200
    assert response.get_json()["role"] == role
    assert memberships(app, project["id"])[bob.id] == role
    assert stored(app, link["id"]).uses == 0


@pytest.mark.parametrize("link_role", ["viewer", "collaborator"])
def test_the_owner_joining_their_own_link_stays_owner(app, client, alice, project, link_role):
    link = create_link(client, alice, project["id"], link_role, max_uses=1)
    response = join(client, alice, link["token"])
    assert response.status_code == 200
    assert (response.get_json()["user_id"], response.get_json()["role"]) == (alice.id, "owner")
    assert memberships(app, project["id"]) == {alice.id: "owner"}
    assert stored(app, link["id"]).uses == 0


def test_a_revoked_or_expired_link_is_410_even_for_members(app, client, alice, bob, project):
    add_member(client, alice, project["id"], bob, "viewer")
    revoked = create_link(client, alice, project["id"])
    client.delete(link_url(project["id"], revoked["id"]), **auth(alice))
    expired = create_link(client, alice, project["id"], expires_in=60)
    move_expiry(app, expired["id"], timedelta(seconds=-1))
    for link in (revoked, expired):
        assert_error(join(client, bob, link["token"]), 410, GONE)
        assert_error(join(client, alice, link["token"]), 410, GONE)


def test_an_outsider_of_a_public_project_joins_as_a_member(app, client, make_user):
    team = make_team(client, make_user, is_public=True)
    link = create_link(client, team.owner, team.pid, "collaborator")
    response = join(client, team.outsider, link["token"])
    assert response.status_code == 201
    seen = client.get(f"{PROJECTS}/{team.pid}", **auth(team.outsider)).get_json()
    assert seen["role"] == "collaborator"


def test_a_deleted_project_s_links_are_gone(client, alice, bob, project):
    link = create_link(client, alice, project["id"])
    assert client.delete(f"{PROJECTS}/{project['id']}", **auth(alice)).status_code == 200
    assert_error(join(client, bob, link["token"]), 404, NOT_VALID)


def test_the_join_never_writes_the_token_to_the_request_log(client, alice, bob, project, caplog):
    link = create_link(client, alice, project["id"])
    with caplog.at_level(logging.INFO, logger="collab.requests"):
        assert join(client, bob, link["token"]).status_code == 201
        join(client, bob, "wrong-token-of-some-length")
    lines = [r for r in caplog.records if r.name == "collab.requests"]
    assert [r.path for r in lines] == ["/api/v1/links/redacted/join"] * 2
    assert all(link["token"] not in r.getMessage() for r in lines)


# --- Rate limit ------------------------------------------------------------------------------


def test_joins_are_rate_limited_per_ip(app, make_app, alice, make_user, project):
    client = make_app(RATELIMIT_LINK_JOIN="3/minute").test_client()
    link = create_link(client, alice, project["id"])
    guesser = make_user()
    for _ in range(3):
        assert_error(join(client, guesser, uuid.uuid4().hex, address="10.1.0.1"), 404)
    refused = join(client, guesser, link["token"], address="10.1.0.1")  # even the right one
    body = assert_error(refused, 429)
    assert "3 per 1 minute" in body["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    other = make_user()  # another user at the same address: the limit is the address's
    assert_error(join(client, other, link["token"], address="10.1.0.1"), 429)
    assert join(client, guesser, link["token"], address="10.1.0.2").status_code == 201
    assert memberships(app, project["id"]) == {alice.id: "owner", guesser.id: "viewer"}


# --- Activity --------------------------------------------------------------------------------


def feed(app, client, owner, project_id: str) -> list[dict]:
    with app.app_context():
        recorder.flush()
    response = client.get(f"{PROJECTS}/{project_id}/activity?limit=100", **auth(owner))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_links_and_joins_are_in_the_activity_feed(
    app, client, alice, bob, make_user, project, empty_activity
):
    pid = project["id"]
    carol = make_user()
    add_member(client, alice, pid, carol, "viewer")
    link = create_link(client, alice, pid, "collaborator", expires_in=600, max_uses=3)
    join(client, bob, link["token"])
    join(client, bob, link["token"])  # no change: no event
    join(client, carol, link["token"])
    client.delete(link_url(pid, link["id"]), **auth(alice))
    client.delete(link_url(pid, link["id"]), **auth(alice))  # already revoked: no event

    events = feed(app, client, alice, pid)[:-2]  # before: project.created, member.added
    assert [(e["action"], e["actor_id"], e["target_type"], e["target_id"]) for e in events] == [
        ("link.revoked", alice.id, "link", link["id"]),
        ("member.role_changed", carol.id, "user", carol.id),
        ("member.joined", bob.id, "user", bob.id),
        ("link.created", alice.id, "link", link["id"]),
    ]
    via = {"via": "link", "link_id": link["id"], "role": "collaborator"}
    assert events[2]["details"] == via
    assert events[1]["details"] == {**via, "previous_role": "viewer"}
    assert events[3]["details"] == {"role": "collaborator", "expires_in": 600, "max_uses": 3}
    assert link["token"] not in json.dumps(events)


# --- Concurrency: real requests on two web instances -------------------------------------------


def join_at_once(instances, requests_for: list[tuple[object, str]]) -> list[tuple[int, dict]]:
    """Each (account, token) joined from its own thread, all released together, alternately on
    the two web instances."""
    start = threading.Barrier(len(requests_for))

    def send(index: int) -> tuple[int, dict]:
        account, token = requests_for[index]
        base = instances[index % len(instances)].url
        start.wait(timeout=30)
        response = requests.post(f"{base}{join_url(token)}", headers=account.headers, timeout=60)
        return response.status_code, response.json()

    with ThreadPoolExecutor(len(requests_for)) as pool:
        return list(pool.map(send, range(len(requests_for))))


def test_concurrent_joins_never_spend_more_uses_than_allowed(
    app, instances, client, alice, make_user, project
):
    link = create_link(client, alice, project["id"], max_uses=3)
    users = [make_user() for _ in range(8)]
    results = join_at_once(instances, [(user, link["token"]) for user in users])
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [410] * 5, results
    assert stored(app, link["id"]).uses == 3
    joined = {body["user_id"] for status, body in results if status == 201}
    assert memberships(app, project["id"]) == {alice.id: "owner", **dict.fromkeys(joined, "viewer")}


@pytest.mark.parametrize("max_uses", [1, 5])
def test_a_concurrent_double_join_by_one_user_spends_one_use(
    app, instances, client, alice, make_user, project, max_uses
):
    for _ in range(3):  # three races, each a fresh user sending the same join six times
        user = make_user()
        link = create_link(client, alice, project["id"], "collaborator", max_uses=max_uses)
        results = join_at_once(instances, [(user, link["token"])] * 6)
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * 5 + [201], results
        assert {body["role"] for _, body in results} == {"collaborator"}
        assert stored(app, link["id"]).uses == 1
        assert memberships(app, project["id"])[user.id] == "collaborator"


def test_concurrent_joins_through_two_links_give_the_higher_role(
    app, instances, client, alice, bob, project
):
    viewer = create_link(client, alice, project["id"], "viewer", max_uses=5)
    collaborator = create_link(client, alice, project["id"], "collaborator", max_uses=5)
    tokens = [viewer["token"], collaborator["token"]] * 3
    results = join_at_once(instances, [(bob, token) for token in tokens])
    assert all(status in (200, 201) for status, _ in results), results
    assert [status for status, _ in results].count(201) == 1
    assert memberships(app, project["id"])[bob.id] == "collaborator"
    assert stored(app, collaborator["id"]).uses == 1
    assert stored(app, viewer["id"]).uses <= 1
