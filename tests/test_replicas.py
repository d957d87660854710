"""The replica engine's bookkeeping (collab/documents/engine.py, content.py), with real replica
processes and the real database: what a parent knows of its children stays true, so a
replica never serves content it does not hold, and no edit is lost on the way."""

from __future__ import annotations

import uuid

import pytest
from pycrdt import Doc, Text

from collab.documents import content, store
from tests.helpers_projects import create_project, create_workspace, workspace_url


@pytest.fixture()
def document(client, alice) -> uuid.UUID:
    project = create_project(client, alice, name="Replicas")
    workspace = create_workspace(client, alice, project["id"], name="Main")
    url = f"{workspace_url(project['id'], workspace['id'])}/documents"
    response = client.post(url, json={"name": "notes.md"}, headers=alice.headers)
    return uuid.UUID(response.get_json()["id"])


class Author:
    def __init__(self) -> None:
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)

    def type(self, chars: str) -> bytes:
        before = self.doc.get_state()
        self.text += chars
        return self.doc.get_update(before)


@pytest.fixture()
def reads(monkeypatch) -> list[int]:
    """The `after` of every read of stored content (a counting wrapper, not a stand-in)."""
    seen: list[int] = []
    load = store.load

    def counted(document_id, after=0):
        seen.append(after)
        return load(document_id, after)

    monkeypatch.setattr(store, "load", counted)
    return seen


def test_a_fed_update_keeps_the_replica_current_without_a_read(app, document, reads):
    mine, theirs = Author(), Author()
    with app.app_context():
        assert content.append_update(document, mine.type("mine ")) == 1
        child = content.engine().child_for(document)
        other = theirs.type("theirs ")
        assert store.append(document, other).seq == 2  # stored by another instance
        child.feed(str(document), 2, other)  # ... and broadcast to this one
        assert child.base(str(document)) == 2
        mine.doc.apply_update(other)
        reads.clear()
        assert content.append_update(document, mine.type("again")) == 3
        assert reads == []  # the edit refers to the fed text: no read was needed
        assert content.text_of(document) == str(mine.text)


def test_a_gap_in_the_feed_is_filled_from_the_database(app, document):
    mine, theirs = Author(), Author()
    with app.app_context():
        content.append_update(document, mine.type("a"))
        child = content.engine().child_for(document)
        first, second = theirs.type("b"), theirs.type("c")
        store.append(document, first)
        store.append(document, second)
        child.feed(str(document), 3, second)  # seq 2 never came: ignored
        assert child.base(str(document)) == 1
        mine.doc.apply_update(first)
        mine.doc.apply_update(second)
        assert content.append_update(document, mine.type("d")) == 4
        assert content.text_of(document) == str(mine.text)


def test_a_feed_for_a_rebuilt_replica_is_not_applied_to_it(app, document):
    mine, theirs = Author(), Author()
    with app.app_context():
        content.append_update(document, mine.type("a"))
        child = content.engine().child_for(document)
        held = list(child.held[str(document)])
        child.drop(str(document))
        assert content.text_of(document) == "a"  # a new replica (another epoch)
        late = theirs.type("b")
        store.append(document, late)
        # A feed noted for the old replica's epoch: the child must not apply it blindly.
        with child.notes:
            child.feeds.append([str(document), held[1], 2, late])
        assert content.text_of(document) in ("ab", "ba")


def test_an_update_refused_after_it_was_tried_leaves_nothing_in_the_replica(make_app, document):
    small = make_app(DOCUMENT_MAX_BYTES="10")
    author = Author()
    with small.app_context():
        content.append_update(document, author.type("12345"))
        with pytest.raises(content.DocumentTooLarge):
            content.append_update(document, author.type("678901234"))
        assert content.text_of(document) == "12345"
        assert content.state_of(document) is not None
