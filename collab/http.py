"""Request-wide rules that no single view owns: content types and maintenance mode."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import abort

from collab import flags

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Still served during maintenance, so that admins can log in and switch it off.
MAINTENANCE_EXEMPT_BLUEPRINTS = {"admin", "health"}
MAINTENANCE_EXEMPT_ENDPOINTS = {"auth.Login", "auth.Refresh", "auth.Logout"}


def has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")


def require_json_body() -> None:
    if request.method in WRITE_METHODS and has_body() and not request.is_json:
        abort(415, message="Request bodies must be JSON (Content-Type: application/json)")


def maintenance_exempt() -> bool:
    return (
        request.blueprint in MAINTENANCE_EXEMPT_BLUEPRINTS
        or request.endpoint in MAINTENANCE_EXEMPT_ENDPOINTS
    )


def refuse_writes_in_maintenance() -> None:
    if request.method not in WRITE_METHODS or request.endpoint is None or maintenance_exempt():
        return
    if flags.is_enabled(flags.MAINTENANCE_MODE.name):
        abort(503, message="The service is in maintenance mode; try again later")


def register_request_rules(app: Flask) -> None:
    app.before_request(require_json_body)
    app.before_request(refuse_writes_in_maintenance)
