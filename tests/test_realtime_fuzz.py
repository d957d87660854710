"""Fuzzing a real web instance over Socket.IO (issue 9): thousands of hostile updates and state
vectors from several sockets against documents with real content. Afterwards the instance is
the same process, another user's socket is still connected and saw every accepted edit, and
every document still loads, over REST and over Socket.IO, to the same text.

Bounded in time (COLLAB_FUZZ_SECONDS, 40 by default); the seed is printed, and
COLLAB_FUZZ_SEED replays a run.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers_projects import make_team
from tests.realtime_support import Client, Replica, WebInstance, connected, content_of
from tests.realtime_support import create_document as new_document
from tests.test_documents_hostile import (
    BASE,
    SEGFAULT_EDIT,
    SEGFAULT_FIRST,
    stored_by_an_older_server,
)
from tests.yjs_fuzz import Fuzzer, real_edits

SOCKETS = 8
EXPECTED_CODES = {"bad_request", "too_large", "rate_limited"}


@pytest.fixture(scope="module")
def instance(app, base_env):
    """Quotas out of the way, so the cases reach the replicas instead of being throttled."""
    env = {
        **base_env,
        "RATELIMIT_ENABLED": "false",
        "SOCKET_CPU_MS_PER_SECOND": "1000000",
        "SOCKET_UPDATE_BYTES_PER_SECOND": str(64 * 1024 * 1024),
    }
    web = WebInstance(env)
    yield web
    web.stop()


def join(socket: Client, team) -> dict:
    return socket.ok("workspace:join", {"workspace_id": team.wid})


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cases = 0
        self.accepted = 0
        self.codes: dict[str, int] = {}

    def add(self, ack: dict) -> None:
        with self.lock:
            self.cases += 1
            if ack.get("ok"):
                self.accepted += 1
            else:
                code = ack["error"]["code"]
                self.codes[code] = self.codes.get(code, 0) + 1


def fuzz(socket: Client, team, doc_ids: list[str], fuzzer: Fuzzer, results, deadline) -> None:
    while time.monotonic() < deadline:
        doc_id = fuzzer.rng.choice(doc_ids)
        if fuzzer.rng.random() < 0.8:
            payload = {"workspace_id": team.wid, "doc_id": doc_id, "update": fuzzer.update()}
            ack = socket.call("doc:update", payload, timeout=30)
        else:
            vector = fuzzer.state_vector()
            payload = {"workspace_id": team.wid, "doc_id": doc_id, "state_vector": vector}
            ack = socket.call("doc:sync", payload, timeout=30)
        results.add(ack)
        if not ack.get("ok") and ack["error"]["code"] == "rate_limited":
            time.sleep(ack["error"].get("details", {}).get("retry_after_ms", 100) / 1000)


def test_thousands_of_hostile_cases_leave_the_instance_and_the_documents_whole(
    instance, app, client, make_user
):
    seed = int(os.environ.get("COLLAB_FUZZ_SEED") or random.randrange(2**32))
    seconds = float(os.environ.get("COLLAB_FUZZ_SECONDS", "40"))
    print(f"fuzz seed {seed}, {seconds} s")
    team = make_team(client, make_user, is_public=False)
    workers = instance.worker_pids()
    real, clients = real_edits(seed, 60)
    doc_ids = [new_document(client, team, name=f"doc{n}.txt") for n in range(3)]

    with connected(instance.url, team.collaborator.access_token) as victim:
        join(victim, team)
        sent = write_real_content(app, victim, team, doc_ids, real)
        attackers = [Client(instance.url, team.owner.access_token) for _ in range(SOCKETS)]
        try:
            for attacker in attackers:
                join(attacker, team)
            refused = attackers[0].call("doc:update", edit(team, doc_ids[0], SEGFAULT_EDIT))
            assert refused["error"]["code"] == "bad_request"
            fuzzers = [Fuzzer(seed + i, clients, real) for i in range(SOCKETS)]
            results = run_fuzzers(attackers, fuzzers, team, doc_ids, seconds)
            still_connected = [attacker.connected for attacker in attackers]
        finally:
            for attacker in attackers:
                attacker.close()

        print(f"fuzz: {results.cases} cases, {results.accepted} accepted, {results.codes}")
        assert results.cases >= 2000
        assert set(results.codes) <= EXPECTED_CODES, results.codes
        assert all(still_connected)
        assert victim.connected
        assert instance.worker_pids() == workers
        for doc_id in doc_ids:
            assert_loads_the_same_everywhere(victim, client, team, doc_id, sent[doc_id], seed)


def write_real_content(app, victim: Client, team, doc_ids: list[str], real: list[bytes]) -> dict:
    """In the first document, BASE and SEGFAULT_FIRST as an older server stored them
    (SEGFAULT_EDIT crashes Yrs on them); then real edits in every document, so that the
    cases' origins hit real items. What each document holds."""
    stored_by_an_older_server(app, doc_ids[0], BASE, SEGFAULT_FIRST)
    sent: dict[str, list[bytes]] = {doc_id: [] for doc_id in doc_ids}
    sent[doc_ids[0]] += [BASE, SEGFAULT_FIRST]
    for doc_id in doc_ids:
        for update in real:
            patiently(victim, "doc:update", edit(team, doc_id, update))
            sent[doc_id].append(update)
    return sent


def run_fuzzers(attackers, fuzzers, team, doc_ids: list[str], seconds: float) -> Results:
    results = Results()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=fuzz, args=(a, team, doc_ids, f, results, deadline))
        for a, f in zip(attackers, fuzzers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    return results


def patiently(socket: Client, event: str, payload: dict) -> dict:
    """Send until acknowledged, waiting out the per-connection event rate."""
    while True:
        ack = socket.call(event, payload)
        if ack.get("ok"):
            return ack
        assert ack["error"]["code"] == "rate_limited", ack
        time.sleep(0.2)


def edit(team, doc_id: str, update: bytes) -> dict:
    return {"workspace_id": team.wid, "doc_id": doc_id, "update": update}


def assert_loads_the_same_everywhere(
    victim: Client, client, team, doc_id: str, sent: list[bytes], seed: int
) -> None:
    """REST, a fresh sync, and the victim's replica (its own edits and every broadcast it
    received: the edits the server accepted) all agree. The replicas are built in a child
    process: pycrdt can crash on hostile bytes, and this process must live to report it.
    Whatever disagrees is saved under tests/artifacts/fuzz/ for a replay."""
    fresh_vector = Replica().state_vector()
    payload = {"workspace_id": team.wid, "doc_id": doc_id, "state_vector": fresh_vector}
    synced = victim.ok("doc:sync", payload)["update"]
    broadcast = [m for m in victim.received["doc:update"] if m["doc_id"] == doc_id]
    received = [m["update"] for m in broadcast]
    rest = content_of(client, team, doc_id)
    texts = replayed({"fresh": [synced], "held": [*sent, *received]})
    if texts != {"fresh": rest, "held": rest}:
        saved = save_case(seed, doc_id, sent, broadcast, synced, rest, texts)
        pytest.fail(f"REST {rest!r} but {texts!r}; the case is in {saved}")


REPLAY = """
import base64, json, sys
from pycrdt import Doc, Text
texts = {}
for name, updates in json.load(sys.stdin).items():
    doc = Doc()
    text = doc.get("content", type=Text)
    for update in updates:
        doc.apply_update(base64.b64decode(update))
    texts[name] = str(text)
print(json.dumps(texts))
"""


def replayed(sequences: dict[str, list[bytes]]) -> dict:
    """The text of a fresh pycrdt document per sequence of updates, each applied in order."""
    encoded = {name: [b64(u) for u in updates] for name, updates in sequences.items()}
    child = subprocess.run(
        [sys.executable, "-c", REPLAY], input=json.dumps(encoded), capture_output=True, text=True
    )
    if child.returncode != 0:
        return {"crashed": child.returncode, "stderr": child.stderr[-2000:]}
    return json.loads(child.stdout)


def save_case(seed, doc_id, sent, broadcast, synced, rest, texts) -> Path:
    folder = Path(__file__).parent / "artifacts" / "fuzz"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"seed-{seed}-{doc_id}.json"
    case = {
        "seed": seed,
        "rest": rest,
        "texts": texts,
        "sent": [b64(u) for u in sent],
        "broadcast": [{"seq": m["seq"], "update": b64(m["update"])} for m in broadcast],
        "synced": b64(synced),
    }
    path.write_text(json.dumps(case, indent=1))
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
