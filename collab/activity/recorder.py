"""Recording a project's activity without making the mutation wait for MongoDB.

`record()` appends the event to a Redis list: one sub-millisecond round trip in the request.
A flusher thread in each process (started by the first event, and by every worker) moves
the list to MongoDB every FLUSH_SECONDS. While MongoDB is away the events wait in Redis and
land once it is back. Flushing is at least once and exactly once in effect: one flusher at a
time (a Redis lock) copies a batch, then trims it; a batch copied twice after a crash is
deduplicated by the events' own ids. With Redis down too, the event goes to MongoDB directly,
and is logged as lost only if both are down.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime

import redis
from flask import Flask, current_app
from pymongo.errors import PyMongoError

from collab.activity import store
from collab.auth.identity import current_user_id
from collab.extensions import redis_client
from collab.models import utcnow

log = logging.getLogger(__name__)

PENDING_KEY = "collab:activity:pending"
FLUSH_LOCK = "collab:activity:flushing"
FLUSH_LOCK_SECONDS = 30
BATCH = 500
FLUSH_SECONDS = 1.0


CALLER = object()  # the default actor: the user of the current request
SYSTEM = None  # no user: the server itself (e.g. a document repaired)


def record(
    action: str,
    project_id,
    actor_id=CALLER,
    *,
    workspace_id=None,
    target: tuple[str, object] | None = None,
    details: dict | None = None,
) -> None:
    """Record that `actor_id` (by default the caller of this request; SYSTEM for the server)
    did `action` (e.g. "workspace.created") in a project."""
    if actor_id is CALLER:
        actor_id = current_user_id()
    target_type, target_id = target if target else ("project", project_id)
    event = {
        "_id": uuid.uuid4().hex,
        "action": action,
        "project_id": str(project_id),
        "workspace_id": str(workspace_id) if workspace_id else None,
        "actor_id": str(actor_id) if actor_id else None,
        "target_type": target_type,
        "target_id": str(target_id),
        "details": details or {},
        "created_at": utcnow().isoformat(),
    }
    try:
        redis_client.rpush(PENDING_KEY, json.dumps(event))
    except redis.RedisError:
        store_directly(event)
    start_flusher(current_app._get_current_object())


def store_directly(event: dict) -> None:
    try:
        store.insert([decode(json.dumps(event))])
    except PyMongoError:
        log.error("activity event lost (Redis and MongoDB unavailable): %s", event)


def decode(raw: str) -> dict:
    event = json.loads(raw)
    event["created_at"] = datetime.fromisoformat(event["created_at"])
    return event


def flush() -> int:
    """Move pending events to MongoDB, batch by batch; how many. Raises PyMongoError (the
    events stay pending) or redis.RedisError."""
    if not redis_client.set(FLUSH_LOCK, "1", nx=True, ex=FLUSH_LOCK_SECONDS):
        return 0  # another process is flushing
    moved = 0
    try:
        while batch := redis_client.lrange(PENDING_KEY, 0, BATCH - 1):
            store.insert([decode(raw) for raw in batch])
            redis_client.ltrim(PENDING_KEY, len(batch), -1)
            moved += len(batch)
    finally:
        redis_client.delete(FLUSH_LOCK)
    return moved


_started: set[int] = set()
_starting = threading.Lock()


def start_flusher(app: Flask) -> None:
    """Run `flush` every FLUSH_SECONDS in a daemon thread (a greenlet under gevent), once per
    app and process."""
    with _starting:
        if id(app) in _started:
            return
        _started.add(id(app))

    def loop() -> None:
        failing = False
        with app.app_context():
            while True:
                threading.Event().wait(FLUSH_SECONDS)
                try:
                    flush()
                except (PyMongoError, redis.RedisError) as error:
                    if not failing:  # once per outage, not every second
                        log.warning("activity events wait in Redis: %s", error)
                    failing = True
                else:
                    if failing:
                        log.info("activity events flowing to MongoDB again")
                    failing = False

    threading.Thread(target=loop, name="activity-flusher", daemon=True).start()
