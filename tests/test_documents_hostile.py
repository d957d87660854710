"""Hostile CRDT bytes (issue 9, findings 1 and 2) against the content API, with the real replica
processes, the real database and real pycrdt.

The bytes below were found by fuzzing pycrdt 0.14.13 (Yrs 0.28) with structurally valid Yjs V1
updates: each one passes the format checks of wire.py, so only the replica process stands
between it and the process that handles it. `test_the_crashers_still_crash_pycrdt` proves in a
throwaway process that they really do crash it; if an upgrade fixes Yrs, that test says so and
new crashers must be found (the fuzz test in test_realtime_fuzz.py keeps looking).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from pycrdt import Doc, Text

from collab.activity import recorder
from collab.documents import batching, content, store
from collab.documents.content import DocumentTooLarge, InvalidStateVector, InvalidUpdate
from collab.documents.engine import CRASH_COST_MS, metered
from collab.models import DocumentUpdate, QuarantinedUpdate
from tests.helpers_projects import count_rows, create_project, create_workspace, workspace_url

# Two clients' edits of "hello world", with a bold range and an embed: the stored content.
BASE = bytes.fromhex(
    "02050200c4010201030158c4020001030159c402010103015ac60102020004626f6c640474727565c602010202"
    "04626f6c64046e756c6c060100010107636f6e74656e7402840101016c840102016c840103076f20776f726c64"
    "c40103010403616263c502000201077b2261223a317d0101010002"
)
# Applies cleanly on BASE (it is accepted and stored) ...
SEGFAULT_FIRST = bytes.fromhex(
    "0203070e040107636f6e74656e7403616263040107636f6e74656e7400c50310ffffffffffffff0f01046e756c"
    "6c0203010080804086050804626f6c64046e756c6c00"
)
# ... and this one, applied after both, makes Yrs dereference garbage: SIGSEGV.
SEGFAULT_SECOND = bytes.fromhex(
    "0104030084031004f09f9880450110046e756c6c85010d027b7d85ffffffffffffff0f00027b7d0109011201"
)
# Neither of those two looks like an edit (sections past what the document has, origins it
# lacks), so the server now refuses both before Yrs sees them. This one does look like an edit
# of BASE and FIRST, and segfaults Yrs too: on a document whose history an older server stored
# (FIRST included), it is what reaches a replica and crashes it.
SEGFAULT_EDIT = bytes.fromhex("0102030081030d64050107636f6e74656e740322732200")
# Looks like an edit of BASE and applies alone, but on BASE Yrs panics (BlockSet::exclude
# unwraps a None): a PanicException, which derives from BaseException and gets through
# `except Exception`.
PANICS_ON_BASE = bytes.fromhex("010101038401020000")
# A state vector of 5 bytes claiming 2^28 clients: pycrdt allocated ~500 MB before refusing it.
HUGE_STATE_VECTOR = b"\x80\x80\x80\x80\x01"

# Fuzzed updates (tests/yjs_fuzz.py, seed 5) on top of real_edits(5, 60): each applies, but
# after the last one the document, encoded and loaded again, reads differently from the
# replica that applied them one by one; every client that syncs would see another text.
DIVERGING = [
    bytes.fromhex(part)
    for part in (
        "02010703c4020dc6f8d9fb0903010004ffffffffffffff0f0541280202040107636f6e74656e740178c4ff"
        "ffffffffffff0f02bab0938b0405036162630a0200",
        "0202bab0938b04084417101e616161616161616161616161616161616161616161616161616161616161"
        "45bab0938b04feffffff07013102071085bab0938b040203227322c42700ffffffffffffff0f0802c3a901"
        "01010101",
        "0104bab0938b040881bab0938b04020541010d64040107636f6e74656e7402c3a9812108050118011805",
        "0103ffffffffffffff0f0b85bab0938b040003227322040107636f6e74656e74036162634501080322732201"
        "010210021002",
        "010107feffffff07852605013101020217010602",
        "0102bab0938b040d44c6f8d9fb090202c3a9c62b03ffffffffffffff0f0004626f6c64047472756501c6f8"
        "d9fb09021b0116808040",
        "0103c6f8d9fb0908c402feffffff07020204f09f9880060107636f6e74656e7404626f6c64046e756c6c44"
        "01feffffff071e6161616161616161616161616161616161616161616161616161616161610102020d6407"
        "64",
        "0102ffffffffffffff0f00040107636f6e74656e740100c4c6f8d9fb090701020361626300",
    )
]

# Found by the fuzz test in CI: three updates that each leave the document reading the same
# reloaded, then one shaped like someone typing (one client's next structs, deletions) after
# which it does not. Typed edits must be checked too.
TYPED_DIVERGING = [
    bytes.fromhex(part)
    for part in (
        "02010708c5c6f8d9fb0901c6f8d9fb0902027b7d01ffffffffffffff0f05006401210118808040",
        "0101ffffffffffffff0ffeffffff07040107636f6e74656e7402c3a901bab0938b04011464",
        "0203bab0938b0405050107636f6e74656e74013185ffffffffffffff0f1c0131c60105c6f8d9fb0901"
        "04626f6c64027b7d03ffffffffffffff0f08010107636f6e74656e74808040000285bab0938b0408"
        "013101bab0938b04011464",
        "0103ffffffffffffff0f0000640a05040107636f6e74656e740000",
    )
]

CRASH_PROBE = """
import sys
from pycrdt import Doc
doc = Doc()
for part in sys.argv[1:]:
    doc.apply_update(bytes.fromhex(part))
"""


def run_in_a_throwaway_process(*updates: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH_PROBE), *(u.hex() for u in updates)],
        capture_output=True,
        env={**os.environ, "RUST_BACKTRACE": "0"},
        timeout=60,
    )


def test_the_crashers_still_crash_pycrdt():
    assert run_in_a_throwaway_process(BASE, SEGFAULT_FIRST).returncode == 0
    for crasher in (SEGFAULT_SECOND, SEGFAULT_EDIT):
        assert run_in_a_throwaway_process(BASE, SEGFAULT_FIRST, crasher).returncode == (
            -signal.SIGSEGV
        )
    assert run_in_a_throwaway_process(PANICS_ON_BASE).returncode == 0
    panicked = run_in_a_throwaway_process(BASE, PANICS_ON_BASE)
    assert panicked.returncode == 1 and b"PanicException" in panicked.stderr


@pytest.fixture()
def document(client, alice) -> str:
    project = create_project(client, alice, name="Hostile")
    workspace = create_workspace(client, alice, project["id"], name="Main")
    url = f"{workspace_url(project['id'], workspace['id'])}/documents"
    response = client.post(url, json={"name": "target.py"}, headers=alice.headers)
    assert response.status_code == 201
    return response.get_json()["id"]


def text_after(*updates: bytes) -> str:
    doc = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("content", type=Text))


def crashes(app) -> int:
    with app.app_context():
        engine = content.engine()
        return sum(child.crashes for child in [*engine.children, engine.checker])


def legit_append(app, document_id: str, chars: str) -> bytes:
    """A real client's edit: it syncs the document, then appends to it."""
    with app.app_context():
        state = content.state_of(document_id)
    doc = Doc()
    doc.apply_update(state)
    text = doc.get("content", type=Text)
    before = doc.get_state()
    text += chars
    return doc.get_update(before)


def fresh_client_edit(chars: str) -> bytes:
    """A new client's first edit: no origin that a document could lack. (On a history an
    older server stored, appending can point at structs the server holds pending, which
    today's server refuses as not looking like an edit.)"""
    doc = Doc(client_id=4242)  # one id: the text it makes is known
    doc.get("content", type=Text).insert(0, chars)
    return doc.get_update()


def append(app, document_id: str, update: bytes) -> int:
    with app.app_context():
        return content.append_update(document_id, update)


def read_text(app, document_id: str) -> str:
    with app.app_context():
        return content.text_of(document_id)


def updates_of(app, document_id: str) -> int:
    return count_rows(app, DocumentUpdate, document_id=uuid.UUID(document_id))


def stored_by_an_older_server(app, document_id: str, *updates: bytes) -> None:
    """Updates stored below today's checks, as a server before them let through."""
    with app.app_context():
        for update in updates:
            store.append(uuid.UUID(document_id), update)


def test_updates_that_do_not_look_like_edits_are_refused_before_yrs_sees_them(app, document):
    """A gap after what the document has of a client, or an origin it lacks: such structs
    would wait, pending, and integrate in whatever order each copy got the updates."""
    append(app, document, BASE)
    before = crashes(app)
    for update in (SEGFAULT_FIRST, DIVERGING[0]):
        with app.app_context(), pytest.raises(InvalidUpdate) as refused:
            content.append_update(document, update)
        assert "does not have" in str(refused.value)
    assert crashes(app) == before
    assert updates_of(app, document) == 1
    assert read_text(app, document) == text_after(BASE)


def test_an_update_that_segfaults_yrs_is_refused_and_changes_nothing(app, document):
    stored_by_an_older_server(app, document, BASE, SEGFAULT_FIRST)
    before = crashes(app)

    with app.app_context(), pytest.raises(InvalidUpdate) as refused:
        content.append_update(document, SEGFAULT_EDIT)

    assert refused.value.status == 400
    assert crashes(app) >= before + 2  # tried twice, each in a replica process: not in ours
    assert updates_of(app, document) == 2
    assert read_text(app, document) == text_after(BASE, SEGFAULT_FIRST)
    assert append(app, document, fresh_client_edit("!")) == 3
    assert read_text(app, document) == text_after(BASE, SEGFAULT_FIRST, fresh_client_edit("!"))


def test_an_update_that_makes_yrs_panic_is_refused_and_changes_nothing(app, document):
    append(app, document, BASE)
    with app.app_context(), pytest.raises(InvalidUpdate):
        content.append_update(document, PANICS_ON_BASE)
    assert updates_of(app, document) == 1
    assert read_text(app, document) == text_after(BASE)


def test_a_state_vector_claiming_millions_of_clients_is_refused_before_any_allocation(
    app, document
):
    append(app, document, BASE)
    with app.app_context(), pytest.raises(InvalidStateVector):
        content.missing_since(document, HUGE_STATE_VECTOR)
    with app.app_context():
        child = content.engine().child_for(uuid.UUID(document))
        peak_kb = peak_memory_kb(child.pid)
    assert peak_kb < 200 * 1024  # pycrdt alone peaked at ~530 MB on these 5 bytes


def peak_memory_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1])


def test_an_update_that_would_make_replicas_disagree_is_refused(app, document):
    """TYPED_DIVERGING's first three do not look like edits (today's server refuses them):
    stored as an older server did. The last one looks like an edit, applies, and would make
    the document read differently once reloaded: the convergence check refuses it. (The fuzz
    cases of any shape, DIVERGING, no longer get that far: see the test above.)"""
    stored_by_an_older_server(app, document, *TYPED_DIVERGING[:-1])
    text = read_text(app, document)
    with app.app_context(), pytest.raises(InvalidUpdate) as refused:
        content.append_update(document, TYPED_DIVERGING[-1])
    assert "disagree" in str(refused.value)
    assert read_text(app, document) == text
    assert reloaded_text(app, document) == text


def reloaded_text(app, document_id: str) -> str:
    """What a client that syncs the document from scratch reads."""
    with app.app_context():
        fresh = Doc()
        fresh.apply_update(content.state_of(document_id))
    return str(fresh.get("content", type=Text))


def test_a_stored_document_that_disagrees_takes_edits_and_is_repaired(app, document):
    """What an older server let through: all four stored, the document now reads one way in
    a replica and another once reloaded. An edit is not blamed for it: it is stored, and the
    compaction it queues sets aside the update behind the disagreement."""
    with app.app_context():
        for update in TYPED_DIVERGING:
            store.append(uuid.UUID(document), update)  # below the checks, as it was
    typed = Doc()
    typed.get("content", type=Text).insert(0, "ok ")  # a new client: no origin it could lack
    assert append(app, document, typed.get_update()) == 5

    with app.app_context():
        from collab.documents.tasks import queue

        assert queue().count == 1  # the compaction that finds the culprit
    from tests.test_documents import work

    work(app)
    with app.app_context():
        from collab.extensions import db

        quarantined = [row.seq for row in db.session.query(QuarantinedUpdate).all()]
    text = read_text(app, document)
    assert 4 in quarantined and 5 not in quarantined
    assert reloaded_text(app, document) == text
    assert "ok " in text


def test_a_stored_update_that_crashes_every_read_is_set_aside(app, client, alice, document):
    """What an older server let through: accepted, stored, then every read died with it."""
    stored_by_an_older_server(app, document, BASE, SEGFAULT_FIRST, SEGFAULT_SECOND)

    assert read_text(app, document) == text_after(BASE, SEGFAULT_FIRST)

    with app.app_context():
        from collab.extensions import db

        quarantined = db.session.query(QuarantinedUpdate).all()
        assert [(row.seq, row.data) for row in quarantined] == [(3, SEGFAULT_SECOND)]
        assert (
            store.load(uuid.UUID(document)).snapshot_seq,
            store.load(uuid.UUID(document)).last_seq,
        ) == (3, 3)
        recorder.flush()
    assert updates_of(app, document) == 0  # folded into the verified snapshot
    assert read_text(app, document) == text_after(BASE, SEGFAULT_FIRST)  # no second repair
    assert count_rows(app, QuarantinedUpdate) == 1
    assert append(app, document, fresh_client_edit("?")) == 4


def test_a_replica_killed_between_calls_is_replaced_without_refusing_anything(app, document):
    append(app, document, BASE)
    with app.app_context():
        child = content.engine().child_for(uuid.UUID(document))
        os.kill(child.pid, signal.SIGKILL)
        time.sleep(0.1)
    assert append(app, document, legit_append(app, document, "x")) == 2
    assert read_text(app, document) == text_after(BASE) + "x"


def test_a_hung_replica_is_killed_at_its_deadline_and_the_call_retried(make_app, app, document):
    quick = make_app(DOCUMENT_REPLICA_TIMEOUT_SECONDS="1", DOCUMENT_REPLICA_PROCESSES="1")
    append(quick, document, BASE)
    with quick.app_context():
        child = content.engine().child_for(uuid.UUID(document))
        hung = child.pid
        os.kill(hung, signal.SIGSTOP)
    update = legit_append(app, document, "y")
    assert append(quick, document, update) == 2
    with quick.app_context():
        assert content.engine().child_for(uuid.UUID(document)).pid != hung
    assert not os.path.exists(f"/proc/{hung}/status") or zombie(hung)


def zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as status:
        return "zombie" in status.read()


def test_the_document_size_cap_refuses_the_update_that_would_pass_it(make_app, document):
    small = make_app(DOCUMENT_MAX_BYTES="1000")
    author = Doc()
    text = author.get("content", type=Text)
    updates = []
    author.observe(lambda event: updates.append(event.update))
    text += "x" * 900
    assert append(small, document, updates[-1]) == 1
    text += "é" * 60  # 120 bytes of UTF-8: 1020 in all
    with small.app_context(), pytest.raises(DocumentTooLarge) as refused:
        content.append_update(document, updates[-1])
    assert (refused.value.code, refused.value.status) == ("too_large", 413)
    assert read_text(small, document) == "x" * 900
    del text[900:]
    del text[0:100]  # shrinking is always allowed
    assert append(small, document, updates[-1]) == 2
    assert read_text(small, document) == "x" * 800


def test_a_crasher_sent_with_other_edits_refuses_only_itself(app, document):
    """Edits arriving together reach the replica in one call (batching.py): when that call
    crashes, each edit is tried alone, and only the crasher is refused."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    stored_by_an_older_server(app, document, BASE, SEGFAULT_FIRST)
    authors = 6
    start = threading.Barrier(authors + 1)

    def honest(index: int) -> int:
        doc = Doc()
        doc.get("content", type=Text).insert(0, f"<{index}>")
        update = doc.get_update()
        start.wait()
        return append(app, document, update)

    def hostile() -> type:
        start.wait()
        try:
            append(app, document, SEGFAULT_EDIT)
        except InvalidUpdate as refused:
            return type(refused)
        return type(None)

    with ThreadPoolExecutor(authors + 1) as pool:
        seqs = [pool.submit(honest, index) for index in range(authors)]
        refused = pool.submit(hostile)
        assert sorted(seq.result() for seq in seqs) == list(range(3, 3 + authors))
        assert refused.result() is InvalidUpdate
    text = read_text(app, document)
    assert all(f"<{index}>" in text for index in range(authors))


def test_a_crasher_in_a_batch_costs_the_sender_who_made_the_call_nothing(app, document):
    """Whoever gets the document's turn makes one call for every edit waiting. A crasher
    waiting in the queue (as its sender's would be) is in the honest sender's call: the crash
    must not be charged to the honest sender's processing budget (engine.CRASH_COST_MS, a
    second), or one user's crashers would lock the others out of the document."""
    stored_by_an_older_server(app, document, BASE, SEGFAULT_FIRST)
    doc_id = uuid.UUID(document)
    crasher = batching.Waiting(SEGFAULT_EDIT)
    queue = batching.queues.enter(doc_id, crasher)
    try:
        with metered() as spent:
            seq = append(app, document, fresh_client_edit("ok"))
    finally:
        batching.queues.leave(doc_id, queue)
    assert seq == 3
    assert crasher.error is not None  # it was in the call, and the call crashed
    assert spent[0] < CRASH_COST_MS, spent
    assert read_text(app, document) == text_after(BASE, SEGFAULT_FIRST, fresh_client_edit("ok"))
