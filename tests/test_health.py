"""Liveness and readiness against the real servers, and against really unavailable ones."""

from __future__ import annotations

import pytest

from collab.devstack import free_port, redis_server

CHECKS = {"database", "redis", "mongodb"}


def assert_ready(response) -> None:
    assert response.status_code == 200, response.json
    assert response.json == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "mongodb": "ok"},
    }


def assert_unavailable(response, failed: str) -> dict:
    assert response.status_code == 503, response.json
    assert response.mimetype == "application/json"
    body = response.json
    assert body["status"] == "unavailable"
    assert set(body["checks"]) == CHECKS
    assert body["checks"][failed].startswith("error: ")
    for name in CHECKS - {failed}:
        assert body["checks"][name] == "ok", body
    return body


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready_with_every_dependency_up(client):
    assert_ready(client.get("/ready"))


def test_probes_are_not_rate_limited(app, make_app):
    client = make_app(RATELIMIT_DEFAULT="1/minute").test_client()
    for _ in range(5):
        assert client.get("/health").status_code == 200
        response = client.get("/ready")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers


def test_ready_is_503_when_redis_is_really_down(app, make_app, client, alice):
    port = free_port()
    with redis_server(port):
        cut_off = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0").test_client()
        assert_ready(cut_off.get("/ready"))
    body = assert_unavailable(cut_off.get("/ready"), "redis")
    assert str(port) not in str(body)  # the reason is named, the address is not
    # The API itself keeps serving requests that do not need Redis (rate limiting falls back
    # to memory instead of failing every request).
    response = cut_off.get("/api/v1/projects", headers=alice.headers)
    assert response.status_code == 200, response.json
    # Other apps in the process keep their own, healthy Redis.
    assert_ready(client.get("/ready"))


def test_ready_is_503_when_mongodb_is_unreachable(app, make_app, client):
    unreachable = f"mongodb://127.0.0.1:{free_port()}"
    response = make_app(MONGODB_URL=unreachable).test_client().get("/ready")
    body = assert_unavailable(response, "mongodb")
    assert unreachable not in str(body)
    assert_ready(client.get("/ready"))


def test_ready_is_503_when_the_database_cannot_be_opened(app, make_app, tmp_path, client):
    missing = tmp_path / "no-such-directory" / "collab.db"
    response = make_app(DATABASE_URL=f"sqlite:///{missing}").test_client().get("/ready")
    assert_unavailable(response, "database")
    assert_ready(client.get("/ready"))


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_probes_only_answer_get(client, path):
    response = client.post(path, json={})
    assert response.status_code == 405
    assert response.json["code"] == 405
