"""Projects, their workspaces and their members."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collab.models.base import Base, TimestampMixin, new_id, utcnow
from collab.models.user import User


class Role(enum.StrEnum):
    VIEWER = "viewer"
    COLLABORATOR = "collaborator"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


ROLE_RANK = {Role.VIEWER: 1, Role.COLLABORATOR: 2, Role.OWNER: 3}


def role_type(constraint: str) -> Enum:
    """A role stored as its value, checked by a constraint named `constraint`."""
    return Enum(
        Role,
        native_enum=False,
        length=20,
        values_callable=lambda roles: [role.value for role in roles],
        create_constraint=True,
        name=constraint,
    )


class Project(TimestampMixin, Base):
    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    is_public: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Optimistic concurrency: every UPDATE checks and bumps it; it is also the ETag.
    version: Mapped[int] = mapped_column(default=1)

    owner: Mapped[User] = relationship()
    workspaces: Mapped[list[Workspace]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Workspace.created_at",
    )
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}


class Workspace(TimestampMixin, Base):
    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship(back_populates="workspaces")

    __mapper_args__ = {"version_id_col": version}


class Membership(Base):
    """A user's role in a project. The owner has a row too, kept in step with owner_id."""

    __tablename__ = "memberships"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(role_type("role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (UniqueConstraint("project_id", "user_id"),)


class ShareLink(Base):
    """A link that makes whoever opens it (signed in) a member with `role`
    (collab/links). Only a hash of its token is kept: the token is shown once."""

    __tablename__ = "share_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, hex
    role: Mapped[Role] = mapped_column(role_type("link_role"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime | None]
