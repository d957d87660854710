"""Schemas shared by every blueprint."""

from __future__ import annotations

from marshmallow import Schema, fields, post_load, validate

MAX_PAGE_SIZE = 100
MAX_SKIP = 2**31 - 1


class PaginationSchema(Schema):
    # Bounded so that no value reaches the database as an integer it cannot hold.
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_SKIP))
    limit = fields.Integer(
        load_default=10,
        validate=validate.Range(min=1),
        metadata={"description": f"Page size; values over {MAX_PAGE_SIZE} are capped."},
    )

    @post_load
    def cap_limit(self, data: dict, **kwargs) -> dict:
        data["limit"] = min(data["limit"], MAX_PAGE_SIZE)
        return data


class MessageSchema(Schema):
    message = fields.String(required=True)


def message(text: str) -> dict:
    return {"message": text}


class JsonBoolean(fields.Boolean):
    """A JSON true or false, nothing else: marshmallow's Boolean also takes "yes", "on", 1...
    (and even with truthy={True}, 1 passes, since 1 == True in Python)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
