"""Failed sign-ins: the limits of the login route and of the RQ dashboard's Basic auth.

Two budgets, each counting only password checks that failed (a wrong password and an unknown
email alike): RATELIMIT_LOGIN_IP per client IP across every email, and RATELIMIT_LOGIN_EMAIL per
email from one client IP. No budget counts one email across IPs: refusing before the password
check, it let anyone lock the owner out from everywhere (issue 9); refusing only after the check,
it would cap nothing, since a right guess gets in either way. See README "Login limits".
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from flask import Flask, Response, current_app, g
from flask_smorest import abort
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage
from redis import RedisError

from collab.extensions import limiter
from collab.ratelimit import client_ip, configured, ip_key, json_body

logger = logging.getLogger(__name__)

LOGIN_SCOPE = "login"
DASHBOARD_SCOPE = "admin-basic"
MESSAGE = "Too many failed sign-ins"
FAILED = "collab_sign_in_failed"


def record_failure() -> None:
    """The request's password check failed: what it took from the budgets stays taken."""
    g.setdefault(FAILED, True)


def email_ip_key(email: object) -> str:
    email = email.strip().lower()[:254] if isinstance(email, str) else ""
    return f"email:{email}|ip:{client_ip()}"


def login_email_ip_key() -> str:
    body = json_body()
    return email_ip_key(body.get("email") if isinstance(body, dict) else None)


def login_limits() -> list:
    """The login route's limits. The two budgets are ordinary limits, so every attempt takes
    its share atomically before the password is checked; `give_back_unless_failed` returns it
    afterwards unless the check failed. (flask-limiter's `deduct_when` tests before and counts
    after the response: 28 to 30 of 30 parallel guesses got checked against a budget of 5,
    tests/test_ratelimit.py.)"""
    budget = {"scope": LOGIN_SCOPE, "error_message": MESSAGE}
    return [
        limiter.shared_limit(configured("RATELIMIT_LOGIN_IP"), key_func=ip_key, **budget),
        limiter.shared_limit(
            configured("RATELIMIT_LOGIN_EMAIL"), key_func=login_email_ip_key, **budget
        ),
        # Successes spend no budget, yet each one is an argon2 check and a new session: a flood
        # of them stays capped by the every-endpoint limit, here keyed by IP and counting every
        # attempt. (Decorated limits replace the default ones; shared, so that the headers show
        # the failure budget.)
        limiter.shared_limit(
            configured("RATELIMIT_DEFAULT"), scope="login-attempts", key_func=ip_key
        ),
    ]


def give_back_unless_failed(response: Response) -> Response:
    """After a login that did not fail a password check (a success, an invalid request, or one
    refused by the other budget), return the counters it took."""
    if not g.get(FAILED, False):
        for taken in limiter.current_limits:
            if taken.request_args[-1] == LOGIN_SCOPE and not taken.breached:
                give_back([(taken.limit, taken.request_args)])
    return response


Taken = Sequence[tuple[RateLimitItem, Sequence[str]]]


def take(scope: str, email: str) -> Taken:
    """The two budgets, taken by hand before a password check, for a sign-in flask-limiter
    cannot guard: it exempts every static endpoint, and the dashboard's assets check passwords
    too. 429 when one is spent; the caller gives back what this returns unless the check fails.
    Storage errors propagate: the caller decides between open and closed."""
    if not limiter.enabled:
        return []
    config = current_app.config
    budgets = [("RATELIMIT_LOGIN_IP", ip_key()), ("RATELIMIT_LOGIN_EMAIL", email_ip_key(email))]
    taken: list[tuple[RateLimitItem, Sequence[str]]] = []
    for name, key in budgets:
        item, args = parse(config[name]), (config["RATELIMIT_KEY_PREFIX"], key, scope)
        if not limiter.limiter.hit(item, *args):
            give_back(taken)
            refuse(item, args)
        taken.append((item, args))
    return taken


def refuse(item: RateLimitItem, args: Sequence[str]) -> None:
    reset = limiter.limiter.get_window_stats(item, *args).reset_time
    abort(
        429,
        message=f"{MESSAGE}: the limit is {item}; retry after the number of seconds in Retry-After",
        headers={"Retry-After": str(max(1, math.ceil(reset - time.time())))},
    )


def give_back(taken: Taken) -> None:
    """Remove one entry per budget from its moving window. limits can take entries but not
    return them, so this knows the two storages the app uses: Redis (a list of timestamps,
    newest first) and flask-limiter's in-memory fallback. Any entry will do: only their number
    in the window counts, and the newest expires last."""
    if not taken:
        return
    storage = limiter.limiter.storage
    for item, args in taken:
        key = item.key_for(*args)
        try:
            if isinstance(storage, RedisStorage):
                storage.get_connection().lpop(storage.prefixed_key(key))
            elif isinstance(storage, MemoryStorage):
                with storage.locks[key]:
                    if storage.events.get(key):
                        storage.events[key].pop(0)
        except RedisError:
            # The attempt stays counted: a success may spend budget while Redis is failing.
            logger.exception("Could not give back a sign-in attempt to the rate limiter")


def init_sign_in_limits(app: Flask) -> None:
    """Register `give_back_unless_failed`; call after `limiter.init_app`: after-request hooks
    run last-registered first, so the limiter's headers then show what was given back."""
    app.after_request(give_back_unless_failed)
