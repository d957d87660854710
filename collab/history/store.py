"""The SQL of document history.

A version lists the authors of the updates since the previous version. Those updates are in
the log, or were folded away by compaction, which then noted their authors in the
document's `pending_authors` (documents/store.py keep_authors). Saving a version and
compacting both begin with an UPDATE of the document's row, so one waits for the other and
each sees what the other committed.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update

from collab.documents.store import Stored, log_authors, merge_authors
from collab.extensions import db
from collab.models import Document, DocumentUpdate, DocumentVersion, utcnow
from collab.models.base import new_id

documents = Document.__table__
updates = DocumentUpdate.__table__
versions = DocumentVersion.__table__

SUMMARY = [
    versions.c.id,
    versions.c.document_id,
    versions.c.seq,
    versions.c.name,
    versions.c.created_at,
    versions.c.created_by,
    versions.c.restored_from,
    versions.c.authors,
    versions.c.size,
]
NEWEST_FIRST = (versions.c.seq.desc(), versions.c.created_at.desc(), versions.c.id.desc())


class Moved(Exception):
    """The stored content read for the version is no longer what the log says: a compaction
    folded past it, or a newer version was made meanwhile. Read it again."""


class NoDocument(Exception):
    pass


@dataclass(frozen=True)
class Wanted:
    """What kind of version to make."""

    name: str | None = None
    created_by: uuid.UUID | None = None
    restored_from: uuid.UUID | None = None
    # Automatic: only if no version covers the content yet (else None is saved).
    automatic: bool = False


def save_version(document_id: uuid.UUID, stored: Stored, text: str, wanted: Wanted) -> dict | None:
    """Keep `text`, the text of `stored`, as a version; its summary, or None when `wanted`
    is automatic and a version already covers `stored`. Raises Moved or NoDocument."""
    seq = stored.last_seq
    with db.engine.begin() as connection:
        document = lock_document(connection, document_id)
        if wanted.automatic and document.versioned_seq >= seq:
            return None
        if document.snapshot_seq > seq or document.versioned_seq > seq:
            raise Moved()
        # Since the last version: folded away (noted by compaction), or still in the log.
        since = max(document.versioned_seq, document.snapshot_seq)
        logged = log_authors(connection, document_id, since, seq)
        authors = merge_authors(document.pending_authors or [], logged)
        connection.execute(
            update(documents)
            .where(documents.c.id == document_id)
            .values(
                versioned_seq=seq,
                pending_authors=[],
                unversioned_since=first_edit_after(connection, document_id, seq),
                updated_at=documents.c.updated_at,  # history is no edit of the document
            )
        )
        row = {
            "id": new_id(),
            "document_id": document_id,
            "seq": seq,
            "name": wanted.name,
            "created_at": utcnow(),
            "created_by": wanted.created_by,
            "restored_from": wanted.restored_from,
            "authors": authors,
            "size": len(text.encode("utf-8")),
        }
        connection.execute(versions.insert().values(**row, content=compress(text)))
    return row


def lock_document(connection, document_id: uuid.UUID):
    """The document's history columns, its row locked until the transaction ends (an
    UPDATE rather than SELECT FOR UPDATE: SQLite then takes its write lock at once)."""
    row = connection.execute(
        update(documents)
        .where(documents.c.id == document_id)
        .values(updated_at=documents.c.updated_at)
        .returning(documents.c.versioned_seq, documents.c.snapshot_seq, documents.c.pending_authors)
    ).first()
    if row is None:
        raise NoDocument()
    return row


def first_edit_after(connection, document_id: uuid.UUID, seq: int) -> datetime | None:
    """When the update after `seq` was stored (the first edit no version has), if any."""
    return connection.scalar(
        select(updates.c.created_at).where(
            updates.c.document_id == document_id, updates.c.seq == seq + 1
        )
    )


def compress(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def decompress(content: bytes) -> str:
    return zlib.decompress(content).decode("utf-8")


# --- Reading ---------------------------------------------------------------------------------


def versions_of(document_id: uuid.UUID, skip: int, limit: int) -> tuple[list[dict], int]:
    """The document's versions, newest first, and how many there are."""
    with db.engine.connect() as connection:
        total = connection.scalar(
            select(func.count()).select_from(versions).where(versions.c.document_id == document_id)
        )
        rows = connection.execute(
            select(*SUMMARY)
            .where(versions.c.document_id == document_id)
            .order_by(*NEWEST_FIRST)
            .offset(skip)
            .limit(limit)
        ).mappings()
        return [dict(row) for row in rows], total


def version(document_id: uuid.UUID, version_id: uuid.UUID) -> dict | None:
    """One version of the document, with its text (`content`)."""
    with db.engine.connect() as connection:
        row = connection.execute(
            select(*SUMMARY, versions.c.content).where(
                versions.c.id == version_id, versions.c.document_id == document_id
            )
        ).first()
    if row is None:
        return None
    return {**row._asdict(), "content": decompress(row.content)}


# --- Which documents need a version ----------------------------------------------------------


def due_for_a_version(quiet_before: datetime, busy_before: datetime, limit: int) -> list:
    """Documents with edits no version has, quiet since `quiet_before`, or edited without a
    version since `busy_before`."""
    with db.engine.connect() as connection:
        return list(
            connection.scalars(
                select(documents.c.id)
                .where(
                    documents.c.unversioned_since.is_not(None),  # the partial index
                    documents.c.last_seq > documents.c.versioned_seq,
                    or_(
                        documents.c.updated_at <= quiet_before,
                        documents.c.unversioned_since <= busy_before,
                    ),
                )
                .order_by(documents.c.updated_at)
                .limit(limit)
            )
        )


# --- Retention -------------------------------------------------------------------------------


def old_versions(before: datetime, after_document: uuid.UUID | None, documents: int) -> list:
    """The versions made before `before` of the next `documents` documents (by id, after
    `after_document`) that have more than one of them unnamed; oldest first per document."""
    with db.engine.connect() as connection:
        thinnable = (
            select(versions.c.document_id)
            .where(versions.c.created_at < before, versions.c.name.is_(None))
            .group_by(versions.c.document_id)
            .having(func.count() > 1)
            .order_by(versions.c.document_id)
            .limit(documents)
        )
        if after_document is not None:
            thinnable = thinnable.where(versions.c.document_id > after_document)
        rows = connection.execute(
            select(*SUMMARY)
            .where(
                versions.c.document_id.in_(thinnable.scalar_subquery()),
                versions.c.created_at < before,
            )
            .order_by(versions.c.document_id, versions.c.seq, versions.c.created_at)
        ).mappings()
        return [dict(row) for row in rows]


def thin(dropped: list[uuid.UUID], authors_of: dict[uuid.UUID, list[str]]) -> None:
    """Delete the `dropped` versions, and give their authors to the versions that follow
    them (`authors_of`: version id -> its authors now), in one transaction."""
    with db.engine.begin() as connection:
        for version_id, authors in authors_of.items():
            connection.execute(
                update(versions).where(versions.c.id == version_id).values(authors=authors)
            )
        if dropped:
            connection.execute(delete(versions).where(versions.c.id.in_(dropped)))
