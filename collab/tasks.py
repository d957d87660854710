"""Background work on RQ. Queue names are defined here, once."""

from __future__ import annotations

import redis
from flask import current_app
from rq import Queue

DEFAULT_QUEUE = "collab-default"
JOBS_QUEUE = "collab-jobs"  # code-execution jobs (collab/jobs/tasks.py)
QUEUE_NAMES = [DEFAULT_QUEUE, JOBS_QUEUE]


def rq_connection() -> redis.Redis:
    # RQ stores pickled payloads: it needs a client that does not decode responses.
    return redis.Redis.from_url(current_app.config["REDIS_URL"])


def queue(name: str = DEFAULT_QUEUE) -> Queue:
    return Queue(name, connection=rq_connection())
