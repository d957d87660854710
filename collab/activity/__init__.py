"""The activity feed: every mutation of a project, stored in MongoDB, listed per project."""

from collab.activity.recorder import SYSTEM, record

__all__ = ["SYSTEM", "record"]
