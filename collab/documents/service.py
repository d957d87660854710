"""Workspace documents: their metadata (the REST API) and their content (the real-time layer).

The content API below needs an app context and nothing else: the caller checks permissions
first (`location` gives the project to check), and broadcasts an update only once
`append_update` has returned, when it is committed. Refusals raise a `DocumentError`, whose
`code` and `status` say how to answer them:

    append_update(document_id, update: bytes) -> int      the update's seq (1, 2, 3... per doc)
    state_of(document_id) -> bytes                         the whole content, as one V1 update
    missing_since(document_id, state_vector: bytes) -> bytes   what that replica lacks
    text_of(document_id) -> str                            the current text
    last_seq(document_id) -> int                           the seq of the latest update
    load(document_id) -> Loaded                            one read for several of these
    location(document_id) -> (project_id, workspace_id)

Ids may be UUIDs or their strings; a malformed one is a DocumentNotFound, like an unknown one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask_smorest import abort
from pycrdt import Doc
from sqlalchemy import func, select

from collab import activity
from collab.documents import crdt, store
from collab.documents.schemas import DocumentSchema
from collab.documents.tasks import enqueue_compaction
from collab.etags import check_if_match
from collab.extensions import db
from collab.models import Document, Workspace

MAX_UPDATE_BYTES = 1024 * 1024  # the caller refuses bigger ones before calling append_update
COMPACT_EVERY = 500  # updates logged since the snapshot; a compaction is queued at each multiple

# --- Metadata (REST) -------------------------------------------------------------------------


def documents_of(workspace: Workspace, skip: int, limit: int) -> tuple[list[Document], int]:
    in_workspace = Document.workspace_id == workspace.id
    total = db.session.scalar(select(func.count(Document.id)).where(in_workspace))
    items = db.session.scalars(
        select(Document)
        .where(in_workspace)
        .order_by(Document.created_at, Document.id)
        .offset(skip)
        .limit(limit)
    )
    return list(items), total


def get_document(workspace: Workspace, document_id: uuid.UUID) -> Document:
    document = db.session.get(Document, document_id)
    if document is None or document.workspace_id != workspace.id:
        abort(404, message="Document not found")
    return document


def create_document(workspace: Workspace, name: str) -> Document:
    check_name_free(workspace.id, name)
    document = Document(workspace_id=workspace.id, name=name)
    db.session.add(document)
    db.session.commit()
    record_document("document.created", document, {"name": name})
    return document


def rename_document(document: Document, name: str) -> Document:
    check_if_match(document)
    check_name_free(document.workspace_id, name, document.id)
    previous, document.name = document.name, name
    db.session.commit()
    record_document("document.renamed", document, {"name": name, "previous_name": previous})
    return document


def delete_document(document: Document) -> None:
    check_if_match(document)
    db.session.delete(document)
    db.session.commit()
    record_document("document.deleted", document, {"name": document.name})


def record_document(action: str, document: Document, details: dict) -> None:
    workspace = db.session.get(Workspace, document.workspace_id)  # in the identity map
    activity.record(
        action,
        workspace.project_id,
        workspace_id=document.workspace_id,
        target=("document", document.id),
        details=details,
    )


def check_name_free(
    workspace_id: uuid.UUID, name: str, document_id: uuid.UUID | None = None
) -> None:
    """409 if another document of the workspace has this exact name. (A concurrent request
    taking it after this check loses on the unique constraint: 409 as well.)"""
    taken = select(Document.id).where(Document.workspace_id == workspace_id, Document.name == name)
    if document_id is not None:
        taken = taken.where(Document.id != document_id)
    if db.session.scalar(taken) is not None:
        abort(409, message="A document with this name already exists in the workspace")


def detail(document: Document) -> dict:
    """The document as DocumentDetailSchema shows it: its metadata and its current text."""
    metadata = {name: getattr(document, name) for name in DocumentSchema().fields}
    return {**metadata, "content": text_of(document.id)}


# --- Content (the real-time layer) -----------------------------------------------------------


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


class InvalidStateVector(DocumentError):
    pass


@dataclass(frozen=True)
class Loaded:
    """A document's content as of one read: its snapshot and logged updates, applied."""

    doc: Doc
    seq: int  # the last update included

    def state(self) -> bytes:
        return self.doc.get_update()

    def missing_since(self, state_vector: bytes) -> bytes:
        if not isinstance(state_vector, bytes):
            raise InvalidStateVector("A state vector must be binary")
        try:
            return crdt.missing_from(self.doc, state_vector)
        except ValueError:
            raise InvalidStateVector("Not a Yjs state vector") from None

    def text(self) -> str:
        return crdt.text(self.doc)


def append_update(document_id: uuid.UUID | str, update: bytes) -> int:
    """Store a client's update (Yjs V1 format) durably; its seq once committed."""
    document_id = parse_id(document_id)
    check_update(update)
    appended = store.append(document_id, update)
    if appended is None:
        raise DocumentNotFound("Document not found")
    if appended.since_snapshot % COMPACT_EVERY == 0:
        enqueue_compaction(document_id)
    return appended.seq


def check_update(update: bytes) -> None:
    if not isinstance(update, bytes):
        raise InvalidUpdate("An update must be binary")
    if len(update) > MAX_UPDATE_BYTES:
        raise UpdateTooLarge(f"An update may not exceed {MAX_UPDATE_BYTES} bytes")
    if not crdt.is_update(update):
        raise InvalidUpdate("Not a Yjs update (V1 format)")


def load(document_id: uuid.UUID | str) -> Loaded:
    stored = store.load(parse_id(document_id))
    if stored is None:
        raise DocumentNotFound("Document not found")
    return Loaded(doc=crdt.build(stored.parts), seq=stored.last_seq)


def state_of(document_id: uuid.UUID | str) -> bytes:
    return load(document_id).state()


def missing_since(document_id: uuid.UUID | str, state_vector: bytes) -> bytes:
    return load(document_id).missing_since(state_vector)


def text_of(document_id: uuid.UUID | str) -> str:
    return load(document_id).text()


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
