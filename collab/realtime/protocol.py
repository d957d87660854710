"""The event protocol every client-to-server event follows.

Each event is acknowledged: `{"ok": true, ...}` or `{"ok": false, "error": {code, message}}`
with codes such as unauthorized, token_expired, forbidden, not_found, bad_request, too_large,
rate_limited, not_running and internal. A handler never lets an exception escape: a bad
payload of any kind gets an error ack and the connection stays open.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import request
from marshmallow import Schema, ValidationError, fields

from collab.database import is_outage
from collab.documents.engine import metered
from collab.extensions import AUTOCOMMIT, db, socketio

log = logging.getLogger(__name__)

UNAUTHORIZED = "unauthorized"
TOKEN_EXPIRED = "token_expired"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
BAD_REQUEST = "bad_request"
TOO_LARGE = "too_large"
RATE_LIMITED = "rate_limited"
NOT_RUNNING = "not_running"  # job:stdin for a job not started yet or already ended
UNAVAILABLE = "unavailable"
INTERNAL = "internal"


class EventError(Exception):
    """Refuse an event: the client gets {ok: false, error: {code, message}}."""

    def __init__(self, code: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def ack(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"ok": False, "error": error}


class Bytes(fields.Field):
    """A Socket.IO binary attachment (bytes); anything else is refused."""

    def _deserialize(self, value, attr, data, **kwargs) -> bytes:
        if not isinstance(value, bytes | bytearray):
            raise ValidationError("Must be binary (bytes).")
        return bytes(value)


class EventSchema(Schema):
    """Payloads are objects whose unknown keys are refused, like the REST API's bodies."""


def load(schema: Schema | None, payload: object) -> dict:
    if schema is None:
        return {}
    if not isinstance(payload, dict):
        raise EventError(BAD_REQUEST, "The payload must be an object")
    try:
        return schema.load(payload)
    except ValidationError as error:
        raise EventError(BAD_REQUEST, "Invalid payload", {"fields": error.messages}) from None


@dataclass
class RateLimit:
    """A token bucket: `rate` events per second on average, bursts up to `burst`."""

    rate: float
    burst: float


@dataclass
class Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)

    def refill(self, limit: RateLimit) -> float:
        """The tokens now (what accrued since the last call added, up to the burst)."""
        now = time.monotonic()
        self.tokens = min(limit.burst, self.tokens + (now - self.updated) * limit.rate)
        self.updated = now
        return self.tokens

    def take(self, limit: RateLimit) -> bool:
        """One event's token, if there is one."""
        if self.refill(limit) < 1:
            return False
        self.tokens -= 1
        return True

    def spend(self, amount: float, limit: RateLimit, allow_debt: bool = True) -> int:
        """Take `amount`: 0 once taken, else the ms until it could be (nothing taken). With
        `allow_debt` it is always taken, and the tokens may go below zero (a cost known only
        after the work, such as processing time, is paid back before the next event)."""
        tokens = self.refill(limit)
        if tokens >= amount or allow_debt:
            self.tokens -= amount
            return 0
        return math.ceil((amount - tokens) * 1000 / limit.rate)


def on_event(
    name: str,
    schema: Schema | None = None,
    limit: RateLimit | None = None,
    allow_expired: bool = False,
    replicas: bool = False,
):
    """Register `handler(connection, data) -> dict | None` for the event `name`, with
    authentication (`allow_expired`: also with an expired token, for its renewal), payload
    validation, a per-connection rate limit, the processing budgets (`replicas`: the event
    uses document replicas, so it also takes one of its user's turns) and the ack protocol."""
    from collab.realtime import connections, quotas  # they import this module

    def decorator(handler: Callable[..., dict | None]) -> Callable:
        @functools.wraps(handler)
        def event(payload: object = None, *_ignored: object) -> dict:
            # Handlers only read through the session (documents are written through their
            # own connections): no BEGIN/ROLLBACK round trips, no transaction left open.
            db.session.info[AUTOCOMMIT] = True
            try:
                connection = connections.current(allow_expired)
                if limit is not None and not connection.allow(name, limit):
                    raise EventError(RATE_LIMITED, f"Too many {name} events; slow down")
                quotas.budgets.require(connection)
                turn = quotas.budgets.turn(connection) if replicas else contextlib.nullcontext()
                with turn, metered() as spent:
                    try:
                        return {"ok": True, **(handler(connection, load(schema, payload)) or {})}
                    finally:
                        quotas.budgets.charge(connection, spent[0])
            except EventError as error:
                return error.ack()
            except Exception as error:
                if is_outage(error):  # as REST's 503: the client sends it again
                    with contextlib.suppress(Exception):
                        db.session.rollback()
                    log.error("%s from %s: the database is unavailable", name, request.sid)
                    return EventError(
                        UNAVAILABLE,
                        "The database is unavailable; try again shortly",
                        {"retry_after_ms": 2000},
                    ).ack()
                log.exception("%s from %s failed", name, request.sid)
                with contextlib.suppress(Exception):  # e.g. the database is gone
                    db.session.rollback()
                return EventError(INTERNAL, "Internal error").ack()

        socketio.on_event(name, event)
        return event

    return decorator
