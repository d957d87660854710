"""Changes of access reach the sockets at once, on every instance.

Called by the REST services after they commit a change of who may see a project:
- a member removed (or a public project made private): their sockets leave the workspace
  rooms and get `workspace:revoked` {workspace_id, reason};
- a role changed (demotion, promotion, ownership transfer): `workspace:role_changed`
  {workspace_id, role, can_edit}; writes are re-checked against the database anyway;
- a workspace or project deleted: everyone in its rooms gets `workspace:revoked`.

Sockets are found through the shared presence (Redis), and the Socket.IO message queue carries
the room changes and events to the instance holding each socket. Best effort: a Redis outage
is logged and never fails the REST request (writes are still refused by the database check).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

import redis
from sqlalchemy import select

from collab.extensions import db, redis_client
from collab.models import Workspace
from collab.realtime import presence
from collab.realtime.access import room, workspace_access
from collab.realtime.emitter import emitter
from collab.realtime.protocol import EventError

log = logging.getLogger(__name__)

NAMESPACE = "/"


def workspace_ids(project_id: uuid.UUID) -> list[uuid.UUID]:
    return list(db.session.scalars(select(Workspace.id).where(Workspace.project_id == project_id)))


def access_changed(
    project_id: uuid.UUID, user_ids: Iterable[uuid.UUID] | None = None, roles_changed=False
) -> None:
    """Re-check the project's present users (or only `user_ids`): revoke who lost access and,
    with `roles_changed`, tell the others their current role."""
    wanted = {str(user_id) for user_id in user_ids} if user_ids is not None else None
    try:
        for workspace_id in workspace_ids(project_id):
            for user_id in redis_client.hkeys(presence.SUMMARY_KEY.format(workspace_id)):
                if wanted is None or user_id in wanted:
                    recheck(workspace_id, uuid.UUID(user_id), roles_changed)
        presence.emit_diffs()
    except redis.RedisError:
        log.warning("sockets of project %s not re-checked", project_id, exc_info=True)


def recheck(workspace_id: uuid.UUID, user_id: uuid.UUID, roles_changed: bool) -> None:
    try:
        access = workspace_access(user_id, workspace_id)
    except EventError:
        revoke(workspace_id, user_id, "access_removed")
        return
    if roles_changed:
        role = {
            "workspace_id": str(workspace_id),
            "role": access.role.value if access.role else None,
            "can_edit": access.can_edit,
        }
        for sid in presence.sids_of(str(workspace_id), user_id):
            emitter().emit("workspace:role_changed", role, to=sid)


def revoke(workspace_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> None:
    notice = {"workspace_id": str(workspace_id), "reason": reason}
    for sid in presence.remove_user(str(workspace_id), user_id):
        emitter().server.leave_room(sid, room(workspace_id), namespace=NAMESPACE)
        emitter().emit("workspace:revoked", notice, to=sid)


def workspaces_closed(workspace_ids_: Iterable[uuid.UUID]) -> None:
    """Deleted workspaces (their own, or their project's deletion): everyone leaves."""
    try:
        for workspace_id in workspace_ids_:
            notice = {"workspace_id": str(workspace_id), "reason": "deleted"}
            emitter().emit("workspace:revoked", notice, to=room(workspace_id))
            emitter().close_room(room(workspace_id), namespace=NAMESPACE)
            for user_id in redis_client.hkeys(presence.SUMMARY_KEY.format(workspace_id)):
                presence.remove_user(str(workspace_id), user_id)
        presence.diffs.take()  # nobody is left to tell
    except redis.RedisError:
        log.warning("sockets of deleted workspaces not closed", exc_info=True)
