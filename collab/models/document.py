"""Workspace documents: their metadata, and their content as a CRDT (Yjs V1 updates).

The content is a snapshot (one merged update, covering the log up to `snapshot_seq`) plus the
log of the updates received since, numbered 1, 2, 3... per document (`last_seq` is the latest).
Compaction (collab/documents/tasks.py) folds the log into the snapshot.

History lives beside the live content, never in it (the live CRDT keeps its garbage
collection): a version is the document's text at one seq, with the authors of the updates
since the previous version (collab/documents/history.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from collab.models.base import Base, TimestampMixin, new_id, utcnow


class Document(TimestampMixin, Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # Unique per workspace, compared exactly (case-sensitive).
    name: Mapped[str] = mapped_column(String(100))
    # Optimistic concurrency of the metadata (the ETag); content edits do not bump it.
    version: Mapped[int] = mapped_column(default=1)
    # Read by the content store only (Core); deferred so the REST API never loads it.
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    snapshot_seq: Mapped[int] = mapped_column(default=0)
    last_seq: Mapped[int] = mapped_column(default=0)
    # History: the seq of the newest version, when the first edit after it was stored (None:
    # none since), and the authors of updates that compaction folded away before a version
    # listed them (user ids as strings).
    versioned_seq: Mapped[int] = mapped_column(default=0)
    unversioned_since: Mapped[datetime | None]
    pending_authors: Mapped[list[str]] = mapped_column(JSON, default=list)

    __table_args__ = (
        # Leads with workspace_id, so it also serves the per-workspace listing.
        UniqueConstraint("workspace_id", "name"),
        # The documents with edits no version has: what the versioning pass looks for every
        # few seconds, a few rows however many documents there are. Keyed and filtered on
        # unversioned_since, which an append sets once per version, never on last_seq or
        # updated_at, which every append changes: PostgreSQL then keeps the appends' row
        # updates HOT (an index on those made 0 % of them HOT, and cost 11 % of them).
        Index(
            "ix_documents_unversioned",
            "unversioned_since",
            postgresql_where=text("unversioned_since IS NOT NULL"),
            sqlite_where=text("unversioned_since IS NOT NULL"),
        ),
    )
    __mapper_args__ = {"version_id_col": version}


class DocumentUpdate(Base):
    """One CRDT update as a client sent it, kept until compaction folds it into the snapshot."""

    __tablename__ = "document_updates"

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who sent it (None: the server itself). No foreign key: a record of who wrote what
    # outlives the account, like a commit's author.
    author_id: Mapped[uuid.UUID | None]


class DocumentVersion(Base):
    """The document's text at `seq`, kept until retention thins it (history.py)."""

    __tablename__ = "document_versions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    seq: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(100))  # None: made automatically
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]  # who named it or restored it; None: automatic
    restored_from: Mapped[uuid.UUID | None]  # the version a restore brought back
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)  # since the previous one
    size: Mapped[int]  # bytes of text (UTF-8)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # zlib of the text

    # Newest first per document: the listing's order.
    __table_args__ = (Index("ix_document_versions_document_id_seq", "document_id", "seq"),)


class QuarantinedUpdate(Base):
    """A stored update (or snapshot) that could not be applied when its document was rebuilt.

    Set aside rather than deleted: the document loads without it, and an operator can still
    look at what was sent (see collab/documents/tasks.py)."""

    __tablename__ = "document_quarantine"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int]  # the update's seq; for a snapshot, the seq it covered
    data: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
