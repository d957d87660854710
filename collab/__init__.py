"""collab: the backend of a real-time collaborative workspace.

Nothing is imported here at module level: the document replica processes import
`collab.documents` alone, and start in a fraction of the time without Flask and the rest
(collab/documents/engine.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from collab.config import Config


def create_app(config: Config | None = None) -> Flask:
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from collab.config import Config
    from collab.observability.logs import configure_logging

    app = Flask(__name__)
    app.config.from_object(config or Config())
    configure_logging(app)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if app.config["PROXY_COUNT"] > 0:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    init_extensions(app)
    register_blueprints(app)

    from collab.admin.dashboard import init_dashboard
    from collab.cli import register_commands
    from collab.errors import register_error_handlers
    from collab.http import register_request_rules
    from collab.observability import init_observability

    init_dashboard(app)
    register_error_handlers(app)
    register_request_rules(app)
    register_commands(app)
    init_observability(app)  # last: its request-id middleware wraps every other one
    return app


def init_extensions(app: Flask) -> None:
    from collab.auth.passwords import init_passwords
    from collab.auth.sign_in_limits import init_sign_in_limits
    from collab.auth.tokens import register_jwt_handlers
    from collab.database import init_database
    from collab.extensions import (
        api,
        cors,
        db,
        jwt,
        limiter,
        migrate,
        mongo,
        redis_client,
    )
    from collab.flags import FlagCache
    from collab.openapi import spec_kwargs

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    init_database(app)
    api.init_app(app, spec_kwargs=spec_kwargs())
    jwt.init_app(app)
    register_jwt_handlers(jwt)
    limiter.init_app(app)
    init_sign_in_limits(app)
    cors.init_app(app, origins=app.config["CORS_ORIGINS"], expose_headers=EXPOSED_HEADERS)
    redis_client.init_app(app)
    mongo.init_app(app)
    init_passwords(app)
    app.extensions["collab_flags"] = FlagCache(app.config["FEATURE_FLAG_CACHE_SECONDS"])
    init_socketio(app)


EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "X-Total-Count",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Request-ID",
]


def init_socketio(app: Flask) -> None:
    from collab.documents.content import engine_for
    from collab.extensions import socketio
    from collab.realtime import documents, events, jobs, workspaces  # noqa: F401 - the handlers
    from collab.realtime.emitter import channel_for
    from collab.realtime.manager import CollabRedisManager

    url = app.config["REDIS_URL"]
    manager = CollabRedisManager(
        url,
        engine=engine_for(app.config),
        channel=channel_for(url),
        redis_options={"max_connections": app.config["REDIS_MAX_CONNECTIONS"]},
    )
    socketio.init_app(
        app,
        client_manager=manager,
        cors_allowed_origins=app.config["CORS_ORIGINS"] or None,
        # Above the 1 MiB document-update cap, so an oversized update is refused in the ack
        # instead of dropping the connection.
        max_http_buffer_size=2 * 1024 * 1024,
    )


def register_blueprints(app: Flask) -> None:
    from collab.activity.routes import blp as activity
    from collab.admin.routes import blp as admin
    from collab.apidocs import blp as swagger_ui
    from collab.auth.routes import blp as auth
    from collab.collaborators.routes import blp as collaborators
    from collab.documents.routes import blp as documents
    from collab.extensions import api
    from collab.health.routes import blp as health
    from collab.history.routes import blp as history
    from collab.jobs.routes import blp as jobs
    from collab.links.routes import blp as links
    from collab.observability.routes import blp as metrics
    from collab.projects.routes import blp as projects
    from collab.webapp.routes import blp as webapp
    from collab.workspaces.routes import blp as workspaces

    blueprints = (
        auth,
        projects,
        workspaces,
        documents,
        history,
        collaborators,
        links,
        activity,
        admin,
        jobs,
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    app.register_blueprint(swagger_ui)
    app.register_blueprint(webapp)
