"""Rate limiting on Redis: a burst over the limit really gets 429, keyed as the contract says."""

from __future__ import annotations

import json

import pytest

from tests.helpers_errors import assert_error, bearer

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
PROJECTS = "/api/v1/projects"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def ip(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def login(client, email: str, address: str = "10.0.0.1", password: str = "wrong password", **kw):
    return client.post(LOGIN, json={"email": email, "password": password}, **ip(address), **kw)


def register(client, n: int, address: str = "10.0.0.1"):
    payload = {"email": f"user{n}@example.com", "username": f"user{n}", "password": "longenough"}
    return client.post(REGISTER, json=payload, **ip(address))


def assert_throttled(response, limit: int, window_seconds: int) -> dict:
    body = assert_error(response, 429)
    assert body["message"].startswith("Too many requests")
    assert f"{limit} per 1 " in body["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= window_seconds
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    return body


def user_count(app) -> int:
    from sqlalchemy import func, select

    from collab.extensions import db
    from collab.models import User

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


# --- register: 10/hour per IP ---------------------------------------------------------------


def test_register_burst_over_ten_per_hour_gets_429(client, app):
    for n in range(10):
        response = register(client, n)
        assert response.status_code == 201, response.json
        assert response.headers["X-RateLimit-Limit"] == "10"
        assert response.headers["X-RateLimit-Remaining"] == str(9 - n)
    assert_throttled(register(client, 10), limit=10, window_seconds=3600)
    assert user_count(app) == 10  # the refused request created nothing
    # The budget is per IP: another client can still register.
    assert register(client, 11, address="10.0.0.2").status_code == 201


# --- login: 10/minute per IP, 5/minute per email --------------------------------------------


def test_login_burst_from_one_ip_hits_the_ip_limit(client):
    # Ten different emails (so the per-email limit never triggers) from one IP.
    for n in range(10):
        response = login(client, f"nobody{n}@example.com")
        assert response.status_code == 401, response.json
    assert_throttled(login(client, "nobody10@example.com"), limit=10, window_seconds=60)
    # Another IP is not affected.
    assert login(client, "nobody11@example.com", address="10.0.0.2").status_code == 401


def test_login_burst_for_one_email_from_many_ips_hits_the_email_limit(client, alice):
    for n in range(5):
        assert login(client, alice.email, address=f"10.1.0.{n}").status_code == 401
    # Even the right password from a fresh IP is refused while the email is throttled.
    response = login(client, alice.email, address="10.1.0.99", password=alice.password)
    assert_throttled(response, limit=5, window_seconds=60)
    # The email is normalised before counting: case and spaces do not reset the budget.
    response = login(client, f"  {alice.email.upper()} ", address="10.1.0.98")
    assert_throttled(response, limit=5, window_seconds=60)
    # Another account from the same IP can still log in.
    response = login(client, "someone@example.com", address="10.1.0.99")
    assert response.status_code == 401


def test_login_limits_are_shared_through_redis_by_every_instance(client, app, make_app, alice):
    """Two app instances (two workers) count in the same Redis, not in their own memory."""
    other = make_app().test_client()
    for n in range(3):
        assert login(client, alice.email, address=f"10.2.0.{n}").status_code == 401
    for n in range(2):
        assert login(other, alice.email, address=f"10.3.0.{n}").status_code == 401
    assert_throttled(login(other, alice.email, address="10.3.0.9"), limit=5, window_seconds=60)
    assert login(client, alice.email, address="10.2.0.9").status_code == 429


def test_counters_live_in_redis(client, raw_redis):
    assert not raw_redis.keys("*collab-rl*")
    login(client, "someone@example.com")
    keys = raw_redis.keys("*collab-rl*")
    assert any("10.0.0.1" in key for key in keys), keys
    assert any("someone@example.com" in key for key in keys), keys


def test_an_oversized_login_body_does_not_knock_limiting_off_redis(client, raw_redis):
    """The email key function reads the body: a body over the cap must not make the limiter
    believe its storage is down (it would silently fall back to per-process memory)."""
    payload = json.dumps({"email": "a@example.com", "password": "x" * (2 * 1024 * 1024)})
    response = client.post(LOGIN, data=payload, content_type="application/json", **ip("10.9.0.1"))
    assert_error(response, 413)
    raw_redis.flushdb()
    for n in range(10):
        assert login(client, f"nobody{n}@example.com", address="10.9.0.1").status_code == 401
    assert raw_redis.keys("*collab-rl*"), "the limiter no longer counts in Redis"
    assert_throttled(login(client, "x@example.com", address="10.9.0.1"), 10, 60)


# --- authenticated requests are counted per user --------------------------------------------


@pytest.fixture()
def strict_app(app, make_app):
    return make_app(RATELIMIT_DEFAULT="5/minute")


def test_default_limit_is_configurable_and_keyed_per_user(strict_app, alice, bob):
    client = strict_app.test_client()
    for n in range(5):
        response = client.get(PROJECTS, headers=alice.headers)
        assert response.status_code == 200, response.json
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert response.headers["X-RateLimit-Remaining"] == str(4 - n)
    assert_throttled(client.get(PROJECTS, headers=alice.headers), limit=5, window_seconds=60)
    # Bob, from the same IP, has his own budget.
    for _ in range(5):
        assert client.get(PROJECTS, headers=bob.headers).status_code == 200
    assert client.get(PROJECTS, headers=bob.headers).status_code == 429
    # And anonymous requests from that IP have yet another one (keyed by IP).
    assert client.get(PROJECTS).status_code == 401


def test_user_budget_follows_the_user_across_ips(strict_app, alice):
    client = strict_app.test_client()
    for n in range(5):
        response = client.get(PROJECTS, headers=alice.headers, **ip(f"10.4.0.{n}"))
        assert response.status_code == 200
    response = client.get(PROJECTS, headers=alice.headers, **ip("10.4.0.200"))
    assert_throttled(response, limit=5, window_seconds=60)


def test_an_invalid_token_is_counted_against_the_ip(strict_app, alice):
    client = strict_app.test_client()
    for _ in range(5):
        assert client.get(PROJECTS, headers=bearer("forged.token.here")).status_code == 401
    assert_throttled(client.get(PROJECTS), limit=5, window_seconds=60)
    assert client.get(PROJECTS, headers=alice.headers).status_code == 200


def test_the_session_app_keeps_its_own_default_limit(strict_app, client, alice):
    """Building an app with another limit must not change the limit of an existing app."""
    for _ in range(6):
        assert client.get(PROJECTS, headers=alice.headers).status_code == 200
    assert client.get(PROJECTS, headers=alice.headers).headers["X-RateLimit-Limit"] == "300"


# --- client IP: X-Forwarded-For only behind a configured proxy -----------------------------


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(client):
    for n in range(10):
        response = login(
            client, f"nobody{n}@example.com", headers={"X-Forwarded-For": f"192.0.2.{n}"}
        )
        assert response.status_code == 401
    response = login(client, "nobody10@example.com", headers={"X-Forwarded-For": "192.0.2.99"})
    assert_throttled(response, limit=10, window_seconds=60)


def test_x_forwarded_for_is_trusted_behind_one_proxy(app, make_app):
    client = make_app(PROXY_COUNT="1").test_client()
    proxy = "10.5.0.1"
    for n in range(10):
        # A client may prepend anything; only the address the proxy appended counts.
        forwarded = {"X-Forwarded-For": f"203.0.113.{n}, 198.51.100.7"}
        response = login(client, f"nobody{n}@example.com", address=proxy, headers=forwarded)
        assert response.status_code == 401
    response = login(
        client, "nobody10@example.com", address=proxy, headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert_throttled(response, limit=10, window_seconds=60)
    # Another client behind the same proxy has its own budget.
    response = login(
        client, "nobody11@example.com", address=proxy, headers={"X-Forwarded-For": "198.51.100.8"}
    )
    assert response.status_code == 401


# --- switched off ---------------------------------------------------------------------------


def test_ratelimit_enabled_false_disables_limiting(app, make_app, client, alice):
    unlimited = make_app(RATELIMIT_ENABLED="false").test_client()
    for _ in range(15):
        response = login(unlimited, alice.email)
        assert response.status_code == 401
        assert not any(header in response.headers for header in RATE_HEADERS)
    for n in range(12):
        assert register(unlimited, n).status_code == 201
    # The other app in the process is still limited (the switch is per app).
    for _ in range(5):
        assert login(client, "someone@example.com").status_code == 401
    assert_throttled(login(client, "someone@example.com"), limit=5, window_seconds=60)
