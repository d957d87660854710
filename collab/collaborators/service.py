"""Project membership: invitations, role changes, removal and leaving."""

from __future__ import annotations

import uuid

from flask_smorest import abort
from sqlalchemy import select

from collab import activity
from collab.auth.identity import current_user_id
from collab.auth.service import commit_or_conflict
from collab.extensions import db
from collab.models import Membership, Role, User
from collab.permissions import ProjectAccess
from collab.projects.service import forget_cached
from collab.realtime import revocation

ROLE_ORDER = {Role.OWNER: 0, Role.COLLABORATOR: 1, Role.VIEWER: 2}


def member_row(membership: Membership, with_email: bool = True) -> dict:
    user = membership.user
    row = {
        "id": membership.id,
        "user_id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "role": membership.role.value,
        "created_at": membership.created_at,
    }
    if with_email:
        row["email"] = user.email
    return row


def members_of(access: ProjectAccess) -> list[dict]:
    memberships = db.session.scalars(
        select(Membership)
        .where(Membership.project_id == access.project.id)
        .order_by(Membership.created_at, Membership.id)
    )
    ordered = sorted(memberships, key=lambda m: ROLE_ORDER[m.role])
    # Outsiders reading a public project see who is in it, but not their email addresses.
    return [member_row(m, with_email=access.role is not None) for m in ordered]


def find_membership(access: ProjectAccess, user_id: uuid.UUID) -> Membership:
    membership = db.session.scalar(
        select(Membership).where(
            Membership.project_id == access.project.id, Membership.user_id == user_id
        )
    )
    if membership is None:
        abort(404, message="Not a member of this project")
    return membership


def invite(access: ProjectAccess, email: str, role: str) -> dict:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        abort(404, message="No user with that email")
    already = db.session.scalar(
        select(Membership.id).where(
            Membership.project_id == access.project.id, Membership.user_id == user.id
        )
    )
    if already is not None:
        abort(409, message="That user is already a member of the project")
    membership = Membership(project_id=access.project.id, user_id=user.id, role=Role(role))
    db.session.add(membership)
    commit_or_conflict("That user is already a member of the project")
    forget_cached(access.project.id, [user.id])
    record_member("member.added", access, user.id, role)
    return member_row(membership)


def record_member(action: str, access: ProjectAccess, user_id, role: str | None = None) -> None:
    details = {"role": role} if role else None
    target = ("user", user_id)
    activity.record(action, access.project.id, target=target, details=details)


def change_role(access: ProjectAccess, user_id: uuid.UUID, role: str) -> dict:
    membership = find_membership(access, user_id)
    if membership.role is Role.OWNER:
        abort(409, message="The owner's role cannot change; transfer ownership instead")
    membership.role = Role(role)
    db.session.commit()
    forget_cached(access.project.id, [user_id])
    revocation.access_changed(access.project.id, [user_id], roles_changed=True)
    record_member("member.role_changed", access, user_id, role)
    return member_row(membership)


def remove(access: ProjectAccess, user_id: uuid.UUID) -> str:
    """The owner removes anyone else; any member may remove themself (leave)."""
    leaving = user_id == current_user_id()
    if not leaving:
        access.require(Role.OWNER)
    membership = find_membership(access, user_id)
    if membership.role is Role.OWNER:
        abort(409, message="The owner cannot leave; transfer ownership first")
    db.session.delete(membership)
    db.session.commit()
    forget_cached(access.project.id, [user_id])
    revocation.access_changed(access.project.id, [user_id])
    record_member("member.left" if leaving else "member.removed", access, user_id)
    return "Left the project" if leaving else "Collaborator removed"
