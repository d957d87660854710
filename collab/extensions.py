"""Every extension, created unbound; only the app factory binds them (init_app)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import redis
from flask import Flask, current_app
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import RateLimitExceeded
from flask_migrate import Migrate
from flask_smorest import Api
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from collab.models.base import Base
from collab.ratelimit import CollabLimiter, configured, rate_limit_key


class RedisHandle:
    """The app's own Redis client (cache, flags, revocations).

    A BlockingConnectionPool waits for a free connection instead of raising when the pool is
    exhausted (redis-py 8 caps the default pool and raises MaxConnectionsError).

    The client belongs to the app (app.extensions), not to this shared handle: every app the
    factory builds talks to its own REDIS_URL, even when several live in one process.
    """

    def init_app(self, app: Flask) -> None:
        pool = redis.BlockingConnectionPool.from_url(
            app.config["REDIS_URL"],
            max_connections=app.config["REDIS_MAX_CONNECTIONS"],
            timeout=5,
            socket_timeout=2,
            socket_connect_timeout=2,
            decode_responses=True,
        )
        app.extensions["collab_redis"] = redis.Redis(connection_pool=pool)

    @property
    def client(self) -> redis.Redis:
        return current_app.extensions["collab_redis"]

    def __getattr__(self, name: str):
        return getattr(self.client, name)


class MongoHandle:
    """pymongo client created lazily, so forked workers open their own sockets; one per app."""

    def init_app(self, app: Flask) -> None:
        app.extensions["collab_mongo"] = LazyMongoClient(
            app.config["MONGODB_URL"], app.config["MONGODB_DATABASE"]
        )

    @property
    def client(self) -> MongoClient:
        return current_app.extensions["collab_mongo"].client

    @property
    def db(self) -> Database:
        return current_app.extensions["collab_mongo"].db

    def collection(self, name: str, ensure_indexes: Callable[[Collection], None]) -> Collection:
        """A collection whose indexes `ensure_indexes` creates once per app (idempotently)."""
        collection = self.db[name]
        indexed = current_app.extensions.setdefault("collab_mongo_indexed", set())
        if name not in indexed:
            ensure_indexes(collection)
            indexed.add(name)
        return collection


def ensure_ttl_index(collection: Collection, field: str, name: str, days: int) -> None:
    """Documents expire `days` after their `field`; a changed retention adjusts the index."""
    seconds = int(timedelta(days=days).total_seconds())
    try:
        collection.create_index(field, name=name, expireAfterSeconds=seconds)
    except OperationFailure:  # the index exists with another retention
        index = {"name": name, "expireAfterSeconds": seconds}
        collection.database.command("collMod", collection.name, index=index)


class LazyMongoClient:
    def __init__(self, url: str, database_name: str) -> None:
        self.url = url
        self.database_name = database_name
        self._client: MongoClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> MongoClient:
        with self._lock:
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
        if isinstance(error, RateLimitExceeded):
            # flask-limiter's description is the limit's own message, else the bare limit.
            lead = error.description if error.limit.error_message else "Too many requests"
            payload["message"] = (
                f"{lead}: the limit is {error.limit.limit}; "
                "retry after the number of seconds in Retry-After"
            )
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers = {**headers, "Allow": ", ".join(sorted(error.valid_methods))}
        return payload, status, headers


AUTOCOMMIT = "collab.autocommit"


class CollabSession(Session):
    """Flask-SQLAlchemy's session, bound to an autocommit variant of the engine (same pool)
    while the request only reads."""

    def get_bind(self, *args, **kwargs):
        engine = super().get_bind(*args, **kwargs)
        return autocommit_engine(engine) if self.info.get(AUTOCOMMIT) else engine


def autocommit_engine(engine: Engine) -> Engine:
    if "collab.autocommit" not in engine.__dict__:
        engine.__dict__["collab.autocommit"] = engine.execution_options(
            isolation_level="AUTOCOMMIT"
        )
    return engine.__dict__["collab.autocommit"]


# Models derive from our own typed Base; the extension shares its metadata (for migrations).
db = SQLAlchemy(metadata=Base.metadata, session_options={"class_": CollabSession})
migrate = Migrate()
api = CollabApi()
jwt = JWTManager()
limiter = CollabLimiter(key_func=rate_limit_key, default_limits=[configured("RATELIMIT_DEFAULT")])
socketio = SocketIO()
cors = CORS()
redis_client = RedisHandle()
mongo = MongoHandle()
