"""The SQL of document content: the update log, its snapshot, and compaction's swap.

Each function runs on its own connection and transaction, whatever the caller's session is
doing: an append is committed when `append` returns, and a read is one statement, so it sees
one consistent state of the snapshot and the log (a compaction may commit at any moment).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import (
    Integer,
    Uuid,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    text,
    union_all,
    update,
)

from collab.extensions import autocommit_engine, db
from collab.models import Document, DocumentUpdate, QuarantinedUpdate, utcnow
from collab.models.base import new_id

documents = Document.__table__
updates = DocumentUpdate.__table__
quarantine = QuarantinedUpdate.__table__


@dataclass(frozen=True)
class Appended:
    seq: int
    since_snapshot: int  # updates in the log, this one included


@dataclass(frozen=True)
class Stored:
    snapshot_seq: int
    last_seq: int
    parts: list[bytes]  # the snapshot (if included), then the updates after it, in seq order
    seqs: list[int]  # each part's seq (the snapshot's is snapshot_seq)
    from_snapshot: bool  # parts are the whole content, not only what came after a seq


# PostgreSQL: the same two steps as one statement in autocommit. The row lock that orders the
# appends of a document is then held only inside the server, never across client round trips:
# ~2x the appends/s of one hot document (bench/realtime).
APPEND_IN_ONE_STATEMENT = text(
    """
    WITH bumped AS (
        UPDATE documents SET last_seq = last_seq + 1, updated_at = :now,
            unversioned_since = COALESCE(unversioned_since, :now)
        WHERE id = :document_id
        RETURNING id, last_seq, snapshot_seq
    )
    INSERT INTO document_updates (document_id, seq, data, created_at, author_id)
    SELECT id, last_seq, :data, :now, :author_id FROM bumped
    RETURNING seq, (SELECT snapshot_seq FROM bumped) AS snapshot_seq
    """
).bindparams(bindparam("author_id", type_=Uuid))


def append(
    document_id: uuid.UUID, data: bytes, author_id: uuid.UUID | None = None
) -> Appended | None:
    """Log `data` under the document's next seq, written by `author_id` (None: the server),
    and commit; None if there is no such document.

    The seq is taken by incrementing `last_seq` in the UPDATE that locks the document's row,
    so concurrent appends queue on that row and each gets the next number. The same UPDATE
    notes when the document's first edit since its last version came (history)."""
    now = utcnow()
    if db.engine.dialect.name == "postgresql":
        params = {"document_id": document_id, "data": data, "now": now, "author_id": author_id}
        with autocommit_engine(db.engine).connect() as connection:
            row = connection.execute(APPEND_IN_ONE_STATEMENT, params).first()
        if row is None:
            return None
        return Appended(seq=row.seq, since_snapshot=row.seq - row.snapshot_seq)
    with db.engine.begin() as connection:
        row = connection.execute(
            update(documents)
            .where(documents.c.id == document_id)
            .values(
                last_seq=documents.c.last_seq + 1,
                updated_at=now,
                unversioned_since=func.coalesce(documents.c.unversioned_since, now),
            )
            .returning(documents.c.last_seq, documents.c.snapshot_seq)
        ).first()
        if row is None:
            return None
        connection.execute(
            insert(updates).values(
                document_id=document_id,
                seq=row.last_seq,
                data=data,
                created_at=now,
                author_id=author_id,
            )
        )
    return Appended(seq=row.last_seq, since_snapshot=row.last_seq - row.snapshot_seq)


def content_statement():
    """The snapshot row (its data only when the caller lacks it), then the log after `after`:
    one statement, so it cannot pair an old snapshot with a log a compaction already cut."""
    document_id = bindparam("document_id", type_=Uuid)
    after = bindparam("after", type_=Integer)
    snapshot_needed = (after == 0) | (documents.c.snapshot_seq > after)
    snapshot = select(
        documents.c.snapshot_seq.label("seq"),
        case((snapshot_needed, documents.c.snapshot), else_=null()).label("data"),
        documents.c.last_seq.label("last"),
    ).where(documents.c.id == document_id)
    logged = (
        select(updates.c.seq, updates.c.data, null().label("last"))
        .join(documents, documents.c.id == updates.c.document_id)
        .where(
            updates.c.document_id == document_id,
            updates.c.seq > documents.c.snapshot_seq,
            updates.c.seq > after,
        )
    )
    return union_all(snapshot, logged).order_by(literal_column("seq"))


CONTENT = content_statement()  # built once: it runs on every edit and every read


def load(document_id: uuid.UUID, after: int = 0) -> Stored | None:
    """What a replica holding the content up to seq `after` lacks (0: the whole content): the
    updates logged after it, or the snapshot and the log when the snapshot moved past it.
    None if there is no such document."""
    with autocommit_engine(db.engine).connect() as connection:
        rows = connection.execute(CONTENT, {"document_id": document_id, "after": after}).all()
    if not rows:
        return None
    if rows[0].last < after:  # the replica is ahead of the database (restored from a backup?)
        return load(document_id)
    snapshot_seq = rows[0].seq
    kept = [row for row in rows if row.data is not None]
    return Stored(
        snapshot_seq=snapshot_seq,
        last_seq=rows[0].last,
        parts=[row.data for row in kept],
        seqs=[row.seq for row in kept],
        from_snapshot=after == 0 or snapshot_seq > after,
    )


def replace_log(
    document_id: uuid.UUID,
    stored: Stored,
    snapshot: bytes,
    quarantined: list[tuple[int, bytes]] = (),
    reason: str = "",
) -> bool:
    """Make `snapshot` (which covers `stored` in full) the document's snapshot and delete the
    updates it covers, setting aside the `quarantined` (seq, data) parts it left out, in one
    transaction. False, changing nothing, if the snapshot moved since `stored` was read
    (another compaction) or the document is gone."""
    with db.engine.begin() as connection:
        moved = connection.execute(
            update(documents)
            .where(documents.c.id == document_id, documents.c.snapshot_seq == stored.snapshot_seq)
            # Compaction changes no content: updated_at keeps the time of the last edit.
            .values(
                snapshot=snapshot, snapshot_seq=stored.last_seq, updated_at=documents.c.updated_at
            )
            .returning(documents.c.versioned_seq, documents.c.pending_authors)
        ).first()
        if moved is None:
            return False
        keep_authors(connection, document_id, moved, stored)
        connection.execute(
            delete(updates).where(
                updates.c.document_id == document_id, updates.c.seq <= stored.last_seq
            )
        )
        if quarantined:
            rows = [
                {
                    "id": new_id(),
                    "document_id": document_id,
                    "seq": seq,
                    "data": data,
                    "reason": reason[:200],
                    "created_at": utcnow(),
                }
                for seq, data in quarantined
            ]
            connection.execute(insert(quarantine), rows)
    return True


def keep_authors(connection, document_id: uuid.UUID, document, stored: Stored) -> None:
    """Before compaction deletes the updates it folds, note the authors of those that no
    version covers yet (after `versioned_seq`): the next version lists them. The row lock
    the caller's UPDATE holds orders this with the making of a version (history/store.py)."""
    since = max(document.versioned_seq, stored.snapshot_seq)
    if stored.last_seq <= since:
        return
    folded = log_authors(connection, document_id, since, stored.last_seq)
    pending = merge_authors(document.pending_authors or [], folded)
    if pending != (document.pending_authors or []):
        connection.execute(
            update(documents)
            .where(documents.c.id == document_id)
            .values(pending_authors=pending, updated_at=documents.c.updated_at)
        )


def log_authors(connection, document_id: uuid.UUID, after: int, until: int) -> list[str]:
    """Who wrote the logged updates after seq `after` up to `until`, in order of first edit."""
    authors = connection.scalars(
        select(updates.c.author_id)
        .where(
            updates.c.document_id == document_id,
            updates.c.seq > after,
            updates.c.seq <= until,
            updates.c.author_id.is_not(None),
        )
        .group_by(updates.c.author_id)
        .order_by(func.min(updates.c.seq))
    )
    return [str(author) for author in authors]


def merge_authors(first: list[str], then: list[str]) -> list[str]:
    """Both lists of user ids, in order of first appearance, each id once."""
    return list(dict.fromkeys([*first, *then]))
