"""Helpers shared by the project, workspace, collaborator and role-matrix tests.

Everything goes through the real HTTP API (projects, invitations, workspaces), except the
users themselves, which come from conftest's `make_user`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.helpers_errors import assert_error

API = "/api/v1"
PROJECTS = f"{API}/projects"

PROJECT_FIELDS = {"id", "name", "description", "is_public", "owner_id", "created_at", "updated_at"}
WORKSPACE_FIELDS = {"id", "name", "description", "project_id", "created_at", "updated_at"}
MEMBER_FIELDS = {"id", "user_id", "email", "username", "role", "created_at"}


def project_url(project_id: str) -> str:
    return f"{PROJECTS}/{project_id}"


def workspaces_url(project_id: str) -> str:
    return f"{PROJECTS}/{project_id}/workspaces"


def workspace_url(project_id: str, workspace_id: str) -> str:
    return f"{PROJECTS}/{project_id}/workspaces/{workspace_id}"


def collaborators_url(project_id: str) -> str:
    return f"{PROJECTS}/{project_id}/collaborators"


def collaborator_url(project_id: str, user_id: str) -> str:
    return f"{PROJECTS}/{project_id}/collaborators/{user_id}"


def random_id() -> str:
    return str(uuid.uuid4())


def parse_time(value: str) -> datetime:
    """An ISO 8601 timestamp with a UTC offset (naive times would be ambiguous)."""
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    assert moment.utcoffset() == timedelta(0), value
    return moment


def assert_validation_error(response, *fields: str) -> dict:
    """A 422 whose per-field messages name every field in `fields`."""
    body = assert_error(response, 422)
    errors = body["errors"]
    located = errors.get("json") or errors.get("query") or errors
    for field in fields:
        assert field in located, (field, errors)
    return body


def create_project(client, account, **fields) -> dict:
    body = {"name": "Project", **fields}
    response = client.post(PROJECTS, json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_workspace(client, account, project_id: str, **fields) -> dict:
    body = {"name": "Workspace", **fields}
    response = client.post(workspaces_url(project_id), json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_member(client, owner, project_id: str, member, role: str) -> dict:
    response = client.post(
        collaborators_url(project_id),
        json={"email": member.email, "role": role},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def etag_of(client, account, url: str) -> str:
    response = client.get(url, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    etag = response.headers.get("ETag")
    assert etag, "GET must return an ETag"
    return etag


ROLES = ("owner", "collaborator", "viewer", "outsider", "anonymous")


@dataclass
class Team:
    """A project with one account per role, one workspace, and two spare accounts:

    - `extra`: a viewer who is the target of role changes, removals and transfers (so that
      the caller never acts on themself);
    - `newcomer`: a registered user who is not in the project (the target of invitations).
    """

    owner: object
    collaborator: object
    viewer: object
    outsider: object
    extra: object
    newcomer: object
    project: dict
    workspace: dict

    @property
    def pid(self) -> str:
        return self.project["id"]

    @property
    def wid(self) -> str:
        return self.workspace["id"]

    def account(self, role: str):
        return None if role == "anonymous" else getattr(self, role)

    def headers(self, role: str) -> dict[str, str]:
        account = self.account(role)
        return account.headers if account is not None else {}

    def members(self) -> dict[str, str]:
        """user_id -> role, as set up."""
        return {
            self.owner.id: "owner",
            self.collaborator.id: "collaborator",
            self.viewer.id: "viewer",
            self.extra.id: "viewer",
        }


def make_team(client, make_user, *, is_public: bool) -> Team:
    tag = uuid.uuid4().hex[:6]
    owner = make_user(f"owner_{tag}", full_name="Olive Owner")
    collaborator = make_user(f"collab_{tag}")
    viewer = make_user(f"viewer_{tag}")
    outsider = make_user(f"outsider_{tag}")
    extra = make_user(f"extra_{tag}")
    newcomer = make_user(f"newcomer_{tag}")
    project = create_project(
        client, owner, name="Team project", description="shared", is_public=is_public
    )
    add_member(client, owner, project["id"], collaborator, "collaborator")
    add_member(client, owner, project["id"], viewer, "viewer")
    add_member(client, owner, project["id"], extra, "viewer")
    workspace = create_workspace(client, owner, project["id"], name="Main", description="ws")
    return Team(owner, collaborator, viewer, outsider, extra, newcomer, project, workspace)


def snapshot(client, team: Team) -> dict:
    """Everything the owner can see of the project, to prove a refused request changed nothing."""
    detail = client.get(project_url(team.pid), headers=team.owner.headers)
    members = client.get(collaborators_url(team.pid), headers=team.owner.headers)
    workspace = client.get(workspace_url(team.pid, team.wid), headers=team.owner.headers)
    return {
        "detail": (detail.status_code, detail.get_json(), detail.headers.get("ETag")),
        "members": (members.status_code, members.get_json()),
        "workspace": (workspace.status_code, workspace.get_json(), workspace.headers.get("ETag")),
    }


# The contract's matrix. "ok" stands for the endpoint's success status (200, or 201 for POSTs
# that create); a pair is (private project, public project).
OK = "ok"
MATRIX = {
    "read": {
        "owner": (OK, OK),
        "collaborator": (OK, OK),
        "viewer": (OK, OK),
        "outsider": (404, OK),
        "anonymous": (401, 401),
    },
    "edit": {
        "owner": (OK, OK),
        "collaborator": (OK, OK),
        "viewer": (403, 403),
        "outsider": (404, 403),
        "anonymous": (401, 401),
    },
    "manage": {
        "owner": (OK, OK),
        "collaborator": (403, 403),
        "viewer": (403, 403),
        "outsider": (404, 403),
        "anonymous": (401, 401),
    },
}


def count_rows(app, model, **where) -> int:
    """Rows of `model` matching `where` (column=value), read straight from the database."""
    from sqlalchemy import func, select

    from collab.extensions import db

    with app.app_context():
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return db.session.scalar(query)
