"""Demo data for `flask --app wsgi seed-demo`: one user per role, a project they share, two
workspaces and a document with some text, so that a newcomer can try everything at once.

Idempotent: each piece is looked up first and only what is missing is created (and committed at
once, so a run that stops half-way is completed by the next); existing users keep their
password. Nothing here needs a request: it runs in the CLI's app context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import ValidationError
from sqlalchemy import select

from collab import activity
from collab.auth.passwords import passwords
from collab.auth.schemas import PASSWORD
from collab.documents import content
from collab.extensions import db
from collab.models import Document, Membership, Project, Role, User, Workspace
from collab.projects.service import forget_cached


@dataclass(frozen=True)
class DemoUser:
    email: str
    username: str
    full_name: str
    role: Role


USERS = (
    DemoUser("demo-owner@example.com", "demo_owner", "Ada (demo owner)", Role.OWNER),
    DemoUser(
        "demo-collaborator@example.com",
        "demo_collaborator",
        "Grace (demo collaborator)",
        Role.COLLABORATOR,
    ),
    DemoUser("demo-viewer@example.com", "demo_viewer", "Linus (demo viewer)", Role.VIEWER),
)
PROJECT = "Demo project"
WORKSPACES = ("Design notes", "Sandbox")
DOCUMENT = "Welcome"  # in the first workspace
WELCOME_TEXT = (
    "Welcome to collab!\n\n"
    "This document is a CRDT (Yjs-compatible): open it from several clients over Socket.IO "
    "(workspace:join, doc:update) and edit together.\n"
    "Sign in as demo-owner, demo-collaborator or demo-viewer to see what each role may do, "
    "and run some code with POST /api/v1/jobs in the Sandbox workspace.\n"
)


class DemoError(ValueError):
    """The demo data cannot be created as asked (e.g. a password that is too short)."""


@dataclass
class Report:
    """What a run found and did, one line per piece, in the order it was handled."""

    lines: list[str] = field(default_factory=list)
    created: int = 0
    new_users: int = 0  # those that got the password of this run

    def add(self, what: str, created: bool) -> None:
        self.lines.append(f"{what}: {'created' if created else 'exists'}")
        self.created += created


def seed(password: str) -> Report:
    """Create whatever part of the demo data is missing; `password` is for new users only."""
    try:
        PASSWORD(password)
    except ValidationError as error:
        raise DemoError(f"Invalid password: {' '.join(error.messages)}") from None
    report = Report()
    users = [ensure_user(spec, password, report) for spec in USERS]
    owner = users[0]
    project = ensure_project(owner, report)
    for spec, user in zip(USERS[1:], users[1:], strict=True):
        ensure_membership(project, user, spec.role, report)
    workspaces = [ensure_workspace(project, name, owner, report) for name in WORKSPACES]
    forget_cached(project.id, [user.id for user in users])
    ensure_document(workspaces[0], owner, report)
    return report


def ensure_user(spec: DemoUser, password: str, report: Report) -> User:
    user = db.session.scalar(select(User).where(User.email == spec.email))
    created = user is None
    if created:
        user = User(
            email=spec.email,
            username=spec.username,
            full_name=spec.full_name,
            password_hash=passwords().hash(password),
        )
        db.session.add(user)
        db.session.commit()
        report.new_users += 1
    note = "" if created else " (password unchanged)"
    report.add(f"user {spec.email}, {spec.role.value}{note}", created)
    return user


def ensure_project(owner: User, report: Report) -> Project:
    project = db.session.scalar(
        select(Project).where(Project.owner_id == owner.id, Project.name == PROJECT)
    )
    created = project is None
    if created:
        project = Project(owner_id=owner.id, name=PROJECT, description="Made by seed-demo")
        project.memberships.append(Membership(user_id=owner.id, role=Role.OWNER))
        db.session.add(project)
        db.session.commit()
        activity.record("project.created", project.id, owner.id, details={"name": PROJECT})
    report.add(f'project "{PROJECT}"', created)
    return project


def ensure_membership(project: Project, user: User, role: Role, report: Report) -> None:
    membership = db.session.scalar(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    )
    created = membership is None
    if created:
        db.session.add(Membership(project_id=project.id, user_id=user.id, role=role))
        db.session.commit()
        activity.record(
            "member.added",
            project.id,
            project.owner_id,
            target=("user", user.id),
            details={"role": role.value},
        )
    report.add(f"{user.username} in the project", created)


def ensure_workspace(project: Project, name: str, owner: User, report: Report) -> Workspace:
    workspace = db.session.scalar(
        select(Workspace).where(Workspace.project_id == project.id, Workspace.name == name)
    )
    created = workspace is None
    if created:
        workspace = Workspace(project_id=project.id, name=name)
        db.session.add(workspace)
        db.session.commit()
        activity.record(
            "workspace.created",
            project.id,
            owner.id,
            workspace_id=workspace.id,
            target=("workspace", workspace.id),
            details={"name": name},
        )
    report.add(f'workspace "{name}"', created)
    return workspace


def ensure_document(workspace: Workspace, owner: User, report: Report) -> None:
    """The document, then its text: a run stopped between the two still ends with both."""
    document = db.session.scalar(
        select(Document).where(Document.workspace_id == workspace.id, Document.name == DOCUMENT)
    )
    if document is None:
        document = Document(workspace_id=workspace.id, name=DOCUMENT)
        db.session.add(document)
        db.session.commit()
        activity.record(
            "document.created",
            workspace.project_id,
            owner.id,
            workspace_id=workspace.id,
            target=("document", document.id),
            details={"name": DOCUMENT},
        )
    written = not content.text_of(document.id)
    if written:
        content.append_update(document.id, content.initial_update(WELCOME_TEXT))
    report.add(f'document "{DOCUMENT}" with its text', written)
