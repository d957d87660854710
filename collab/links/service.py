"""Share links: the owner makes a link with a role; any signed-in user who opens it becomes a
member with that role (an existing member's role is only ever raised).

Only the SHA-256 of a token is stored. A join spends a use with one conditional UPDATE (not
revoked, not expired, uses < max_uses) in the same transaction as the membership it creates
or raises: concurrent joins can never spend more uses than the link allows, and a join that
loses a race to the same user's other join is rolled back (its use with it) and looked at
again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime, timedelta

from flask import request
from flask_smorest import abort
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from collab import activity
from collab.auth.identity import current_user_id
from collab.collaborators.service import member_row
from collab.extensions import db
from collab.models import Membership, Role, ShareLink, utcnow
from collab.permissions import ProjectAccess
from collab.projects.service import forget_cached
from collab.realtime import revocation

TOKEN_BYTES = 32
# What secrets.token_urlsafe makes; anything else is not a token and never reaches the database.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")
NOT_VALID = "This link is not valid"
GONE = "This link has expired, was revoked or is used up"
# A join that lost a race is looked at again with what the winner committed.
JOIN_ATTEMPTS = 3


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_of(link: ShareLink, now: datetime) -> str:
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    if link.max_uses is not None and link.uses >= link.max_uses:
        return "used_up"
    return "active"


def link_row(link: ShareLink) -> dict:
    row = {column.key: getattr(link, column.key) for column in ShareLink.__table__.columns}
    del row["token_hash"]
    return {**row, "role": link.role.value, "status": status_of(link, utcnow())}


def join_url(token: str) -> str:
    """The web app's join page; the token rides in the fragment, which browsers never send
    (not to the server's logs, not in a Referer)."""
    return f"{request.url_root}join#{token}"


def create(access: ProjectAccess, role: str, expires_in: int | None, max_uses: int | None) -> dict:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    link = ShareLink(
        project_id=access.project.id,
        token_hash=token_hash(token),
        role=Role(role),
        created_by=current_user_id(),
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
        max_uses=max_uses,
    )
    db.session.add(link)
    db.session.commit()
    details = {"role": role, "expires_in": expires_in, "max_uses": max_uses}
    record_link("link.created", link, details)
    return {**link_row(link), "token": token, "url": join_url(token)}


def record_link(action: str, link: ShareLink, details: dict | None = None) -> None:
    activity.record(action, link.project_id, target=("link", link.id), details=details)


def links_of(access: ProjectAccess, skip: int, limit: int) -> tuple[list[dict], int]:
    """A page of the project's links, newest first, and how many there are."""
    in_project = ShareLink.project_id == access.project.id
    total = db.session.scalar(select(func.count(ShareLink.id)).where(in_project))
    links = db.session.scalars(
        select(ShareLink)
        .where(in_project)
        .order_by(ShareLink.created_at.desc(), ShareLink.id)
        .offset(skip)
        .limit(limit)
    )
    return [link_row(link) for link in links], total


def revoke(access: ProjectAccess, link_id: uuid.UUID) -> dict:
    """Revoked links are kept (a later join answers 410); members who joined stay."""
    link = db.session.scalar(
        select(ShareLink).where(ShareLink.id == link_id, ShareLink.project_id == access.project.id)
    )
    if link is None:
        abort(404, message="Link not found")
    revoked = db.session.execute(
        update(ShareLink)
        .where(ShareLink.id == link.id, ShareLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    if revoked.rowcount:  # revoking twice changes nothing, and is not recorded twice
        activity.record("link.revoked", access.project.id, target=("link", link_id))
    return link_row(link)


def join(token: str) -> tuple[dict, bool]:
    """The caller's membership through the link `token`, and whether it was created."""
    digest = token_hash(token) if TOKEN_SHAPE.fullmatch(token) else None
    user_id = current_user_id()
    for _ in range(JOIN_ATTEMPTS):
        outcome = try_join(digest, user_id)
        if outcome is not None:
            return outcome
        db.session.rollback()  # the use spent in this attempt is given back
    abort(409, message="The membership changed meanwhile; try again")


def try_join(digest: str | None, user_id: uuid.UUID) -> tuple[dict, bool] | None:
    """One attempt; None when it lost a race (the caller rolls back and tries again)."""
    link = db.session.scalar(select(ShareLink).where(ShareLink.token_hash == digest))
    if link is None:
        abort(404, message=NOT_VALID)
    status = status_of(link, utcnow())
    if status in ("revoked", "expired"):
        abort(410, message=GONE)
    membership = membership_of(link.project_id, user_id)
    if membership is not None and membership.role.at_least(link.role):
        return joined_row(membership), False  # nothing to change: no use is spent
    if status == "used_up":
        abort(410, message=GONE)
    if not spend_use(link.id):
        return None  # spent, revoked or expired meanwhile, or the caller joined meanwhile
    previous = membership.role if membership else None
    membership = grant(link, user_id, membership)
    if membership is None:
        return None
    row = joined_row(membership)  # read before the commit expires the session's objects
    project_id, details = link.project_id, join_details(link, previous)
    db.session.commit()
    after_join(project_id, user_id, details)
    return row, previous is None


def spend_use(link_id: uuid.UUID) -> bool:
    """Counts one use if the link still allows it (one statement: concurrent joins queue on
    the row and each sees the count the previous one committed)."""
    now = utcnow()
    spent = db.session.execute(
        update(ShareLink)
        .where(
            ShareLink.id == link_id,
            ShareLink.revoked_at.is_(None),
            or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
            or_(ShareLink.max_uses.is_(None), ShareLink.uses < ShareLink.max_uses),
        )
        .values(uses=ShareLink.uses + 1)
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def grant(link: ShareLink, user_id: uuid.UUID, membership: Membership | None) -> Membership | None:
    """A new membership with the link's role, or the existing one raised to it; None when
    another request changed the membership first."""
    if membership is None:
        membership = Membership(project_id=link.project_id, user_id=user_id, role=link.role)
        db.session.add(membership)
        try:
            db.session.flush()
        except IntegrityError:  # the same user's concurrent join inserted it first
            return None
        return membership
    raised = db.session.execute(
        update(Membership)
        .where(Membership.id == membership.id, Membership.role == membership.role)
        .values(role=link.role)
    )
    return membership if raised.rowcount == 1 else None


def membership_of(project_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    return db.session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )


def join_details(link: ShareLink, previous: Role | None) -> dict:
    details = {"role": link.role.value, "via": "link", "link_id": str(link.id)}
    if previous is not None:
        details["previous_role"] = previous.value
    return details


def after_join(project_id: uuid.UUID, user_id: uuid.UUID, details: dict) -> None:
    """The project appears in the member's list at once; their open sockets learn the role."""
    forget_cached(project_id, [user_id])
    revocation.access_changed(project_id, [user_id], roles_changed=True)
    action = "member.role_changed" if "previous_role" in details else "member.joined"
    activity.record(action, project_id, target=("user", user_id), details=details)


def joined_row(membership: Membership) -> dict:
    return {**member_row(membership), "project_id": membership.project_id}
