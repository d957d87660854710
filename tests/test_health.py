"""Liveness and readiness against the real servers, and against really unavailable ones."""

from __future__ import annotations

import pytest

from collab.devstack import LOOPBACK, free_port, redis_server, redis_server_binary, running
from collab.health.redis_settings import EVICTS, NOT_PERSISTENT

CHECKS = {"database", "redis", "mongodb"}


def assert_ready(response) -> list[dict]:
    """200 with every check ok; the warnings (the suite's own Redis may not persist)."""
    assert response.status_code == 200, response.json
    assert set(response.json) == {"status", "checks", "warnings"}
    assert response.json["status"] == "ok"
    assert response.json["checks"] == {"database": "ok", "redis": "ok", "mongodb": "ok"}
    assert isinstance(response.json["warnings"], list)
    return response.json["warnings"]


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
    assert body["warnings"] == []  # the error says it all; inspecting settings did not raise
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


# --- warnings: Redis settings that would lose queued jobs and pending activity events -------

NO_CONFIG = ["--rename-command", "CONFIG", ""]  # as managed Redis services often do


@pytest.fixture()
def ready_with_redis(make_app, tmp_path):
    """GET /ready of an app whose Redis is a redis-server started with these options."""

    def ready(*options: str):
        port = free_port()
        args = [redis_server_binary(), "--bind", LOOPBACK, "--port", str(port), "--dir"]
        with running([*args, str(tmp_path), *options], port):
            return make_app(REDIS_URL=f"redis://{LOOPBACK}:{port}/0").test_client().get("/ready")

    return ready


def redis_warnings(response) -> list[str]:
    """The Redis warnings of a ready (200) answer: warnings never change the status."""
    warnings = assert_ready(response)
    assert all(set(warning) == {"check", "message"} for warning in warnings), warnings
    assert {warning["check"] for warning in warnings} <= {"redis"}
    return [warning["message"] for warning in warnings]


@pytest.mark.parametrize("config", [[], NO_CONFIG], ids=["config", "no-config"])
def test_a_redis_that_does_not_persist_is_warned_about(ready_with_redis, config):
    messages = redis_warnings(ready_with_redis("--save", "", "--appendonly", "no", *config))
    assert messages == [NOT_PERSISTENT]
    assert "appendonly yes" in NOT_PERSISTENT and "appendfsync everysec" in NOT_PERSISTENT


def test_an_append_only_redis_gets_no_warning(ready_with_redis):
    assert redis_warnings(ready_with_redis("--appendonly", "yes")) == []


def test_snapshots_alone_count_as_persistence(ready_with_redis):
    messages = redis_warnings(ready_with_redis("--appendonly", "no", "--save", "60 1"))
    assert messages == []


@pytest.mark.parametrize("config", [[], NO_CONFIG], ids=["config", "no-config"])
def test_a_redis_that_may_evict_is_warned_about(ready_with_redis, config):
    options = ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru", "--appendonly", "yes"]
    messages = redis_warnings(ready_with_redis(*options, *config))
    assert messages == [EVICTS.format(policy="allkeys-lru")]
    assert "maxmemory-policy noeviction" in messages[0]


def test_a_memory_limit_without_eviction_gets_no_warning(ready_with_redis):
    options = ["--maxmemory", "100mb", "--maxmemory-policy", "noeviction", "--appendonly", "yes"]
    assert redis_warnings(ready_with_redis(*options)) == []


def test_a_redis_that_hides_its_settings_gets_no_warning_and_stays_ready(ready_with_redis):
    hidden = ["--rename-command", "INFO", "", *NO_CONFIG]
    assert redis_warnings(ready_with_redis("--save", "", "--appendonly", "no", *hidden)) == []
