"""Workspaces inside a project."""

from __future__ import annotations

import uuid

from flask_smorest import abort
from sqlalchemy import func, select

from collab import activity
from collab.etags import check_if_match
from collab.extensions import db
from collab.models import Workspace
from collab.permissions import ProjectAccess
from collab.projects.service import forget_cached
from collab.realtime import revocation


def workspaces_of(access: ProjectAccess, skip: int, limit: int) -> tuple[list[Workspace], int]:
    in_project = Workspace.project_id == access.project.id
    total = db.session.scalar(select(func.count(Workspace.id)).where(in_project))
    items = db.session.scalars(
        select(Workspace)
        .where(in_project)
        .order_by(Workspace.created_at, Workspace.id)
        .offset(skip)
        .limit(limit)
    )
    return list(items), total


def get_workspace(access: ProjectAccess, workspace_id: uuid.UUID) -> Workspace:
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None or workspace.project_id != access.project.id:
        abort(404, message="Workspace not found")
    return workspace


def create_workspace(access: ProjectAccess, data: dict) -> Workspace:
    workspace = Workspace(project_id=access.project.id, **data)
    db.session.add(workspace)
    db.session.commit()
    forget_cached(access.project.id)
    record_workspace("workspace.created", workspace, {"name": workspace.name})
    return workspace


def record_workspace(action: str, workspace: Workspace, details: dict | None = None) -> None:
    activity.record(
        action,
        workspace.project_id,
        workspace_id=workspace.id,
        target=("workspace", workspace.id),
        details=details,
    )


def update_workspace(workspace: Workspace, changes: dict) -> Workspace:
    check_if_match(workspace)
    for field, value in changes.items():
        setattr(workspace, field, value)
    db.session.commit()
    forget_cached(workspace.project_id)
    record_workspace("workspace.updated", workspace, {"fields": sorted(changes)})
    return workspace


def delete_workspace(workspace: Workspace) -> None:
    check_if_match(workspace)
    db.session.delete(workspace)
    db.session.commit()
    forget_cached(workspace.project_id)
    revocation.workspaces_closed([workspace.id])
    record_workspace("workspace.deleted", workspace)
