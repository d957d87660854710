"""The operations pages over plain HTTP: the RQ dashboard at /admin/rq, administrators only (every
route of it), and Swagger UI at /api/docs, served with its assets by the app itself.
(tests/test_browser.py drives both in a real browser.)"""

from __future__ import annotations

import base64
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update

from collab.tasks import DEFAULT_QUEUE, QUEUE_NAMES, queue
from tests.helpers_errors import assert_error, bearer

DASHBOARD = "/admin/rq"
CHALLENGE = 'Basic realm="collab admin"'
QUEUES_JSON = f"{DASHBOARD}/0/data/queues.json"
# A value for each placeholder of the dashboard's routes.
SAMPLE_VALUES = {
    "instance_number": "0",
    "queue_name": DEFAULT_QUEUE,
    "registry_name": "finished",
    "per_page": "8",
    "order": "asc",
    "page": "1",
    "job_id": "no-such-job",
    "filename": "css/bootstrap.min.css",
}
PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?(?P<name>[^<>]+)>")


def basic(email: str, password: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def ip(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def dashboard_routes(app) -> list[tuple[str, str]]:
    """(method, concrete path) for every rule and method the app serves under /admin/rq."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule == DASHBOARD or rule.rule.startswith(f"{DASHBOARD}/"):
            path = PLACEHOLDER.sub(lambda m: SAMPLE_VALUES[m["name"]], rule.rule)
            routes.extend((method, path) for method in sorted(rule.methods))
    return routes


def assert_challenged(response) -> None:
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == CHALLENGE


@pytest.fixture()
def admin(make_user):
    return make_user("root", is_admin=True)


@pytest.fixture()
def unlimited(make_app):
    """Rate limiting off, so that many failed sign-ins in a row stay 401."""
    return make_app(RATELIMIT_ENABLED="false").test_client()


# --- who gets in ----------------------------------------------------------------------------


def test_anonymous_gets_a_basic_challenge(client):
    assert_challenged(client.get(f"{DASHBOARD}/"))


def test_an_admin_gets_in_with_email_and_password(client, admin):
    response = client.get(f"{DASHBOARD}/", headers=basic(admin.email, admin.password))
    assert response.status_code == 200
    assert "RQ dashboard" in response.get_data(as_text=True)


def test_the_email_is_not_case_sensitive(client, admin):
    response = client.get(QUEUES_JSON, headers=basic(admin.email.upper(), admin.password))
    assert response.status_code == 200


def test_a_wrong_password_or_an_unknown_email_is_401(client, admin):
    assert_challenged(client.get(QUEUES_JSON, headers=basic(admin.email, "not the password")))
    assert_challenged(client.get(QUEUES_JSON, headers=basic("nobody@example.com", "whatever")))
    assert_challenged(client.get(QUEUES_JSON, headers={"Authorization": "Basic %%%"}))


def test_a_valid_non_admin_is_403(client, alice):
    assert_error(client.get(QUEUES_JSON, headers=basic(alice.email, alice.password)), 403)
    assert_error(client.get(QUEUES_JSON, headers=bearer(alice.access_token)), 403)


def test_an_admins_bearer_token_works_until_its_session_closes(client, admin):
    assert client.get(QUEUES_JSON, headers=bearer(admin.access_token)).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(admin.access_token)).status_code == 200
    assert_challenged(client.get(QUEUES_JSON, headers=bearer(admin.access_token)))


def test_a_refresh_token_or_garbage_is_no_bearer_credential(client, admin):
    assert_challenged(client.get(QUEUES_JSON, headers=bearer(admin.refresh_token)))
    assert_challenged(client.get(QUEUES_JSON, headers=bearer("not.a.token")))


def test_a_demoted_admin_loses_access_at_once(app, client, admin):
    from collab.extensions import db
    from collab.models import User

    assert client.get(QUEUES_JSON, headers=basic(admin.email, admin.password)).status_code == 200
    with app.app_context():
        db.session.execute(update(User).where(User.email == admin.email).values(is_admin=False))
        db.session.commit()
    assert_error(client.get(QUEUES_JSON, headers=basic(admin.email, admin.password)), 403)


# --- every route, every method --------------------------------------------------------------


def test_every_route_under_admin_rq_is_protected(app, unlimited, alice, admin):
    routes = dashboard_routes(app)
    # The pages, JSON endpoints, actions and static assets of rq-dashboard 0.9.0.
    assert len({path for _, path in routes}) >= 15
    assert {"GET", "POST", "HEAD", "OPTIONS"} <= {method for method, _ in routes}
    refused = {
        401: [{}, basic(admin.email, "wrong"), bearer("not.a.token")],
        403: [basic(alice.email, alice.password), bearer(alice.access_token)],
    }
    for method, path in routes:
        for status, attempts in refused.items():
            for headers in attempts:
                # (/0/view/queues redirects to /, its canonical URL: the redirect is followed)
                response = unlimited.open(
                    path, method=method, headers=headers, follow_redirects=True
                )
                assert response.status_code == status, (method, path, headers)
                if status == 401:
                    assert response.headers["WWW-Authenticate"] == CHALLENGE, (method, path)


def test_a_refused_action_never_runs(app, client, alice):
    with app.app_context():
        queue().enqueue("builtins.pow", 2, 10)
    empty = f"{DASHBOARD}/queue/{DEFAULT_QUEUE}/queued/empty"
    assert_challenged(client.post(empty))
    assert_error(client.post(empty, headers=basic(alice.email, alice.password)), 403)
    with app.app_context():
        assert queue().count == 1


def test_static_assets_are_served_to_an_admin_only(client, admin):
    asset = f"{DASHBOARD}/static/{SAMPLE_VALUES['filename']}"
    assert_challenged(client.get(asset))
    response = client.get(asset, headers=basic(admin.email, admin.password))
    assert response.status_code == 200
    assert response.mimetype == "text/css"


# --- failed sign-ins are rate limited -------------------------------------------------------


def test_failed_sign_ins_from_one_ip_are_throttled_before_any_password_check(make_app, admin):
    client = make_app(RATELIMIT_LOGIN_IP="3/minute").test_client()
    for _ in range(3):
        assert_challenged(
            client.get(QUEUES_JSON, headers=basic(admin.email, "guess"), **ip("10.1.0.1"))
        )
    # Now even the right password is refused from that IP: guessing gets nowhere.
    right = basic(admin.email, admin.password)
    throttled = client.get(QUEUES_JSON, headers=right, **ip("10.1.0.1"))
    body = assert_error(throttled, 429)
    assert body["message"].startswith("Too many failed sign-ins")
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    # Static assets are no way around it.
    asset = f"{DASHBOARD}/static/{SAMPLE_VALUES['filename']}"
    assert_error(client.get(asset, headers=right, **ip("10.1.0.1")), 429)
    assert client.get(QUEUES_JSON, headers=right, **ip("10.1.0.2")).status_code == 200


def from_ip(address: str, headers: dict[str, str]) -> dict:
    """A request by `address`, reaching an app with PROXY_COUNT=1 through its trusted proxy."""
    return {
        "environ_base": {"REMOTE_ADDR": "10.250.0.1"},
        "headers": {"X-Forwarded-For": address, **headers},
    }


def get_as(client, address: str, email: str, password: str, path: str = QUEUES_JSON):
    return client.get(path, **from_ip(address, basic(email, password)))


def test_guesses_from_many_ips_do_not_lock_the_admin_out(make_app, admin):
    """The login's rule (issue 9): the per-email budget is counted per IP."""
    client = make_app(PROXY_COUNT="1", RATELIMIT_LOGIN_EMAIL="2/minute").test_client()
    for n in range(10):
        attacker = f"203.0.113.{n}"
        for _ in range(2):
            assert_challenged(get_as(client, attacker, admin.email, "guess"))
        # Each guessing address is throttled for that email, even with the right password.
        throttled = get_as(client, attacker, admin.email, admin.password)
        assert assert_error(throttled, 429)["message"].startswith("Too many failed sign-ins")
    assert get_as(client, "198.51.100.1", admin.email, admin.password).status_code == 200


def test_an_unknown_email_is_counted_like_a_wrong_password(make_app, admin):
    client = make_app(PROXY_COUNT="1", RATELIMIT_LOGIN_EMAIL="2/minute").test_client()

    def attempts(email: str, address: str) -> list[tuple]:
        responses = [get_as(client, address, email, "guess") for _ in range(3)]
        return [(r.status_code, r.get_json(), r.headers.get("WWW-Authenticate")) for r in responses]

    wrong_password = attempts(admin.email, "203.0.113.20")
    assert [status for status, *_ in wrong_password] == [401, 401, 429]
    assert attempts("nobody@example.com", "203.0.113.21") == wrong_password


def test_a_success_spends_nothing_and_then_spares_its_page(make_app, admin):
    client = make_app(PROXY_COUNT="1", RATELIMIT_LOGIN_EMAIL="2/minute").test_client()
    address = "198.51.100.3"
    assert get_as(client, address, admin.email, admin.password).status_code == 200
    for _ in range(2):  # the success above took nothing: two failures are still allowed
        assert_challenged(get_as(client, address, admin.email, "guess"))
    # The budget is spent; the same credentials, just proved right from here, still get in ...
    assert get_as(client, address, admin.email, admin.password).status_code == 200
    # ... but nothing else does, not even the right password written another way.
    assert_error(get_as(client, address, admin.email.upper(), admin.password), 429)


def test_parallel_guesses_cannot_outrun_the_budget(make_app, admin):
    app = make_app(PROXY_COUNT="1")
    racers = 30
    barrier = threading.Barrier(racers)

    def guess(_: int) -> int:
        client = app.test_client()
        barrier.wait()
        return get_as(client, "203.0.113.40", admin.email, "guess").status_code

    with ThreadPoolExecutor(racers) as pool:
        statuses = sorted(pool.map(guess, range(racers)))
    assert statuses == [401] * 5 + [429] * (racers - 5)


def test_a_pages_parallel_requests_are_not_refused(make_app, admin):
    """Each request of a page checks the password again; once one has proved it right, the
    page's parallel assets and XHRs take nothing from the budgets (20 at once, budget 5)."""
    app = make_app(PROXY_COUNT="1")
    address = "198.51.100.2"
    assert get_as(app.test_client(), address, admin.email, admin.password).status_code == 200
    asset = f"{DASHBOARD}/static/{SAMPLE_VALUES['filename']}"
    racers = 20
    barrier = threading.Barrier(racers)

    def load(n: int) -> int:
        client = app.test_client()
        barrier.wait()
        path = asset if n % 2 else QUEUES_JSON
        return get_as(client, address, admin.email, admin.password, path).status_code

    with ThreadPoolExecutor(racers) as pool:
        assert list(pool.map(load, range(racers))) == [200] * racers


def test_only_failures_count(make_app, admin, alice):
    client = make_app(RATELIMIT_LOGIN_IP="2/minute", RATELIMIT_LOGIN_EMAIL="2/minute").test_client()
    right = basic(admin.email, admin.password)
    for _ in range(2 + 5):
        assert client.get(QUEUES_JSON, headers=right).status_code == 200
        assert_challenged(client.get(QUEUES_JSON))
        assert_error(client.get(QUEUES_JSON, headers=basic(alice.email, alice.password)), 403)


def test_without_its_rate_limit_store_basic_auth_fails_closed(make_app, admin):
    client = make_app(RATELIMIT_STORAGE_URL="redis://127.0.0.1:1/0").test_client()
    asset = f"{DASHBOARD}/static/{SAMPLE_VALUES['filename']}"
    assert_error(client.get(asset, headers=basic(admin.email, admin.password)), 503)


# --- other sites cannot press the dashboard's buttons ---------------------------------------


def test_actions_from_another_site_are_refused(app, client, admin):
    with app.app_context():
        queue().enqueue("builtins.pow", 2, 10)  # (compacting an empty queue fails in RQ)
    compact = f"{DASHBOARD}/queue/{DEFAULT_QUEUE}/compact"
    credentials = basic(admin.email, admin.password)
    for origin in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
        assert_error(client.post(compact, headers={**credentials, **origin}), 403)
    requeue_all = f"{DASHBOARD}/requeue/{DEFAULT_QUEUE}"
    cross_site = {**credentials, "Sec-Fetch-Site": "cross-site"}
    assert_error(client.get(requeue_all, headers=cross_site), 403)
    # The dashboard's own pages may act; a link from elsewhere may still open it.
    same_origin = {**credentials, "Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    assert client.post(compact, headers=same_origin).get_json() == {"status": "OK"}
    assert client.get(f"{DASHBOARD}/", headers=cross_site).status_code == 200


# --- what it shows --------------------------------------------------------------------------


def test_the_dashboard_reads_the_apps_redis_and_lists_its_queues(app, client, admin):
    assert app.config["RQ_DASHBOARD_REDIS_URL"] == (app.config["REDIS_URL"],)
    credentials = basic(admin.email, admin.password)
    listed = client.get(QUEUES_JSON, headers=credentials).get_json()["queues"]
    assert {q["name"]: q["count"] for q in listed} == dict.fromkeys(QUEUE_NAMES, 0)
    with app.app_context():
        queue().enqueue("builtins.pow", 2, 10)
    listed = client.get(QUEUES_JSON, headers=credentials).get_json()["queues"]
    assert {q["name"]: q["count"] for q in listed}[DEFAULT_QUEUE] == 1


# --- Swagger UI -----------------------------------------------------------------------------


def test_api_docs_page_loads_its_assets_from_the_app_itself(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/openapi.json" in html
    assert "http://" not in html and "https://" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {asset.rsplit("/", 1)[1] for asset in assets} == {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }
    for asset in assets:
        assert asset.startswith("/api/docs/assets/")
        response = client.get(asset)
        assert response.status_code == 200 and len(response.data) > 1000, asset


def test_api_docs_are_not_part_of_the_api_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert not [path for path in paths if path.startswith(("/api/docs", DASHBOARD))]
