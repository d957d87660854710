from __future__ import annotations

from marshmallow import Schema, fields

from collab.schemas import JsonBoolean


class FlagSchema(Schema):
    name = fields.String(dump_only=True)
    enabled = fields.Boolean(dump_only=True)
    default = fields.Boolean(dump_only=True)
    description = fields.String(dump_only=True)
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class FlagUpdateSchema(Schema):
    enabled = JsonBoolean(required=True)
