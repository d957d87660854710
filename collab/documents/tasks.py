"""Compaction and repair of document content: one rebuild, in the background or on the spot.

Every update a client sends is logged (store.py); loading a document applies its snapshot and
then each update logged after it. `rebuild` folds the log into a new snapshot, so a document
with 10,000 edits loads from one update (bench/documents). It runs on RQ's default queue every
COMPACT_EVERY updates, and at once when a replica failed to load the stored
content (content.py); see `rebuild`.

The work happens in the replica engine's checker process (engine.py): the stored parts are
applied there, the result is encoded and loaded back to prove it reads. A part that raises is
left out; when a part crashes the process, a binary search over prefixes finds it. Parts left
out are moved to `document_quarantine` in the same transaction that swaps the snapshot in;
they are never deleted. An update could only be stored broken by a server older than the
replica checks, or by a Yrs failure that shows only once several updates meet.

It is safe while appends keep arriving: it folds the log only up to the last seq it read, and
swaps the snapshot in only if no other rebuild moved it meanwhile (store.replace_log).

Structs whose dependencies never arrived (the client's earlier update was refused or lost) are
held as pending by Yrs and left out of the snapshot; the client that wrote them still holds them
and sends them again when it next syncs with the server.
"""

from __future__ import annotations

import logging
import time
import uuid

import redis

from collab import activity
from collab.documents import content, store
from collab.documents.engine import ReplicaCrashed
from collab.extensions import redis_client
from collab.tasks import queue

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 300
RESULT_TTL_SECONDS = 600
FAILURE_TTL_SECONDS = 7 * 24 * 3600
REBUILD_LOCK = "collab:documents:rebuild:{}"
REBUILD_LOCK_SECONDS = 120
WAIT_FOR_OTHER_REBUILD_SECONDS = 15
MAX_BAD_PARTS = 32  # past that many, something other than a few hostile updates is wrong


def enqueue_compaction(document_id: uuid.UUID) -> None:
    """Queue a compaction. Best effort: if Redis is down the log only grows until the next
    threshold queues one again."""
    try:
        queue().enqueue(
            compact_document,
            str(document_id),
            job_timeout=TIMEOUT_SECONDS,
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
        )
    except redis.RedisError:
        log.warning("could not queue the compaction of document %s", document_id, exc_info=True)


def compact_document(document_id: str) -> int | None:
    """RQ entry point: the seq the snapshot now covers, or None if there was nothing to do."""
    try:
        return compact(uuid.UUID(document_id))
    except Exception:
        log.exception("compaction of document %s failed", document_id)
        raise  # to RQ's failed registry


def compact(document_id: uuid.UUID) -> int | None:
    stored = store.load(document_id)
    if stored is None:
        log.info("document %s was deleted: nothing to compact", document_id)
        return None
    if stored.last_seq == stored.snapshot_seq:
        return stored.last_seq
    return stored.last_seq if swap_in(document_id, stored) else None


def rebuild(document_id: uuid.UUID) -> bool:
    """Rebuild the document now, one rebuild at a time: True once it is done (here or by a
    concurrent caller), False if another is still at it after a while."""
    lock = REBUILD_LOCK.format(document_id)
    try:
        mine = redis_client.set(lock, "1", nx=True, ex=REBUILD_LOCK_SECONDS)
    except redis.RedisError:
        mine = True  # without Redis, concurrent rebuilds are still safe, only wasteful
    if not mine:
        return wait_for_rebuild(lock)
    try:
        stored = store.load(document_id)
        if stored is None:
            raise content.DocumentNotFound("Document not found")
        swap_in(document_id, stored)
        return True
    finally:
        try:
            redis_client.delete(lock)
        except redis.RedisError:
            log.warning("could not release the rebuild lock of document %s", document_id)


def wait_for_rebuild(lock: str) -> bool:
    deadline = time.monotonic() + WAIT_FOR_OTHER_REBUILD_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            if not redis_client.exists(lock):
                return True
        except redis.RedisError:
            return True
    return False


def swap_in(document_id: uuid.UUID, stored: store.Stored) -> bool:
    """Verify and fold `stored`, then make it the snapshot (bad parts quarantined)."""
    snapshot, bad = checked_snapshot(stored.parts)
    quarantined = [(stored.seqs[i], stored.parts[i]) for i in bad]
    reason = "failed to apply when the document was rebuilt"
    if not store.replace_log(document_id, stored, snapshot, quarantined, reason):
        log.info("document %s was compacted or deleted meanwhile", document_id)
        return False
    content.engine().child_for(document_id).drop(str(document_id))
    if quarantined:
        report_quarantine(document_id, [seq for seq, _ in quarantined])
    return True


def checked_snapshot(parts: list[bytes]) -> tuple[bytes, list[int]]:
    """One snapshot of `parts`, verified to load, and the indices of the parts left out."""
    checker = content.engine().checker
    bad: set[int] = set()
    for _ in range(MAX_BAD_PARTS):
        kept = [i for i in range(len(parts)) if i not in bad]
        try:
            answer = checker.call({"op": "check", "parts": [parts[i] for i in kept]})
        except ReplicaCrashed:
            bad.add(kept[first_crashing_prefix(checker, parts, kept) - 1])
            continue
        if "error" in answer:  # the snapshot did not load back: search as for a crash
            bad.add(kept[first_crashing_prefix(checker, parts, kept) - 1])
            continue
        return answer["snapshot"], sorted(bad | {kept[i] for i in answer["bad"]})
    raise content.DocumentUnavailable("The document cannot be rebuilt")


def first_crashing_prefix(checker, parts: list[bytes], kept: list[int]) -> int:
    """The length of the shortest prefix of the kept parts whose check fails (all of them do)."""
    low, high = 1, len(kept)
    while low < high:
        middle = (low + high) // 2
        if check_fails(checker, [parts[i] for i in kept[:middle]]):
            high = middle
        else:
            low = middle + 1
    return low


def check_fails(checker, parts: list[bytes]) -> bool:
    try:
        answer = checker.call({"op": "check", "parts": parts})
    except ReplicaCrashed:
        return True
    return "error" in answer or bool(answer["bad"])


def report_quarantine(document_id: uuid.UUID, seqs: list[int]) -> None:
    log.error(
        "document %s: %d stored part(s) set aside in document_quarantine (seqs %s)",
        document_id,
        len(seqs),
        seqs,
    )
    try:
        project_id, workspace_id = content.location(document_id)
    except content.DocumentNotFound:
        return
    activity.record(
        "document.repaired",
        project_id,
        activity.SYSTEM,
        workspace_id=workspace_id,
        target=("document", document_id),
        details={"quarantined_seqs": seqs},
    )
