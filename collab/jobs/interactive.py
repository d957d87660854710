"""Interactive jobs: the program's stdin stays open, fed by its submitter over Socket.IO.

The web process takes `job:stdin` {job_id, data, eof?} (collab/realtime/jobs.py), checks and
meters it, and appends it to a Redis list per job: the durable part, so input sent before the
sandbox started, or while the worker was busy, waits there. On the worker a feeder thread
BLPOPs that list and writes into the sandbox's stdin pipe (a pipe instead of the sealed memfd),
so a program that does not read never blocks the output handling. The wall-clock limit still
applies, and a job that gets no input for JOBS_INTERACTIVE_IDLE_SECONDS (60 s) is killed:
time_limit_exceeded.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import redis
from flask import Flask, current_app

from collab.extensions import redis_client
from collab.jobs import languages, sandbox
from collab.jobs.sandbox import Limits, Outcome
from collab.jobs.store import JobDocument

log = logging.getLogger(__name__)

STDIN_KEY = "collab:jobs:stdin:{}"  # list of {"data": str, "eof": bool}
STDIN_BYTES_KEY = "collab:jobs:stdin-bytes:{}"  # what the job was sent in all
STDIN_RATE_KEY = "collab:jobs:stdin-rate:{}"  # token bucket (quotas.TAKE_BYTES)
KEY_TTL_SECONDS = int(sandbox.MAX_RUN_SECONDS) + 60
MAX_BYTES_PER_SECOND = 64 * 1024
MAX_BYTES_PER_JOB = 1024 * 1024
POLL_SECONDS = 0.2  # BLPOP's timeout: how soon the feeder notices the job ended


def send(job_id: str, data: str, eof: bool) -> None:
    """Queue input for the job's worker (raises redis.RedisError)."""
    key = STDIN_KEY.format(job_id)
    entry = json.dumps({"data": data, "eof": eof})
    redis_client.pipeline().rpush(key, entry).expire(key, KEY_TTL_SECONDS).execute()


def take_bytes(job_id: str, size: int) -> str | None:
    """Count `size` bytes against the job's caps: None if allowed, else "too_large" or
    "rate_limited" (nothing is counted then)."""
    from collab.realtime.quotas import TAKE_BYTES

    total_key = STDIN_BYTES_KEY.format(job_id)
    if int(redis_client.get(total_key) or 0) + size > MAX_BYTES_PER_JOB:
        return "too_large"
    rate = MAX_BYTES_PER_SECOND
    taken, _ = redis_client.eval(TAKE_BYTES, 1, STDIN_RATE_KEY.format(job_id), rate, rate, size)
    if not taken:
        return "rate_limited"
    redis_client.pipeline().incrby(total_key, size).expire(total_key, KEY_TTL_SECONDS).execute()
    return None


class _InteractiveJob(sandbox._Job):
    """A sandbox whose stdin is a pipe fed from the job's Redis list."""

    def __init__(self, *args, job_id: str, idle_seconds: float, app: Flask) -> None:
        super().__init__(*args)
        self.job_id = job_id
        self.idle_seconds = idle_seconds
        self.app = app
        self.stdin_w = -1
        self.last_input = time.monotonic()
        self.stopping = threading.Event()
        self.feeder = threading.Thread(target=self._feed, name="job-stdin", daemon=True)

    def _stdin_end(self, stdin: bytes) -> int:
        read_fd, self.stdin_w = os.pipe()
        return self._child_end(read_fd)

    def start(self, code: bytes, stdin: bytes) -> None:
        super().start(code, stdin)
        self.last_input = time.monotonic()
        self.feeder.start()

    def _feed(self) -> None:
        with self.app.app_context():
            while not self.stopping.is_set() and self.stdin_w >= 0:
                try:
                    popped = redis_client.blpop([STDIN_KEY.format(self.job_id)], POLL_SECONDS)
                except redis.RedisError:
                    log.warning("stdin of job %s unreadable", self.job_id, exc_info=True)
                    time.sleep(POLL_SECONDS)
                    continue
                if popped is not None:
                    self._write(json.loads(popped[1]))

    def _write(self, entry: dict) -> None:
        self.last_input = time.monotonic()
        try:
            view = memoryview(entry["data"].encode())
            while view:  # blocks this thread only, while the program does not read
                view = view[os.write(self.stdin_w, view) :]
        except OSError:  # the program closed its stdin, or ended
            entry["eof"] = True
        if entry["eof"]:
            os.close(self.stdin_w)
            self.stdin_w = -1

    def _enforce_limits(self) -> None:
        super()._enforce_limits()
        idle = time.monotonic() - self.last_input >= self.idle_seconds
        if idle and self.exited_at is None and self.kill_reason is None:
            self._kill("idle")

    def _outcome(self, oom: bool) -> Outcome:
        if self.kill_reason == "idle":
            return Outcome.TIME_LIMIT_EXCEEDED
        return super()._outcome(oom)

    def close(self) -> None:
        self.stopping.set()
        super().close()  # the program is gone: a write the feeder is blocked in fails
        if self.feeder.is_alive():
            self.feeder.join()
        if self.stdin_w >= 0:
            os.close(self.stdin_w)
            self.stdin_w = -1


def run_job(job: JobDocument) -> dict:
    """Run an interactive job to its end; the result fields to store."""
    from collab.jobs import tasks

    lang = languages.get(job.language)
    if lang is None:
        raise ValueError(f"language {job.language!r} is not available")
    lang, sources = sandbox.sources_of(lang, tasks.code_of(job))
    relay = tasks.OutputRelay(job)
    try:
        with tasks.watching_cancel(job.id) as cancel:
            app = current_app._get_current_object()
            idle = app.config["JOBS_INTERACTIVE_IDLE_SECONDS"]
            limits = Limits(**job.limits).clamped()
            sandboxed = _InteractiveJob(
                lang, limits, relay, cancel, job_id=job.id, idle_seconds=idle, app=app
            )
            result = sandbox.execute(sandboxed, sources, b"")
    finally:
        relay.close()
        redis_client.delete(STDIN_KEY.format(job.id))
    return {**tasks.result_fields(result), "output_seq": relay.seq}
