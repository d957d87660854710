"""Every extension, created unbound; only the app factory binds them (init_app)."""

from __future__ import annotations

import redis
from flask import Flask
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from pymongo import MongoClient
from pymongo.database import Database
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from collab.models.base import Base
from collab.ratelimit import rate_limit_key


class RedisHandle:
    """The app's own Redis client (cache, flags, revocations).

    A BlockingConnectionPool waits for a free connection instead of raising when the pool is
    exhausted (redis-py 8 caps the default pool and raises MaxConnectionsError).
    """

    client: redis.Redis

    def init_app(self, app: Flask) -> None:
        pool = redis.BlockingConnectionPool.from_url(
            app.config["REDIS_URL"],
            max_connections=app.config["REDIS_MAX_CONNECTIONS"],
            timeout=5,
            socket_timeout=2,
            socket_connect_timeout=2,
            decode_responses=True,
        )
        self.client = redis.Redis(connection_pool=pool)
        app.extensions["collab_redis"] = self

    def __getattr__(self, name: str):
        return getattr(self.client, name)


class MongoHandle:
    """pymongo client created lazily, so forked workers open their own sockets."""

    def init_app(self, app: Flask) -> None:
        self.url = app.config["MONGODB_URL"]
        self.database_name = app.config["MONGODB_DATABASE"]
        self._client: MongoClient | None = None
        app.extensions["collab_mongo"] = self

    @property
    def client(self) -> MongoClient:
        if self._client is None:
            self._client = MongoClient(
                self.url,
                serverSelectionTimeoutMS=2000,
                connectTimeoutMS=2000,
                tz_aware=True,
            )
        return self._client

    @property
    def db(self) -> Database:
        return self.client[self.database_name]


class CollabApi(Api):
    """flask-smorest's error shape, with a message on every error (routing errors too)."""

    def handle_http_exception(self, error: HTTPException):
        payload, status, headers = super().handle_http_exception(error)
        payload.setdefault("message", error.description)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers = {**headers, "Allow": ", ".join(sorted(error.valid_methods))}
        return payload, status, headers


# Models derive from our own typed Base; the extension shares its metadata (for migrations).
db = SQLAlchemy(metadata=Base.metadata)
migrate = Migrate()
api = CollabApi()
jwt = JWTManager()
limiter = Limiter(key_func=rate_limit_key)
socketio = SocketIO()
cors = CORS()
redis_client = RedisHandle()
mongo = MongoHandle()
