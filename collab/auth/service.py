"""Accounts: registration, credentials, profile changes."""

from __future__ import annotations

import uuid

from flask_smorest import abort
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from collab import cache, flags
from collab.auth import sign_in_limits
from collab.auth.passwords import passwords
from collab.auth.tokens import revoke_sessions
from collab.extensions import db
from collab.models import AuthSession, Project, User

LOGIN_FAILED = "Invalid email or password"
TAKEN = "Email or username already taken"


def email_taken(email: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == email)) is not None


def username_taken(username: str, except_user: uuid.UUID | None = None) -> bool:
    query = select(User.id).where(func.lower(User.username) == username.lower())
    if except_user is not None:
        query = query.where(User.id != except_user)
    return db.session.scalar(query) is not None


def commit_or_conflict(message: str = TAKEN) -> None:
    """Commit; a unique constraint that lost a race becomes 409, never a 500."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        abort(409, message=message)


def register(email: str, username: str, password: str, full_name: str | None) -> User:
    if not flags.is_enabled(flags.REGISTRATION_OPEN.name):
        abort(403, message="Registration is closed")
    if email_taken(email):
        abort(409, message="Email already registered")
    if username_taken(username):
        abort(409, message="Username already taken")
    user = User(
        email=email,
        username=username,
        full_name=full_name,
        password_hash=passwords().hash(password),
    )
    db.session.add(user)
    commit_or_conflict()
    return user


def authenticate(email: str, password: str) -> User:
    """The user for these credentials; one message, the same cost and the same count against
    the sign-in limits for every failure."""
    user = db.session.scalar(select(User).where(User.email == email))
    ok = passwords().verify(user.password_hash if user else None, password)
    if user is None or not ok:
        sign_in_limits.record_failure()
        abort(401, message=LOGIN_FAILED)
    if passwords().needs_rehash(user.password_hash):
        user.password_hash = passwords().hash(password)
        db.session.commit()
    return user


def update_profile(user: User, changes: dict) -> User:
    username = changes.get("username")
    if username is not None and username_taken(username, except_user=user.id):
        abort(409, message="Username already taken")
    for field, value in changes.items():
        setattr(user, field, value)
    commit_or_conflict("Username already taken")
    # Project details show their owner's username and full name.
    owned = db.session.scalars(select(Project.id).where(Project.owner_id == user.id))
    cache.invalidate([cache.scope("project", project_id) for project_id in owned])
    return user


def change_password(user: User, session_id: uuid.UUID, current: str, new: str) -> None:
    if not passwords().verify(user.password_hash, current):
        abort(422, errors={"json": {"current_password": ["Incorrect password"]}})
    user.password_hash = passwords().hash(new)
    revoke_sessions(AuthSession.user_id == user.id, AuthSession.id != session_id)
    db.session.commit()
