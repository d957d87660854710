"""Socket.IO connection handling: token auth, the per-user room, renewal and disconnect.

The access token travels in the Socket.IO `auth` payload ({"token": ...}), never in the URL.
A refused connection gets a `connect_error` whose data is {code, message}.
"""

from __future__ import annotations

from flask import request
from flask_socketio import ConnectionRefusedError, join_room
from marshmallow import fields

from collab.extensions import socketio
from collab.realtime import connections, presence
from collab.realtime.protocol import EventError, EventSchema, on_event


def user_room(user_id) -> str:
    return f"user:{user_id}"


@socketio.on("connect")
def connect(auth: object = None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    try:
        connection = connections.open_connection(request.sid, token)
    except EventError as error:
        raise ConnectionRefusedError(
            error.message, {"code": error.code, "message": error.message}
        ) from None
    join_room(user_room(connection.user_id))
    presence.start_background_tasks()


@socketio.on("disconnect")
def disconnect(*_reason: object) -> None:
    connection = connections.close_connection(request.sid)
    if connection is not None:
        presence.left_all(connection)


class RefreshSchema(EventSchema):
    token = fields.String(required=True)


@on_event("auth:refresh", RefreshSchema(), allow_expired=True)
def refresh(connection: connections.Connection, data: dict) -> dict:
    """Renew the socket's access token before it expires (same user)."""
    connections.renew(connection, data["token"])
    return {"expires_at": connection.expires_at}
