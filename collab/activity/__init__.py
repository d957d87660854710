"""The activity feed: every mutation of a project, stored in MongoDB, listed per project."""

from collab.activity.recorder import record

__all__ = ["record"]
