"""Who is behind each socket of this process, and how long they may stay.

A socket authenticates once, at connect, with the access token in the Socket.IO `auth`
payload. After that:
- every event checks that the token has not expired (the client renews it with
  `auth:refresh`) and that its login session is still open (one cached Redis read);
- closing a login session (logout, password change, revoked session, stolen refresh token)
  disconnects that session's sockets on every instance at once: Redis keeps the sockets of
  each session, and the Socket.IO message queue carries the disconnect to their instance;
- a sweep disconnects sockets whose token expired more than SOCKET_TOKEN_GRACE_SECONDS ago,
  so a socket that only listens cannot outlive its token either.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis
from flask import current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import ExpiredSignatureError, PyJWTError

from collab.auth.tokens import active_user_for, session_is_open
from collab.extensions import redis_client, socketio
from collab.realtime import quotas
from collab.realtime.emitter import emitter
from collab.realtime.protocol import TOKEN_EXPIRED, UNAUTHORIZED, Bucket, EventError, RateLimit

log = logging.getLogger(__name__)

SESSION_SOCKETS_KEY = "collab:rt:session:{}"  # set: the socket ids of one login session


@dataclass
class Connection:
    sid: str
    user_id: uuid.UUID
    username: str
    session_id: uuid.UUID
    expires_at: float  # the access token's exp (epoch seconds)
    workspaces: set[str] = field(default_factory=set)  # joined workspace ids
    buckets: dict[str, Bucket] = field(default_factory=dict)
    # Replica milliseconds (quotas.py); starts full (the first refill caps it at the burst).
    processing: Bucket = field(default_factory=lambda: Bucket(tokens=math.inf))

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    def allow(self, event: str, limit: RateLimit) -> bool:
        bucket = self.buckets.setdefault(event, Bucket(tokens=limit.burst))
        return bucket.take(limit)

    def claims(self) -> dict:
        return {"sub": str(self.user_id), "sid": str(self.session_id)}


live: dict[str, Connection] = {}  # this process's sockets, by Socket.IO sid


def verified_claims(token: object) -> dict:
    """The claims of a valid access token whose session is open; EventError otherwise."""
    if not isinstance(token, str) or not token:
        raise EventError(UNAUTHORIZED, "Missing token")
    try:
        claims = decode_token(token)
    except ExpiredSignatureError:
        raise EventError(TOKEN_EXPIRED, "Token has expired") from None
    except (PyJWTError, JWTExtendedException, ValueError):
        raise EventError(UNAUTHORIZED, "Invalid token") from None
    if claims.get("type") != "access":
        raise EventError(UNAUTHORIZED, "An access token is required")
    return claims


def open_connection(sid: str, token: object) -> Connection:
    claims = verified_claims(token)
    user = active_user_for(claims)
    if user is None:
        raise EventError(UNAUTHORIZED, "Token has been revoked")
    quotas.claim_socket(user.id, sid)
    connection = Connection(
        sid=sid,
        user_id=user.id,
        username=user.username,
        session_id=uuid.UUID(claims["sid"]),
        expires_at=claims["exp"],
    )
    live[sid] = connection
    track_session(connection)
    return connection


def renew(connection: Connection, token: object) -> None:
    """Take a fresh access token of the same user (auth:refresh); it may be another session's."""
    claims = verified_claims(token)
    if claims.get("sub") != str(connection.user_id):
        raise EventError(UNAUTHORIZED, "The token belongs to another user")
    if not session_is_open(claims):
        raise EventError(UNAUTHORIZED, "Token has been revoked")
    forget_session(connection)
    connection.session_id = uuid.UUID(claims["sid"])
    connection.expires_at = claims["exp"]
    track_session(connection)


def current(allow_expired: bool = False) -> Connection:
    """The caller's connection, still authorised; EventError otherwise."""
    connection = live.get(request.sid)
    if connection is None:
        raise EventError(UNAUTHORIZED, "Not connected")
    if connection.expired and not allow_expired:
        raise EventError(TOKEN_EXPIRED, "Token has expired; renew it with auth:refresh")
    if not session_is_open(connection.claims()):
        socketio.server.disconnect(connection.sid)
        raise EventError(UNAUTHORIZED, "Token has been revoked")
    return connection


def close_connection(sid: str) -> Connection | None:
    connection = live.pop(sid, None)
    if connection is not None:
        forget_session(connection)
        quotas.release_socket(connection.user_id, sid)
    return connection


def track_session(connection: Connection) -> None:
    key = SESSION_SOCKETS_KEY.format(connection.session_id)
    ttl = int(current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds())
    try:
        redis_client.pipeline().sadd(key, connection.sid).expire(key, ttl).execute()
    except redis.RedisError:  # each event still checks the session itself
        log.warning("could not track the socket of session %s", connection.session_id)


def forget_session(connection: Connection) -> None:
    try:
        redis_client.srem(SESSION_SOCKETS_KEY.format(connection.session_id), connection.sid)
    except redis.RedisError:
        log.warning("could not untrack the socket of session %s", connection.session_id)


def disconnect_sessions(session_ids: Iterable[uuid.UUID]) -> None:
    """Drop every socket of these (just closed) sessions, on whichever instance holds it."""
    try:
        for session_id in session_ids:
            for sid in redis_client.smembers(SESSION_SOCKETS_KEY.format(session_id)):
                emitter().server.disconnect(sid)
    except redis.RedisError:  # the sockets are refused at their next event, or by the sweep
        log.warning("could not disconnect the sockets of closed sessions", exc_info=True)


def sweep_expired() -> None:
    """Disconnect this process's sockets whose token expired and was not renewed in time."""
    deadline = time.time() - current_app.config["SOCKET_TOKEN_GRACE_SECONDS"]
    for connection in list(live.values()):
        if connection.expires_at < deadline:
            log.info("socket %s: token expired, disconnected", connection.sid)
            socketio.server.disconnect(connection.sid)
