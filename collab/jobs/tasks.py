"""The RQ side of code-execution jobs: `execute_job(job_id)` and the helpers that enqueue and
cancel it. The job carries only its id; everything else is read from the store.

Status changes and output chunks are stored first, then broadcast (`job:status`,
`job:output`) to the rooms `user:{user_id}` and `workspace:{workspace_id}` through a write-only
Socket.IO client on the Redis message queue: an event lost during a Redis outage is only
logged, and a client that missed events reads the stored state.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict, replace

import redis
from flask import current_app
from pymongo.errors import PyMongoError
from rq.job import JobStatus
from rq.utils import now as rq_now

from collab.extensions import redis_client
from collab.jobs import (
    fair,
    interactive,
    live,
    recovery,
    sandbox,
    store,
    testcases,
    workers,
    workspace_files,
)
from collab.jobs.coalesce import Coalescer
from collab.jobs.fair import jobs_queue
from collab.jobs.sandbox import Limits, Outcome, Result, SandboxUnavailable
from collab.jobs.store import JobDocument, Status
from collab.observability.logs import with_job_id
from collab.observability.metrics import record_job_duration
from collab.realtime.emitter import emitter

log = logging.getLogger(__name__)

# RQ must never kill a job the sandbox is still supervising: its own limit comes first.
RQ_TIMEOUT_SECONDS = int(sandbox.MAX_RUN_SECONDS) + 30
RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600
CANCEL_KEY = "collab:jobs:cancel:{}"
CANCEL_KEY_TTL_SECONDS = int(sandbox.MAX_RUN_SECONDS) + 60
FINISHED_KEY = "collab:jobs:finished:{}"
FINISHED_KEY_TTL_SECONDS = 60
CANCEL_POLL_SECONDS = 0.2  # with the sandbox's 50 ms tick: killed well within 1 s


def enqueue(job: JobDocument) -> bool:
    """Hand a stored job to RQ: queued now (True), or deferred until its user's turn
    (collab/jobs/fair.py). Raises redis.RedisError when Redis is down."""
    rq_job = jobs_queue().create_job(
        execute_job,
        args=(job.id, job.user_id),
        job_id=job.id,
        timeout=rq_timeout(job),
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=FAILURE_TTL_SECONDS,
        status=JobStatus.DEFERRED,
    )
    rq_job.enqueued_at = rq_now()  # submitted (rq-dashboard's "enqueued"), even if deferred
    return fair.submit(rq_job, job.user_id)


def rq_timeout(job: JobDocument) -> int:
    if job.test_cases:
        return int(testcases.max_seconds(job)) + 30
    return RQ_TIMEOUT_SECONDS


def queued_count() -> int:
    """Jobs not started yet: in the RQ queue or waiting their turn."""
    jobs = jobs_queue()
    return jobs.count + jobs.deferred_job_registry.count


def dequeue(job: JobDocument) -> None:
    """Take a pending job out of the queue or out of its user's line (best effort: the worker
    skips cancelled jobs anyway), and let the user's next job in."""
    fair.release(job.user_id, job.id)


def signal_cancel(job_id: str) -> None:
    """Tell the worker running `job_id` to kill it."""
    redis_client.set(CANCEL_KEY.format(job_id), "1", ex=CANCEL_KEY_TTL_SECONDS)


@with_job_id  # its log lines carry job_id, whichever worker runs it
def execute_job(job_id: str, user_id: str | None = None) -> None:
    """RQ entry point: run a pending job in the sandbox and store its result, then let the
    user's next job in (jobs queued before fair scheduling carry no user_id)."""
    try:
        run_job(job_id)
    finally:
        if user_id is not None:
            fair.release(user_id, job_id)


def run_job(job_id: str) -> None:
    recovery.heartbeat(job_id)  # before running: the reaper must never see it unvouched
    job = store.start(job_id)
    if job is None:
        log.info("job %s is no longer pending (cancelled?): skipped", job_id)
        return
    broadcast_status(job)
    try:
        fields = run_to_the_end(job)
    except SandboxUnavailable as error:
        log.error("job %s: %s", job_id, error)
        finish(job_id, store.fail(job_id, f"Sandbox unavailable: {error}"))
        workers.sandbox_failed()
        raise  # to RQ's failed registry too: rq-dashboard agrees with the API
    except Exception:
        log.exception("job %s failed inside the worker", job_id)
        finish(job_id, store.fail(job_id, "Internal error while running the job"))
        raise  # to RQ's failed registry
    finish(job_id, store_result(job, fields))


def run_to_the_end(job: JobDocument) -> dict:
    """Run the job (its tests, if it has any); the result fields to store."""
    if job.test_cases:
        return testcases.run_job(job)
    if job.interactive:
        return interactive.run_job(job)
    relay = OutputRelay(job)
    result = run_in_sandbox(job, relay)
    return {**result_fields(result), "output_seq": relay.seq}


def store_result(job: JobDocument, fields: dict) -> JobDocument | None:
    """Complete the job with its result; parked in Redis if MongoDB is down."""
    changes = store.completion(fields)
    try:
        finished = store.transition(job.id, (Status.RUNNING,), changes, job.attempts)
        if finished is None:  # cancelled, or run again, meanwhile
            return settled_elsewhere(job, fields)
    except PyMongoError:
        log.warning("job %s: MongoDB unavailable, result kept in Redis", job.id, exc_info=True)
        recovery.keep_unstored(job.id, changes, job.attempts)
        return replace(job, **changes)
    return finished


def settled_elsewhere(job: JobDocument, fields: dict) -> JobDocument | None:
    """The job is no longer this run's to finish. Cancelled: keep the status and record what
    it printed. Run again (this worker was presumed dead, e.g. it was paused): drop the result,
    the newer run's counts; None, so nothing is announced."""
    current = store.get(job.id)
    if current is not None and current.attempts != job.attempts:
        log.warning(
            "job %s: run %d was superseded by run %d, result dropped",
            job.id,
            job.attempts,
            current.attempts,
        )
        return None
    store.record_partial_result(job.id, fields)
    return store.get(job.id)


def finish(job_id: str, job: JobDocument | None) -> None:
    redis_client.delete(CANCEL_KEY.format(job_id))
    recovery.forget_heartbeat(job_id)
    notify_finished(job_id)
    if job is not None:
        record_job_duration(job)
        broadcast_status(job)


def notify_finished(job_id: str) -> None:
    """Wake the requests waiting for this job (GET ?wait) at once instead of at their next poll."""
    key = FINISHED_KEY.format(job_id)
    redis_client.pipeline().lpush(key, 1).expire(key, FINISHED_KEY_TTL_SECONDS).execute()


def wait_finished(job_id: str, seconds: float) -> None:
    """Block up to `seconds` (at most 1) or until the job's finish is notified.

    Each waiter that is woken passes the token on, so every waiter of the job wakes. Raises
    redis.RedisError when Redis is down or every waiting connection is taken."""
    key = FINISHED_KEY.format(job_id)
    if waiting_client().blpop([key], timeout=max(0.01, min(seconds, 1))):
        notify_finished(job_id)


def waiting_client() -> redis.Redis:
    """A client with a small pool of its own for blocking waits: a burst of `?wait` requests
    never takes the connections every other request needs. When it is exhausted it raises
    (MaxConnectionsError) and the waiter polls the store instead."""
    client = current_app.extensions.get("collab_job_waiters")
    if client is None:
        pool = redis.ConnectionPool.from_url(
            current_app.config["REDIS_URL"],
            max_connections=current_app.config["JOBS_MAX_BLOCKING_WAITS"],
            socket_timeout=3,  # above BLPOP's own 1 s
            socket_connect_timeout=2,
            decode_responses=True,
        )
        client = current_app.extensions["collab_job_waiters"] = redis.Redis(connection_pool=pool)
    return client


def code_of(job: JobDocument) -> str | sandbox.Files:
    """What the job runs: its inline code, or the workspace's files as submitted."""
    return workspace_files.files_of(job.entry, job.files) if job.entry else job.code


def run_in_sandbox(job: JobDocument, relay: OutputRelay) -> Result:
    """Run the job, watching for cancellation; the relay is closed once it returns or raises
    (its `seq` is then final, and its thread gone)."""
    try:
        with watching_cancel(job.id) as cancel:
            return sandbox.run(
                job.language,
                code_of(job),
                job.stdin,
                Limits(**job.limits),
                on_output=relay,
                cancel=cancel,
            )
    finally:
        relay.close()


@contextlib.contextmanager
def watching_cancel(job_id: str) -> Iterator[threading.Event]:
    """An event set when the job is cancelled (and the job's heartbeat kept) while the block
    runs; the watcher is gone once it ends."""
    cancel = threading.Event()
    done = threading.Event()
    watcher = threading.Thread(
        target=watch_cancel, args=(job_id, cancel, done, current_app._get_current_object())
    )
    watcher.start()
    try:
        yield cancel
    finally:
        done.set()
        watcher.join()


def watch_cancel(job_id: str, cancel: threading.Event, done: threading.Event, app) -> None:
    """Polls the cancel key set by the API (setting the sandbox's cancel event) and keeps the
    job's heartbeat alive while it runs."""
    with app.app_context():
        while not done.wait(CANCEL_POLL_SECONDS):
            try:
                recovery.heartbeat(job_id)
                if redis_client.exists(CANCEL_KEY.format(job_id)):
                    cancel.set()
            except redis.RedisError:
                log.warning("cancel check for job %s failed", job_id, exc_info=True)


class OutputRelay:
    """The sandbox's on_output callback: decodes each stream, coalesces it (at most ~20 chunks
    a second, collab/jobs/coalesce.py), then numbers each chunk, stores it and broadcasts it.

    Each stream is decoded incrementally, so a character split between two reads is never
    mangled: the chunks joined equal the output stored at the end."""

    def __init__(self, job: JobDocument, test: int | None = None, seq: int = 0) -> None:
        """`test`: the index of the test case whose output this is (its chunks say so);
        `seq`: the last chunk number already used (by the job's earlier tests)."""
        self.job = job
        self.test = test
        self.seq = seq
        self.decoders = {
            name: codecs.getincrementaldecoder("utf-8")(errors="replace")
            for name in ("stdout", "stderr")
        }
        self.coalescer = Coalescer(self.relay, current_app._get_current_object())

    def __call__(self, stream: str, chunk: bytes, final: bool = False) -> None:
        text = self.decoders[stream].decode(chunk, final=final)
        if text:
            self.coalescer.add(stream, text)

    def close(self) -> None:
        """Pass on what the decoders still hold (a character cut off at the end) and what is
        waiting to be coalesced: `seq` is final once this returns."""
        for stream in self.decoders:
            self(stream, b"", final=True)
        self.coalescer.close()

    def relay(self, stream: str, text: str) -> None:
        self.seq += 1
        chunk = {"seq": self.seq, "stream": stream, "chunk": text}
        if self.test is not None:
            chunk["test"] = self.test
        payload = {"job_id": self.job.id, **chunk}
        try:
            live.keep_chunk(self.job.id, chunk)
        except redis.RedisError:  # the result stored at the end still has it
            log.warning("could not store output of job %s", self.job.id, exc_info=True)
        broadcast(self.job, "job:output", payload)


def result_fields(result: Result) -> dict:
    """The result as the job document stores it (GET /jobs/{id} shows these fields)."""
    return {
        "output": result.stdout.decode("utf-8", errors="replace"),
        "stderr": result_stderr(result),
        "exit_code": result.exit_code,
        "signal": result.signal,
        "outcome": result.outcome.value,
        "execution_time": round(result.usage.wall_ms / 1000, 3),
        "usage": asdict(result.usage),
        "limits": asdict(result.limits),
        "stdout_truncated": result.stdout_truncated,
        "stderr_truncated": result.stderr_truncated,
        "runtime": result.runtime,
    }


def result_stderr(result: Result) -> str:
    # A compile error's message is the compiler's output: shown where users look for errors.
    if result.outcome == Outcome.COMPILATION_ERROR and result.compile_output:
        return result.compile_output
    return result.stderr.decode("utf-8", errors="replace")


def broadcast_status(job: JobDocument) -> None:
    payload = {"job_id": job.id, "status": job.status, "outcome": job.outcome}
    broadcast(job, "job:status", payload)


def broadcast(job: JobDocument, event: str, payload: dict) -> None:
    # workspace_id lets a client that is in several workspaces route the event to one.
    payload = {**payload, "workspace_id": job.workspace_id}
    rooms = [f"user:{job.user_id}"]
    if job.workspace_id:
        rooms.append(f"workspace:{job.workspace_id}")
    try:
        emitter().emit(event, payload, to=rooms)
    except Exception:  # a lost event must never fail the job: the store has the truth
        log.warning("could not broadcast %s for job %s", event, job.id, exc_info=True)
