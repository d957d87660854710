"""Every bad input gets one JSON error shape, and changes nothing."""

from __future__ import annotations

import base64
import io
import json

import pytest
from sqlalchemy import func, select

from tests.helpers_errors import assert_error, bearer

PROJECTS = "/api/v1/projects"
REGISTER = "/api/v1/auth/register"
ONE_MIB = 1024 * 1024


def count(app, model) -> int:
    from collab.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def project_count(app) -> int:
    from collab.models import Project

    return count(app, Project)


def user_count(app) -> int:
    from collab.models import User

    return count(app, User)


def create_project(client, account, **fields) -> dict:
    response = client.post(PROJECTS, json={"name": "Project", **fields}, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


# --- 422: validation ------------------------------------------------------------------------


def test_validation_error_names_each_bad_field(client, app, alice):
    response = client.post(
        PROJECTS,
        json={"name": "", "description": "x" * 2001, "is_public": "yes"},
        headers=alice.headers,
    )
    body = assert_error(response, 422)
    fields = body["errors"]["json"]
    assert set(fields) == {"name", "description", "is_public"}
    for messages in fields.values():
        assert isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
    assert project_count(app) == 0


def test_missing_required_field_is_422(client, app, alice):
    body = assert_error(client.post(PROJECTS, json={}, headers=alice.headers), 422)
    assert list(body["errors"]["json"]) == ["name"]
    assert project_count(app) == 0


def test_unknown_fields_are_rejected(client, app, alice):
    response = client.post(
        PROJECTS, json={"name": "Fine", "owner_id": alice.id, "admin": True}, headers=alice.headers
    )
    body = assert_error(response, 422)
    assert set(body["errors"]["json"]) == {"owner_id", "admin"}
    assert project_count(app) == 0


def test_non_object_json_body_is_422(client, app, alice):
    response = client.post(PROJECTS, json=["name", "P"], headers=alice.headers)
    assert_error(response, 422)
    assert project_count(app) == 0


def test_invalid_registration_creates_no_account(client, app):
    response = client.post(
        REGISTER, json={"email": "not-an-email", "username": "a b", "password": "short"}
    )
    body = assert_error(response, 422)
    assert set(body["errors"]["json"]) == {"email", "username", "password"}
    assert user_count(app) == 0


def test_invalid_query_argument_is_422(client, alice):
    body = assert_error(client.get(f"{PROJECTS}?limit=0", headers=alice.headers), 422)
    assert "limit" in body["errors"]["query"]
    body = assert_error(client.get(f"{PROJECTS}?skip=abc", headers=alice.headers), 422)
    assert "skip" in body["errors"]["query"]


def test_invalid_update_changes_nothing(client, app, alice):
    project = create_project(client, alice, name="Before", description="kept")
    url = f"{PROJECTS}/{project['id']}"
    response = client.patch(
        url, json={"name": "x" * 101, "description": "changed"}, headers=alice.headers
    )
    body = assert_error(response, 422)
    assert set(body["errors"]["json"]) == {"name"}
    after = client.get(url, headers=alice.headers).json
    assert (after["name"], after["description"]) == ("Before", "kept")


# --- 400: malformed JSON --------------------------------------------------------------------


@pytest.mark.parametrize("payload", ['{"name": "P"', "{'name': 'P'}", "not json at all"])
def test_malformed_json_is_400(client, app, alice, payload):
    response = client.post(
        PROJECTS, data=payload, content_type="application/json", headers=alice.headers
    )
    assert_error(response, 400)
    assert project_count(app) == 0


# --- 415: wrong content type ----------------------------------------------------------------


def test_text_plain_body_is_415(client, app, alice):
    response = client.post(
        PROJECTS, data=json.dumps({"name": "P"}), content_type="text/plain", headers=alice.headers
    )
    body = assert_error(response, 415)
    assert "application/json" in body["message"]
    assert project_count(app) == 0


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_form_data_is_415(client, app, alice, content_type):
    response = client.post(
        PROJECTS, data={"name": "P"}, content_type=content_type, headers=alice.headers
    )
    assert_error(response, 415)
    assert project_count(app) == 0


def test_form_data_on_put_is_415(client, alice):
    project = create_project(client, alice, name="Before")
    url = f"{PROJECTS}/{project['id']}"
    response = client.put(url, data={"name": "After"}, headers=alice.headers)
    assert_error(response, 415)
    assert client.get(url, headers=alice.headers).json["name"] == "Before"


def test_form_data_on_register_is_415(client, app):
    form = {"email": "a@example.com", "username": "ann", "password": "longenough"}
    assert_error(client.post(REGISTER, data=form), 415)
    assert user_count(app) == 0


# --- 413: body too large --------------------------------------------------------------------


def test_body_over_one_mebibyte_is_413(client, app, alice):
    payload = json.dumps({"name": "P", "description": "x" * ONE_MIB})
    assert len(payload) > ONE_MIB
    response = client.post(
        PROJECTS, data=payload, content_type="application/json", headers=alice.headers
    )
    assert_error(response, 413)
    assert project_count(app) == 0


def test_body_over_one_mebibyte_is_413_on_register(client, app):
    payload = {"email": "a@example.com", "username": "ann", "password": "p" * ONE_MIB}
    assert_error(client.post(REGISTER, json=payload), 413)
    assert user_count(app) == 0


def test_body_just_under_the_cap_reaches_validation(client, alice):
    # Below 1 MiB the body is read and validated (description is limited to 2000 characters).
    payload = json.dumps({"name": "P", "description": "x" * (ONE_MIB - 100)})
    assert len(payload) < ONE_MIB
    response = client.post(
        PROJECTS, data=payload, content_type="application/json", headers=alice.headers
    )
    body = assert_error(response, 422)
    assert "description" in body["errors"]["json"]


# --- 404 / 405 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here", "/nothing", "/api/v1/projects/not-a-uuid/workspaces"]
)
def test_unknown_route_is_404(client, path):
    assert_error(client.get(path), 404)


def test_unknown_project_id_is_404(client, alice):
    url = f"{PROJECTS}/00000000-0000-4000-8000-000000000000"
    body = assert_error(client.get(url, headers=alice.headers), 404)
    assert body["message"] == "Project not found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", PROJECTS, {"GET", "POST"}),
        ("get", REGISTER, {"POST"}),
        ("put", "/api/v1/auth/login", {"POST"}),
        ("post", "/api/v1/admin/flags", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow_header(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert_error(response, 405)
    methods = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= methods
    assert method.upper() not in methods


# --- 401 ------------------------------------------------------------------------------------


def test_missing_token_is_401(client, app):
    body = assert_error(client.post(PROJECTS, json={"name": "P"}), 401)
    assert "token" in body["message"].lower()
    assert client.get(PROJECTS).status_code == 401
    assert project_count(app) == 0


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_garbage_tampered_and_unsigned_tokens_are_401(client, alice):
    header, payload, signature = alice.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = f"{header}.{b64url({**claims, 'sub': '00000000-0000-4000-8000-000000000000'})}"
    unsigned = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    for token in ("garbage", f"{tampered}.{signature}", unsigned, alice.refresh_token):
        response = client.get("/api/v1/auth/me", headers=bearer(token))
        assert_error(response, 401)
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200


def test_wrong_password_is_401(client, make_user):
    account = make_user("carol")
    response = client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "wrong password!"}
    )
    assert_error(response, 401)


# --- 403 ------------------------------------------------------------------------------------


def test_viewer_may_not_edit_403_and_nothing_changes(client, alice, bob):
    project = create_project(client, alice, name="Before")
    url = f"{PROJECTS}/{project['id']}"
    invite = client.post(
        f"{url}/collaborators", json={"email": bob.email, "role": "viewer"}, headers=alice.headers
    )
    assert invite.status_code == 201, invite.json
    assert_error(client.patch(url, json={"name": "After"}, headers=bob.headers), 403)
    assert_error(client.delete(url, headers=bob.headers), 403)
    assert client.get(url, headers=alice.headers).json["name"] == "Before"


def test_non_admin_is_403(client, alice):
    assert_error(client.get("/api/v1/admin/flags", headers=alice.headers), 403)


# --- 409 ------------------------------------------------------------------------------------


def test_duplicate_registration_is_409(client, app, alice):
    payload = {"email": alice.email.upper(), "username": "someone", "password": "longenough"}
    assert_error(client.post(REGISTER, json=payload), 409)
    payload = {"email": "other@example.com", "username": "ALICE", "password": "longenough"}
    assert_error(client.post(REGISTER, json=payload), 409)
    assert user_count(app) == 1


def test_duplicate_invitation_is_409(client, alice, bob):
    project = create_project(client, alice)
    url = f"{PROJECTS}/{project['id']}/collaborators"
    invite = {"email": bob.email, "role": "viewer"}
    assert client.post(url, json=invite, headers=alice.headers).status_code == 201
    assert_error(client.post(url, json=invite, headers=alice.headers), 409)
    members = client.get(url, headers=alice.headers).json
    assert sorted(m["role"] for m in members) == ["owner", "viewer"]


def test_unique_constraint_lost_race_is_409_not_500(app, make_app, alice):
    """A duplicate that slips past a view's own check (a race) still answers 409, in the error
    shape, and the failed transaction is rolled back."""
    from collab.extensions import db
    from collab.models import User

    racing = make_app()
    racing.config["PROPAGATE_EXCEPTIONS"] = False

    @racing.post("/api/v1/racing-insert")
    def racing_insert():
        db.session.add(User(email=alice.email, username="other", password_hash="x"))
        db.session.commit()
        return {"unreachable": True}, 201

    client = racing.test_client()
    body = assert_error(client.post("/api/v1/racing-insert", json={}), 409)
    assert "internal" not in body["message"].lower()
    assert user_count(app) == 1
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200


# --- 500 ------------------------------------------------------------------------------------

SECRET_DETAIL = "connection string postgres://admin:hunter2@db.internal/prod"


@pytest.fixture()
def crashing_app(make_app):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError(SECRET_DETAIL)

    @app.post("/api/v1/boom-json")
    def boom_json():
        raise KeyError(SECRET_DETAIL)

    return app


def test_unhandled_exception_is_500_without_internals(crashing_app):
    client = crashing_app.test_client()
    for response in (client.get("/api/v1/boom"), client.post("/api/v1/boom-json", json={})):
        body = assert_error(response, 500)
        text = response.get_data(as_text=True)
        for leak in ("hunter2", "Traceback", "RuntimeError", "KeyError", "db.internal", ".py"):
            assert leak not in text
        assert "errors" not in body


# --- 413 for bodies streamed without Content-Length -----------------------------------------


def post_chunked(client, url: str, body: bytes, headers: dict, content_type="application/json"):
    """A chunked upload as a real server hands it over: no Content-Length, and the server
    marks the input as terminated (gunicorn, the Werkzeug dev server)."""
    return client.post(
        url,
        input_stream=io.BytesIO(body),
        headers={**headers, "Content-Type": content_type, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_body_over_one_mebibyte_is_413(client, app, alice):
    body = json.dumps({"name": "P", "description": "x" * (2 * ONE_MIB)}).encode()
    assert_error(post_chunked(client, PROJECTS, body, alice.headers), 413)
    assert project_count(app) == 0


def test_chunked_body_padded_past_the_cap_is_not_accepted(client, app, alice):
    # Cut at 1 MiB, this body would still be valid JSON: it must be refused, not truncated.
    body = b'{"name": "P"}' + b" " * (2 * ONE_MIB)
    assert_error(post_chunked(client, PROJECTS, body, alice.headers), 413)
    assert project_count(app) == 0


def test_small_chunked_body_is_accepted(client, app, alice):
    response = post_chunked(client, PROJECTS, b'{"name": "Streamed"}', alice.headers)
    assert response.status_code == 201, response.json
    assert response.json["name"] == "Streamed"


def test_chunked_text_plain_is_415(client, app, alice):
    response = post_chunked(client, PROJECTS, b"name=P", alice.headers, "text/plain")
    assert_error(response, 415)
    assert project_count(app) == 0


def test_routing_errors_win_over_the_content_type_check(client, alice):
    unknown = client.post("/api/v1/nowhere", data="x", content_type="text/plain")
    assert unknown.status_code == 404 and unknown.json["code"] == 404
    wrong_method = client.post(
        "/api/v1/auth/me", data="x", content_type="text/plain", headers=alice.headers
    )
    assert wrong_method.status_code == 405 and "Allow" in wrong_method.headers


def test_an_unreachable_database_is_a_503_not_a_500(make_app, alice):
    """PostgreSQL on a port where nothing listens: the outage is reported, not leaked."""
    from collab.devstack import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    client = make_app(DATABASE_URL=url, RATELIMIT_ENABLED="false").test_client()
    response = client.get("/api/v1/projects", headers=alice.headers)
    assert response.status_code == 503
    assert response.json["code"] == 503
    assert response.json["message"] == "The database is unavailable; try again shortly"
    assert response.headers["Retry-After"] == "5"
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_a_huge_skip_is_refused_not_sent_to_the_database(client, alice):
    response = client.get("/api/v1/projects?skip=1820910974082906924777472", headers=alice.headers)
    assert response.status_code == 422
    assert "skip" in response.json["errors"]["query"]


# Found by fuzzing: inputs that Python's json module or the database mishandle.

NESTED = "[" * 1000 + "]" * 1000


def test_deeply_nested_json_is_a_400_even_before_login(client):
    for url in ("/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh"):
        response = client.post(url, data=NESTED, content_type="application/json")
        assert response.status_code == 400, url
        assert response.json["errors"] == {"json": ["Invalid JSON body."]}


def test_a_number_past_the_conversion_limit_is_a_400(client, alice):
    body = '{"name": ' + "9" * 4301 + "}"
    response = client.post(
        "/api/v1/projects", data=body, content_type="application/json", headers=alice.headers
    )
    assert response.status_code == 400


def test_unpaired_surrogates_and_nul_characters_are_422_and_store_nothing(client, alice):
    for body in (
        '{"name": "\\ud800"}',
        '{"name": "a\\u0000b"}',
        '{"name": "ok", "description": "x\\udfff"}',
    ):
        response = client.post(
            "/api/v1/projects", data=body, content_type="application/json", headers=alice.headers
        )
        assert response.status_code == 422, body
        assert set(response.json["errors"]["json"]) <= {"name", "description"}
    assert client.get("/api/v1/projects", headers=alice.headers).json == []


def test_surrogates_in_credentials_are_refused_not_hashed(client, alice):
    login = client.post(
        "/api/v1/auth/login",
        data='{"email": "\\ud800@x.io", "password": "x"}',
        content_type="application/json",
    )
    assert login.status_code == 422
    register = client.post(
        "/api/v1/auth/register",
        data='{"email": "s@x.io", "username": "surro", "password": "\\ud800\\ud800\\ud800\\ud800"}',
        content_type="application/json",
    )
    assert register.status_code == 422


def test_a_nested_login_body_does_not_knock_the_limiter_off_redis(app, make_app, raw_redis):
    client = make_app(RATELIMIT_LOGIN_IP="2/minute").test_client()
    client.post("/api/v1/auth/login", data=NESTED, content_type="application/json")
    statuses = [
        client.post("/api/v1/auth/login", json={"email": "a@b.io", "password": "x"}).status_code
        for _ in range(3)
    ]
    assert statuses[-1] == 429
    assert raw_redis.keys("LIMITS:LIMITER/collab-rl/ip:*"), "the counters must live in Redis"


def test_an_absent_body_is_refused_where_the_document_requires_one(client, alice):
    project = client.post("/api/v1/projects", json={"name": "Kept"}, headers=alice.headers).json
    for method in ("PUT", "PATCH"):
        response = client.open(
            f"/api/v1/projects/{project['id']}", method=method, headers=alice.headers
        )
        assert response.status_code == 422
        assert response.json["errors"] == {"json": ["A JSON body is required"]}
    # An empty object is a body: a PATCH that changes nothing.
    assert (
        client.patch(
            f"/api/v1/projects/{project['id']}", json={}, headers=alice.headers
        ).status_code
        == 200
    )
    # Logout's body is optional.
    assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 200
