"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from collab.extensions import db, limiter, mongo, redis_client
from collab.health import redis_settings

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__)


@blp.get("/health")
@limiter.exempt
def health() -> ResponseReturnValue:
    """Liveness: the process answers."""
    return jsonify(status="ok")


def check_database() -> None:
    db.session.execute(text("SELECT 1"))


def check_redis() -> None:
    redis_client.ping()


def check_mongodb() -> None:
    mongo.client.admin.command("ping")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "redis": check_redis,
    "mongodb": check_mongodb,
}


def run_check(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as error:  # noqa: BLE001 - any failure means "not ready", with its reason
        return f"error: {type(error).__name__}"
    return "ok"


# Settings of a dependency that answers but would lose data: reported, never "not ready".
WARNINGS: dict[str, Callable[[], list[str]]] = {"redis": redis_settings.warnings}


def collect_warnings(results: dict[str, str]) -> list[dict[str, str]]:
    """The warnings of each dependency that passed its check (a failed one is the error)."""
    found = []
    for name, collect in WARNINGS.items():
        if results[name] != "ok":
            continue
        try:
            found += [{"check": name, "message": message} for message in collect()]
        except Exception:  # advice only: it must never fail the probe
            log.debug("could not inspect the %s settings", name, exc_info=True)
    return found


@blp.get("/ready")
@limiter.exempt
def ready() -> ResponseReturnValue:
    """Readiness: each dependency answers within its short timeout."""
    results = {name: run_check(check) for name, check in CHECKS.items()}
    healthy = all(result == "ok" for result in results.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": results,
        "warnings": collect_warnings(results),
    }
    return jsonify(body), 200 if healthy else 503
