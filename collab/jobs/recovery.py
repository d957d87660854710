"""Nothing lost: jobs whose worker died or whose queue entry vanished, and results MongoDB
could not take. Jobs run at least once, and complete at most once.

- While a job runs, its worker refreshes a heartbeat key in Redis. A `running` job without a
  heartbeat (its worker was SIGKILLed; the sandbox died with it, bubblewrap's die-with-parent)
  is put back in the queue from its stored document by the maintenance loop of any worker:
  it runs again from the start (its live output starts over, announced by `job:status`
  pending). An interactive job cannot be replayed (its input was typed live) and is marked
  failed ("worker lost"), and so is a job lost MAX_ATTEMPTS times.
- A pending job whose RQ job is gone (Redis restarted without persistence or lost its data)
  or failed before starting it (e.g. MongoDB was down) is enqueued again the same way.
- Running twice never completes twice: a worker starts a job only by the compare-and-set
  pending -> running, and stores its result only by running -> completed, so the run of a
  worker presumed dead that was only slow (SIGSTOPped) is refused at its finish.
- Each of these gives its user's turn to their next job (collab/jobs/fair.py), and so does
  the same loop for a job finished in MongoDB whose turn was never given back.
- A result that could not be stored because MongoDB was down is kept in Redis and written to
  MongoDB by the same loop once it is back.
"""

from __future__ import annotations

import logging
import threading
from contextlib import suppress
from datetime import timedelta

import redis
from flask import Flask
from pymongo.errors import PyMongoError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from collab.extensions import redis_client
from collab.jobs import cgroups, fair, live, sandbox, store
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
# Runs of a job that a worker or the queue lost, the first included, before it is failed.
MAX_ATTEMPTS = 3
# A pending job younger than this may still be on its way to the queue (stored in MongoDB,
# not yet in Redis); enqueuing it twice would be harmless, only wasteful.
QUEUE_GRACE_SECONDS = 15
# RQ states in which a pending job will still be picked up.
WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def heartbeat(job_id: str) -> None:
    redis_client.set(HEARTBEAT_KEY.format(job_id), "1", ex=HEARTBEAT_TTL_SECONDS)


def forget_heartbeat(job_id: str) -> None:
    redis_client.delete(HEARTBEAT_KEY.format(job_id))


def reap_lost_jobs() -> list[str]:
    """Put back in the queue (or fail) the running jobs no worker has vouched for lately;
    their ids."""
    grace = store.utcnow() - timedelta(seconds=HEARTBEAT_TTL_SECONDS)
    running = store.collection().find(
        {"status": Status.RUNNING.value, "started_at": {"$lt": grace}}, LOST_FIELDS
    )
    lost = []
    for document in running:
        job_id = document["_id"]
        if redis_client.exists(HEARTBEAT_KEY.format(job_id)) or unstored(job_id):
            continue
        if recover(document, Status.RUNNING, WORKER_LOST):
            log.warning("job %s: worker lost", job_id)
            lost.append(job_id)
    return lost


def reap_lost_submissions() -> list[str]:
    """Enqueue again (or fail) the pending jobs that are no longer in the queue: their RQ job
    vanished (Redis lost its data) or failed before it could start them (e.g. MongoDB was
    down); their ids."""
    grace = store.utcnow() - timedelta(seconds=QUEUE_GRACE_SECONDS)
    pending = store.collection().find(
        {"status": Status.PENDING.value, "created_at": {"$lt": grace}}, LOST_FIELDS
    )
    connection = rq_connection()
    lost = []
    for document in pending:
        job_id = document["_id"]
        if still_queued(job_id, connection):
            continue
        if recover(document, Status.PENDING, LOST_IN_QUEUE):
            log.warning("job %s: no longer queued", job_id)
            lost.append(job_id)
    return lost


LOST_FIELDS = {"_id": 1, "user_id": 1, "interactive": 1, "attempts": 1}


def still_queued(job_id: str, connection: redis.Redis) -> bool:
    try:
        return Job.fetch(job_id, connection=connection).get_status() in WAITING
    except NoSuchJobError:
        return False


def recover(document: dict, status: Status, reason: str) -> bool:
    """Run a lost job again, or fail it when it cannot be replayed; False if it moved on
    meanwhile (another worker's maintenance, a cancel, a late finish)."""
    if document.get("interactive") or document.get("attempts", 1) >= MAX_ATTEMPTS:
        job = store.transition(document["_id"], (status,), failure(reason))
        if job is not None:
            fair.release(job.user_id, job.id)
        return job is not None
    job = store.retry(document["_id"], status)
    if job is None:
        return False
    fair.release(job.user_id, job.id)  # its turn, if it still held one; it queues again below
    live.forget_output(job.id)
    requeue(job)
    return True


def requeue(job: store.JobDocument) -> None:
    """The job's RQ entry again, as at submission. A Redis error leaves it pending: the next
    pass tries again."""
    from collab.jobs import tasks  # the task module imports this one

    forget_rq_runs(job.id)
    tasks.enqueue(job)
    tasks.broadcast_status(job)


def forget_rq_runs(job_id: str) -> None:
    """Drop a lost run from RQ's registries, so that RQ's own clean-up of an abandoned run
    never marks the new entry failed."""
    with suppress(NoSuchJobError):
        rq_job = Job.fetch(job_id, connection=rq_connection())
        jobs = fair.jobs_queue()
        jobs.started_job_registry.remove_executions(rq_job)
        jobs.failed_job_registry.remove(rq_job)


def failure(message: str) -> dict:
    return {"status": Status.FAILED.value, "message": message, "finished_at": store.utcnow()}


def keep_unstored(job_id: str, changes: dict, attempt: int = 1) -> None:
    """Park a status change MongoDB refused (for the run `attempt` of the job), to be stored
    by `store_unstored`."""
    redis_client.hset(UNSTORED_KEY, job_id, live.encode({**changes, PARKED_RUN: attempt}))
    redis_client.expire(UNSTORED_KEY, UNSTORED_TTL_SECONDS)


PARKED_RUN = "_attempt"  # beside the parked changes: which run they finish


def unstored(job_id: str) -> dict | None:
    """The parked changes of a job, or None."""
    raw = redis_client.hget(UNSTORED_KEY, job_id)
    return parked(raw)[0] if raw else None


def parked(raw: str) -> tuple[dict, int | None]:
    """The parked changes and their run (None: parked before runs were counted)."""
    changes = live.decode(raw)
    return changes, changes.pop(PARKED_RUN, None)


def store_unstored() -> list[str]:
    """Write the parked results to MongoDB (still compare-and-set); their ids."""
    stored = []
    for job_id, raw in redis_client.hgetall(UNSTORED_KEY).items():
        changes, attempt = parked(raw)
        store.transition(job_id, (Status.RUNNING,), changes, attempt)
        redis_client.hdel(UNSTORED_KEY, job_id)
        stored.append(job_id)
    return stored


def maintain() -> None:
    """One pass: store parked results, reap lost jobs, give back lost turns. Outages are only
    logged."""
    try:
        store_unstored()
        reap_lost_jobs()
        remove_stale_cgroups()
        reap_lost_submissions()
        fair.reconcile()
    except (PyMongoError, redis.RedisError) as error:
        log.warning("job maintenance skipped: %s", error)


def remove_stale_cgroups() -> None:
    """The cgroups of jobs whose worker died on this machine (never a live job's)."""
    with suppress(OSError):
        if removed := cgroups.remove_stale(older_than=sandbox.MAX_RUN_SECONDS + 60):
            log.info("removed %d cgroups left by dead workers", removed)


def start_maintenance(app: Flask, interval: float = MAINTENANCE_INTERVAL_SECONDS) -> None:
    """Run `maintain` now and then every `interval` seconds in a daemon thread."""

    def loop() -> None:
        with app.app_context():
            while True:
                maintain()
                threading.Event().wait(interval)

    threading.Thread(target=loop, name="job-maintenance", daemon=True).start()
