"""A document replica process: the only place pycrdt applies bytes that came from outside.

    python -m collab.documents.replica      (started by collab/documents/engine.py)

Yrs can panic, abort or segfault on crafted updates (see wire.py), and its native calls do not
yield to gevent. So the web and worker processes never apply a client's update or state vector
themselves: they send it here, to a child that holds replicas of recently used documents. If
the child dies, only that call fails; its parent starts another.

It reads requests from stdin and answers each on stdout (frames of ipc.py), one at a time:

    apply  {doc, base, fresh, last, parts, update, max_bytes} -> {size}     a client's edit
    apply_many  {..., updates, max_bytes} -> {answers: [each as apply's]}  edits that queued
    read   {doc, base, fresh, last, parts, state_vector?, text?, state?}  -> {seq, ...}
    check  {parts}                      -> {snapshot, size, bad}       compaction and repair
    make   {text}                       -> {update}                    a document's first text
    text   {parts}                      -> {text}                      a version (history)
    edit   {parts, text}                -> {update, changed}           replace the text (REST)
    ping   {}                           -> {pid}

Every answer about a document carries `held`: [seq, epoch] of the replica kept of it, or None.

A replica is kept per document with the seq of the last stored update it includes (it may
also include updates applied here and being stored right now: applying one twice is a no-op).
`parts` bring it up to date: the stored updates after `base`, or when `fresh` the whole
stored content (the snapshot, then the log). A replica already past `base` takes them too.
Errors come back as {error, message}: `stale` (the replica is behind `base`: send it fresh),
`invalid` (the client's bytes are refused), `too_large`, `corrupt` (a stored part failed to
apply; `index` says which), `internal` (anything else; the replica was dropped).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import resource
import signal
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass

from pycrdt import Doc, Text

from collab.documents import ipc, textdiff, wire

# Which pycrdt failures are the bytes' fault. Its panics are pyo3_runtime.PanicException, a
# BaseException: `except Exception` alone would let them through.
NOT_OURS = (KeyboardInterrupt, SystemExit)
# Whether an edit leaves the document reading the same once encoded and loaded again, and
# when applied before the rest of the document, costs two full loads (~1 ms each for 2,000
# typed characters, ~13 ms at 256 KiB of a much edited text). So it is checked for every
# edit that does not look like a client's (a clock gap, an origin the replica lacks:
# wire.UpdateShape.looks_like_an_edit), and for every edit of a document up to
# FULL_CHECK_BYTES. Fuzzing found typed-looking edits that diverge too, so none is exempt
# there. Above it, only the former (the rest is left to compaction, whose checked snapshot
# finds and sets aside an update that made copies disagree: tasks.py).
FULL_CHECK_BYTES = 128 * 1024
PR_SET_PDEATHSIG = 1


class Refused(Exception):
    def __init__(self, error: str, message: str, **details) -> None:
        super().__init__(message)
        self.answer = {"error": error, "message": message, **details}


@dataclass
class Replica:
    doc: Doc
    text: Text
    seq: int
    weight: int  # bytes applied to it: what it costs to keep, roughly
    epoch: int  # which replica of the document this is (each rebuild makes a new one)
    # It read the same reloaded at its last check, and every edit since was checked: an edit
    # failing the check now is that edit's fault. Unknown (False) for a replica just loaded.
    verified: bool = False


EPOCHS = itertools.count(1)


def new_replica() -> Replica:
    doc = Doc()
    text = doc.get(wire.ROOT, type=Text)
    return Replica(doc=doc, text=text, seq=0, weight=0, epoch=next(EPOCHS))


def apply_stored(replica: Replica, parts: list[bytes]) -> None:
    """Stored updates were checked when they arrived; one failing now means the stored
    document is damaged (Refused corrupt, with its index in `parts`)."""
    for index, part in enumerate(parts):
        try:
            replica.doc.apply_update(part)
        except BaseException as error:
            if isinstance(error, NOT_OURS):
                raise
            raise Refused("corrupt", f"stored part {index} failed: {error}", index=index) from None
        replica.weight += len(part)
        # Checked where it arrived, but integrated here on top of a history that may differ.
        replica.verified = False


class Replicas:
    """The documents this process holds, least recently used first."""

    def __init__(self, max_weight: int) -> None:
        self.max_weight = max_weight
        self.entries: OrderedDict[str, Replica] = OrderedDict()

    def up_to_date(self, request: dict) -> Replica:
        doc_id = request["doc"]
        if request.get("fresh"):
            self.entries.pop(doc_id, None)
            replica = new_replica()
        else:
            # Ahead of `base` is fine (another call brought it further; applying an update
            # twice changes nothing); behind it, it would miss updates.
            replica = self.entries.get(doc_id)
            if replica is None or replica.seq < request["base"]:
                raise Refused("stale", "this replica is behind the base seq")
        try:
            apply_stored(replica, request["parts"])
        except BaseException:
            self.entries.pop(doc_id, None)
            raise
        replica.seq = max(replica.seq, request["last"])
        self.entries[doc_id] = replica
        self.entries.move_to_end(doc_id)
        self.evict()
        return replica

    def evict(self) -> None:
        while len(self.entries) > 1 and self.weight() > self.max_weight:
            self.entries.popitem(last=False)

    def weight(self) -> int:
        return sum(replica.weight for replica in self.entries.values())

    def confirm(self, doc_id: str, epoch: int, before: int, after: int) -> None:
        """The update that replica `epoch` applied at `before` is stored as `after` (the next
        seq): it holds everything up to `after`. Not if it was rebuilt or moved since."""
        replica = self.entries.get(doc_id)
        if replica is not None and replica.epoch == epoch and replica.seq == before:
            replica.seq = after

    def drop(self, doc_id: str) -> None:
        self.entries.pop(doc_id, None)

    def feed(self, doc_id: str, epoch: int, seq: int, update: bytes) -> None:
        """The update stored as `seq`, for replica `epoch` if it holds up to the seq before
        (a replica rebuilt or moved since reads the database when needed)."""
        replica = self.entries.get(doc_id)
        if replica is None or replica.epoch != epoch or replica.seq != seq - 1:
            return
        try:
            apply_stored(replica, [update])
        except Refused:
            self.drop(doc_id)
            return
        replica.seq = seq


def apply(replicas: Replicas, request: dict) -> dict:
    replica = replicas.up_to_date(request)
    require_what_it_needs(replica, request, [request["update"]])
    return apply_one(replicas, replica, request["doc"], request["update"], request["max_bytes"])


def apply_many(replicas: Replicas, request: dict) -> dict:
    """Several clients' edits of one document, each with its own verdict (`answers`, like
    `apply`'s). Once one leaves the replica dropped, the rest are answered `retry`."""
    replica = replicas.up_to_date(request)
    require_what_it_needs(replica, request, request["updates"])
    answers = []
    for update in request["updates"]:
        if replicas.entries.get(request["doc"]) is not replica:
            answers.append({"error": "retry", "message": "the replica was dropped"})
            continue
        started = time.process_time()
        try:
            answer = apply_one(replicas, replica, request["doc"], update, request["max_bytes"])
        except Refused as refused:
            answer = refused.answer
        # Each edit's own cost, for its sender's budget (not the batch's: content.py).
        answers.append({**answer, "cpu_ms": (time.process_time() - started) * 1000})
    return {"answers": answers}


def require_what_it_needs(replica: Replica, request: dict, updates: list[bytes]) -> None:
    """An `optimistic` request did not read the database first: if an edit refers to
    anything the replica lacks, answer `stale` (nothing applied) so that it does."""
    if not request.get("optimistic"):
        return
    state = wire.check_state_vector(replica.doc.get_state())
    for update in updates:
        try:
            shape = wire.check_update(update)
        except wire.Malformed:
            continue  # refused as it is applied
        if not shape.looks_like_an_edit(state):
            raise Refused("stale", "an edit refers to what this replica lacks")


def apply_one(replicas: Replicas, replica: Replica, doc_id: str, update: bytes, max_bytes: int):
    try:
        shape = wire.check_update(update)
    except wire.Malformed as error:
        raise Refused("invalid", str(error)) from None
    before = len(replica.text)
    state_before = replica.doc.get_state()
    check = how_to_check(replica, shape, wire.check_state_vector(state_before))
    try:
        if check == "check" and not replica.verified:
            replica.verified = reloads_the_same(replica)
        before_edit = replica.doc.get_update() if check is not None else b""
        replica.doc.apply_update(update)
        size = len(replica.text)
        replica.doc.get_update(state_before)  # what this edit added still encodes
        converges = check is None or (
            reloads_the_same(replica) and reads_the_same_applied_first(replica, update, before_edit)
        )
    except BaseException as error:
        if isinstance(error, NOT_OURS):
            raise
        replicas.drop(doc_id)  # possibly half applied: rebuilt from storage next time
        raise Refused("invalid", "The update cannot be applied to this document") from None
    if not converges and replica.verified:
        replicas.drop(doc_id)
        raise Refused("invalid", "The update would make copies of the document disagree")
    if size > max_bytes and size > before:
        replicas.drop(doc_id)
        raise Refused("too_large", f"The document would exceed {max_bytes} bytes")
    replica.weight += len(update)
    # Not converging here means the document disagreed before this edit (loaded that way):
    # reported, so that a rebuild finds the update behind it.
    replica.verified = check == "check" and converges
    return {"size": size, "diverged": not converges}


def how_to_check(replica: Replica, shape: wire.UpdateShape, state: dict[int, int]) -> str | None:
    """None: no convergence check; "check": checked, refused if it fails on a replica that
    read the same before it (else reported). An update that does not look like an edit of
    this document (a gap after what it has of a client, an origin it lacks) is refused: its
    structs would wait, pending, and integrate later in whichever order each copy of the
    document got the updates, so copies could disagree (fuzzing found such pairs)."""
    if not shape.looks_like_an_edit(state):
        raise Refused("invalid", "The update refers to what this document does not have")
    if len(replica.text) > FULL_CHECK_BYTES:
        return None
    return "check"


def reads_the_same_applied_first(replica: Replica, update: bytes, before_edit: bytes) -> bool:
    """Whether a client that gets this edit before the rest of the document (broadcasts can
    arrive out of order, a reconnecting client syncs after its own edits) reads the same.
    Fuzzing found edits that integrate one way after the document and another before it."""
    fresh = new_replica()
    fresh.doc.apply_update(update)
    fresh.doc.apply_update(before_edit)
    return str(fresh.text) == str(replica.text)


def reloads_the_same(replica: Replica) -> bool:
    """Whether the document, encoded and loaded into a fresh replica, reads the same: what
    every client that syncs it gets. Updates whose origins contradict each other can be
    integrated one way here and another way from the encoding (found by fuzzing)."""
    fresh = new_replica()
    fresh.doc.apply_update(replica.doc.get_update())
    return str(fresh.text) == str(replica.text)


def read(replicas: Replicas, request: dict) -> dict:
    state_vector = request.get("state_vector")
    if state_vector is not None:
        try:
            wire.check_state_vector(state_vector)
        except wire.Malformed as error:
            raise Refused("invalid", f"Not a state vector: {error}") from None
    replica = replicas.up_to_date(request)
    answer = {"seq": replica.seq, "size": len(replica.text)}
    if state_vector is not None:
        try:
            answer["update"] = replica.doc.get_update(state_vector)
        except (ValueError, RuntimeError) as error:
            raise Refused("invalid", f"Not a state vector: {error}") from None
    if request.get("state"):
        answer["state"] = replica.doc.get_update()
    if request.get("text"):
        answer["text"] = str(replica.text).encode("utf-8")
    return answer


def check(request: dict) -> dict:
    """Build a document from stored parts, skipping those that fail; its snapshot, verified
    to load again into the same text."""
    parts, bad = request["parts"], []
    while True:
        replica = new_replica()
        try:
            apply_stored(replica, [part for i, part in enumerate(parts) if i not in bad])
            break
        except Refused as refused:  # index counts the parts kept: map it back
            kept = [i for i in range(len(parts)) if i not in bad]
            bad.append(kept[refused.answer["index"]])
    snapshot = replica.doc.get_update()
    reloaded = new_replica()
    reloaded.doc.apply_update(snapshot)
    if str(reloaded.text) != str(replica.text):
        raise Refused("corrupt", "the snapshot does not load back into the same text")
    return {"snapshot": snapshot, "size": len(replica.text), "bad": sorted(bad)}


def text_of(request: dict) -> dict:
    """The text of stored parts, as of exactly those parts (a version of the document)."""
    replica = new_replica()
    apply_stored(replica, request["parts"])
    return {"text": str(replica.text).encode("utf-8")}


def make(request: dict) -> dict:
    """The update that writes `text` into an empty document (our own text, not a client's)."""
    replica = new_replica()
    if request["text"]:
        replica.text.insert(0, request["text"])
    return {"update": replica.doc.get_update()}


def edit(request: dict) -> dict:
    """The update that turns the stored document (`parts`, the server's own) into `text`,
    deleting and inserting only the ranges that differ (textdiff.py), so that the
    positions of the unchanged text, and the cursors in it, stay where they are."""
    replica = new_replica()
    apply_stored(replica, request["parts"])
    before = replica.doc.get_state()
    old = str(replica.text)
    changes = textdiff.changes(old, request["text"])
    with replica.doc.transaction():
        for start, end, inserted in reversed(changes):  # from the end: offsets stay valid
            at, until = textdiff.utf8_offset(old, start), textdiff.utf8_offset(old, end)
            if until > at:
                del replica.text[at:until]
            if inserted:
                replica.text.insert(at, inserted)
    return {"update": replica.doc.get_update(before), "changed": bool(changes)}


def handle(replicas: Replicas, request: dict) -> dict:
    for doc_id, epoch, before, after in request.get("confirm", []):
        replicas.confirm(doc_id, epoch, before, after)
    for doc_id in request.get("drop", []):
        replicas.drop(doc_id)
    for doc_id, epoch, seq, update in request.get("feed", []):
        replicas.feed(doc_id, epoch, seq, update)
    op = OPS.get(request.get("op"))
    if op is None:
        raise Refused("bad_request", f"unknown op {request.get('op')!r}")
    return op(replicas, request)


OPS = {
    "apply": apply,
    "apply_many": apply_many,
    "read": read,
    "check": lambda _replicas, request: check(request),
    "make": lambda _replicas, request: make(request),
    "text": lambda _replicas, request: text_of(request),
    "edit": lambda _replicas, request: edit(request),
    "ping": lambda _replicas, _request: {"pid": os.getpid()},
}


def answer_to(replicas: Replicas, request: dict) -> dict:
    try:
        return handle(replicas, request)
    except Refused as refused:
        return refused.answer
    except BaseException as error:  # a panic we did not expect where it came
        if isinstance(error, NOT_OURS):
            raise
        if "doc" in request:
            replicas.drop(request["doc"])
        return {"error": "internal", "message": f"{type(error).__name__}: {error}"[:500]}


def serve(requests, answers, replicas: Replicas) -> None:
    while True:
        prefix = requests.read(4)
        if len(prefix) < 4:
            return  # the parent is gone
        payload = requests.read(ipc.frame_length(prefix))
        started = time.process_time()
        request = ipc.decode(payload)
        answer = answer_to(replicas, request)
        if "doc" in request:
            replica = replicas.entries.get(request["doc"])
            answer["held"] = [replica.seq, replica.epoch] if replica is not None else None
        answer["cpu_ms"] = (time.process_time() - started) * 1000
        answers.write(ipc.encode(answer))
        answers.flush()


def limit_self() -> None:
    """Die with the parent, and cap memory: a claim Yrs would try to allocate fails here."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    megabytes = int(os.environ.get("DOCUMENT_REPLICA_MEMORY_MB", "0"))
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    limit_self()
    # The protocol owns the original stdout; anything printed goes to stderr instead.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = os.fdopen(0, "rb")
    weight = int(os.environ.get("DOCUMENT_REPLICA_CACHE_MB", "256")) * 1024 * 1024
    serve(requests, answers, Replicas(weight))


if __name__ == "__main__":
    sys.exit(main())
