"""The MongoDB `activity` collection: one document per mutation of a project, kept
ACTIVITY_RETENTION_DAYS (TTL on `created_at`), listed per project newest first."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, OperationFailure

from collab.extensions import mongo

COLLECTION = "activity"
TTL_INDEX = "created_at_ttl"
DUPLICATE_KEY = 11000


def collection() -> Collection:
    activity = mongo.db[COLLECTION]
    if not current_app.extensions.get("collab_activity_indexed"):
        ensure_indexes(activity)
        current_app.extensions["collab_activity_indexed"] = True
    return activity


def ensure_indexes(activity: Collection) -> None:
    activity.create_index([("project_id", ASCENDING), ("created_at", DESCENDING)])
    seconds = int(timedelta(days=current_app.config["ACTIVITY_RETENTION_DAYS"]).total_seconds())
    try:
        activity.create_index("created_at", name=TTL_INDEX, expireAfterSeconds=seconds)
    except OperationFailure:  # ACTIVITY_RETENTION_DAYS changed: adjust the existing index
        index = {"name": TTL_INDEX, "expireAfterSeconds": seconds}
        activity.database.command("collMod", activity.name, index=index)


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
