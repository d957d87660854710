"""Optimistic concurrency for editable resources.

The ETag is the row's version counter. A write with a stale `If-Match` answers 412; a write
without one proceeds (the header is optional by contract). The version check is repeated by
the database in the UPDATE itself (SQLAlchemy's version_id_col), so two writers racing past
this check still cannot both win.
"""

from __future__ import annotations

import uuid

from flask import request
from flask_smorest import abort


def etag_of(resource_id: uuid.UUID, version: int) -> str:
    return f"{resource_id.hex}-{version}"


def etag_header(resource) -> dict[str, str]:
    return {"ETag": f'"{etag_of(resource.id, resource.version)}"'}


def check_if_match(resource) -> None:
    condition = request.if_match
    if not condition or condition.star_tag:
        return
    if not condition.contains(etag_of(resource.id, resource.version)):
        abort(
            412,
            message="The resource has changed since you read it (If-Match is stale)",
        )
