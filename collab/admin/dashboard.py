"""The RQ dashboard (rq-dashboard) at /admin/rq, for administrators only.

rq-dashboard has no authentication of its own. `require_admin` runs before every request of
its blueprint (pages, JSON, static assets, actions): browsers get a Basic challenge and send an
administrator's email and password; scripts may send an administrator's Bearer access token.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging

import rq_dashboard
from flask import Flask, current_app, request
from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_smorest import abort
from jwt import PyJWTError
from redis import RedisError
from rq import Queue
from werkzeug.exceptions import Unauthorized

from collab.auth import service, sign_in_limits
from collab.auth.tokens import active_user_for
from collab.extensions import limiter, redis_client
from collab.models import User
from collab.ratelimit import client_ip
from collab.tasks import QUEUE_NAMES

logger = logging.getLogger(__name__)

URL_PREFIX = "/admin/rq"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="collab admin"'}
# A GET of the dashboard that changes something (requeues every failed job of a queue).
ACTION_GETS = {"rq_dashboard.requeue_all"}
# How long Basic credentials proved right from an IP spare that IP's next requests the budgets.
PROOF_KEY = "collab:admin-basic:proven:{}"
PROOF_SECONDS = 60


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
    """The login route's check (argon2 in gevent's thread pool) under the login's failure
    budgets, in buckets of their own: taken before the check, given back unless it fails."""
    email = email.strip().lower()
    proven = has_proof()
    taken = [] if proven else take_budgets(email)
    try:
        user = service.authenticate(email, password)
    except Unauthorized:
        return None  # a failure keeps what it took
    sign_in_limits.give_back(taken)
    if not proven:
        remember_proof()
    return user


def take_budgets(email: str) -> sign_in_limits.Taken:
    # Without their Redis the check could be brute-forced (per-process counters are outrun by
    # spreading guesses over processes), and the dashboard shows nothing then: closed, not open.
    try:
        if not limiter.counting_in_memory():
            return sign_in_limits.take(sign_in_limits.DASHBOARD_SCOPE, email)
    except RedisError:
        logger.exception("Rate-limit storage unavailable for the RQ dashboard")
    abort(503, message="Sign-in is unavailable for now; try again later")


def proof_key() -> str:
    """An HMAC of this IP and Authorization header: the password is never stored."""
    secret = current_app.config["SECRET_KEY"].encode()
    message = f"{client_ip()}\n{request.headers.get('Authorization', '')}".encode()
    return PROOF_KEY.format(hmac.new(secret, message, hashlib.sha256).hexdigest())


def has_proof() -> bool:
    """Whether this IP proved these very credentials right a moment ago. Then the budgets are
    not taken: every request of a page checks the password again, and a page's parallel
    requests would otherwise take the whole budget at once (a guess can never have a proof)."""
    try:
        return bool(redis_client.exists(proof_key()))
    except RedisError:
        return False


def remember_proof() -> None:
    # Without Redis, the next requests take their share of the budgets and give it back.
    with contextlib.suppress(RedisError):
        redis_client.set(proof_key(), "1", ex=PROOF_SECONDS)


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
