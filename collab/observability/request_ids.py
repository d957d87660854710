"""X-Request-ID: each request's id, taken from the caller (a proxy, a client) when it is sane,
generated otherwise, returned on every response and written in every log record of the request.

A WSGI middleware rather than a Flask hook: it runs before anything else in the app (the rate
limiter, the body checks, Socket.IO's transport), so no response can leave without the header.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable

from flask import has_request_context, request

HEADER = "X-Request-ID"
MAX_LENGTH = 200
# Printable ASCII only: the id is echoed in a response header and written in log lines.
ACCEPTED = re.compile(rf"[\x20-\x7e]{{1,{MAX_LENGTH}}}")
ENVIRON_ID = "collab.request_id"
ENVIRON_STARTED = "collab.request_started"


def accepted(value: str | None) -> str | None:
    """The caller's request id if it is printable and at most MAX_LENGTH long, else None."""
    value = (value or "").strip()
    return value if ACCEPTED.fullmatch(value) else None


def current_request_id() -> str | None:
    """The id of the request being handled (Socket.IO events: their connection's)."""
    return request.environ.get(ENVIRON_ID) if has_request_context() else None


def elapsed() -> float:
    """Seconds since the request reached the app."""
    return time.perf_counter() - request.environ.get(ENVIRON_STARTED, time.perf_counter())


class RequestIdMiddleware:
    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        environ[ENVIRON_STARTED] = time.perf_counter()
        request_id = accepted(environ.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        environ[ENVIRON_ID] = request_id

        def start_with_id(status: str, headers: list, exc_info=None):
            return start_response(status, [*headers, (HEADER, request_id)], exc_info)

        return self.wsgi_app(environ, start_with_id)
