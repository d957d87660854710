"""How the app uses its relational database, beyond the models: per-backend connection set-up,
reads without transactions, and what a database outage looks like to a client."""

from __future__ import annotations

import logging

from flask import Flask, request
from flask.typing import ResponseReturnValue
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError

from collab.errors import error_response
from collab.extensions import AUTOCOMMIT, db

log = logging.getLogger(__name__)
READ_METHODS = {"GET", "HEAD"}


def enable_sqlite_pragmas(app: Flask) -> None:
    """Foreign keys (ON DELETE CASCADE) and concurrent readers on the embedded database."""
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def set_pragmas(connection, record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def reads_in_autocommit() -> None:
    """GET and HEAD never write: their statements run without BEGIN/ROLLBACK round trips
    (each statement still sees a consistent snapshot). Only marked here: no connection is
    taken until a query needs one, so a request answered from Redis never touches the pool."""
    db.session.info[AUTOCOMMIT] = request.method in READ_METHODS


def database_unavailable(error: DBAPIError) -> ResponseReturnValue:
    """A lost or refused connection is an outage (503, retry), not a bug (500). The pool has
    already discarded the dead connections, so the next request reconnects."""
    db.session.rollback()
    log.error("database unavailable: %s", type(error.orig).__name__)
    return error_response(
        503, "The database is unavailable; try again shortly", {"Retry-After": "5"}
    )


def handle_operational_error(error: OperationalError) -> ResponseReturnValue:
    if is_outage(error):
        return database_unavailable(error)
    raise error


def is_outage(error: Exception) -> bool:
    """The database went away (restarted, unreachable): the request was fine, retry it."""
    if not isinstance(error, OperationalError):
        return False
    return error.connection_invalidated or is_connection_failure(error)


def is_connection_failure(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(sign in text for sign in ("connection", "could not connect", "server closed"))


def init_database(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        enable_sqlite_pragmas(app)
    app.before_request(reads_in_autocommit)
    app.register_error_handler(OperationalError, handle_operational_error)
