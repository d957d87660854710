"""Workspace documents: their metadata, for the REST API. Their content is content.py's."""

from __future__ import annotations

import uuid

from flask_smorest import abort
from sqlalchemy import func, select

from collab import activity
from collab.auth.identity import current_user_id
from collab.documents import content
from collab.documents.schemas import MAX_CONTENT_BYTES, DocumentSchema
from collab.etags import check_if_match
from collab.extensions import db
from collab.models import Document, Workspace
from collab.realtime.access import room
from collab.realtime.emitter import emitter


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


def create_document(workspace: Workspace, name: str, text: str = "") -> Document:
    """A new document; with `text`, that text is its first update (seq 1)."""
    check_name_free(workspace.id, name)
    first = content.initial_update(require_content_size(text)) if text else None
    document = Document(workspace_id=workspace.id, name=name)
    db.session.add(document)
    db.session.commit()
    if first is not None:
        try:
            content.append_update(document.id, first, current_user_id())
        except BaseException:
            db.session.rollback()
            db.session.delete(document)  # never half created: no document without its text
            db.session.commit()
            raise
    record_document("document.created", document, {"name": name})
    return document


def write_content(document: Document, text: str) -> dict:
    """Make the document read `text` with a minimal edit, broadcast to the workspace's room
    as an ordinary doc:update (open editors keep their cursors)."""
    check_if_match(document)
    author = current_user_id()
    update, seq = content.replace_text(document.id, require_content_size(text), author)
    if update is not None:
        broadcast_update(document, update, seq, author)
    return {"seq": seq, "content": text}


def broadcast_update(document: Document, update: bytes, seq: int, author: uuid.UUID) -> None:
    """A stored update of the server's making, to the workspace's room as a doc:update."""
    message = {
        "workspace_id": str(document.workspace_id),
        "doc_id": str(document.id),
        "update": update,
        "seq": seq,
        "user_id": str(author),
    }
    emitter().emit("doc:update", message, to=room(document.workspace_id))


def require_content_size(text: str) -> str:
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in JSON) is no text
        abort(422, message="The content is not valid Unicode text")
    if size > MAX_CONTENT_BYTES:
        raise content.DocumentTooLarge(f"The content may not exceed {MAX_CONTENT_BYTES} bytes")
    return text


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
    return {**metadata, "content": content.text_of(document.id)}
