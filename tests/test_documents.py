"""Workspace documents: the REST contract and its role matrix, and the content API of the
real-time layer, with pycrdt clients producing real Yjs updates, the real database, real Redis
and a real RQ worker for compaction."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from pycrdt import Doc, Text
from rq import SimpleWorker

from collab.devstack import free_port
from collab.documents import content as content_api
from collab.documents import store, tasks
from collab.documents.content import (
    DocumentNotFound,
    InvalidStateVector,
    InvalidUpdate,
    UpdateTooLarge,
)
from collab.history import service as history
from collab.history.store import Wanted
from collab.tasks import queue, rq_connection
from tests.helpers_projects import (
    MATRIX,
    OK,
    Team,
    assert_error,
    assert_validation_error,
    count_rows,
    create_project,
    create_workspace,
    etag_of,
    make_team,
    parse_time,
    project_url,
    random_id,
    workspace_url,
)

DOCUMENT_FIELDS = {"id", "name", "workspace_id", "created_at", "updated_at"}


def documents_url(project_id: str, workspace_id: str) -> str:
    return f"{workspace_url(project_id, workspace_id)}/documents"


def document_url(project_id: str, workspace_id: str, document_id: str) -> str:
    return f"{documents_url(project_id, workspace_id)}/{document_id}"


def create_document(client, account, project_id: str, workspace_id: str, name="Doc") -> dict:
    response = client.post(
        documents_url(project_id, workspace_id), json={"name": name}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def count_documents(app, **where) -> int:
    from collab.models import Document

    return count_rows(app, Document, **where)


def count_updates(app, document_id: str) -> int:
    from collab.models import DocumentUpdate

    return count_rows(app, DocumentUpdate, document_id=uuid.UUID(document_id))


class Editor:
    """A pycrdt replica, as a Yjs client would hold one: each edit returns its update."""

    def __init__(self) -> None:
        self.doc = Doc()
        self.text = self.doc.get("content", type=Text)
        self.updates: list[bytes] = []  # every transaction's update, as Yjs's doc.on('update')
        self.doc.observe(lambda event: self.updates.append(event.update))

    def insert(self, index: int, chars: str) -> bytes:
        return self.change(lambda: self.text.insert(index, chars))

    def append(self, chars: str) -> bytes:
        return self.insert(len(self.text), chars)

    def delete(self, start: int, stop: int) -> bytes:
        def cut() -> None:
            del self.text[start:stop]

        return self.change(cut)

    def change(self, edit: Callable[[], None]) -> bytes:
        count = len(self.updates)
        edit()
        (update,) = self.updates[count:]
        return update

    def receive(self, update: bytes) -> None:
        self.doc.apply_update(update)

    def __str__(self) -> str:
        return str(self.text)


def append(app, document_id: str, update: bytes) -> int:
    with app.app_context():
        return content_api.append_update(document_id, update)


def content(app, document_id: str) -> str:
    with app.app_context():
        return content_api.text_of(document_id)


def work(app) -> None:
    """Run every job queued on the default queue with a real RQ worker, then return."""
    with app.app_context():
        SimpleWorker([queue()], connection=rq_connection()).work(burst=True)


@pytest.fixture()
def project(client, alice) -> dict:
    return create_project(client, alice, name="Home")


@pytest.fixture()
def workspace(client, alice, project) -> dict:
    return create_workspace(client, alice, project["id"], name="Notes")


@dataclass(frozen=True)
class Urls:
    """The documents URLs of one workspace."""

    project_id: str
    workspace_id: str

    @property
    def collection(self) -> str:
        return documents_url(self.project_id, self.workspace_id)

    def item(self, document_id: str) -> str:
        return document_url(self.project_id, self.workspace_id, document_id)


@pytest.fixture()
def urls(project, workspace) -> Urls:
    return Urls(project["id"], workspace["id"])


@pytest.fixture()
def document(client, alice, project, workspace) -> dict:
    return create_document(client, alice, project["id"], workspace["id"], name="Plan")


# --- Create, list, read ----------------------------------------------------------------------


def test_create(client, alice, workspace, urls):
    response = client.post(urls.collection, json={"name": "Plan"}, headers=alice.headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == DOCUMENT_FIELDS
    assert uuid.UUID(body["id"])
    assert (body["name"], body["workspace_id"]) == ("Plan", workspace["id"])
    assert body["updated_at"] == body["created_at"]
    parse_time(body["created_at"])
    assert response.headers["Location"] == urls.item(body["id"])
    detail = client.get(urls.item(body["id"]), headers=alice.headers)
    assert detail.get_json() == {**body, "content": ""}
    assert response.headers["ETag"] == detail.headers["ETag"]


def test_list_oldest_first_with_skip_and_limit(client, alice, project, workspace, urls):
    made = [
        create_document(client, alice, project["id"], workspace["id"], f"D{n}") for n in range(5)
    ]

    def page(**query):
        response = client.get(urls.collection, query_string=query, headers=alice.headers)
        assert response.status_code == 200, response.get_json()
        assert response.headers["X-Total-Count"] == "5"
        return response.get_json()

    assert page() == made
    assert [d["name"] for d in page(limit=2)] == ["D0", "D1"]
    assert [d["name"] for d in page(skip=3, limit=10)] == ["D3", "D4"]
    assert page(skip=5) == []
    assert_validation_error(
        client.get(urls.collection, query_string={"limit": 0}, headers=alice.headers), "limit"
    )


def test_list_is_per_workspace(client, alice, project, workspace, urls):
    other = create_workspace(client, alice, project["id"], name="Other")
    create_document(client, alice, project["id"], other["id"], "Elsewhere")
    mine = create_document(client, alice, project["id"], workspace["id"], "Here")

    response = client.get(urls.collection, headers=alice.headers)

    assert response.get_json() == [mine]
    assert response.headers["X-Total-Count"] == "1"


def test_detail_content_is_what_the_clients_hold(app, client, alice, document, urls):
    """Two clients edit concurrently; the server's text is what both converge to."""
    ada, bob = Editor(), Editor()
    sent = [ada.append("Hello world"), bob.append("Second line")]
    for update in sent:
        append(app, document["id"], update)
    ada.receive(sent[1])
    bob.receive(sent[0])
    sent = [ada.insert(5, ","), bob.delete(0, 1), ada.append("!")]
    for update in sent:
        append(app, document["id"], update)
        ada.receive(update)
        bob.receive(update)
    assert str(ada) == str(bob)
    assert len(str(ada)) == len("Hello world" + "Second line" + "," + "!") - 1

    response = client.get(urls.item(document["id"]), headers=alice.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["content"] == str(ada)
    assert {**body, "updated_at": None} == {**document, "content": str(ada), "updated_at": None}
    assert parse_time(body["updated_at"]) > parse_time(document["updated_at"])


def test_content_edits_keep_the_etag(app, client, alice, document, urls):
    """The ETag versions the metadata (If-Match on rename and delete); content is merged by
    the CRDT and never needs it."""
    before = etag_of(client, alice, urls.item(document["id"]))
    append(app, document["id"], Editor().append("text"))
    assert etag_of(client, alice, urls.item(document["id"])) == before


def test_unknown_document_is_404(client, alice, urls):
    response = client.get(urls.item(random_id()), headers=alice.headers)
    assert_error(response, 404, "Document not found")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_document_is_only_reachable_through_its_own_workspace(
    app, client, alice, project, document, method
):
    other = create_workspace(client, alice, project["id"], name="Other")
    body = {"name": "hijacked"} if method == "PATCH" else None

    response = client.open(
        document_url(project["id"], other["id"], document["id"]),
        method=method,
        json=body,
        headers=alice.headers,
    )

    assert_error(response, 404, "Document not found")
    assert count_documents(app, id=uuid.UUID(document["id"]), name="Plan") == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_workspace_of_another_project_is_404(app, client, alice, workspace, method):
    """Knowing a workspace id does not let you reach it through another project you own."""
    mine = create_project(client, alice, name="Mine")
    body = {"name": "sneaky"} if method == "POST" else None

    response = client.open(
        documents_url(mine["id"], workspace["id"]), method=method, json=body, headers=alice.headers
    )

    assert_error(response, 404, "Workspace not found")
    assert count_documents(app) == 0


def test_non_uuid_ids_give_a_json_404(client, alice, project, workspace, urls):
    for url in (urls.item("not-a-uuid"), documents_url(project["id"], "nope")):
        assert_error(client.get(url, headers=alice.headers), 404)


# --- Names: validation and uniqueness ----------------------------------------------------------

INVALID_BODIES = [
    pytest.param({"name": ""}, "name", id="empty"),
    pytest.param({"name": "   "}, "name", id="blank"),
    pytest.param({"name": " Plan"}, "name", id="leading-space"),
    pytest.param({"name": "Plan\n"}, "name", id="trailing-newline"),
    pytest.param({"name": "d" * 101}, "name", id="too-long"),
    pytest.param({"name": None}, "name", id="null"),
    pytest.param({"name": 7}, "name", id="number"),
    pytest.param({"name": ["Plan"]}, "name", id="list"),
    pytest.param({"name": "x\u0000y"}, "name", id="nul-character"),
    pytest.param({}, "name", id="missing"),
    pytest.param({"name": "ok", "content": 7}, "content", id="content-not-a-string"),
    pytest.param({"name": "ok", "content": "x\u0000y"}, "content", id="content-nul-character"),
    pytest.param({"name": "ok", "workspace_id": str(uuid.uuid4())}, "workspace_id", id="move"),
    pytest.param({"name": "ok", "colour": "red"}, "colour", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_create_rejects_invalid_input_and_creates_nothing(app, client, alice, urls, body, field):
    response = client.post(urls.collection, json=body, headers=alice.headers)
    assert_validation_error(response, field)
    assert count_documents(app) == 0


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_rename_rejects_invalid_input_and_changes_nothing(
    client, alice, document, urls, body, field
):
    url = urls.item(document["id"])
    etag = etag_of(client, alice, url)

    response = client.patch(url, json=body, headers=alice.headers)

    assert_validation_error(response, field)
    after = client.get(url, headers=alice.headers)
    assert after.get_json() == {**document, "content": ""}
    assert after.headers["ETag"] == etag


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"", "application/json", 422),
        (b"{not json", "application/json", 400),
        (b'"Plan"', "application/json", 422),
        (b"name=Plan", "application/x-www-form-urlencoded", 415),
    ],
)
def test_create_rejects_malformed_bodies(app, client, alice, urls, data, content_type, status):
    response = client.post(
        urls.collection, data=data, content_type=content_type, headers=alice.headers
    )
    assert_error(response, status)
    assert count_documents(app) == 0


def test_name_length_limit_is_inclusive(client, alice, project, workspace):
    made = create_document(client, alice, project["id"], workspace["id"], name="n" * 100)
    assert len(made["name"]) == 100


def test_a_duplicate_name_in_the_workspace_is_409(app, client, alice, project, workspace, urls):
    create_document(client, alice, project["id"], workspace["id"], "Plan")

    response = client.post(urls.collection, json={"name": "Plan"}, headers=alice.headers)

    assert_error(response, 409, "A document with this name already exists in the workspace")
    assert count_documents(app) == 1


def test_names_are_case_sensitive_and_per_workspace(client, alice, project, workspace):
    create_document(client, alice, project["id"], workspace["id"], "Plan")
    create_document(client, alice, project["id"], workspace["id"], "plan")
    other = create_workspace(client, alice, project["id"], name="Other")
    create_document(client, alice, project["id"], other["id"], "Plan")


def test_the_unique_constraint_backs_the_check(app, workspace):
    """Two requests racing past the name check: the database refuses the second one."""
    from sqlalchemy.exc import IntegrityError

    from collab.extensions import db
    from collab.models import Document

    with app.app_context():
        db.session.add(Document(workspace_id=uuid.UUID(workspace["id"]), name="Race"))
        db.session.commit()
        db.session.add(Document(workspace_id=uuid.UUID(workspace["id"]), name="Race"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
    assert count_documents(app, name="Race") == 1


# --- Rename and delete ---------------------------------------------------------------------------


def test_rename(app, client, alice, document, urls):
    url = urls.item(document["id"])
    append(app, document["id"], Editor().append("kept"))
    etag = etag_of(client, alice, url)
    edited = client.get(url, headers=alice.headers).get_json()

    response = client.patch(url, json={"name": "Roadmap"}, headers=alice.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == DOCUMENT_FIELDS
    assert (body["id"], body["name"], body["created_at"]) == (
        document["id"],
        "Roadmap",
        document["created_at"],
    )
    assert parse_time(body["updated_at"]) > parse_time(edited["updated_at"])
    assert response.headers["ETag"] != etag
    after = client.get(url, headers=alice.headers)
    assert after.get_json() == {**body, "content": "kept"}
    assert after.headers["ETag"] == response.headers["ETag"]


def test_rename_to_its_own_name_is_fine(client, alice, document, urls):
    response = client.patch(urls.item(document["id"]), json={"name": "Plan"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["name"] == "Plan"


def test_rename_to_a_taken_name_is_409_and_changes_nothing(
    client, alice, project, workspace, document, urls
):
    create_document(client, alice, project["id"], workspace["id"], "Taken")
    url = urls.item(document["id"])

    response = client.patch(url, json={"name": "Taken"}, headers=alice.headers)

    assert_error(response, 409)
    assert client.get(url, headers=alice.headers).get_json()["name"] == "Plan"


def test_put_is_not_allowed(client, alice, document, urls):
    response = client.put(urls.item(document["id"]), json={"name": "x"}, headers=alice.headers)
    assert_error(response, 405)


def test_delete_removes_the_document_and_its_content(
    app, client, alice, project, workspace, document, urls
):
    kept = create_document(client, alice, project["id"], workspace["id"], name="Kept")
    for chars in "abc":
        append(app, document["id"], Editor().append(chars))
    append(app, kept["id"], Editor().append("kept"))

    response = client.delete(urls.item(document["id"]), headers=alice.headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Document deleted"}
    assert count_documents(app, id=uuid.UUID(document["id"])) == 0
    assert count_updates(app, document["id"]) == 0
    assert count_updates(app, kept["id"]) == 1
    assert_error(client.get(urls.item(document["id"]), headers=alice.headers), 404)
    assert_error(client.delete(urls.item(document["id"]), headers=alice.headers), 404)
    listed = client.get(urls.collection, headers=alice.headers).get_json()
    assert [d["id"] for d in listed] == [kept["id"]]
    with app.app_context(), pytest.raises(DocumentNotFound):
        content_api.append_update(document["id"], Editor().append("late"))


# --- ETag / If-Match ------------------------------------------------------------------------------


def test_stale_if_match_is_412_and_changes_nothing(app, client, alice, document, urls):
    url = urls.item(document["id"])
    stale = etag_of(client, alice, url)
    renamed = client.patch(
        url, json={"name": "First"}, headers={**alice.headers, "If-Match": stale}
    )
    assert renamed.status_code == 200

    lost = client.patch(url, json={"name": "Second"}, headers={**alice.headers, "If-Match": stale})
    refused = client.delete(url, headers={**alice.headers, "If-Match": stale})

    assert_error(lost, 412)
    assert_error(refused, 412)
    after = client.get(url, headers=alice.headers)
    assert after.get_json()["name"] == "First"
    assert after.headers["ETag"] == renamed.headers["ETag"]


@pytest.mark.parametrize("if_match", ["current", "*"])
def test_current_if_match_succeeds(app, client, alice, document, urls, if_match):
    url = urls.item(document["id"])
    etag = etag_of(client, alice, url) if if_match == "current" else "*"
    renamed = client.patch(url, json={"name": "Fresh"}, headers={**alice.headers, "If-Match": etag})
    assert renamed.status_code == 200
    deleted = client.delete(
        url, headers={**alice.headers, "If-Match": renamed.headers["ETag"] if etag != "*" else "*"}
    )
    assert deleted.status_code == 200
    assert count_documents(app) == 0


# --- Cascades ------------------------------------------------------------------------------------


def test_deleting_the_workspace_deletes_its_documents(app, client, alice, project, workspace):
    doomed = create_document(client, alice, project["id"], workspace["id"], "Doomed")
    append(app, doomed["id"], Editor().append("gone"))
    other = create_workspace(client, alice, project["id"], name="Other")
    kept = create_document(client, alice, project["id"], other["id"], "Kept")

    response = client.delete(workspace_url(project["id"], workspace["id"]), headers=alice.headers)

    assert response.status_code == 200
    assert count_documents(app, id=uuid.UUID(doomed["id"])) == 0
    assert count_updates(app, doomed["id"]) == 0
    assert count_documents(app, id=uuid.UUID(kept["id"])) == 1


def test_deleting_the_project_deletes_its_documents(app, client, alice, project, workspace):
    doomed = create_document(client, alice, project["id"], workspace["id"], "Doomed")
    append(app, doomed["id"], Editor().append("gone"))
    other_project = create_project(client, alice, name="Other")
    other_workspace = create_workspace(client, alice, other_project["id"])
    kept = create_document(client, alice, other_project["id"], other_workspace["id"], "Kept")

    response = client.delete(project_url(project["id"]), headers=alice.headers)

    assert response.status_code == 200
    assert count_documents(app) == 1
    assert count_documents(app, id=uuid.UUID(kept["id"])) == 1
    assert count_updates(app, doomed["id"]) == 0


# --- Role matrix ---------------------------------------------------------------------------------


@pytest.fixture()
def team_with_document(client, make_user, app) -> Callable[[str], tuple[Team, dict]]:
    def build(visibility: str) -> tuple[Team, dict]:
        team = make_team(client, make_user, is_public=visibility == "public")
        made = create_document(client, team.owner, team.pid, team.wid, "Shared")
        editor = Editor()
        append(app, made["id"], editor.append("shared"))
        with app.app_context():  # a version of its history, to read, compare and restore
            version = history.make_version(uuid.UUID(made["id"]), Wanted(name="v1"))
        append(app, made["id"], editor.append(" text"))
        return team, {**made, "version_id": str(version["id"])}

    return build


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "read" or "edit"
    method: str
    url: Callable[[Team, dict], str]
    check: Callable
    body: dict | None = None
    ok: int = 200


def check_list(client, team, made, response):
    assert [d["id"] for d in response.get_json()] == [made["id"]]
    assert response.headers["X-Total-Count"] == "1"


def check_read(client, team, made, response):
    assert response.get_json()["content"] == "shared text"
    assert response.headers.get("ETag")


def check_create(client, team, made, response):
    body = response.get_json()
    assert (body["name"], body["workspace_id"]) == ("Second", team.wid)
    assert len(owner_list(client, team)) == 2


def check_create_with_content(client, team, made, response):
    check_create(client, team, made, response)
    url = document_url(team.pid, team.wid, response.get_json()["id"])
    assert client.get(url, headers=team.owner.headers).get_json()["content"] == "first text"


def check_write_content(client, team, made, response):
    assert response.get_json() == {"seq": 3, "content": "new text"}
    assert client.get(item(team, made), headers=team.owner.headers).get_json()["content"] == (
        "new text"
    )


def check_rename(client, team, made, response):
    assert response.get_json()["name"] == "Renamed"
    assert [d["name"] for d in owner_list(client, team)] == ["Renamed"]


def check_delete(client, team, made, response):
    assert owner_list(client, team) == []


def check_versions(client, team, made, response):
    assert [v["id"] for v in response.get_json()] == [made["version_id"]]
    assert response.headers["X-Total-Count"] == "1"


def check_version(client, team, made, response):
    assert response.get_json()["content"] == "shared"


def check_diff(client, team, made, response):
    assert response.get_json()["unified"].endswith(
        "-shared\n\\ No newline at end of file\n+shared text\n\\ No newline at end of file\n"
    )


def check_name_version(client, team, made, response):
    listed = client.get(versions_url(team, made), headers=team.owner.headers).get_json()
    assert [v["name"] for v in listed] == ["Named", "v1"]


def check_restore(client, team, made, response):
    assert response.get_json()["content"] == "shared"
    assert client.get(item(team, made), headers=team.owner.headers).get_json()["content"] == (
        "shared"
    )


def owner_list(client, team) -> list[dict]:
    return client.get(documents_url(team.pid, team.wid), headers=team.owner.headers).get_json()


def collection(team: Team, made: dict) -> str:
    return documents_url(team.pid, team.wid)


def item(team: Team, made: dict) -> str:
    return document_url(team.pid, team.wid, made["id"])


def content_url(team: Team, made: dict) -> str:
    return f"{item(team, made)}/content"


def versions_url(team: Team, made: dict) -> str:
    return f"{item(team, made)}/versions"


def version_url(team: Team, made: dict) -> str:
    return f"{versions_url(team, made)}/{made['version_id']}"


def diff_url(team: Team, made: dict) -> str:
    return f"{version_url(team, made)}/diff"


def restore_url(team: Team, made: dict) -> str:
    return f"{version_url(team, made)}/restore"


VERSION = "/<uuid:document_id>/versions/<uuid:version_id>"
ROUTE_OF = {
    collection: "",
    item: "/<uuid:document_id>",
    content_url: "/<uuid:document_id>/content",
    versions_url: "/<uuid:document_id>/versions",
    version_url: VERSION,
    diff_url: f"{VERSION}/diff",
    restore_url: f"{VERSION}/restore",
}


ENDPOINTS = {
    "list documents": Endpoint("read", "GET", collection, check_list),
    "get document": Endpoint("read", "GET", item, check_read),
    "create document": Endpoint("edit", "POST", collection, check_create, {"name": "Second"}, 201),
    "create document with content": Endpoint(
        "edit",
        "POST",
        collection,
        check_create_with_content,
        {"name": "Second", "content": "first text"},
        201,
    ),
    "write content": Endpoint(
        "edit", "PUT", content_url, check_write_content, {"content": "new text"}
    ),
    "rename document": Endpoint("edit", "PATCH", item, check_rename, {"name": "Renamed"}),
    "delete document": Endpoint("edit", "DELETE", item, check_delete),
    "list versions": Endpoint("read", "GET", versions_url, check_versions),
    "get version": Endpoint("read", "GET", version_url, check_version),
    "diff version": Endpoint("read", "GET", diff_url, check_diff),
    "name version": Endpoint(
        "edit", "POST", versions_url, check_name_version, {"name": "Named"}, 201
    ),
    "restore version": Endpoint("edit", "POST", restore_url, check_restore),
}
CASES = [
    pytest.param(name, role, visibility, expected, id=f"{name}-{role}-{visibility}")
    for name, endpoint in ENDPOINTS.items()
    for role, by_visibility in MATRIX[endpoint.kind].items()
    for visibility, expected in zip(("private", "public"), by_visibility, strict=True)
]


def seen_by_owner(client, team: Team, made: dict) -> tuple:
    listed = client.get(documents_url(team.pid, team.wid), headers=team.owner.headers)
    detail = client.get(item(team, made), headers=team.owner.headers)
    history_ = client.get(versions_url(team, made), headers=team.owner.headers)
    return listed.get_json(), detail.get_json(), detail.headers.get("ETag"), history_.get_json()


@pytest.mark.parametrize(("endpoint", "role", "visibility", "expected"), CASES)
def test_role_matrix(client, team_with_document, endpoint, role, visibility, expected):
    team, made = team_with_document(visibility)
    spec = ENDPOINTS[endpoint]
    before = seen_by_owner(client, team, made)

    response = client.open(
        spec.url(team, made), method=spec.method, json=spec.body, headers=team.headers(role)
    )

    if expected == OK:
        assert response.status_code == spec.ok, response.get_data(as_text=True)
        spec.check(client, team, made, response)
        return
    body = assert_error(response, expected)
    if expected == 404:
        assert body["message"] == "Project not found"
    if expected == 401:
        assert response.headers.get("WWW-Authenticate") == "Bearer"
    assert seen_by_owner(client, team, made) == before, "a refused request changed something"


def test_every_document_route_is_in_the_matrix(app):
    routed = {
        (method, rule.rule.rsplit("/documents", 1)[1])
        for rule in app.url_map.iter_rules()
        if "/documents" in rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    shapes = {(spec.method, ROUTE_OF[spec.url]) for spec in ENDPOINTS.values()}
    assert routed == shapes


def test_a_private_projects_404_is_identical_to_a_random_ids(client, team_with_document):
    team, made = team_with_document("private")
    hidden = client.get(item(team, made), headers=team.outsider.headers)
    missing = client.get(
        item(team, made).replace(team.pid, random_id()), headers=team.outsider.headers
    )
    assert_error(hidden, 404)
    assert hidden.get_json() == missing.get_json()
    assert "ETag" not in hidden.headers


def test_a_demoted_collaborator_loses_write_access_at_once(client, team_with_document):
    team, made = team_with_document("private")
    url = item(team, made)
    member = team.collaborator
    assert client.patch(url, json={"name": "Mine"}, headers=member.headers).status_code == 200
    client.patch(
        f"{project_url(team.pid)}/collaborators/{member.id}",
        json={"role": "viewer"},
        headers=team.owner.headers,
    )
    assert_error(client.patch(url, json={"name": "Again"}, headers=member.headers), 403)
    assert client.get(url, headers=member.headers).get_json()["name"] == "Mine"


# --- Content API: appends ------------------------------------------------------------------------


def test_appends_are_numbered_and_make_up_the_content(app, document):
    editor = Editor()
    seqs = [append(app, document["id"], editor.append(word)) for word in ("one ", "two ", "3")]
    seqs.append(append(app, document["id"], editor.delete(0, 4)))

    assert seqs == [1, 2, 3, 4]
    with app.app_context():
        assert content_api.last_seq(document["id"]) == 4
        assert content_api.text_of(uuid.UUID(document["id"])) == "two 3" == str(editor)
        loaded = content_api.read(document["id"])
        replica = Doc()
        replica.apply_update(content_api.state_of(document["id"]))
    assert loaded.seq == 4
    assert str(replica.get("content", type=Text)) == "two 3"
    assert count_updates(app, document["id"]) == 4


GARBAGE_UPDATES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"garbage!", id="text-bytes"),
    pytest.param(b"\xff" * 32, id="high-bytes"),
    pytest.param("a string", id="str"),
    pytest.param(None, id="none"),
    pytest.param(bytearray(b"\x00\x00"), id="bytearray"),
]


@pytest.mark.parametrize("update", GARBAGE_UPDATES)
def test_garbage_updates_are_refused_and_store_nothing(app, document, update):
    with app.app_context(), pytest.raises(InvalidUpdate) as refused:
        content_api.append_update(document["id"], update)
    assert (refused.value.code, refused.value.status) == ("bad_request", 400)
    assert count_updates(app, document["id"]) == 0
    with app.app_context():
        assert content_api.last_seq(document["id"]) == 0


def test_a_truncated_update_is_refused(app, document):
    whole = Editor().append("a sentence long enough to cut")
    with app.app_context(), pytest.raises(InvalidUpdate):
        content_api.append_update(document["id"], whole[: len(whole) // 2])
    assert count_updates(app, document["id"]) == 0


def test_an_update_over_the_cap_is_refused(app, document):
    big = Editor().append("x" * content_api.MAX_UPDATE_BYTES)
    assert len(big) > content_api.MAX_UPDATE_BYTES
    with app.app_context(), pytest.raises(UpdateTooLarge) as refused:
        content_api.append_update(document["id"], big)
    assert refused.value.status == 413
    assert count_updates(app, document["id"]) == 0


@pytest.mark.parametrize("document_id", [str(uuid.uuid4()), "not-a-uuid", uuid.uuid4()])
def test_unknown_documents_are_not_found(app, document_id):
    calls = [
        lambda: content_api.append_update(document_id, Editor().append("x")),
        lambda: content_api.state_of(document_id),
        lambda: content_api.missing_since(document_id, b"\x00"),
        lambda: content_api.text_of(document_id),
        lambda: content_api.last_seq(document_id),
        lambda: content_api.location(document_id),
    ]
    with app.app_context():
        for call in calls:
            with pytest.raises(DocumentNotFound) as refused:
                call()
            assert refused.value.code == "not_found"


def test_location(app, project, workspace, document):
    with app.app_context():
        assert content_api.location(document["id"]) == (
            uuid.UUID(project["id"]),
            uuid.UUID(workspace["id"]),
        )


@pytest.mark.parametrize("rounds", [1, 2])
def test_concurrent_appends_are_all_kept_with_distinct_seqs(app, document, rounds):
    """8 threads append to one document at once; nothing collides, nothing is lost."""
    threads, per_thread = 8, 15
    start = threading.Barrier(threads)

    def client_session(index: int) -> list[int]:
        editor = Editor()  # pycrdt documents stay in the thread that made them
        start.wait()
        updates = (editor.append(f"<{index}.{n}>") for n in range(per_thread))
        return [append(app, document["id"], update) for update in updates]

    seqs: list[list[int]] = []
    for _ in range(rounds):
        with ThreadPoolExecutor(threads) as pool:
            seqs += pool.map(client_session, range(threads))

    total = threads * per_thread * rounds
    every = [seq for mine in seqs for seq in mine]
    assert sorted(every) == list(range(1, total + 1))
    assert all(mine == sorted(mine) for mine in seqs)  # each client's updates in its order
    assert count_updates(app, document["id"]) == total
    text = content(app, document["id"])
    for index in range(threads):
        for n in range(per_thread):
            assert text.count(f"<{index}.{n}>") == rounds


# --- Content API: sync ------------------------------------------------------------------------


def test_missing_since_gives_a_replica_exactly_what_it_lacks(app, document):
    author = Editor()
    updates = [author.append(f"line {n}\n") for n in range(20)] + [author.delete(0, 7)]
    for update in updates:
        append(app, document["id"], update)
    late = Editor()
    for update in updates[:15]:  # went offline after the first 15 updates
        late.receive(update)

    with app.app_context():
        missing = content_api.missing_since(document["id"], late.doc.get_state())
        full = content_api.state_of(document["id"])
        nothing = content_api.missing_since(document["id"], author.doc.get_state())

    late.receive(missing)
    assert str(late) == str(author) == content(app, document["id"])
    assert len(missing) < len(full) / 2  # not the whole document again
    alone = Editor()
    alone.receive(missing)
    assert "line 0" not in str(alone)  # the part the replica already had is not in it
    # Up to date: no structs at all (a diff always carries the delete set, as in Yjs).
    assert nothing[0] == 0 and nothing != full


def test_missing_since_an_empty_state_vector_is_everything(app, document):
    author = Editor()
    append(app, document["id"], author.append("all of it"))
    fresh = Editor()
    with app.app_context():
        fresh.receive(content_api.missing_since(document["id"], fresh.doc.get_state()))
    assert str(fresh) == "all of it"


@pytest.mark.parametrize(
    "state_vector",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"garbage", id="text-bytes"),
        pytest.param(b"\x05\x01\x01", id="truncated"),
        pytest.param("\x00", id="str"),
        pytest.param(None, id="none"),
    ],
)
def test_garbage_state_vectors_are_refused(app, document, state_vector):
    append(app, document["id"], Editor().append("text"))
    with app.app_context(), pytest.raises(InvalidStateVector) as refused:
        content_api.missing_since(document["id"], state_vector)
    assert refused.value.code == "bad_request"


# --- Compaction -----------------------------------------------------------------------------


@pytest.fixture()
def compact_every(monkeypatch) -> Callable[[int], None]:
    def set_threshold(count: int) -> None:
        monkeypatch.setattr(content_api, "COMPACT_EVERY", count)

    return set_threshold


def stored(app, document_id: str) -> store.Stored:
    with app.app_context():
        return store.load(uuid.UUID(document_id))


def queued(app) -> int:
    with app.app_context():
        return queue().count


def test_compaction_folds_the_log_into_the_snapshot(app, document, compact_every):
    compact_every(10)
    author = Editor()
    for n in range(9):
        append(app, document["id"], author.append(f"{n} "))
    assert queued(app) == 0
    append(app, document["id"], author.delete(0, 2))  # the 10th: queues a compaction
    assert queued(app) == 1
    before = content(app, document["id"])

    work(app)

    assert queued(app) == 0
    assert count_updates(app, document["id"]) == 0
    after = stored(app, document["id"])
    assert (after.snapshot_seq, after.last_seq, len(after.parts)) == (10, 10, 1)
    assert content(app, document["id"]) == before == str(author)
    assert append(app, document["id"], author.append("more")) == 11
    assert content(app, document["id"]) == str(author)
    with app.app_context():
        late = Editor()
        late.receive(content_api.missing_since(document["id"], late.doc.get_state()))
    assert str(late) == str(author)


def test_compaction_is_queued_again_at_each_threshold(app, document, compact_every):
    compact_every(3)
    author = Editor()
    for n in range(7):
        append(app, document["id"], author.append(str(n)))
    assert queued(app) == 2  # at 3 and 6 updates since the (absent) snapshot
    work(app)
    assert stored(app, document["id"]).snapshot_seq == 7
    assert content(app, document["id"]) == "0123456"


def test_updates_appended_during_compaction_survive(app, document, compact_every, monkeypatch):
    compact_every(5)
    author = Editor()
    for n in range(5):
        append(app, document["id"], author.append(f"{n}"))
    during = author.append(" (typed while compacting)")
    check = tasks.checked_snapshot

    def check_while_someone_types(parts):
        checked = check(parts)
        assert content_api.append_update(document["id"], during) == 6  # the worker's app context
        return checked

    monkeypatch.setattr(tasks, "checked_snapshot", check_while_someone_types)
    work(app)
    monkeypatch.setattr(tasks, "checked_snapshot", check)

    after = stored(app, document["id"])
    assert (after.snapshot_seq, after.last_seq) == (5, 6)
    assert count_updates(app, document["id"]) == 1
    assert content(app, document["id"]) == "01234 (typed while compacting)" == str(author)


def test_a_compaction_that_lost_a_race_changes_nothing(app, document):
    author = Editor()
    for n in range(4):
        append(app, document["id"], author.append(str(n)))
    with app.app_context():
        first = store.load(uuid.UUID(document["id"]))
        assert tasks.compact(uuid.UUID(document["id"])) == 4  # another worker got there first
        append(app, document["id"], author.append("4"))
        replica = Doc()
        for part in first.parts:
            replica.apply_update(part)
        snapshot = replica.get_update()
        assert store.replace_log(uuid.UUID(document["id"]), first, snapshot) is False
    after = stored(app, document["id"])
    assert (after.snapshot_seq, after.last_seq) == (4, 5)
    assert content(app, document["id"]) == "01234"


def test_compacting_a_deleted_document_does_nothing(app, client, alice, document, urls):
    append(app, document["id"], Editor().append("x"))
    with app.app_context():
        queue().enqueue(tasks.compact_document, document["id"])
    client.delete(urls.item(document["id"]), headers=alice.headers)
    work(app)
    with app.app_context():
        assert tasks.compact(uuid.UUID(document["id"])) is None
    assert count_documents(app) == 0


def test_compaction_keeps_updated_at(app, client, alice, document, urls):
    append(app, document["id"], Editor().append("x"))
    before = client.get(urls.item(document["id"]), headers=alice.headers).get_json()
    with app.app_context():
        assert tasks.compact(uuid.UUID(document["id"])) == 1
    after = client.get(urls.item(document["id"]), headers=alice.headers).get_json()
    assert after == before


def test_a_redis_outage_does_not_fail_the_append(make_app, app, document, compact_every):
    compact_every(1)
    offline = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    update = Editor().append("stored anyway")
    with offline.app_context():
        assert content_api.append_update(document["id"], update) == 1
    assert content(app, document["id"]) == "stored anyway"
