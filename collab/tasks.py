"""Background work on RQ. Queue names are defined here, once."""

from __future__ import annotations

import redis
from flask import current_app
from rq import Queue

DEFAULT_QUEUE = "collab-default"
JOBS_QUEUE = "collab-jobs"  # code-execution jobs (collab/jobs/tasks.py)
QUEUE_NAMES = [DEFAULT_QUEUE, JOBS_QUEUE]


def rq_connection() -> redis.Redis:
    """The app's client for RQ, made once: a new client per call opened a new connection
    every time (~1.6 ms here), several per job. RQ stores pickled payloads, so it does not
    decode responses; no socket timeout, because a worker's blocking dequeue waits minutes
    (RQ sets the pool's timeout to fit it). The pool waits for a free connection rather
    than raising when a burst exhausts it."""
    client = current_app.extensions.get("collab_rq_connection")
    if client is None:
        pool = redis.BlockingConnectionPool.from_url(
            current_app.config["REDIS_URL"],
            max_connections=current_app.config["REDIS_MAX_CONNECTIONS"],
            timeout=5,
            socket_connect_timeout=2,
        )
        client = current_app.extensions["collab_rq_connection"] = redis.Redis(connection_pool=pool)
    return client


def queue(name: str = DEFAULT_QUEUE) -> Queue:
    return Queue(name, connection=rq_connection())
