"""Real-time collaboration on two real web instances sharing one Redis: rooms, presence,
cursors, CRDT documents, access changes. Clients are python-socketio over WebSocket; documents
are pycrdt replicas (Yjs V1 updates)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta

import pytest

from tests.helpers_projects import collaborator_url, make_team, workspace_url
from tests.realtime_support import (
    Client,
    Replica,
    connected,
    content_of,
    create_document,
    start_instances,
)

MIB = 1024 * 1024
NOWHERE = "00000000-0000-0000-0000-000000000000"


def join(client, team, docs=None) -> dict:
    payload = {"workspace_id": team.wid}
    if docs is not None:
        payload["docs"] = docs
    return client.ok("workspace:join", payload)


@contextmanager
def two_joined(instances, team, first, second) -> Iterator[tuple[Client, Client]]:
    """`first` connected to instance 0 and `second` to instance 1, both in the workspace."""
    with (
        connected(instances[0].url, first.access_token) as one,
        connected(instances[1].url, second.access_token) as other,
    ):
        join(one, team)
        join(other, team)
        yield one, other


def edit(client, team, doc_id: str, update: bytes) -> dict:
    return client.call("doc:update", {"workspace_id": team.wid, "doc_id": doc_id, "update": update})


# --- Connecting ---------------------------------------------------------------------------


def test_connect_needs_a_valid_open_session(instances, client, alice):
    import socketio

    for auth, code in ((None, "unauthorized"), ({"token": "garbage"}, "unauthorized")):
        errors = []
        refused = socketio.Client(reconnection=False)
        refused.on("connect_error", errors.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(instances[0].url, auth=auth, transports=["websocket"])
        assert errors[0]["data"]["code"] == code
    assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 200
    errors = []
    revoked = socketio.Client(reconnection=False)
    revoked.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        revoked.connect(
            instances[1].url, auth={"token": alice.access_token}, transports=["websocket"]
        )
    assert errors[0]["data"] == {"code": "unauthorized", "message": "Token has been revoked"}


def test_logout_disconnects_the_sessions_sockets_on_every_instance(instances, client, alice):
    with connected(instances[1].url, alice.access_token) as socket:
        assert client.post("/api/v1/auth/logout", headers=alice.headers).status_code == 200
        deadline = time.monotonic() + 5
        while socket.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not socket.connected


def short_lived_token(app, account, seconds: int) -> str:
    """An access token of the account's session that expires in `seconds`."""
    from flask_jwt_extended import create_access_token, decode_token

    with app.app_context():
        session_id = decode_token(account.access_token)["sid"]
        return create_access_token(
            account.id,
            additional_claims={"sid": session_id},
            expires_delta=timedelta(seconds=seconds),
        )


def test_an_expired_token_is_renewed_with_auth_refresh(app, instances, team):
    with connected(instances[1].url, short_lived_token(app, team.viewer, 2)) as socket:
        join(socket, team)
        time.sleep(2.5)
        expired = socket.call("workspace:join", {"workspace_id": team.wid})
        assert expired["error"]["code"] == "token_expired"
        for bad_token, code in (
            ("garbage", "unauthorized"),
            (team.owner.access_token, "unauthorized"),  # another user's
            (team.viewer.refresh_token, "unauthorized"),  # not an access token
        ):
            assert socket.call("auth:refresh", {"token": bad_token})["error"]["code"] == code
        renewed = socket.ok("auth:refresh", {"token": team.viewer.access_token})
        assert renewed["expires_at"] > time.time() + 60
        assert socket.ok("workspace:join", {"workspace_id": team.wid})["role"] == "viewer"


def test_a_socket_whose_token_expired_unrenewed_is_disconnected(app, base_env, team):
    (instance,) = start_instances(base_env, 1, SOCKET_TOKEN_GRACE_SECONDS="1")
    try:
        with connected(instance.url, short_lived_token(app, team.viewer, 2)) as listener:
            deadline = time.monotonic() + 10
            while listener.connected and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not listener.connected
        with connected(instance.url, team.viewer.access_token) as fresh:
            time.sleep(3)
            assert fresh.connected  # a valid token is left alone
    finally:
        instance.stop()


# --- Joining --------------------------------------------------------------------------------


def test_join_answers_role_presence_and_what_each_document_misses(instances, client, team):
    doc_id = create_document(client, team)
    with connected(instances[0].url, team.collaborator.access_token) as writer:
        join(writer, team)
        local = Replica()
        assert edit(writer, team, doc_id, local.insert(0, "hello"))["ok"]
    with connected(instances[1].url, team.viewer.access_token) as reader:
        fresh = Replica()
        ack = join(reader, team, docs={doc_id: fresh.state_vector()})
        assert (ack["role"], ack["can_edit"]) == ("viewer", False)
        present = [p["user_id"] for p in ack["presence"]]
        # The writer's disconnect is handled after its client returns: it may not be out yet.
        assert team.viewer.id in present and set(present) <= {team.viewer.id, team.collaborator.id}
        fresh.apply(ack["docs"][doc_id])
        assert str(fresh) == "hello" and ack["seqs"][doc_id] == 1


def test_no_update_falls_between_the_join_ack_and_the_broadcasts(instances, client, team):
    """An update committed while a socket joins is in the ack's catch-up or broadcast to it
    (or both): the first broadcast above the ack's seq is always the next one."""
    doc_id = create_document(client, team)
    stop = threading.Event()

    def keep_writing() -> None:
        with connected(instances[1].url, team.owner.access_token) as writer:
            join(writer, team)
            replica = Replica()
            while not stop.is_set():
                edit(writer, team, doc_id, replica.insert(0, "x"))
                time.sleep(0.025)  # within the per-connection update rate

    writer = threading.Thread(target=keep_writing)
    writer.start()
    gaps = []
    try:
        time.sleep(0.5)
        for _ in range(40):
            with connected(instances[0].url, team.collaborator.access_token) as reader:
                seq = join(reader, team, docs={doc_id: b"\x00"})["seqs"][doc_id]
                first = reader.wait_for("doc:update", lambda m, s=seq: m["seq"] > s)
                if first["seq"] != seq + 1:
                    gaps.append((seq, first["seq"]))
    finally:
        stop.set()
        writer.join()
    assert gaps == []


def test_a_join_refused_for_a_garbage_state_vector_leaves_no_trace(instances, client, team):
    doc_id = create_document(client, team)
    with (
        connected(instances[0].url, team.owner.access_token) as owner,
        connected(instances[1].url, team.viewer.access_token) as viewer,
    ):
        join(owner, team)
        garbage = {"workspace_id": team.wid, "docs": {doc_id: b"\xff" * 7}}
        assert viewer.call("workspace:join", garbage)["error"]["code"] == "bad_request"
        edit(owner, team, doc_id, Replica().insert(0, "unseen"))
        present = join(owner, team)["presence"]  # joining again is harmless
        assert [entry["user_id"] for entry in present] == [team.owner.id]
        time.sleep(0.5)
        assert viewer.received["doc:update"] == []
        assert viewer.ok("workspace:join", {"workspace_id": team.wid})["role"] == "viewer"


def test_outsiders_are_not_found_and_public_readers_cannot_edit(instances, client, make_user, team):
    with connected(instances[0].url, team.outsider.access_token) as outsider:
        ack = outsider.call("workspace:join", {"workspace_id": team.wid})
        assert ack == {
            "ok": False,
            "error": {"code": "not_found", "message": "Workspace not found"},
        }
    public = make_team(client, make_user, is_public=True)
    doc_id = create_document(client, public)
    with connected(instances[1].url, public.outsider.access_token) as reader:
        ack = join(reader, public)
        assert (ack["role"], ack["can_edit"]) == (None, False)
        refused = edit(reader, public, doc_id, Replica().insert(0, "x"))
        assert refused["error"]["code"] == "forbidden"
    assert content_of(client, public, doc_id) == ""


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "workspace",
        42,
        [],
        {},
        {"workspace_id": "not-a-uuid"},
        {"workspace_id": None},
        {"workspace_id": "00000000-0000-0000-0000-000000000000", "extra": 1},
        {"workspace_id": "00000000-0000-0000-0000-000000000000", "docs": "x"},
        {"workspace_id": "00000000-0000-0000-0000-000000000000", "docs": {"x": b"\x00"}},
    ],
)
def test_bad_join_payloads_get_an_error_ack_and_the_socket_stays(instances, alice, payload):
    with connected(instances[0].url, alice.access_token) as socket:
        ack = socket.call("workspace:join", payload)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", ack
        assert socket.connected
        missing = socket.call("workspace:join", {"workspace_id": NOWHERE})
        assert missing["error"]["code"] == "not_found"


# --- Documents ------------------------------------------------------------------------------


def test_edits_reach_the_other_instance_and_equal_the_stored_text(instances, client, team):
    doc_id = create_document(client, team)
    with two_joined(instances, team, team.collaborator, team.viewer) as (writer, reader):
        mine, theirs = Replica(), Replica()
        first = edit(writer, team, doc_id, mine.insert(0, "Hello"))
        second = edit(writer, team, doc_id, mine.insert(5, ", world"))
        assert (first, second) == ({"ok": True, "seq": 1}, {"ok": True, "seq": 2})
        for seq in (1, 2):
            message = reader.wait_for("doc:update", lambda m, s=seq: m["seq"] == s)
            assert message["user_id"] == team.collaborator.id and message["doc_id"] == doc_id
            theirs.apply(message["update"])
        assert str(theirs) == str(mine) == content_of(client, team, doc_id) == "Hello, world"
        assert writer.received["doc:update"] == []  # the sender is not echoed


def test_a_viewers_edit_is_refused_and_goes_nowhere(instances, client, team):
    doc_id = create_document(client, team)
    with two_joined(instances, team, team.viewer, team.owner) as (viewer, owner):
        ack = edit(viewer, team, doc_id, Replica().insert(0, "vandalism"))
        assert ack["error"]["code"] == "forbidden"
        edit(owner, team, doc_id, Replica().insert(0, "fine"))  # a marker: events are ordered
        time.sleep(0.5)
        assert owner.received["doc:update"] == []
        assert viewer.wait_for("doc:update")["seq"] == 1
    assert content_of(client, team, doc_id) == "fine"


def update_payload(team, document_id: str, **changes) -> dict:
    return {"workspace_id": team.wid, "doc_id": document_id, "update": b"\x00\x00", **changes}


@pytest.mark.parametrize(
    ("payload_of", "code"),
    [
        (lambda t, d: update_payload(t, d, update=b"\xff\x00garbage"), "bad_request"),
        (lambda t, d: update_payload(t, d, update="text, not bytes"), "bad_request"),
        (lambda t, d: update_payload(t, d, update=None), "bad_request"),
        (lambda t, d: update_payload(t, d, update=b"\x00" * (MIB + 1)), "too_large"),
        (lambda t, d: update_payload(t, d, doc_id=NOWHERE), "not_found"),
        (lambda t, d: update_payload(t, d, doc_id="../../etc"), "bad_request"),
        (lambda t, d: update_payload(t, d, seq=5), "bad_request"),
        (lambda t, d: [t.wid, d], "bad_request"),
    ],
)
def test_bad_updates_get_an_error_ack_and_change_nothing(instances, client, team, payload_of, code):
    doc_id = create_document(client, team)
    with connected(instances[0].url, team.collaborator.access_token) as writer:
        join(writer, team)
        ack = writer.call("doc:update", payload_of(team, doc_id))
        assert ack["ok"] is False and ack["error"]["code"] == code, ack
        assert writer.connected
        assert edit(writer, team, doc_id, Replica().insert(0, "ok"))["seq"] == 1
    assert content_of(client, team, doc_id) == "ok"


def test_edits_wait_out_maintenance_mode_like_rest_writes(app, instances, client, team):
    from collab import flags

    doc_id = create_document(client, team)
    with connected(instances[0].url, team.collaborator.access_token) as writer:
        join(writer, team)
        replica = Replica()
        with app.app_context():
            flags.set_flag(flags.MAINTENANCE_MODE.name, True)
        try:
            refused = edit(writer, team, doc_id, replica.insert(0, "during"))
            assert refused["error"]["code"] == "unavailable"
        finally:
            with app.app_context():
                flags.set_flag(flags.MAINTENANCE_MODE.name, False)
        assert edit(writer, team, doc_id, replica.doc.get_update())["seq"] == 1
    assert content_of(client, team, doc_id) == "during"


def test_an_edit_to_a_deleted_document_is_not_found(instances, client, team):
    doc_id = create_document(client, team)
    url = f"{workspace_url(team.pid, team.wid)}/documents/{doc_id}"
    with connected(instances[0].url, team.collaborator.access_token) as writer:
        join(writer, team)
        replica = Replica()
        assert edit(writer, team, doc_id, replica.insert(0, "before"))["ok"]
        etag = client.get(url, headers=team.owner.headers).headers["ETag"]
        deleted = client.delete(url, headers={**team.owner.headers, "If-Match": etag})
        assert deleted.status_code == 200
        ack = edit(writer, team, doc_id, replica.insert(0, "after"))
        assert ack["error"]["code"] == "not_found"


def test_a_document_of_another_workspace_is_not_found(instances, client, team):
    other = client.post(
        f"/api/v1/projects/{team.pid}/workspaces", json={"name": "Other"},
        headers=team.owner.headers,
    ).get_json()  # fmt: skip
    foreign = client.post(
        f"{workspace_url(team.pid, other['id'])}/documents", json={"name": "x"},
        headers=team.owner.headers,
    ).get_json()["id"]  # fmt: skip
    with connected(instances[0].url, team.collaborator.access_token) as writer:
        join(writer, team)
        ack = edit(writer, team, foreign, Replica().insert(0, "smuggled"))
        assert ack["error"]["code"] == "not_found"


def test_random_concurrent_edits_on_both_instances_converge(instances, client, team):
    doc_id = create_document(client, team)
    writers = [team.owner, team.collaborator]
    rng = random.Random(7)
    rounds = 15
    with ExitStack() as stack:
        replicas = []
        for index in range(4):
            url, account = instances[index % 2].url, writers[index % 2]
            socket = stack.enter_context(connected(url, account.access_token))
            join(socket, team)
            replicas.append((socket, Replica()))
        for _ in range(rounds):
            for socket, replica in replicas:
                position = rng.randint(0, len(str(replica)))
                assert edit(socket, team, doc_id, replica.insert(position, rng.choice("abc")))["ok"]
        total = rounds * len(replicas)
        for socket, replica in replicas:  # each receives every other client's updates
            socket.wait_for(
                "doc:update", lambda _, s=socket: len(s.received["doc:update"]) >= total - rounds
            )
            assert len(socket.received["doc:update"]) == total - rounds
            for message in socket.received["doc:update"]:
                replica.apply(message["update"])
        texts = {str(replica) for _, replica in replicas}
        assert len(texts) == 1 and len(next(iter(texts))) == total
        assert content_of(client, team, doc_id) == str(replicas[0][1])


def test_offline_edits_merge_on_reconnect(instances, client, team):
    doc_id = create_document(client, team)
    offline = Replica()
    with connected(instances[0].url, team.collaborator.access_token) as first:
        ack = join(first, team, docs={doc_id: offline.state_vector()})
        offline.apply(ack["docs"][doc_id])
    offline.insert(0, "written offline. ")  # kept locally while disconnected
    with connected(instances[1].url, team.owner.access_token) as owner:
        join(owner, team)
        online = Replica()
        edit(owner, team, doc_id, online.insert(0, "Meanwhile online."))
    with connected(instances[1].url, team.collaborator.access_token) as back:
        ack = join(back, team, docs={doc_id: offline.state_vector()})
        offline.apply(ack["docs"][doc_id])  # what happened meanwhile
        # and what the server lacks (a whole-state update: applying known parts is a no-op)
        assert edit(back, team, doc_id, offline.doc.get_update())["ok"]
    assert content_of(client, team, doc_id) == str(offline)
    assert "written offline" in str(offline) and "Meanwhile online" in str(offline)


def test_updates_lost_by_redis_pubsub_are_recovered_through_the_seq_gap(
    instances, client, team, raw_redis
):
    doc_id = create_document(client, team)
    with two_joined(instances, team, team.collaborator, team.viewer) as (writer, reader):
        mine, theirs = Replica(), Replica()
        edit(writer, team, doc_id, mine.insert(0, "one "))
        theirs.apply(reader.wait_for("doc:update", lambda m: m["seq"] == 1)["update"])
        raw_redis.client_kill_filter(_type="pubsub")  # every instance's listener drops
        assert edit(writer, team, doc_id, mine.insert(4, "two "))["seq"] == 2  # stored
        time.sleep(3)  # the listeners are back (python-socketio retries after 1 s)
        edit(writer, team, doc_id, mine.insert(8, "three"))
        third = reader.wait_for("doc:update", lambda m: m["seq"] == 3)
        seen = [m["seq"] for m in reader.received["doc:update"]]
        assert seen == [1, 3]  # seq 2 was lost with the pub/sub connection
        theirs.apply(third["update"])
        assert str(theirs) != str(mine)  # the gap shows: the client asks for the rest
        request = {
            "workspace_id": team.wid,
            "doc_id": doc_id,
            "state_vector": theirs.state_vector(),
        }
        theirs.apply(reader.ok("doc:sync", request)["update"])
        assert str(theirs) == str(mine) == content_of(client, team, doc_id) == "one two three"


def test_sync_returns_exactly_what_a_replica_lacks(instances, client, team):
    doc_id = create_document(client, team)
    with connected(instances[0].url, team.collaborator.access_token) as writer:
        join(writer, team)
        source = Replica()
        for word in ("one ", "two ", "three"):
            edit(writer, team, doc_id, source.insert(len(str(source)), word))
        lagging = Replica()
        ack = writer.ok(
            "doc:sync",
            {"workspace_id": team.wid, "doc_id": doc_id, "state_vector": lagging.state_vector()},
        )
        lagging.apply(ack["update"])
        assert str(lagging) == "one two three" and ack["seq"] == 3
        garbage = writer.call(
            "doc:sync", {"workspace_id": team.wid, "doc_id": doc_id, "state_vector": b"\xff" * 9}
        )
        assert garbage["error"]["code"] == "bad_request"


# --- Presence and cursors -------------------------------------------------------------------


def test_presence_diffs_and_cursors_cross_instances(instances, client, team):
    with connected(instances[0].url, team.owner.access_token) as owner:
        join(owner, team)
        with connected(instances[1].url, team.viewer.access_token) as viewer:
            ack = join(viewer, team)
            assert {p["user_id"] for p in ack["presence"]} == {team.owner.id, team.viewer.id}
            arrived = owner.wait_for("presence:diff", lambda d: joined_user(d, team.viewer.id))
            entry = next(j for j in arrived["joined"] if j["user_id"] == team.viewer.id)
            assert entry["username"] == team.viewer.username and entry["connections"] == 1
            doc = "11111111-1111-1111-1111-111111111111"
            viewer.ok(
                "cursor:update",
                {"workspace_id": team.wid, "doc_id": doc, "anchor": 3, "head": 5},
            )
            cursor = owner.wait_for("cursor:update")
            assert (cursor["user_id"], cursor["anchor"], cursor["head"]) == (team.viewer.id, 3, 5)
            viewer.ok("presence:update", {"workspace_id": team.wid, "status": "idle"})
            owner.wait_for(
                "presence:diff",
                lambda d: any(u["status"] == "idle" for u in d["updated"]),
            )
        owner.wait_for("presence:diff", lambda d: team.viewer.id in d["left"])


def presence_seen(client: Client, ack: dict, workspace_id: str) -> set[str]:
    """Who `client` believes is present: its join's snapshot, then every diff it received."""
    present = {entry["user_id"] for entry in ack["presence"]}
    for diff in client.received["presence:diff"]:
        if diff["workspace_id"] == workspace_id:
            present |= {entry["user_id"] for entry in diff["joined"] + diff["updated"]}
            present -= set(diff["left"])
    return present


def test_someone_who_joins_and_leaves_within_one_batch_leaves_no_ghost(instances, team):
    """Five tries, so that one at least falls inside one 0.1 s batch: the observer's join
    snapshot sees the visitor, whose joining and leaving cancelled out in that batch's diff."""
    with connected(instances[0].url, team.owner.access_token) as owner:
        join(owner, team)
        for _ in range(5):
            visitor = Client(instances[0].url, team.viewer.access_token)
            join(visitor, team)
            with connected(instances[0].url, team.collaborator.access_token) as observer:
                ack = join(observer, team)
                visitor.close()
                deadline = time.monotonic() + 3
                while team.viewer.id in presence_seen(observer, ack, team.wid):
                    assert time.monotonic() < deadline, "the visitor stays present for good"
                    time.sleep(0.05)


def test_cursor_updates_are_throttled_per_connection(instances, team):
    with connected(instances[0].url, team.viewer.access_token) as viewer:
        join(viewer, team)
        payload = {"workspace_id": team.wid, "doc_id": team.wid, "anchor": 0, "head": 0}
        acks = [viewer.call("cursor:update", payload) for _ in range(40)]
        refused = [a for a in acks if not a["ok"]]
        assert refused and refused[0]["error"]["code"] == "rate_limited"
        assert sum(a["ok"] for a in acks) >= 20


def test_a_crashed_instance_loses_no_acknowledged_edit_and_its_users_leave(
    app, base_env, client, team
):
    doc_id = create_document(client, team)
    doomed, survivor = start_instances(base_env, 2)
    try:
        with connected(survivor.url, team.owner.access_token) as owner:
            join(owner, team)
            lost = Client(doomed.url, team.collaborator.access_token)
            join(lost, team)
            owner.wait_for("presence:diff", lambda d: joined_user(d, team.collaborator.id))
            assert edit(lost, team, doc_id, Replica().insert(0, "acknowledged"))["ok"]
            doomed.kill()  # SIGKILL right after the ack
            owner.wait_for("presence:diff", lambda d: team.collaborator.id in d["left"], timeout=25)
        assert content_of(client, team, doc_id) == "acknowledged"
    finally:
        doomed.stop()
        survivor.stop()


def joined_user(diff: dict, user_id: str) -> bool:
    return any(entry["user_id"] == user_id for entry in diff["joined"])


# --- Access changes -------------------------------------------------------------------------


def test_a_removed_member_is_cut_off_on_the_other_instance(instances, client, team):
    doc_id = create_document(client, team)
    with two_joined(instances, team, team.owner, team.collaborator) as (owner, removed):
        response = client.delete(
            collaborator_url(team.pid, team.collaborator.id), headers=team.owner.headers
        )
        assert response.status_code == 200
        notice = removed.wait_for("workspace:revoked")
        assert notice == {"workspace_id": team.wid, "reason": "access_removed"}
        owner.wait_for("presence:diff", lambda d: team.collaborator.id in d["left"])
        assert edit(removed, team, doc_id, Replica().insert(0, "x"))["error"]["code"] in (
            "forbidden",
            "not_found",
        )
        edit(owner, team, doc_id, Replica().insert(0, "after"))
        time.sleep(0.5)
        assert removed.received["doc:update"] == []
        assert removed.connected  # still connected: only the workspace is gone
    assert content_of(client, team, doc_id) == "after"


def test_a_demoted_member_is_told_and_can_no_longer_edit(instances, client, team):
    doc_id = create_document(client, team)
    with connected(instances[1].url, team.collaborator.access_token) as member:
        join(member, team)
        response = client.put(
            collaborator_url(team.pid, team.collaborator.id),
            json={"role": "viewer"},
            headers=team.owner.headers,
        )
        assert response.status_code == 200
        notice = member.wait_for("workspace:role_changed")
        assert notice == {"workspace_id": team.wid, "role": "viewer", "can_edit": False}
        assert edit(member, team, doc_id, Replica().insert(0, "x"))["error"]["code"] == "forbidden"


def test_a_deleted_workspace_closes_its_room(instances, client, team):
    with connected(instances[0].url, team.viewer.access_token) as viewer:
        join(viewer, team)
        etag = client.get(workspace_url(team.pid, team.wid), headers=team.owner.headers).headers[
            "ETag"
        ]
        response = client.delete(
            workspace_url(team.pid, team.wid), headers={**team.owner.headers, "If-Match": etag}
        )
        assert response.status_code == 200
        notice = viewer.wait_for("workspace:revoked")
        assert notice == {"workspace_id": team.wid, "reason": "deleted"}


def test_job_events_reach_members_in_the_room_and_never_outsiders(app, instances, client, team):
    from collab.jobs import tasks as job_tasks
    from collab.jobs.store import JobDocument

    with (
        connected(instances[0].url, team.viewer.access_token) as member,
        connected(instances[1].url, team.outsider.access_token) as outsider,
    ):
        join(member, team)
        outsider.call("workspace:join", {"workspace_id": team.wid})  # refused: not_found
        job = JobDocument(
            user_id=team.collaborator.id, language="python", code="", stdin="", limits={},
            workspace_id=team.wid, project_id=team.pid, status="running",
        )  # fmt: skip
        with app.app_context():  # what the worker does, through the same emitter
            job_tasks.broadcast_status(job)
        status = member.wait_for("job:status")
        assert status == {
            "job_id": job.id, "status": "running", "outcome": None, "workspace_id": team.wid,
        }  # fmt: skip
        time.sleep(0.5)
        assert outsider.received["job:status"] == []
