"""Which login sessions are open, cached in Redis: authenticating a request then costs one
Redis GET instead of a database query.

Why it stays correct:
- A revocation writes a tombstone to Redis BEFORE the database commit, and readers fill the
  cache with SET NX: a reader that saw the session open just before the commit can never
  overwrite the tombstone, so a revoked session is refused from the next request on.
- Open entries live at most SESSION_CACHE_SECONDS (and never past the session's expiry);
  tombstones live as long as an access token can.
- Redis unreachable: reads go to the database. A revocation still commits (and is logged):
  entries written before the outage can then outlive it by at most SESSION_CACHE_SECONDS.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from redis import RedisError

from collab.extensions import redis_client
from collab.models import utcnow

REVOKED = "revoked"
log = logging.getLogger(__name__)


def key(session_id: uuid.UUID) -> str:
    return f"collab:session:{session_id}"


def cached_owner(session_id: uuid.UUID) -> str | None:
    """The open session's user id, REVOKED, or None when the cache cannot say."""
    try:
        return redis_client.get(key(session_id))
    except RedisError:
        return None


def remember_open(session_id: uuid.UUID, user_id: uuid.UUID, expires_at: datetime) -> None:
    ttl = min(
        current_app.config["SESSION_CACHE_SECONDS"],
        int((expires_at - utcnow()).total_seconds()),
    )
    if ttl <= 0:
        return
    try:
        redis_client.set(key(session_id), str(user_id), ex=ttl, nx=True)
    except RedisError:
        log.warning("session cache unavailable; authenticating from the database")


def tombstone(session_ids: Iterable[uuid.UUID]) -> None:
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    ttl = int(lifetime.total_seconds()) + 60
    try:
        with redis_client.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.set(key(session_id), REVOKED, ex=ttl)
            pipe.execute()
    except RedisError:
        log.error("could not mark revoked sessions in Redis; they are revoked in the database")
