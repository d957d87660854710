"""Observability: GET /metrics (Prometheus), X-Request-ID, structured log lines.

Real app, real Redis and MongoDB-compatible server; the log format and the ids in it are also
read from the stderr of real processes (a gunicorn gevent instance, `python worker.py`)."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
import requests
from flask import request
from prometheus_client.parser import text_string_to_metric_families
from rq import SimpleWorker

from collab import config as config_module
from collab import flags
from collab.devstack import ROOT
from collab.extensions import mongo
from collab.jobs import store
from collab.jobs import tasks as job_tasks
from collab.jobs.store import JobDocument, Status, utcnow
from collab.observability.logs import ContextFilter, JsonLineFormatter, TextFormatter
from collab.observability.metrics import record_job_duration
from collab.realtime.connections import Connection, live
from collab.tasks import DEFAULT_QUEUE, JOBS_QUEUE, queue, rq_connection
from tests.helpers_errors import assert_error, bearer
from tests.helpers_projects import PROJECTS, create_project, project_url
from tests.realtime_support import WebInstance, connected
from tests.test_sandbox import SANDBOX_USABLE
from worker import CollabWorker

TOKEN = "metrics-" + uuid.uuid4().hex
PROJECT_ROUTE = "/api/v1/projects/<uuid:project_id>"


@pytest.fixture(scope="module")
def metrics_app(app, make_app):
    return make_app(METRICS_TOKEN=TOKEN)


@pytest.fixture()
def scraper(app, metrics_app):
    return metrics_app.test_client()


@pytest.fixture()
def jobs_collection(app):
    """MongoDB's jobs, emptied after the test."""
    with app.app_context():
        yield mongo.db[store.COLLECTION]
        mongo.db[store.COLLECTION].delete_many({})


def scrape(client, token: str = TOKEN) -> dict:
    response = client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict:
    """{(sample name, ((label, value), ...)): value} of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def stored_job(status: Status, **fields) -> dict:
    job = JobDocument(user_id=str(uuid.uuid4()), language="python", code="", stdin="", limits={})
    return {**job.to_mongo(), "status": status.value, **fields}


# --- /metrics: who may read it ---------------------------------------------------------------


def test_metrics_are_not_found_while_no_token_is_configured(client):
    assert_error(client.get("/metrics"), 404)
    assert_error(client.get("/metrics", headers=bearer("anything")), 404)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN],
)
def test_a_missing_or_wrong_token_is_401(scraper, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = scraper.get("/metrics", headers=headers)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "collab_http" not in response.get_data(as_text=True)


def test_the_scraper_is_never_rate_limited_nor_stopped_by_maintenance(app, make_app):
    limited = make_app(METRICS_TOKEN=TOKEN, RATELIMIT_DEFAULT="2/minute").test_client()
    for _ in range(5):
        scrape(limited)
    statuses = [limited.get("/api/v1/projects").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # the limiter does count every other route
    with app.app_context():
        flags.set_flag(flags.MAINTENANCE_MODE.name, True)
    scrape(limited)


# --- HTTP metrics ------------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status(scraper, alice):
    project = create_project(scraper, alice)
    missing = str(uuid.uuid4())
    assert scraper.get(project_url(project["id"]), headers=alice.headers).status_code == 200
    assert scraper.get(project_url(missing), headers=alice.headers).status_code == 404
    assert scraper.get(f"/nowhere/{missing}").status_code == 404
    assert scraper.delete("/health").status_code == 405
    response = scraper.get("/metrics", headers=bearer(TOKEN))
    text = response.get_data(as_text=True)
    assert project["id"] not in text and missing not in text  # ids never become labels
    samples = parse(text)

    def count(method: str, route: str, status: int) -> float | None:
        labels = {"method": method, "route": route, "status": str(status)}
        return value(samples, "collab_http_requests_total", **labels)

    assert count("GET", PROJECT_ROUTE, 200) >= 1
    assert count("GET", PROJECT_ROUTE, 404) >= 1
    assert count("POST", PROJECTS, 201) >= 1
    assert count("GET", "<unmatched>", 404) >= 1
    assert count("DELETE", "<unmatched>", 405) >= 1
    latency = {"method": "GET", "route": PROJECT_ROUTE, "status": "200"}
    assert value(samples, "collab_http_request_duration_seconds_count", **latency) >= 1
    assert value(samples, "collab_http_request_duration_seconds_bucket", **latency, le="+Inf")
    assert not [name for name, _ in samples if name.endswith("_created")]


def test_unknown_methods_share_one_label(scraper):
    scraper.open("/health", method="BREW")
    labels = {"method": "other", "route": "<unmatched>", "status": "405"}
    assert value(scrape(scraper), "collab_http_requests_total", **labels) >= 1


def test_each_app_has_its_own_registry(metrics_app, make_app):
    other = make_app(METRICS_TOKEN=TOKEN)  # no "Duplicated timeseries" error
    assert other.extensions["collab_metrics"].registry is not (
        metrics_app.extensions["collab_metrics"].registry
    )
    other.test_client().get("/health")
    labels = {"method": "GET", "route": "/health", "status": "200"}
    assert value(scrape(other.test_client()), "collab_http_requests_total", **labels) == 1


# --- what is read at scrape time ---------------------------------------------------------------


def test_queue_depth_reflects_enqueued_jobs(scraper, metrics_app):
    before = scrape(scraper)
    assert value(before, "collab_rq_queue_depth", queue=JOBS_QUEUE) == 0
    with metrics_app.app_context():
        queue(JOBS_QUEUE).enqueue(job_tasks.execute_job, str(uuid.uuid4()))
    after = scrape(scraper)
    assert value(after, "collab_rq_queue_depth", queue=JOBS_QUEUE) == 1
    assert value(after, "collab_rq_queue_depth", queue=DEFAULT_QUEUE) == 0
    assert value(after, "collab_redis_scrape_error") == 0


def test_jobs_by_status_reflect_the_stored_documents(scraper, jobs_collection):
    jobs_collection.delete_many({})
    jobs_collection.insert_many(
        [stored_job(Status.PENDING), stored_job(Status.PENDING), stored_job(Status.RUNNING)]
        + [stored_job(Status.COMPLETED) for _ in range(3)]
    )
    samples = scrape(scraper)
    counts = {status.value: value(samples, "collab_jobs", status=status.value) for status in Status}
    assert counts == {"pending": 2, "running": 1, "completed": 3, "cancelled": 0, "failed": 0}
    assert value(samples, "collab_jobs_scrape_error") == 0


def test_a_scrape_still_answers_while_mongodb_is_down(app, make_app):
    down = make_app(MONGODB_URL="mongodb://127.0.0.1:9", METRICS_TOKEN=TOKEN).test_client()
    started = time.monotonic()
    samples = scrape(down)
    assert time.monotonic() - started < 2.5  # the collector's own timeout, not the client's
    assert value(samples, "collab_jobs_scrape_error") == 1
    assert not [name for name, _ in samples if name == "collab_jobs"]
    assert value(samples, "collab_redis_scrape_error") == 0


def test_a_scrape_still_answers_while_redis_is_down(app, make_app):
    down = make_app(REDIS_URL="redis://127.0.0.1:9/0", METRICS_TOKEN=TOKEN).test_client()
    samples = scrape(down)
    assert value(samples, "collab_redis_scrape_error") == 1
    assert not [name for name, _ in samples if name == "collab_rq_queue_depth"]
    assert value(samples, "collab_jobs_scrape_error") == 0


def finished_job(status: Status, seconds: float) -> JobDocument:
    started = utcnow()
    job = JobDocument(user_id="u", language="python", code="", stdin="", limits={})
    finished = started + timedelta(seconds=seconds)
    return replace(job, status=status.value, started_at=started, finished_at=finished)


def test_job_durations_are_a_histogram_shared_by_every_worker(scraper, metrics_app):
    with metrics_app.app_context():
        for status, seconds in [("completed", 0.2), ("completed", 1.5), ("failed", 45)]:
            record_job_duration(finished_job(Status(status), seconds))
    samples = scrape(scraper)

    def bucket(status: str, le: str) -> float | None:
        return value(samples, "collab_job_duration_seconds_bucket", status=status, le=le)

    assert (bucket("completed", "0.1"), bucket("completed", "0.25")) == (0, 1)
    assert (bucket("completed", "2.5"), bucket("completed", "+Inf")) == (2, 2)
    assert value(samples, "collab_job_duration_seconds_count", status="completed") == 2
    assert value(samples, "collab_job_duration_seconds_sum", status="completed") == 1.7
    assert (bucket("failed", "30.0"), bucket("failed", "60.0")) == (0, 1)


@pytest.mark.skipif(
    not SANDBOX_USABLE and not os.environ.get("COLLAB_REQUIRE_SANDBOX"),
    reason="needs the sandbox (root, cgroups, bubblewrap)",
)
def test_a_job_run_by_a_worker_is_counted(
    scraper, metrics_app, alice, jobs_collection, live_worker
):
    job = {"language": "python", "code": "print(1)"}
    response = scraper.post("/api/v1/jobs", json=job, headers=alice.headers)
    assert response.status_code == 202, response.get_json()
    assert value(scrape(scraper), "collab_jobs", status="pending") == 1
    with metrics_app.app_context():
        SimpleWorker([job_tasks.jobs_queue()], connection=rq_connection()).work(burst=True)
    samples = scrape(scraper)
    assert value(samples, "collab_jobs", status="completed") == 1
    assert value(samples, "collab_job_duration_seconds_count", status="completed") == 1
    assert value(samples, "collab_rq_queue_depth", queue=JOBS_QUEUE) == 0


# --- X-Request-ID --------------------------------------------------------------------------------


def test_a_request_id_is_generated_and_returned(client):
    first = client.get("/health").headers["X-Request-ID"]
    second = client.get("/health").headers["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize("incoming", ["abc-123", "Root=1-67891233;Parent=5 x", "x" * 200])
def test_a_sane_incoming_request_id_is_honoured(client, incoming):
    assert client.get("/health", headers={"X-Request-ID": incoming}).headers[
        "X-Request-ID"
    ] == incoming  # fmt: skip


@pytest.mark.parametrize("incoming", ["x" * 201, "caf\u00e9", "tab\there", " "])
def test_an_insane_incoming_request_id_is_replaced(client, incoming):
    returned = client.get("/health", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert returned != incoming.strip() and len(returned) == 32


def test_error_responses_carry_the_request_id_too(client, alice):
    huge = {"data": "x" * (1024 * 1024 + 1), "content_type": "application/json"}
    cases = [
        (client.get("/nowhere"), 404),
        (client.delete("/health"), 405),
        (client.post(PROJECTS, data="name=x", headers=alice.headers), 415),
        (client.post(PROJECTS, headers=alice.headers, **huge), 413),
        (client.post(PROJECTS, json={}, headers=alice.headers), 422),
        (client.get(PROJECTS), 401),
    ]
    for response, status in cases:
        assert_error(response, status)
        assert len(response.headers["X-Request-ID"]) == 32
    chosen = client.post(PROJECTS, data="x", headers={**alice.headers, "X-Request-ID": "e-415"})
    assert (chosen.status_code, chosen.headers["X-Request-ID"]) == (415, "e-415")


def test_browsers_may_read_the_request_id(make_app):
    client = make_app(CORS_ORIGINS="https://app.example.com").test_client()
    response = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]


# --- log records -------------------------------------------------------------------------------


@pytest.fixture()
def json_log(caplog):
    """The JSON lines the app's handler would write, from every logger at INFO and above."""
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonLineFormatter())
    logging.getLogger().addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger().removeHandler(handler)


def test_request_log_lines_carry_the_request_and_user_ids(client, alice, json_log):
    project = create_project(client, alice)
    client.get(project_url(project["id"]), headers={**alice.headers, "X-Request-ID": "req-42"})
    client.get("/nowhere", headers={"X-Request-ID": "req-43"})
    lines = {line.get("request_id"): line for line in json_log()}
    line = lines["req-42"]
    assert {"time", "level", "logger", "message"} <= set(line)
    assert (line["level"], line["logger"], line["user_id"]) == ("INFO", "collab.requests", alice.id)
    assert (line["route"], line["status"], line["method"]) == (PROJECT_ROUTE, 200, "GET")
    assert line["message"] == f"GET {project_url(project['id'])} 200"
    assert line["time"].endswith("+00:00")
    assert "user_id" not in lines["req-43"]  # anonymous


def test_socket_events_log_the_user_of_their_connection(app, alice):
    connection = Connection("sid-1", uuid.UUID(alice.id), "alice", uuid.uuid4(), time.time() + 60)
    live[connection.sid] = connection
    record = logging.LogRecord("collab.realtime", logging.INFO, __file__, 1, "event", (), None)
    try:
        with app.test_request_context(environ_base={"collab.request_id": "socket-1"}):
            request.sid = connection.sid  # as Flask-SocketIO sets it for an event
            ContextFilter().filter(record)
    finally:
        live.pop(connection.sid)
    assert (record.request_id, record.user_id) == ("socket-1", alice.id)


def test_the_request_lines_can_be_switched_off(make_app, json_log):
    make_app(LOG_REQUESTS="false").test_client().get("/health", headers={"X-Request-ID": "off"})
    make_app().test_client().get("/health", headers={"X-Request-ID": "on"})
    assert [line["request_id"] for line in json_log() if line["logger"] == "collab.requests"] == [
        "on"
    ]


def test_exceptions_are_logged_with_their_text(app, json_log):
    with app.test_request_context(environ_base={"collab.request_id": "req-err"}):
        try:
            int("not a number")
        except ValueError:
            logging.getLogger("collab.test").exception("it broke")
    [line] = [line for line in json_log() if line["logger"] == "collab.test"]
    assert (line["level"], line["message"], line["request_id"]) == ("ERROR", "it broke", "req-err")
    assert "ValueError: invalid literal" in line["exception"]


def noisy_task(word: str) -> None:
    logging.getLogger("tests.noisy").warning("working on %s", word)


def test_every_job_of_the_worker_logs_its_job_id(app, json_log):
    with app.app_context():
        job = queue(DEFAULT_QUEUE).enqueue(noisy_task, "it")
        CollabWorker([queue(DEFAULT_QUEUE)], connection=rq_connection()).work(burst=True)
    lines = json_log()
    [line] = [line for line in lines if line["logger"] == "tests.noisy"]
    assert (line["message"], line["job_id"]) == ("working on it", job.id)
    rq_ids = {line.get("job_id") for line in lines if line["logger"] == "rq.worker"}
    assert job.id in rq_ids and rq_ids <= {job.id, None}  # None: between jobs


def test_text_lines_end_with_the_known_ids(app):
    formatter = TextFormatter()
    record = logging.LogRecord("collab.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    assert formatter.format(record).endswith("INFO collab.x: hello you")
    record.request_id, record.user_id = "r1", "u1"
    assert formatter.format(record).endswith("hello you [request_id=r1 user_id=u1]")


def test_log_format_defaults_to_json_in_production_only(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert config_module.log_format("production") == "json"
    assert config_module.log_format("staging") == "json"
    assert config_module.log_format("development") == "text"
    assert config_module.log_format("testing") == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert config_module.log_format("development") == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        config_module.log_format("production")


# --- real processes ----------------------------------------------------------------------------


def json_lines(path) -> list[dict]:
    """The JSON lines of a process's stderr (gunicorn's own lines are its plain text)."""
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def wait_for_line(path, predicate, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [line for line in json_lines(path) if predicate(line)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no such log line in {path.read_text()[-3000:]}")


def test_a_gunicorn_instance_writes_json_lines_and_serves_metrics(base_env, make_user, tmp_path):
    alice = make_user("alice")
    log_path = tmp_path / "web.log"
    env = {**base_env, "LOG_FORMAT": "json", "METRICS_TOKEN": TOKEN, "RATELIMIT_ENABLED": "false"}
    with open(log_path, "wb") as log_file:
        web = WebInstance(env, stderr=log_file)
    try:
        created = requests.post(f"{web.url}{PROJECTS}", json={"name": "P"}, headers=alice.headers)
        project_id = created.json()["id"]
        response = requests.get(
            f"{web.url}{project_url(project_id)}",
            headers={**alice.headers, "X-Request-ID": "gunicorn-1"},
        )
        assert response.headers["X-Request-ID"] == "gunicorn-1"
        line = wait_for_line(log_path, lambda line: line.get("request_id") == "gunicorn-1")
        assert (line["user_id"], line["logger"], line["status"]) == (
            alice.id,
            "collab.requests",
            200,
        )
        assert_ids_never_cross(web.url, log_path, alice, make_user("bob"))
        with connected(web.url, alice.access_token):
            metrics = requests.get(f"{web.url}/metrics", headers=bearer(TOKEN))
            assert value(parse(metrics.text), "collab_socketio_connections") == 1
        assert project_id not in metrics.text
        labels = {"method": "GET", "route": PROJECT_ROUTE, "status": "200"}
        assert value(parse(metrics.text), "collab_http_requests_total", **labels) == 1
        assert value(parse(metrics.text), "process_resident_memory_bytes") > 0
        deadline = time.monotonic() + 10
        while value(scrape_url(web.url), "collab_socketio_connections") != 0:
            assert time.monotonic() < deadline, "the socket is still counted"
            time.sleep(0.1)
    finally:
        web.stop()


def assert_ids_never_cross(url: str, log_path, *accounts) -> None:
    """Concurrent requests, each served in its own greenlet: every request line carries its
    own request's id and its own caller."""

    def call(index: int) -> tuple[str, str]:
        account = accounts[index % len(accounts)]
        request_id = f"concurrent-{index}"
        headers = {**account.headers, "X-Request-ID": request_id}
        assert requests.get(f"{url}{PROJECTS}", headers=headers, timeout=10).status_code == 200
        return request_id, account.id

    with ThreadPoolExecutor(16) as pool:
        expected = dict(pool.map(call, range(48)))
    deadline = time.monotonic() + 10
    while True:
        logged = {
            line["request_id"]: line.get("user_id")
            for line in json_lines(log_path)
            if line.get("request_id", "").startswith("concurrent-")
        }
        if len(logged) == len(expected) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert logged == expected


def scrape_url(url: str) -> dict:
    return parse(requests.get(f"{url}/metrics", headers=bearer(TOKEN), timeout=5).text)


def test_a_worker_process_writes_job_ids_in_its_json_lines(
    app, base_env, tmp_path, jobs_collection
):
    job = stored_job(Status.CANCELLED)  # skipped at once: no sandbox needed
    jobs_collection.insert_one(job)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "worker.py", JOBS_QUEUE],
            cwd=ROOT,
            env={**os.environ, **base_env, "LOG_FORMAT": "json"},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,
        )
    try:
        with app.app_context():
            # Straight onto the RQ queue, as a job queued before fair scheduling: through
            # fair.submit the worker's start-up maintenance could withdraw it first (MongoDB
            # says it is cancelled), and nothing would run.
            job_tasks.jobs_queue().enqueue(job_tasks.execute_job, job["_id"], job_id=job["_id"])
        skipped = wait_for_line(log_path, lambda line: "no longer pending" in line["message"])
        assert (skipped["job_id"], skipped["logger"]) == (job["_id"], "collab.jobs.tasks")
        wait_for_line(
            log_path,
            lambda line: line["logger"] == "rq.worker" and line.get("job_id") == job["_id"],
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
