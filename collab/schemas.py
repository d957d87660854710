"""Schemas shared by every blueprint."""

from __future__ import annotations

from marshmallow import Schema, fields, post_load, validate

MAX_PAGE_SIZE = 100


class PaginationSchema(Schema):
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0))
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


def strict_boolean(**kwargs) -> fields.Boolean:
    """A JSON true/false only: marshmallow's default also takes "yes", "on", "1"..."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)
