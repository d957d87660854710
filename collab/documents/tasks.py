"""Compaction of document content, in the background on RQ's default queue.

Every update a client sends is logged (collab/documents/store.py); loading a document applies
its snapshot and then each update logged after it. Compaction folds the log into a new snapshot,
so a document with 10,000 edits loads from one update (bench/documents). It runs in the worker,
never in the web process: native CRDT work does not yield to gevent.

It is safe while appends keep arriving: it folds the log only up to the last seq it read, and
swaps the snapshot in only if no other compaction moved it meanwhile (store.replace_log).

Structs whose dependencies never arrived (the client's earlier update was refused or lost) are
held as pending by Yrs and left out of the snapshot; the client that wrote them still holds them
and sends them again when it next syncs with the server.
"""

from __future__ import annotations

import logging
import uuid

import redis

from collab.documents import crdt, store
from collab.tasks import queue

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 300
RESULT_TTL_SECONDS = 600
FAILURE_TTL_SECONDS = 7 * 24 * 3600


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
    snapshot = crdt.build(stored.parts).get_update()
    if not store.replace_log(document_id, stored, snapshot):
        log.info("document %s was compacted or deleted meanwhile", document_id)
        return None
    return stored.last_seq
