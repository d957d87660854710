"""Document content: stored in SQL (store.py), applied in replica processes (engine.py).

The API of the real-time layer and the REST views. It needs an app context; the caller
checks permissions first (`location` gives the project to check) and broadcasts an update
only once `append_update` has returned, when it is committed:

    append_update(document_id, update: bytes, author_id) -> int   its seq (1, 2, 3... per doc)
    read(document_id, state_vector=None, text=False, state=False) -> Content
    state_of / missing_since / text_of / last_seq / location    shorthands for one thing
    stored_text(document_id) -> (Stored, text)             exactly as stored (a version's)
    initial_update(text) -> bytes                          the update that writes a first text
    replace_text(document_id, text, author_id) -> (update | None, seq)  write it all, minimally

Refusals raise a `DocumentError`, whose `code` and `status` say how to answer them. Ids may be
UUIDs or their strings; a malformed one is a DocumentNotFound, like an unknown one.

Nothing here applies a CRDT byte itself. A client's update is tried on the document's replica
first (a child process) and stored only if the replica took it and can still encode and read
the result; a crash or a hang in the child refuses that update and nothing else. A document
whose stored content fails to load is rebuilt on the spot without the parts that fail (they
are set aside in `document_quarantine`, see tasks.rebuild); its readers never crash.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from collab.documents import batching, store
from collab.documents.engine import Engine, ReplicaCrashed, Settings, charge, metered
from collab.extensions import db
from collab.models import Document, Workspace

log = logging.getLogger(__name__)

MAX_UPDATE_BYTES = 1024 * 1024  # one update; the transport's buffer is twice that
# How long a replica read from the database may take edits without reading it again first:
# each edit would otherwise cost a query. A replica that lacks what an edit refers to (an
# edit made on another instance) is brought up to date at once regardless.
FRESH_SECONDS = 1.0
COMPACT_EVERY = 500  # updates logged since the snapshot; a compaction is queued at each multiple


class DocumentError(Exception):
    """A refused content operation. `code` and `status` are those the REST API would answer."""

    code = "bad_request"
    status = 400


class DocumentNotFound(DocumentError):
    code = "not_found"
    status = 404


class InvalidUpdate(DocumentError):
    pass


class UpdateTooLarge(DocumentError):
    code = "payload_too_large"
    status = 413


class DocumentTooLarge(DocumentError):
    code = "too_large"
    status = 413


class InvalidStateVector(DocumentError):
    pass


class DocumentUnavailable(DocumentError):
    """Its content cannot be served right now (being repaired, or the replicas keep failing)."""

    code = "unavailable"
    status = 503


REFUSALS = {"invalid": InvalidUpdate, "too_large": DocumentTooLarge}


@dataclass(frozen=True)
class Content:
    """What one read of a document gave."""

    seq: int  # the last stored update included
    size: int  # bytes of text
    missing: bytes | None = None  # what the given state vector lacks, as one update
    state: bytes | None = None  # the whole content, as one update
    text: str | None = None


# --- The replica processes of this process ---------------------------------------------------

ENGINES: dict[Settings, Engine] = {}  # per process; apps with the same settings share one


def engine() -> Engine:
    return engine_for(current_app.config)


def engine_for(config) -> Engine:
    settings = Settings(
        processes=max(1, config["DOCUMENT_REPLICA_PROCESSES"]),
        timeout_seconds=config["DOCUMENT_REPLICA_TIMEOUT_SECONDS"],
        memory_mb=config["DOCUMENT_REPLICA_MEMORY_MB"],
        cache_mb=config["DOCUMENT_REPLICA_CACHE_MB"],
    )
    if settings not in ENGINES:
        ENGINES[settings] = Engine(settings)
    return ENGINES[settings]


class StoredContentFailed(Exception):
    """The document's stored content did not load in its replica."""


def on_replica(document_id: uuid.UUID, op: str, optimistic: bool = False, **fields) -> dict:
    """Run `op` on the document's replica, first brought up to date from the database.
    Raises DocumentNotFound, ReplicaCrashed or StoredContentFailed; other errors are in the
    answer.

    `optimistic` (edits): if the replica was brought up to date less than FRESH_SECONDS ago,
    try without reading the database; the replica answers `stale` when an edit refers to
    anything it lacks (another instance's latest edits), and only then is it read."""
    child = engine().child_for(document_id)
    key = str(document_id)
    if optimistic and child.refreshed_within(key, FRESH_SECONDS):
        base = child.base(key)
        request = {"op": op, "doc": key, "base": base, "fresh": False, "last": base}
        answer = child.call(request | {"parts": [], "optimistic": True, **fields})
        if answer.get("error") not in ("stale", "corrupt", "internal"):
            return answer
    for _ in range(2):  # a second time if the replica turned out not to be where we thought
        base = child.base(key)
        stored = store.load(document_id, after=base)
        if stored is None:
            raise DocumentNotFound("Document not found")
        request = {"op": op, "doc": key, "base": base, "fresh": stored.from_snapshot}
        request |= {"last": stored.last_seq, "parts": stored.parts, **fields}
        answer = child.call(request)
        if answer.get("error") != "stale":
            break
    if answer.get("held"):
        child.refreshed(key)
    if answer.get("error") in ("corrupt", "internal", "stale"):
        raise StoredContentFailed(f"{answer.get('error')}: {answer.get('message')}")
    return answer


def with_repair(document_id: uuid.UUID, attempt):
    """`attempt()`, and once more after rebuilding the document if its stored content failed.
    `attempt` handles crashes it can blame on its own input."""
    try:
        return attempt()
    except (StoredContentFailed, ReplicaCrashed) as error:
        log.error("document %s: %s", document_id, error)
    repair(document_id)
    try:
        return attempt()
    except (StoredContentFailed, ReplicaCrashed):
        log.error("document %s still fails after its repair", document_id)
        raise DocumentUnavailable("The document cannot be loaded right now") from None


def repair(document_id: uuid.UUID) -> None:
    from collab.documents import tasks  # tasks enqueue through this module's callers

    log.error("document %s: its stored content failed to load; rebuilding it", document_id)
    if not tasks.rebuild(document_id):
        raise DocumentUnavailable("The document is being repaired; try again shortly")


class InputCrashed(Exception):
    """The replica crashed twice on this input while the document alone loads fine."""


class Crashers:
    """Digests of the inputs that crashed replicas, per document, in this process: sent
    again (an attacker's loop), they are refused without another crash."""

    SIZE = 10_000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: OrderedDict[bytes, None] = OrderedDict()

    @staticmethod
    def digest(document_id: uuid.UUID, data: bytes) -> bytes:
        return hashlib.blake2b(document_id.bytes + data, digest_size=16).digest()

    def add(self, document_id: uuid.UUID, data: bytes) -> None:
        with self.lock:
            self.seen[self.digest(document_id, data)] = None
            if len(self.seen) > self.SIZE:
                self.seen.popitem(last=False)

    def __contains__(self, key: tuple[uuid.UUID, bytes]) -> bool:
        return self.digest(*key) in self.seen


crashers = Crashers()


def blamed_on_input(document_id: uuid.UUID, data: bytes, call, again=None):
    """`call()`, then `again()` (by default `call()` once more) if the replica crashed: a
    death that had nothing to do with the input (the OOM killer, an operator, another edit in
    the same batch) must not refuse it. A second crash is the input's fault if the document
    alone still loads (InputCrashed); otherwise ReplicaCrashed. An input that already crashed
    a replica is refused at once."""
    if (document_id, data) in crashers:
        raise InputCrashed()
    try:
        return call()
    except ReplicaCrashed:
        pass
    try:
        return (again or call)()
    except ReplicaCrashed:
        if healthy(document_id):
            crashers.add(document_id, data)
            raise InputCrashed() from None
        raise


def healthy(document_id: uuid.UUID) -> bool:
    """Whether the stored content loads, after a call crashed: built afresh in the checker
    process, so the document's own child need not be restarted once more to know."""
    stored = store.load(document_id)
    if stored is None:
        raise DocumentNotFound("Document not found")
    try:
        answer = engine().checker.call({"op": "check", "parts": stored.parts})
    except ReplicaCrashed:
        return False
    return "error" not in answer and not answer["bad"]


# --- Writing ---------------------------------------------------------------------------------


def append_update(
    document_id: uuid.UUID | str, update: bytes, author_id: uuid.UUID | None = None
) -> int:
    """Store a client's update (Yjs V1 format), sent by `author_id`, durably; its seq once
    committed."""
    document_id = parse_id(document_id)
    if not isinstance(update, bytes):
        raise InvalidUpdate("An update must be binary")
    if len(update) > MAX_UPDATE_BYTES:
        raise UpdateTooLarge(f"An update may not exceed {MAX_UPDATE_BYTES} bytes")
    answer = with_repair(document_id, lambda: try_update(document_id, update))
    seq = store_update(document_id, update, answer["held"], author_id)
    if answer.get("diverged"):  # it disagreed before this edit (as loaded): find the culprit
        log.error("document %s: its replica reads differently once reloaded", document_id)
        from collab.documents.tasks import enqueue_compaction

        enqueue_compaction(document_id)
    return seq


def try_update(document_id: uuid.UUID, update: bytes) -> dict:
    max_bytes = current_app.config["DOCUMENT_MAX_BYTES"]

    def together() -> dict:
        def call(updates: list[bytes]) -> list[dict]:
            return apply_on_replica(document_id, updates, max_bytes)

        # Whoever gets the document's turn makes the call for every edit waiting: its cost is
        # not charged to that sender but each edit's share to its own sender, and a crash to
        # nobody (each edit is then tried alone, where a crasher pays for its own). Else
        # another user's crasher in the same batch would cost an honest sender its budget.
        with metered():
            answer = batching.apply_together(document_id, update, call)
        charge(float(answer.get("cpu_ms") or 0.0))
        return answer

    def alone() -> dict:
        return apply_on_replica(document_id, [update], max_bytes)[0]

    try:
        answer = blamed_on_input(document_id, update, together, again=alone)
        if answer.get("error") == "retry":  # another edit of its batch dropped the replica
            answer = blamed_on_input(document_id, update, alone)
    except InputCrashed:
        raise InvalidUpdate("The update cannot be applied to this document") from None
    if "error" in answer:
        raise REFUSALS.get(answer["error"], InvalidUpdate)(answer["message"])
    return answer


def apply_on_replica(document_id: uuid.UUID, updates: list[bytes], max_bytes: int) -> list:
    """Each update's answer from the document's replica (one call for all of them)."""
    fields = {"max_bytes": max_bytes, "optimistic": True}
    if len(updates) == 1:
        return [on_replica(document_id, "apply", update=updates[0], **fields)]
    answer = on_replica(document_id, "apply_many", updates=updates, **fields)
    answers = answer.get("answers")
    if not (isinstance(answers, list) and len(answers) == len(updates)):
        raise ReplicaCrashed(f"no answer for each update: {str(answer)[:200]}")
    if not all(isinstance(each, dict) for each in answers):
        raise ReplicaCrashed("malformed answers")
    return [{**each, "held": answer.get("held"), "cpu_ms": share} for each, share in
            zip(answers, cost_shares(answer, answers), strict=True)]  # fmt: skip


def cost_shares(answer: dict, answers: list[dict]) -> list[float]:
    """Each edit's replica CPU time: its own apply, plus an even share of the rest of the
    call (bringing the replica up to date)."""
    own = [float(each.get("cpu_ms") or 0.0) for each in answers]
    shared = max(0.0, float(answer.get("cpu_ms") or 0.0) - sum(own)) / len(answers)
    return [ms + shared for ms in own]


def store_update(
    document_id: uuid.UUID, update: bytes, held: list[int] | None, author_id: uuid.UUID | None
) -> int:
    child = engine().child_for(document_id)
    try:
        appended = store.append(document_id, update, author_id)
    except BaseException:
        child.drop(str(document_id))  # it holds an update that was not stored
        raise
    if appended is None:
        child.drop(str(document_id))
        raise DocumentNotFound("Document not found")
    if held is not None:
        child.confirm(str(document_id), held, appended.seq)
    if appended.since_snapshot % COMPACT_EVERY == 0:
        from collab.documents.tasks import enqueue_compaction

        enqueue_compaction(document_id)
    return appended.seq


def initial_update(text: str) -> bytes:
    """The update that writes `text` into an empty document (the server's own, trusted)."""
    return engine().checker.call({"op": "make", "text": text})["update"]


def replace_text(
    document_id: uuid.UUID | str, text: str, author_id: uuid.UUID | None = None
) -> tuple[bytes | None, int]:
    """Make the document read `text` by deleting and inserting only what differs: the update
    stored (None if the text was already that) and the seq the document is at. The update is
    built in the checker process against the stored content, then stored like a client's,
    as written by `author_id`."""
    document_id = parse_id(document_id)
    if len(text.encode("utf-8")) > current_app.config["DOCUMENT_MAX_BYTES"]:
        raise DocumentTooLarge("The document would exceed its size limit")
    update, base = with_repair(document_id, lambda: replacement(document_id, text))
    if update is None:
        return None, base
    return update, append_update(document_id, update, author_id)


def replacement(document_id: uuid.UUID, text: str) -> tuple[bytes | None, int]:
    stored = store.load(document_id)
    if stored is None:
        raise DocumentNotFound("Document not found")
    answer = engine().checker.call({"op": "edit", "parts": stored.parts, "text": text})
    if "error" in answer:
        raise StoredContentFailed(f"{answer['error']}: {answer.get('message')}")
    return (answer["update"] if answer["changed"] else None), stored.last_seq


# --- Reading ---------------------------------------------------------------------------------


def read(
    document_id: uuid.UUID | str,
    state_vector: bytes | None = None,
    text: bool = False,
    state: bool = False,
) -> Content:
    """The document's content as of now: what `state_vector` lacks, its whole state, its text."""
    document_id = parse_id(document_id)
    if state_vector is not None and not isinstance(state_vector, bytes):
        raise InvalidStateVector("A state vector must be binary")
    wanted = {"text": text, "state": state}
    if state_vector is not None:
        wanted["state_vector"] = state_vector
    answer = with_repair(document_id, lambda: try_read(document_id, wanted))
    return Content(
        seq=answer["seq"],
        size=answer["size"],
        missing=answer.get("update"),
        state=answer.get("state"),
        text=answer["text"].decode("utf-8") if "text" in answer else None,
    )


def try_read(document_id: uuid.UUID, wanted: dict) -> dict:
    if "state_vector" not in wanted:
        return on_replica(document_id, "read", **wanted)
    try:
        answer = blamed_on_input(
            document_id, wanted["state_vector"], lambda: on_replica(document_id, "read", **wanted)
        )
    except InputCrashed:
        raise InvalidStateVector("Not a Yjs state vector") from None
    if answer.get("error") == "invalid":
        raise InvalidStateVector(answer["message"])
    return answer


def stored_text(document_id: uuid.UUID | str) -> tuple[store.Stored, str]:
    """The stored content and its text, exactly as of its last seq: an edit being applied
    right now is not in it (a replica's may be). What a version keeps (collab/history)."""
    document_id = parse_id(document_id)

    def attempt() -> tuple[store.Stored, str]:
        stored = store.load(document_id)
        if stored is None:
            raise DocumentNotFound("Document not found")
        answer = engine().checker.call({"op": "text", "parts": stored.parts})
        if "error" in answer:
            raise StoredContentFailed(f"{answer['error']}: {answer.get('message')}")
        return stored, answer["text"].decode("utf-8")

    return with_repair(document_id, attempt)


def state_of(document_id: uuid.UUID | str) -> bytes:
    return read(document_id, state=True).state


def missing_since(document_id: uuid.UUID | str, state_vector: bytes) -> bytes:
    if not isinstance(state_vector, bytes):
        raise InvalidStateVector("A state vector must be binary")
    return read(document_id, state_vector=state_vector).missing


def text_of(document_id: uuid.UUID | str) -> str:
    return read(document_id, text=True).text


def last_seq(document_id: uuid.UUID | str) -> int:
    document_id = parse_id(document_id)
    seq = db.session.scalar(select(Document.last_seq).where(Document.id == document_id))
    if seq is None:
        raise DocumentNotFound("Document not found")
    return seq


def location(document_id: uuid.UUID | str) -> tuple[uuid.UUID, uuid.UUID]:
    """(project_id, workspace_id) of the document, for the caller's permission check."""
    row = db.session.execute(
        select(Workspace.project_id, Workspace.id)
        .join(Document, Document.workspace_id == Workspace.id)
        .where(Document.id == parse_id(document_id))
    ).first()
    if row is None:
        raise DocumentNotFound("Document not found")
    return row.project_id, row.id


def parse_id(document_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(document_id, uuid.UUID):
        return document_id
    try:
        return uuid.UUID(str(document_id))
    except ValueError:
        raise DocumentNotFound("Document not found") from None
