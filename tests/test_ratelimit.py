"""Rate limiting on Redis: a burst over the limit really gets 429, keyed as the contract says."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

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


def assert_throttled(
    response, limit: int, window_seconds: int, lead: str = "Too many requests"
) -> dict:
    body = assert_error(response, 429)
    assert body["message"].startswith(f"{lead}: the limit is")
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


# --- login: failed sign-ins, 10/minute per IP and 5/minute per email from one IP -------------
# (README "Login limits"). Many client IPs are simulated through the app's real proxy handling:
# behind PROXY_COUNT=1 trusted proxy, the address the proxy appends to X-Forwarded-For counts.

FAILED = "Too many failed sign-ins"
PROXY = "10.250.0.1"


def assert_failures_throttled(response, limit: int) -> dict:
    return assert_throttled(response, limit, window_seconds=60, lead=FAILED)


@pytest.fixture()
def proxied_app(app, make_app):
    return make_app(PROXY_COUNT="1")


@pytest.fixture()
def proxied(proxied_app):
    return proxied_app.test_client()


def login_from(client, email: str, client_ip: str, password: str = "wrong password"):
    """A login by `client_ip`, reaching the app through the trusted proxy."""
    return client.post(
        LOGIN,
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": PROXY},
        headers={"X-Forwarded-For": f"192.0.2.66, {client_ip}"},  # the first one is forged
    )


def test_login_burst_from_one_ip_hits_the_ip_limit(client):
    # Ten different emails (so the per-email limit never triggers) from one IP.
    for n in range(10):
        response = login(client, f"nobody{n}@example.com")
        assert response.status_code == 401, response.json
    assert_failures_throttled(login(client, "nobody10@example.com"), limit=10)
    # Another IP is not affected.
    assert login(client, "nobody11@example.com", address="10.0.0.2").status_code == 401


def test_wrong_guesses_from_many_ips_do_not_lock_the_owner_out(proxied, alice):
    """Issue 9, finding 5: guesses for a victim's email from many IPs used to spend one
    per-email budget, and the victim's right password from a fresh IP got 429 too."""
    for n in range(20):
        attacker = f"203.0.113.{n}"
        for _ in range(5):
            assert login_from(proxied, alice.email, attacker).status_code == 401
        # Each guessing address is throttled for that email, even with the right password.
        response = login_from(proxied, alice.email, attacker, password=alice.password)
        assert_failures_throttled(response, limit=5)
    # 100 failures later, the owner from a fresh address gets in.
    response = login_from(proxied, alice.email, "198.51.100.1", password=alice.password)
    assert response.status_code == 200, response.json


def test_the_email_budget_is_per_ip_and_normalised(proxied, alice, bob):
    for _ in range(5):
        assert login_from(proxied, alice.email, "203.0.113.1").status_code == 401
    # Case and spaces do not reset the budget.
    response = login_from(proxied, f"  {alice.email.upper()} ", "203.0.113.1")
    assert_failures_throttled(response, limit=5)
    # The same address may still try another account (its IP budget has 5 left) ...
    assert login_from(proxied, bob.email, "203.0.113.1").status_code == 401
    # ... and the same account from another address is not throttled.
    assert login_from(proxied, alice.email, "203.0.113.2").status_code == 401


def test_an_ip_throttled_for_failures_is_refused_even_the_right_password(proxied, alice):
    """The per-IP budget stays whatever the password: otherwise an address spraying guesses
    over many accounts would learn a right one while throttled."""
    for n in range(10):
        assert login_from(proxied, f"nobody{n}@example.com", "203.0.113.9").status_code == 401
    response = login_from(proxied, alice.email, "203.0.113.9", password=alice.password)
    assert_failures_throttled(response, limit=10)
    response = login_from(proxied, alice.email, "198.51.100.9", password=alice.password)
    assert response.status_code == 200


def test_successful_logins_never_count(proxied, alice):
    for _ in range(10 + 5):
        response = login_from(proxied, alice.email, "198.51.100.2", password=alice.password)
        assert response.status_code == 200, response.json
        assert response.headers["X-RateLimit-Limit"] == "10"
        assert response.headers["X-RateLimit-Remaining"] == "10"
    # The failure budgets of that address are whole: five wrong guesses, then 429.
    for _ in range(5):
        assert login_from(proxied, alice.email, "198.51.100.2").status_code == 401
    assert_failures_throttled(login_from(proxied, alice.email, "198.51.100.2"), limit=5)


def test_a_success_neither_counts_nor_forgives_earlier_failures(proxied, alice):
    address = "198.51.100.3"
    for _ in range(4):
        assert login_from(proxied, alice.email, address).status_code == 401
    assert login_from(proxied, alice.email, address, password=alice.password).status_code == 200
    assert login_from(proxied, alice.email, address).status_code == 401  # the fifth failure
    response = login_from(proxied, alice.email, address, password=alice.password)
    assert_failures_throttled(response, limit=5)


def test_unknown_emails_are_counted_exactly_like_wrong_passwords(proxied, alice):
    """No account enumeration through the limits: same statuses, bodies and headers."""

    def attempts(email: str, address: str) -> list[tuple]:
        responses = [login_from(proxied, email, address) for _ in range(6)]
        return [
            (
                r.status_code,
                r.get_json(),
                r.headers.get("X-RateLimit-Limit"),
                r.headers.get("X-RateLimit-Remaining"),
                r.headers.get("WWW-Authenticate"),
            )
            for r in responses
        ]

    wrong_password = attempts(alice.email, "203.0.113.20")
    unknown_email = attempts("nobody@example.com", "203.0.113.21")
    assert [status for status, *_ in wrong_password] == [401] * 5 + [429]
    assert wrong_password == unknown_email


def test_invalid_or_refused_attempts_do_not_count_as_failures(proxied, alice):
    address = "203.0.113.30"
    for _ in range(20):  # no password: nothing was checked
        response = proxied.post(
            LOGIN,
            json={"email": alice.email},
            environ_base={"REMOTE_ADDR": PROXY},
            headers={"X-Forwarded-For": address},
        )
        assert_error(response, 422)
    for _ in range(5):
        assert login_from(proxied, alice.email, address).status_code == 401
    for _ in range(20):  # refused by the email budget: the IP budget gets its share back
        assert_failures_throttled(login_from(proxied, alice.email, address), limit=5)
    for n in range(5):
        assert login_from(proxied, f"nobody{n}@example.com", address).status_code == 401
    assert_failures_throttled(login_from(proxied, "nobody9@example.com", address), limit=10)


def test_parallel_wrong_guesses_cannot_outrun_the_budget(proxied_app, alice):
    """Attempts are counted before the password check and given back unless it failed:
    counting failures only after the check let every guess of a parallel burst through."""
    racers = 30
    barrier = threading.Barrier(racers)

    def guess(_: int) -> int:
        client = proxied_app.test_client()
        barrier.wait()
        return login_from(client, alice.email, "203.0.113.40").status_code

    with ThreadPoolExecutor(racers) as pool:
        statuses = sorted(pool.map(guess, range(racers)))
    assert statuses == [401] * 5 + [429] * (racers - 5)


def test_login_attempts_of_any_outcome_stay_under_the_default_limit(make_app, alice):
    """Successes do not spend the failure budgets, but a flood of them (each one an argon2
    check and a new session) is still capped, at the every-endpoint RATELIMIT_DEFAULT."""
    client = make_app(PROXY_COUNT="1", RATELIMIT_DEFAULT="12/minute").test_client()
    for _ in range(12):
        response = login_from(client, alice.email, "198.51.100.4", password=alice.password)
        assert response.status_code == 200
    response = login_from(client, alice.email, "198.51.100.4", password=alice.password)
    assert_throttled(response, limit=12, window_seconds=60)
    response = login_from(client, alice.email, "198.51.100.5", password=alice.password)
    assert response.status_code == 200


def test_without_redis_successes_still_spend_nothing(make_app, alice):
    """With its Redis down the limiter counts in each process's memory; a success gives back
    what it took there too (and failures still count)."""
    client = make_app(RATELIMIT_STORAGE_URL="redis://127.0.0.1:1/0").test_client()
    for _ in range(10 + 5):
        assert login(client, alice.email, password=alice.password).status_code == 200
    for _ in range(5):
        assert login(client, alice.email).status_code == 401
    assert_failures_throttled(login(client, alice.email), limit=5)


def test_login_limits_are_shared_through_redis_by_every_instance(client, app, make_app, alice):
    """Two app instances (two workers) count in the same Redis, not in their own memory."""
    other = make_app().test_client()
    for _ in range(3):
        assert login(client, alice.email, address="10.2.0.1").status_code == 401
    for _ in range(2):
        assert login(other, alice.email, address="10.2.0.1").status_code == 401
    assert_failures_throttled(login(other, alice.email, address="10.2.0.1"), limit=5)
    assert login(client, alice.email, address="10.2.0.1").status_code == 429


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
    assert_failures_throttled(login(client, "x@example.com", address="10.9.0.1"), limit=10)


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
    assert_failures_throttled(response, limit=10)


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
    assert_failures_throttled(response, limit=10)
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
    assert_failures_throttled(login(client, "someone@example.com"), limit=5)
