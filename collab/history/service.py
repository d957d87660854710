"""Document history: making versions, reading them, diffs, restores, and the worker's pass
that makes the automatic ones and thins the old ones."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import redis
from flask import Flask, current_app
from flask_smorest import abort

from collab.documents import content
from collab.documents.service import broadcast_update, record_document
from collab.documents.store import merge_authors
from collab.extensions import db, redis_client
from collab.history import diff, store
from collab.history.schemas import VersionSchema
from collab.history.store import Wanted
from collab.models import Document, utcnow
from collab.realtime.access import room
from collab.realtime.emitter import emitter

log = logging.getLogger(__name__)

ATTEMPTS = 5  # a version is read again when a compaction or another version moved the log
PASS_SECONDS = 5.0  # how often a worker looks for documents that need a version
PASS_LOCK = "collab:history:pass"
DOCUMENTS_PER_PASS = 200
THIN_EVERY_SECONDS = 3600
THIN_DOCUMENTS_PER_PASS = 100


# --- Making versions -------------------------------------------------------------------------


def make_version(document_id: uuid.UUID, wanted: Wanted) -> dict | None:
    """Keep the document's stored text as a version (see store.save_version); announce it to
    the workspace's room as `doc:version`. None: `wanted` was automatic and nothing is new."""
    for _ in range(ATTEMPTS):
        stored, text = content.stored_text(document_id)
        try:
            version = store.save_version(document_id, stored, text, wanted)
        except store.Moved:
            continue
        except store.NoDocument:
            raise content.DocumentNotFound("Document not found") from None
        if version is not None:
            announce(version)
        return version
    raise content.DocumentUnavailable("The document is too busy to take a version; try again")


def announce(version: dict) -> None:
    """`doc:version` to the workspace's room: best effort (it is in the list either way)."""
    try:
        _, workspace_id = content.location(version["document_id"])
        message = {
            "workspace_id": str(workspace_id),
            "doc_id": str(version["document_id"]),
            "version": public(version),
        }
        emitter().emit("doc:version", message, to=room(workspace_id))
    except (content.DocumentNotFound, redis.RedisError):
        log.warning("could not announce version %s", version["id"], exc_info=True)


def public(version: dict) -> dict:
    """A version as clients see it (JSON-ready, as VersionSchema dumps it)."""
    return VersionSchema().dump(version)


def name_version(document: Document, name: str, user_id: uuid.UUID) -> dict:
    version = make_version(document.id, Wanted(name=name, created_by=user_id))
    details = {"version_id": str(version["id"]), "version_name": name}
    record_document("document.versioned", document, {"name": document.name, **details})
    return version


# --- Reading ---------------------------------------------------------------------------------


def versions_of(document: Document, skip: int, limit: int) -> tuple[list[dict], int]:
    return store.versions_of(document.id, skip, limit)


def get_version(document: Document, version_id: uuid.UUID) -> dict:
    version = store.version(document.id, version_id)
    if version is None:
        abort(404, message="Version not found")
    return version


def compare(document: Document, version_id: uuid.UUID, against: str) -> dict:
    """The line diff from the version to `against` (another version's id, or "current")."""
    old = get_version(document, version_id)
    if against == "current":
        stored, text = content.stored_text(document.id)
        new = {"id": None, "seq": stored.last_seq, "content": text}
        new_label = f"current (seq {stored.last_seq})"
    else:
        new = get_version(document, parse_version_id(against))
        new_label = label(new)
    hunks = diff.hunks(old["content"], new["content"])
    return {
        "from": {"version_id": old["id"], "seq": old["seq"]},
        "to": {"version_id": new["id"], "seq": new["seq"]},
        "unified": diff.unified(hunks, label(old), new_label),
        "hunks": [vars(each) for each in hunks],
        "added": sum(line["op"] == "insert" for each in hunks for line in each.lines),
        "removed": sum(line["op"] == "delete" for each in hunks for line in each.lines),
    }


def parse_version_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        abort(422, message="against must be a version id or 'current'")


def label(version: dict) -> str:
    name = f" {version['name']!r}" if version.get("name") else ""
    return f"version {version['id']}{name} (seq {version['seq']})"


# --- Restoring -------------------------------------------------------------------------------


def restore(document: Document, version_id: uuid.UUID, user_id: uuid.UUID) -> dict:
    """Make the document read the version's text again, as a forward edit by `user_id`: the
    minimal change from the current text, stored and broadcast as an ordinary doc:update, so
    open editors keep working and nothing is deleted. What it replaces is kept as a version
    first (if no version has it), and the restore is a version of its own."""
    target = get_version(document, version_id)
    make_version(document.id, Wanted(automatic=True))
    update, seq = content.replace_text(document.id, target["content"], user_id)
    if update is None:
        return {"seq": seq, "content": target["content"], "version": None}
    broadcast_update(document, update, seq, user_id)
    restored = make_version(document.id, Wanted(created_by=user_id, restored_from=target["id"]))
    details = {"version_id": str(target["id"]), "restored_seq": target["seq"], "seq": seq}
    if target.get("name"):
        details["version_name"] = target["name"]
    record_document("document.restored", document, {"name": document.name, **details})
    return {"seq": seq, "content": target["content"], "version": restored}


# --- The worker's pass -----------------------------------------------------------------------


def version_due_documents(now: datetime | None = None) -> list[dict]:
    """Make the automatic versions that are due as of `now`: documents quiet for
    DOCUMENT_VERSION_QUIET_SECONDS after edits, or edited for DOCUMENT_VERSION_MAX_INTERVAL_SECONDS
    without a version. The versions made."""
    now = now or utcnow()
    config = current_app.config
    quiet_before = now - timedelta(seconds=config["DOCUMENT_VERSION_QUIET_SECONDS"])
    busy_before = now - timedelta(seconds=config["DOCUMENT_VERSION_MAX_INTERVAL_SECONDS"])
    made = []
    for document_id in store.due_for_a_version(quiet_before, busy_before, DOCUMENTS_PER_PASS):
        try:
            version = make_version(document_id, Wanted(automatic=True))
        except content.DocumentError as error:  # deleted meanwhile, or under repair
            log.warning("document %s: no version this time: %s", document_id, error)
            continue
        if version is not None:
            made.append(version)
    return made


class Thinning:
    """Retention: versions older than DOCUMENT_HISTORY_DAYS are thinned to the named ones
    and the last of each day (UTC); the authors of a dropped version go to the version that
    follows it, so each still lists everyone since the previous one. A few documents at a
    time, resuming where the last call stopped."""

    def __init__(self) -> None:
        self.after: uuid.UUID | None = None

    def run(self, now: datetime | None = None) -> int:
        """One batch; the number of versions dropped."""
        now = now or utcnow()
        before = now - timedelta(days=current_app.config["DOCUMENT_HISTORY_DAYS"])
        rows = store.old_versions(before, self.after, THIN_DOCUMENTS_PER_PASS)
        by_document = defaultdict(list)
        for row in rows:
            by_document[row["document_id"]].append(row)
        dropped: list[uuid.UUID] = []
        authors_of: dict[uuid.UUID, list[str]] = {}
        for versions in by_document.values():
            dropped += thin_one(versions, authors_of)
        store.thin(dropped, authors_of)
        # A short batch means the last document was reached: start again from the first.
        self.after = max(by_document) if len(by_document) == THIN_DOCUMENTS_PER_PASS else None
        return len(dropped)


def thin_one(versions: list[dict], authors_of: dict[uuid.UUID, list[str]]) -> list[uuid.UUID]:
    """The ids to drop of one document's old versions (oldest first); the authors of the
    dropped ones noted for the next kept one in `authors_of`."""
    last_of_day = {}
    for version in versions:
        if version["name"] is None:
            last_of_day[version["created_at"].date()] = version["id"]
    kept = {v["id"] for v in versions if v["name"] is not None} | set(last_of_day.values())
    dropped, carried = [], []
    for version in versions:
        if version["id"] not in kept:
            dropped.append(version["id"])
            carried = merge_authors(carried, version["authors"])
        elif carried:
            authors_of[version["id"]] = merge_authors(carried, version["authors"])
            carried = []
    return dropped


def start_versioning(app: Flask, interval: float = PASS_SECONDS) -> threading.Event:
    """Run the versioning pass every `interval` seconds (and the thinning every hour) in a
    daemon thread, until the returned event is set. Every worker runs one; a Redis lock gives
    each turn to one of them."""
    thinning = Thinning()
    stop = threading.Event()

    def loop() -> None:
        thinned_at = -THIN_EVERY_SECONDS  # at the first turn
        with app.app_context():
            while not stop.wait(interval):
                if not take_turn(interval):
                    continue
                safely(version_due_documents)
                if time.monotonic() - thinned_at > THIN_EVERY_SECONDS:
                    safely(thinning.run)
                    thinned_at = time.monotonic()

    threading.Thread(target=loop, name="document-history", daemon=True).start()
    return stop


def take_turn(interval: float) -> bool:
    try:
        return bool(redis_client.set(PASS_LOCK, "1", nx=True, px=int(interval * 900)))
    except redis.RedisError:
        return True  # without Redis, passes may overlap: safe (a version is compare-and-set)


def safely(work) -> None:
    try:
        work()
    except Exception:
        log.exception("document history: %s failed", work.__name__)
    finally:
        db.session.remove()  # the thread's session: no connection held between passes
