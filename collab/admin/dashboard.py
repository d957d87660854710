"""The RQ dashboard (rq-dashboard) at /admin/rq, for administrators only.

rq-dashboard has no authentication of its own. `require_admin` runs before every request of
its blueprint (pages, JSON, static assets, actions): browsers get a Basic challenge and send an
administrator's email and password; scripts may send an administrator's Bearer access token.
"""

from __future__ import annotations

import logging
import math
import time

import redis
import rq_dashboard
from flask import Flask, current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_smorest import abort
from jwt import PyJWTError
from limits import RateLimitItem, parse
from rq import Queue
from werkzeug.exceptions import Unauthorized

from collab.auth import service
from collab.auth.tokens import active_user_for
from collab.extensions import limiter
from collab.models import User
from collab.ratelimit import client_ip
from collab.tasks import QUEUE_NAMES

logger = logging.getLogger(__name__)

URL_PREFIX = "/admin/rq"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="collab admin"'}
# Failed Basic sign-ins are counted like failed logins (the login limits' values), in buckets
# of their own.
FAILED_BASIC_SCOPE = "admin-basic"
# A GET of the dashboard that changes something (requeues every failed job of a queue).
ACTION_GETS = {"rq_dashboard.requeue_all"}


def init_dashboard(app: Flask) -> None:
    """Mount rq-dashboard on the app's Redis, every route of it behind `require_admin`."""
    app.config["RQ_DASHBOARD_REDIS_URL"] = app.config["REDIS_URL"]
    rq_dashboard.web.setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
    # Keyed by the blueprint's name, so it covers every route of it; first in its list, so the
    # dashboard's own before_request (which picks a Redis connection) runs only for admins.
    app.before_request_funcs.setdefault(rq_dashboard.blueprint.name, []).insert(0, require_admin)


def require_admin() -> None:
    """401 with a Basic challenge without valid credentials, 403 for a non-admin."""
    refuse_cross_site_actions()
    if not caller().is_admin:
        abort(403, message="Administrators only")
    show_app_queues()


def caller() -> User:
    """The user whose Basic credentials or Bearer access token the request carries."""
    auth = request.authorization
    user = None
    if auth is not None and auth.type == "bearer" and auth.token:
        user = token_user(auth.token)
    elif auth is not None and auth.type == "basic":
        user = password_user(auth.username or "", auth.password or "")
    if user is None:
        abort(401, message="An administrator's email and password are required", headers=CHALLENGE)
    return user


def token_user(token: str) -> User | None:
    """The user of a valid access token whose session is still open."""
    try:
        claims = decode_token(token)
    except (PyJWTError, JWTExtendedException, ValueError):
        return None
    return active_user_for(claims) if claims.get("type") == "access" else None


def password_user(email: str, password: str) -> User | None:
    """The login route's check (argon2 in gevent's thread pool), refused outright once the
    caller's IP or the email has spent its budget of failures."""
    email = email.strip().lower()
    budgets = failure_budgets(email[:254])
    refuse_when_spent(budgets)
    try:
        return service.authenticate(email, password)
    except Unauthorized:
        count_failure(budgets)
        return None


def failure_budgets(email: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    config = current_app.config
    prefix = config["RATELIMIT_KEY_PREFIX"]
    return [
        (parse(config["RATELIMIT_LOGIN_IP"]), (prefix, FAILED_BASIC_SCOPE, f"ip:{client_ip()}")),
        (parse(config["RATELIMIT_LOGIN_EMAIL"]), (prefix, FAILED_BASIC_SCOPE, f"email:{email}")),
    ]


def refuse_when_spent(budgets: list[tuple[RateLimitItem, tuple[str, ...]]]) -> None:
    if not limiter.enabled:
        return
    try:
        spent = [(item, key) for item, key in budgets if not limiter.limiter.test(item, *key)]
    except redis.RedisError:
        # Without its counters the check could be brute-forced: closed, not open.
        logger.exception("Rate-limit storage unavailable for the RQ dashboard")
        abort(503, message="Sign-in is unavailable for now; try again later")
    if spent:
        item, key = spent[0]
        reset = limiter.limiter.get_window_stats(item, *key).reset_time
        abort(
            429,
            message="Too many failed sign-ins; retry after the number of seconds in Retry-After",
            headers={"Retry-After": str(max(1, math.ceil(reset - time.time())))},
        )


def count_failure(budgets: list[tuple[RateLimitItem, tuple[str, ...]]]) -> None:
    if not limiter.enabled:
        return
    try:
        for item, key in budgets:
            limiter.limiter.hit(item, *key)
    except redis.RedisError:
        logger.exception("Could not count a failed sign-in to the RQ dashboard")


def refuse_cross_site_actions() -> None:
    """Browsers replay Basic credentials on any request to this origin, so another site could
    make an administrator's browser press the dashboard's buttons (CSRF): its actions must come
    from its own pages. Reading it from a link elsewhere is fine."""
    if request.method in {"GET", "HEAD"} and request.endpoint not in ACTION_GETS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None:
        cross_site = site not in {"same-origin", "none"}
    else:  # a browser too old to say: its Origin, when it sends one
        cross_site = origin is not None and origin != request.host_url.rstrip("/")
    if cross_site:
        abort(403, message="Dashboard actions must come from the dashboard's own pages")


def show_app_queues() -> None:
    """The dashboard lists the queues Redis knows of (`rq:queues`, added at a queue's first
    job): add the app's own, so that they show before their first job too."""
    connection = current_app.redis_conn
    keys = [Queue(name, connection=connection).key for name in QUEUE_NAMES]
    connection.sadd(Queue.redis_queues_keys, *keys)
