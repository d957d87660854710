"""The relational models (SQLAlchemy 2, typed)."""

from collab.models.base import Base, utcnow
from collab.models.document import Document, DocumentUpdate, DocumentVersion, QuarantinedUpdate
from collab.models.flag import FeatureFlag
from collab.models.project import Membership, Project, Role, ShareLink, Workspace
from collab.models.user import AuthSession, User

__all__ = [
    "AuthSession",
    "Base",
    "Document",
    "DocumentUpdate",
    "DocumentVersion",
    "FeatureFlag",
    "Membership",
    "Project",
    "QuarantinedUpdate",
    "Role",
    "ShareLink",
    "User",
    "Workspace",
    "utcnow",
]
