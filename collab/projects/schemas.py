from __future__ import annotations

from marshmallow import Schema, fields

from collab.schemas import JsonBoolean
from collab.workspaces.schemas import DESCRIPTION, NAME, WorkspaceSchema


class ProjectCreateSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", validate=DESCRIPTION)
    is_public = JsonBoolean(load_default=False)


class ProjectUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    description = fields.String(validate=DESCRIPTION)
    is_public = JsonBoolean()


class ProjectSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    is_public = fields.Boolean(dump_only=True)
    owner_id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class OwnerSchema(Schema):
    id = fields.UUID(dump_only=True)
    username = fields.String(dump_only=True)
    full_name = fields.String(dump_only=True, allow_none=True)


class ProjectDetailSchema(ProjectSchema):
    owner = fields.Nested(OwnerSchema, dump_only=True)
    workspaces = fields.List(fields.Nested(WorkspaceSchema), dump_only=True)
    role = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The caller's role; null for an outsider on a public project"},
    )


class TransferSchema(Schema):
    user_id = fields.UUID(required=True)
