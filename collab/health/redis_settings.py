"""Redis settings that would lose data the app keeps only in Redis: RQ's queued jobs, and the
activity events waiting there while MongoDB is away (collab/activity/recorder.py).

Read with INFO and CONFIG GET. Managed Redis services often disable CONFIG: then INFO alone
decides, and a setting neither can tell is not warned about.
"""

from __future__ import annotations

import redis

from collab.extensions import redis_client

NOT_PERSISTENT = (
    "Redis does not persist its data: a restart loses queued jobs and pending activity events "
    "(set appendonly yes and appendfsync everysec)"
)
EVICTS = (
    "Redis may evict queued jobs and pending activity events when it reaches maxmemory "
    "(maxmemory-policy is {policy}; set maxmemory-policy noeviction)"
)


def config(pattern: str) -> dict[str, str]:
    """CONFIG GET, or {} where CONFIG is disabled (renamed, or refused by an ACL)."""
    try:
        return redis_client.config_get(pattern)
    except redis.ResponseError:
        return {}


def persistence_warning() -> str | None:
    if redis_client.info("persistence").get("aof_enabled") != 0:
        return None
    # No snapshot schedule either (or none that CONFIG can show): nothing survives a restart.
    return None if config("save").get("save") else NOT_PERSISTENT


def memory_limits() -> tuple[int, str | None]:
    """maxmemory and maxmemory-policy, from CONFIG, else from INFO memory (Redis 4+)."""
    settings = config("maxmemory*")
    if "maxmemory" in settings:
        return int(settings["maxmemory"]), settings.get("maxmemory-policy")
    memory = redis_client.info("memory")
    return int(memory.get("maxmemory", 0)), memory.get("maxmemory_policy")


def eviction_warning() -> str | None:
    maxmemory, policy = memory_limits()
    if maxmemory > 0 and policy and policy != "noeviction":
        return EVICTS.format(policy=policy)
    return None


def warnings() -> list[str]:
    """What the configured Redis would lose, in words an operator can act on."""
    return [message for message in (persistence_warning(), eviction_warning()) if message]
