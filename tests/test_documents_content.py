"""Documents as files over REST: a first text at creation, and PUT .../content, which writes
the whole text as a minimal edit broadcast like any other (open editors keep their cursors)."""

from __future__ import annotations

import pytest
from pycrdt import Assoc

from collab.documents import content
from tests.helpers_projects import assert_error, etag_of, make_team
from tests.realtime_support import Replica, connected, content_of, documents_url

TEXT = "import util\n\nprint(util.greet('world'))\n# a long comment that nobody edits at all\n"
TEXT += "".join(f"print({n})  # one of the many lines after it\n" for n in range(20))


def create(client, team, name="main.py", account=None, **body):
    account = account or team.owner
    return client.post(documents_url(team), json={"name": name, **body}, headers=account.headers)


def created(client, team, name="main.py", **body) -> str:
    response = create(client, team, name, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def put_content(client, team, doc_id, text, account=None, headers=None):
    account = account or team.owner
    return client.put(
        f"{documents_url(team)}/{doc_id}/content",
        json={"content": text},
        headers={**account.headers, **(headers or {})},
    )


def test_a_document_created_with_content_starts_with_it_as_seq_1(app, client, team):
    doc_id = created(client, team, content=TEXT)
    assert content_of(client, team, doc_id) == TEXT
    with app.app_context():
        assert content.last_seq(doc_id) == 1
    empty = created(client, team, "empty.py")
    assert content_of(client, team, empty) == ""
    with app.app_context():
        assert content.last_seq(empty) == 0


def test_put_content_replaces_the_text_and_answers_its_seq(app, client, team):
    doc_id = created(client, team, content=TEXT)
    new = TEXT.replace("world", "everyone") + "print('done')\n"
    response = put_content(client, team, doc_id, new)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"seq": 2, "content": new}
    assert content_of(client, team, doc_id) == new
    again = put_content(client, team, doc_id, new, account=team.collaborator)
    assert again.get_json() == {"seq": 2, "content": new}  # nothing to change: no update
    assert put_content(client, team, doc_id, "").get_json() == {"seq": 3, "content": ""}
    assert content_of(client, team, doc_id) == ""


def test_put_content_honours_if_match(client, team):
    doc_id = created(client, team, content=TEXT)
    url = f"{documents_url(team)}/{doc_id}"
    etag = etag_of(client, team.owner, url)
    assert put_content(client, team, doc_id, "a", headers={"If-Match": etag}).status_code == 200
    client.patch(url, json={"name": "renamed.py"}, headers=team.owner.headers)
    assert_error(put_content(client, team, doc_id, "b", headers={"If-Match": etag}), 412)


def test_content_too_large_is_413(client, team):
    too_big = "x" * (1024 * 1024 + 1)
    assert_error(create(client, team, content=too_big), 413)
    doc_id = created(client, team)
    assert_error(put_content(client, team, doc_id, too_big), 413)
    assert content_of(client, team, doc_id) == ""


@pytest.mark.parametrize("is_public", [False, True])
def test_roles_on_create_with_content_and_put_content(client, make_user, is_public):
    team = make_team(client, make_user, is_public=is_public)
    doc_id = created(client, team, content="x")
    for role, status in (("owner", 200), ("collaborator", 200)):
        response = put_content(client, team, doc_id, role, account=team.account(role))
        assert response.status_code == status, response.get_json()
        made = create(client, team, f"{role}.py", team.account(role), content="1")
        assert made.status_code == 201, made.get_json()
    hidden = 403 if is_public else 404
    for role, status in (("viewer", 403), ("outsider", hidden)):
        assert_error(put_content(client, team, doc_id, "no", account=team.account(role)), status)
        assert_error(create(client, team, "no.py", team.account(role), content="1"), status)
    url = f"{documents_url(team)}/{doc_id}/content"
    assert_error(client.put(url, json={"content": "no"}), 401)
    assert_error(client.post(documents_url(team), json={"name": "a", "content": "1"}), 401)
    assert content_of(client, team, doc_id) == "collaborator"


def test_put_content_is_a_small_broadcast_edit_that_keeps_a_cursor(instances, client, team):
    """A second client's replica applies the broadcast doc:update: its cursor in the
    unchanged text stays put, and the update carries the change, not the whole text."""
    doc_id = created(client, team, content=TEXT)
    replica = Replica()
    with connected(instances[1].url, team.viewer.access_token) as socket:
        joined = socket.ok(
            "workspace:join", {"workspace_id": team.wid, "docs": {doc_id: replica.state_vector()}}
        )
        replica.apply(joined["docs"][doc_id])
        assert str(replica) == TEXT
        cursor_at = TEXT.index("nobody")  # ASCII before it: code points are bytes
        cursor = replica.text.sticky_index(cursor_at, Assoc.AFTER)
        new = TEXT.replace("import util", "from lib import util as util")
        written = put_content(client, team, doc_id, new, account=team.collaborator).get_json()
        update = socket.wait_for("doc:update", lambda data: data["doc_id"] == doc_id)
        assert update["seq"] == written["seq"] == 2
        assert (update["workspace_id"], update["user_id"]) == (team.wid, team.collaborator.id)
        replica.apply(update["update"])
        assert str(replica) == new
        moved = cursor.get_index()
        assert new[moved:].startswith("nobody edits")
        assert moved == cursor_at + len(new) - len(TEXT)
        assert len(update["update"]) < 100 < len(TEXT) // 5  # the inserted words, not the text
