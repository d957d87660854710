"""Request-wide rules that no single view owns: body size, content types, maintenance mode,
the JSON every API blueprint accepts (its Blueprint and parser)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from functools import wraps

import flask_smorest as smorest
from flask import Flask, current_app, request
from flask_smorest import abort
from webargs.flaskparser import FlaskParser
from werkzeug.wsgi import get_content_length

from collab import flags

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Still served during maintenance, so that admins can log in, switch it off and tend the queues.
MAINTENANCE_EXEMPT_BLUEPRINTS = {"admin", "health", "rq_dashboard"}
MAINTENANCE_EXEMPT_ENDPOINTS = {"auth.Login", "auth.Refresh", "auth.Logout"}


def has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")


def require_json_body() -> None:
    if request.routing_exception is not None:
        return  # an unknown route or method answers 404/405 whatever the body
    if request.method in WRITE_METHODS and has_body() and not request.is_json:
        abort(415, message="Request bodies must be JSON (Content-Type: application/json)")


def maintenance_exempt(endpoint: str) -> bool:
    blueprint = endpoint.rpartition(".")[0]
    return blueprint in MAINTENANCE_EXEMPT_BLUEPRINTS or endpoint in MAINTENANCE_EXEMPT_ENDPOINTS


def refuse_writes_in_maintenance() -> None:
    if (
        request.method not in WRITE_METHODS
        or request.endpoint is None
        or maintenance_exempt(request.endpoint)
    ):
        return
    if flags.is_enabled(flags.MAINTENANCE_MODE.name):
        abort(503, message="The service is in maintenance mode; try again later")


class StreamedBodyLimit:
    """WSGI middleware: the 1 MiB cap for bodies sent without Content-Length (chunked).

    Werkzeug does not refuse such a body when it is over MAX_CONTENT_LENGTH: it silently cuts
    it at the cap, so a view would parse a truncated body, or accept one padded past the cap.
    Here the body is buffered up to one byte past the cap and given a Content-Length instead of
    its chunked Transfer-Encoding; Werkzeug then answers 413 for it as for any declared
    oversized body.
    """

    def __init__(self, wsgi_app: Callable, max_length: int) -> None:
        self.wsgi_app = wsgi_app
        self.max_length = max_length

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        # Werkzeug's own test: no Content-Length, or a chunked Transfer-Encoding (which wins).
        if environ.get("wsgi.input_terminated") and get_content_length(environ) is None:
            body = read_at_most(environ["wsgi.input"], self.max_length + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.wsgi_app(environ, start_response)


def read_at_most(stream, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = stream.read(min(64 * 1024, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


LARGER_BODIES = {("POST", "/api/v1/jobs"): "JOBS_MAX_CONTENT_LENGTH"}


def allow_larger_bodies() -> None:
    """The few requests whose bodies may exceed MAX_CONTENT_LENGTH (a job with its tests)."""
    setting = LARGER_BODIES.get((request.method, request.path))
    if setting is not None:
        request.max_content_length = current_app.config[setting]


def register_request_rules(app: Flask) -> None:
    if app.config.get("MAX_CONTENT_LENGTH"):
        largest = max(
            app.config["MAX_CONTENT_LENGTH"], *(app.config[s] for s in LARGER_BODIES.values())
        )
        app.wsgi_app = StreamedBodyLimit(app.wsgi_app, largest)
    # First: before anything (the rate limiter's key functions) reads the body.
    app.before_request_funcs.setdefault(None, []).insert(0, allow_larger_bodies)
    app.before_request(require_json_body)
    app.before_request(refuse_writes_in_maintenance)


class JsonParser(FlaskParser):
    """webargs' parser, with the JSON bodies that Python's json module mishandles refused as
    client errors instead of crashing the view (500):
    - nesting deep enough to exhaust the recursion limit, and numbers past Python's
      4300-digit conversion limit: 400 like any malformed JSON;
    - strings that cannot be stored or hashed: lone UTF-16 surrogates ("\\ud800", which
      json.loads accepts) and NUL characters (PostgreSQL text refuses them): 422."""

    def _raw_load_json(self, req):
        try:
            body = super()._raw_load_json(req)
        except (RecursionError, ValueError) as error:
            if isinstance(error, UnicodeDecodeError | json.JSONDecodeError):
                raise
            abort(400, messages={"json": ["Invalid JSON body."]})
        bad = list(unstorable_strings(body))
        if bad:
            abort(422, messages={"json": {path: [UNSTORABLE] for path in bad}})
        return body


UNSTORABLE = "Contains a NUL character or an unpaired surrogate"


def unstorable_strings(value, path: str = "") -> Iterator[str]:
    """The paths (dotted) of the strings, keys included, that are not storable text."""
    if isinstance(value, str):
        if not storable(value):
            yield path or "_body"
    elif isinstance(value, dict):
        for key, item in value.items():
            if not storable(key):
                yield f"{path}{key!r}"
            yield from unstorable_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_strings(item, f"{path}.{index}" if path else str(index))


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isprintable():  # the common case; surrogates are never printable
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Blueprint(smorest.Blueprint):
    """flask-smorest's Blueprint for every API blueprint: the JSON parser above, and a body the
    OpenAPI document marks as required is really required (flask-smorest only documents it;
    an absent body would otherwise load as {} and a PATCH would "succeed" doing nothing)."""

    ARGUMENTS_PARSER = JsonParser()

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        parse = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json" or not required:
            return parse
        return lambda view: body_required(parse(view))


def body_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not request.get_data(cache=True):
            abort(422, messages={"json": ["A JSON body is required"]})
        return view(*args, **kwargs)

    return wrapper
