"""Project lifecycle: creation with its owner's membership, edits, deletion, transfer."""

from __future__ import annotations

import uuid

from flask_smorest import abort
from sqlalchemy import bindparam, func, select

from collab import activity, cache
from collab.etags import check_if_match, etag_of
from collab.extensions import db
from collab.models import Membership, Project, Role
from collab.permissions import PROJECT_WITH_OWNER_AND_ROLE, ProjectAccess, project_access
from collab.projects.schemas import ProjectDetailSchema, ProjectSchema
from collab.realtime import revocation


def create_project(owner_id: uuid.UUID, data: dict) -> Project:
    project = Project(owner_id=owner_id, **data)
    project.memberships.append(Membership(user_id=owner_id, role=Role.OWNER))
    db.session.add(project)
    db.session.commit()
    cache.invalidate([cache.scope("user", owner_id)])
    activity.record("project.created", project.id, owner_id, details={"name": project.name})
    return project


# Built once, with bound parameters: on this hot path, constructing the SQL expression costs
# more CPU than the database takes to run it. Plain columns, no ORM instances: it is only dumped.
PROJECT_PAGE = (
    select(*Project.__table__.c, func.count().over().label("total"))
    .where(
        Project.id.in_(
            select(Membership.project_id).where(Membership.user_id == bindparam("user_id"))
        )
    )
    .order_by(Project.created_at.desc(), Project.id)
    .offset(bindparam("skip"))
    .limit(bindparam("limit"))
)
PROJECT_COUNT = select(func.count(Membership.id)).where(Membership.user_id == bindparam("user_id"))


def projects_of(user_id: uuid.UUID, skip: int, limit: int) -> tuple[list, int]:
    """A page of the user's projects, newest first, and how many there are in all: one query,
    the total riding along as a window count."""
    params = {"user_id": user_id, "skip": skip, "limit": limit}
    rows = db.session.execute(PROJECT_PAGE, params).all()
    if rows:
        return rows, rows[0].total
    # Past the last page the window has no row to ride on.
    return [], db.session.scalar(PROJECT_COUNT, params)


def detail(access: ProjectAccess) -> dict:
    project = access.project
    return {
        **{c.key: getattr(project, c.key) for c in Project.__table__.columns},
        "owner": project.owner,
        "workspaces": project.workspaces,
        "role": access.role.value if access.role else None,
    }


def cached_page(user_id: uuid.UUID, skip: int, limit: int) -> dict:
    """The serialised page and total, from the cache while the user's projects are unchanged."""

    def build() -> dict:
        projects, total = projects_of(user_id, skip, limit)
        return {"items": ProjectSchema(many=True).dump(projects), "total": total}

    name = f"projects:{user_id}:{skip}:{limit}"
    return cache.read_through(name, [cache.scope("user", user_id)], build)


def cached_detail(project_id: uuid.UUID, user_id: uuid.UUID) -> dict:
    """The serialised detail (as this user sees it) and its ETag. Nothing is cached for a
    caller who may not see the project: that 404 is decided by the database every time."""

    def build() -> dict:
        access = project_access(project_id, statement=PROJECT_WITH_OWNER_AND_ROLE)
        project = access.project
        return {
            "body": ProjectDetailSchema().dump(detail(access)),
            "etag": etag_of(project.id, project.version),
        }

    name = f"project:{project_id}:{user_id}"
    return cache.read_through(name, [cache.scope("project", project_id)], build)


def member_ids(project_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        db.session.scalars(select(Membership.user_id).where(Membership.project_id == project_id))
    )


def forget_cached(project_id: uuid.UUID, user_ids: list[uuid.UUID] | None = None) -> None:
    """After a committed change to a project: its detail, and the lists of `user_ids`."""
    users = [cache.scope("user", user_id) for user_id in user_ids or []]
    cache.invalidate([cache.scope("project", project_id), *users])


def update_project(access: ProjectAccess, changes: dict) -> Project:
    project = access.project
    if "is_public" in changes and changes["is_public"] != project.is_public:
        access.require(Role.OWNER)
    check_if_match(project)
    closing = changes.get("is_public") is False and project.is_public
    for field, value in changes.items():
        setattr(project, field, value)
    db.session.commit()
    forget_cached(project.id, member_ids(project.id))
    if closing:  # outsiders reading it over Socket.IO are cut off
        revocation.access_changed(project.id)
    activity.record("project.updated", project.id, details={"fields": sorted(changes)})
    return project


def delete_project(access: ProjectAccess) -> None:
    project_id = access.project.id
    check_if_match(access.project)
    members = member_ids(project_id)
    workspaces = revocation.workspace_ids(project_id)
    db.session.delete(access.project)
    db.session.commit()
    forget_cached(project_id, members)
    revocation.workspaces_closed(workspaces)
    activity.record("project.deleted", project_id)


def transfer_ownership(access: ProjectAccess, new_owner_id: uuid.UUID) -> Project:
    """The new owner must already be a member; the old owner stays as a collaborator."""
    project = access.project
    if new_owner_id == project.owner_id:
        abort(409, message="That user already owns the project")
    target = db.session.scalar(
        select(Membership).where(
            Membership.project_id == project.id, Membership.user_id == new_owner_id
        )
    )
    if target is None:
        abort(404, message="That user is not a member of the project")
    previous = db.session.scalar(
        select(Membership).where(
            Membership.project_id == project.id, Membership.user_id == project.owner_id
        )
    )
    previous.role = Role.COLLABORATOR
    target.role = Role.OWNER
    previous_owner_id, project.owner_id = project.owner_id, new_owner_id
    db.session.commit()
    forget_cached(project.id, member_ids(project.id))
    revocation.access_changed(project.id, [previous_owner_id, new_owner_id], roles_changed=True)
    activity.record(
        "project.transferred",
        project.id,
        target=("user", new_owner_id),
        details={"previous_owner_id": str(previous_owner_id)},
    )
    return project
