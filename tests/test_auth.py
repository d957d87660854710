"""The auth API (/api/v1/auth) against the real app: SQLite, Redis, argon2, real JWTs.

Failed logins over HTTP are rate limited (10/minute per IP, 5/minute per email from one IP;
Redis is flushed between tests), so most tests get their users and sessions from `make_user` /
`new_session`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from sqlalchemy import func, select

from tests.helpers_errors import assert_error, bearer

AUTH = "/api/v1/auth"
USER_FIELDS = {"id", "email", "username", "full_name", "created_at"}
TOKEN_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in"}
SESSION_FIELDS = {
    "id",
    "created_at",
    "last_used_at",
    "expires_at",
    "user_agent",
    "ip_address",
    "current",
}
PASSWORD = "correct horse battery"  # make_user's default


# --------------------------------------------------------------------------- helpers


def assert_401(response, message: str | None = None) -> dict:
    return assert_error(response, 401, message)


def field_errors(response) -> dict:
    body = assert_error(response, 422)
    return body["errors"]["json"]


def claims_of(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def me(client, token: str):
    return client.get(f"{AUTH}/me", headers=bearer(token))


def refresh(client, token: str):
    return client.post(f"{AUTH}/refresh", json={"refresh_token": token})


def login(client, email: str, password: str):
    return client.post(f"{AUTH}/login", json={"email": email, "password": password})


def register(client, **overrides):
    payload = {
        "email": "carol@example.com",
        "username": "carol",
        "password": "s3cret-passphrase",
        "full_name": "Carol Cook",
    }
    payload.update(overrides)
    return client.post(f"{AUTH}/register", json={k: v for k, v in payload.items() if v is not ...})


def assert_token_pair(body: dict) -> None:
    assert body["token_type"] == "bearer"
    assert body["access_token"] != body["refresh_token"]
    access, refresh_ = claims_of(body["access_token"]), claims_of(body["refresh_token"])
    assert access["type"] == "access" and refresh_["type"] == "refresh"
    assert access["sub"] == refresh_["sub"] and access["sid"] == refresh_["sid"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture()
def db_query(app):
    """Run a function with the database session, in an app context."""
    from collab.extensions import db

    def run(fn):
        with app.app_context():
            try:
                return fn(db.session)
            finally:
                db.session.remove()

    return run


@pytest.fixture()
def count_users(db_query):
    from collab.models import User

    def count(*conditions) -> int:
        return db_query(
            lambda s: s.scalar(select(func.count()).select_from(User).where(*conditions))
        )

    return count


@pytest.fixture()
def new_session(app):
    """Open one more login session for an existing account, without an HTTP login."""
    from collab.auth.tokens import open_session
    from collab.extensions import db
    from collab.models import User

    def open_(account) -> dict:
        with app.test_request_context():
            user = db.session.get(User, uuid.UUID(account.id))
            tokens = open_session(user)
            db.session.remove()
            return tokens

    return open_


@pytest.fixture()
def sign(app):
    """Sign claims with the app's real key (or another one), for forging tests."""

    def sign_(claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
        return pyjwt.encode(claims, key or app.config["JWT_SECRET_KEY"], algorithm=algorithm)

    return sign_


# --------------------------------------------------------------------------- register


def test_register_returns_the_user_without_secrets(client, db_query):
    from collab.models import User

    r = register(client, email="  Carol.Cook@Example.COM ", username="Carol_C.1-x")
    assert r.status_code == 201, r.json
    body = r.json
    assert set(body) == USER_FIELDS
    assert body["email"] == "carol.cook@example.com"
    assert body["username"] == "Carol_C.1-x"  # the case the owner chose is kept
    assert body["full_name"] == "Carol Cook"
    uuid.UUID(body["id"])
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
    assert "s3cret-passphrase" not in r.get_data(as_text=True)

    user = db_query(lambda s: s.get(User, uuid.UUID(body["id"])))
    assert user.email == "carol.cook@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert "s3cret-passphrase" not in user.password_hash
    assert user.is_admin is False


def test_register_full_name_is_optional(client):
    r = register(client, full_name=...)
    assert r.status_code == 201, r.json
    assert r.json["full_name"] is None
    r = register(client, email="dave@example.com", username="dave", full_name=None)
    assert r.status_code == 201, r.json
    assert r.json["full_name"] is None


def test_registered_user_can_log_in_with_any_email_case(client):
    assert register(client, email="Erin@Example.com", username="erin").status_code == 201
    r = login(client, "ERIN@example.COM", "s3cret-passphrase")
    assert r.status_code == 200, r.json
    assert me(client, r.json["access_token"]).json["username"] == "erin"


def test_register_duplicate_email_is_409_case_insensitive(client, count_users):
    from collab.models import User

    assert register(client).status_code == 201
    r = register(client, email="CAROL@Example.COM", username="carol2")
    assert_error(r, 409)
    assert count_users(User.email == "carol@example.com") == 1
    assert count_users(User.username == "carol2") == 0


@pytest.mark.parametrize("taken_as", ["Alice", "ALICE", "alice"])
def test_register_duplicate_username_is_409_case_insensitive(client, alice, count_users, taken_as):
    from collab.models import User

    r = register(client, email="other@example.com", username=taken_as)
    assert_error(r, 409)
    assert count_users(func.lower(User.username) == "alice") == 1
    assert count_users(User.email == "other@example.com") == 0


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("email", {"email": "not-an-email"}),
        ("email", {"email": ""}),
        ("email", {"email": 42}),
        ("email", {"email": "a" * 250 + "@example.com"}),
        ("email", {"email": ...}),
        ("username", {"username": "ab"}),
        ("username", {"username": "a" * 33}),
        ("username", {"username": "has space"}),
        ("username", {"username": "semi;colon"}),
        ("username", {"username": "j\u00fcrgen"}),
        ("username", {"username": "carol\n"}),
        ("username", {"username": ""}),
        ("username", {"username": None}),
        ("username", {"username": ...}),
        ("password", {"password": "1234567"}),
        ("password", {"password": "x" * 257}),
        ("password", {"password": ...}),
        ("full_name", {"full_name": "x" * 101}),
        ("is_admin", {"is_admin": True}),
        ("password_hash", {"password_hash": "$argon2id$..."}),
    ],
)
def test_register_rejects_invalid_input_per_field(client, count_users, field, overrides):
    r = register(client, **overrides)
    errors = field_errors(r)
    assert set(errors) == {field}
    assert all(isinstance(m, str) and m for m in errors[field])
    assert count_users() == 0


def test_register_reports_every_invalid_field_at_once(client, count_users):
    r = client.post(
        f"{AUTH}/register",
        json={"email": "nope", "username": "x", "password": "short", "full_name": "y" * 101},
    )
    assert set(field_errors(r)) == {"email", "username", "password", "full_name"}
    assert count_users() == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"username": "abc", "password": "x" * 8, "full_name": "f" * 100},
        {"username": "a" * 32, "password": "x" * 256, "full_name": ""},
        {"username": "A.b_c-9", "password": "p\u00e4ssw\u00f6rd"},
    ],
)
def test_register_accepts_boundary_values(client, overrides):
    r = register(client, **overrides)
    assert r.status_code == 201, r.json
    assert r.json["username"] == overrides["username"]


def test_register_malformed_json_is_400(client, count_users):
    r = client.post(
        f"{AUTH}/register", data='{"email": "x@example.com",', content_type="application/json"
    )
    assert_error(r, 400)
    assert count_users() == 0


def run_concurrently(app, n: int, request_for) -> list[tuple[int, dict | None]]:
    """Send n requests at once, each from its own test client and thread.

    An exception in a worker is re-raised here by `future.result()`.
    """
    barrier = threading.Barrier(n)

    def worker(i: int) -> tuple[int, dict | None]:
        client = app.test_client()
        barrier.wait(timeout=30)
        r = request_for(client, i)
        return r.status_code, r.get_json(silent=True)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(worker, i) for i in range(n)]
        return [future.result(timeout=120) for future in futures]


RACERS = 8  # below the register limit of 10/hour per IP


def test_concurrent_registration_with_one_email_gives_one_201(app, count_users):
    from collab.models import User

    results = run_concurrently(
        app,
        RACERS,
        lambda c, i: register(c, email="Race@Example.com", username=f"racer{i}"),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (RACERS - 1), results
    for status, body in results:
        if status == 409:
            assert body["code"] == 409 and body["status"] == "Conflict" and body["message"]
    assert count_users(User.email == "race@example.com") == 1
    assert count_users() == 1


def test_concurrent_registration_with_one_username_gives_one_201(app, count_users):
    from collab.models import User

    # The same name in different cases: still one name.
    names = ["Racer", "racer", "RACER", "rAcEr", "Racer", "racer", "RaCeR", "racER"]
    results = run_concurrently(
        app,
        RACERS,
        lambda c, i: register(c, email=f"racer{i}@example.com", username=names[i]),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (RACERS - 1), results
    assert count_users(func.lower(User.username) == "racer") == 1
    assert count_users() == 1


# --------------------------------------------------------------------------- login


def test_login_returns_a_token_pair(client, app, alice):
    r = login(client, alice.email, alice.password)
    assert r.status_code == 200, r.json
    body = r.json
    assert set(body) == TOKEN_FIELDS
    assert_token_pair(body)
    assert body["expires_in"] == int(app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    assert body["expires_in"] == 15 * 60
    assert claims_of(body["access_token"])["sub"] == alice.id
    # A new session, distinct from the one make_user opened.
    assert claims_of(body["access_token"])["sid"] != claims_of(alice.access_token)["sid"]
    r = me(client, body["access_token"])
    assert r.status_code == 200 and r.json["id"] == alice.id


def test_login_email_is_case_insensitive(client, alice):
    r = login(client, "  ALICE@Example.COM ", alice.password)
    assert r.status_code == 200, r.json
    assert claims_of(r.json["access_token"])["sub"] == alice.id


def test_login_failures_are_indistinguishable(client, alice):
    wrong_password = login(client, alice.email, "not the password")
    unknown_email = login(client, "nobody@example.com", alice.password)
    a, b = assert_401(wrong_password), assert_401(unknown_email)
    assert a == b
    assert a["message"] == "Invalid email or password"
    # Nothing about which part was wrong leaks through the headers either.
    assert wrong_password.headers.get("WWW-Authenticate") == unknown_email.headers.get(
        "WWW-Authenticate"
    )


def test_an_unknown_email_costs_the_same_hash_check_as_a_wrong_password(app, make_app, monkeypatch):
    """An unknown email is verified against a dummy hash of the same cost, so the time taken
    does not tell which emails have accounts. (With the test suite's cheap hashing the times
    would be noise: this app hashes with the production parameters.)"""
    from collab.config import Config, TestConfig

    for name in ("TIME_COST", "MEMORY_COST", "PARALLELISM"):
        name = f"PASSWORD_HASH_{name}"
        monkeypatch.setattr(TestConfig, name, getattr(Config, name))
    client = make_app().test_client()
    account = {"email": "slow@example.com", "username": "slow", "password": PASSWORD}
    assert client.post(f"{AUTH}/register", json=account).status_code == 201

    def fastest(email: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert_401(login(client, email, "not the password"))
            times.append(time.perf_counter() - started)
        return min(times)

    wrong_password, unknown_email = fastest("slow@example.com"), fastest("nobody@example.com")
    assert wrong_password > 0.01  # a real argon2 check was made
    assert 0.5 < unknown_email / wrong_password < 2, (unknown_email, wrong_password)


def test_login_requires_email_and_password(client):
    r = client.post(f"{AUTH}/login", json={"email": "alice@example.com"})
    assert set(field_errors(r)) == {"password"}
    r = client.post(f"{AUTH}/login", json={"password": "whatever123"})
    assert set(field_errors(r)) == {"email"}


def test_login_is_throttled_per_email(client, alice):
    for _ in range(5):
        assert_401(login(client, alice.email, "wrong password"))
    # The sixth attempt is refused whatever the password: brute force is capped.
    r = login(client, alice.email.upper(), alice.password)
    assert_error(r, 429)
    assert int(r.headers["Retry-After"]) > 0


# --------------------------------------------------------------------------- refresh


def test_refresh_rotates_the_pair(client, alice):
    r = refresh(client, alice.refresh_token)
    assert r.status_code == 200, r.json
    first = r.json
    assert {"access_token", "refresh_token", "token_type"} <= set(first)
    assert_token_pair(first)
    assert first["refresh_token"] != alice.refresh_token
    # Same session, same user.
    assert claims_of(first["refresh_token"])["sid"] == claims_of(alice.refresh_token)["sid"]
    assert claims_of(first["access_token"])["sub"] == alice.id
    assert me(client, first["access_token"]).json["id"] == alice.id

    # The newest refresh token keeps rotating.
    r = refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.json
    second = r.json
    assert second["refresh_token"] not in {first["refresh_token"], alice.refresh_token}
    assert me(client, second["access_token"]).status_code == 200


def test_reusing_a_retired_refresh_token_revokes_the_session(client, alice, new_session):
    other = new_session(alice)
    rotated = refresh(client, alice.refresh_token).json

    # The old token is retired: presenting it again is treated as theft.
    assert_401(refresh(client, alice.refresh_token))

    # The whole session is closed: its newest refresh token and its access tokens.
    assert_401(refresh(client, rotated["refresh_token"]))
    assert_401(me(client, rotated["access_token"]), "Token has been revoked")
    assert_401(me(client, alice.access_token), "Token has been revoked")

    # Other sessions of the same user are not affected.
    assert me(client, other["access_token"]).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_concurrent_refreshes_with_one_token_let_exactly_one_through(app, alice):
    results = run_concurrently(app, 4, lambda c, i: refresh(c, alice.refresh_token))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 401, 401, 401], results


def test_access_token_is_not_a_refresh_token(client, alice):
    assert_401(refresh(client, alice.access_token))
    # Refused without closing the session.
    assert me(client, alice.access_token).status_code == 200
    assert refresh(client, alice.refresh_token).status_code == 200


def test_refresh_token_is_not_an_access_token(client, alice):
    assert_401(me(client, alice.refresh_token))
    r = client.post(f"{AUTH}/logout", headers=bearer(alice.refresh_token))
    assert_401(r)
    assert me(client, alice.access_token).status_code == 200


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "x" * 4096, "Bearer nothing"])
def test_refresh_with_garbage_is_401(client, alice, garbage):
    assert_401(refresh(client, garbage))
    assert refresh(client, alice.refresh_token).status_code == 200


def test_refresh_validates_its_body(client):
    assert set(field_errors(client.post(f"{AUTH}/refresh", json={}))) == {"refresh_token"}
    r = client.post(f"{AUTH}/refresh", json={"refresh_token": ""})
    assert set(field_errors(r)) == {"refresh_token"}
    r = client.post(f"{AUTH}/refresh", json={"refresh_token": "x", "extra": 1})
    assert set(field_errors(r)) == {"extra"}


def test_forged_refresh_tokens_are_401(client, alice, sign):
    claims = claims_of(alice.refresh_token)
    assert_401(refresh(client, sign(claims, key="another-key-" + "k" * 40)))
    assert_401(refresh(client, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."))
    # The genuine token still works (and was never retired by the forgeries).
    assert refresh(client, alice.refresh_token).status_code == 200


# --------------------------------------------------------------------------- logout


def test_logout_closes_the_session_at_once(client, alice):
    r = client.post(f"{AUTH}/logout", headers=alice.headers)
    assert r.status_code == 200, r.json
    assert r.json == {"message": "Logged out successfully"}
    assert_401(me(client, alice.access_token), "Token has been revoked")
    assert_401(refresh(client, alice.refresh_token))
    assert_401(client.post(f"{AUTH}/logout", headers=alice.headers))


def test_logout_leaves_other_sessions_open(client, alice, bob, new_session):
    other = new_session(alice)
    assert client.post(f"{AUTH}/logout", headers=alice.headers).status_code == 200
    assert me(client, other["access_token"]).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200
    assert me(client, bob.access_token).status_code == 200


def test_logout_with_the_sessions_refresh_token(client, alice):
    r = client.post(
        f"{AUTH}/logout", headers=alice.headers, json={"refresh_token": alice.refresh_token}
    )
    assert r.status_code == 200, r.json
    assert r.json == {"message": "Logged out successfully"}
    assert_401(me(client, alice.access_token))
    assert_401(refresh(client, alice.refresh_token))


def test_logout_with_a_rotated_refresh_token_closes_its_session_too(client, alice, new_session):
    # A client whose refresh token belongs to another of its sessions (e.g. after a refresh
    # whose access token it never stored) closes both.
    other = new_session(alice)
    rotated = refresh(client, other["refresh_token"]).json
    r = client.post(
        f"{AUTH}/logout", headers=alice.headers, json={"refresh_token": rotated["refresh_token"]}
    )
    assert r.status_code == 200, r.json
    assert_401(me(client, alice.access_token))
    assert_401(me(client, rotated["access_token"]))
    assert_401(refresh(client, rotated["refresh_token"]))


def test_logout_cannot_close_another_users_session(client, alice, bob):
    r = client.post(
        f"{AUTH}/logout", headers=alice.headers, json={"refresh_token": bob.refresh_token}
    )
    assert r.status_code == 200, r.json
    assert_401(me(client, alice.access_token))
    assert me(client, bob.access_token).status_code == 200
    assert refresh(client, bob.refresh_token).status_code == 200


@pytest.mark.parametrize("bad_refresh", ["garbage", "a.b.c"])
def test_logout_with_an_unusable_refresh_token_still_logs_out(client, alice, bad_refresh):
    r = client.post(f"{AUTH}/logout", headers=alice.headers, json={"refresh_token": bad_refresh})
    # Whatever the optional body holds, the caller's own session must be closed.
    assert r.status_code == 200, r.json
    assert r.json == {"message": "Logged out successfully"}
    assert_401(me(client, alice.access_token))
    assert_401(refresh(client, alice.refresh_token))


def test_logout_with_an_expired_refresh_token_still_logs_out(client, alice, sign):
    claims = claims_of(alice.refresh_token)
    now = int(time.time())
    expired = sign({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})
    r = client.post(f"{AUTH}/logout", headers=alice.headers, json={"refresh_token": expired})
    assert r.status_code == 200, r.json
    assert_401(me(client, alice.access_token))


def test_logout_requires_a_token(client):
    assert_401(client.post(f"{AUTH}/logout"), "Missing bearer token")


def test_logout_rejects_unknown_body_fields(client, alice):
    r = client.post(f"{AUTH}/logout", headers=alice.headers, json={"everything": True})
    assert set(field_errors(r)) == {"everything"}
    assert me(client, alice.access_token).status_code == 200


# --------------------------------------------------------------------------- me


def test_get_me(client, alice):
    r = client.get(f"{AUTH}/me", headers=alice.headers)
    assert r.status_code == 200, r.json
    assert set(r.json) == USER_FIELDS
    assert r.json["id"] == alice.id
    assert r.json["email"] == "alice@example.com"
    assert r.json["username"] == "alice"
    assert r.json["full_name"] is None


def test_get_me_requires_a_token(client):
    assert_401(client.get(f"{AUTH}/me"), "Missing bearer token")


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_me(client, alice, method):
    send = getattr(client, method)
    r = send(f"{AUTH}/me", headers=alice.headers, json={"full_name": "Alice A.", "username": "ali"})
    assert r.status_code == 200, r.json
    assert set(r.json) == USER_FIELDS
    assert r.json["full_name"] == "Alice A." and r.json["username"] == "ali"
    assert r.json["email"] == alice.email and r.json["id"] == alice.id

    # Only the fields given change.
    r = send(f"{AUTH}/me", headers=alice.headers, json={"full_name": "Alice B."})
    assert r.status_code == 200, r.json
    assert r.json["username"] == "ali" and r.json["full_name"] == "Alice B."

    r = send(f"{AUTH}/me", headers=alice.headers, json={"full_name": None})
    assert r.status_code == 200 and r.json["full_name"] is None

    r = me(client, alice.access_token)
    assert r.json["username"] == "ali" and r.json["full_name"] is None


@pytest.mark.parametrize("taken_as", ["bob", "BOB", "Bob"])
def test_update_me_username_taken_is_409(client, alice, bob, taken_as):
    r = client.patch(
        f"{AUTH}/me", headers=alice.headers, json={"username": taken_as, "full_name": "X"}
    )
    assert_error(r, 409)
    r = me(client, alice.access_token)
    assert r.json["username"] == "alice" and r.json["full_name"] is None


def test_update_me_own_username_in_another_case(client, alice):
    r = client.put(f"{AUTH}/me", headers=alice.headers, json={"username": "ALICE"})
    assert r.status_code == 200, r.json
    assert r.json["username"] == "ALICE"
    r = client.patch(f"{AUTH}/me", headers=alice.headers, json={"username": "alice"})
    assert r.status_code == 200, r.json
    assert r.json["username"] == "alice"


def test_freed_username_can_be_taken(client, alice, bob):
    r = client.patch(f"{AUTH}/me", headers=alice.headers, json={"username": "alice2"})
    assert r.status_code == 200, r.json
    r = client.patch(f"{AUTH}/me", headers=bob.headers, json={"username": "Alice"})
    assert r.status_code == 200, r.json
    assert r.json["username"] == "Alice"


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("username", {"username": "ab"}),
        ("username", {"username": "no spaces"}),
        ("username", {"username": "alice\n"}),
        ("username", {"username": None}),
        ("full_name", {"full_name": "x" * 101}),
        ("email", {"email": "new@example.com"}),
        ("password", {"password": "new-password"}),
        ("is_admin", {"is_admin": True}),
    ],
)
def test_update_me_rejects_invalid_input(client, alice, db_query, field, changes):
    from collab.models import User

    r = client.patch(f"{AUTH}/me", headers=alice.headers, json=changes)
    assert set(field_errors(r)) == {field}
    user = db_query(lambda s: s.get(User, uuid.UUID(alice.id)))
    assert (user.username, user.email, user.full_name, user.is_admin) == (
        "alice",
        "alice@example.com",
        None,
        False,
    )


# --------------------------------------------------------------------------- change-password


def change_password(client, account, current: str, new: str):
    return client.post(
        f"{AUTH}/change-password",
        headers=account.headers,
        json={"current_password": current, "new_password": new},
    )


def test_change_password_with_wrong_current_password_changes_nothing(client, alice, new_session):
    other = new_session(alice)
    r = change_password(client, alice, "not my password", "brand-new-password")
    assert set(field_errors(r)) == {"current_password"}
    assert me(client, alice.access_token).status_code == 200
    assert me(client, other["access_token"]).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200
    assert_401(login(client, alice.email, "brand-new-password"))
    assert login(client, alice.email, alice.password).status_code == 200


def test_change_password_revokes_every_other_session(client, alice, bob, new_session):
    other = new_session(alice)
    r = change_password(client, alice, alice.password, "brand-new-password")
    assert r.status_code == 200, r.json
    assert r.json == {"message": "Password changed"}

    assert_401(me(client, other["access_token"]), "Token has been revoked")
    assert_401(refresh(client, other["refresh_token"]))

    # The session that changed it stays open, refresh included.
    assert me(client, alice.access_token).status_code == 200
    assert refresh(client, alice.refresh_token).status_code == 200
    # Other users are untouched.
    assert me(client, bob.access_token).status_code == 200

    assert_401(login(client, alice.email, alice.password), "Invalid email or password")
    assert login(client, alice.email, "brand-new-password").status_code == 200


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("new_password", {"current_password": PASSWORD, "new_password": "short"}),
        ("new_password", {"current_password": PASSWORD, "new_password": "x" * 257}),
        ("new_password", {"current_password": PASSWORD}),
        ("current_password", {"new_password": "brand-new-password"}),
        ("extra", {"current_password": PASSWORD, "new_password": "xxxxxxxx", "extra": 1}),
    ],
)
def test_change_password_validates_its_body(client, alice, new_session, field, body):
    other = new_session(alice)
    r = client.post(f"{AUTH}/change-password", headers=alice.headers, json=body)
    assert field in field_errors(r)
    assert me(client, other["access_token"]).status_code == 200
    assert login(client, alice.email, alice.password).status_code == 200


def test_change_password_requires_a_token(client):
    r = client.post(
        f"{AUTH}/change-password",
        json={"current_password": PASSWORD, "new_password": "brand-new-password"},
    )
    assert_401(r)


# --------------------------------------------------------------------------- sessions


def test_list_sessions_flags_the_current_one(client, alice, bob, new_session):
    other = new_session(alice)
    r = client.get(f"{AUTH}/sessions", headers=alice.headers)
    assert r.status_code == 200, r.json
    sessions = r.json
    assert len(sessions) == 2
    for s in sessions:
        assert set(s) == SESSION_FIELDS
    ids = {s["id"] for s in sessions}
    assert ids == {claims_of(alice.access_token)["sid"], claims_of(other["access_token"])["sid"]}
    current = [s["id"] for s in sessions if s["current"]]
    assert current == [claims_of(alice.access_token)["sid"]]
    assert claims_of(bob.access_token)["sid"] not in ids

    # Seen from the other session, the flag moves.
    r = client.get(f"{AUTH}/sessions", headers=bearer(other["access_token"]))
    assert [s["id"] for s in r.json if s["current"]] == [claims_of(other["access_token"])["sid"]]


def test_list_sessions_omits_closed_ones(client, alice, new_session):
    other = new_session(alice)
    client.post(f"{AUTH}/logout", headers=bearer(other["access_token"]))
    r = client.get(f"{AUTH}/sessions", headers=alice.headers)
    assert [s["id"] for s in r.json] == [claims_of(alice.access_token)["sid"]]


def test_delete_a_session_revokes_its_tokens(client, alice, new_session):
    other = new_session(alice)
    sid = claims_of(other["access_token"])["sid"]
    r = client.delete(f"{AUTH}/sessions/{sid}", headers=alice.headers)
    assert r.status_code == 200, r.json
    assert r.json == {"message": "Session revoked"}
    assert_401(me(client, other["access_token"]), "Token has been revoked")
    assert_401(refresh(client, other["refresh_token"]))
    assert me(client, alice.access_token).status_code == 200
    r = client.get(f"{AUTH}/sessions", headers=alice.headers)
    assert [s["id"] for s in r.json] == [claims_of(alice.access_token)["sid"]]
    # Already closed: nothing left to delete.
    assert_error(client.delete(f"{AUTH}/sessions/{sid}", headers=alice.headers), 404)


def test_delete_the_current_session(client, alice):
    sid = claims_of(alice.access_token)["sid"]
    assert client.delete(f"{AUTH}/sessions/{sid}", headers=alice.headers).status_code == 200
    assert_401(me(client, alice.access_token))
    assert_401(refresh(client, alice.refresh_token))


def test_delete_another_users_session_is_404(client, alice, bob):
    sid = claims_of(bob.access_token)["sid"]
    r = client.delete(f"{AUTH}/sessions/{sid}", headers=alice.headers)
    assert_error(r, 404, "Session not found")
    assert me(client, bob.access_token).status_code == 200
    assert refresh(client, bob.refresh_token).status_code == 200
    # Same answer as for a session that does not exist at all.
    r = client.delete(f"{AUTH}/sessions/{uuid.uuid4()}", headers=alice.headers)
    assert_error(r, 404, "Session not found")
    assert_error(client.delete(f"{AUTH}/sessions/not-a-uuid", headers=alice.headers), 404)


def test_sessions_require_a_token(client, alice):
    sid = claims_of(alice.access_token)["sid"]
    assert_401(client.get(f"{AUTH}/sessions"))
    assert_401(client.delete(f"{AUTH}/sessions/{sid}"))
    assert me(client, alice.access_token).status_code == 200


# --------------------------------------------------------------------------- tokens


def test_expired_access_token_is_401_and_refresh_recovers(app, make_app, alice):
    short = make_app(ACCESS_TOKEN_EXPIRES="1")
    client = short.test_client()
    r = login(client, alice.email, alice.password)
    assert r.status_code == 200, r.json
    tokens = r.json
    assert tokens["expires_in"] == 1
    time.sleep(2)
    r = me(client, tokens["access_token"])
    assert_401(r, "Token has expired")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    # Only the access token expired: the session itself is fine.
    r = refresh(client, tokens["refresh_token"])
    assert r.status_code == 200, r.json
    fresh = r.json
    assert claims_of(fresh["access_token"])["sid"] == claims_of(tokens["access_token"])["sid"]


def test_a_token_signed_here_with_the_real_key_works(client, alice, sign):
    # Control for the forgeries below: re-signing the genuine claims is accepted.
    assert me(client, sign(claims_of(alice.access_token))).status_code == 200


def test_tampered_payload_is_401(client, alice, bob):
    header, _, signature = alice.access_token.split(".")
    claims = {**claims_of(alice.access_token), "sub": bob.id}
    forged = f"{header}.{b64(claims)}.{signature}"
    assert_401(me(client, forged), "Invalid token")


def test_tampered_signature_is_401(client, alice):
    header, payload, signature = alice.access_token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    forged = f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    assert_401(me(client, forged), "Invalid token")
    assert_401(me(client, f"{header}.{payload}."), "Invalid token")


def test_alg_none_token_is_401(client, alice):
    claims = claims_of(alice.access_token)
    for alg in ("none", "None", "NONE"):
        forged = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
        assert_401(me(client, forged), "Invalid token")


def test_token_signed_with_another_key_is_401(client, alice, sign):
    forged = sign(claims_of(alice.access_token), key="another-key-" + "k" * 40)
    assert_401(me(client, forged), "Invalid token")


def test_token_with_another_algorithm_is_401(client, alice, sign):
    forged = sign(claims_of(alice.access_token), algorithm="HS512")
    assert_401(me(client, forged), "Invalid token")


def test_validly_signed_token_for_a_foreign_or_missing_session_is_401(client, alice, bob, sign):
    claims = claims_of(alice.access_token)
    # Alice's identity on Bob's session.
    assert_401(me(client, sign({**claims, "sid": claims_of(bob.access_token)["sid"]})))
    # A session that does not exist, a malformed one, none at all.
    assert_401(me(client, sign({**claims, "sid": str(uuid.uuid4())})))
    assert_401(me(client, sign({**claims, "sid": "not-a-uuid"})))
    assert_401(me(client, sign({k: v for k, v in claims.items() if k != "sid"})))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Token {token}",
        "Bearer {token} extra",
    ],
)
def test_bad_authorization_header_is_401(client, alice, header):
    headers = {} if header is None else {"Authorization": header.format(token=alice.access_token)}
    r = client.get(f"{AUTH}/me", headers=headers)
    assert_401(r)
    assert r.headers["WWW-Authenticate"] == "Bearer"


# --------------------------------------------------------------------------- accounts


def test_closed_registration_is_403_and_creates_nothing(client, app, alice, count_users):
    from collab import flags

    with app.app_context():
        flags.set_flag(flags.REGISTRATION_OPEN.name, False)
    assert_error(register(client), 403, "Registration is closed")
    assert count_users() == 1
    # Existing accounts are unaffected.
    assert me(client, alice.access_token).status_code == 200
    assert refresh(client, alice.refresh_token).status_code == 200


def test_tokens_of_a_deleted_user_stop_working(client, alice, db_query):
    from collab.models import User

    def delete(session):
        session.delete(session.get(User, uuid.UUID(alice.id)))
        session.commit()

    db_query(delete)
    assert_401(me(client, alice.access_token))
    assert_401(refresh(client, alice.refresh_token))
