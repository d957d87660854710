"""Document history: who wrote each update, automatic and named versions, diffs, restores
while people edit, retention. Real database, Redis, web instances and Socket.IO clients; time
is moved by passing `now` to the pass (and by dating rows), never by sleeping."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from collab.documents import tasks
from collab.extensions import db
from collab.history import service
from collab.history.store import Wanted
from collab.models import Document, DocumentUpdate, DocumentVersion, utcnow
from tests.helpers_projects import assert_error, collaborator_url, make_team
from tests.realtime_support import Replica, connected, content_of, documents_url

QUIET = timedelta(seconds=30)


def versions_url(team, doc_id: str) -> str:
    return f"{documents_url(team)}/{doc_id}/versions"


def create(client, team, text: str, name: str = "main.py", account=None) -> str:
    account = account or team.owner
    response = client.post(
        documents_url(team), json={"name": name, "content": text}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def put_content(client, team, doc_id: str, text: str, account) -> dict:
    response = client.put(
        f"{documents_url(team)}/{doc_id}/content", json={"content": text}, headers=account.headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def name_version(client, team, doc_id: str, name: str, account=None) -> dict:
    account = account or team.collaborator
    response = client.post(versions_url(team, doc_id), json={"name": name}, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def versions(client, team, doc_id: str, account=None, **query) -> list[dict]:
    account = account or team.owner
    response = client.get(versions_url(team, doc_id), query_string=query, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def version_pass(app, now=None) -> list[dict]:
    """The automatic versions the pass made as of `now`, as the API shows them."""
    with app.app_context():
        return [service.public(version) for version in service.version_due_documents(now)]


def authors_of_updates(app, doc_id: str) -> list[tuple[int, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(DocumentUpdate.seq, DocumentUpdate.author_id)
            .where(DocumentUpdate.document_id == uuid.UUID(doc_id))
            .order_by(DocumentUpdate.seq)
        ).all()
        db.session.remove()
    return [(seq, str(author) if author else None) for seq, author in rows]


@pytest.fixture()
def team(client, make_user):
    return make_team(client, make_user, is_public=False)


# --- Authorship ------------------------------------------------------------------------------


def test_every_update_records_its_author_over_rest_and_socketio(app, client, team, instances):
    doc_id = create(client, team, "one\n")  # seq 1, by the owner
    put_content(client, team, doc_id, "one\ntwo\n", team.collaborator)  # seq 2
    replica = Replica()
    with connected(instances[1].url, team.collaborator.access_token) as socket:
        joined = socket.ok(
            "workspace:join", {"workspace_id": team.wid, "docs": {doc_id: replica.state_vector()}}
        )
        replica.apply(joined["docs"][doc_id])
        edit = replica.insert(len(str(replica)), "three\n")
        ack = socket.ok("doc:update", {"workspace_id": team.wid, "doc_id": doc_id, "update": edit})
    assert ack["seq"] == 3
    assert authors_of_updates(app, doc_id) == [
        (1, team.owner.id),
        (2, team.collaborator.id),
        (3, team.collaborator.id),
    ]
    with app.app_context():
        created_at = db.session.scalars(
            select(DocumentUpdate.created_at).where(DocumentUpdate.document_id == uuid.UUID(doc_id))
        ).all()
        db.session.remove()
    assert all(abs(utcnow() - moment) < timedelta(minutes=1) for moment in created_at)


# --- Automatic versions ----------------------------------------------------------------------


def test_a_version_is_made_once_the_document_has_been_quiet(app, client, team):
    doc_id = create(client, team, "a\n")
    put_content(client, team, doc_id, "a\nb\n", team.collaborator)
    now = utcnow()
    assert version_pass(app, now + QUIET - timedelta(seconds=2)) == []  # still typing
    assert versions(client, team, doc_id) == []
    (made,) = version_pass(app, now + QUIET + timedelta(seconds=1))
    listed = versions(client, team, doc_id)
    assert listed == [made] and made["seq"] == 2 and made["name"] is None
    assert made["authors"] == [team.owner.id, team.collaborator.id]
    assert made["size"] == len(b"a\nb\n") and made["created_by"] is None
    assert version_pass(app, now + 10 * QUIET) == []  # nothing new since: no second version


def test_while_edits_go_on_a_version_is_made_every_max_interval(app, client, team):
    doc_id = create(client, team, "start\n")
    now = utcnow()
    with app.app_context():  # the first unversioned edit 9 minutes ago, the latest just now
        db.session.execute(
            update(Document)
            .where(Document.id == uuid.UUID(doc_id))
            .values(unversioned_since=now - timedelta(minutes=9), updated_at=now)
        )
        db.session.commit()
    assert version_pass(app, now) == []
    assert len(version_pass(app, now + timedelta(minutes=1, seconds=1))) == 1
    put_content(client, team, doc_id, "start\nmore\n", team.collaborator)
    with app.app_context():  # the edit after the version starts the next interval
        since = db.session.scalar(
            select(Document.unversioned_since).where(Document.id == uuid.UUID(doc_id))
        )
        db.session.remove()
    assert since is not None and abs(since - utcnow()) < timedelta(minutes=1)


def test_the_quiet_period_is_configurable(make_app, app, client, team):
    doc_id = create(client, team, "x\n")
    impatient = make_app(DOCUMENT_VERSION_QUIET_SECONDS="0")
    assert len(version_pass(impatient)) == 1
    assert versions(client, team, doc_id)[0]["seq"] == 1


def test_the_workers_pass_makes_versions_and_announces_them(make_app, client, team, instances):
    doc_id = create(client, team, "hello\n")
    with connected(instances[0].url, team.viewer.access_token) as socket:
        socket.ok("workspace:join", {"workspace_id": team.wid, "docs": {}})
        stop = service.start_versioning(make_app(DOCUMENT_VERSION_QUIET_SECONDS="0"), 0.1)
        try:
            event = socket.wait_for("doc:version", lambda data: data["doc_id"] == doc_id)
        finally:
            stop.set()
    assert event["workspace_id"] == team.wid
    assert event["version"] == versions(client, team, doc_id)[0]
    assert event["version"]["authors"] == [team.owner.id]


# --- Named versions, reading ----------------------------------------------------------------


def test_named_versions_list_newest_first_with_paging(app, client, team, instances):
    doc_id = create(client, team, "v1\n")
    with connected(instances[1].url, team.viewer.access_token) as socket:
        socket.ok("workspace:join", {"workspace_id": team.wid, "docs": {}})
        first = name_version(client, team, doc_id, "first draft")
        event = socket.wait_for("doc:version", lambda data: data["doc_id"] == doc_id)
    assert event == {"workspace_id": team.wid, "doc_id": doc_id, "version": first}
    assert first["name"] == "first draft" and first["created_by"] == team.collaborator.id
    assert first["authors"] == [team.owner.id] and first["seq"] == 1
    put_content(client, team, doc_id, "v2\n", team.owner)
    second = name_version(client, team, doc_id, "second", team.owner)
    third = name_version(client, team, doc_id, "same text, another name", team.owner)
    assert second["authors"] == [team.owner.id] and third["authors"] == []
    assert third["seq"] == second["seq"] == 2
    assert versions(client, team, doc_id) == [third, second, first]
    response = client.get(
        versions_url(team, doc_id), query_string={"skip": 1, "limit": 1}, headers=team.owner.headers
    )
    assert response.get_json() == [second] and response.headers["X-Total-Count"] == "3"
    detail = client.get(f"{versions_url(team, doc_id)}/{first['id']}", headers=team.viewer.headers)
    assert detail.status_code == 200
    assert detail.get_json() == {**first, "content": "v1\n"}


def test_who_may_read_name_and_restore_versions(client, make_user):
    for is_public in (False, True):
        team = make_team(client, make_user, is_public=is_public)
        doc_id = create(client, team, "text\n")
        version = name_version(client, team, doc_id, "kept", team.owner)
        url = versions_url(team, doc_id)
        restore = f"{url}/{version['id']}/restore"
        hidden = 403 if is_public else 404
        for role in ("owner", "collaborator", "viewer"):
            account = team.account(role)
            assert client.get(url, headers=account.headers).status_code == 200
            assert (
                client.get(f"{url}/{version['id']}/diff", headers=account.headers).status_code
                == 200
            )
        for role, status in (("viewer", 403), ("outsider", hidden)):
            account = team.account(role)
            assert_error(client.post(url, json={"name": "no"}, headers=account.headers), status)
            assert_error(client.post(restore, headers=account.headers), status)
        outsider_read = client.get(url, headers=team.outsider.headers)
        assert outsider_read.status_code == (200 if is_public else 404)
        assert_error(client.get(url), 401)
        assert_error(client.post(restore), 401)
        assert [v["id"] for v in versions(client, team, doc_id)] == [version["id"]]
        assert content_of(client, team, doc_id) == "text\n"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": " padded"},
        {"name": "x" * 101},
        {"name": 5},
        {"name": "a", "b": 1},
    ],
)
def test_a_bad_version_name_is_422_and_makes_nothing(client, team, body):
    doc_id = create(client, team, "text\n")
    response = client.post(versions_url(team, doc_id), json=body, headers=team.owner.headers)
    assert_error(response, 422)
    assert versions(client, team, doc_id) == []


def test_unknown_versions_and_documents_are_404(client, team):
    doc_id = create(client, team, "text\n")
    other = create(client, team, "other\n", name="other.py")
    theirs = name_version(client, team, other, "theirs")
    url = versions_url(team, doc_id)
    for path in (f"/{uuid.uuid4()}", f"/{theirs['id']}", f"/{theirs['id']}/diff"):
        assert_error(client.get(url + path, headers=team.owner.headers), 404)
    assert_error(client.post(f"{url}/{theirs['id']}/restore", headers=team.owner.headers), 404)
    missing = versions_url(team, str(uuid.uuid4()))
    assert_error(client.get(missing, headers=team.owner.headers), 404)
    assert_error(client.post(missing, json={"name": "x"}, headers=team.owner.headers), 404)
    assert_error(client.get(f"{url}/not-a-uuid", headers=team.owner.headers), 404)
    assert content_of(client, team, other) == "other\n"


# --- Diffs -----------------------------------------------------------------------------------


def apply_hunks(old: str, hunks: list[dict]) -> str:
    """What a client does with the structured hunks: rebuild the new text from the old."""
    lines = old.splitlines(keepends=True) if "\r" not in old else None
    assert lines is not None
    out, at = [], 0
    for hunk in hunks:
        start = hunk["old_start"] - 1 if hunk["old_lines"] else hunk["old_start"]
        out += lines[at:start]
        at = start
        for line in hunk["lines"]:
            if line["op"] == "insert":
                out.append(line["text"])
                continue
            assert lines[at] == line["text"]
            if line["op"] == "equal":
                out.append(line["text"])
            at += 1
    return "".join(out + lines[at:])


def test_diff_between_versions_and_against_the_current_text(client, team):
    old = "def greet():\n    print('hi')\n\ngreet()\n" + "".join(f"# {n}\n" for n in range(10))
    doc_id = create(client, team, old)
    first = name_version(client, team, doc_id, "first")
    middle = old.replace("print('hi')", "print('hello')") + "greet()"  # no final newline
    put_content(client, team, doc_id, middle, team.collaborator)
    second = name_version(client, team, doc_id, "second")
    current = middle.replace("# 9\n", "")
    put_content(client, team, doc_id, current, team.collaborator)
    url = versions_url(team, doc_id)

    between = client.get(
        f"{url}/{first['id']}/diff",
        query_string={"against": second["id"]},
        headers=team.viewer.headers,
    ).get_json()
    assert between["from"] == {"version_id": first["id"], "seq": first["seq"]}
    assert between["to"] == {"version_id": second["id"], "seq": second["seq"]}
    assert (between["added"], between["removed"]) == (2, 1)
    assert apply_hunks(old, between["hunks"]) == middle
    unified = between["unified"].splitlines()
    assert unified[0].startswith(f"--- version {first['id']} 'first' (seq 1)")
    assert unified[1] == f"+++ version {second['id']} 'second' (seq 2)"
    assert "-    print('hi')" in unified and "+    print('hello')" in unified
    assert unified[-2:] == ["+greet()", "\\ No newline at end of file"]

    to_current = client.get(f"{url}/{first['id']}/diff", headers=team.viewer.headers).get_json()
    assert to_current["to"] == {"version_id": None, "seq": 3}
    assert apply_hunks(old, to_current["hunks"]) == current
    same = client.get(
        f"{url}/{second['id']}/diff",
        query_string={"against": second["id"]},
        headers=team.owner.headers,
    ).get_json()
    assert same["hunks"] == [] and same["unified"] == "" and same["added"] == same["removed"] == 0

    for against in ("yesterday", "", "1"):
        response = client.get(
            f"{url}/{first['id']}/diff",
            query_string={"against": against},
            headers=team.owner.headers,
        )
        assert_error(response, 422)
    response = client.get(
        f"{url}/{first['id']}/diff",
        query_string={"against": str(uuid.uuid4())},
        headers=team.owner.headers,
    )
    assert_error(response, 404)


# --- Restores --------------------------------------------------------------------------------


def test_restore_is_a_forward_edit_that_open_editors_take(app, client, team, instances):
    """Two editors on two instances type before and after a restore: both converge on the
    restored text plus what they typed after it, and so does the REST content."""
    doc_id = create(client, team, "title\n")
    good = name_version(client, team, doc_id, "good")
    alice, bob = Replica(), Replica()
    with (
        connected(instances[0].url, team.owner.access_token) as a,
        connected(instances[1].url, team.collaborator.access_token) as b,
    ):
        for socket, replica in ((a, alice), (b, bob)):
            joined = socket.ok(
                "workspace:join",
                {"workspace_id": team.wid, "docs": {doc_id: replica.state_vector()}},
            )
            replica.apply(joined["docs"][doc_id])

        def type_(socket, replica, at_end: str) -> int:
            edit = replica.insert(len(str(replica)), at_end)
            return socket.ok(
                "doc:update", {"workspace_id": team.wid, "doc_id": doc_id, "update": edit}
            )["seq"]

        def catch_up(socket, replica, seq: int) -> None:
            """Apply what the socket received, once the update `seq` is among it (applying an
            update twice changes nothing)."""
            socket.wait_for("doc:update", lambda d: d["doc_id"] == doc_id and d["seq"] == seq)
            for data in list(socket.received["doc:update"]):
                if data["doc_id"] == doc_id:
                    replica.apply(data["update"])

        catch_up(b, bob, type_(a, alice, "bad line by alice\n"))
        catch_up(a, alice, type_(b, bob, "bad line by bob\n"))
        assert str(alice) == str(bob) == "title\nbad line by alice\nbad line by bob\n"

        response = client.post(
            f"{versions_url(team, doc_id)}/{good['id']}/restore", headers=team.collaborator.headers
        )
        assert response.status_code == 200, response.get_json()
        restored = response.get_json()
        assert restored["content"] == "title\n"
        catch_up(a, alice, restored["seq"])
        catch_up(b, bob, restored["seq"])
        assert str(alice) == str(bob) == "title\n"

        after_a = type_(a, alice, "after by alice\n")
        after_b = type_(b, bob, "after by bob\n")
        catch_up(b, bob, after_a)
        catch_up(a, alice, after_b)
    assert str(alice) == str(bob) == content_of(client, team, doc_id)
    assert sorted(str(alice).splitlines()) == sorted(["title", "after by alice", "after by bob"])

    history = versions(client, team, doc_id)
    the_restore, before_it, first = history
    assert first["id"] == good["id"]
    assert before_it["name"] is None and before_it["seq"] == restored["seq"] - 1
    assert before_it["authors"] == [team.owner.id, team.collaborator.id]
    assert the_restore["restored_from"] == good["id"]
    assert the_restore["created_by"] == team.collaborator.id
    assert (
        the_restore["authors"][0] == team.collaborator.id and the_restore["seq"] >= restored["seq"]
    )
    kept = client.get(f"{versions_url(team, doc_id)}/{before_it['id']}", headers=team.owner.headers)
    assert kept.get_json()["content"] == "title\nbad line by alice\nbad line by bob\n"
    assert (restored["seq"], team.collaborator.id) in authors_of_updates(app, doc_id)


def test_restoring_the_current_text_changes_nothing(client, team):
    doc_id = create(client, team, "same\n")
    version = name_version(client, team, doc_id, "now")
    response = client.post(
        f"{versions_url(team, doc_id)}/{version['id']}/restore", headers=team.owner.headers
    )
    assert response.get_json() == {"seq": 1, "content": "same\n", "version": None}
    assert len(versions(client, team, doc_id)) == 1


def test_named_versions_and_restores_are_in_the_activity_feed(app, client, team):
    from collab.activity import recorder

    doc_id = create(client, team, "one\n")
    version = name_version(client, team, doc_id, "v1")
    put_content(client, team, doc_id, "two\n", team.owner)
    client.post(f"{versions_url(team, doc_id)}/{version['id']}/restore", headers=team.owner.headers)
    with app.app_context():
        recorder.flush()
    feed = client.get(f"/api/v1/projects/{team.pid}/activity", headers=team.viewer.headers)
    events = {event["action"]: event for event in feed.get_json()}
    named, restored = events["document.versioned"], events["document.restored"]
    assert named["actor_id"] == team.collaborator.id and named["target_id"] == doc_id
    assert named["details"] == {
        "name": "main.py",
        "version_id": version["id"],
        "version_name": "v1",
    }
    assert restored["actor_id"] == team.owner.id
    assert restored["details"]["version_id"] == version["id"]
    assert restored["details"]["version_name"] == "v1"


# --- History outlives compaction and restarts -----------------------------------------------


def test_compaction_keeps_history_and_the_authors_it_folds_away(app, client, team):
    doc_id = create(client, team, "0\n")
    first = name_version(client, team, doc_id, "start")
    for n in range(1, 6):
        account = team.owner if n % 2 else team.collaborator
        put_content(client, team, doc_id, "".join(f"{i}\n" for i in range(n + 1)), account)
    with app.app_context():
        assert tasks.compact(uuid.UUID(doc_id)) == 6
        assert db.session.scalar(
            select(Document.pending_authors).where(Document.id == uuid.UUID(doc_id))
        ) == [team.owner.id, team.collaborator.id]
        db.session.remove()
    assert authors_of_updates(app, doc_id) == []  # folded into the snapshot
    promoted = client.put(
        collaborator_url(team.pid, team.extra.id),
        json={"role": "collaborator"},
        headers=team.owner.headers,
    )
    assert promoted.status_code == 200
    put_content(client, team, doc_id, "after compaction\n", team.extra)
    (later,) = version_pass(app, utcnow() + QUIET * 2)
    assert later["authors"] == [team.owner.id, team.collaborator.id, team.extra.id]
    assert [v["id"] for v in versions(client, team, doc_id)] == [later["id"], first["id"]]
    detail = client.get(f"{versions_url(team, doc_id)}/{first['id']}", headers=team.owner.headers)
    assert detail.get_json()["content"] == "0\n"


def test_history_survives_a_restart_of_the_instance(app, client, team, base_env):
    from tests.realtime_support import start_instances

    doc_id = create(client, team, "kept across restarts\n")
    version = name_version(client, team, doc_id, "before the restart")
    (instance,) = start_instances(base_env, 1)
    try:
        instance.kill()
        (instance,) = start_instances(base_env, 1)
        import requests

        response = requests.get(
            instance.url + versions_url(team, doc_id) + f"/{version['id']}",
            headers=team.owner.headers,
            timeout=10,
        )
    finally:
        instance.stop()
    assert response.status_code == 200
    assert response.json()["content"] == "kept across restarts\n"


# --- Retention -------------------------------------------------------------------------------


def test_old_versions_are_thinned_to_named_ones_and_one_a_day(app, client, team):
    doc_id = create(client, team, "0\n")
    now = utcnow()
    old_day = now - timedelta(days=100)
    made = []
    for n, (when, name) in enumerate(
        [
            (old_day.replace(hour=9), None),
            (old_day.replace(hour=10), "milestone"),
            (old_day.replace(hour=11), None),
            (old_day.replace(hour=12), None),  # the last of its day: kept
            (old_day.replace(hour=12) + timedelta(days=1), None),  # alone on its day: kept
            (now - timedelta(days=1), None),  # recent: kept
            (now - timedelta(hours=1), None),
        ]
    ):
        account = [team.owner, team.collaborator][n % 2]
        put_content(client, team, doc_id, f"{n + 1}\n", account)
        with app.app_context():
            version = service.public(
                service.make_version(
                    uuid.UUID(doc_id), Wanted(name=name) if name else Wanted(automatic=True)
                )
            )
            db.session.execute(
                update(DocumentVersion)
                .where(DocumentVersion.id == uuid.UUID(version["id"]))
                .values(created_at=when)
            )
            db.session.commit()
        made.append(version)
    with app.app_context():
        assert service.Thinning().run(now) == 2
        assert service.Thinning().run(now) == 0
    left = {v["id"]: v for v in versions(client, team, doc_id, limit=100)}
    assert set(left) == {made[i]["id"] for i in (1, 3, 4, 5, 6)}
    # The first version's authors went to the named one after it, the third's to the fourth.
    assert left[made[1]["id"]]["authors"] == [team.owner.id, team.collaborator.id]
    assert left[made[3]["id"]]["authors"] == [team.owner.id, team.collaborator.id]


def test_a_document_that_is_deleted_takes_its_history_with_it(app, client, team):
    doc_id = create(client, team, "x\n")
    name_version(client, team, doc_id, "v")
    response = client.delete(f"{documents_url(team)}/{doc_id}", headers=team.owner.headers)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(DocumentVersion.id)) is None
        db.session.remove()


def test_each_version_lists_the_authors_since_the_previous_one_across_compactions(
    app, client, team
):
    """Updates by one author, then another, then both, with compactions folding the log
    between versions: each version lists exactly who wrote since the previous one."""
    doc_id = create(client, team, "")
    authors = [team.owner] * 4 + [team.collaborator] * 4 + [team.owner, team.collaborator] * 2
    text, made = "", []
    for n, account in enumerate(authors):
        text += f"line {n}\n"
        put_content(client, team, doc_id, text, account)
        if n % 3 == 2:
            with app.app_context():
                tasks.compact(uuid.UUID(doc_id))
        if n % 4 == 3:
            made.append(name_version(client, team, doc_id, f"after {n + 1} edits"))
    assert [v["seq"] for v in made] == [4, 8, 12]
    assert [v["authors"] for v in made] == [
        [team.owner.id],
        [team.collaborator.id],
        [team.owner.id, team.collaborator.id],
    ]
    for version in made:
        detail = client.get(
            f"{versions_url(team, doc_id)}/{version['id']}", headers=team.owner.headers
        )
        assert detail.get_json()["content"] == "".join(f"line {n}\n" for n in range(version["seq"]))


def test_the_hunks_rebuild_the_new_text_from_the_old_for_any_pair_of_texts():
    """Random texts made of few distinct lines (many equal lines to align), with and without
    final newlines: the hunks always turn the old text into the new one."""
    import random

    from collab.history import diff

    rng = random.Random(7)
    pieces = ["a\n", "b\n", "c\n", "\n", "tail", "  indented\n"]
    for _ in range(500):
        old = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        new = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        hunks = [vars(each) for each in diff.hunks(old, new)]
        assert apply_hunks(old, hunks) == new, (old, new)
        assert (hunks == []) == (old == new)


def test_named_versions_and_restores_share_a_per_user_budget(make_app, team):
    """Each keeps a whole copy of the text: nobody may fill the database with them. Refused
    and failed requests do not count; another user has a budget of their own."""
    client = make_app(RATELIMIT_VERSIONS="3/hour").test_client()
    doc_id = create(client, team, "text\n")
    url = versions_url(team, doc_id)

    def named(name: str, account=team.collaborator):
        return client.post(url, json={"name": name}, headers=account.headers)

    def restore(version_id: str):
        return client.post(f"{url}/{version_id}/restore", headers=team.collaborator.headers)

    first = name_version(client, team, doc_id, "one")
    assert_error(named(""), 422)  # refused: not counted
    name_version(client, team, doc_id, "two")
    put_content(client, team, doc_id, "changed\n", team.collaborator)
    assert restore(first["id"]).status_code == 200  # the third
    refused = named("four")
    assert_error(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert_error(restore(first["id"]), 429)
    assert client.get(url, headers=team.collaborator.headers).status_code == 200  # reads are free
    assert named("the owner's own", team.owner).status_code == 201
    assert "four" not in [v["name"] for v in versions(client, team, doc_id, limit=100)]


def test_documents_written_before_history_keep_their_content_and_get_a_first_version(
    make_app, tmp_path
):
    """Content stored before migration 0004 (here: written, then the migration taken down
    and up again over it, which on SQLite rebuilds the tables) is kept, and the versioning
    pass finds it and makes its first version."""
    from flask_migrate import downgrade, upgrade

    from collab.documents import content
    from collab.models import Project, User, Workspace

    own = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'before.db'}")
    with own.app_context():
        upgrade()
        user = User(email="old@example.com", username="old", password_hash="-")
        db.session.add(user)
        db.session.flush()
        workspace = Workspace(project=Project(name="Old", owner_id=user.id), name="Old")
        db.session.add(workspace)
        db.session.flush()
        document = Document(workspace_id=workspace.id, name="old.py")
        db.session.add(document)
        db.session.commit()
        doc_id = document.id
        content.append_update(doc_id, content.initial_update("written long ago\n"))
        db.session.remove()
        downgrade(revision="0003")
        upgrade()
        # SQLite rebuilds tables to drop columns: the content must survive it.
        assert content.text_of(doc_id) == "written long ago\n"
        (version,) = service.version_due_documents(utcnow() + QUIET * 2)
        assert (version["document_id"], version["seq"], version["authors"]) == (doc_id, 1, [])
        assert service.store.version(doc_id, version["id"])["content"] == "written long ago\n"
        assert service.version_due_documents(utcnow() + QUIET * 4) == []
