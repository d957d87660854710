"""Workspace rooms: join (with document catch-up and presence), leave, presence and cursors."""

from __future__ import annotations

from flask_socketio import join_room, leave_room
from marshmallow import fields, validate

from collab.extensions import socketio
from collab.realtime import presence
from collab.realtime.access import require_joined, room, workspace_access
from collab.realtime.connections import Connection
from collab.realtime.documents import catch_up, require_document_in
from collab.realtime.protocol import Bytes, EventError, EventSchema, RateLimit, on_event

MAX_DOCS_PER_JOIN = 100
MAX_CURSOR_BYTES = 1024
CURSOR_LIMIT = RateLimit(rate=20, burst=20)  # per connection: cursors are volatile
PRESENCE_LIMIT = RateLimit(rate=5, burst=10)
JOIN_LIMIT = RateLimit(rate=5, burst=20)


class WorkspaceSchema(EventSchema):
    workspace_id = fields.UUID(required=True)


class JoinSchema(WorkspaceSchema):
    docs = fields.Dict(
        keys=fields.UUID(),
        values=Bytes(),
        load_default=dict,
        validate=validate.Length(max=MAX_DOCS_PER_JOIN),
        metadata={"description": "doc_id -> the client's state vector"},
    )


@on_event("workspace:join", JoinSchema(), limit=JOIN_LIMIT, replicas=True)
def join(connection: Connection, data: dict) -> dict:
    """Enter a workspace's room: its presence, and what the client misses of each document.

    The socket joins the room BEFORE the documents are read: an update committed meanwhile is
    then either in what the ack carries or broadcast to the socket (perhaps both, harmless
    with a CRDT), never lost between the two."""
    workspace_id = data["workspace_id"]
    access = workspace_access(connection.user_id, workspace_id)
    for doc_id in data["docs"]:
        require_document_in(workspace_id, doc_id)
    rejoining = str(workspace_id) in connection.workspaces
    present = presence.joined(connection, str(workspace_id))  # fails before the room is joined
    join_room(room(workspace_id))
    connection.workspaces.add(str(workspace_id))
    try:
        docs, seqs = catch_up(workspace_id, data["docs"])
    except EventError:  # e.g. a garbage state vector: this join did not happen
        if not rejoining:
            leave_workspace(connection, str(workspace_id))
        raise
    return {
        "role": access.role.value if access.role else None,
        "can_edit": access.can_edit,
        "presence": present,
        "docs": docs,
        "seqs": seqs,
    }


@on_event("workspace:leave", WorkspaceSchema(), limit=JOIN_LIMIT)
def leave(connection: Connection, data: dict) -> None:
    leave_workspace(connection, str(data["workspace_id"]))


def leave_workspace(connection: Connection, workspace_id: str) -> None:
    leave_room(room(workspace_id))
    if workspace_id in connection.workspaces:
        connection.workspaces.discard(workspace_id)
        presence.left(connection, workspace_id)


class PresenceSchema(WorkspaceSchema):
    status = fields.String(load_default="active", validate=validate.OneOf(presence.STATUSES))
    doc_id = fields.UUID(load_default=None, allow_none=True)


@on_event("presence:update", PresenceSchema(), limit=PRESENCE_LIMIT)
def update_presence(connection: Connection, data: dict) -> None:
    """Set this connection's status and active document."""
    require_joined(data["workspace_id"])
    doc_id = str(data["doc_id"]) if data["doc_id"] else None
    presence.updated(connection, str(data["workspace_id"]), data["status"], doc_id)


class CursorPosition(fields.Field):
    """A position in the text: an index, or a Yjs relative position (encoded, bytes)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | bytes):
            raise self.make_error("invalid")
        if isinstance(value, int) and not 0 <= value < 2**31:
            raise self.make_error("invalid")
        if isinstance(value, bytes) and len(value) > MAX_CURSOR_BYTES:
            raise self.make_error("invalid")
        return value

    default_error_messages = {
        "invalid": f"An index (0..2^31) or an encoded relative position (<= {MAX_CURSOR_BYTES} B)."
    }


class CursorSchema(WorkspaceSchema):
    doc_id = fields.UUID(required=True)
    anchor = CursorPosition(required=True)
    head = CursorPosition(required=True)


@on_event("cursor:update", CursorSchema(), limit=CURSOR_LIMIT)
def update_cursor(connection: Connection, data: dict) -> None:
    """Show the caller's cursor to the others in the room (viewers too); not stored."""
    workspace_id = data["workspace_id"]
    require_joined(workspace_id)
    cursor = {
        "workspace_id": str(workspace_id),
        "doc_id": str(data["doc_id"]),
        "anchor": data["anchor"],
        "head": data["head"],
        "user_id": str(connection.user_id),
        "username": connection.username,
        "sid": connection.sid,
    }
    socketio.emit("cursor:update", cursor, to=room(workspace_id), skip_sid=connection.sid)
