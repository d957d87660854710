"""Who may do what in a workspace over Socket.IO: the REST API's rules, read from the database
on every call (a removed or demoted member loses the right at their next event)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask_socketio import rooms
from sqlalchemy import and_, bindparam, select

from collab.extensions import db
from collab.models import Membership, Project, Role, Workspace
from collab.realtime.protocol import FORBIDDEN, NOT_FOUND, EventError

WORKSPACE_WITH_ROLE = (
    select(Workspace.project_id, Project.is_public, Membership.role)
    .join(Project, Project.id == Workspace.project_id)
    .outerjoin(
        Membership,
        and_(Membership.project_id == Project.id, Membership.user_id == bindparam("user_id")),
    )
    .where(Workspace.id == bindparam("workspace_id"))
)


@dataclass(frozen=True)
class WorkspaceAccess:
    workspace_id: uuid.UUID
    project_id: uuid.UUID
    role: Role | None  # None: any signed-in user reading a public project

    @property
    def can_edit(self) -> bool:
        return self.role is not None and self.role.at_least(Role.COLLABORATOR)

    def require_edit(self) -> None:
        if not self.can_edit:
            raise EventError(FORBIDDEN, "Editing requires the collaborator role")


def workspace_access(user_id: uuid.UUID, workspace_id: uuid.UUID) -> WorkspaceAccess:
    """The caller's access to a workspace they may read; not_found (like REST's 404) when
    the workspace does not exist or the caller may not see it."""
    params = {"user_id": user_id, "workspace_id": workspace_id}
    row = db.session.execute(WORKSPACE_WITH_ROLE, params).first()
    if row is None or (row.role is None and not row.is_public):
        raise EventError(NOT_FOUND, "Workspace not found")
    return WorkspaceAccess(workspace_id, row.project_id, row.role)


def room(workspace_id) -> str:
    return f"workspace:{workspace_id}"


def require_joined(workspace_id: uuid.UUID) -> None:
    """The socket is in the workspace's room: it joined, and was not removed since (a removed
    member's sockets leave the room on every instance). Enough for what is not stored;
    writes also call `workspace_access`."""
    if room(workspace_id) not in rooms():
        raise EventError(FORBIDDEN, "Join the workspace first")
