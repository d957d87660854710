"""The Redis cache of open sessions: a revocation is never outlived by a cached entry, and
authentication keeps working from the database when Redis is gone."""

from __future__ import annotations

import uuid
from datetime import timedelta

from collab.auth import session_cache
from collab.devstack import free_port, redis_server
from collab.models import utcnow


def session_id_of(client, account) -> uuid.UUID:
    sessions = client.get("/api/v1/auth/sessions", headers=account.headers).json
    return uuid.UUID(next(s["id"] for s in sessions if s["current"]))


def test_a_request_fills_the_cache_with_the_sessions_owner(app, client, alice, raw_redis):
    sid = session_id_of(client, alice)
    assert raw_redis.get(session_cache.key(sid)) == alice.id
    assert 0 < raw_redis.ttl(session_cache.key(sid)) <= app.config["SESSION_CACHE_SECONDS"]


def test_logout_replaces_the_cached_entry_with_a_tombstone(client, alice, raw_redis):
    sid = session_id_of(client, alice)
    assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 200
    assert raw_redis.get(session_cache.key(sid)) == session_cache.REVOKED
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 401


def test_a_late_fill_cannot_overwrite_a_tombstone(app, client, alice, raw_redis):
    """A reader that saw the session open just before the revocation committed writes back
    afterwards: the tombstone must win."""
    sid = session_id_of(client, alice)
    client.post("/api/v1/auth/logout", headers=alice.headers)
    with app.app_context():
        session_cache.remember_open(sid, uuid.UUID(alice.id), utcnow() + timedelta(days=1))
    assert raw_redis.get(session_cache.key(sid)) == session_cache.REVOKED
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 401


def test_an_entry_naming_another_user_is_refused(client, alice, bob, raw_redis):
    sid = session_id_of(client, alice)
    raw_redis.set(session_cache.key(sid), bob.id)
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 401


def test_password_change_tombstones_every_other_session(client, make_user, raw_redis):
    first = make_user("carol")
    second = make_user("carol2", email="c2@example.com")  # another user: untouched
    other_sid = session_id_of(client, first)
    login = client.post(
        "/api/v1/auth/login", json={"email": first.email, "password": first.password}
    ).json
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    changed = client.post(
        "/api/v1/auth/change-password",
        json={"current_password": first.password, "new_password": "a brand new secret"},
        headers=headers,
    )
    assert changed.status_code == 200
    assert raw_redis.get(session_cache.key(other_sid)) == session_cache.REVOKED
    assert client.get("/api/v1/auth/me", headers=first.headers).status_code == 401
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=second.headers).status_code == 200


def test_without_redis_authentication_and_revocation_use_the_database(app, make_app, make_user):
    port = free_port()
    with redis_server(port):
        cut_off = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0", RATELIMIT_ENABLED="false")
        client = cut_off.test_client()
        user = make_user("dora")
    # The Redis this app uses is now really stopped.
    assert client.get("/api/v1/auth/me", headers=user.headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=user.headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=user.headers).status_code == 401
