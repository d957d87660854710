from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

from collab.auth.schemas import normalise_email
from collab.models import Role

GRANTABLE_ROLES = [Role.COLLABORATOR.value, Role.VIEWER.value]
GRANTABLE = validate.OneOf(GRANTABLE_ROLES, error="Must be one of: collaborator, viewer")


class InviteSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=GRANTABLE)

    @pre_load
    def lower_email(self, data, **kwargs):
        return normalise_email(data)


class RoleChangeSchema(Schema):
    role = fields.String(required=True, validate=GRANTABLE)


class MemberSchema(Schema):
    id = fields.UUID(dump_only=True, metadata={"description": "The membership's id"})
    user_id = fields.UUID(dump_only=True)
    email = fields.String(
        dump_only=True,
        metadata={"description": "Left out for outsiders of a public project"},
    )
    username = fields.String(dump_only=True)
    full_name = fields.String(dump_only=True, allow_none=True)
    role = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
