"""Document content over Socket.IO: Yjs V1 updates, stored before they are broadcast.

- `doc:update` {workspace_id, doc_id, update}: collaborators and owners (re-checked on every
  update); the update is validated, committed to the database, then sent to the others in the
  room as `doc:update` {workspace_id, doc_id, update, seq, user_id}; the ack carries its seq.
  Seqs of one document are consecutive: a client that sees a gap missed a message (e.g. Redis
  pub/sub dropped it) and asks for the rest with `doc:sync`.
- `doc:sync` {workspace_id, doc_id, state_vector} -> {update, seq}: exactly what a replica with
  that state vector lacks, up to seq.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from marshmallow import fields

from collab import flags
from collab.documents import content as documents
from collab.documents.content import (
    DocumentError,
    DocumentNotFound,
    DocumentTooLarge,
    DocumentUnavailable,
    InvalidStateVector,
    InvalidUpdate,
    UpdateTooLarge,
)
from collab.extensions import db, socketio
from collab.realtime import quotas
from collab.realtime.access import require_joined, room, workspace_access
from collab.realtime.connections import Connection
from collab.realtime.protocol import (
    BAD_REQUEST,
    NOT_FOUND,
    TOO_LARGE,
    UNAVAILABLE,
    Bytes,
    EventError,
    EventSchema,
    RateLimit,
    on_event,
)

UPDATE_LIMIT = RateLimit(rate=50, burst=100)  # per connection; typing is ~10 updates/s
SYNC_LIMIT = RateLimit(rate=10, burst=20)
ERROR_CODES = {
    DocumentNotFound: NOT_FOUND,
    UpdateTooLarge: TOO_LARGE,
    DocumentTooLarge: TOO_LARGE,
    DocumentUnavailable: UNAVAILABLE,
    InvalidUpdate: BAD_REQUEST,
    InvalidStateVector: BAD_REQUEST,
}


@contextlib.contextmanager
def document_errors() -> Iterator[None]:
    try:
        yield
    except DocumentError as error:
        raise EventError(ERROR_CODES.get(type(error), BAD_REQUEST), str(error)) from None


# doc_id -> its workspace, for this process. A document never moves, so a known pair stays
# true; a deleted document is caught by the append itself (not_found).
WORKSPACE_OF: dict[uuid.UUID, uuid.UUID] = {}
WORKSPACE_OF_SIZE = 10_000


def require_document_in(workspace_id: uuid.UUID, doc_id: uuid.UUID) -> None:
    """The document exists and belongs to this workspace (else not_found, like REST)."""
    document_workspace = WORKSPACE_OF.get(doc_id)
    if document_workspace is None:
        with document_errors():
            _, document_workspace = documents.location(doc_id)
        if len(WORKSPACE_OF) >= WORKSPACE_OF_SIZE:
            WORKSPACE_OF.clear()
        WORKSPACE_OF[doc_id] = document_workspace
    if document_workspace != workspace_id:
        raise EventError(NOT_FOUND, "Document not found")


def catch_up(workspace_id: uuid.UUID, state_vectors: dict) -> tuple[dict, dict]:
    """For each doc_id -> state vector: what the client misses, and the seq it brings it to."""
    docs, seqs = {}, {}
    for doc_id, state_vector in state_vectors.items():
        require_document_in(workspace_id, doc_id)
        with document_errors():
            loaded = documents.read(doc_id, state_vector=state_vector)
        docs[str(doc_id)] = loaded.missing
        seqs[str(doc_id)] = loaded.seq
    return docs, seqs


class DocumentEventSchema(EventSchema):
    workspace_id = fields.UUID(required=True)
    doc_id = fields.UUID(required=True)


class UpdateSchema(DocumentEventSchema):
    update = Bytes(required=True)


class SyncSchema(DocumentEventSchema):
    state_vector = Bytes(required=True)


@on_event("doc:update", UpdateSchema(), limit=UPDATE_LIMIT, replicas=True)
def update(connection: Connection, data: dict) -> dict:
    """Store a client's edit durably, then send it to the room; ack {seq}."""
    workspace_id, doc_id = data["workspace_id"], data["doc_id"]
    if len(data["update"]) > documents.MAX_UPDATE_BYTES:
        raise EventError(TOO_LARGE, f"An update may not exceed {documents.MAX_UPDATE_BYTES} bytes")
    require_joined(workspace_id)
    workspace_access(connection.user_id, workspace_id).require_edit()
    require_document_in(workspace_id, doc_id)
    if flags.is_enabled(flags.MAINTENANCE_MODE.name):  # like the REST API's writes
        raise EventError(UNAVAILABLE, "The service is in maintenance mode; try again later")
    quotas.take_update_bytes(connection.user_id, len(data["update"]))
    # The checks' connection goes back to the pool before the append takes its own: a handler
    # holding one while waiting for another deadlocks the pool under load (bench/realtime).
    db.session.close()
    with document_errors():
        seq = documents.append_update(doc_id, data["update"], connection.user_id)
    message = {
        "workspace_id": str(workspace_id),
        "doc_id": str(doc_id),
        "update": data["update"],
        "seq": seq,
        "user_id": str(connection.user_id),
    }
    socketio.emit("doc:update", message, to=room(workspace_id), skip_sid=connection.sid)
    return {"seq": seq}


@on_event("doc:sync", SyncSchema(), limit=SYNC_LIMIT, replicas=True)
def sync(connection: Connection, data: dict) -> dict:
    """What the caller's replica lacks (after a gap, a reconnect or offline edits)."""
    workspace_id = data["workspace_id"]
    require_joined(workspace_id)
    workspace_access(connection.user_id, workspace_id)
    docs, seqs = catch_up(workspace_id, {data["doc_id"]: data["state_vector"]})
    doc_id = str(data["doc_id"])
    return {"update": docs[doc_id], "seq": seqs[doc_id]}
