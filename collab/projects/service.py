"""Project lifecycle: creation with its owner's membership, edits, deletion, transfer."""

from __future__ import annotations

import uuid

from flask_smorest import abort
from sqlalchemy import bindparam, func, select

from collab.etags import check_if_match
from collab.extensions import db
from collab.models import Membership, Project, Role
from collab.permissions import ProjectAccess


def create_project(owner_id: uuid.UUID, data: dict) -> Project:
    project = Project(owner_id=owner_id, **data)
    project.memberships.append(Membership(user_id=owner_id, role=Role.OWNER))
    db.session.add(project)
    db.session.commit()
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


def update_project(access: ProjectAccess, changes: dict) -> Project:
    project = access.project
    if "is_public" in changes and changes["is_public"] != project.is_public:
        access.require(Role.OWNER)
    check_if_match(project)
    for field, value in changes.items():
        setattr(project, field, value)
    db.session.commit()
    return project


def delete_project(access: ProjectAccess) -> None:
    check_if_match(access.project)
    db.session.delete(access.project)
    db.session.commit()


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
    project.owner_id = new_owner_id
    db.session.commit()
    return project
