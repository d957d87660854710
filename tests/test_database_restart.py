"""A PostgreSQL restart, for real: a private cluster (never the machine's own) is restarted
under an app whose pool holds connections the restart has dropped."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade

from collab.devstack import LOOPBACK, free_port
from collab.extensions import db

PROJECTS = "/api/v1/projects"
POOLED = 5  # connections in the pool when the database restarts


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: pg_config's answer, else Debian's newest."""
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in filter(None, candidates):
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


BINDIR = postgres_bindir()
pytestmark = pytest.mark.skipif(BINDIR is None, reason="no PostgreSQL server binaries")


class Cluster:
    """A PostgreSQL cluster of its own in a temporary folder, on a free loopback port."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: root's folder there is closed to the postgres user.
        self.dir = Path(tempfile.mkdtemp(prefix="collab-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"
        # PostgreSQL refuses to run as root: as root, run it as postgres.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(self.dir, "postgres", "postgres")

    def run(self, binary: str, *args: str) -> None:
        command = [*self.as_owner, str(BINDIR / binary), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def pg_ctl(self, action: str, *args: str) -> None:
        # -l: the server's output goes to a file, not to a pipe this process would wait on.
        self.run("pg_ctl", action, "-D", str(self.dir / "data"), "-l", str(self.dir / "log"),
                 "-w", "-t", "30", *args)  # fmt: skip

    def start(self) -> None:
        self.run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust",
                 "--no-sync")  # fmt: skip
        self.resume()

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses={LOOPBACK} -c fsync=off"
        self.pg_ctl("start", "-o", options)

    def halt(self) -> None:
        """Down, its data kept, until resume()."""
        self.pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """Fast mode: the server ends every client connection at once."""
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        try:
            self.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(make_app) -> Iterator[Cluster]:
    """The private cluster, migrated to head."""
    cluster = Cluster()
    try:
        cluster.start()
        app = make_app(DATABASE_URL=cluster.url)
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def make_restart_app(make_app, cluster) -> Iterator:
    """An app on the private cluster. Login sessions are not cached in Redis, so every
    authenticated request needs the database; rate limits stay out of the way."""
    apps: list[Flask] = []

    def build(**overrides: str) -> Flask:
        app = make_app(
            DATABASE_URL=cluster.url,
            SESSION_CACHE_SECONDS="0",
            RATELIMIT_ENABLED="false",
            **overrides,
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def sign_up(app: Flask) -> dict[str, str]:
    """A new user, signed in: its Authorization header."""
    client = app.test_client()
    name = f"user{uuid.uuid4().hex[:8]}"
    account = {"email": f"{name}@example.com", "password": "correct horse battery"}
    registered = client.post("/api/v1/auth/register", json={**account, "username": name})
    assert registered.status_code == 201, registered.json
    tokens = client.post("/api/v1/auth/login", json=account).json
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def fill_pool(app: Flask, size: int) -> None:
    """Leave `size` open connections in the pool, as that many concurrent requests do."""
    with app.app_context():
        engine = db.engine
    connections = [engine.connect() for _ in range(size)]
    for connection in connections:
        connection.exec_driver_sql("SELECT 1")
        connection.close()
    assert engine.pool.checkedin() == size


def get_all(app: Flask, urls: list[str], headers: dict[str, str]) -> list[int]:
    """GET the urls at once, one thread (and pooled connection) each: their status codes."""

    def get(url: str) -> int:
        return app.test_client().get(url, headers=headers).status_code

    with ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(get, urls))


def test_reads_and_writes_survive_a_restart_with_pre_ping(make_restart_app, cluster):
    app = make_restart_app()
    headers = sign_up(app)
    client = app.test_client()
    project = client.post(PROJECTS, json={"name": "Before"}, headers=headers).json
    fill_pool(app, POOLED)

    cluster.restart()

    detail = f"{PROJECTS}/{project['id']}"
    assert get_all(app, [PROJECTS, detail] * POOLED, headers) == [200] * (2 * POOLED)
    for url in [PROJECTS, detail] * POOLED:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.json
    response = client.post(PROJECTS, json={"name": "After"}, headers=headers)
    assert response.status_code == 201, response.json
    names = {item["name"] for item in client.get(PROJECTS, headers=headers).json}
    assert names == {"Before", "After"}


def test_without_pre_ping_the_first_read_after_a_restart_is_503(make_restart_app, cluster):
    app = make_restart_app(DB_POOL_PRE_PING="false")
    headers = sign_up(app)
    client = app.test_client()
    client.post(PROJECTS, json={"name": "Before"}, headers=headers)
    fill_pool(app, POOLED)

    cluster.restart()

    first = client.get(PROJECTS, headers=headers)
    assert first.status_code == 503, first.json
    assert first.json["message"] == "The database is unavailable; try again shortly"
    # The failure invalidated the whole pool: the next request reconnects.
    assert client.get(PROJECTS, headers=headers).status_code == 200


def test_an_edit_while_the_database_is_down_is_unavailable_then_taken(
    make_restart_app, cluster, base_env
):
    from tests.realtime_support import Replica, WebInstance, connected

    app = make_restart_app()
    headers = sign_up(app)
    client = app.test_client()
    project = client.post(PROJECTS, json={"name": "Live"}, headers=headers).json
    workspaces = f"{PROJECTS}/{project['id']}/workspaces"
    workspace = client.post(workspaces, json={"name": "main"}, headers=headers).json
    documents = f"{workspaces}/{workspace['id']}/documents"
    document = client.post(documents, json={"name": "notes.md"}, headers=headers).json
    env = {**base_env, "DATABASE_URL": cluster.url, "RATELIMIT_ENABLED": "false"}
    instance = WebInstance(env)
    try:
        token = headers["Authorization"].removeprefix("Bearer ")
        with connected(instance.url, token) as socket:
            socket.ok("workspace:join", {"workspace_id": workspace["id"]})
            replica = Replica()
            edit = {"workspace_id": workspace["id"], "doc_id": document["id"],
                    "update": replica.insert(0, "kept")}  # fmt: skip

            cluster.halt()
            try:
                refused = socket.call("doc:update", edit)
            finally:
                cluster.resume()

            # Not "internal": an outage the client waits out, as REST's 503 with Retry-After.
            assert refused["ok"] is False, refused
            assert refused["error"]["code"] == "unavailable", refused
            assert refused["error"]["details"]["retry_after_ms"] > 0
            assert socket.ok("doc:update", edit)["seq"] == 1
    finally:
        instance.stop()
    content = client.get(f"{documents}/{document['id']}", headers=headers).json["content"]
    assert content == "kept"
