"""Fair shares: what one user may take of the real-time layer, so nobody starves the others.

- Sockets: at most SOCKETS_PER_USER open at once, counted across instances in Redis (a sorted
  set of the user's sockets, each with a lease its instance renews every heartbeat, so the
  sockets of a SIGKILLed instance stop counting within SOCKET_LEASE_SECONDS). A connection
  past the cap is refused with `too_many_connections`.
- Update bytes: each user's `doc:update` payloads share one token bucket across instances,
  SOCKET_UPDATE_BYTES_PER_SECOND on average with bursts up to UPDATE_BURST_SECONDS of it
  (or one largest update, whichever is more): `rate_limited` with `retry_after_ms`.
- Concurrency: at most CONCURRENT_PER_USER of a user's events that need a document replica
  (`doc:update`, `doc:sync`, `workspace:join`) are handled at once per process; the user's
  others wait behind them (not before other users' events).
- Processing time: the CPU time the replica processes spend on a connection's events (and a
  fixed price for each crash it causes, engine.CRASH_COST_MS) is taken from a budget of
  SOCKET_CPU_MS_PER_SECOND per connection and twice that per user in this process; an event
  that arrives while the budget is spent is refused `rate_limited` before any work.

With Redis unreachable, sockets are not capped (a warning is logged) and the byte budget is
kept per process instead: the service stays up.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import redis
from flask import current_app

from collab.documents.content import MAX_UPDATE_BYTES
from collab.extensions import redis_client
from collab.realtime.protocol import RATE_LIMITED, Bucket, EventError, RateLimit

log = logging.getLogger(__name__)

SOCKETS_KEY = "collab:rt:user-sockets:{}"  # sorted set: sid -> end of its lease (epoch s)
SOCKET_LEASE_SECONDS = 30
BYTES_KEY = "collab:rt:user-bytes:{}"  # hash: tokens, at (ms)
UPDATE_BURST_SECONDS = 4
USER_BUDGET_FACTOR = 2  # a user's budget in a process, in connection budgets
# Events of one user handled at once in a process when they need a document replica (a
# budget is charged after the work, so without this, events sent together would all pass);
# more wait their turn, in order, up to WAITING_PER_USER of them for TURN_WAIT_SECONDS.
CONCURRENT_PER_USER = 8
WAITING_PER_USER = 64
TURN_WAIT_SECONDS = 10
BUDGET_BURST_SECONDS = 5
TOO_MANY_CONNECTIONS = "too_many_connections"

# KEYS: the user's socket set. ARGV: now, lease end, cap, sid, key TTL. 1 if it got a slot.
CLAIM_SOCKET = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) == false
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS: the user's bucket. ARGV: rate (bytes/s), burst, cost. {1, 0} if taken, else
# {0, ms until it would be}. Time is Redis's own, so instances' clocks do not matter.
TAKE_BYTES = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local taken = 0
if tokens >= cost then
  tokens = tokens - cost
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
if taken == 1 then return {1, 0} end
return {0, math.ceil((cost - tokens) * 1000 / rate)}
"""


def config(name: str) -> int:
    return current_app.config[name]


# --- Sockets ---------------------------------------------------------------------------------


def claim_socket(user_id: uuid.UUID, sid: str) -> None:
    """Count a new socket of the user; EventError too_many_connections past the cap."""
    cap = config("SOCKETS_PER_USER")
    now = time.time()
    try:
        claimed = redis_client.eval(
            CLAIM_SOCKET,
            1,
            SOCKETS_KEY.format(user_id),
            now,
            now + SOCKET_LEASE_SECONDS,
            cap,
            sid,
            SOCKET_LEASE_SECONDS * 2,
        )
    except redis.RedisError:
        log.warning("sockets of user %s not counted: Redis is unreachable", user_id)
        return
    if not claimed:
        raise EventError(
            TOO_MANY_CONNECTIONS, f"At most {cap} connections per user; close one first"
        )


def release_socket(user_id: uuid.UUID, sid: str) -> None:
    try:
        redis_client.zrem(SOCKETS_KEY.format(user_id), sid)
    except redis.RedisError:  # its lease runs out by itself
        log.warning("socket %s of user %s not uncounted", sid, user_id)


def renew_leases(sockets: Iterable[tuple[uuid.UUID, str]]) -> None:
    """Extend the leases of this instance's sockets (every presence heartbeat)."""
    lease_end = time.time() + SOCKET_LEASE_SECONDS
    pipeline = redis_client.pipeline(transaction=False)
    for user_id, sid in sockets:
        pipeline.zadd(SOCKETS_KEY.format(user_id), {sid: lease_end}, xx=True)
        pipeline.expire(SOCKETS_KEY.format(user_id), SOCKET_LEASE_SECONDS * 2)
    pipeline.execute()


# --- Update bytes ----------------------------------------------------------------------------


class LocalBytes:
    """The byte buckets of this process, for when Redis is unreachable."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[uuid.UUID, Bucket] = {}

    def take(self, user_id: uuid.UUID, cost: int, rate: float, burst: float) -> int:
        with self.lock:
            if len(self.buckets) > 10_000:
                self.buckets.clear()
            bucket = self.buckets.setdefault(user_id, Bucket(tokens=burst))
            return bucket.spend(cost, RateLimit(rate=rate, burst=burst), allow_debt=False)


local_bytes = LocalBytes()


def take_update_bytes(user_id: uuid.UUID, size: int) -> None:
    """Spend `size` bytes of the user's update budget; EventError rate_limited if short."""
    rate = config("SOCKET_UPDATE_BYTES_PER_SECOND")
    burst = max(rate * UPDATE_BURST_SECONDS, MAX_UPDATE_BYTES)
    try:
        taken, wait_ms = redis_client.eval(
            TAKE_BYTES, 1, BYTES_KEY.format(user_id), rate, burst, size
        )
    except redis.RedisError:
        wait_ms = local_bytes.take(user_id, size, rate, burst)
        taken = wait_ms == 0
    if not taken:
        raise EventError(
            RATE_LIMITED,
            f"Too many update bytes: {rate} per second on average; slow down",
            {"retry_after_ms": int(wait_ms)},
        )


# --- Processing time -------------------------------------------------------------------------


@dataclass
class Lane:
    """One user's replica-bound events in this process."""

    turns: threading.Semaphore
    waiting: int = 0
    users: int = 0  # events holding or waiting for a turn (the lane goes when none)


class Budgets:
    """Replica milliseconds per connection and per user, in this process, and how many of a
    user's replica-bound events are being handled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[uuid.UUID, Bucket] = {}
        self.lanes: dict[uuid.UUID, Lane] = {}

    @contextlib.contextmanager
    def turn(self, connection) -> Iterator[None]:
        """Handle one replica-bound event of the user once fewer than CONCURRENT_PER_USER of
        theirs are being handled: their own events queue behind each other, not before
        everyone else's. rate_limited if too many wait, or for too long."""
        lane = self.lane(connection.user_id)
        try:
            self.wait_for_turn(lane)
            try:
                yield
            finally:
                lane.turns.release()
        finally:
            self.forget_idle(connection.user_id, lane)

    def wait_for_turn(self, lane: Lane) -> None:
        with self.lock:
            if lane.waiting >= WAITING_PER_USER:
                raise EventError(RATE_LIMITED, "Too many of your events are waiting; slow down")
            lane.waiting += 1
        try:
            got_turn = lane.turns.acquire(timeout=TURN_WAIT_SECONDS)
        finally:
            with self.lock:
                lane.waiting -= 1
        if not got_turn:
            raise EventError(RATE_LIMITED, "Your earlier events are still being handled")

    def lane(self, user_id: uuid.UUID) -> Lane:
        with self.lock:
            if user_id not in self.lanes:
                self.lanes[user_id] = Lane(threading.Semaphore(CONCURRENT_PER_USER))
            lane = self.lanes[user_id]
            lane.users += 1
            return lane

    def forget_idle(self, user_id: uuid.UUID, lane: Lane) -> None:
        with self.lock:
            lane.users -= 1
            if not lane.users:
                del self.lanes[user_id]

    def limits(self) -> tuple[RateLimit, RateLimit]:
        rate = config("SOCKET_CPU_MS_PER_SECOND")
        per_connection = RateLimit(rate=rate, burst=rate * BUDGET_BURST_SECONDS)
        per_user = RateLimit(
            rate=rate * USER_BUDGET_FACTOR, burst=rate * USER_BUDGET_FACTOR * BUDGET_BURST_SECONDS
        )
        return per_connection, per_user

    def user_bucket(self, user_id: uuid.UUID, limit: RateLimit) -> Bucket:
        if len(self.users) > 10_000:
            self.users.clear()
        return self.users.setdefault(user_id, Bucket(tokens=limit.burst))

    def require(self, connection) -> None:
        """Refuse the event if the connection or its user has spent their budget."""
        per_connection, per_user = self.limits()
        with self.lock:
            mine = connection.processing.refill(per_connection)
            users = self.user_bucket(connection.user_id, per_user).refill(per_user)
        if min(mine, users) <= 0:
            wait_ms = -min(mine, users) * 1000 / per_connection.rate + 100
            raise EventError(
                RATE_LIMITED,
                "This connection used its share of processing time; slow down",
                {"retry_after_ms": int(wait_ms)},
            )

    def charge(self, connection, milliseconds: float) -> None:
        if milliseconds <= 0:
            return
        per_connection, per_user = self.limits()
        with self.lock:
            connection.processing.spend(milliseconds, per_connection)
            self.user_bucket(connection.user_id, per_user).spend(milliseconds, per_user)


budgets = Budgets()
