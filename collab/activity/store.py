"""The MongoDB `activity` collection: one document per mutation of a project, kept
ACTIVITY_RETENTION_DAYS (TTL on `created_at`), listed per project newest first."""

from __future__ import annotations

from flask import current_app
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from collab.extensions import ensure_ttl_index, mongo

COLLECTION = "activity"
TTL_INDEX = "created_at_ttl"
DUPLICATE_KEY = 11000


def collection() -> Collection:
    return mongo.collection(COLLECTION, ensure_indexes)


def ensure_indexes(activity: Collection) -> None:
    activity.create_index([("project_id", ASCENDING), ("created_at", DESCENDING)])
    days = current_app.config["ACTIVITY_RETENTION_DAYS"]
    ensure_ttl_index(activity, "created_at", TTL_INDEX, days)


def insert(events: list[dict]) -> None:
    """Store events (each with its own `_id`): storing one twice, after a retry, is a no-op."""
    try:
        collection().insert_many(events, ordered=False)
    except BulkWriteError as error:
        if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
            raise


def of_project(project_id: str, skip: int, limit: int) -> tuple[list[dict], int]:
    activity = collection()
    criteria = {"project_id": project_id}
    total = activity.count_documents(criteria)
    cursor = activity.find(criteria).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
    return list(cursor.skip(skip).limit(limit)), total
