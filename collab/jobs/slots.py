"""The per-user cap on unfinished jobs, as a counter in Redis.

A submission reserves a slot atomically (one Lua call: no lock, no waiting, so simultaneous
submissions can never overshoot the cap); the compare-and-set that moves a job to a finished
state gives it back (collab/jobs/store.py). The counter is a cache of the truth in MongoDB:
when it says the user is at the cap, it is checked against the user's unfinished jobs and
lowered if it drifted (a process that died between reserving and storing): only once no
reservation happened for SETTLE_SECONDS, since a fresh reservation's job may not be stored yet.
If Redis lost it, the user may briefly exceed the cap by the jobs they already had.
"""

from __future__ import annotations

import logging

import redis

from collab.extensions import redis_client

log = logging.getLogger(__name__)

KEY = "collab:jobs:slots:{}"  # hash: used (slots taken), at (time of the last reservation)
TTL_SECONDS = 24 * 3600
# A reservation is followed by its job's insert within milliseconds: a counter above the
# stored jobs is only a leak once no reservation happened for this long.
SETTLE_SECONDS = 10

RESERVE = """
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
if used >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'used', used + 1, 'at', redis.call('TIME')[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
RELEASE = """
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
if used > 0 then redis.call('HSET', KEYS[1], 'used', used - 1) end
return used
"""
# Lower the counter to the stored jobs' count, unless it moved or a reservation is recent.
LOWER = """
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
local now = tonumber(redis.call('TIME')[1])
if used == tonumber(ARGV[1]) and now - at >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'used', ARGV[2])
  return 1
end
return 0
"""


def reserve(user_id: str, limit: int, count_unfinished) -> bool:
    """Take one of the user's `limit` slots; False at the cap. Raises redis.RedisError."""
    if take(user_id, limit):
        return True
    used = int(redis_client.hget(KEY.format(user_id), "used") or 0)
    actual = count_unfinished(user_id)
    if actual >= used:
        return False
    lowered = redis_client.eval(LOWER, 1, KEY.format(user_id), used, actual, SETTLE_SECONDS)
    return bool(lowered) and take(user_id, limit)


def take(user_id: str, limit: int) -> bool:
    return bool(redis_client.eval(RESERVE, 1, KEY.format(user_id), limit, TTL_SECONDS))


def release(user_id: str) -> None:
    """Give a slot back (a job finished). A failure only leaves the counter high, which the
    next reservation at the cap corrects."""
    try:
        redis_client.eval(RELEASE, 1, KEY.format(user_id))
    except redis.RedisError:
        log.warning("job slot of user %s not released", user_id, exc_info=True)
