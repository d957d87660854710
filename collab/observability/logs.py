"""Log records: one line each on stderr, JSON (LOG_FORMAT=json, the production default) or
text, carrying the ids of what was being done when they were written:

- request_id: the HTTP request's (see request_ids.py), or the Socket.IO connection's;
- user_id: the caller, once a view has verified their token (or the socket's user), read from
  what is already in memory, never from the database;
- job_id: the RQ job the worker is running (`job_context`, set for every job by worker.py and
  by `execute_job` itself).

The ids live in Flask's request context and in a ContextVar, both per greenlet under gevent
(greenlet >= 0.4.17 gives each greenlet its own contextvars context): concurrent requests never
see each other's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import wraps

from flask import Flask, Response, has_request_context, request
from flask_jwt_extended import get_jwt_identity
from pythonjsonlogger.json import JsonFormatter

from collab.observability.request_ids import current_request_id, elapsed

HANDLER_NAME = "collab"
CONTEXT_FIELDS = ("request_id", "user_id", "job_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

current_job_id: ContextVar[str | None] = ContextVar("collab_job_id", default=None)
requests_log = logging.getLogger("collab.requests")


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Every record written inside the block carries `job_id`."""
    token = current_job_id.set(job_id)
    try:
        yield
    finally:
        current_job_id.reset(token)


def with_job_id(task: Callable) -> Callable:
    """For an RQ task whose first argument is its job's id."""

    @wraps(task)
    def run(job_id: str, *args, **kwargs):
        with job_context(job_id):
            return task(job_id, *args, **kwargs)

    return run


def known_user_id() -> str | None:
    if not has_request_context():
        return None
    try:
        return get_jwt_identity()  # set only once a view has verified the token
    except RuntimeError:
        pass
    sid = getattr(request, "sid", None)  # a Socket.IO event
    if sid is None:
        return None
    from collab.realtime.connections import live  # the socket layer imports the app's modules

    connection = live.get(sid)
    return str(connection.user_id) if connection else None


class ContextFilter(logging.Filter):
    """Adds request_id, user_id and job_id to a record, those that are known."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = {
            "request_id": current_request_id(),
            "user_id": known_user_id(),
            "job_id": current_job_id.get(),
        }
        for name, value in values.items():
            if value is not None and name not in record.__dict__:
                setattr(record, name, value)
        return True


class JsonLineFormatter(JsonFormatter):
    """{"time", "level", "logger", "message", ...ids, ...extra fields, "exception"?}"""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """The usual line, followed by the ids that are known: `[request_id=... user_id=...]`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        ids = [
            f"{name}={record.__dict__[name]}" for name in CONTEXT_FIELDS if name in record.__dict__
        ]
        return f"{line} [{' '.join(ids)}]" if ids else line


def configure_logging(app: Flask) -> None:
    """One handler on the root logger, to stderr, in the app's LOG_FORMAT.

    Like logging.basicConfig, it leaves alone a logging set up before the app (by pytest, or a
    program embedding the app); unlike it, it is applied again by the next app of the process.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == HANDLER_NAME), None)
    if handler is None:
        if root.handlers:
            return
        handler = logging.StreamHandler()
        handler.set_name(HANDLER_NAME)
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    json_lines = app.config["LOG_FORMAT"] == "json"
    handler.setFormatter(JsonLineFormatter() if json_lines else TextFormatter())
    root.setLevel(app.config["LOG_LEVEL"])


# Path arguments that are credentials (a share link's token): never written to the log.
SECRET_PATH_ARGUMENTS = ("token",)


def logged_path() -> str:
    """The request's path with its credentials replaced by `redacted`."""
    args = request.view_args or {}
    secrets = {str(args[name]) for name in SECRET_PATH_ARGUMENTS if name in args}
    if not secrets:
        return request.path
    return "/".join("redacted" if part in secrets else part for part in request.path.split("/"))


def log_request(response: Response) -> Response:
    """One line per request served by Flask (after_request), with its request and user ids:
    the access log (LOG_REQUESTS=false leaves it to the proxy in front)."""
    if not requests_log.isEnabledFor(logging.INFO):
        return response
    rule = request.url_rule
    path = logged_path()
    requests_log.info(
        "%s %s %s",
        request.method,
        path,
        response.status_code,
        extra={
            "method": request.method,
            "path": path,
            "route": rule.rule if rule else None,
            "status": response.status_code,
            "duration_ms": round(elapsed() * 1000, 2),
        },
    )
    return response
