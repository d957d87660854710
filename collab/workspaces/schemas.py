from __future__ import annotations

from marshmallow import Schema, fields, validate

NAME = validate.Length(min=1, max=100)
DESCRIPTION = validate.Length(max=2000)


class WorkspaceCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", validate=DESCRIPTION)


class WorkspaceUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    description = fields.String(validate=DESCRIPTION)


class WorkspaceSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    project_id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
