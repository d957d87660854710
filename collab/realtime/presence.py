"""Who is in each workspace, shared by every instance through Redis, sent as batched diffs.

Redis keys (W: workspace id, U: user id, I: instance id):
- `collab:presence:{W}:user:{U}`  hash sid -> that connection's entry (JSON)
- `collab:presence:{W}`           hash U -> the user's summary {user_id, username,
                                  connections, status, doc_id} (what clients see)
- `collab:rt:instances`           sorted set I -> its last heartbeat (epoch seconds)
- `collab:rt:instance:{I}`        set of "W U sid": the entries instance I owns

One Lua script changes a connection's entry and recomputes its user's summary atomically,
returning the summary before and after: every instance derives exact diffs without reading
the whole workspace. Each instance batches the diffs of its own changes and emits
`presence:diff` {workspace_id, joined, left, updated} to the room every DIFF_INTERVAL_SECONDS
(joined and updated entries are upserts: a user with tabs on two instances may be announced
twice). An instance whose heartbeat stops for INSTANCE_TIMEOUT_SECONDS is swept by another:
its users leave within seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict

import redis
from flask import current_app

from collab.extensions import redis_client, socketio
from collab.realtime import connections, quotas
from collab.realtime.access import room
from collab.realtime.connections import Connection
from collab.realtime.emitter import emitter

log = logging.getLogger(__name__)

INSTANCE_ID = uuid.uuid4().hex  # this process
INSTANCES_KEY = "collab:rt:instances"
INSTANCE_KEY = "collab:rt:instance:{}"
SUMMARY_KEY = "collab:presence:{}"
USER_KEY = "collab:presence:{}:user:{}"
DIFF_INTERVAL_SECONDS = 0.1
HEARTBEAT_SECONDS = 3
INSTANCE_TIMEOUT_SECONDS = 10
TOKEN_SWEEP_SECONDS = 15
STATUSES = ("active", "idle", "away")

# KEYS: user hash, summary hash, instance set. ARGV: sid, entry JSON ("" removes it), user id,
# instance member. Returns {summary before, summary after} ("" for none).
CHANGE_SCRIPT = """
local before = redis.call('HGET', KEYS[2], ARGV[3]) or ''
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[4])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[4])
end
local entries = redis.call('HVALS', KEYS[1])
if #entries == 0 then
  redis.call('HDEL', KEYS[2], ARGV[3])
  return {before, ''}
end
local latest = nil
for _, raw in ipairs(entries) do
  local entry = cjson.decode(raw)
  if latest == nil or entry.at > latest.at then latest = entry end
end
local summary = cjson.encode({user_id = latest.user_id, username = latest.username,
  connections = #entries, status = latest.status, doc_id = latest.doc_id})
redis.call('HSET', KEYS[2], ARGV[3], summary)
return {before, summary}
"""


class Diffs:
    """The presence changes of this process not yet emitted: per workspace, per user, the
    summary before the first change and after the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, dict[str, list]] = defaultdict(dict)

    def add(self, workspace_id: str, user_id: str, before: str, after: str) -> None:
        with self.lock:
            change = self.pending[workspace_id].setdefault(user_id, [before, after])
            change[1] = after

    def take(self) -> dict[str, dict[str, list]]:
        with self.lock:
            pending, self.pending = self.pending, defaultdict(dict)
        return pending


diffs = Diffs()


def entry(connection: Connection, status: str = "active", doc_id: str | None = None) -> str:
    return json.dumps(
        {
            "user_id": str(connection.user_id),
            "username": connection.username,
            "status": status,
            "doc_id": doc_id,
            "at": time.time(),
        }
    )


def change(workspace_id: str, user_id: str, sid: str, value: str, instance: str) -> None:
    """Set (or with value "" remove) one connection's entry and queue the user's diff."""
    before, after = redis_client.eval(
        CHANGE_SCRIPT,
        3,
        USER_KEY.format(workspace_id, user_id),
        SUMMARY_KEY.format(workspace_id),
        INSTANCE_KEY.format(instance),
        sid,
        value,
        user_id,
        f"{workspace_id} {user_id} {sid}",
    )
    if before != after:
        diffs.add(workspace_id, user_id, before, after)


def joined(connection: Connection, workspace_id: str) -> list[dict]:
    """Enter the workspace's presence; everyone now present (for the join's ack)."""
    change(workspace_id, str(connection.user_id), connection.sid, entry(connection), INSTANCE_ID)
    return present(workspace_id)


def updated(connection: Connection, workspace_id: str, status: str, doc_id: str | None) -> None:
    value = entry(connection, status, doc_id)
    change(workspace_id, str(connection.user_id), connection.sid, value, INSTANCE_ID)


def left(connection: Connection, workspace_id: str) -> None:
    change(workspace_id, str(connection.user_id), connection.sid, "", INSTANCE_ID)


def left_all(connection: Connection) -> None:
    for workspace_id in list(connection.workspaces):
        try:
            left(connection, workspace_id)
        except redis.RedisError:  # the sweep removes it once this instance is gone
            log.warning("presence of %s not removed", connection.sid, exc_info=True)
    connection.workspaces.clear()


def present(workspace_id: str) -> list[dict]:
    return [json.loads(raw) for raw in redis_client.hvals(SUMMARY_KEY.format(workspace_id))]


def sids_of(workspace_id: str, user_id) -> list[str]:
    """The sockets (on any instance) through which a user is in a workspace."""
    return list(redis_client.hkeys(USER_KEY.format(workspace_id, user_id)))


def remove_user(workspace_id: str, user_id) -> list[str]:
    """Take a user out of a workspace's presence on every instance; their sockets' ids."""
    sids = sids_of(workspace_id, user_id)
    for sid in sids:
        owner = owner_of(workspace_id, user_id, sid)
        change(workspace_id, str(user_id), sid, "", owner or INSTANCE_ID)
    return sids


def owner_of(workspace_id: str, user_id, sid: str) -> str | None:
    """The instance that holds a socket's entry (its member set names it)."""
    member = f"{workspace_id} {user_id} {sid}"
    for instance in redis_client.zrange(INSTANCES_KEY, 0, -1):
        if redis_client.sismember(INSTANCE_KEY.format(instance), member):
            return instance
    return None


def emit_diffs() -> None:
    for workspace_id, users in diffs.take().items():
        payload = {"workspace_id": workspace_id, "joined": [], "left": [], "updated": []}
        # Every user touched in the batch is announced in their final state, even when it
        # equals the one before: a client that joined meanwhile got a snapshot of the moment
        # (say, someone who joined and left within the batch) that only this corrects.
        for user_id, (before, after) in users.items():
            if not after:
                payload["left"].append(user_id)
            elif not before:
                payload["joined"].append(json.loads(after))
            else:
                payload["updated"].append(json.loads(after))
        if payload["joined"] or payload["left"] or payload["updated"]:
            emitter().emit("presence:diff", payload, to=room(workspace_id))


def heartbeat() -> None:
    redis_client.zadd(INSTANCES_KEY, {INSTANCE_ID: time.time()})
    quotas.renew_leases((c.user_id, c.sid) for c in list(connections.live.values()))


def sweep_dead_instances() -> list[str]:
    """Remove the entries of instances whose heartbeat stopped; the instances swept."""
    cutoff = time.time() - INSTANCE_TIMEOUT_SECONDS
    swept = []
    for instance in redis_client.zrangebyscore(INSTANCES_KEY, "-inf", cutoff):
        if not redis_client.zrem(INSTANCES_KEY, instance):
            continue  # another instance claimed it first
        for member in redis_client.smembers(INSTANCE_KEY.format(instance)):
            workspace_id, user_id, sid = member.split(" ")
            change(workspace_id, user_id, sid, "", instance)
        redis_client.delete(INSTANCE_KEY.format(instance))
        log.warning("instance %s stopped answering: its presence was removed", instance)
        swept.append(instance)
    return swept


_started = threading.Lock()
_running = False


def start_background_tasks() -> None:
    """Start this process's presence loop once (at its first connection)."""
    global _running
    with _started:
        if _running:
            return
        _running = True
    app = current_app._get_current_object()
    socketio.start_background_task(background_loop, app)


def background_loop(app) -> None:
    """Emit batched diffs; heartbeat; sweep dead instances and expired tokens. Forever."""
    last_heartbeat = last_sweep = last_token_sweep = 0.0
    token_sweep = min(TOKEN_SWEEP_SECONDS, app.config["SOCKET_TOKEN_GRACE_SECONDS"])
    with app.app_context():
        while True:
            socketio.sleep(DIFF_INTERVAL_SECONDS)
            now = time.monotonic()
            try:
                emit_diffs()
                if now - last_heartbeat >= HEARTBEAT_SECONDS:
                    heartbeat()
                    last_heartbeat = now
                if now - last_sweep >= HEARTBEAT_SECONDS:
                    sweep_dead_instances()
                    last_sweep = now
                if now - last_token_sweep >= token_sweep:
                    connections.sweep_expired()
                    last_token_sweep = now
            except Exception:  # the loop must survive a Redis outage or a bad entry
                log.exception("presence loop")
