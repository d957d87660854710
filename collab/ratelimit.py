"""Who a request is counted against: its user when it carries a valid token, else its IP."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
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
    except HTTPException:
        return None


def login_email_key() -> str:
    body = json_body()
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str):
        return f"ip:{client_ip()}"
    return f"email:{email.strip().lower()[:254]}"


def configured(name: str) -> Callable[[], str]:
    """A limit string read from the app's config at request time."""
    return lambda: current_app.config[name]
