"""Who is calling. Most views only need the caller's id, which the verified token carries;
the full User row is loaded from the database only when a view asks for it."""

from __future__ import annotations

import uuid

from flask import g
from flask_jwt_extended import get_jwt, get_jwt_identity
from flask_smorest import abort
from werkzeug.local import LocalProxy

from collab.extensions import db
from collab.models import User


def current_user_id() -> uuid.UUID:
    return uuid.UUID(get_jwt_identity())


def current_session_id() -> uuid.UUID:
    return uuid.UUID(get_jwt()["sid"])


def load_current_user() -> User:
    if "collab_user" not in g:
        user = db.session.get(User, current_user_id())
        if user is None:
            abort(401, message="Token has been revoked")
        g.collab_user = user
    return g.collab_user


current_user: User = LocalProxy(load_current_user)  # type: ignore[assignment]
