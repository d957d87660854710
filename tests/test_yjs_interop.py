"""A real Yjs client (JavaScript, as in the product's browsers) against two real web instances,
side by side with pycrdt clients: updates, state vectors and catch-up interoperate both ways.

The Yjs client is tests/js/yjs_client.mjs run by node (its header describes the JSON spec it
reads on stdin and the lines it prints). Its dependencies are pinned in tests/js/package-lock.json
and installed with `npm ci` by the `yjs_installed` fixture when tests/js/node_modules is missing
or does not match the lockfile.

Indexes differ by design: Yjs counts UTF-16 code units, pycrdt (yrs) UTF-8 bytes.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from pycrdt import Doc

from collab.documents import content as documents
from tests.helpers_node import install_locked
from tests.realtime_support import Replica, connected, content_of, create_document

JS_DIR = Path(__file__).parent / "js"
CLIENT = JS_DIR / "yjs_client.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the Yjs interop tests run a JavaScript Yjs client"
)


# --- The JavaScript client ---------------------------------------------------------------


@pytest.fixture(scope="module")
def yjs_installed() -> None:
    """tests/js/node_modules as locked."""
    install_locked(JS_DIR)


class YjsClient:
    """One run of tests/js/yjs_client.mjs: it connects, joins, edits, waits, then reports."""

    def __init__(self, url: str, account, team, doc_id: str, **spec) -> None:
        spec = {
            "url": url,
            "token": account.access_token,
            "workspace_id": team.wid,
            "doc_id": doc_id,
            "timeout_ms": 20000,
            **spec,
        }
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by kill()
        self.process = subprocess.Popen(
            [NODE, str(CLIENT)],
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
        )
        self.process.stdin.write(json.dumps(spec))
        self.process.stdin.close()

    def line(self, event: str) -> dict:
        """The next line it prints, which must be `event` (it exits by itself on timeout)."""
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(30)
            self.stderr.seek(0)
            message = self.stderr.read().decode("utf-8", "replace")
            pytest.fail(f"the Yjs client exited {self.process.returncode}: {message}")
        data = json.loads(line)
        assert data["event"] == event, data
        return data

    def joined(self) -> dict:
        return self.line("joined")

    def result(self) -> dict:
        result = self.line("result")
        assert self.process.wait(30) == 0
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()
        self.stderr.close()


@pytest.fixture()
def yjs(yjs_installed):
    """Start Yjs clients: `yjs(url, account, team, doc_id, **spec)`; all gone at teardown."""
    started: list[YjsClient] = []

    def start(*args, **spec) -> YjsClient:
        started.append(YjsClient(*args, **spec))
        return started[-1]

    yield start
    for client in started:
        client.kill()


def run_yjs(yjs, *args, **spec) -> dict:
    """A Yjs client run to its end: its result."""
    client = yjs(*args, **spec)
    client.joined()
    return client.result()


# --- Servers, documents, CRDT helpers ------------------------------------------------------


def server_state_vector(app, doc_id: str) -> dict[int, int]:
    with app.app_context():
        replica = Doc()
        replica.apply_update(documents.state_of(doc_id))
        return decode_state_vector(replica.get_state())


def decode_state_vector(data: bytes) -> dict[int, int]:
    """A Yjs V1 state vector, {client id: clock}: Yjs and yrs may order its entries apart."""
    numbers, position = [], 0
    while position < len(data):
        number, shift = 0, 0
        while True:
            byte = data[position]
            position += 1
            number |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        numbers.append(number)
    count, pairs = numbers[0], numbers[1:]
    assert len(pairs) == 2 * count, data
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def join(socket, team, doc_id: str, replica: Replica) -> dict:
    ack = socket.ok(
        "workspace:join", {"workspace_id": team.wid, "docs": {doc_id: replica.state_vector()}}
    )
    replica.apply(ack["docs"][doc_id])
    return ack


def edit(socket, team, doc_id: str, update: bytes) -> int:
    payload = {"workspace_id": team.wid, "doc_id": doc_id, "update": update}
    return socket.ok("doc:update", payload)["seq"]


def updates_from(socket, user_id: str, count: int) -> list[dict]:
    """The first `count` doc:update broadcasts from `user_id`, in seq order (waits for them)."""

    def mine() -> list[dict]:
        return [m for m in socket.received["doc:update"] if m["user_id"] == user_id]

    socket.wait_for("doc:update", lambda _: len(mine()) >= count)
    assert len(mine()) == count, mine()
    return sorted(mine(), key=lambda message: message["seq"])


def sent_updates(result: dict) -> list[tuple[int, bytes]]:
    """(seq, update) of each doc:update the Yjs client sent; every one acknowledged."""
    for ack in result["acks"]:
        assert ack["ok"] is True, ack
    return [(ack["seq"], b64(ack["update"])) for ack in result["acks"]]


# --- The tests ------------------------------------------------------------------------------


def test_yjs_and_pycrdt_edit_concurrently_on_two_instances_and_converge(
    app, instances, client, team, yjs
):
    doc_id = create_document(client, team)
    with connected(instances[1].url, team.owner.access_token) as python:
        mine = Replica()
        join(python, team, doc_id, mine)
        seed = mine.insert(0, "Hello world")
        assert edit(python, team, doc_id, seed) == 1
        # Python's edits, made before it sees any of the Yjs client's: concurrent with them.
        local = [mine.insert(0, "Py> ")]
        local.append(mine.delete(9, 1))  # the space of "Hello world"
        local.append(mine.insert(len(mine.text), " (ü)"))  # pycrdt indexes are UTF-8 bytes
        assert str(mine) == "Py> Helloworld (ü)"

        js = yjs(
            instances[0].url,
            team.collaborator,
            team,
            doc_id,
            edits=[
                {"insert": "JS> ", "at": 0},
                {"insert": ",", "at": 9},
                {"delete": 5, "at": 11},  # "world"
                {"insert": "Yjs 🎉", "at": "end"},
            ],
            until_seq=8,
            until_received=3,  # Python's edits as broadcasts, even if a doc:sync came first
        )
        # Joined and edited before any of Python's edits were sent: concurrent with them.
        joined = js.joined()
        assert (joined["seq"], joined["text"]) == (1, "JS> Hello, Yjs 🎉")
        python_seqs = [edit(python, team, doc_id, update) for update in local]
        result = js.result()

        js_sent = sent_updates(result)
        assert len(js_sent) == 4
        assert sorted([seq for seq, _ in js_sent] + python_seqs) == list(range(2, 9))
        # Yjs -> server -> pycrdt: the broadcasts carry the Yjs client's bytes unchanged.
        broadcasts = updates_from(python, team.collaborator.id, 4)
        assert [(m["seq"], m["update"]) for m in broadcasts] == js_sent
        for message in broadcasts:
            mine.apply(message["update"])
    # pycrdt -> server -> Yjs: received as ArrayBuffer, as in a browser, bytes unchanged.
    assert result["binary_types"] == ["ArrayBuffer"]
    received = {r["seq"]: b64(r["update"]) for r in result["received"]}
    assert received == dict(zip(python_seqs, local, strict=True))
    assert result["seq"] == 8

    text = content_of(client, team, doc_id)
    assert result["text"].encode() == str(mine).encode() == text.encode()
    # Concurrent inserts at one place are ordered by client id, the same way in Yjs and yrs.
    assert text in ("JS> Py> Hello,Yjs 🎉 (ü)", "Py> JS> Hello, (ü)Yjs 🎉")
    js_vector = decode_state_vector(b64(result["state_vector"]))
    assert js_vector == decode_state_vector(mine.state_vector()) == server_state_vector(app, doc_id)
    assert len(js_vector) == 2  # the pycrdt and the Yjs client (53- and 32-bit ids)
    # The Yjs client's updates alone, read by pycrdt, give what the Yjs client had.
    alone = Replica()
    alone.apply(seed)
    for _, update in js_sent:
        alone.apply(update)
    assert str(alone) == joined["text"]


def test_a_late_yjs_client_with_an_empty_state_vector_gets_the_whole_document(
    app, instances, client, team, yjs
):
    doc_id = create_document(client, team)
    with connected(instances[1].url, team.owner.access_token) as python:
        mine = Replica()
        join(python, team, doc_id, mine)
        edit(python, team, doc_id, mine.insert(0, "The quick brown fox"))
        edit(python, team, doc_id, mine.delete(4, 6))  # "quick "
        first = run_yjs(
            yjs,
            instances[0].url,
            team.collaborator,
            team,
            doc_id,
            edits=[{"insert": " jumps 🦊", "at": "end"}, {"delete": 6, "at": 4}],  # "brown "
        )
        assert first["text"] == "The fox jumps 🦊"
        assert [seq for seq, _ in sent_updates(first)] == [3, 4]
        edit(python, team, doc_id, mine.insert(0, "» "))
    text = content_of(client, team, doc_id)
    assert text == "» The fox jumps 🦊"

    late = run_yjs(yjs, instances[1].url, team.viewer, team, doc_id)
    assert late["join"]["role"] == "viewer" and late["join"]["can_edit"] is False
    assert late["join"]["seqs"] == {doc_id: 5} and late["seq"] == 5
    assert late["text"] == text
    assert decode_state_vector(b64(late["state_vector"])) == server_state_vector(app, doc_id)
    # Its whole state, from Yjs, reads the same in pycrdt.
    copy = Replica()
    copy.apply(b64(late["state"]))
    assert str(copy) == text
    assert late["acks"] == [] and late["received"] == []


def test_yjs_offline_edits_merge_with_pycrdt_edits_made_meanwhile(
    app, instances, client, team, yjs
):
    doc_id = create_document(client, team)
    before = run_yjs(
        yjs,
        instances[0].url,
        team.collaborator,
        team,
        doc_id,
        edits=[{"insert": "Plan: write tests.", "at": 0}],
    )
    assert [seq for seq, _ in sent_updates(before)] == [1]
    with connected(instances[1].url, team.owner.access_token) as python:
        mine = Replica()
        join(python, team, doc_id, mine)
        edit(python, team, doc_id, mine.insert(0, "Agenda. "))
        edit(python, team, doc_id, mine.insert(len(mine.text), " Ship it."))
        assert str(mine) == "Agenda. Plan: write tests. Ship it."

        # The Yjs client comes back with the state it kept and edits made while offline.
        back = yjs(
            instances[1].url,
            team.collaborator,
            team,
            doc_id,
            state=before["state"],
            offline=[{"delete": 6, "at": 6}, {"insert": " Offline ✓", "at": "end"}],
            until_seq=4,
        )
        joined = back.joined()
        assert joined["seq"] == 3  # the join brought it what happened meanwhile
        result = back.result()
        [(seq, update)] = sent_updates(result)  # its offline edits, as one update
        assert seq == 4
        assert b"Plan" not in update  # only what the server lacked, not the whole state
        [message] = updates_from(python, team.collaborator.id, 1)
        assert message["update"] == update
        mine.apply(update)

    text = content_of(client, team, doc_id)
    assert result["text"] == joined["text"] == str(mine) == text
    assert text in (
        "Agenda. Plan: tests. Offline ✓ Ship it.",
        "Agenda. Plan: tests. Ship it. Offline ✓",
    )
    assert decode_state_vector(b64(result["state_vector"])) == server_state_vector(app, doc_id)


def test_a_yjs_client_that_misses_a_broadcast_catches_up_with_doc_sync(
    app, instances, client, team, yjs
):
    doc_id = create_document(client, team)
    js = yjs(instances[0].url, team.viewer, team, doc_id, drop_seqs=[2], until_seq=3)
    assert js.joined()["seq"] == 0
    with connected(instances[1].url, team.owner.access_token) as python:
        mine = Replica()
        join(python, team, doc_id, mine)
        for word in ("one ", "two ", "three"):
            edit(python, team, doc_id, mine.insert(len(mine.text), word))
        result = js.result()

    assert result["dropped"] == [2]
    assert [r["seq"] for r in result["received"]] == [1, 3]
    # Seq 3 showed the gap: doc:sync with the Yjs state vector brought exactly the rest.
    [sync] = result["syncs"]
    assert (sync["from_seq"], sync["seq"]) == (1, 3)
    assert result["text"] == content_of(client, team, doc_id) == "one two three"
    assert decode_state_vector(b64(result["state_vector"])) == server_state_vector(app, doc_id)
