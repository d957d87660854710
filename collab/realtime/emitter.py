"""Reaching sockets from outside the Socket.IO handlers (REST requests, RQ workers).

A write-only Socket.IO server on the app's Redis message queue: its emits, room changes and
disconnects are published on the channel every web instance listens on, and each instance
applies them to the sockets it holds.
"""

from __future__ import annotations

import functools

import redis
from flask import current_app
from flask_socketio import SocketIO


def emitter() -> SocketIO:
    return _emitter(current_app.config["REDIS_URL"])


@functools.cache
def _emitter(redis_url: str) -> SocketIO:
    # Flask-SocketIO's default channel ("flask-socketio") is not the one the web's manager
    # listens on: name it, or every event is published where nobody hears it.
    return SocketIO(message_queue=redis_url, channel=channel_for(redis_url))


def channel_for(redis_url: str) -> str:
    """The Socket.IO channel of the deployment whose Redis database is `redis_url`'s: web
    managers listen on it, emitters publish on it. Redis pub/sub ignores database numbers, so
    the number is in the name: deployments sharing a Redis server on separate databases never
    hear each other's events."""
    database = redis.connection.parse_url(redis_url).get("db", 0)
    return f"collab:socketio:{database}"
