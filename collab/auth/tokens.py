"""Login sessions and their tokens.

An access token carries its session id (`sid`); it is refused as soon as that session is
revoked. Refresh tokens rotate: each session accepts only its latest one, and presenting an
older one revokes the session (the token was stolen and used by someone else).
"""

from __future__ import annotations

import uuid

from flask import current_app, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
)
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_smorest import abort
from jwt import PyJWTError
from sqlalchemy import bindparam, select, update

from collab.auth import session_cache
from collab.errors import error_response
from collab.extensions import db
from collab.models import AuthSession, User, utcnow

INVALID_REFRESH = "Invalid or expired refresh token"


def new_jti() -> str:
    return uuid.uuid4().hex


def open_session(user: User) -> dict:
    lifetime = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    session = AuthSession(
        user_id=user.id,
        refresh_jti=new_jti(),
        expires_at=utcnow() + lifetime,
        user_agent=(request.user_agent.string or "")[:255] or None,
        ip_address=request.remote_addr,
    )
    db.session.add(session)
    db.session.commit()
    return issue_tokens(user.id, session)


def issue_tokens(user_id: uuid.UUID, session: AuthSession) -> dict:
    identity = str(user_id)
    claims = {"sid": str(session.id)}
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity, additional_claims=claims),
        "refresh_token": create_refresh_token(
            identity, additional_claims={**claims, "jti": session.refresh_jti}
        ),
        "token_type": "bearer",
        "expires_in": int(expires.total_seconds()),
    }


def refresh_claims(token: str) -> dict | None:
    """The claims of a genuine, unexpired refresh token; None for anything else."""
    try:
        claims = decode_token(token)
        uuid.UUID(str(claims.get("sid")))
    except (PyJWTError, JWTExtendedException, ValueError):
        return None
    if claims.get("type") != "refresh" or not claims.get("jti"):
        return None
    return claims


def decode_refresh_token(token: str) -> dict:
    claims = refresh_claims(token)
    if claims is None:
        abort(401, message=INVALID_REFRESH)
    return claims


def rotate_refresh_token(token: str) -> dict:
    """Swap a refresh token for a new pair; reuse of a retired one revokes the session."""
    claims = decode_refresh_token(token)
    session_id = uuid.UUID(claims["sid"])
    now = utcnow()
    next_jti = new_jti()
    lifetime = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    # Compare-and-set: of two concurrent refreshes with the same token, exactly one wins.
    swapped = db.session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.refresh_jti == claims["jti"],
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .values(refresh_jti=next_jti, last_used_at=now, expires_at=now + lifetime)
    ).rowcount
    if swapped != 1:
        revoke_sessions(AuthSession.id == session_id)
        db.session.commit()
        abort(
            401,
            message="Refresh token already used or revoked; the session has been closed",
        )
    db.session.commit()
    session = db.session.get(AuthSession, session_id)
    return issue_tokens(session.user_id, session)


def revoke_sessions(*conditions) -> int:
    """Close the matching open sessions (the caller commits). Their cache entries turn into
    tombstones first, so no request can use them once the commit lands."""
    closed = db.session.scalars(
        update(AuthSession)
        .where(AuthSession.revoked_at.is_(None), *conditions)
        .values(revoked_at=utcnow())
        .returning(AuthSession.id)
    ).all()
    session_cache.tombstone(closed)
    # Imported here: the socket layer authenticates through this module.
    from collab.realtime.connections import disconnect_sessions

    disconnect_sessions(closed)  # refused already (tombstones): drop them at once too
    return len(closed)


OPEN_SESSION = select(AuthSession.user_id, AuthSession.expires_at).where(
    AuthSession.id == bindparam("session_id"),
    AuthSession.revoked_at.is_(None),
    AuthSession.expires_at > bindparam("now"),
)


def session_is_open(claims: dict) -> bool:
    """Whether the access token's session is still open: Redis first, then the database."""
    try:
        session_id = uuid.UUID(claims["sid"])
        user_id = uuid.UUID(claims["sub"])
    except (KeyError, ValueError, TypeError):
        return False
    cached = session_cache.cached_owner(session_id)
    if cached is not None:
        return cached == str(user_id)
    row = db.session.execute(OPEN_SESSION, {"session_id": session_id, "now": utcnow()}).first()
    if row is None:
        return False
    session_cache.remember_open(session_id, row.user_id, row.expires_at)
    return row.user_id == user_id


def active_user_for(claims: dict) -> User | None:
    """The token's user, provided its session is still open."""
    if not session_is_open(claims):
        return None
    return db.session.get(User, uuid.UUID(claims["sub"]))


def active_sessions(user_id: uuid.UUID) -> list[AuthSession]:
    return list(
        db.session.scalars(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > utcnow(),
            )
            .order_by(AuthSession.last_used_at.desc())
        )
    )


def register_jwt_handlers(jwt: JWTManager) -> None:
    """Every token failure answers 401 in the API's error shape (the library's default for a
    malformed token is 422)."""

    @jwt.token_in_blocklist_loader
    def session_closed(header: dict, claims: dict) -> bool:
        return claims.get("type") != "access" or not session_is_open(claims)

    def unauthorized(message: str):
        return error_response(401, message, {"WWW-Authenticate": "Bearer"})

    jwt.unauthorized_loader(lambda reason: unauthorized("Missing bearer token"))
    jwt.invalid_token_loader(lambda reason: unauthorized("Invalid token"))
    jwt.expired_token_loader(lambda header, claims: unauthorized("Token has expired"))
    jwt.revoked_token_loader(lambda header, claims: unauthorized("Token has been revoked"))
    jwt.user_lookup_error_loader(lambda header, claims: unauthorized("Token has been revoked"))
    jwt.needs_fresh_token_loader(lambda header, claims: unauthorized("Fresh token required"))
