"""The product as `make run` starts it: embedded Redis and MongoDB-compatible servers, SQLite,
the Procfile's web (gunicorn, gevent) and worker processes. Driven over real HTTP and Socket.IO."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
import requests
import socketio

from collab.activity.recorder import PENDING_KEY
from collab.devstack import ROOT, free_port, redis_server, stop

STACK_VARIABLES = ("DATABASE_URL", "REDIS_URL", "MONGODB_URL", "SECRET_KEY", "APP_ENV")


def wait_until_ready(base: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the stack exited early"
        try:
            if requests.get(f"{base}/ready", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError("the stack did not become ready")


def stack_ports() -> dict[str, int]:
    return {"PORT": free_port(), "LOCAL_REDIS_PORT": free_port(), "LOCAL_MONGO_PORT": free_port()}


def start_stack(instance, ports: dict[str, int], output=subprocess.DEVNULL) -> subprocess.Popen:
    """`make run`'s process, in its own instance folder and on free ports, with none of the
    suite's own server settings leaking in."""
    env = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
    env.update(INSTANCE_DIR=str(instance), **{name: str(port) for name, port in ports.items()})
    return subprocess.Popen(
        [sys.executable, "-m", "collab.devstack"],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    ports = stack_ports()
    log = open(instance / "stack.log", "wb")  # noqa: SIM115 - closed after the stack stops
    process = start_stack(instance, ports, log)
    base = f"http://127.0.0.1:{ports['PORT']}"
    try:
        wait_until_ready(base, process)
        yield {"base": base, "process": process, "instance": instance}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        log.close()


def api(stack, method: str, path: str, token: str | None = None, **kwargs):
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(
        method, f"{stack['base']}/api/v1{path}", headers=headers, timeout=10, **kwargs
    )


def register_and_login(stack, name: str) -> str:
    email = f"{name}@example.com"
    body = {"email": email, "username": name, "password": "correct horse battery"}
    assert api(stack, "POST", "/auth/register", json=body).status_code == 201
    login = api(stack, "POST", "/auth/login", json={"email": email, "password": body["password"]})
    assert login.status_code == 200
    return login.json()


def test_readme_walkthrough(stack):
    tokens = register_and_login(stack, "ada")
    token = tokens["access_token"]
    project = api(stack, "POST", "/projects", token, json={"name": "Compiler course"})
    assert project.status_code == 201
    pid = project.json()["id"]
    workspace = api(stack, "POST", f"/projects/{pid}/workspaces", token, json={"name": "Lexer"})
    assert workspace.status_code == 201

    listing = api(stack, "GET", "/projects", token)
    assert listing.headers["X-Total-Count"] == "1"
    detail = api(stack, "GET", f"/projects/{pid}", token)
    assert detail.json()["workspaces"][0]["name"] == "Lexer"

    register_and_login(stack, "grace")
    invite = api(
        stack,
        "POST",
        f"/projects/{pid}/collaborators",
        token,
        json={"email": "grace@example.com", "role": "viewer"},
    )
    assert invite.status_code == 201 and invite.json()["role"] == "viewer"

    etag = detail.headers["ETag"]
    edit = api(
        stack,
        "PATCH",
        f"/projects/{pid}",
        token,
        headers={"If-Match": etag},
        json={"description": "Week 2"},
    )
    assert edit.status_code == 200
    stale = api(
        stack,
        "PATCH",
        f"/projects/{pid}",
        token,
        headers={"If-Match": etag},
        json={"description": "Week 3"},
    )
    assert stale.status_code == 412

    refreshed = api(stack, "POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new_token = refreshed.json()["access_token"]
    assert api(stack, "POST", "/auth/logout", new_token).status_code == 200
    assert api(stack, "GET", "/auth/me", new_token).status_code == 401


def test_socketio_over_websocket_requires_a_token(stack):
    token = register_and_login(stack, "sockets")["access_token"]
    client = socketio.Client(reconnection=False)
    client.connect(stack["base"], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    try:
        assert client.transport() == "websocket"
    finally:
        client.disconnect()

    refused = socketio.Client(reconnection=False)
    errors = []
    refused.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(
            stack["base"], auth={"token": "not-a-token"}, transports=["websocket"], wait_timeout=10
        )
    # The JS client sees this as err.data; the Python client gets the whole error packet.
    assert errors and errors[0]["data"]["code"] == "unauthorized"


def test_the_worker_is_listening(stack):
    log = (stack["instance"] / "stack.log").read_text()
    assert "Listening on collab-default" in log


def test_sigterm_stops_every_process(tmp_path):
    """A separate short-lived stack: Ctrl-C/SIGTERM leaves no server behind."""
    ports = stack_ports()
    process = start_stack(tmp_path, ports)
    wait_until_ready(f"http://127.0.0.1:{ports['PORT']}", process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) is not None
    for port in ports.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_the_embedded_redis_keeps_its_data_across_a_restart(tmp_path, signum):
    """A pending activity event written over a second before Redis stops (or is killed: no
    shutdown to save it then) is there when it starts again on the same folder."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path) as process:
        client = redis.Redis.from_url(url, decode_responses=True)
        settings = client.config_get("append*")
        assert (settings["appendonly"], settings["appendfsync"]) == ("yes", "everysec")
        client.rpush(PENDING_KEY, '{"_id": "e1"}')
        time.sleep(1.5)  # past appendfsync's second
        if signum == signal.SIGKILL:
            process.kill()
        stop(process)
    with redis_server(port, tmp_path):
        client = redis.Redis.from_url(url, decode_responses=True)
        assert client.lrange(PENDING_KEY, 0, -1) == ['{"_id": "e1"}']


def test_wsgi_patches_gevent_before_psycopg_is_imported():
    code = "import wsgi, psycopg.waiting as w; print(w.wait.__name__)"
    env = {**os.environ, "APP_ENV": "development", "INSTANCE_DIR": "/tmp/collab-wsgi-check"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "wait_poll"


def test_sigterm_during_startup_stops_the_servers_started_so_far(tmp_path):
    ports = stack_ports()
    redis_port = ports["LOCAL_REDIS_PORT"]
    process = start_stack(tmp_path, ports)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # Redis comes up first, before MongoDB and the web
        try:
            socket.create_connection(("127.0.0.1", redis_port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    time.sleep(0.5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()


def test_a_failed_login_leaves_no_traceback_in_the_log(stack):
    register_and_login(stack, "tracy")
    wrong = api(
        stack,
        "POST",
        "/auth/login",
        json={"email": "tracy@example.com", "password": "not the password"},
    )
    assert wrong.status_code == 401
    assert "Traceback" not in (stack["instance"] / "stack.log").read_text()


def wait_for_the_workers_languages(stack, token: str, timeout: float = 60) -> list[str]:
    """The worker advertises its languages once its start-up probe has run them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [item["name"] for item in api(stack, "GET", "/languages", token).json()]
        if names:
            return names
        time.sleep(0.2)
    raise AssertionError("the worker advertised no language")


def test_make_run_shows_what_the_worker_can_run(stack):
    """The console of `make run` carries the worker's start-up report (honcho prefixes it)."""
    from tests.test_sandbox import SANDBOX_USABLE

    if not SANDBOX_USABLE and not os.environ.get("COLLAB_REQUIRE_SANDBOX"):
        pytest.skip("needs root, writable cgroups and bubblewrap")
    token = register_and_login(stack, "reporter")["access_token"]
    assert "python" in wait_for_the_workers_languages(stack, token)
    console = (stack["instance"] / "stack.log").read_text()
    report = [line for line in console.splitlines() if " worker | " in line]  # "09:33:52 worker | "
    assert any("sandbox: bubblewrap" in line and "seccomp filter" in line for line in report)
    assert any("languages this worker runs: python (Python 3" in line for line in report)


def test_a_job_runs_in_the_worker_and_its_events_reach_the_submitters_socket(stack):
    """The whole path: REST submission, the Procfile's RQ worker, the sandbox, MongoDB, and the
    worker's emits crossing Redis to a browser-like Socket.IO client on the web process."""
    from tests.test_sandbox import SANDBOX_USABLE

    if not SANDBOX_USABLE and not os.environ.get("COLLAB_REQUIRE_SANDBOX"):
        pytest.skip("needs root, writable cgroups and bubblewrap")
    token = register_and_login(stack, "runner")["access_token"]
    wait_for_the_workers_languages(stack, token)
    events: list[tuple[str, dict]] = []
    client = socketio.Client(reconnection=False)
    client.on("job:status", lambda data: events.append(("job:status", data)))
    client.on("job:output", lambda data: events.append(("job:output", data)))
    client.connect(stack["base"], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    try:
        submitted = api(
            stack,
            "POST",
            "/jobs",
            token,
            json={"language": "python", "code": "print('hi from the sandbox')"},
        )
        assert submitted.status_code == 202
        job_id = submitted.json()["id"]
        done = api(stack, "GET", f"/jobs/{job_id}?wait=20", token).json()
        assert done["status"] == "completed" and done["outcome"] == "success"
        assert done["output"] == "hi from the sandbox\n"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            name == "job:status" and data.get("status") == "completed" for name, data in events
        ):
            time.sleep(0.1)
    finally:
        client.disconnect()
    statuses = [data["status"] for name, data in events if name == "job:status"]
    assert statuses[-1] == "completed" and "running" in statuses
    output = b"".join(
        data["chunk"] if isinstance(data["chunk"], bytes) else data["chunk"].encode()
        for name, data in events
        if name == "job:output" and data["job_id"] == job_id
    )
    assert output == b"hi from the sandbox\n"
