"""Fixtures: real servers, a migrated database, users with tokens.

Redis and the MongoDB-compatible server are started by the suite itself (the same helpers as
`make run`), unless TEST_REDIS_URL / TEST_MONGODB_URL point at running ones. The database is a
fresh SQLite file, or PostgreSQL when TEST_DATABASE_URL is set. Only TEST_* variables are read,
so a developer's DATABASE_URL is never wiped by a test run.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from collab import create_app
from collab.config import TestConfig
from collab.devstack import free_port, mongo_server, redis_server

# Background threads (the activity flusher, job maintenance) may still log while pytest closes
# its capture streams at exit: ignore such logging errors instead of printing tracebacks.
logging.raiseExceptions = False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    port = free_port()
    with redis_server(port):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    if os.environ.get("TEST_MONGODB_URL"):
        yield os.environ["TEST_MONGODB_URL"]
        return
    port = free_port()
    with mongo_server(port):
        yield f"mongodb://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'collab.db'}"
    )


@pytest.fixture(scope="session")
def base_env(database_url, redis_url, mongo_url) -> dict[str, str]:
    return {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MONGODB_URL": mongo_url,
        "MONGODB_DATABASE": "collab_test",
        "FEATURE_FLAG_CACHE_SECONDS": "0",
    }


@pytest.fixture(scope="session")
def make_app(base_env) -> Iterator:
    """Build an app from the test environment plus overrides (as environment variables)."""
    saved = dict(os.environ)

    def build(**overrides: str) -> Flask:
        os.environ.clear()
        os.environ.update(saved)
        os.environ.update(base_env)
        os.environ.update(overrides)
        try:
            return create_app(TestConfig())
        finally:
            os.environ.clear()
            os.environ.update(saved)

    yield build


@pytest.fixture(scope="session")
def app(make_app) -> Flask:
    app = make_app()
    migrate_from_scratch(app)
    return app


def migrate_from_scratch(app: Flask) -> None:
    """The schema comes from the migrations, exactly as in production."""
    from flask_migrate import upgrade

    from collab.extensions import db

    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()


@pytest.fixture(autouse=True)
def clean_state(request) -> Iterator[None]:
    """Each test starts with empty tables and an empty Redis."""
    yield
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    from collab.extensions import db, redis_client

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        redis_client.flushdb()
        app.extensions["collab_flags"].invalidate()


@pytest.fixture()
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


@pytest.fixture()
def raw_redis(redis_url) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


@dataclass
class Account:
    id: str
    email: str
    username: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture()
def make_user(app):
    """Create a user straight in the database and open a session for it (no HTTP login, so
    tests are not throttled by the login rate limit)."""
    from collab.auth.passwords import passwords
    from collab.auth.tokens import open_session
    from collab.extensions import db
    from collab.models import User

    def make(username: str | None = None, password: str = "correct horse battery", **fields):
        username = username or f"user{uuid.uuid4().hex[:8]}"
        email = fields.pop("email", f"{username.lower()}@example.com")
        with app.test_request_context():
            user = User(
                email=email, username=username, password_hash=passwords().hash(password), **fields
            )
            db.session.add(user)
            db.session.commit()
            tokens = open_session(user)
            return Account(
                str(user.id),
                email,
                username,
                password,
                tokens["access_token"],
                tokens["refresh_token"],
            )

    return make


@pytest.fixture()
def alice(make_user) -> Account:
    return make_user("alice")


@pytest.fixture()
def bob(make_user) -> Account:
    return make_user("bob")


@pytest.fixture(scope="module")
def instances(app, base_env):
    """Two web instances (gunicorn, gevent) sharing the suite's database and Redis: Socket.IO
    rooms span them."""
    from tests.realtime_support import start_instances

    started = start_instances(base_env, 2)
    yield started
    for instance in started:
        instance.stop()


@pytest.fixture()
def team(client, make_user):
    """A private project with one account per role (tests/helpers_projects.Team)."""
    from tests.helpers_projects import make_team

    return make_team(client, make_user, is_public=False)


@pytest.fixture(scope="session")
def worker_report():
    """What a job worker's start-up probe finds on this machine (the real probe: bubblewrap,
    the seccomp filter and every installed language run in the sandbox), probed once."""
    from collab.jobs import workers

    return workers.probe()


@pytest.fixture()
def live_worker(app, worker_report) -> str:
    """A job worker that has started here: its report advertised in Redis as worker.py's
    heartbeat does, so the API offers what it runs. The jobs themselves are run by the tests'
    own RQ workers. Its name."""
    from collab.jobs import workers

    with app.app_context():
        workers.advertise("tests-worker", worker_report)
    return "tests-worker"
