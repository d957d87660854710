"""Submitting, finding, listing and cancelling jobs on behalf of the caller."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, replace

import redis
from flask import current_app
from flask_smorest import abort
from pymongo.errors import PyMongoError
from sqlalchemy import select

from collab import activity, flags
from collab.auth.identity import current_user_id
from collab.extensions import db
from collab.jobs import live, recovery, slots, store, testcases, workers, workspace_files
from collab.jobs import tasks as job_tasks
from collab.jobs.sandbox import Limits
from collab.jobs.schemas import MAX_STDIN_BYTES
from collab.jobs.store import JobDocument, Status
from collab.models import Membership, Role, Workspace
from collab.permissions import ProjectAccess, project_access

log = logging.getLogger(__name__)

JOB_NOT_FOUND = "Job not found"
WORKSPACE_NOT_FOUND = "Workspace not found"
WAIT_POLL_SECONDS = 0.1
QUEUE_FULL_RETRY_AFTER = "5"
NO_WORKER_RETRY_AFTER = str(workers.HEARTBEAT_SECONDS)


def submit(data: dict, idempotency_key: str | None) -> JobDocument:
    """Validate, store and queue a job; the caller's original job for a reused key."""
    if not flags.is_enabled(flags.CODE_EXECUTION.name):
        abort(503, message="Code execution is switched off; try again later")
    data = {**data, "language": job_language(data)}
    require_language(data["language"])
    require_tests_within_limits(data)
    user_id = str(current_user_id())
    original = store.find_by_key(user_id, idempotency_key)
    if original is not None:
        require_same_request(original, data)
        return original
    project_id = submission_project(data["workspace_id"])
    files = workspace_snapshot(data)
    require_queue_room()
    draft = new_job(user_id, data, project_id, idempotency_key, files)
    require_capacity(user_id)
    try:
        job = store.insert(draft)
    except Exception:
        slots.release(user_id)
        raise
    if job.id != draft.id:  # the original of a concurrent request with the same key
        slots.release(user_id)
    else:
        queue_or_fail(job)
        record_job("job.submitted", job)
    return job


def record_job(action: str, job: JobDocument) -> None:
    """Workspace jobs are project activity (private jobs are nobody else's business)."""
    if job.project_id is not None:
        details = {"language": job.language}
        activity.record(
            action,
            job.project_id,
            workspace_id=job.workspace_id,
            target=("job", job.id),
            details=details,
        )


def enabled_languages() -> list[workers.RunnableLanguage]:
    """Run by a live worker (its start-up probe ran it) and switched on by its feature flag."""
    return switched_on(workers.runnable_languages())


def switched_on(runnable: list[workers.RunnableLanguage]) -> list[workers.RunnableLanguage]:
    return [lang for lang in runnable if flags.is_enabled(flags.LANGUAGES[lang.name].name)]


def require_language(name: str) -> None:
    """503 when no live worker can run any code (it is the service that is down, not the
    request that is wrong); 422 for a language that is unknown, switched off or that no
    worker runs while others are offered."""
    runnable = workers.runnable_languages()
    if not runnable:
        abort(
            503,
            message="No worker can run code right now; try again later",
            headers={"Retry-After": NO_WORKER_RETRY_AFTER},
        )
    names = sorted(language.name for language in switched_on(runnable))
    if name not in names:
        message = f"Unknown or unavailable language; available: {', '.join(names)}"
        abort(422, message=message, messages={"json": {"language": [message]}})


def job_language(data: dict) -> str:
    """The language asked for; for a workspace run without one, its entry's."""
    if data["entry"] is None:
        return data["language"]
    return workspace_files.language_of(data["entry"], data["language"])


def workspace_snapshot(data: dict) -> workspace_files.Snapshot | None:
    """A workspace run's files, read now (the caller's access was checked)."""
    if data["entry"] is None:
        return None
    return workspace_files.snapshot(data["workspace_id"], data["entry"])


def submission_project(workspace_id: uuid.UUID | None) -> str | None:
    """The project of the job's workspace; the caller must be its owner or a collaborator."""
    if workspace_id is None:
        return None
    workspace, _ = workspace_access(workspace_id, Role.COLLABORATOR)
    return str(workspace.project_id)


def workspace_access(
    workspace_id: uuid.UUID, needed: Role | None = None
) -> tuple[Workspace, ProjectAccess]:
    """The workspace and the caller's access to its project. A workspace the caller may not
    see is "not found" exactly like a missing one: its existence is not revealed."""
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        abort(404, message=WORKSPACE_NOT_FOUND)
    access = project_access(workspace.project_id, needed, not_found=WORKSPACE_NOT_FOUND)
    return workspace, access


def require_tests_within_limits(data: dict) -> None:
    """413 past the stdin's or the tests' size cap (the count of tests is the schema's: 422)."""
    if len(data["stdin"].encode()) > MAX_STDIN_BYTES:
        abort(413, message=f"stdin exceeds {MAX_STDIN_BYTES // (1024 * 1024)} MiB")
    tests = data.get("tests") or []
    if testcases.tests_bytes(tests) > testcases.MAX_TESTS_BYTES:
        mib = testcases.MAX_TESTS_BYTES // (1024 * 1024)
        abort(413, message=f"The tests' stdin and expected_output exceed {mib} MiB in all")


def require_capacity(user_id: str) -> None:
    """Reserve one of the user's slots for unfinished jobs (released when the job finishes)."""
    limit = current_app.config["JOBS_MAX_ACTIVE_PER_USER"]
    if not slots.reserve(user_id, limit, store.count_unfinished):
        abort(429, message=f"You already have {limit} unfinished jobs; wait for one to finish")


def require_queue_room() -> None:
    try:
        queued = job_tasks.queued_count()
    except redis.RedisError:
        abort(503, message="The job queue is unavailable; try again later")
    if queued >= current_app.config["JOBS_MAX_QUEUED"]:
        abort(
            503,
            message="The job queue is full; try again later",
            headers={"Retry-After": QUEUE_FULL_RETRY_AFTER},
        )


def new_job(
    user_id: str,
    data: dict,
    project_id: str | None,
    key: str | None,
    files: workspace_files.Snapshot | None = None,
) -> JobDocument:
    limits = Limits(wall_seconds=data["timeout"], memory_mb=data["memory_mb"]).clamped()
    workspace_id = data["workspace_id"]
    return JobDocument(
        user_id=user_id,
        language=data["language"],
        code=data["code"] or "",
        entry=data["entry"],
        files=files.files if files else None,
        skipped=files.skipped if files else None,
        stdin=data["stdin"],
        limits=asdict(limits),
        workspace_id=str(workspace_id) if workspace_id else None,
        project_id=project_id,
        idempotency_key=key,
        test_cases=data.get("tests"),
        compare=data.get("compare", testcases.TRIMMED),
        stop_on_failure=data.get("stop_on_failure", False),
        interactive=data.get("interactive", False),
    )


def require_same_request(original: JobDocument, data: dict) -> None:
    """A key names one request: reusing it for another is a client bug, not a retry."""
    replay = new_job(original.user_id, data, original.project_id, original.idempotency_key)
    fields = (
        "language",
        "code",
        "entry",
        "stdin",
        "limits",
        "workspace_id",
        "test_cases",
        "compare",
        "interactive",
    )
    if any(getattr(replay, name) != getattr(original, name) for name in fields):
        abort(422, message="This Idempotency-Key was already used for a different request")


def queue_or_fail(job: JobDocument) -> None:
    """Enqueue; if Redis is down the job is marked failed (never left pending) and 503."""
    try:
        job_tasks.enqueue(job)
    except redis.RedisError:
        store.fail(job.id, "The job queue was unavailable at submission")
        abort(503, message="The job queue is unavailable; try again later")


def member_role(project_id: str | None) -> Role | None:
    if project_id is None:
        return None
    statement = select(Membership.role).where(
        Membership.project_id == uuid.UUID(project_id), Membership.user_id == current_user_id()
    )
    return db.session.scalar(statement)


def current(job_id: str) -> JobDocument | None:
    """The job as stored, or as Redis knows it while MongoDB is down (503 if it knows
    nothing); a running job with the output it has printed so far."""
    try:
        job = store.get(job_id)
    except PyMongoError:
        summary = live.recall(job_id)
        if summary is None:
            raise
        log.warning("job %s read from its Redis summary: MongoDB is unavailable", job_id)
        job = JobDocument.from_mongo({**summary, "code": "", "stdin": ""})
    return with_what_redis_knows(job) if job is not None else None


def with_what_redis_knows(job: JobDocument) -> JobDocument:
    """For a running job: the result its worker parked in Redis (MongoDB refused it), or
    else the output so far. Others are returned as they are."""
    if job.status != Status.RUNNING:
        return job
    try:
        known = recovery.unstored(job.id) or live.output_so_far(job.id)
    except redis.RedisError:
        log.warning("could not read what Redis knows of job %s", job.id, exc_info=True)
        return job
    return replace(job, **known)


def visible_job(job_id: str) -> JobDocument:
    """The job if the caller submitted it or is a member of its project; else 404."""
    job = current(job_id)
    if job is None:
        abort(404, message=JOB_NOT_FOUND)
    if job.user_id != str(current_user_id()) and member_role(job.project_id) is None:
        abort(404, message=JOB_NOT_FOUND)
    return job


def wait_for(job_id: str, seconds: float) -> JobDocument:
    """The job, polled until it is finished or `seconds` have passed."""
    job = visible_job(job_id)
    deadline = time.monotonic() + seconds
    while not job.finished and (remaining := deadline - time.monotonic()) > 0:
        try:  # the worker's notification wakes it; the store stays the truth
            job_tasks.wait_finished(job_id, min(remaining, WAIT_POLL_SECONDS * 10))
        except redis.RedisError:
            time.sleep(min(remaining, WAIT_POLL_SECONDS))
        job = current(job_id) or job
    return job


def jobs_for_caller(query: dict) -> tuple[list[JobDocument], int]:
    """The caller's own jobs, or with workspace_id every job of that workspace (members)."""
    criteria: dict = {}
    if "workspace_id" in query:
        workspace, access = workspace_access(query["workspace_id"])
        if access.role is None:
            abort(403, message="Only members of the project see its jobs")
        criteria["workspace_id"] = str(workspace.id)
    else:
        criteria["user_id"] = str(current_user_id())
    if "status" in query:
        criteria["status"] = query["status"]
    return store.list_jobs(criteria, query["skip"], query["limit"])


def cancel(job_id: str) -> None:
    """Cancel a pending (dequeued) or running (killed) job; 409 once it is finished."""
    job = visible_job(job_id)
    if job.user_id != str(current_user_id()) and member_role(job.project_id) != Role.OWNER:
        abort(403, message="Only the submitter and the project's owner may cancel a job")
    cancelled = store.cancel(job_id)
    if cancelled is None:
        abort(409, message="The job has already finished")
    if job.status == Status.PENDING:
        job_tasks.dequeue(job)
    job_tasks.signal_cancel(job_id)  # a job picked up meanwhile is killed too
    job_tasks.notify_finished(job_id)
    job_tasks.broadcast_status(cancelled)
    record_job("job.cancelled", cancelled)
