"""Who a request is counted against: its user when it carries a valid token, else its IP."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, has_app_context, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_limiter import Limiter
from jwt import PyJWTError
from werkzeug.exceptions import HTTPException


def client_ip() -> str:
    # ProxyFix has already replaced remote_addr when PROXY_COUNT trusted proxies are in front.
    return request.remote_addr or "unknown"


def bearer_subject() -> str | None:
    """The user id of a correctly signed, unexpired access token (revocation is not checked:
    a revoked token is refused by the view anyway; this only chooses the counter)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = decode_token(token.strip())
    except (PyJWTError, JWTExtendedException, ValueError):
        return None
    return claims.get("sub") if claims.get("type") == "access" else None


def rate_limit_key() -> str:
    subject = bearer_subject()
    return f"user:{subject}" if subject else f"ip:{client_ip()}"


def ip_key() -> str:
    return f"ip:{client_ip()}"


def json_body() -> object:
    """The request's JSON body, or None. Never raises: flask-limiter takes any exception from a
    key function for a storage failure and falls back to per-process memory for every later
    request. A body over MAX_CONTENT_LENGTH raises 413 here; the view refuses it anyway."""
    try:
        return request.get_json(silent=True)
    except (HTTPException, RecursionError, ValueError):  # too large, too deep, too long a number
        return None


def configured(name: str) -> Callable[[], str]:
    """A limit string read from the app's config at request time."""
    return lambda: current_app.config[name]


class PerAppAttribute:
    """A Limiter attribute stored per Flask app instead of on the shared extension object."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, limiter: CollabLimiter | None, owner: type | None = None):
        if limiter is None:
            return self
        values = limiter.app_values()
        return values[self.name] if self.name in values else limiter.initial_values[self.name]

    def __set__(self, limiter: CollabLimiter, value) -> None:
        limiter.app_values()[self.name] = value


class CollabLimiter(Limiter):
    """flask-limiter keeps its on/off switch and its storage on the extension object, so the
    last app built would decide them for every app in the process (RATELIMIT_ENABLED=false in
    one app switched limiting off everywhere; a second app's RATELIMIT_STORAGE_URL replaced the
    first's). Those live in each app's extensions here; the default limit is read from the
    current app's RATELIMIT_DEFAULT on every request (flask-limiter keeps the first app's)."""

    enabled = PerAppAttribute()
    _storage = PerAppAttribute()
    _limiter = PerAppAttribute()
    _storage_dead = PerAppAttribute()
    _fallback_storage = PerAppAttribute()
    _fallback_limiter = PerAppAttribute()

    def __init__(self, **kwargs) -> None:
        self.initial_values: dict = {"_fallback_storage": None}
        self._binding: Flask | None = None
        self._constructing = True
        super().__init__(**kwargs)
        self._constructing = False

    def init_app(self, app: Flask) -> None:
        self._binding = app
        try:
            super().init_app(app)
        finally:
            self._binding = None

    def counting_in_memory(self) -> bool:
        """Whether limits fell back to this process's memory because their storage failed."""
        return bool(self.enabled and self._storage_dead)

    def app_values(self) -> dict:
        if self._constructing:
            return self.initial_values
        app = self._binding
        if app is None and has_app_context():
            app = current_app._get_current_object()
        if app is None:
            return self.initial_values
        return app.extensions.setdefault("collab_limiter_state", {})
