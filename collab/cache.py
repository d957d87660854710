"""Read-through cache in Redis for the hottest reads (a user's project list, project detail),
invalidated by generations.

Each cached response is stored under a key that embeds the current generation token of every
scope it depends on ("user:<id>", "project:<id>"). A write replaces those tokens after it
commits: later reads miss and rebuild from the database, and entries of older generations are
never read again (they expire after CACHE_TTL_SECONDS). A reader that raced the write can only
have stored its result under the old generation. Tokens are random, so a generation key lost
from Redis can never bring an old entry back. If Redis is unavailable, reads go to the
database and writes still succeed (entries cached before the outage expire on their own).
The lookup script reads the entry's key without declaring it: fine on a single or replicated
Redis, not on Redis Cluster.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable

from flask import current_app
from redis import RedisError

from collab.extensions import redis_client

log = logging.getLogger(__name__)


def scope(kind: str, ident: uuid.UUID | str) -> str:
    return f"{kind}:{ident}"


def generation_key(name: str) -> str:
    return f"collab:gen:{name}"


# One round trip per cached read: the current generation token of each scope (a fresh one
# is started for a scope that has none), then the entry stored under those tokens.
LOOKUP = """
local parts = {ARGV[1]}
for i, key in ipairs(KEYS) do
  local token = redis.call('GET', key)
  if not token then
    token = ARGV[i + 1]
    redis.call('SET', key, token)
  end
  parts[#parts + 1] = token
end
local entry = table.concat(parts, ':')
return {entry, redis.call('GET', entry)}
"""


def lookup(name: str, scopes: list[str]) -> tuple[str, str | None]:
    """The key of the entry for the scopes' current generations, and the entry if stored."""
    extensions = current_app.extensions
    if "collab_cache_lookup" not in extensions:
        extensions["collab_cache_lookup"] = redis_client.register_script(LOOKUP)
    fresh_tokens = [secrets.token_hex(6) for _ in scopes]
    key, cached = extensions["collab_cache_lookup"](
        keys=[generation_key(scope) for scope in scopes],
        args=[f"collab:cache:{name}", *fresh_tokens],
    )
    return key, cached


def read_through(name: str, scopes: list[str], build: Callable[[], dict]) -> dict:
    """The JSON-able value `build()` returns, from Redis when a current copy is there."""
    try:
        key, cached = lookup(name, scopes)
    except RedisError:
        return build()
    if cached is not None:
        return json.loads(cached)
    value = build()
    try:
        redis_client.set(key, json.dumps(value), ex=current_app.config["CACHE_TTL_SECONDS"])
    except RedisError:
        log.warning("cache unavailable; serving from the database")
    return value


def invalidate(scopes: Iterable[str]) -> None:
    """Start new generations; call after the write committed."""
    try:
        with redis_client.pipeline(transaction=False) as pipe:
            for name in set(scopes):
                pipe.set(generation_key(name), secrets.token_hex(6))
            pipe.execute()
    except RedisError:
        log.error("could not invalidate cached reads %s; they expire on their own", scopes)
