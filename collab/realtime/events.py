"""Socket.IO connection handling: token auth and the per-user room.

The access token travels in the Socket.IO `auth` payload ({"token": ...}), never in the URL.
"""

from __future__ import annotations

from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_socketio import ConnectionRefusedError, join_room
from jwt import ExpiredSignatureError, PyJWTError

from collab.auth.tokens import active_user_for
from collab.extensions import socketio


def refuse(code: str, message: str) -> ConnectionRefusedError:
    return ConnectionRefusedError(message, {"code": code, "message": message})


def user_from_auth(auth: object):
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise refuse("unauthorized", "Missing token")
    try:
        claims = decode_token(token)
    except ExpiredSignatureError:
        raise refuse("token_expired", "Token has expired") from None
    except (PyJWTError, JWTExtendedException, ValueError):
        raise refuse("unauthorized", "Invalid token") from None
    user = active_user_for(claims) if claims.get("type") == "access" else None
    if user is None:
        raise refuse("unauthorized", "Token has been revoked")
    return user


@socketio.on("connect")
def connect(auth: object = None) -> None:
    user = user_from_auth(auth)
    join_room(f"user:{user.id}")
