"""Nothing lost: jobs whose worker died, and results MongoDB could not take.

- While a job runs, its worker refreshes a heartbeat key in Redis. A `running` job without a
  heartbeat (its worker was SIGKILLed; the sandbox died with it, bubblewrap's die-with-parent)
  is marked failed ("worker lost") by the maintenance loop of any worker.
- A pending job whose RQ job is gone or failed before starting it is marked failed too.
- Either gives its user's turn to their next job (collab/jobs/fair.py), and so does the same
  loop for a job finished in MongoDB whose turn was never given back.
- A result that could not be stored because MongoDB was down is kept in Redis and written to
  MongoDB by the same loop once it is back.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import redis
from flask import Flask
from pymongo.errors import PyMongoError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from collab.extensions import redis_client
from collab.jobs import fair, live, store
from collab.jobs.store import Status
from collab.tasks import rq_connection

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "collab:jobs:alive:{}"
HEARTBEAT_TTL_SECONDS = 10
UNSTORED_KEY = "collab:jobs:unstored"  # hash: job id -> JSON of the result to store
UNSTORED_TTL_SECONDS = 7 * 24 * 3600
MAINTENANCE_INTERVAL_SECONDS = 15
WORKER_LOST = "Worker lost: the process running the job died"
LOST_IN_QUEUE = "Lost in the queue: the job could not be started"
QUEUE_GRACE_SECONDS = 60
# RQ states in which a pending job will still be picked up.
WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def heartbeat(job_id: str) -> None:
    redis_client.set(HEARTBEAT_KEY.format(job_id), "1", ex=HEARTBEAT_TTL_SECONDS)


def forget_heartbeat(job_id: str) -> None:
    redis_client.delete(HEARTBEAT_KEY.format(job_id))


def reap_lost_jobs() -> list[str]:
    """Mark failed the running jobs that no worker has vouched for lately; their ids."""
    grace = store.utcnow() - timedelta(seconds=HEARTBEAT_TTL_SECONDS)
    running = store.collection().find(
        {"status": Status.RUNNING.value, "started_at": {"$lt": grace}}, {"_id": 1, "user_id": 1}
    )
    lost = []
    for document in running:
        job_id = document["_id"]
        if redis_client.exists(HEARTBEAT_KEY.format(job_id)) or unstored(job_id):
            continue
        if store.transition(job_id, (Status.RUNNING,), failure(WORKER_LOST)):
            log.warning("job %s: worker lost, marked failed", job_id)
            fair.release(document["user_id"], job_id)
            lost.append(job_id)
    return lost


def reap_lost_submissions() -> list[str]:
    """Mark failed the pending jobs that are no longer in the queue (their RQ job failed before
    it could start them, e.g. MongoDB was down, or Redis lost its data); their ids."""
    grace = store.utcnow() - timedelta(seconds=QUEUE_GRACE_SECONDS)
    pending = store.collection().find(
        {"status": Status.PENDING.value, "created_at": {"$lt": grace}}, {"_id": 1, "user_id": 1}
    )
    connection = rq_connection()
    lost = []
    for document in pending:
        job_id = document["_id"]
        try:
            if Job.fetch(job_id, connection=connection).get_status() in WAITING:
                continue
        except NoSuchJobError:
            pass
        if store.transition(job_id, (Status.PENDING,), failure(LOST_IN_QUEUE)):
            log.warning("job %s: no longer queued, marked failed", job_id)
            fair.release(document["user_id"], job_id)
            lost.append(job_id)
    return lost


def failure(message: str) -> dict:
    return {"status": Status.FAILED.value, "message": message, "finished_at": store.utcnow()}


def keep_unstored(job_id: str, changes: dict) -> None:
    """Park a status change MongoDB refused, to be stored by `store_unstored`."""
    redis_client.hset(UNSTORED_KEY, job_id, live.encode(changes))
    redis_client.expire(UNSTORED_KEY, UNSTORED_TTL_SECONDS)


def unstored(job_id: str) -> dict | None:
    raw = redis_client.hget(UNSTORED_KEY, job_id)
    return live.decode(raw) if raw else None


def store_unstored() -> list[str]:
    """Write the parked results to MongoDB (still compare-and-set); their ids."""
    stored = []
    for job_id, raw in redis_client.hgetall(UNSTORED_KEY).items():
        store.transition(job_id, (Status.RUNNING,), live.decode(raw))
        redis_client.hdel(UNSTORED_KEY, job_id)
        stored.append(job_id)
    return stored


def maintain() -> None:
    """One pass: store parked results, reap lost jobs, give back lost turns. Outages are only
    logged."""
    try:
        store_unstored()
        reap_lost_jobs()
        reap_lost_submissions()
        fair.reconcile()
    except (PyMongoError, redis.RedisError) as error:
        log.warning("job maintenance skipped: %s", error)


def start_maintenance(app: Flask, interval: float = MAINTENANCE_INTERVAL_SECONDS) -> None:
    """Run `maintain` now and then every `interval` seconds in a daemon thread."""

    def loop() -> None:
        with app.app_context():
            while True:
                maintain()
                threading.Event().wait(interval)

    threading.Thread(target=loop, name="job-maintenance", daemon=True).start()
