"""Who may do what. Every view that touches a project goes through `project_access`.

Outsiders never learn that a private project exists: they get the same 404 as for a random id.
On a public project an outsider may read, and gets 403 (not 404) for anything more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask_jwt_extended import jwt_required
from flask_smorest import Blueprint, abort
from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.orm import joinedload

from collab.auth.identity import current_user, current_user_id
from collab.errors import ErrorSchema
from collab.extensions import db
from collab.models import Membership, Project, Role

PROJECT_NOT_FOUND = "Project not found"

# OpenAPI descriptions of the answers project-scoped endpoints give.
PROJECT_ERRORS = {
    403: "The caller's role does not allow it",
    404: "No such project, or a private one",
    412: "If-Match does not match the current ETag",
    413: "The content is larger than allowed",
}


def project_errors(blp: Blueprint, *statuses: int) -> Callable:
    """Documents the error answers (in the Error shape) a project-scoped view may give."""

    def decorator(view: Callable) -> Callable:
        for status in statuses:
            view = blp.alt_response(status, schema=ErrorSchema, description=PROJECT_ERRORS[status])(
                view
            )
        return view

    return decorator


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: Role | None  # None: an outsider reading a public project

    def allows(self, needed: Role) -> bool:
        return self.role is not None and self.role.at_least(needed)

    def require(self, needed: Role) -> None:
        if not self.allows(needed):
            abort(403, message=f"This requires the {needed.value} role in the project")


# The project with the caller's membership role (NULL when not a member), built once.
PROJECT_WITH_ROLE = (
    select(Project, Membership.role)
    .outerjoin(
        Membership,
        and_(Membership.project_id == Project.id, Membership.user_id == bindparam("user_id")),
    )
    .where(Project.id == bindparam("project_id"))
)
# The same, with the owner's row joined in (for the project detail).
PROJECT_WITH_OWNER_AND_ROLE = PROJECT_WITH_ROLE.options(joinedload(Project.owner))


def project_access(
    project_id: uuid.UUID,
    needed: Role | None = None,
    statement: Select = PROJECT_WITH_ROLE,
    not_found: str = PROJECT_NOT_FOUND,
) -> ProjectAccess:
    """Load a project with the caller's role; 404 `not_found` when the caller may not see it
    at all (callers reaching the project through a child name the child, so an invisible
    one looks exactly like a missing one)."""
    params = {"user_id": current_user_id(), "project_id": project_id}
    row = db.session.execute(statement, params).first()
    if row is None or (row.role is None and not row.Project.is_public):
        abort(404, message=not_found)
    access = ProjectAccess(project=row.Project, role=row.role)
    if needed is not None:
        access.require(needed)
    return access


def auth_required(blp: Blueprint) -> Callable:
    """jwt_required, documented in OpenAPI as bearer-protected with its 401 answer."""

    def decorator(view: Callable) -> Callable:
        view = jwt_required()(view)
        view = blp.alt_response(
            401,
            schema=ErrorSchema,
            description="Missing, invalid, expired or revoked token",
        )(view)
        return blp.doc(security=[{"bearerAuth": []}])(view)

    return decorator


def admin_required(view: Callable) -> Callable:
    """Checked against the freshly loaded user, so a demoted admin loses access at once."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403, message="Administrators only")
        return view(*args, **kwargs)

    return wrapper
