"""Hostile users over Socket.IO against real web instances (issue 9, findings 1 to 3): a crafted
update or state vector costs its sender an error ack and nothing else, and one user's flood
(sockets, bytes, processing time, document size) leaves the others working.

The instances run with small quotas so that each limit is reached in a moment; the defaults
and the variables are in the README's security section.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio

from tests.helpers_projects import make_team
from tests.realtime_support import Client, Replica, WebInstance, connected, create_document
from tests.test_documents_hostile import (
    BASE,
    HUGE_STATE_VECTOR,
    PANICS_ON_BASE,
    SEGFAULT_EDIT,
    SEGFAULT_FIRST,
    SEGFAULT_SECOND,
    stored_by_an_older_server,
    text_after,
)

SOCKETS_PER_USER = 3
BYTES_PER_SECOND = 64 * 1024  # the burst is then the floor, one largest update (1 MiB)
DOCUMENT_MAX_BYTES = 300_000


@pytest.fixture(scope="module")
def limited(app, base_env):
    """Two web instances with small quotas (each test's team is new, so are its budgets)."""
    env = {
        **base_env,
        "RATELIMIT_ENABLED": "false",
        "SOCKETS_PER_USER": str(SOCKETS_PER_USER),
        "SOCKET_UPDATE_BYTES_PER_SECOND": str(BYTES_PER_SECOND),
        "SOCKET_CPU_MS_PER_SECOND": "100",
        "DOCUMENT_MAX_BYTES": str(DOCUMENT_MAX_BYTES),
    }
    started = [WebInstance(env), WebInstance(env)]
    yield started
    for instance in started:
        instance.stop()


@pytest.fixture()
def team(client, make_user):
    return make_team(client, make_user, is_public=False)


def join(socket: Client, team) -> dict:
    return socket.ok("workspace:join", {"workspace_id": team.wid})


def edit(socket: Client, team, doc_id: str, update: bytes) -> dict:
    return socket.call("doc:update", {"workspace_id": team.wid, "doc_id": doc_id, "update": update})


def refused_connection(url: str, token: str) -> dict:
    errors: list = []
    attempt = socketio.Client(reconnection=False)
    attempt.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        attempt.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return errors[0]


def health_is_quick(instance: WebInstance) -> None:
    response = requests.get(f"{instance.url}/health", timeout=2)
    assert response.status_code == 200


# --- Crafted bytes ----------------------------------------------------------------------------


def test_an_update_that_segfaults_yrs_costs_its_sender_an_error_ack_only(
    limited, app, client, team
):
    """Finding 1: the ack path (`call`) with the crafted update killed the worker process.
    SEGFAULT_EDIT crashes Yrs on a history an older server stored (SEGFAULT_FIRST)."""
    web = limited[0]
    workers = web.worker_pids()
    doc_id = create_document(client, team)
    stored_by_an_older_server(app, doc_id, BASE, SEGFAULT_FIRST)
    with (
        connected(web.url, team.owner.access_token) as attacker,
        connected(web.url, team.collaborator.access_token) as victim,
    ):
        join(attacker, team)
        join(victim, team)
        # The crash spends the attacker's budget; the other two are refused on the spot.
        for crafted in (PANICS_ON_BASE, SEGFAULT_SECOND, SEGFAULT_EDIT):
            ack = edit(attacker, team, doc_id, crafted)
            assert ack["ok"] is False and ack["error"]["code"] == "bad_request", ack
        assert attacker.connected and victim.connected
        replica = Replica()
        replica.apply(victim.ok("doc:sync", sync(team, doc_id, replica))["update"])
        assert str(replica) == text_after(BASE, SEGFAULT_FIRST)
        assert edit(victim, team, doc_id, replica.insert(0, "still here: "))["seq"] == 3
    assert web.worker_pids() == workers
    health_is_quick(web)


def sync(team, doc_id: str, replica: Replica) -> dict:
    return {"workspace_id": team.wid, "doc_id": doc_id, "state_vector": replica.state_vector()}


def test_state_vectors_claiming_millions_of_clients_are_refused_at_once(limited, client, team):
    """Finding 2: each took ~0.7 s of CPU and ~1 GB inside pycrdt; six stalled /health."""
    web = limited[1]
    doc_id = create_document(client, team)
    with connected(web.url, team.owner.access_token) as attacker:
        join(attacker, team)
        payload = {"workspace_id": team.wid, "doc_id": doc_id, "state_vector": HUGE_STATE_VECTOR}
        for _ in range(6):
            ack = attacker.call("doc:sync", payload)
            assert ack["error"]["code"] == "bad_request", ack
        join_ack = attacker.call(
            "workspace:join", {"workspace_id": team.wid, "docs": {doc_id: HUGE_STATE_VECTOR}}
        )
        assert join_ack["error"]["code"] == "bad_request"
        health_is_quick(web)


# --- Fair shares ------------------------------------------------------------------------------


def test_a_user_past_the_socket_cap_is_refused_on_every_instance(limited, team):
    """Finding 3: one user opened 200 sockets, none refused."""
    token = team.owner.access_token
    first = [Client(limited[0].url, token), Client(limited[1].url, token)]
    first.append(Client(limited[0].url, token))
    try:
        for instance in limited:
            error = refused_connection(instance.url, token)
            assert error["data"]["code"] == "too_many_connections", error
        with connected(limited[1].url, team.collaborator.access_token) as other_user:
            assert other_user.connected
        first.pop().close()
        time.sleep(0.2)  # the disconnect is handled after the client returns
        first.append(Client(limited[1].url, token))
        assert all(socket.connected for socket in first)
    finally:
        for socket in first:
            socket.close()


def test_update_bytes_are_budgeted_per_user_across_instances(limited, client, team):
    """Finding 3: 1,000 updates of 20 KB stalled everyone; the document grew to 59 MiB."""
    doc_id = create_document(client, team)
    sent = 0
    with (
        connected(limited[0].url, team.owner.access_token) as one,
        connected(limited[1].url, team.owner.access_token) as two,
        connected(limited[1].url, team.collaborator.access_token) as other_user,
    ):
        for socket in (one, two, other_user):
            join(socket, team)
        flooder, started, refusal = Replica(), time.monotonic(), None
        for n in range(100):
            ack = edit((one, two)[n % 2], team, doc_id, rewrite(flooder, str(n % 10) * 20_000))
            if not ack["ok"]:
                refusal = ack["error"]
                break
            sent += 20_000
        elapsed = time.monotonic() - started
        assert refusal is not None and refusal["code"] == "rate_limited", refusal
        assert refusal["details"]["retry_after_ms"] > 0
        assert sent <= 1024 * 1024 + BYTES_PER_SECOND * elapsed + 20_000
        assert edit(other_user, team, doc_id, Replica().insert(0, "mine"))["ok"] is True


def rewrite(replica: Replica, text: str) -> bytes:
    """One update that replaces the whole text (the document stays small, the update not)."""
    before = replica.doc.get_state()
    with replica.doc.transaction():
        del replica.text[0 : len(replica.text)]
        replica.text.insert(0, text)
    return replica.doc.get_update(before)


def test_processing_time_is_budgeted_per_connection(limited, app, client, team):
    """Crashing a replica costs its sender a second of budget: the next events are refused
    before any work, and another user on the same instance keeps editing. (SEGFAULT_EDIT
    crashes Yrs on the history an older server stored.)"""
    web = limited[0]
    doc_id = create_document(client, team)
    stored_by_an_older_server(app, doc_id, BASE, SEGFAULT_FIRST)
    with (
        connected(web.url, team.owner.access_token) as attacker,
        connected(web.url, team.collaborator.access_token) as other_user,
    ):
        join(attacker, team)
        join(other_user, team)
        assert edit(attacker, team, doc_id, SEGFAULT_EDIT)["error"]["code"] == "bad_request"
        refused = edit(attacker, team, doc_id, SEGFAULT_EDIT)["error"]
        assert refused["code"] == "rate_limited", refused
        assert refused["details"]["retry_after_ms"] > 1000
        assert attacker.call("doc:sync", sync(team, doc_id, Replica()))["error"]["code"] == (
            "rate_limited"
        )
        assert other_user.ok("doc:sync", sync(team, doc_id, Replica()))["seq"] == 2


def test_a_document_stops_growing_at_its_size_cap(limited, client, team):
    doc_id = create_document(client, team)
    author = Replica()
    with connected(limited[1].url, team.owner.access_token) as socket:
        join(socket, team)
        assert edit(socket, team, doc_id, author.insert(0, "a" * 250_000))["ok"] is True
        ack = edit(socket, team, doc_id, author.insert(0, "b" * 60_000))
        assert ack["error"]["code"] == "too_large", ack
        fresh = Replica()
        fresh.apply(socket.ok("doc:sync", sync(team, doc_id, fresh))["update"])
        assert str(fresh) == "a" * 250_000


def test_a_flood_of_crafted_messages_from_many_sockets_does_not_stall_others(
    limited, app, client, team
):
    """Every socket the cap allows sends garbage as fast as it is answered; another user's
    edits keep being acknowledged, and /health keeps answering."""
    web = limited[1]
    doc_id = create_document(client, team)
    stored_by_an_older_server(app, doc_id, BASE, SEGFAULT_FIRST)  # where SEGFAULT_EDIT crashes
    garbage = [SEGFAULT_EDIT, HUGE_STATE_VECTOR, b"\xff" * 5000, PANICS_ON_BASE]
    with connected(web.url, team.collaborator.access_token) as victim:
        join(victim, team)
        attackers = [Client(web.url, team.owner.access_token) for _ in range(SOCKETS_PER_USER)]
        try:
            for attacker in attackers:
                join(attacker, team)

            def flood(attacker: Client) -> int:
                answered = 0
                for n in range(40):
                    edit(attacker, team, doc_id, garbage[n % len(garbage)])
                    answered += 1
                return answered

            victim_replica = Replica()
            with ThreadPoolExecutor(len(attackers)) as pool:
                floods = [pool.submit(flood, attacker) for attacker in attackers]
                for n in range(10):
                    ack = edit(victim, team, doc_id, victim_replica.insert(0, str(n)))
                    assert ack["ok"], ack
                    health_is_quick(web)
                assert sum(f.result() for f in floods) == 40 * len(attackers)
        finally:
            for attacker in attackers:
                attacker.close()
