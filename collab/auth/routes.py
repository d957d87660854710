"""Accounts and tokens: /api/v1/auth."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import abort

from collab.auth import service, sign_in_limits, tokens
from collab.auth.identity import current_session_id, current_user, current_user_id
from collab.auth.schemas import (
    ChangePasswordSchema,
    LoginSchema,
    LogoutSchema,
    RefreshSchema,
    RegisterSchema,
    SessionSchema,
    TokenSchema,
    UpdateMeSchema,
    UserSchema,
)
from collab.errors import ErrorSchema
from collab.extensions import db, limiter
from collab.http import Blueprint
from collab.models import AuthSession
from collab.permissions import auth_required
from collab.ratelimit import configured, ip_key
from collab.schemas import MessageSchema, message

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")


@blp.route("/register")
class Register(MethodView):
    decorators = [limiter.limit(configured("RATELIMIT_REGISTER"), key_func=ip_key)]

    @blp.arguments(RegisterSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Email or username taken")
    def post(self, data):
        """Create an account"""
        return service.register(**data)


@blp.route("/login")
class Login(MethodView):
    decorators = sign_in_limits.login_limits()

    @blp.arguments(LoginSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Invalid email or password")
    def post(self, data):
        """Log in: open a session and get an access and a refresh token"""
        user = service.authenticate(data["email"], data["password"])
        return tokens.open_session(user)


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Invalid, expired or reused token")
    def post(self, data):
        """Swap a refresh token for a new pair (the old refresh token is retired)"""
        return tokens.rotate_refresh_token(data["refresh_token"])


@blp.route("/logout")
class Logout(MethodView):
    @auth_required(blp)
    @blp.arguments(LogoutSchema, required=False)
    @blp.response(200, MessageSchema)
    def post(self, data):
        """Close this session: its access and refresh tokens stop working"""
        # The caller's own session closes whatever the optional body holds: an expired or
        # invalid refresh token there must not leave the access token working.
        closing = [current_session_id()]
        token = (data or {}).get("refresh_token")
        claims = tokens.refresh_claims(token) if token else None
        if claims is not None and claims["sub"] == str(current_user_id()):
            closing.append(uuid.UUID(claims["sid"]))
        tokens.revoke_sessions(
            AuthSession.id.in_(closing), AuthSession.user_id == current_user_id()
        )
        db.session.commit()
        return message("Logged out successfully")


@blp.route("/me")
class Me(MethodView):
    @auth_required(blp)
    @blp.response(200, UserSchema)
    def get(self):
        """The current user"""
        return current_user

    @auth_required(blp)
    @blp.arguments(UpdateMeSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Username taken")
    def put(self, changes):
        """Change the current user's profile"""
        return service.update_profile(current_user, changes)

    patch = put


@blp.route("/change-password")
class ChangePassword(MethodView):
    @auth_required(blp)
    @blp.arguments(ChangePasswordSchema)
    @blp.response(200, MessageSchema)
    def post(self, data):
        """Change the password; every other session of the user is closed"""
        service.change_password(
            current_user,
            current_session_id(),
            data["current_password"],
            data["new_password"],
        )
        return message("Password changed")


@blp.route("/sessions")
class Sessions(MethodView):
    @auth_required(blp)
    @blp.response(200, SessionSchema(many=True))
    def get(self):
        """The current user's open sessions (logged-in devices)"""
        sid = current_session_id()
        sessions = tokens.active_sessions(current_user_id())
        return [{**vars_of(s), "current": s.id == sid} for s in sessions]


@blp.route("/sessions/<uuid:session_id>")
class SessionItem(MethodView):
    @auth_required(blp)
    @blp.response(200, MessageSchema)
    def delete(self, session_id):
        """Close one of the current user's sessions"""
        closed = tokens.revoke_sessions(
            AuthSession.id == session_id, AuthSession.user_id == current_user_id()
        )
        db.session.commit()
        if not closed:
            abort(404, message="Session not found")
        return message("Session revoked")


def vars_of(session: AuthSession) -> dict:
    fields = (
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "ip_address",
    )
    return {name: getattr(session, name) for name in fields}
