"""The MongoDB `jobs` collection: the job document's shape, its indexes, and the only writes
allowed to change a job's status (compare-and-set, so a cancelled job never turns completed).

Every call goes through `mongo.db`, whose client has 2 s timeouts: an outage raises a
PyMongoError quickly instead of hanging a request. Each stored state is also summarised in
Redis (`live.remember`), for reads while MongoDB is down.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

from flask import current_app
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from collab.extensions import ensure_ttl_index, mongo
from collab.jobs import live, slots

COLLECTION = "jobs"
TTL_INDEX = "finished_at_ttl"


class Status(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


UNFINISHED = (Status.PENDING, Status.RUNNING)
FINISHED = (Status.COMPLETED, Status.CANCELLED, Status.FAILED)


def utcnow() -> datetime:
    # MongoDB keeps milliseconds: round here so the value returned equals the value stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class JobDocument:
    """One job, from submission to its result. `id` is stored as `_id`."""

    user_id: str
    language: str
    code: str
    stdin: str
    limits: dict  # the effective (clamped) sandbox limits
    workspace_id: str | None = None
    project_id: str | None = None  # the workspace's project: who else may see the job
    idempotency_key: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = Status.PENDING.value
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None  # why the system could not run it (failed)
    output: str | None = None
    stderr: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    outcome: str | None = None
    execution_time: float | None = None
    usage: dict | None = None
    stdout_truncated: bool | None = None
    stderr_truncated: bool | None = None
    runtime: str | None = None
    output_seq: int | None = None  # the last output chunk `output`/`stderr` include
    # A workspace run (collab/jobs/workspace_files.py): the file that runs, the files with
    # their contents as submitted, and the documents that are not files.
    entry: str | None = None
    files: list[dict] | None = None
    skipped: list[str] | None = None
    # Test cases (testcases.py): what was submitted, then each test's result and the counts.
    test_cases: list[dict] | None = None  # [{name, stdin, expected_output}]
    compare: str = "trimmed"
    stop_on_failure: bool = False
    tests: list[dict] | None = None
    summary: dict | None = None
    interactive: bool = False  # stdin fed over Socket.IO (interactive.py)
    attempts: int = 1  # runs started after a worker or the queue lost it (recovery.py)

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    def to_mongo(self) -> dict:
        document = asdict(self)
        document["_id"] = document.pop("id")
        if document["idempotency_key"] is None:
            del document["idempotency_key"]  # outside the partial unique index
        return document

    @classmethod
    def from_mongo(cls, document: dict) -> JobDocument:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in document.items() if key in known}
        return cls(id=document["_id"], **values)


def collection() -> Collection:
    return mongo.collection(COLLECTION, ensure_indexes)


def ensure_indexes(jobs: Collection) -> None:
    """The list queries' indexes, the retention TTL and the idempotency key (idempotent)."""
    jobs.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
    jobs.create_index([("workspace_id", ASCENDING), ("created_at", DESCENDING)])
    jobs.create_index("status")
    # On finished_at: unfinished jobs have none, so they are never removed.
    ensure_ttl_index(jobs, "finished_at", TTL_INDEX, current_app.config["JOB_RETENTION_DAYS"])
    jobs.create_index(
        [("user_id", ASCENDING), ("idempotency_key", ASCENDING)],
        unique=True,
        partialFilterExpression={"idempotency_key": {"$exists": True}},
    )


def insert(job: JobDocument) -> JobDocument:
    """Store a new job; with an idempotency key already used by this user, the original job."""
    document = job.to_mongo()
    try:
        collection().insert_one(document)
    except DuplicateKeyError:
        original = find_by_key(job.user_id, job.idempotency_key)
        if original is None:
            raise
        return original
    live.remember(document)
    return job


def get(job_id: str) -> JobDocument | None:
    document = collection().find_one({"_id": job_id})
    return JobDocument.from_mongo(document) if document else None


def find_by_key(user_id: str, key: str | None) -> JobDocument | None:
    if key is None:
        return None
    document = collection().find_one({"user_id": user_id, "idempotency_key": key})
    return JobDocument.from_mongo(document) if document else None


def list_jobs(criteria: dict, skip: int, limit: int) -> tuple[list[JobDocument], int]:
    """Jobs matching `criteria` (user_id / workspace_id / status), newest first, and the total."""
    jobs = collection()
    total = jobs.count_documents(criteria)
    cursor = jobs.find(criteria).sort([("created_at", DESCENDING), ("_id", ASCENDING)])
    return [JobDocument.from_mongo(d) for d in cursor.skip(skip).limit(limit)], total


def count_unfinished(user_id: str) -> int:
    return collection().count_documents(
        {"user_id": user_id, "status": {"$in": [s.value for s in UNFINISHED]}}
    )


def unfinished_ids(job_ids: set[str]) -> set[str]:
    """Those of `job_ids` that are stored and still pending or running."""
    criteria = {"_id": {"$in": list(job_ids)}, "status": {"$in": [s.value for s in UNFINISHED]}}
    return {document["_id"] for document in collection().find(criteria, {"_id": 1})}


def transition(
    job_id: str, expected: tuple[Status, ...], changes: dict, attempt: int | None = None
) -> JobDocument | None:
    """Compare-and-set: apply `changes` only if the job's status is one of `expected` (and,
    with `attempt`, only to that run of it: a run that was given up on cannot finish the job).

    Returns the updated job, or None when the job is in another state (or gone)."""
    criteria = {"_id": job_id, "status": {"$in": [s.value for s in expected]}}
    if attempt is not None:
        # Jobs stored before runs were counted have no field: their first run.
        criteria["attempts"] = {"$in": [attempt, None] if attempt == 1 else [attempt]}
    document = collection().find_one_and_update(
        criteria,
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )
    if document is None:
        return None
    if document["status"] in FINISHED and not set(expected) & set(FINISHED):
        slots.release(document["user_id"])  # this compare-and-set is the one that finished it
    live.remember(document)
    return JobDocument.from_mongo(document)


def start(job_id: str) -> JobDocument | None:
    return transition(
        job_id, (Status.PENDING,), {"status": Status.RUNNING.value, "started_at": utcnow()}
    )


def completion(result: dict) -> dict:
    """The changes that record a program's result and complete its job."""
    return {**result, "status": Status.COMPLETED.value, "finished_at": utcnow()}


# What a run leaves behind: a job run again starts from its submission.
RUN_FIELDS = ("started_at", "output", "stderr", "exit_code", "signal", "outcome", "output_seq")


def retry(job_id: str, lost: Status) -> JobDocument | None:
    """Compare-and-set a lost job (`lost`: the status it was left in) back to pending for one
    more run; None when it moved on meanwhile."""
    document = collection().find_one_and_update(
        {"_id": job_id, "status": lost.value},
        {
            "$set": {"status": Status.PENDING.value, **dict.fromkeys(RUN_FIELDS)},
            "$inc": {"attempts": 1},
        },
        return_document=ReturnDocument.AFTER,
    )
    if document is None:
        return None
    live.remember(document)
    return JobDocument.from_mongo(document)


def complete(job_id: str, result: dict) -> JobDocument | None:
    return transition(job_id, (Status.RUNNING,), completion(result))


def fail(job_id: str, message: str) -> JobDocument | None:
    changes = {"status": Status.FAILED.value, "message": message, "finished_at": utcnow()}
    return transition(job_id, UNFINISHED, changes)


def cancel(job_id: str) -> JobDocument | None:
    changes = {"status": Status.CANCELLED.value, "finished_at": utcnow()}
    return transition(job_id, UNFINISHED, changes)


def record_partial_result(job_id: str, result: dict) -> None:
    """What a cancelled job printed before it was killed. The status stays cancelled and there
    is no outcome: the program was stopped, it did not end."""
    partial = {**result, "outcome": None}
    collection().update_one({"_id": job_id, "status": Status.CANCELLED.value}, {"$set": partial})


def record_tests(job_id: str, tests: list[dict], summary: dict) -> None:
    """The results of a running job's tests so far (GET shows them while it runs)."""
    progress = {"tests": tests, "summary": summary}
    collection().update_one({"_id": job_id, "status": Status.RUNNING.value}, {"$set": progress})
